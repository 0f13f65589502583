/**
 * Structured logs (pino). Secrets are redacted by path as a second line of
 * defence: code should never put a secret in a log object in the first place.
 * JSON lines by default; readable lines (pino-pretty) for a person at a terminal.
 */
import { type Logger, pino } from 'pino';

export type { Logger };

const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'headers.cookie',
  '*.token',
  '*.secret',
  '*.secrets',
  '*.password',
  '*.apiKey',
  'spec.secrets',
  'env.MATRIX_AUTH_TOKEN',
  'env.ANTHROPIC_API_KEY',
];

/** `destination`: where the lines go (JSON on stdout by default). */
export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  const settings = { level, base: { service: 'control' }, redact: { paths: REDACTED_PATHS, censor: '[redacted]' } };
  return destination ? pino(settings, destination as pino.DestinationStream) : pino(settings);
}

/**
 * Pretty, colourised lines on stdout, for a person at a terminal in development only
 * (log collectors want JSON). Loaded on demand: nothing else needs pino-pretty.
 */
export async function readableDestination(): Promise<NodeJS.WritableStream> {
  const { default: pretty } = await import('pino-pretty');
  return pretty({ colorize: true, translateTime: 'SYS:HH:MM:ss', ignore: 'pid,hostname,service', sync: true });
}
