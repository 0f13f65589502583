/**
 * Small bar charts drawn by the platform as inline SVG (no script, no external asset),
 * each bar titled with its exact figure, and a caption that says what it shows.
 */
import { escapeHtml as e } from '../control/web/html.ts';

export interface Bar {
  value: number;
  /** What a pointer over the bar shows: its label and exact figure. */
  title: string;
}

/** Bars scaled to the largest; `id` names the caption the SVG is labelled by. */
export function barChart(bars: readonly Bar[], caption: string, id: string): string {
  const width = 300;
  const height = 100;
  const max = Math.max(...bars.map((b) => b.value), 0);
  const slot = width / Math.max(bars.length, 1);
  const rects = bars
    .map((b, i) => {
      const h = max === 0 ? 0 : Math.max(b.value > 0 ? 1 : 0, Math.round((b.value / max) * (height - 4)));
      return `<rect x="${(i * slot + 1).toFixed(1)}" y="${height - h}" width="${Math.max(slot - 2, 1).toFixed(1)}" height="${h}"><title>${e(b.title)}</title></rect>`;
    })
    .join('');
  return `<figure class="chart">
<svg viewBox="0 0 ${width} ${height}" role="img" aria-labelledby="${e(id)}" preserveAspectRatio="none"><line x1="0" y1="${height - 0.5}" x2="${width}" y2="${height - 0.5}"/>${rects}</svg>
<figcaption id="${e(id)}">${e(caption)}</figcaption>
</figure>`;
}
