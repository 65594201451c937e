/**
 * A seconds-long smoke run of `npm run bench` (the real harness, tiny sizes): it must start its own platform and
 * agents, measure every section, stop everything, and write its results. The numbers themselves are checked by
 * reading the full benchmark, never by a timed test.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REPO_ROOT } from '../support/platform';

// The benchmark starts its own platform on the embedded backend whatever RUNCOMMAND_TEST_BACKEND says, so the CI
// pass that reruns the e2e suites on the OCI adapters would only run the same thing again.
const runsOnThisBackend = process.env.RUNCOMMAND_TEST_BACKEND !== 'oci';

(runsOnThisBackend ? it : it.skip)('runs every benchmark section end to end and writes the results', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'rc-bench-smoke-'));
  const out = path.join(dir, 'results.json');
  try {
    const child = spawn(process.execPath, [path.join(REPO_ROOT, 'dist', 'bench', 'bench.js'), '--smoke', '--out', out], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    if (code !== 0) throw new Error(`bench exited ${code}:\n${output}`);
    const r = JSON.parse(readFileSync(out, 'utf8')) as Record<string, Record<string, unknown>>;
    const positive = (v: unknown) => {
      expect(typeof v).toBe('number');
      expect(v as number).toBeGreaterThan(0); // NaN fails too
    };
    expect(r.latency).toMatchObject({ failed: 0 });
    positive((r.latency?.createToSucceededMs as { p50: number }).p50);
    // Every command's start was found in the agent's log.
    expect((r.latency?.createToStartedMs as { n: number }).n).toBe(10);
    // Clock ticks are 10 ms and the smoke run is 10 commands, so this may be 0; NaN or a missing figure fails.
    expect(r.latency?.agentCpuMsPerCommand as number).toBeGreaterThanOrEqual(0);
    positive(r.latency?.commandsPerSec);
    expect(r.throughput).toMatchObject({ errors: 0 });
    expect(r.throughput?.completed as number).toBeGreaterThan(0);
    expect(r.throughput).toMatchObject({ followerGapMs: 20 });
    // The window opens after the smoke run's 1 s warm-up: its commands are counted in the timeline, not the window.
    expect(r.throughput).toMatchObject({ warmupSec: 1 });
    positive(r.throughput?.warmupCommandsPerSec);
    const timeline = r.throughput?.completedPer10Sec as number[];
    expect(timeline.reduce((a, b) => a + b, 0)).toBeGreaterThan(r.throughput?.completed as number);
    positive(r.throughput?.followerPolls);
    const cpu = r.throughput?.cpuMsPerCommand as Record<string, number>;
    for (const part of ['agents', 'gateway', 'functions', 'loadGenerator']) positive(cpu[part]);
    expect(r.throughputSharedProcesses).toMatchObject({ errors: 0 });
    expect(r.throughputSharedProcesses?.completed as number).toBeGreaterThan(0);
    positive(r.idle?.rssPerAgentMb);
    expect(Object.keys(r.functions ?? {}).sort()).toEqual(['agent-callback', 'cancel-command', 'create-command', 'object-events', 'query-commands', 'retention-sweep']);
    positive(r.sweep?.recordsPerSec);
    const useCases = r.useCases?.cpuMsPerCommand as unknown as Record<string, number>;
    for (const step of ['create', 'ack', 'finish', 'total']) positive(useCases[step]);
    positive(r.floor?.spawnBashTrueParallelPerSec);
    const signatures = r.floor?.signatures as unknown as Record<'rsa' | 'ed25519', Record<'signMs' | 'verifyMs', { p50: number }>>;
    for (const type of ['rsa', 'ed25519'] as const) for (const step of ['signMs', 'verifyMs'] as const) positive(signatures[type][step].p50);
    expect(output).toContain('| a request signature, sign / verify');
    expect(output).toContain('| create → SUCCEEDED seen by a client');
    expect(output).toContain('(ed25519 keys)');
    // The SDK's warning for the follower's long poll aborted at close is not the bench's to print.
    expect(output).not.toContain('Request cannot be retried');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 180_000);
