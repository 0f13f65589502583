/**
 * The reference Matrix OS instance: a small stand-in for the Matrix OS image that
 * the platform's local driver runs per user. Two HTTP servers share one process:
 * the gateway (JSON API, file store, social API, /ws echo) and the shell (HTML
 * home page); beside them, the Matrix receiver fills the AI's inbox.
 *
 * Run it with `tsx instance/server.ts` (configured by environment, see
 * docs/instance.md), or call startInstance() to run it in-process.
 */
import { realpathSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import http, { STATUS_CODES } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { openStateDir } from './atomic-file.ts';
import type { Authenticator } from './auth.ts';
import { createAuthenticator, unauthorizedMessage } from './auth.ts';
import type { ConfigInput, InstanceConfig } from './config.ts';
import { ConfigError, defineConfig, loadConfig } from './config.ts';
import { FileStore } from './files.ts';
import { gatewayRoute, gatewayUpgrade } from './gateway.ts';
import { PAGE_SECURITY_POLICY, renderErrorPage, renderHomePage, renderNotFoundPage, renderUnauthorizedPage } from './home-page.ts';
import type { InstanceLogger, Route, Target } from './http.ts';
import { allow, closeServer, HttpError, listen, requestListener, respondWithJsonError, sendJson, sendText } from './http.ts';
import { Inbox } from './inbox.ts';
import { startMatrixReceiver } from './matrix-sync.ts';
import { ProfileStore } from './profile.ts';
import type { SocialServices } from './social-routes.ts';
import { createEchoServer } from './websocket.ts';

export type { InstanceLogger, RequestLogEntry } from './http.ts';

export interface InstanceOptions extends ConfigInput {
  /** Defaults to JSON lines on stdout (requests) and stderr (warnings, errors). */
  logger?: InstanceLogger;
}

export interface RunningInstance {
  readonly config: InstanceConfig;
  readonly gatewayPort: number;
  readonly shellPort: number;
  /** Closes both servers and every WebSocket, and stops the Matrix receiver; safe to call more than once. */
  close(): Promise<void>;
}

const CLOSE_GRACE_MS = 5_000;
const UNAUTHENTICATED_WARNING = [
  '!'.repeat(100),
  '!!! WARNING: MATRIX_AUTH_TOKEN is not set, so this Matrix OS instance is UNAUTHENTICATED.',
  '!!! Anyone who can reach its ports can read, write and delete its files. Use this for local development',
  '!!! only; anywhere else set MATRIX_AUTH_TOKEN to a long random string.',
  '!'.repeat(100),
].join('\n');

/** Starts the gateway and the shell. Throws ConfigError for a refused configuration, or the listen error. */
export async function startInstance(options: InstanceOptions): Promise<RunningInstance> {
  const { logger = consoleLogger(), ...input } = options;
  const config = defineConfig(input);
  await mkdir(config.dataDir, { recursive: true });
  const auth = createAuthenticator(config.authToken);
  const files = await FileStore.open(config.dataDir);
  if (!auth.required) logger.warn(UNAUTHENTICATED_WARNING);

  const socialDir = await openStateDir(path.join(config.dataDir, 'social'));
  const inbox = await Inbox.open(socialDir);
  const social: SocialServices = {
    api: config.social,
    profile: await ProfileStore.open(socialDir, { handle: config.handle, matrixUserId: config.matrix?.userId ?? null }, logger),
    inbox,
    matrix: startMatrixReceiver(config.matrix, { inbox, socialDir, logger }),
  };
  const ctx = { config, auth, files, social, logger, startedAt: new Date() };
  const echo = createEchoServer();
  const gateway = http.createServer(requestListener('gateway', logger, gatewayRoute(ctx), respondWithJsonError));
  gateway.on('upgrade', gatewayUpgrade(ctx, echo));
  const shell = http.createServer(requestListener('shell', logger, shellRoute(config, auth, social), respondWithHtmlError));
  const closeAll = async () => {
    await Promise.all([social.matrix.close(), echo.close(), closeServer(gateway, CLOSE_GRACE_MS), closeServer(shell, CLOSE_GRACE_MS)]);
  };

  try {
    await listen(gateway, config.port, config.host);
    await listen(shell, config.shellPort, config.host);
  } catch (error) {
    await closeAll();
    throw error;
  }

  let closing: Promise<void> | undefined;
  return {
    config,
    gatewayPort: (gateway.address() as AddressInfo).port,
    shellPort: (shell.address() as AddressInfo).port,
    close: () => (closing ??= closeAll()),
  };
}

/** The shell also takes the token from the matrix_token cookie, so a browser can open it in single-user mode. */
function shellRoute(config: InstanceConfig, auth: Authenticator, social: SocialServices): Route {
  return async (req, res, { pathname }) => {
    if (pathname === '/health') {
      allow(req, ['GET', 'HEAD']);
      return sendJson(req, res, 200, { status: 'ok', handle: config.handle });
    }
    if (!auth.isAuthorized(req.headers, { cookie: true })) {
      throw new HttpError(401, 'unauthorized', unauthorizedMessage({ cookie: true }), { 'WWW-Authenticate': 'Bearer' });
    }
    if (pathname !== '/') throw new HttpError(404, 'not_found', `There is nothing at ${pathname}.`);
    allow(req, ['GET', 'HEAD']);
    sendHtml(
      req,
      res,
      200,
      renderHomePage({
        handle: config.handle,
        version: config.version,
        messages: social.inbox.list(),
        matrix: social.matrix.status(),
        platformUrl: config.platformUrl,
      }),
    );
  };
}

function respondWithHtmlError(req: IncomingMessage, res: ServerResponse, error: HttpError, target: Target | undefined): void {
  const page =
    error.status === 401
      ? renderUnauthorizedPage()
      : error.status === 404
        ? renderNotFoundPage(target?.pathname ?? '')
        : renderErrorPage(STATUS_CODES[error.status] ?? 'Error', error.message);
  sendHtml(req, res, error.status, page, error.headers);
}

function sendHtml(req: IncomingMessage, res: ServerResponse, status: number, html: string, headers: OutgoingHttpHeaders = {}): void {
  sendText(req, res, status, html, {
    'Content-Type': 'text/html; charset=utf-8',
    'Content-Security-Policy': PAGE_SECURITY_POLICY,
    'Referrer-Policy': 'no-referrer',
    ...headers,
  });
}

export function consoleLogger(stdout: NodeJS.WritableStream = process.stdout, stderr: NodeJS.WritableStream = process.stderr): InstanceLogger {
  const line = (stream: NodeJS.WritableStream, record: Record<string, unknown>) =>
    stream.write(`${JSON.stringify({ time: new Date().toISOString(), ...record })}\n`);
  return {
    request: (entry) => line(stdout, { level: 'info', msg: 'request', ...entry }),
    warn: (message) => stderr.write(`${message}\n`),
    error: (message, error) => line(stderr, { level: 'error', msg: message, error: error instanceof Error ? (error.stack ?? error.message) : String(error) }),
  };
}

async function main(): Promise<void> {
  let instance: RunningInstance;
  try {
    instance = await startInstance(loadConfig());
  } catch (error) {
    const reason = error instanceof ConfigError ? error.message : `instance failed to start: ${describe(error)}`;
    process.stderr.write(`${reason}\n`);
    process.exit(1);
  }
  const { config, gatewayPort, shellPort } = instance;
  process.stdout.write(
    `${JSON.stringify({
      time: new Date().toISOString(),
      level: 'info',
      msg: 'listening',
      handle: config.handle,
      version: config.version,
      gateway: `http://${config.host}:${gatewayPort}`,
      shell: `http://${config.host}:${shellPort}`,
    })}\n`,
  );

  const shutdown = (signal: NodeJS.Signals) => {
    process.stderr.write(`received ${signal}, shutting down\n`);
    setTimeout(() => process.exit(1), 2 * CLOSE_GRACE_MS).unref();
    instance.close().then(
      () => process.exit(0),
      (error: unknown) => {
        process.stderr.write(`shutdown failed: ${describe(error)}\n`);
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function isMainModule(): boolean {
  const entry = process.argv[1];
  if (entry === undefined) return false;
  try {
    return realpathSync(entry) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isMainModule()) await main();
