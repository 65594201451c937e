import type { FunctionPool } from '../../platform/function-pool';
import { buildFixtures, json, testPool, waitFor, type Fixtures } from './support';

let fixtures: Fixtures;
let pool: FunctionPool;
let logs: string[];

beforeAll(async () => {
  fixtures = buildFixtures();
  ({ pool, logs } = testPool(fixtures.entry('event')));
  await pool.start();
});

afterAll(async () => {
  await pool.stop();
  fixtures.cleanup();
});

const send = (doc: unknown, deadlineMs?: number) =>
  pool.invoke({
    body: Buffer.from(typeof doc === 'string' ? doc : JSON.stringify(doc)),
    headers: { 'Content-Type': 'application/json' },
    ...(deadlineMs !== undefined ? { deadlineMs } : {}),
  });
const pidOf = () => pool.processList()[0]?.pid;

describe('eventFunction under the real FDK', () => {
  it('answers the handler result as JSON with Fn-Http-Status 200', async () => {
    const res = await send({ action: 'echo', value: { n: 1, s: 'ü' } });
    expect(res.status).toBe(200);
    expect(res.headers['fn-http-status']).toBe('200');
    expect(res.headers['content-type']).toBe('application/json');
    expect(json(res.body)).toEqual({ value: { n: 1, s: 'ü' }, callId: expect.stringMatching(/^call-\d+$/), hasDeadline: true });
  });

  it('answers {} when the handler returns undefined, and the process survives', async () => {
    const pid = pidOf();
    const res = await send({ action: 'nothing' });
    expect(res.status).toBe(200);
    expect(json(res.body)).toEqual({});
    expect(pidOf()).toBe(pid);
    expect(pool.stats().crashed).toBe(0);
  });

  it('answers malformed JSON as a permanent 400 CannotParseRequest', async () => {
    const res = await send('{"action": ');
    expect(res.status).toBe(200);
    expect(res.headers['fn-http-status']).toBe('400');
    expect(json(res.body)).toMatchObject({ code: 'CannotParseRequest' });
  });

  it('answers a payload rejected by parse with its ServiceError status and body', async () => {
    const res = await send({ action: 7 });
    expect(res.headers['fn-http-status']).toBe('400');
    expect(json(res.body)).toEqual({ code: 'InvalidParameter', message: 'action must be a string' });
  });

  it('answers a 4xx ServiceError from the handler as permanent', async () => {
    const res = await send({ action: 'conflict' });
    expect(res.status).toBe(200);
    expect(res.headers['fn-http-status']).toBe('409');
    expect(json(res.body)).toEqual({ code: 'Conflict', message: 'Already done' });
  });

  it('fails the call (FDK 502, so the invoker retries) on a 5xx ServiceError', async () => {
    const res = await send({ action: 'unavailable' });
    expect(res.status).toBe(502);
  });

  it('fails an unexpected error with 502 without its text, and logs it with the call id', async () => {
    const pid = pidOf();
    const res = await send({ action: 'boom' });
    expect(res.status).toBe(502);
    const body = res.body.toString('utf8');
    expect(body).not.toContain('secret');
    const callId = /Function failed \(call (call-\d+)\)/.exec(body)?.[1];
    expect(callId).toBeDefined();
    await waitFor(() => logs.some((l) => l.includes(`call ${callId} failed`) && l.includes('secret-event-detail-17')));
    expect(pidOf()).toBe(pid);
  });

  it('reaches a gateway caller as 502 when the function fails', async () => {
    const res = await pool.invokeHttp({ method: 'POST', url: '/x', headers: {}, body: Buffer.from('{"action":"boom"}') });
    expect(res.status).toBe(502);
    expect(res.body.toString('utf8')).not.toContain('secret');
  });

  it('aborts the handler signal shortly before Fn-Deadline', async () => {
    const res = await send({ action: 'wait-for-deadline' }, Date.now() + 800);
    expect(res.status).toBe(200);
    const out = json(res.body) as { aborted: boolean; waitedMs: number };
    expect(out.aborted).toBe(true);
    expect(out.waitedMs).toBeGreaterThanOrEqual(100);
    expect(out.waitedMs).toBeLessThan(800);
  });
});
