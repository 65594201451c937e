import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { LogFields, Logger, LogLevel } from '../../../../agent/log';
import type { Timers } from '../../../../agent/timers';

const createdDirs: string[] = [];

export function tempDir(prefix = 'agent-test-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  createdDirs.push(dir);
  return dir;
}

afterAll(() => {
  for (const dir of createdDirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

/** Polls `condition` (real processes are involved, so there is no event to await); fails after `timeoutMs`. */
export async function waitFor(condition: () => boolean | Promise<boolean>, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export interface LogEntry {
  level: LogLevel;
  msg: string;
  fields: LogFields;
}

export class MemoryLogger implements Logger {
  readonly entries: LogEntry[] = [];
  debug(msg: string, fields: LogFields = {}): void {
    this.entries.push({ level: 'debug', msg, fields });
  }
  info(msg: string, fields: LogFields = {}): void {
    this.entries.push({ level: 'info', msg, fields });
  }
  warn(msg: string, fields: LogFields = {}): void {
    this.entries.push({ level: 'warn', msg, fields });
  }
  error(msg: string, fields: LogFields = {}): void {
    this.entries.push({ level: 'error', msg, fields });
  }
  messages(): string[] {
    return this.entries.map((e) => e.msg);
  }
}

/** Manual timers: nothing fires until `advance`. */
export class FakeTimers implements Timers {
  private nowMs = 0;
  private nextId = 1;
  private readonly pending = new Map<number, { at: number; fn: () => void }>();

  setTimeout(fn: () => void, ms: number): number {
    const id = this.nextId;
    this.nextId += 1;
    this.pending.set(id, { at: this.nowMs + ms, fn });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.pending.delete(handle as number);
  }

  get scheduled(): number[] {
    return [...this.pending.values()].map((p) => p.at - this.nowMs);
  }

  /** Moves time forward, firing due timers in order and letting promise chains run in between. */
  async advance(ms: number): Promise<void> {
    const target = this.nowMs + ms;
    await flush();
    for (;;) {
      const due = [...this.pending.entries()].filter(([, p]) => p.at <= target).sort((a, b) => a[1].at - b[1].at)[0];
      if (due === undefined) break;
      this.pending.delete(due[0]);
      this.nowMs = due[1].at;
      due[1].fn();
      await flush();
    }
    this.nowMs = target;
    await flush();
  }
}

export async function flush(): Promise<void> {
  for (let i = 0; i < 5; i += 1) await new Promise((r) => setImmediate(r));
}

let tokenCounter = 0;
export const testIds = { token: (): string => `tok${process.pid}n${(tokenCounter += 1)}` };

/**
 * The records of one area of an agent's state journal, read from the file without opening a journal (which would
 * rewrite the file under a running agent).
 */
export function journalRecords(stateDir: string, area: string): Map<string, unknown> {
  const records = new Map<string, unknown>();
  let text = '';
  try {
    text = fs.readFileSync(path.join(stateDir, 'journal.jsonl'), 'utf8');
  } catch {
    return records;
  }
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const entry = JSON.parse(line) as { a: string; id: string; v?: unknown; d?: 1 };
    if (entry.a !== area) continue;
    if (entry.d === 1) records.delete(entry.id);
    else records.set(entry.id, entry.v);
  }
  return records;
}
