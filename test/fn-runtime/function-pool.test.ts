import fs from 'fs';
import path from 'path';
import { FunctionError, type FunctionPool, type FunctionPoolOptions } from '../../platform/function-pool';
import { isAlive } from '../support/processes';
import { buildFixtures, json, testPool, waitFor, type Fixtures } from './support';

let fixtures: Fixtures;
const pools: FunctionPool[] = [];

beforeAll(() => {
  fixtures = buildFixtures();
});

afterAll(async () => {
  await Promise.all(pools.map((p) => p.stop()));
  fixtures.cleanup();
});

function echoPool(overrides: Partial<FunctionPoolOptions> = {}) {
  const made = testPool(fixtures.entry('http-echo'), overrides);
  pools.push(made.pool);
  return made;
}

const get = (pool: FunctionPool, url: string) => pool.invokeHttp({ method: 'GET', url, headers: {}, body: Buffer.alloc(0) });
const failureOf = (p: Promise<unknown>) =>
  p.then(
    () => {
      throw new Error('expected the call to fail');
    },
    (e: unknown) => e,
  );

describe('FunctionPool', () => {
  it('starts one process and reports it ready only once its socket serves', async () => {
    const { pool } = echoPool();
    await pool.start();
    expect(pool.stats()).toEqual({ processes: 1, busy: 0, queued: 0, started: 1, crashed: 0 });
    const [proc] = pool.processList();
    expect(fs.lstatSync(proc?.socketPath ?? '').isSymbolicLink()).toBe(true);
    expect((await get(pool, '/pid')).status).toBe(200);
  });

  it('serves 4 concurrent calls on at most 2 processes, one call per process at a time', async () => {
    const { pool } = echoPool({ maxProcesses: 2 });
    await pool.start();

    const results = await Promise.all([1, 2, 3, 4].map(() => get(pool, '/sleep?ms=300')));

    expect(results.map((r) => r.status)).toEqual([200, 200, 200, 200]);
    const runs = results.map((r) => json(r.body) as { pid: number; startedMs: number; endedMs: number });
    const pids = new Set(runs.map((r) => r.pid));
    expect(pids.size).toBe(2);
    for (const pid of pids) {
      const [a, b] = runs.filter((r) => r.pid === pid).sort((x, y) => x.startedMs - y.startedMs);
      expect(b && a && b.startedMs >= a.endedMs).toBe(true);
    }
    expect(pool.stats()).toMatchObject({ processes: 2, busy: 0, queued: 0, started: 2 });
  });

  it('fails the call of a process that exits (502) and serves the next call on a replacement', async () => {
    const { pool } = echoPool();
    await pool.start();
    const pidBefore = pool.processList()[0]?.pid ?? -1;

    const error = await failureOf(get(pool, '/exit'));

    expect(error).toBeInstanceOf(FunctionError);
    expect(error).toMatchObject({ kind: 'Crashed', status: 502 });
    const next = await get(pool, '/pid');
    expect(next.status).toBe(200);
    expect((json(next.body) as { pid: number }).pid).not.toBe(pidBefore);
    expect(pool.stats()).toMatchObject({ processes: 1, started: 2, crashed: 1 });
  });

  it('kills a process whose call passes its deadline (504) and replaces it', async () => {
    const { pool } = echoPool({ callTimeoutMs: 600 });
    await pool.start();
    const pidBefore = pool.processList()[0]?.pid ?? -1;

    const error = await failureOf(get(pool, '/hang'));

    expect(error).toMatchObject({ kind: 'TimedOut', status: 504 });
    await waitFor(() => !isAlive(pidBefore));
    const next = await get(pool, '/pid');
    expect((json(next.body) as { pid: number }).pid).not.toBe(pidBefore);
    expect(pool.stats()).toMatchObject({ processes: 1, started: 2, crashed: 0 });
  });

  it('refuses calls beyond the queue bound', async () => {
    const { pool } = echoPool({ maxQueuedCalls: 1 });
    await pool.start();
    const running = get(pool, '/sleep?ms=200');
    const queued = get(pool, '/sleep?ms=1');
    await waitFor(() => pool.stats().queued === 1);

    const error = await failureOf(get(pool, '/pid'));

    expect(error).toMatchObject({ kind: 'Rejected', status: 503 });
    expect((await running).status).toBe(200);
    expect((await queued).status).toBe(200);
  });

  it('fails start when the entry does not serve, leaving no process', async () => {
    const bogus = path.join(path.dirname(fixtures.entry('event')), 'exits.js');
    fs.writeFileSync(bogus, 'process.exit(5)');
    const { pool } = testPool(bogus);
    pools.push(pool);

    const error = await failureOf(pool.start());

    expect(error).toMatchObject({ kind: 'StartFailed' });
    expect(pool.stats().processes).toBe(0);
  });

  it('stop() leaves no child process and no temp dir, and refuses later calls', async () => {
    const { pool } = echoPool({ maxProcesses: 2 });
    await pool.start();
    await Promise.all([get(pool, '/sleep?ms=50'), get(pool, '/sleep?ms=50')]);
    const procs = pool.processList();
    expect(procs).toHaveLength(2);
    const inFlight = failureOf(get(pool, '/hang'));

    await pool.stop();

    for (const { pid, socketPath } of procs) {
      expect(() => process.kill(pid, 0)).toThrow(expect.objectContaining({ code: 'ESRCH' }));
      expect(fs.existsSync(path.dirname(socketPath))).toBe(false);
    }
    expect(await inFlight).toMatchObject({ kind: 'Stopped' });
    expect(await failureOf(get(pool, '/pid'))).toMatchObject({ kind: 'Stopped' });
  });
});
