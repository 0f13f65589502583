/** Request bodies with a size limit: every problem becomes a 4xx that says what to send. */
import type { IncomingMessage } from 'node:http';
import { PayloadTooLargeError, PlatformError, ValidationError } from '../errors.ts';

/** The raw body; 413 as soon as it passes `limitBytes` (declared or streamed). */
export async function readBody(req: IncomingMessage, limitBytes: number): Promise<Buffer> {
  if (Number(req.headers['content-length'] ?? 0) > limitBytes) throw new PayloadTooLargeError(limitBytes);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limitBytes) throw new PayloadTooLargeError(limitBytes);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

function contentType(req: IncomingMessage): string {
  return (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
}

/** An HTML form post (application/x-www-form-urlencoded). */
export async function readForm(req: IncomingMessage, limitBytes = 16_384): Promise<URLSearchParams> {
  if (contentType(req) !== 'application/x-www-form-urlencoded') {
    throw new PlatformError('unsupported_media_type', 'Send the form as a regular HTML form.', { status: 415 });
  }
  return new URLSearchParams((await readBody(req, limitBytes)).toString('utf8'));
}

/** A JSON object; an empty body is `{}`. */
export async function readJsonObject(req: IncomingMessage, limitBytes: number): Promise<Record<string, unknown>> {
  const raw = await readBody(req, limitBytes);
  if (raw.length === 0) return {};
  const type = contentType(req);
  if (type !== 'application/json' && !type.endsWith('+json')) {
    throw new PlatformError('unsupported_media_type', 'Send the request body as JSON with Content-Type: application/json.', { status: 415 });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw.toString('utf8'));
  } catch (err) {
    throw new ValidationError(`Request body is not valid JSON: ${(err as Error).message}`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new ValidationError('Request body must be a JSON object.');
  return parsed as Record<string, unknown>;
}
