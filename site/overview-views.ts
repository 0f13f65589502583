/** The admin landing page's overview: the fleet at a glance, as numbers and small charts, before the user table. */
import type { CapacityView } from '../control/provisioning/capacity.ts';
import { INSTANCE_STATUSES, type InstanceStatus } from '../control/provisioning/states.ts';
import { barChart } from './charts.ts';

export interface Overview {
  users: number;
  signupsPerHour: number[];
  states: Record<InstanceStatus, number>;
  capacity: CapacityView;
  memoryMB: number;
}

export function overviewSection(o: Overview): string {
  const { capacity } = o;
  const lastHour = o.signupsPerHour.at(-1) ?? 0;
  const day = o.signupsPerHour.reduce((a, b) => a + b, 0);
  const live = INSTANCE_STATUSES.filter((s) => s !== 'destroyed');
  const signups = barChart(
    o.signupsPerHour.map((n, i) => ({ value: n, title: `${o.signupsPerHour.length - 1 - i} h ago: ${n} sign-up${n === 1 ? '' : 's'}` })),
    `Sign-ups per hour, last ${o.signupsPerHour.length} hours: ${day} in all, ${lastHour} in the last hour.`,
    'signups-caption',
  );
  const states = barChart(
    live.map((s) => ({ value: o.states[s], title: `${s}: ${o.states[s]}` })),
    `Instances by state: ${live.map((s) => `${o.states[s]} ${s}`).join(', ')}.`,
    'states-caption',
  );
  return `<section id="overview" aria-label="Overview">
<dl class="figures">
<div><dt>People</dt><dd>${o.users}</dd></div>
<div><dt>Running</dt><dd>${o.states.running}</dd></div>
<div><dt>Places</dt><dd>${capacity.limit === null ? 'no limit' : `${capacity.holding} of ${capacity.limit}`}</dd></div>
<div><dt>Waiting</dt><dd>${capacity.waiting}</dd></div>
<div><dt>Memory in use</dt><dd>about ${capacity.holding * o.memoryMB} MB</dd></div>
<div><dt>Sign-ups, last hour</dt><dd>${lastHour}</dd></div>
</dl>
<div class="charts">${signups}${states}</div>
</section>`;
}
