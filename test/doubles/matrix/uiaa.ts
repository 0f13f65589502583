/**
 * User-interactive auth as Conduit's uiaa service runs it for /register: one
 * flow of one stage (m.login.registration_token when a token is configured,
 * m.login.dummy otherwise), sessions of 32 random characters, "completed"
 * stages kept per session, and the 401 body (flows, completed, session, plus
 * errcode/error after a failed attempt). Conduit sends no `params`.
 */
import { badJson, badRequest, MatrixError } from './errors.ts';
import type { Store, UiaaSession } from './state.ts';
import type { JsonObject } from './types.ts';

export function registrationFlows(store: Store): string[][] {
  return [[store.registrationToken !== null ? 'm.login.registration_token' : 'm.login.dummy']];
}

/** The 401 answer: UiaaInfo as ruma serializes it (empty `completed` and absent `params` left out). */
export class UiaaResponse extends MatrixError {
  constructor(
    private readonly info: JsonObject,
    private readonly authError?: { errcode: string; error: string },
  ) {
    super(401, authError?.errcode ?? '', authError?.error ?? 'user-interactive authentication required');
  }

  override body(): JsonObject {
    return this.authError ? { ...this.authError, ...this.info } : { ...this.info };
  }
}

export function uiaaError(session: string, info: UiaaSession, authError?: { errcode: string; error: string }): MatrixError {
  const body: JsonObject = { flows: info.flows.map((stages) => ({ stages })) };
  if (info.completed.length > 0) body.completed = [...info.completed];
  body.session = session;
  return new UiaaResponse(body, authError);
}

/** No `auth` yet: a new session, and the 401 that names it. */
export function startSession(store: Store): MatrixError {
  const session = store.ids.session();
  const info: UiaaSession = { flows: registrationFlows(store), completed: [] };
  store.uiaa.set(session, info);
  return uiaaError(session, info);
}

/**
 * try_auth: resolves when a flow is complete (the session is then gone), throws the
 * 401 (or 403 "UIAA session does not exist.") otherwise.
 */
export function tryAuth(store: Store, auth: JsonObject): void {
  const given = auth.session;
  if (given !== undefined && typeof given !== 'string') throw badJson();
  let session = given;
  let info: UiaaSession;
  if (session !== undefined) {
    const stored = store.uiaa.get(session);
    if (!stored) throw badRequest('M_FORBIDDEN', 'UIAA session does not exist.');
    info = { flows: stored.flows, completed: [...stored.completed] };
  } else {
    session = store.ids.session();
    info = { flows: registrationFlows(store), completed: [] };
  }
  const type = auth.type;
  if (type === 'm.login.registration_token') {
    const token = auth.token;
    if (typeof token !== 'string') throw badJson();
    if (store.registrationToken === null || token.trim() !== store.registrationToken) {
      throw uiaaError(session, info, { errcode: 'M_FORBIDDEN', error: 'Invalid registration token.' });
    }
    info.completed.push('m.login.registration_token');
  } else if (type === 'm.login.dummy') {
    info.completed.push('m.login.dummy');
  } else if (type !== undefined && typeof type !== 'string') {
    throw badJson();
  }
  const done = info.flows.some((stages) => stages.every((stage) => info.completed.includes(stage)));
  if (done) {
    store.uiaa.delete(session);
    return;
  }
  store.uiaa.set(session, info);
  throw uiaaError(session, info);
}
