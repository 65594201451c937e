import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { FnInvokeRequest, FnInvokeResponse } from '../../../platform/function-pool';
import { Scheduler, readSchedulesFile, type ScheduleConfig, type SchedulerOptions } from '../../../platform/scheduler';
import type { Logger } from '../../../shared/app/deps';

const T0 = Date.parse('2025-03-01T10:00:30.000Z');

interface Call {
  functionName: string;
  body: Record<string, unknown>;
  headers: Record<string, string>;
}

/** A function answering as the FDK does for an event function: 200, with its own status in Fn-Http-Status. */
const answer = (body: unknown, fnStatus = 200): FnInvokeResponse => ({
  status: 200,
  headers: { 'fn-http-status': String(fnStatus), 'content-type': 'application/json' },
  body: Buffer.from(JSON.stringify(body)),
});

function harness(options: Partial<SchedulerOptions> & { answers?: Array<FnInvokeResponse | Promise<FnInvokeResponse>> } = {}) {
  const calls: Call[] = [];
  const lines: Array<{ level: string; message: string; fields?: Record<string, unknown> }> = [];
  const log: Logger = {
    info: (message, fields) => void lines.push({ level: 'info', message, ...(fields ? { fields } : {}) }),
    warn: (message, fields) => void lines.push({ level: 'warn', message, ...(fields ? { fields } : {}) }),
    error: (message, fields) => void lines.push({ level: 'error', message, ...(fields ? { fields } : {}) }),
  };
  const answers = options.answers ?? [];
  const schedules: ScheduleConfig[] = [{ name: 'sweep', cron: '* * * * *', function: 'retention-sweep', body: { maxDeletions: 5 } }];
  const scheduler = new Scheduler({
    schedules,
    invoke: async (functionName, req: FnInvokeRequest) => {
      calls.push({ functionName, body: JSON.parse(req.body.toString()) as Record<string, unknown>, headers: req.headers });
      return (await answers.shift()) ?? answer({ done: true });
    },
    log,
    clock: { nowMs: () => Date.now() },
    ...options,
  });
  return { scheduler, calls, lines };
}

beforeEach(() => {
  jest.useFakeTimers({ now: T0 });
});

afterEach(() => {
  jest.useRealTimers();
});

describe('Scheduler', () => {
  it('invokes the function on its cron with the configured JSON body', async () => {
    const { scheduler, calls } = harness();
    scheduler.start();
    await jest.advanceTimersByTimeAsync(29_999);
    expect(calls).toHaveLength(0);

    await jest.advanceTimersByTimeAsync(1);
    expect(calls).toEqual([{ functionName: 'retention-sweep', body: { maxDeletions: 5 }, headers: { 'content-type': 'application/json' } }]);

    await jest.advanceTimersByTimeAsync(60_000);
    expect(calls).toHaveLength(2);
    await scheduler.stop();
  });

  it('invokes again at once with a continuation, at most maxInvocationsPerRun times, and resumes it on the next tick', async () => {
    const { scheduler, calls, lines } = harness({
      maxInvocationsPerRun: 2,
      answers: [answer({ done: false, continuation: 'c1' }), answer({ done: false, continuation: 'c2' }), answer({ done: true })],
    });
    scheduler.start();

    await jest.advanceTimersByTimeAsync(30_000);
    expect(calls.map((c) => c.body)).toEqual([{ maxDeletions: 5 }, { maxDeletions: 5, continuation: 'c1' }]);

    await jest.advanceTimersByTimeAsync(60_000);
    expect(calls.map((c) => c.body.continuation)).toEqual([undefined, 'c1', 'c2']);
    await jest.advanceTimersByTimeAsync(60_000);
    expect(calls[3]?.body).toEqual({ maxDeletions: 5 });
    // Each invocation's result is logged.
    expect(lines.filter((l) => l.message === 'scheduled run').map((l) => l.fields?.result)).toEqual([
      { done: false, continuation: 'c1' },
      { done: false, continuation: 'c2' },
      { done: true },
      { done: true },
    ]);
    await scheduler.stop();
  });

  it('never overlaps two runs of one schedule, and skips the ticks a long run missed', async () => {
    let finish: (r: FnInvokeResponse) => void = () => undefined;
    const slow = new Promise<FnInvokeResponse>((resolve) => {
      finish = resolve;
    });
    const { scheduler, calls } = harness({ answers: [slow] });
    scheduler.start();
    await jest.advanceTimersByTimeAsync(30_000);
    expect(calls).toHaveLength(1);

    await jest.advanceTimersByTimeAsync(5 * 60_000);
    expect(calls).toHaveLength(1);
    // Running it by hand meanwhile joins the run in progress.
    const joined = scheduler.runNow('sweep');

    finish(answer({ done: true }));
    await expect(joined).resolves.toMatchObject({ schedule: 'sweep', invocations: 1, result: { done: true } });
    expect(calls).toHaveLength(1);
    // The next run comes at the next minute after the long one ended, not once per missed minute.
    await jest.advanceTimersByTimeAsync(60_000);
    expect(calls).toHaveLength(2);
    await scheduler.stop();
  });

  it('logs a failed invocation and tries again on the next tick with the same continuation', async () => {
    const { scheduler, calls, lines } = harness({
      answers: [answer({ done: false, continuation: 'c1' }), { status: 502, headers: {}, body: Buffer.from('{"message":"boom"}') }],
      maxInvocationsPerRun: 5,
    });
    scheduler.start();
    await jest.advanceTimersByTimeAsync(30_000);
    expect(lines.find((l) => l.level === 'error')).toMatchObject({ message: 'scheduled run failed', fields: { schedule: 'sweep' } });
    expect(String(lines.find((l) => l.level === 'error')?.fields?.error)).toContain('502');

    await jest.advanceTimersByTimeAsync(60_000);
    expect(calls.map((c) => c.body.continuation)).toEqual([undefined, 'c1', 'c1']);
    await scheduler.stop();
  });

  it('starts over when the function refuses the request (a 4xx in Fn-Http-Status)', async () => {
    const { scheduler, calls } = harness({
      answers: [answer({ done: false, continuation: 'c1' }), answer({ code: 'InvalidParameter', message: 'bad' }, 400)],
      maxInvocationsPerRun: 5,
    });
    scheduler.start();
    await jest.advanceTimersByTimeAsync(30_000);
    await jest.advanceTimersByTimeAsync(60_000);
    expect(calls.map((c) => c.body.continuation)).toEqual([undefined, 'c1', undefined]);
    await scheduler.stop();
  });

  it('purges expired stream messages each tick, a bounded batch at a time', async () => {
    const purges: number[] = [];
    const { scheduler } = harness({ streams: { purgeExpired: (maxRows) => (purges.push(maxRows), 3) }, maxPurgedRowsPerTick: 500 });
    scheduler.start();
    await jest.advanceTimersByTimeAsync(90_000);
    expect(purges).toEqual([500, 500]);
    await scheduler.stop();
  });

  it('runs nothing after stop, and stop waits for the run in progress', async () => {
    let finish: (r: FnInvokeResponse) => void = () => undefined;
    const slow = new Promise<FnInvokeResponse>((resolve) => {
      finish = resolve;
    });
    const { scheduler, calls } = harness({ answers: [slow, answer({ done: false, continuation: 'c1' })] });
    scheduler.start();
    await jest.advanceTimersByTimeAsync(30_000);
    let stopped = false;
    const stopping = scheduler.stop().then(() => {
      stopped = true;
    });
    await jest.advanceTimersByTimeAsync(0);
    expect(stopped).toBe(false);

    finish(answer({ done: false, continuation: 'c0' }));
    await stopping;
    await jest.advanceTimersByTimeAsync(10 * 60_000);
    // The continuation is not followed once stopping, and no tick comes after.
    expect(calls).toHaveLength(1);
  });

  it('refuses an invalid cron when constructed', () => {
    expect(() => harness({ schedules: [{ name: 's', cron: '61 * * * *', function: 'retention-sweep', body: {} }] })).toThrow(/minute/);
  });

  it('refuses two schedules with one name', () => {
    const s: ScheduleConfig = { name: 's', cron: '* * * * *', function: 'retention-sweep', body: {} };
    expect(() => harness({ schedules: [s, s] })).toThrow(/unique/);
  });
});

describe('readSchedulesFile', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'rc-sched-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const write = (content: unknown) => writeFileSync(path.join(dir, 'config.json'), typeof content === 'string' ? content : JSON.stringify(content));

  it('answers undefined without a file or without the key', () => {
    expect(readSchedulesFile(dir)).toBeUndefined();
    write({ other: 1 });
    expect(readSchedulesFile(dir)).toBeUndefined();
  });

  it('reads schedules, defaulting the function and the body', () => {
    write({ schedules: [{ name: 'fast', cron: '@every 1s', body: { deliveryWindowSec: 2 } }, { name: 'plain', cron: '0 * * * *' }] });
    expect(readSchedulesFile(dir)).toEqual([
      { name: 'fast', cron: '@every 1s', function: 'retention-sweep', body: { deliveryWindowSec: 2 } },
      { name: 'plain', cron: '0 * * * *', function: 'retention-sweep', body: {} },
    ]);
  });

  it.each([
    ['{not json', /not valid JSON/],
    [{ schedules: {} }, /'schedules' must be an array/],
    [{ schedules: [{ cron: '* * * * *' }] }, /'schedules\[0\]\.name'/],
    [{ schedules: [{ name: 'a', cron: 5 }] }, /'schedules\[0\]\.cron'/],
    [{ schedules: [{ name: 'a', cron: '* * * * *', function: 'create-command' }] }, /'schedules\[0\]\.function'/],
    [{ schedules: [{ name: 'a', cron: '* * * * *', body: [] }] }, /'schedules\[0\]\.body'/],
  ])('refuses %j, naming the field', (content, message) => {
    write(content);
    expect(() => readSchedulesFile(dir)).toThrow(message);
  });
});
