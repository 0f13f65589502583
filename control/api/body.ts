/** Reads a JSON request body with a size limit, turning every problem into a 4xx. */
import type { Context } from 'koa';
import { PayloadTooLargeError, PlatformError, ValidationError } from '../errors.ts';

export async function readJsonBody(ctx: Context, limitBytes: number): Promise<Record<string, unknown>> {
  const declared = Number(ctx.get('content-length') || 0);
  if (declared > limitBytes) throw new PayloadTooLargeError(limitBytes);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req) {
    size += (chunk as Buffer).length;
    if (size > limitBytes) throw new PayloadTooLargeError(limitBytes);
    chunks.push(chunk as Buffer);
  }
  if (size === 0) return {};
  if (!ctx.is('application/json')) {
    throw new PlatformError('unsupported_media_type', 'Send the request body as JSON with Content-Type: application/json.', { status: 415 });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch (err) {
    throw new ValidationError(`Request body is not valid JSON: ${(err as Error).message}`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new ValidationError('Request body must be a JSON object.');
  return parsed as Record<string, unknown>;
}
