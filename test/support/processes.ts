/** Process inspection for tests that check nothing is left running. Linux /proc only. */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

function parentOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name is in parentheses and may contain spaces; the fields after it are space-separated.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[1]);
  } catch {
    return undefined;
  }
}

/** Every live process whose ancestry leads to `root` (not including `root`). */
export function descendantsOf(root: number): number[] {
  const pids = readdirSync('/proc').filter((d) => /^\d+$/.test(d)).map(Number);
  const children = new Map<number, number[]>();
  for (const pid of pids) {
    const ppid = parentOf(pid);
    if (ppid === undefined) continue;
    children.set(ppid, [...(children.get(ppid) ?? []), pid]);
  }
  const out: number[] = [];
  const stack = [root];
  while (stack.length > 0) {
    for (const child of children.get(stack.pop() as number) ?? []) {
      out.push(child);
      stack.push(child);
    }
  }
  return out;
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    // A zombie still answers signal 0; it is not running.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return false;
  }
}

export async function waitFor<T>(what: string, probe: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs: number, intervalMs = 50): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export interface CliProcess {
  child: ChildProcess;
  output(): string;
  exited: Promise<number | null>;
}

/** Runs the built CLI as a child process (stdout and stderr collected). */
export function runCli(cliBundle: string, args: string[], env: NodeJS.ProcessEnv = {}): CliProcess {
  return runProcess(process.execPath, [cliBundle, ...args], env);
}

/** Runs `file` itself (an executable script runs under its `#!` line). */
export function runProcess(file: string, args: string[], env: NodeJS.ProcessEnv = {}): CliProcess {
  const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let out = '';
  child.stdout?.on('data', (c: Buffer) => (out += c.toString('utf8')));
  child.stderr?.on('data', (c: Buffer) => (out += c.toString('utf8')));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => out, exited };
}

/**
 * Sends `signal` from the stream's own 'data' event as soon as `marker` has appeared in it: within a fraction of a
 * millisecond of the line, as a supervisor watching the output may.
 */
export function signalOnOutput(proc: CliProcess, stream: 'stdout' | 'stderr', marker: string, signal: NodeJS.Signals): void {
  let seen = '';
  proc.child[stream]?.on('data', (chunk: Buffer) => {
    if (seen.includes(marker)) return;
    seen += chunk.toString('utf8');
    if (seen.includes(marker)) proc.child.kill(signal);
  });
}

export function waitForPlatformJson(dataDir: string, timeoutMs = 30_000): Promise<Record<string, string>> {
  const file = path.join(dataDir, 'platform.json');
  return waitFor(
    'platform.json',
    () => {
      if (!existsSync(file)) return undefined;
      try {
        return JSON.parse(readFileSync(file, 'utf8')) as Record<string, string>;
      } catch {
        return undefined;
      }
    },
    timeoutMs,
  );
}
