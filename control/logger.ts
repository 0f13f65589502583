/**
 * Structured logs (pino). Secrets are redacted by path as a second line of
 * defence: code should never put a secret in a log object in the first place.
 */
import { type Logger, pino } from 'pino';

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

export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  const options = { level, base: { service: 'control' }, redact: { paths: REDACTED_PATHS, censor: '[redacted]' } };
  return destination ? pino(options, destination as pino.DestinationStream) : pino(options);
}
