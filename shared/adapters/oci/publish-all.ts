import { PublishFailedError, type PublishInput, type PublishedEntry, type StreamPublisher } from '../../ports/stream';

export interface PublishAllOptions {
  /** Total attempts, the first included. */
  attempts: number;
  /** Awaited before each retry (inject a sleep for backoff; partial failures are often per-partition throttling). */
  beforeRetry?: (attempt: number, failures: PublishFailedError['failures']) => Promise<void>;
}

/**
 * Publishes `messages`, re-sending only the ones a partial failure names, so the stored ones are never duplicated.
 * Resolves with one entry per message in input order; after the last attempt throws `PublishFailedError` with indexes
 * into `messages`. Whole-request failures (unavailable, not found) propagate at once: what they stored is unknown.
 */
export async function publishAll(
  stream: StreamPublisher,
  streamId: string,
  messages: PublishInput[],
  options: PublishAllOptions,
): Promise<PublishedEntry[]> {
  const stored: Array<PublishedEntry | undefined> = messages.map(() => undefined);
  let pending = messages.map((_, index) => index);
  for (let attempt = 1; ; attempt++) {
    try {
      const entries = await stream.publish(
        streamId,
        pending.map((index) => messages[index] as PublishInput),
      );
      entries.forEach((entry, i) => (stored[pending[i] as number] = entry));
      return stored as PublishedEntry[];
    } catch (err) {
      if (!(err instanceof PublishFailedError)) throw err;
      err.stored.forEach((entry, i) => {
        if (entry !== undefined) stored[pending[i] as number] = entry;
      });
      const failures = err.failures.map((f) => ({ index: pending[f.index] as number, error: f.error }));
      if (attempt >= options.attempts) throw new PublishFailedError(failures, stored, { cause: err });
      await options.beforeRetry?.(attempt, failures);
      pending = failures.map((f) => f.index);
    }
  }
}
