/** Builds the fixture functions with esbuild and starts them under the real FDK through FunctionPool. */
import { buildSync } from 'esbuild';
import fs from 'fs';
import os from 'os';
import path from 'path';
import { FunctionPool, type FunctionPoolOptions } from '../../platform/function-pool';

const ROOT = path.resolve(__dirname, '../..');

export interface Fixtures {
  entry(name: 'http-echo' | 'event'): string;
  cleanup(): void;
}

export function buildFixtures(): Fixtures {
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'fnrt-'));
  buildSync({
    entryPoints: ['http-echo', 'event'].map((n) => path.join(__dirname, 'fixtures', `${n}.ts`)),
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    outdir,
    external: ['@fnproject/fdk'],
    logLevel: 'silent',
  });
  return {
    entry: (name) => path.join(outdir, `${name}.js`),
    cleanup: () => fs.rmSync(outdir, { recursive: true, force: true }),
  };
}

/** A pool whose children resolve @fnproject/fdk from this repo and whose log lines are kept for assertions. */
export function testPool(
  entry: string,
  overrides: Partial<FunctionPoolOptions> = {},
): { pool: FunctionPool; logs: string[] } {
  const logs: string[] = [];
  let n = 0;
  const pool = new FunctionPool({
    name: path.basename(entry, '.js'),
    entry,
    env: { NODE_PATH: path.join(ROOT, 'node_modules') },
    maxProcesses: 1,
    callTimeoutMs: 10_000,
    log: (line) => logs.push(line),
    newCallId: () => `call-${++n}`,
    ...overrides,
  });
  return { pool, logs };
}

export function json(body: Buffer): unknown {
  return JSON.parse(body.toString('utf8'));
}

/** Child output arrives asynchronously to the call's answer; wait (bounded) for it. */
export async function waitFor(condition: () => boolean, timeoutMs = 2000): Promise<void> {
  const untilMs = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > untilMs) throw new Error(`Condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
