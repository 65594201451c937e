/**
 * Process groups on Linux. Every script leads its own group (spawned detached, so it calls setsid), which lets the
 * agent stop the script and everything it started with one signal, and tell when all of it is gone.
 */
import fs from 'node:fs';
import { sleep, systemTimers, type Timers } from './timers';

interface ProcStat {
  state: string;
  pgrp: number;
  /** Field 22: start time in clock ticks after boot; with the pid it identifies a process (pids are recycled). */
  startTime: string;
}

function parseProcStat(text: string): ProcStat | undefined {
  // The command name (field 2) is in parentheses and may itself contain spaces and parentheses.
  const close = text.lastIndexOf(')');
  if (close < 0) return undefined;
  const fields = text.slice(close + 2).trim().split(' ');
  // fields[0] is field 3 (state), so field n is fields[n - 3].
  const state = fields[0];
  const pgrp = Number(fields[2]);
  const startTime = fields[19];
  if (state === undefined || !Number.isInteger(pgrp) || startTime === undefined) return undefined;
  return { state, pgrp, startTime };
}

function readProcStat(pid: number): ProcStat | undefined {
  try {
    return parseProcStat(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return undefined;
  }
}

/** The kernel's start time of `pid`, or undefined when no such process exists (or /proc is unavailable). */
export function readProcStartTime(pid: number): string | undefined {
  return readProcStat(pid)?.startTime;
}

/** Sends `signal` to every process of the group; false when the group no longer exists. */
export function signalGroup(pgid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ESRCH') return false;
    // EPERM: the group exists but is not ours to signal (another user); it is still alive.
    if (code === 'EPERM') return true;
    throw err;
  }
}

function hasLiveMember(pgid: number): boolean {
  let names: string[];
  try {
    names = fs.readdirSync('/proc');
  } catch {
    return true;
  }
  for (const name of names) {
    const pid = Number(name);
    if (!Number.isInteger(pid) || pid <= 0) continue;
    const stat = readProcStat(pid);
    if (stat !== undefined && stat.pgrp === pgid && stat.state !== 'Z') return true;
  }
  return false;
}

/**
 * Whether any process of the group is still running. `kill(-pgid, 0)` alone is not enough: it succeeds for zombies,
 * and an orphaned background child becomes a zombie that nobody reaps when PID 1 is not a real init (containers,
 * microVMs). A group made only of zombies runs nothing and counts as gone.
 */
export function isGroupAlive(pgid: number): boolean {
  if (!signalGroup(pgid, 0)) return false;
  return hasLiveMember(pgid);
}

export interface KillGroupOptions {
  /** Time between SIGTERM and SIGKILL for the group to exit on its own. */
  graceMs: number;
  /** How long to wait after SIGKILL before giving up (a process stuck in the kernel, state D, ignores it). */
  killWaitMs?: number;
  pollMs?: number;
  timers?: Timers;
}

async function waitGroupGone(pgid: number, waitMs: number, pollMs: number, timers: Timers): Promise<boolean> {
  const polls = Math.max(1, Math.ceil(waitMs / pollMs));
  for (let i = 0; i < polls; i += 1) {
    if (!isGroupAlive(pgid)) return true;
    await sleep(timers, pollMs);
  }
  return !isGroupAlive(pgid);
}

/**
 * SIGTERM to the group, up to `graceMs` for it to exit, then SIGKILL, then waits until every process is gone.
 * Resolves `true` once the group is gone, `false` if something survived even SIGKILL within `killWaitMs`.
 */
export async function killProcessGroup(pgid: number, options: KillGroupOptions): Promise<boolean> {
  const timers = options.timers ?? systemTimers;
  const pollMs = options.pollMs ?? 50;
  if (!signalGroup(pgid, 'SIGTERM')) return true;
  if (await waitGroupGone(pgid, options.graceMs, pollMs, timers)) return true;
  signalGroup(pgid, 'SIGKILL');
  return waitGroupGone(pgid, options.killWaitMs ?? 10_000, pollMs, timers);
}

/**
 * Whether the process group recorded as (`pgid`, `startTime`) may still exist and may be signalled. The kernel never
 * hands out a pid that is still some process's group id, so: if a process with that pid runs with a different start
 * time, the pid was recycled and the old group is certainly gone (signalling it would hit a stranger). If no process
 * has that pid, only members of the old group can still carry that group id, so signalling it is safe.
 */
export function isRecordedGroupOurs(pgid: number, startTime: string | undefined): boolean {
  const current = readProcStartTime(pgid);
  if (current === undefined) return true;
  return startTime !== undefined && current === startTime;
}
