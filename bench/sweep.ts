/**
 * Benchmark of the retention sweep on the embedded SQLite store: seeds `records` TEXT commands that were created
 * (through `createCommand`) past the retention period and never delivered, then sweeps them the way the scheduler
 * does (calls of `maxDeletions` each, chained through continuations) and measures the sweep alone. Each record is
 * expired first (its delivery window passed), then purged with its execution and indexes.
 *
 * Peak RSS is sampled during the sweep; it should not grow with `records` (the sweep holds one page at a time).
 * Measured figures are in the README (Performance), from `npm run bench -- --sweep-records N`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openDatabase } from '../shared/adapters/embedded/database';
import { EmbeddedObjectStorage } from '../shared/adapters/embedded/object-storage';
import { EmbeddedStreams } from '../shared/adapters/embedded/stream';
import { createCommand } from '../shared/app/create-command';
import type { Logger, ServiceDeps } from '../shared/app/deps';
import { StoredIdentityDirectory } from '../shared/app/identity-directory';
import { randomIds } from '../shared/app/ids';
import { emptySweepCounts, sweep, type SweepCounts } from '../shared/app/sweep';
import { DEFAULT_MAX_DELETIONS, DEFAULT_MAX_EXAMINED, DEFAULT_SWEEP_POLICY } from '../shared/domain/sweep-policy';
import type { Principal } from '../shared/ports/identity';

export interface BenchSweepOptions {
  records: number;
  /** Progress lines (seeding and sweeping 100,000 records takes minutes). */
  log?: (line: string) => void;
}

export interface BenchSweepResult {
  records: number;
  seconds: number;
  recordsPerSec: number;
  peakRssMb: number;
  /** RSS when the sweep started, for comparison with the peak. */
  startRssMb: number;
  calls: number;
  counts: SweepCounts;
}

/** Seeded records are created this long before the sweep: past the 7-day retention and the delivery window. */
const SEED_AGE_MS = 8 * 86_400_000;
const RSS_SAMPLE_MS = 50;
const MB = 1024 * 1024;

const silent: Logger = { info: () => undefined, warn: () => undefined, error: () => undefined };

export async function benchSweep(options: BenchSweepOptions): Promise<BenchSweepResult> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'rc-bench-sweep-'));
  const log = options.log ?? (() => undefined);
  const clock = { now: Date.now() - SEED_AGE_MS };
  const clockPort = { nowMs: () => clock.now };
  const db = openDatabase(path.join(dir, 'store.db'));
  const streams = new EmbeddedStreams(db, { clock: clockPort });
  try {
    const storage = new EmbeddedObjectStorage(db, { clock: clockPort });
    const tenancyId = 'ocid1.tenancy.oc1..bench';
    const compartmentId = 'ocid1.compartment.oc1..bench';
    const instanceId = 'ocid1.instance.oc1..bench';
    const identity = new StoredIdentityDirectory(storage.bucket('bench', 'iam'), { clock: clockPort });
    const instanceStream = streams.createStream({ name: 'instance', compartmentId });
    const events = streams.createStream({ name: 'execution-events', compartmentId });
    await identity.putCompartment({ tenancyId, compartmentId, name: 'bench' });
    await identity.putUser({ tenancyId, userId: 'ocid1.user.oc1..bench', name: 'bench', compartments: '*' });
    await identity.putInstance({
      tenancyId,
      instanceId,
      compartmentId,
      displayName: 'bench',
      streamId: instanceStream.id,
      timeCreated: new Date(clock.now).toISOString(),
    });
    const deps: ServiceDeps = {
      state: storage.bucket('bench', 'state'),
      identity,
      streams,
      executionEventsStreamId: events.id,
      clock: clockPort,
      ids: randomIds(clockPort),
      log: silent,
    };
    const principal: Principal = { type: 'user', tenancyId, userId: 'ocid1.user.oc1..bench' };

    for (let i = 0; i < options.records; i++) {
      await createCommand(deps, {
        principal,
        spec: {
          compartmentId,
          displayName: `bench ${i}`,
          executionTimeOutInSeconds: 60,
          target: { instanceId },
          content: { source: { sourceType: 'TEXT', text: `echo ${i}` }, output: { outputType: 'TEXT' } },
        },
      });
      if ((i + 1) % 10_000 === 0) log(`seeded ${i + 1} records`);
    }
    clock.now = Date.now();

    let peakRss = process.memoryUsage().rss;
    const startRss = peakRss;
    const sampler = setInterval(() => {
      peakRss = Math.max(peakRss, process.memoryUsage().rss);
    }, RSS_SAMPLE_MS);
    const startedAt = process.hrtime.bigint();
    const counts = emptySweepCounts();
    let calls = 0;
    let continuation: string | undefined;
    try {
      do {
        const r = await sweep(deps, {
          nowMs: clock.now,
          policy: DEFAULT_SWEEP_POLICY,
          maxDeletions: DEFAULT_MAX_DELETIONS,
          maxExamined: DEFAULT_MAX_EXAMINED,
          ...(continuation ? { continuation } : {}),
        });
        calls++;
        for (const kind of Object.keys(counts) as Array<keyof SweepCounts>) counts[kind] += r.counts[kind];
        continuation = r.continuation;
        peakRss = Math.max(peakRss, process.memoryUsage().rss);
        if (calls % 20 === 0) log(`call ${calls}: ${counts.commandsDeleted} records purged`);
      } while (continuation);
    } finally {
      clearInterval(sampler);
    }
    const seconds = Number(process.hrtime.bigint() - startedAt) / 1e9;
    if (counts.commandsDeleted !== options.records) {
      throw new Error(`expected ${options.records} records purged, the sweep purged ${counts.commandsDeleted}`);
    }
    return {
      records: counts.commandsDeleted,
      seconds,
      recordsPerSec: counts.commandsDeleted / seconds,
      peakRssMb: peakRss / MB,
      startRssMb: startRss / MB,
      calls,
      counts,
    };
  } finally {
    streams.close();
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
