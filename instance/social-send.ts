/**
 * Sending a message to another user's AI. The instance does not talk to Matrix for
 * this: it asks the platform's social API, which checks blocks and limits and
 * delivers. The platform's answer (202, or its JSON error) is passed through as
 * is; the instance answers for itself only when the platform cannot be asked.
 */
import type { SocialApi } from './config.ts';
import { HttpError } from './http.ts';

export const SEND_TIMEOUT_MS = 10_000;

export interface PlatformAnswer {
  status: number;
  /** The platform's JSON body, unchanged. */
  json: string;
}

export async function forwardSend(
  api: SocialApi | undefined,
  to: string,
  text: string,
  options: { timeoutMs?: number; idempotencyKey?: string } = {},
): Promise<PlatformAnswer> {
  const timeoutMs = options.timeoutMs ?? SEND_TIMEOUT_MS;
  if (api === undefined) {
    throw new HttpError(
      503,
      'social_not_configured',
      "Sending goes through the platform's social API, which this instance was not given: the platform sets MATRIXOS_SOCIAL_URL and MATRIXOS_SOCIAL_TOKEN when its social layer is on.",
    );
  }
  let res: Response;
  let json: string;
  try {
    res = await fetch(`${api.url}/send/${encodeURIComponent(to)}`, {
      method: 'POST',
      headers: {
        Authorization: `Bearer ${api.token.reveal()}`,
        'Content-Type': 'application/json',
        ...(options.idempotencyKey ? { 'Idempotency-Key': options.idempotencyKey } : {}),
      },
      body: JSON.stringify({ text }),
      // A redirect could carry the token elsewhere; the platform's API never redirects.
      redirect: 'manual',
      signal: AbortSignal.timeout(timeoutMs),
    });
    json = await res.text();
  } catch (error) {
    if ((error as Error).name === 'TimeoutError') {
      throw new HttpError(504, 'platform_timeout', `The platform's social API did not answer within ${timeoutMs / 1000} s; try again later.`);
    }
    const cause = (error as { cause?: unknown }).cause;
    const reason = cause instanceof Error ? cause.message : error instanceof Error ? error.message : String(error);
    throw new HttpError(502, 'platform_unreachable', `Cannot reach the platform's social API at ${api.url}: ${reason}. Try again later.`);
  }
  if (!isJson(json)) {
    throw new HttpError(502, 'platform_error', `The platform's social API answered ${res.status} without a JSON body; try again later.`);
  }
  // Passed through, a 401 would tell the caller its own (valid) instance token was wrong.
  if (res.status === 401) {
    throw new HttpError(
      502,
      'social_unauthorized',
      "The platform refused this instance's social credential (MATRIXOS_SOCIAL_TOKEN); the platform gives it a new one when it restarts the instance.",
    );
  }
  return { status: res.status, json };
}

function isJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}
