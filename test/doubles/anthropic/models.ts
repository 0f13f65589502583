/**
 * The model catalogue: GET /v1/models (newest first, paginated with limit /
 * after_id / before_id), GET /v1/models/{id}, and the lookup /v1/messages does
 * (ids and aliases; anything else is 404 not_found_error "model: <id>").
 */
import { ApiError, invalidRequest } from './errors.ts';
import type { ModelInfo } from './types.ts';

export const DEFAULT_MAX_OUTPUT_TOKENS = 64_000;

export const DEFAULT_MODELS: readonly ModelInfo[] = [
  {
    id: 'claude-opus-4-5-20251101',
    display_name: 'Claude Opus 4.5',
    created_at: '2025-11-24T00:00:00Z',
    max_output_tokens: 64_000,
    aliases: ['claude-opus-4-5'],
  },
  {
    id: 'claude-haiku-4-5-20251001',
    display_name: 'Claude Haiku 4.5',
    created_at: '2025-10-15T00:00:00Z',
    max_output_tokens: 64_000,
    aliases: ['claude-haiku-4-5'],
  },
  {
    id: 'claude-sonnet-4-5-20250929',
    display_name: 'Claude Sonnet 4.5',
    created_at: '2025-09-29T00:00:00Z',
    max_output_tokens: 64_000,
    aliases: ['claude-sonnet-4-5'],
  },
  {
    id: 'claude-3-5-haiku-20241022',
    display_name: 'Claude Haiku 3.5',
    created_at: '2024-10-22T00:00:00Z',
    max_output_tokens: 8192,
    aliases: ['claude-3-5-haiku-latest'],
  },
];

export class ModelCatalogue {
  /** Newest first, as the API lists them. */
  readonly models: ModelInfo[];

  constructor(models: readonly ModelInfo[]) {
    this.models = [...models].sort((a, b) => b.created_at.localeCompare(a.created_at));
  }

  /** The model an id or alias names; 404 not_found_error otherwise. */
  resolve(name: string): ModelInfo {
    const model = this.models.find((m) => m.id === name || m.aliases?.includes(name));
    if (!model) throw new ApiError(404, 'not_found_error', `model: ${name}`);
    return model;
  }

  view(model: ModelInfo): Record<string, unknown> {
    return { type: 'model', id: model.id, display_name: model.display_name, created_at: model.created_at };
  }

  /** The body of GET /v1/models?limit&after_id&before_id. */
  list(query: URLSearchParams): Record<string, unknown> {
    const limit = parseLimit(query.get('limit'));
    const after = query.get('after_id');
    const before = query.get('before_id');
    let start = 0;
    let end = this.models.length;
    if (after !== null) {
      start = this.models.findIndex((m) => m.id === after) + 1;
      if (start === 0) start = end;
    }
    if (before !== null) {
      end = Math.max(
        0,
        this.models.findIndex((m) => m.id === before),
      );
      start = Math.max(start, end - limit);
    }
    const page = this.models.slice(start, Math.min(end, start + limit));
    const hasMore = before !== null ? start > 0 && page.length > 0 : start + page.length < end;
    return {
      data: page.map((m) => this.view(m)),
      has_more: hasMore,
      first_id: page[0]?.id ?? null,
      last_id: page.at(-1)?.id ?? null,
    };
  }
}

function parseLimit(raw: string | null): number {
  if (raw === null) return 20;
  if (!/^-?\d+$/.test(raw)) throw invalidRequest('limit: Input should be a valid integer, unable to parse string as an integer');
  const limit = Number(raw);
  if (limit < 1) throw invalidRequest('limit: Input should be greater than or equal to 1');
  if (limit > 1000) throw invalidRequest('limit: Input should be less than or equal to 1000');
  return limit;
}
