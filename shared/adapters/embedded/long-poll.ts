/**
 * Long polling for stream readers: a reader with nothing to read waits until a message may have arrived in its stream,
 * its wait runs out, its signal aborts, or the adapter closes. Shared by the embedded log and the in-memory fake, which
 * differ only in how they learn that a stream has new messages.
 */

interface Waiter {
  /** Something may have been appended to the stream; the reader should look again. */
  notify(): void;
  /** The wait is over (timeout, abort or close). */
  end(): void;
}

export interface StreamWaitersHooks {
  /** The first reader started waiting (e.g. start watching for appends by other processes). */
  onFirstWaiter?: () => void;
  /** The last reader stopped waiting. */
  onNoWaiters?: () => void;
}

export class StreamWaiters {
  private readonly byStream = new Map<string, Set<Waiter>>();
  private count = 0;
  private closed = false;

  constructor(private readonly hooks: StreamWaitersHooks = {}) {}

  get size(): number {
    return this.count;
  }

  /** The streams that have readers waiting. */
  streamIds(): string[] {
    return [...this.byStream.keys()];
  }

  wake(streamId: string): void {
    for (const waiter of this.byStream.get(streamId) ?? []) waiter.notify();
  }

  /** Ends every wait, now and later (the adapter is closing). */
  close(): void {
    this.closed = true;
    for (const waiters of [...this.byStream.values()]) for (const waiter of [...waiters]) waiter.end();
  }

  /**
   * Reads at once; when the read is empty, waits and reads again until it is not, or `waitMs` passes, or `signal`
   * aborts. Whatever ends the wait, the reader gets a final read rather than an error.
   */
  async poll<T>(
    streamId: string,
    options: { waitMs?: number; signal?: AbortSignal },
    read: () => T,
    isEmpty: (result: T) => boolean,
  ): Promise<T> {
    const first = read();
    const waitMs = options.waitMs ?? 0;
    if (!isEmpty(first) || waitMs <= 0 || this.closed || options.signal?.aborted) return first;
    const window = this.open(streamId, waitMs, options.signal);
    try {
      for (;;) {
        // Armed before reading: an append that lands during the read still wakes this wait.
        const woken = window.next();
        const result = read();
        if (!isEmpty(result) || window.ended) return result;
        await woken;
      }
    } finally {
      window.close();
    }
  }

  private open(streamId: string, waitMs: number, signal: AbortSignal | undefined) {
    let resolveNext: (() => void) | undefined;
    let pending = false;
    const state = { ended: false };
    const waiter: Waiter = {
      notify: () => {
        if (resolveNext) {
          resolveNext();
          resolveNext = undefined;
        } else {
          pending = true;
        }
      },
      end: () => {
        state.ended = true;
        waiter.notify();
      },
    };
    const timer = setTimeout(waiter.end, waitMs);
    signal?.addEventListener('abort', waiter.end, { once: true });
    this.add(streamId, waiter);
    return {
      get ended(): boolean {
        return state.ended;
      },
      next: (): Promise<void> => {
        if (pending || state.ended) {
          pending = false;
          return Promise.resolve();
        }
        return new Promise<void>((resolve) => {
          resolveNext = resolve;
        });
      },
      close: (): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', waiter.end);
        this.remove(streamId, waiter);
      },
    };
  }

  private add(streamId: string, waiter: Waiter): void {
    let waiters = this.byStream.get(streamId);
    if (!waiters) {
      waiters = new Set();
      this.byStream.set(streamId, waiters);
    }
    waiters.add(waiter);
    this.count++;
    if (this.count === 1) this.hooks.onFirstWaiter?.();
  }

  private remove(streamId: string, waiter: Waiter): void {
    const waiters = this.byStream.get(streamId);
    if (!waiters?.delete(waiter)) return;
    if (waiters.size === 0) this.byStream.delete(streamId);
    this.count--;
    if (this.count === 0) this.hooks.onNoWaiters?.();
  }
}
