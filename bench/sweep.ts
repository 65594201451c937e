/**
 * Benchmark of the retention sweep on the embedded SQLite store: seeds `records` TEXT commands that were created
 * (through `createCommand`) past the retention period and never delivered, then sweeps them the way the scheduler
 * does (calls of `maxDeletions` each, chained through continuations) and measures the sweep alone. Each record is
 * expired first (its delivery window passed), then purged with its execution and indexes.
 *
 * Peak RSS is sampled during the sweep; it should not grow with `records` (the sweep holds one page at a time).
 * Measured figures are in the README (Performance), from `npm run bench -- --sweep-records N`.
 */
import { createCommand } from '../shared/app/create-command';
import { emptySweepCounts, sweep, type SweepCounts } from '../shared/app/sweep';
import { DEFAULT_MAX_DELETIONS, DEFAULT_MAX_EXAMINED, DEFAULT_SWEEP_POLICY } from '../shared/domain/sweep-policy';
import { openEmbeddedWorld } from './embedded-world';

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

export async function benchSweep(options: BenchSweepOptions): Promise<BenchSweepResult> {
  const log = options.log ?? (() => undefined);
  const clock = { now: Date.now() - SEED_AGE_MS };
  const world = await openEmbeddedWorld({ nowMs: () => clock.now }, 'rc-bench-sweep-');
  const { deps } = world;
  try {
    for (let i = 0; i < options.records; i++) {
      await createCommand(deps, { principal: world.user, spec: world.spec(`echo ${i}`, `bench ${i}`) });
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
    world.close();
  }
}
