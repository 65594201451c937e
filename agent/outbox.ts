/**
 * A durable outbox of reports (amazon-ssm-agent's reply queue): each report is stored (in the agent's state journal)
 * under a sequence number so they are sent in order, delivered one at a time by `send`. A report leaves the outbox
 * when it was delivered or got a permanent answer; anything else is retried with capped exponential backoff and
 * jitter, across restarts too.
 */
import { nullLogger, type Logger } from './log';
import { backoffDelayMs, settlesWithin, sleep, systemTimers, type BackoffPolicy, type Timers } from './timers';

/** Where the reports are kept until they leave the outbox. */
export interface OutboxStore {
  /** The stored reports, by sequence number. */
  load(): Array<{ seq: number; payload: unknown }>;
  add(seq: number, payload: unknown): void;
  remove(seq: number): void;
  /** Sets aside a stored report that is not a payload; returns where it went. */
  quarantine(seq: number, payload: unknown): string;
}

export interface OutboxOptions<T> {
  store: OutboxStore;
  send(payload: T, signal: AbortSignal): Promise<void>;
  /** True for an answer that will never change (delivered in effect, or refused for good): the report is dropped. */
  isPermanentFailure(err: unknown): boolean;
  isPayload(value: unknown): value is T;
  timers?: Timers;
  random?: () => number;
  backoff?: BackoffPolicy;
  /** Bounds the disk used while the platform is unreachable; past it the oldest reports are dropped (and logged). */
  maxEntries?: number;
  log?: Logger;
}

interface Entry<T> {
  seq: number;
  payload: T;
  attempts: number;
  settle?: () => void;
}

const DEFAULT_BACKOFF: BackoffPolicy = { baseMs: 500, maxMs: 30_000 };
const DEFAULT_MAX_ENTRIES = 10_000;

export class Outbox<T> {
  private readonly entries: Array<Entry<T>> = [];
  private readonly timers: Timers;
  private readonly random: () => number;
  private readonly backoff: BackoffPolicy;
  private readonly maxEntries: number;
  private readonly log: Logger;
  private nextSeq = 1;
  private running = false;
  private pumping: Promise<void> | undefined;
  private abort = new AbortController();
  private idleWaiters: Array<() => void> = [];

  constructor(private readonly options: OutboxOptions<T>) {
    this.timers = options.timers ?? systemTimers;
    this.random = options.random ?? Math.random;
    this.backoff = options.backoff ?? DEFAULT_BACKOFF;
    this.maxEntries = options.maxEntries ?? DEFAULT_MAX_ENTRIES;
    this.log = options.log ?? nullLogger;
    this.loadExisting();
  }

  private loadExisting(): void {
    for (const { seq, payload } of this.options.store.load()) {
      this.nextSeq = Math.max(this.nextSeq, seq + 1);
      if (this.options.isPayload(payload)) {
        this.entries.push({ seq, payload, attempts: 0 });
      } else {
        const movedTo = this.options.store.quarantine(seq, payload);
        this.log.error('moved a corrupt outbox report aside', { seq, movedTo });
      }
    }
  }

  get size(): number {
    return this.entries.length;
  }

  /**
   * Persists the report (durably, before returning) and schedules its delivery. The returned promise settles once it
   * left the outbox (delivered, permanently refused, or dropped); it never rejects.
   */
  enqueue(payload: T): Promise<void> {
    const seq = this.nextSeq;
    this.nextSeq += 1;
    this.options.store.add(seq, payload);
    const settled = new Promise<void>((resolve) => {
      this.entries.push({ seq, payload, attempts: 0, settle: resolve });
    });
    while (this.entries.length > this.maxEntries) {
      const dropped = this.entries[0];
      if (dropped === undefined) break;
      this.log.error('the outbox is full; dropping its oldest report', { seq: dropped.seq, maxEntries: this.maxEntries });
      this.finish(dropped);
    }
    this.kick();
    return settled;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.abort = new AbortController();
    this.kick();
  }

  /** Stops delivering (an in-flight send is aborted); what is left stays on disk for the next start. */
  async stop(): Promise<void> {
    this.running = false;
    this.abort.abort();
    await this.pumping;
  }

  /** Resolves when the outbox is empty or `timeoutMs` passed; true when empty. */
  async whenEmpty(timeoutMs?: number): Promise<boolean> {
    if (this.entries.length === 0) return true;
    const empty = new Promise<boolean>((resolve) => this.idleWaiters.push(() => resolve(true)));
    if (timeoutMs === undefined) return empty;
    return (await settlesWithin(this.timers, timeoutMs, empty)) || this.entries.length === 0;
  }

  private kick(): void {
    if (!this.running || this.pumping !== undefined) return;
    this.pumping = this.pump().finally(() => {
      this.pumping = undefined;
      // A report enqueued while the pump was finishing must not wait for the next enqueue.
      if (this.running && this.entries.length > 0) this.kick();
    });
  }

  private finish(entry: Entry<T>): void {
    const index = this.entries.indexOf(entry);
    if (index >= 0) this.entries.splice(index, 1);
    this.options.store.remove(entry.seq);
    entry.settle?.();
    if (this.entries.length === 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
  }

  private async pump(): Promise<void> {
    const signal = this.abort.signal;
    while (this.running && !signal.aborted) {
      const head = this.entries[0];
      if (head === undefined) return;
      try {
        await this.options.send(head.payload, signal);
        this.finish(head);
      } catch (err) {
        if (signal.aborted) return;
        if (this.options.isPermanentFailure(err)) {
          this.log.warn('a report was refused for good; dropping it', { seq: head.seq, error: err });
          this.finish(head);
          continue;
        }
        const delayMs = backoffDelayMs(head.attempts, this.backoff, this.random);
        head.attempts += 1;
        this.log.warn('report delivery failed; will retry', { seq: head.seq, attempts: head.attempts, retryInMs: delayMs, error: err });
        await sleep(this.timers, delayMs, signal);
      }
    }
  }
}
