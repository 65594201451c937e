import { MemoryObjectStore } from '../../../shared/adapters/memory/object-store';
import type { Logger } from '../../../shared/app/deps';
import { readDoc } from '../../../shared/app/documents';
import { createObjectEvent } from '../../../shared/domain/object-event';
import type { BucketRecord } from '../../../platform/buckets';
import {
  DEAD_EVENTS_PREFIX,
  EventRouter,
  PENDING_EVENTS_PREFIX,
  classifyResponse,
  objectEventEmitter,
  retryDelayMs,
  type EventRouterOptions,
  type PendingEvent,
} from '../../../platform/event-router';
import { FunctionError, type FnInvokeResponse } from '../../../platform/function-pool';
import { waitFor } from '../../support/processes';

let store: MemoryObjectStore;
let logs: Array<{ level: string; message: string; fields?: Record<string, unknown> }>;
const routers: EventRouter[] = [];
let n = 0;

const log: Logger = {
  info: (message, fields) => logs.push({ level: 'info', message, ...(fields ? { fields } : {}) }),
  warn: (message, fields) => logs.push({ level: 'warn', message, ...(fields ? { fields } : {}) }),
  error: (message, fields) => logs.push({ level: 'error', message, ...(fields ? { fields } : {}) }),
};

beforeEach(() => {
  store = new MemoryObjectStore();
  logs = [];
});

afterEach(async () => {
  await Promise.all(routers.splice(0).map((r) => r.stop()));
});

function event(objectName = `scripts/x/${++n}.sh`) {
  return createObjectEvent({
    eventId: `event-${++n}`,
    eventTime: '2026-01-01T00:00:00.000Z',
    compartmentId: 'ocid1.compartment.oc1..c',
    namespaceName: 'ns',
    bucketName: 'b',
    bucketId: 'ocid1.bucket.oc1..b',
    objectName,
    etag: `etag-${n}`,
  });
}

/** An event function's answer: 200 from the FDK with the function's own status in Fn-Http-Status. */
const answered = (status: number, body: unknown = {}): FnInvokeResponse => ({
  status: 200,
  headers: { 'fn-http-status': String(status) },
  body: Buffer.from(JSON.stringify(body)),
});
const failed = (status: 502 | 504): FnInvokeResponse => ({ status, headers: {}, body: Buffer.from('') });

function router(invoke: EventRouterOptions['invoke'], options: Partial<EventRouterOptions> = {}): EventRouter {
  const r = new EventRouter({ store, invoke, log, baseBackoffMs: 5, maxBackoffMs: 20, ...options });
  routers.push(r);
  return r;
}

const pending = async () => (await store.list({ prefix: PENDING_EVENTS_PREFIX, limit: 100 })).objects.length;
const drained = (r: EventRouter, what: string) => waitFor(what, async () => (await r.pendingCount()) === 0, 5000, 5);

describe('EventRouter', () => {
  it('writes the event durably, delivers it as the request body and deletes it after a 2xx', async () => {
    const bodies: unknown[] = [];
    const r = router(async (body) => {
      bodies.push(JSON.parse(body.toString('utf8')));
      return answered(200, { outcome: 'command-created' });
    });
    const e = event();
    await r.enqueue(e);
    expect(await pending()).toBe(1);
    r.start();
    await drained(r, 'the event to be delivered');
    expect(bodies).toEqual([JSON.parse(JSON.stringify(e))]);
    expect(r.recent()).toEqual([expect.objectContaining({ eventId: e.eventID, outcome: 'delivered', attempts: 1, status: 200 })]);
  });

  it('retries a 502, a 504 and a crashed pool with backoff, then succeeds', async () => {
    const answers: Array<() => FnInvokeResponse> = [
      () => failed(502),
      () => failed(504),
      () => {
        throw new FunctionError('Crashed', 'the process died');
      },
      () => answered(200),
    ];
    const r = router(async () => (answers.shift() as () => FnInvokeResponse)());
    r.start();
    await r.enqueue(event());
    await drained(r, 'the event to be delivered after three failures');
    expect(r.recent().map((d) => [d.outcome, d.status, d.attempts])).toEqual([
      ['retrying', 502, 1],
      ['retrying', 504, 2],
      ['retrying', 502, 3],
      ['delivered', 200, 4],
    ]);
    expect(logs.filter((l) => l.message.includes('will retry')).map((l) => l.fields?.retryInMs)).toEqual([5, 10, 20]);
  });

  it('keeps the attempt count and next attempt in the stored event', async () => {
    const r = router(async () => failed(502), { baseBackoffMs: 60_000, maxBackoffMs: 60_000 });
    r.start();
    await r.enqueue(event());
    const [listed] = (await waitFor('a failed attempt', () => r.recent().length > 0 && store.list({ prefix: PENDING_EVENTS_PREFIX, limit: 1 }), 5000, 5)).objects;
    const doc = (await readDoc<PendingEvent>(store, listed?.key ?? ''))?.doc;
    expect(doc).toMatchObject({ attempts: 1, lastError: '' });
    expect((doc?.nextAttemptMs ?? 0) - (doc?.enqueuedMs ?? 0)).toBeGreaterThanOrEqual(60_000);
  });

  it('drops a permanent (4xx) answer after one attempt, logging the function’s reason', async () => {
    let calls = 0;
    const r = router(async () => {
      calls++;
      return answered(400, { code: 'InvalidParameter', message: "The parameter 'data.resourceName' must be scripts/<instanceId>/<name>." });
    });
    r.start();
    await r.enqueue(event());
    await drained(r, 'the event to be dropped');
    expect(calls).toBe(1);
    expect(r.recent()).toEqual([expect.objectContaining({ outcome: 'dropped', status: 400 })]);
    expect(logs).toContainEqual(
      expect.objectContaining({ level: 'warn', fields: expect.objectContaining({ reason: expect.stringContaining("'data.resourceName'") }) }),
    );
  });

  it('retries 429 (throttled) rather than dropping it', async () => {
    const answers = [answered(429), answered(200)];
    const r = router(async () => answers.shift() ?? answered(200));
    r.start();
    await r.enqueue(event());
    await drained(r, 'the event to be delivered');
    expect(r.recent().map((d) => d.outcome)).toEqual(['retrying', 'delivered']);
  });

  it('gives up on an event still failing after maxAgeMs, moving it to the dead letters', async () => {
    const r = router(async () => failed(502), { maxAgeMs: 0 });
    r.start();
    await r.enqueue(event());
    await drained(r, 'the event to expire');
    expect(r.recent()).toEqual([expect.objectContaining({ outcome: 'expired' })]);
    expect((await store.list({ prefix: DEAD_EVENTS_PREFIX, limit: 10 })).objects).toHaveLength(1);
  });

  it('delivers what was pending when a previous router stopped (a platform restart)', async () => {
    const before = router(async () => answered(200));
    await before.enqueue(event());
    await before.enqueue(event());
    await before.stop();
    const delivered: string[] = [];
    const after = router(async (body) => {
      delivered.push((JSON.parse(body.toString('utf8')) as { eventID: string }).eventID);
      return answered(200);
    });
    after.start();
    await drained(after, 'the pending events to be delivered after the restart');
    expect(delivered).toHaveLength(2);
  });

  it('has at most maxInFlight deliveries at once', async () => {
    let running = 0;
    let peak = 0;
    const r = router(
      async () => {
        running++;
        peak = Math.max(peak, running);
        await new Promise((resolve) => setTimeout(resolve, 2));
        running--;
        return answered(200);
      },
      { maxInFlight: 2 },
    );
    for (let i = 0; i < 8; i++) await r.enqueue(event());
    r.start();
    await drained(r, 'every event to be delivered');
    expect(r.recent().filter((d) => d.outcome === 'delivered')).toHaveLength(8);
    expect(peak).toBe(2);
  });

  it('deliver() is a redelivery: it invokes and reports, and stores or deletes nothing', async () => {
    const r = router(async () => answered(200));
    expect(await r.deliver(event())).toEqual({ kind: 'ok', status: 200, detail: '{}' });
    expect(await pending()).toBe(0);
  });
});

describe('classifyResponse', () => {
  const answer = (status: number, fnStatus?: string): FnInvokeResponse => ({
    status,
    headers: fnStatus === undefined ? {} : { 'fn-http-status': fnStatus },
    body: Buffer.from('detail'),
  });

  it('reads the function status an FDK 200 carries, as the gateway does', () => {
    expect(classifyResponse(answer(200))).toMatchObject({ kind: 'ok', status: 200 });
    expect(classifyResponse(answer(200, '400'))).toMatchObject({ kind: 'permanent', status: 400 });
    expect(classifyResponse(answer(200, '503'))).toMatchObject({ kind: 'transient', status: 503 });
    expect(classifyResponse(answer(200, 'garbage'))).toMatchObject({ kind: 'ok', status: 200 });
  });

  it('retries a broken FDK answer (any status but 200) instead of dropping the event as a client error', () => {
    expect(classifyResponse(answer(404))).toMatchObject({ kind: 'transient', status: 502 });
    expect(classifyResponse(answer(504))).toMatchObject({ kind: 'transient', status: 504 });
  });
});

describe('retryDelayMs', () => {
  it('doubles from the base and stays at the cap', () => {
    expect([1, 2, 3, 4, 10, 1000].map((a) => retryDelayMs(a, 500, 60_000))).toEqual([500, 1000, 2000, 4000, 60_000, 60_000]);
  });
});

describe('objectEventEmitter', () => {
  const bucketRecord = (name: string, objectEventsEnabled: boolean): BucketRecord => ({
    namespace: 'ns',
    name,
    id: `ocid1.bucket.oc1..${name}`,
    compartmentId: 'ocid1.compartment.oc1..c',
    createdBy: 'u',
    timeCreated: '2026-01-01T00:00:00.000Z',
    metadata: {},
    publicAccessType: 'NoPublicAccess',
    storageTier: 'Standard',
    objectEventsEnabled,
    freeformTags: {},
    definedTags: {},
    serviceOnly: false,
  });

  it('decides by the bucket the PUT read to authorize the write (the emitter has no registry to read it again from)', async () => {
    const r = router(async () => answered(200));
    let n = 0;
    const emit = objectEventEmitter({ router: r, clock: { nowMs: () => 0 }, newEventId: () => `ev-${++n}` });
    await emit({ namespace: 'ns', bucketName: 'on', objectName: 'a', etag: 'e1', bucket: bucketRecord('on', true) });
    await emit({ namespace: 'ns', bucketName: 'on', objectName: 'b', etag: 'e2', bucket: bucketRecord('on', false) });
    expect(await pending()).toBe(1);
  });

  it('enqueues a createobject event for buckets with object events enabled, and nothing for the others', async () => {
    const r = router(async () => answered(200));
    const emit = objectEventEmitter({ router: r, clock: { nowMs: () => Date.parse('2026-01-02T03:04:05.000Z') }, newEventId: () => 'ev-1' });
    await emit({ namespace: 'ns', bucketName: 'off', objectName: 'a', etag: 'e0', bucket: bucketRecord('off', false) });
    expect(await pending()).toBe(0);
    await emit({ namespace: 'ns', bucketName: 'on', objectName: 'dir/a.sh', etag: 'e1', bucket: bucketRecord('on', true) });
    const [listed] = (await store.list({ prefix: PENDING_EVENTS_PREFIX, limit: 10 })).objects;
    expect((await readDoc<PendingEvent>(store, listed?.key ?? ''))?.doc.event).toEqual({
      eventType: 'com.oraclecloud.objectstorage.createobject',
      cloudEventsVersion: '0.1',
      eventTypeVersion: '2.0',
      source: 'ObjectStorage',
      eventID: 'ev-1',
      eventTime: '2026-01-02T03:04:05.000Z',
      contentType: 'application/json',
      extensions: { compartmentId: 'ocid1.compartment.oc1..c' },
      data: {
        compartmentId: 'ocid1.compartment.oc1..c',
        resourceName: 'dir/a.sh',
        resourceId: '/n/ns/b/on/o/dir/a.sh',
        freeformTags: {},
        definedTags: {},
        additionalDetails: { eTag: 'e1', namespace: 'ns', archivalState: 'Available', bucketName: 'on', bucketId: 'ocid1.bucket.oc1..on' },
      },
    });
  });
});
