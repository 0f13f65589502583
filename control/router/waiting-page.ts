/**
 * The page a browser sees while its instance wakes: the current state and the latest
 * provisioning events, polled from /_mxos/status; it reloads into the instance as soon
 * as it runs, and shows the reason (with a way to start again) if the start failed.
 * Without JavaScript, a meta refresh does the same more slowly.
 */
import { escapeHtml, page } from '../web/html.ts';
import type { Route } from './route-table.ts';

/** What each state means to someone waiting for their instance. */
const LABELS: Record<string, string> = {
  stopped: 'waking up',
  stopping: 'finishing a stop, then waking up',
  requested: 'queued',
  provisioning: 'setting up',
  starting: 'starting',
  running: 'ready, opening it now',
  failed: 'could not start',
};

const SCRIPT = `
(function () {
  var labels = ${JSON.stringify(LABELS)};
  var status = document.getElementById('status');
  var list = document.getElementById('events');
  var failure = document.getElementById('failure');
  function ordinal(n) {
    var tens = n % 100;
    return n + (tens >= 11 && tens <= 13 ? 'th' : ({ 1: 'st', 2: 'nd', 3: 'rd' })[n % 10] || 'th');
  }
  function show(data) {
    status.textContent = data.position ? 'waiting for a place: ' + ordinal(data.position) + ' in line (the platform is full; it starts when another instance stops)' : labels[data.status] || data.status;
    list.innerHTML = '';
    (data.events || []).forEach(function (e) {
      var li = document.createElement('li');
      li.textContent = e.message;
      list.appendChild(li);
    });
    if (data.status === 'failed') {
      failure.hidden = false;
      document.getElementById('reason').textContent = data.lastError || 'The instance failed to start.';
    }
  }
  function poll() {
    fetch('/_mxos/status', { credentials: 'same-origin', cache: 'no-store' })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (!data) return setTimeout(poll, 2000);
        show(data);
        if (data.ready) return location.reload();
        if (data.status !== 'failed') setTimeout(poll, 700);
      })
      .catch(function () { setTimeout(poll, 2000); });
  }
  poll();
})();`;

/** Spoken to whoever waits: the owner, or an admin opening someone else's; asleep, or (re)starting. */
export function waitingPageHtml(route: Route, viewer: 'owner' | 'other'): string {
  const handle = escapeHtml(route.handle);
  const whose = viewer === 'owner' ? 'Your Matrix OS' : `${handle}'s Matrix OS`;
  const what = route.status === 'stopped' || route.status === 'stopping' ? 'was asleep to save resources and is waking up' : 'is starting';
  return page(
    `Waking up ${route.handle}'s Matrix OS`,
    `<p role="status" aria-live="polite">${whose} ${what}. Status: <span id="status" class="status">${escapeHtml(LABELS[route.status] ?? route.status)}</span></p>
<ol id="events" aria-label="Progress"></ol>
<div id="failure" hidden><p class="error" id="reason"></p>
<form method="post" action="/_mxos/start"><button type="submit">Start again</button></form></div>
<noscript><p>This page refreshes by itself every few seconds.</p></noscript>
<script>${SCRIPT}</script>`,
    `<noscript><meta http-equiv="refresh" content="3"></noscript><meta name="mxos-handle" content="${handle}">`,
  );
}
