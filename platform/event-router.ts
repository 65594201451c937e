/**
 * The embedded platform's stand-in for an OCI Events rule with a Functions action: Object Storage `createobject`
 * events, delivered at least once to the `object-events` function.
 *
 * - **Durable first.** A PUT into a bucket with `objectEventsEnabled` writes its event as a document of the platform's
 *   internal bucket (`object-events/pending/<enqueuedMs>-<eventID>.json`) before the PUT answers; a failure to write it
 *   fails the PUT, which the client retries (a new version, a new event). Pending events survive a restart: the router
 *   starts with whatever is pending. (The object and its event are two writes, not one transaction: a crash between
 *   them loses that event, and the client, which got no answer, retries the PUT.)
 * - **Delivery** invokes the function's pool directly, as Events invokes a function. A 2xx deletes the event. A 4xx
 *   (other than 408/429) is permanent: logged with the function's reason and dropped. Anything else (502, 504, a
 *   crashed or busy pool) is retried with capped exponential backoff, the attempt count kept in the document; an
 *   event still failing after `maxAgeMs` is logged and moved to `object-events/dead/`, never retried forever.
 * - **Bounded.** At most `maxInFlight` deliveries at once; one scan looks at most `maxScannedPerPass` pending events.
 */
import type { Logger } from '../shared/app/deps';
import { readDoc } from '../shared/app/documents';
import { createObjectEvent, type CreateObjectEvent } from '../shared/domain/object-event';
import { systemClock, type Clock } from '../shared/ports/clock';
import type { ObjectStore } from '../shared/ports/object-store';
import type { StoredObjectNotice } from './object-storage-objects';
import { FunctionError, gatewayStatus, type FnInvokeResponse } from './function-pool';

export const PENDING_EVENTS_PREFIX = 'object-events/pending/';
export const DEAD_EVENTS_PREFIX = 'object-events/dead/';

export interface PendingEvent {
  event: CreateObjectEvent;
  enqueuedMs: number;
  attempts: number;
  nextAttemptMs: number;
  lastError?: string;
}

/** What one delivery came to: `ok` (2xx), `permanent` (the function refused it for good) or `transient`. */
export interface DeliveryResult {
  kind: 'ok' | 'permanent' | 'transient';
  status: number;
  /** The function's answer (or the invoke error), cut to `MAX_DETAIL_CHARS`. */
  detail: string;
}

export interface DeliveryRecord extends DeliveryResult {
  eventId: string;
  bucketName: string;
  objectName: string;
  attempts: number;
  /** delivered, dropped (permanent), retrying, expired (dead-lettered). */
  outcome: 'delivered' | 'dropped' | 'retrying' | 'expired';
  timeMs: number;
}

export type EventInvoke = (body: Buffer) => Promise<FnInvokeResponse>;

export interface EventRouterOptions {
  /** The platform's internal bucket. */
  store: ObjectStore;
  /** Invokes the object-events function with the event as its body. */
  invoke: EventInvoke;
  log: Logger;
  clock?: Clock;
  maxInFlight?: number;
  baseBackoffMs?: number;
  maxBackoffMs?: number;
  /** An event still failing this long after it was enqueued is dead-lettered. */
  maxAgeMs?: number;
  maxScannedPerPass?: number;
  /** Called after every invocation (the function may have published to streams). */
  afterDelivery?: () => void;
}

const DEFAULTS = {
  maxInFlight: 4,
  baseBackoffMs: 500,
  maxBackoffMs: 60_000,
  maxAgeMs: 24 * 60 * 60 * 1000,
  maxScannedPerPass: 1000,
};
const LIST_PAGE = 100;
const MAX_DETAIL_CHARS = 2000;
const MAX_RECENT = 100;
const TIME_DIGITS = 13;
/** setTimeout's limit. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** How a function's answer is read: an event function answers 200 with its own status in `Fn-Http-Status`. */
export function classifyResponse(response: FnInvokeResponse): DeliveryResult {
  const status = gatewayStatus(response);
  const detail = response.body.toString('utf8').slice(0, MAX_DETAIL_CHARS);
  if (status >= 200 && status < 300) return { kind: 'ok', status, detail };
  if (status >= 400 && status < 500 && status !== 408 && status !== 429) return { kind: 'permanent', status, detail };
  return { kind: 'transient', status, detail };
}

/** Capped exponential backoff before attempt `attempts + 1`. */
export function retryDelayMs(attempts: number, baseMs: number, maxMs: number): number {
  return Math.min(maxMs, baseMs * 2 ** Math.min(Math.max(attempts - 1, 0), 30));
}

function classifyFailure(e: unknown): DeliveryResult {
  const detail = (e instanceof Error ? e.message : String(e)).slice(0, MAX_DETAIL_CHARS);
  // A body the pool refuses as too large never becomes smaller.
  if (e instanceof FunctionError && e.status === 413) return { kind: 'permanent', status: 413, detail };
  return { kind: 'transient', status: e instanceof FunctionError ? e.status : 502, detail };
}

export class EventRouter {
  private readonly o: Required<Omit<EventRouterOptions, 'afterDelivery'>> & Pick<EventRouterOptions, 'afterDelivery'>;
  private readonly inFlight = new Map<string, Promise<void>>();
  private readonly recentDeliveries: DeliveryRecord[] = [];
  private started = false;
  private stopped = false;
  private pumping = false;
  private pumpAgain = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(options: EventRouterOptions) {
    this.o = {
      ...options,
      clock: options.clock ?? systemClock,
      maxInFlight: options.maxInFlight ?? DEFAULTS.maxInFlight,
      baseBackoffMs: options.baseBackoffMs ?? DEFAULTS.baseBackoffMs,
      maxBackoffMs: options.maxBackoffMs ?? DEFAULTS.maxBackoffMs,
      maxAgeMs: options.maxAgeMs ?? DEFAULTS.maxAgeMs,
      maxScannedPerPass: options.maxScannedPerPass ?? DEFAULTS.maxScannedPerPass,
    };
  }

  /** Writes the event durably; the router delivers it once started. */
  async enqueue(event: CreateObjectEvent): Promise<void> {
    const nowMs = this.o.clock.nowMs();
    const doc: PendingEvent = { event, enqueuedMs: nowMs, attempts: 0, nextAttemptMs: nowMs };
    const key = `${PENDING_EVENTS_PREFIX}${String(nowMs).padStart(TIME_DIGITS, '0')}-${event.eventID}.json`;
    // ifNoneMatch: an event id is written once; a colliding id must not replace another pending event.
    await this.o.store.put(key, JSON.stringify(doc), { ifNoneMatch: '*', contentType: 'application/json' });
    this.kick();
  }

  start(): void {
    this.started = true;
    this.kick();
  }

  /** Stops scheduling and waits for the deliveries in flight; what is pending stays for the next start. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await Promise.all([...this.inFlight.values()]);
  }

  /**
   * Invokes the function with this event now, outside the queue, and says what it answered: a redelivery, as Events
   * may make. Nothing is stored or deleted.
   */
  async deliver(event: unknown): Promise<DeliveryResult> {
    try {
      return classifyResponse(await this.o.invoke(Buffer.from(JSON.stringify(event), 'utf8')));
    } catch (e) {
      return classifyFailure(e);
    } finally {
      this.o.afterDelivery?.();
    }
  }

  /** How many events wait for delivery (at most `limit` are counted). */
  async pendingCount(limit = 1000): Promise<number> {
    return (await this.o.store.list({ prefix: PENDING_EVENTS_PREFIX, limit })).objects.length;
  }

  /** The latest delivery attempts, oldest first. */
  recent(): DeliveryRecord[] {
    return [...this.recentDeliveries];
  }

  private kick(): void {
    if (!this.started || this.stopped) return;
    this.pump().catch((e: unknown) => {
      this.o.log.error('object event scan failed', { error: String(e) });
      this.arm(this.o.clock.nowMs() + this.o.baseBackoffMs);
    });
  }

  /** Starts the deliveries that are due, while slots are free; plans a timer for the next one due. */
  private async pump(): Promise<void> {
    if (this.pumping) {
      this.pumpAgain = true;
      return;
    }
    this.pumping = true;
    try {
      do {
        this.pumpAgain = false;
        const nextDueMs = await this.startDue();
        if (nextDueMs !== undefined) this.arm(nextDueMs);
      } while (this.pumpAgain && !this.stopped);
    } finally {
      this.pumping = false;
    }
  }

  private async startDue(): Promise<number | undefined> {
    const nowMs = this.o.clock.nowMs();
    let nextDueMs: number | undefined;
    let scanned = 0;
    let start: string | undefined;
    do {
      const page = await this.o.store.list({ prefix: PENDING_EVENTS_PREFIX, ...(start ? { start } : {}), limit: LIST_PAGE });
      for (const { key } of page.objects) {
        if (this.stopped || this.inFlight.size >= this.o.maxInFlight) return nextDueMs;
        scanned++;
        if (this.inFlight.has(key)) continue;
        const pending = await readDoc<PendingEvent>(this.o.store, key);
        // stop() may have run during the read; it waits only for deliveries already started.
        if (this.stopped) return nextDueMs;
        if (!pending) continue;
        if (pending.doc.nextAttemptMs > nowMs) {
          nextDueMs = Math.min(nextDueMs ?? Infinity, pending.doc.nextAttemptMs);
          continue;
        }
        const delivery = this.attempt(key, pending.doc)
          .catch((e: unknown) => this.o.log.error('object event delivery bookkeeping failed', { key, error: String(e) }))
          .finally(() => {
            this.inFlight.delete(key);
            this.kick();
          });
        this.inFlight.set(key, delivery);
      }
      start = page.nextStartWith;
    } while (start !== undefined && scanned < this.o.maxScannedPerPass);
    // More than one pass can hold: look again soon rather than wait for a far timer.
    if (start !== undefined) nextDueMs = Math.min(nextDueMs ?? Infinity, nowMs + this.o.baseBackoffMs);
    return nextDueMs;
  }

  private arm(dueMs: number): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    const waitMs = Math.min(Math.max(0, dueMs - this.o.clock.nowMs()), MAX_TIMER_MS);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.kick();
    }, waitMs);
    this.timer.unref();
  }

  private async attempt(key: string, pending: PendingEvent): Promise<void> {
    const result = await this.deliver(pending.event);
    const attempts = pending.attempts + 1;
    const nowMs = this.o.clock.nowMs();
    const data = pending.event.data.additionalDetails;
    const fields = { eventId: pending.event.eventID, bucketName: data.bucketName, objectName: pending.event.data.resourceName, attempts };
    let outcome: DeliveryRecord['outcome'];
    if (result.kind === 'ok') {
      outcome = 'delivered';
      await this.o.store.delete(key);
    } else if (result.kind === 'permanent') {
      outcome = 'dropped';
      this.o.log.warn('object event refused by object-events; dropped', { ...fields, status: result.status, reason: result.detail });
      await this.o.store.delete(key);
    } else if (nowMs - pending.enqueuedMs >= this.o.maxAgeMs) {
      outcome = 'expired';
      this.o.log.error('object event still failing; given up', { ...fields, status: result.status, error: result.detail });
      await this.o.store.put(`${DEAD_EVENTS_PREFIX}${key.slice(PENDING_EVENTS_PREFIX.length)}`, JSON.stringify({ ...pending, attempts, lastError: result.detail }));
      await this.o.store.delete(key);
    } else {
      outcome = 'retrying';
      const backoffMs = retryDelayMs(attempts, this.o.baseBackoffMs, this.o.maxBackoffMs);
      const next: PendingEvent = { ...pending, attempts, nextAttemptMs: nowMs + backoffMs, lastError: result.detail };
      this.o.log.warn('object event delivery failed; will retry', { ...fields, status: result.status, retryInMs: backoffMs, error: result.detail });
      await this.o.store.put(key, JSON.stringify(next), { contentType: 'application/json' });
    }
    this.remember({ ...result, ...fields, outcome, timeMs: nowMs });
  }

  private remember(record: DeliveryRecord): void {
    this.recentDeliveries.push(record);
    if (this.recentDeliveries.length > MAX_RECENT) this.recentDeliveries.shift();
  }
}

/** The PUT hook: enqueues a createobject event when the object's bucket has object events enabled. */
export function objectEventEmitter(input: {
  router: EventRouter;
  clock: Clock;
  newEventId: () => string;
}): (stored: StoredObjectNotice) => Promise<void> {
  return async (stored) => {
    const { bucket } = stored;
    if (!bucket.objectEventsEnabled) return;
    await input.router.enqueue(
      createObjectEvent({
        eventId: input.newEventId(),
        eventTime: new Date(input.clock.nowMs()).toISOString(),
        compartmentId: bucket.compartmentId,
        namespaceName: stored.namespace,
        bucketName: stored.bucketName,
        bucketId: bucket.id,
        objectName: stored.objectName,
        etag: stored.etag,
      }),
    );
  };
}
