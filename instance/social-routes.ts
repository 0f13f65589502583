/**
 * The gateway's /api/social routes: the AI's public profile, the messages it
 * received with the state of the Matrix receiver, and sending through the
 * platform. The gateway has checked the instance token before these run. Request
 * bodies are checked whole before anything is saved or forwarded, and a 400
 * names the field at fault.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { SocialApi } from './config.ts';
import { HANDLE_PATTERN } from './config.ts';
import { allow, HttpError, readJson, sendJson, sendText } from './http.ts';
import type { Inbox } from './inbox.ts';
import type { MatrixReceiver } from './matrix-sync.ts';
import type { ProfileFields, ProfileStore } from './profile.ts';
import { PROFILE_LIMITS } from './profile.ts';
import { forwardSend } from './social-send.ts';

export interface SocialServices {
  readonly api: SocialApi | undefined;
  readonly profile: ProfileStore;
  readonly inbox: Inbox;
  readonly matrix: MatrixReceiver;
}

export const SOCIAL_PREFIX = '/api/social/';
export const MAX_TEXT_CHARS = 4000;
const MAX_BODY_BYTES = 64 * 1024;

export async function routeSocial(social: SocialServices, req: IncomingMessage, res: ServerResponse, pathname: string): Promise<void> {
  switch (pathname) {
    case '/api/social/profile':
      allow(req, ['GET', 'HEAD', 'PUT']);
      if (req.method !== 'PUT') return sendJson(req, res, 200, social.profile.get());
      return sendJson(req, res, 200, await social.profile.update(parseProfileChanges(await readJson(req, MAX_BODY_BYTES))));
    case '/api/social/inbox':
      allow(req, ['GET', 'HEAD']);
      return sendJson(req, res, 200, { messages: social.inbox.list(), matrix: social.matrix.status() });
    case '/api/social/send': {
      allow(req, ['POST']);
      const { to, text } = parseSendRequest(await readJson(req, MAX_BODY_BYTES));
      // The caller's Idempotency-Key goes on, so its retry after a timeout never sends twice.
      const key = req.headers['idempotency-key'];
      const answer = await forwardSend(social.api, to, text, { idempotencyKey: typeof key === 'string' ? key : undefined });
      return sendText(req, res, answer.status, answer.json, { 'Content-Type': 'application/json; charset=utf-8' });
    }
    default:
      throw new HttpError(404, 'not_found', `No route for ${pathname}: the social routes are /api/social/profile, /api/social/inbox and /api/social/send.`);
  }
}

/** `{name?, about?, skills?}`; strings are trimmed before their lengths are checked. */
export function parseProfileChanges(body: unknown): Partial<ProfileFields> {
  const fields = objectBody(body, ['name', 'about', 'skills'], 'a profile has name, about and skills');
  const changes: Partial<ProfileFields> = {};
  if (fields.name !== undefined) changes.name = text(fields.name, 'name', 1, PROFILE_LIMITS.nameChars);
  if (fields.about !== undefined) changes.about = text(fields.about, 'about', 0, PROFILE_LIMITS.aboutChars);
  if (fields.skills !== undefined) {
    const { skills: maxSkills, skillChars } = PROFILE_LIMITS;
    if (!Array.isArray(fields.skills) || fields.skills.length > maxSkills) {
      throw invalid(`skills must be a list of at most ${maxSkills} strings`);
    }
    changes.skills = fields.skills.map((skill, index) => text(skill, `skills[${index}]`, 1, skillChars));
  }
  return changes;
}

/** `{to, text}`: a handle and 1 to MAX_TEXT_CHARS characters, sent as given. */
export function parseSendRequest(body: unknown): { to: string; text: string } {
  const fields = objectBody(body, ['to', 'text'], 'send {"to": "<handle>", "text": "..."}');
  const { to } = fields;
  if (typeof to !== 'string' || !HANDLE_PATTERN.test(to)) {
    throw invalid('to must be the handle of the recipient: 1 to 64 lowercase letters, digits or hyphens, e.g. "bob"');
  }
  if (typeof fields.text !== 'string' || fields.text.trim() === '') throw invalid('text must be a non-empty string');
  if (characters(fields.text) > MAX_TEXT_CHARS) throw invalid(`text must be at most ${MAX_TEXT_CHARS} characters, got ${characters(fields.text)}`);
  return { to, text: fields.text };
}

function objectBody(body: unknown, known: readonly string[], hint: string): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw invalid(`the body must be a JSON object: ${hint}`);
  const unknown = Object.keys(body).find((key) => !known.includes(key));
  if (unknown !== undefined) throw invalid(`unknown field "${unknown}": ${hint}`);
  return body as Record<string, unknown>;
}

function text(value: unknown, field: string, min: number, max: number): string {
  const trimmed = typeof value === 'string' ? value.trim() : undefined;
  if (trimmed === undefined || characters(trimmed) < min || characters(trimmed) > max) {
    throw invalid(`${field} must be a string of ${min === 0 ? 'at most' : `${min} to`} ${max} characters`);
  }
  return trimmed;
}

/** Counts code points, as people count characters, rather than UTF-16 units. */
function characters(value: string): number {
  return [...value].length;
}

function invalid(message: string): HttpError {
  return new HttpError(400, 'invalid_request', message);
}
