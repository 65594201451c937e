/**
 * One agent per state dir. Two agents on one state dir would share its session id, so both would win the ACK of the
 * same command and run it, and each would rewrite the journal under the other. The first agent takes a lock file
 * (`agent.lock`: its pid and its start time from /proc) and removes it when it stops; a lock whose process is gone
 * (killed, crashed, or from before a reboot, its pid now someone else's) is taken over.
 */
import fs from 'node:fs';
import path from 'node:path';
import { readProcStartTime } from './process-group';

export const LOCK_FILE = 'agent.lock';

export class StateDirInUseError extends Error {
  constructor(
    readonly stateDir: string,
    readonly pid: number,
  ) {
    super(`Another agent (pid ${pid}) is using the state dir ${stateDir}; one agent may use a state dir at a time.`);
    this.name = 'StateDirInUseError';
  }
}

interface Holder {
  pid: number;
  startTime: string | undefined;
}

function holderOf(text: string): Holder | undefined {
  const [pid, startTime] = text.trim().split(/\s+/);
  const n = Number(pid);
  return Number.isSafeInteger(n) && n > 0 ? { pid: n, startTime: startTime || undefined } : undefined;
}

function isRunning(holder: Holder): boolean {
  const startTime = readProcStartTime(holder.pid);
  if (holder.startTime !== undefined && startTime !== undefined) return startTime === holder.startTime;
  try {
    process.kill(holder.pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Takes the state dir's lock; returns its release. Throws `StateDirInUseError` while a live process holds it. */
export function lockStateDir(stateDir: string): () => void {
  const file = path.join(stateDir, LOCK_FILE);
  const mine = `${process.pid} ${readProcStartTime(process.pid) ?? ''}\n`;
  // A few rounds: a lock found stale is removed and taken again, unless another agent starting at once took it first.
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      fs.writeFileSync(file, mine, { flag: 'wx', mode: 0o600 });
      let held = true;
      return () => {
        if (!held) return;
        held = false;
        fs.rmSync(file, { force: true });
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    let text = '';
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    const holder = holderOf(text);
    // This process counts as live too: another state in it holds the dir.
    if (holder && isRunning(holder)) throw new StateDirInUseError(stateDir, holder.pid);
    fs.rmSync(file, { force: true });
  }
  throw new Error(`Could not take the lock ${file}: other agents keep taking it.`);
}
