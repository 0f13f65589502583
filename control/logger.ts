/**
 * Structured logs (pino). Secrets are redacted by path as a second line of
 * defence: code should never put a secret in a log object in the first place.
 * JSON lines by default; readable lines (pino-pretty) for a person at a terminal.
 */
import { type Logger, pino } from 'pino';
import pretty from 'pino-pretty';

export type { Logger };

export const REDACTED_PATHS = [
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

/**
 * `destination`: where JSON lines go (stdout by default). `readable`: pretty,
 * colourised lines on stdout instead; for development at a terminal only, since
 * log collectors want JSON.
 */
export function createLogger(level: string, destination?: NodeJS.WritableStream, options: { readable?: boolean } = {}): Logger {
  const settings = { level, base: { service: 'control' }, redact: { paths: REDACTED_PATHS, censor: '[redacted]' } };
  if (options.readable) return pino(settings, pretty({ colorize: true, translateTime: 'SYS:HH:MM:ss', ignore: 'pid,hostname,service', sync: true }));
  return destination ? pino(settings, destination as pino.DestinationStream) : pino(settings);
}
