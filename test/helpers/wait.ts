/**
 * Tests wait for events, never for time: a fixed sleep followed by an assertion is a
 * flaky test on a busy 2-core machine. waitUntil polls a condition (the store, a
 * double's call log, a route, a log line) with a short interval and a deadline; the
 * deadline is generous because it only decides how long a failing test takes to say so.
 */

export interface WaitOptions {
  /** Give up after this long. Default 10 s. */
  timeoutMs?: number;
  /** Pause between two checks. Default 20 ms. */
  intervalMs?: number;
  /** What is awaited, for the failure; a function is called at the deadline, to describe the last state. */
  message?: string | (() => string | Promise<string>);
}

export type Truthy<T> = Exclude<T, false | null | undefined | 0 | ''>;

/**
 * Resolves with the first truthy value of `condition`, checked at once and then every
 * `intervalMs`; rejects naming `message` when `timeoutMs` passes first. An error thrown
 * by the condition is not retried: it fails the wait at once.
 */
export async function waitUntil<T>(condition: () => T | Promise<T>, options: WaitOptions = {}): Promise<Truthy<T>> {
  const { timeoutMs = 10_000, intervalMs = 20 } = options;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await condition();
    if (value) return value as Truthy<T>;
    if (Date.now() >= deadline) {
      const what = typeof options.message === 'function' ? await options.message() : (options.message ?? 'the condition');
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
