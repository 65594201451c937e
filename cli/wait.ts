/**
 * Waiting for an execution to finish: follow the `execution-events` stream with long polls from cursors opened
 * before the command was created (so no change is missed), or, when the stream cannot be read, poll the execution
 * with a capped backoff. Never a fixed sleep on the stream path: a change is seen the moment it is published.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { models } from 'oci-computeinstanceagent';
import { InvalidMessageError, parseExecutionChangedMessage } from '../events/parse';
import type { StreamConsumer } from '../shared/ports/stream';
import { isFinished } from './exit-codes';

export type Execution = models.InstanceAgentCommandExecution;

/** Changes to one execution, one long poll at a time. */
export interface ExecutionChanges {
  poll(waitMs: number, signal: AbortSignal): Promise<Execution[]>;
}

const MAX_MESSAGES_PER_POLL = 100;

/** The `execution-events` stream read with plain LATEST cursors: no consumer group is created for a waiter. */
export class ExecutionEventFollower {
  private constructor(
    private readonly stream: StreamConsumer,
    private readonly streamId: string,
    private readonly cursors: string[],
  ) {}

  /** Opens a cursor at the end of every partition; call it before creating the command. */
  static async open(stream: StreamConsumer, streamId: string, partitions: number): Promise<ExecutionEventFollower> {
    const cursors = await Promise.all(
      Array.from({ length: Math.max(1, partitions) }, (_, partition) =>
        stream.createCursor(streamId, { partition: String(partition), type: 'LATEST' }),
      ),
    );
    return new ExecutionEventFollower(stream, streamId, cursors);
  }

  /** Changes to `instanceAgentCommandId` on `instanceId`, in the order they were published. */
  changesOf(instanceAgentCommandId: string, instanceId: string): ExecutionChanges {
    return {
      poll: async (waitMs, signal) =>
        (await this.pollAll(waitMs, signal)).filter(
          (e) => e.instanceAgentCommandId === instanceAgentCommandId && e.instanceId === instanceId,
        ),
    };
  }

  /**
   * Every change, one long poll on every partition at once (a waiter for many commands filters itself). The first
   * partition to answer with messages ends the others' waits; their cursors stay where they were, so nothing is
   * skipped.
   */
  async pollAll(waitMs: number, signal: AbortSignal): Promise<Execution[]> {
    const round = new AbortController();
    const onAbort = (): void => round.abort(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      const read = await Promise.all(
        this.cursors.map(async (cursor, partition) => {
          try {
            const got = await this.stream.getMessages(this.streamId, cursor, {
              limit: MAX_MESSAGES_PER_POLL,
              waitMs,
              signal: round.signal,
            });
            this.cursors[partition] = got.nextCursor;
            if (got.messages.length > 0) round.abort();
            return got.messages;
          } catch (e) {
            if (round.signal.aborted && !signal.aborted) return [];
            throw e;
          }
        }),
      );
      return read.flat().flatMap((message) => parseExecutionChanged(message.value));
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }
}

/** An `execution.changed` message's execution (`parseExecutionChangedMessage`); anything else on the stream is skipped. */
export function parseExecutionChanged(value: Buffer): Execution[] {
  try {
    return [parseExecutionChangedMessage(value).execution as unknown as Execution];
  } catch (err) {
    if (err instanceof InvalidMessageError) return [];
    throw err;
  }
}

export interface WaitOptions {
  /** GET .../status. */
  getExecution(): Promise<Execution>;
  /** The stream, when it could be opened; otherwise the wait polls `getExecution`. */
  changes?: ExecutionChanges;
  /** Every state seen, from the stream or from a GET (possibly repeated). */
  onUpdate(execution: Execution): void;
  /** The stream failed mid-wait; the wait goes on by polling. */
  onStreamFailed(error: unknown): void;
  signal: AbortSignal;
  /** How long one stream read may wait on the server. */
  longPollMs?: number;
  /** With the stream, a GET after this long with no change seen, so a lost publish cannot hang the wait. */
  verifyAfterQuietMs?: number;
  pollInitialMs?: number;
  pollMaxMs?: number;
  nowMs?: () => number;
}

export const WAIT_DEFAULTS = {
  longPollMs: 20_000,
  verifyAfterQuietMs: 30_000,
  pollInitialMs: 250,
  pollMaxMs: 5_000,
} as const;

/** Resolves with the finished execution; rejects with the signal's reason when aborted. */
export async function waitForExecution(options: WaitOptions): Promise<Execution> {
  const { signal } = options;
  const nowMs = options.nowMs ?? Date.now;
  const longPollMs = options.longPollMs ?? WAIT_DEFAULTS.longPollMs;
  const verifyAfterQuietMs = options.verifyAfterQuietMs ?? WAIT_DEFAULTS.verifyAfterQuietMs;
  const pollMaxMs = options.pollMaxMs ?? WAIT_DEFAULTS.pollMaxMs;
  let pollDelayMs = options.pollInitialMs ?? WAIT_DEFAULTS.pollInitialMs;
  let changes = options.changes;
  let lastSeenMs = nowMs();
  for (;;) {
    signal.throwIfAborted();
    if (changes) {
      let seen: Execution[];
      try {
        seen = await changes.poll(longPollMs, signal);
      } catch (e) {
        if (signal.aborted) throw signal.reason;
        options.onStreamFailed(e);
        changes = undefined;
        continue;
      }
      for (const execution of seen) {
        options.onUpdate(execution);
        if (isFinished(execution)) return execution;
      }
      if (seen.length > 0 || nowMs() - lastSeenMs < verifyAfterQuietMs) {
        if (seen.length > 0) lastSeenMs = nowMs();
        continue;
      }
      lastSeenMs = nowMs();
    }
    const execution = await options.getExecution();
    options.onUpdate(execution);
    if (isFinished(execution)) return execution;
    if (!changes) {
      await sleep(pollDelayMs, undefined, { signal });
      pollDelayMs = Math.min(pollDelayMs * 2, pollMaxMs);
    }
  }
}
