/**
 * Server-rendered pages of the site. Every page works without JavaScript; site.js adds
 * live handle checks and live progress. No external assets: CSS and JS are served here.
 */

import type { SignupMode } from '../control/config-signup.ts';
import { HANDLE_MAX, HANDLE_MIN } from '../control/handles.ts';
import { formatUsd } from '../control/meter/money.ts';
import { canRequest } from '../control/provisioning/states.ts';
import type { StoredEvent } from '../control/provisioning/store.ts';
import type { InstanceView } from '../control/provisioning/views.ts';
import { escapeHtml as e } from '../control/web/html.ts';
import type { SiteSettings } from './context.ts';

export interface PageUser {
  email: string | null;
  handle: string | null;
  role: string;
  csrf: string;
}

export function layout(title: string, body: string, user: PageUser | null): string {
  const nav = user
    ? `<a href="/dashboard">Dashboard</a> <a href="/community">Community</a>${user.role === 'admin' ? ' <a href="/admin">Admin</a>' : ''}
<form method="post" action="/logout" class="inline"><input type="hidden" name="csrf" value="${e(user.csrf)}"><button type="submit">Sign out</button></form>`
    : '<a href="/login">Sign in</a>';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${e(title)} · Matrix OS</title><link rel="icon" href="/assets/favicon.svg" type="image/svg+xml"><link rel="stylesheet" href="/assets/site.css"><script src="/assets/site.js" defer></script></head>
<body><header><a class="brand" href="/">Matrix OS</a><nav aria-label="Account">${nav}</nav></header>
<main id="main">${body}</main></body></html>`;
}

/**
 * Where an instance is reached, as people type it: scheme, host and port of the real
 * address (http://alice.localhost:8000 in development). `handleHtml` is already escaped.
 */
export function instanceAddress(settings: Pick<SiteSettings, 'publicUrl' | 'instanceDomain'>, handleHtml: string): string {
  const apex = new URL(settings.publicUrl);
  return `${apex.protocol}//${handleHtml}.${e(settings.instanceDomain)}${apex.port ? `:${apex.port}` : ''}`;
}

/** What every participant gets, in words: shown on the landing page and the dashboard. */
export function offerList(settings: Pick<SiteSettings, 'instanceLimits' | 'idleMinutes' | 'budgetDefaults' | 'signup'>): string {
  const { memoryMB, cpu } = settings.instanceLimits;
  const { limit, period } = settings.budgetDefaults;
  const budget =
    limit > 0
      ? `<li>$${e(formatUsd(limit))} of AI model use${period === 'daily' ? ' a day' : period === 'monthly' ? ' a month' : ''}, metered call by call: your dashboard shows what is left.</li>`
      : '';
  const help = settings.signup.supportContact ? `<li>Help: ${e(settings.signup.supportContact)}.</li>` : '';
  return `<ul class="offer">
<li>Your own Matrix OS with ${memoryMB} MB of memory and ${cpu} CPU${cpu === 1 ? '' : 's'}, and a private disk that keeps your data.</li>
<li>It sleeps after ${settings.idleMinutes} minutes without use and wakes on your next visit, in a few seconds.</li>
${budget}${help}</ul>`;
}

export function landingPage(user: PageUser | null, settings: SiteSettings, places: { free: number; limit: number } | null): string {
  const { signup, event } = settings;
  const ask = signup.supportContact ? ` Ask ${e(signup.supportContact)}.` : '';
  const state: Record<SignupMode, string> = {
    open: 'Sign-up is open.',
    allowlist: `Sign-up is open to this event's participants.${ask}`,
    invite: `Sign-up is by invitation: enter your invite code, or open your invite link.${ask}`,
    closed: `Sign-up is closed; participants who already signed up can still sign in.${ask}`,
  };
  const room =
    places === null
      ? ''
      : places.free > 0
        ? ` ${places.free} of ${places.limit} places are free right now.`
        : ` All ${places.limit} places are taken right now: you can still sign up, and your Matrix OS starts when one frees.`;
  const inviteForm =
    signup.mode === 'invite'
      ? `<form method="get" action="/login" class="inline"><input type="hidden" name="next" value="/signup">
<label for="invite">Invite code</label> <input id="invite" name="invite" required maxlength="64" autocomplete="off" autocapitalize="characters" spellcheck="false">
<button type="submit">Sign up with this code</button></form>`
      : '';
  const action = user
    ? `<p><a class="button" href="/dashboard">Go to your dashboard</a></p>`
    : signup.mode === 'invite' || signup.mode === 'closed'
      ? `${inviteForm}<p><a href="/login">Sign in</a> if you already have an account.</p>`
      : `<p><a class="button" href="/login?next=%2Fsignup">Sign up</a> <a href="/login">Sign in</a></p>`;
  const title = event.name ?? 'Your own AI operating system';
  const about = [
    event.dates ? `<p class="event-dates">${e(event.dates)}</p>` : '',
    event.description ? `<p>${e(event.description)}</p>` : '',
    event.url ? `<p><a href="${e(event.url)}">About the event</a></p>` : '',
  ].join('');
  return layout(
    title,
    `<section class="hero"><h1>${e(title)}</h1>${about}
<p>Matrix OS is a personal AI operating system: your own AI, with its own apps, files and memory, that you build on and that can talk to the other participants' AIs.
Sign up, pick a handle, and yours runs at <code>${instanceAddress(settings, '{handle}')}</code>, private to you.</p></section>
<h2>What you get</h2>
${offerList(settings)}
<p id="signup-state">${state[signup.mode]}${places ? `<span id="places">${room}</span>` : ''}</p>
${action}`,
    user,
  );
}

/** Several ways to sign in: one button each, keeping where to go next and any invite code. */
export function signInPage(user: PageUser | null, query: string, oidcName: string | null): string {
  const suffix = query ? `?${e(query)}` : '';
  return layout(
    'Sign in',
    `<h1>Sign in</h1>
<p>Use the account you already have. The same verified email address is the same person, whichever you use.</p>
<p>${oidcName ? `<a class="button" href="/login/oidc${suffix}">Sign in with ${e(oidcName)}</a> ` : ''}<a class="button" href="/login/github${suffix}">Sign in with GitHub</a></p>`,
    user,
  );
}

interface SignupForm {
  handle: string;
  problem: string | null;
}

export function signupPage(user: PageUser, form: SignupForm, settings: Pick<SiteSettings, 'publicUrl' | 'instanceDomain'>): string {
  const invalid = form.problem ? ' aria-invalid="true" aria-describedby="handle-problem handle-rules"' : ' aria-describedby="handle-rules"';
  return layout(
    'Choose your handle',
    `<h1>Choose your handle</h1>
<p>Signed in as ${e(user.email ?? 'you')}. Your handle names your Matrix OS: <code>${instanceAddress(settings, `<span id="handle-preview">${e(form.handle || 'handle')}</span>`)}</code></p>
<form method="post" action="/signup" novalidate>
<input type="hidden" name="csrf" value="${e(user.csrf)}">
<label for="handle">Handle</label>
<input id="handle" name="handle" value="${e(form.handle)}" required minlength="${HANDLE_MIN}" maxlength="${HANDLE_MAX}" autocomplete="username" autocapitalize="none" spellcheck="false" autofocus data-check-handle${invalid}>
<p id="handle-rules" class="hint">${HANDLE_MIN} to ${HANDLE_MAX} characters: lowercase letters, digits and single hyphens, starting with a letter.</p>
<p id="handle-problem" class="error" role="alert" aria-live="polite">${form.problem ? e(form.problem) : ''}</p>
<button type="submit">Create my Matrix OS</button>
</form>`,
    user,
  );
}

/**
 * `spend`: the budget section (spend-views.ts), already rendered. `removed`: the user's
 * instance was destroyed while the handle is still theirs (they can have it again).
 */
export function dashboardPage(
  user: PageUser,
  instance: InstanceView | null,
  instanceUrl: string | null,
  events: StoredEvent[],
  spend = '',
  removed: { handle: string; archived: boolean } | null = null,
): string {
  const csrf = `<input type="hidden" name="csrf" value="${e(user.csrf)}">`;
  const button = (action: string, label: string) =>
    `<form method="post" action="/dashboard/${action}" class="inline">${csrf}<button type="submit">${label}</button></form>`;
  if (!instance && removed) {
    return layout(
      'Dashboard',
      `<h1>Your Matrix OS was removed</h1>
<p><strong>${e(removed.handle)}</strong> no longer runs${removed.archived ? '; its data was archived by the platform' : ''}. The handle is still yours: you can have a Matrix OS again under it. It starts fresh.</p>
<p>${button('reprovision', 'Get my Matrix OS again')}</p>`,
      user,
    );
  }
  if (!instance) {
    return layout('Dashboard', `<h1>Dashboard</h1><p>You have no Matrix OS yet.</p><p><a class="button" href="/signup">Choose a handle</a></p>`, user);
  }
  const { status } = instance;
  const actions = [
    status === 'running' || status === 'stopped' ? openButton(user, instance.handle, '/', 'Open my Matrix OS') : '',
    canRequest(status, 'start') ? button('start', 'Start') : '',
    canRequest(status, 'stop') ? button('stop', 'Stop') : '',
    canRequest(status, 'reprovision') ? button('reprovision', 'Provision again') : '',
  ]
    .filter(Boolean)
    .join(' ');
  return layout(
    'Dashboard',
    `<h1>Your Matrix OS</h1>
<dl id="instance-details">
<dt>Address</dt><dd><a class="address" href="${e(instanceUrl ?? '')}">${e(instanceUrl ?? '')}</a></dd>
<dt>Status</dt><dd><span id="instance-status" data-handle="${e(instance.handle)}" data-status="${e(instance.status)}" aria-live="polite">${e(instance.status)}</span></dd>
${instance.lastError ? `<dt>Last error</dt><dd class="error">${e(instance.lastError)}</dd>` : ''}
</dl>
<div id="actions" class="actions">${actions}</div>
<h2>Progress</h2>
<ol id="events" data-events-url="/dashboard/events?after=${events.at(-1)?.id ?? 0}" aria-live="polite">${events.map((ev) => `<li>${e(ev.message)}</li>`).join('')}</ol>
${spend}
<h2>API token</h2>
<p>API clients reach your instance with <code>Authorization: Bearer &lt;token&gt;</code>. A new token replaces the old one and signs out every browser on your instance.</p>
${button('token/reveal', 'Show my token')} ${button('token', 'Create a new token')}`,
    user,
  );
}

/** Shown once, in answer to the form post; nothing on it posts again or reloads by itself. */
export function tokenPage(user: PageUser, token: string, instanceUrl: string, rotated: boolean): string {
  return layout(
    'Your instance token',
    `<h1>${rotated ? 'Your new instance token' : 'Your instance token'}</h1>
<p class="flash" role="status">${rotated ? 'New token (the old one no longer works, and every browser on your instance is signed out)' : 'Your current token'}: <code id="token">${e(token)}</code></p>
<p>Use it as <code>Authorization: Bearer &lt;token&gt;</code> with <code>${e(instanceUrl)}</code>. Keep it secret; it is not shown anywhere else.</p>
<p><a class="button" href="/dashboard">Back to the dashboard</a></p>`,
    user,
  );
}

export function errorPage(status: number, message: string, user: PageUser | null): string {
  return layout(
    status === 404 ? 'Not found' : 'Something went wrong',
    `<h1>${status === 404 ? 'Not found' : 'That did not work'}</h1><p role="alert">${e(message)}</p><p><a href="/">Home</a></p>`,
    user,
  );
}

interface CommunityRow {
  handle: string;
  displayName: string | null;
  online: boolean;
  url: string;
}

export function communityPage(user: PageUser, rows: CommunityRow[], hidden: boolean, feed: string): string {
  const items = rows
    .map(
      (r) =>
        `<li><a href="${e(r.url)}">@${e(r.handle)}</a>${r.displayName ? ` · ${e(r.displayName)}` : ''} <span class="hint">${r.online ? 'online' : 'asleep'}</span></li>`,
    )
    .join('');
  return layout(
    'Community',
    `<h1>Community</h1>
<form method="post" action="/community/visibility" class="inline"><input type="hidden" name="csrf" value="${e(user.csrf)}">
<input type="hidden" name="hidden" value="${hidden ? '0' : '1'}"><button type="submit">${hidden ? 'Show me in the community' : 'Hide me from the community'}</button></form>
<ul id="community">${items || '<li>No one yet.</li>'}</ul>
${feed}`,
    user,
  );
}

/** The form that opens an instance: a POST with the CSRF token, never a link. */
function openButton(user: PageUser, handle: string, next: string, label: string): string {
  return `<form method="post" action="/open/${e(handle)}" class="inline"><input type="hidden" name="csrf" value="${e(user.csrf)}"><input type="hidden" name="next" value="${e(next)}"><button type="submit">${e(label)}</button></form>`;
}

export function openPage(user: PageUser, handle: string, next: string, instanceUrl: string): string {
  return layout(
    `Open ${handle}'s Matrix OS`,
    `<h1>Open ${e(handle)}'s Matrix OS</h1>
<p>You are signed in as ${e(user.email ?? 'you')}. This opens <code>${e(instanceUrl)}${e(next)}</code> in this browser.</p>
<p>${openButton(user, handle, next, `Open ${handle}'s Matrix OS`)}</p>`,
    user,
  );
}
