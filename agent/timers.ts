/**
 * Timers and backoff. Timers are injected so the outbox and the poll loop can be tested with a fake clock; the
 * executor and real runs use `systemTimers`.
 */

export type TimerHandle = unknown;

export interface Timers {
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

export const systemTimers: Timers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/**
 * Waits at most `ms` for `promise`: true when it settled first (a rejection counts), false when the time ran out. The
 * timer is cleared either way; unlike racing it with an aborted `sleep`, this needs no AbortController per wait.
 */
export function settlesWithin(timers: Timers, ms: number, promise: Promise<unknown>): Promise<boolean> {
  return new Promise((resolve) => {
    const handle = timers.setTimeout(() => resolve(false), ms);
    const settled = (): void => {
      timers.clearTimeout(handle);
      resolve(true);
    };
    promise.then(settled, settled);
  });
}

/** Resolves after `ms`, or at once when `signal` aborts (it never rejects: callers check `signal.aborted`). */
export function sleep(timers: Timers, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) {
      resolve();
      return;
    }
    const onAbort = (): void => {
      timers.clearTimeout(handle);
      resolve();
    };
    const handle = timers.setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export interface BackoffPolicy {
  baseMs: number;
  maxMs: number;
}

/**
 * Exponential backoff with "equal jitter": half the capped delay plus a random half. Unlike full jitter it never
 * comes out near zero, so a failing dependency can never cause a hot loop. `attempt` counts from 0.
 */
export function backoffDelayMs(attempt: number, policy: BackoffPolicy, random: () => number): number {
  const exponent = Math.min(Math.max(attempt, 0), 30);
  const capped = Math.min(policy.maxMs, policy.baseMs * 2 ** exponent);
  return Math.round(capped / 2 + (capped / 2) * random());
}
