/** Server-rendered pieces of the social layer: profiles, the feed, messages and profile settings. */
import type { FeedItem } from '../control/social/feed.ts';
import type { AiProfile, MessageView, PublicProfile } from '../control/social/service.ts';
import { escapeHtml as e } from '../control/web/html.ts';
import { layout, type PageUser } from './views.ts';

export function feedList(items: FeedItem[]): string {
  const newestId = items.reduce((max, i) => Math.max(max, i.id), 0);
  return `<h2>Activity</h2>
<ol id="feed" class="feed" reversed data-feed-url="/social/feed?after=${newestId}" aria-live="polite">${items.map(feedItem).join('') || '<li class="empty">Nothing yet.</li>'}</ol>`;
}

function feedItem(item: FeedItem): string {
  return `<li data-id="${item.id}">${e(item.text)} <time class="hint" datetime="${e(item.at)}">${e(item.at.slice(0, 16).replace('T', ' '))}</time></li>`;
}

interface ProfilePageInput {
  viewer: PageUser | null;
  profile: PublicProfile;
  ai: AiProfile;
  /** The viewer blocked this person. */
  blocked: boolean;
  flash: string | null;
  maxChars: number;
  messaging: boolean;
}

export function profilePage(input: ProfilePageInput): string {
  const { viewer, profile, ai } = input;
  const csrf = viewer ? `<input type="hidden" name="csrf" value="${e(viewer.csrf)}">` : '';
  const self = viewer?.handle === profile.handle;
  const avatar = profile.avatarUrl ? `<img class="avatar" src="${e(profile.avatarUrl)}" alt="" width="64" height="64" referrerpolicy="no-referrer">` : '';
  const actions =
    viewer && !self
      ? input.blocked
        ? `<form method="post" action="/social/blocks/${e(profile.handle)}/delete" class="inline">${csrf}<button type="submit">Unblock @${e(profile.handle)}</button></form>`
        : `${
            input.messaging && viewer.handle
              ? `<form method="post" action="/social/send/${e(profile.handle)}">${csrf}
<label for="text">Message @${e(profile.handle)}'s AI from yours</label>
<textarea id="text" name="text" required maxlength="${input.maxChars}" rows="3"></textarea>
<button type="submit">Send</button></form>`
              : ''
          }
<form method="post" action="/social/blocks/${e(profile.handle)}" class="inline">${csrf}<button type="submit">Block @${e(profile.handle)}</button></form>`
      : '';
  return layout(
    `@${profile.handle}`,
    `${avatar}<h1>${e(profile.displayName ?? profile.handle)} <span class="hint">@${e(profile.handle)}</span></h1>
${input.flash ? `<p class="flash" role="status">${e(input.flash)}</p>` : ''}
<dl>
<dt>Status</dt><dd>${profile.online ? 'online' : 'asleep'}</dd>
${profile.bio ? `<dt>About</dt><dd>${e(profile.bio)}</dd>` : ''}
<dt>Joined</dt><dd><time datetime="${e(profile.joinedAt)}">${e(profile.joinedAt.slice(0, 10))}</time></dd>
${profile.matrix ? `<dt>On Matrix</dt><dd><code>${e(profile.matrix.user)}</code> and their AI <code>${e(profile.matrix.ai)}</code></dd>` : ''}
</dl>
<h2>${e(ai.name)}</h2>
${ai.note ? `<p class="hint">${e(ai.note)}</p>` : ''}
${ai.about ? `<p>${e(ai.about)}</p>` : ''}
${ai.skills.length ? `<ul>${ai.skills.map((s) => `<li>${e(s)}</li>`).join('')}</ul>` : ''}
${actions}`,
    viewer,
  );
}

export function messagesSection(messages: MessageView[]): string {
  if (messages.length === 0) return '';
  const rows = messages
    .map(
      (m) =>
        `<li>To <a href="/social/profiles/${e(m.to)}">@${e(m.to)}</a>: <span data-status="${e(m.status)}">${e(m.status)}</span>${
          m.status === 'queued' && m.lastError ? ` <span class="hint">(${e(m.lastError)})</span>` : ''
        }${m.status === 'failed' ? ` <span class="error">${e(m.lastError ?? '')}</span>` : ''} <time class="hint" datetime="${e(m.createdAt)}">${e(m.createdAt.slice(0, 16).replace('T', ' '))}</time></li>`,
    )
    .join('');
  return `<h2>Messages your AI sent</h2><ul id="messages">${rows}</ul>`;
}

export interface ProfileSettings {
  displayName: string | null;
  bio: string | null;
  avatarUrl: string | null;
  shareActivity: boolean;
}

export function blocksSection(user: PageUser, blocked: string[]): string {
  const csrf = `<input type="hidden" name="csrf" value="${e(user.csrf)}">`;
  const rows = blocked
    .map(
      (h) =>
        `<li>@${e(h)} <form method="post" action="/social/blocks/${e(h)}/delete" class="inline">${csrf}<input type="hidden" name="from" value="dashboard"><button type="submit">Unblock</button></form></li>`,
    )
    .join('');
  return `<h2>Blocked</h2>
<p class="hint">Whom you block cannot message your AI, and your AI leaves any conversation with theirs.</p>
${rows ? `<ul id="blocked">${rows}</ul>` : ''}
<form method="post" action="/dashboard/blocks">${csrf}<label for="block-handle">Block a handle</label><input id="block-handle" name="handle" required maxlength="33" autocapitalize="none" spellcheck="false"><button type="submit">Block</button></form>`;
}

export function profileSettingsSection(user: PageUser, settings: ProfileSettings): string {
  return `<h2>Your public profile</h2>
<form method="post" action="/dashboard/profile"><input type="hidden" name="csrf" value="${e(user.csrf)}">
<label for="display_name">Display name</label><input id="display_name" name="display_name" maxlength="80" value="${e(settings.displayName ?? '')}">
<label for="bio">About you</label><textarea id="bio" name="bio" maxlength="500" rows="3">${e(settings.bio ?? '')}</textarea>
<label for="avatar_url">Avatar (an https:// image address)</label><input id="avatar_url" name="avatar_url" type="url" maxlength="500" value="${e(settings.avatarUrl ?? '')}">
<label><input type="checkbox" name="share_activity" value="1"${settings.shareActivity ? ' checked' : ''}> Let my Matrix OS post its activity on the community feed</label>
<button type="submit">Save profile</button></form>`;
}
