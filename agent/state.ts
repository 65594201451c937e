/**
 * The agent's durable state, as files (after amazon-ssm-agent): one JSON file per command in
 * - `pending/`: received from the stream and recorded (so the stream could be committed), not acked yet;
 * - `current/`: acked and about to run or running, with the process group once spawned. After a restart, anything
 *   here is never run again (see agent.ts);
 * - `completed/`: finished or refused, kept (the last N) so a redelivered command is recognised and not run twice;
 * - `corrupt/`: files that could not be parsed, moved aside so they never crash the agent.
 * Every write is atomic (temp file, fsync, rename, fsync dir). Plus a persistent `agentSessionId`, generated once.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Clock } from '../shared/ports/clock';
import type { CommandIssuedMessage } from '../events/messages';
import type { ExecutionOutcome } from './executor';
import { isSafeId } from '../events/instance-messages';
import { ensureDir, quarantineFile, readJsonFile, removeFile, removeStaleTempFiles, writeFileAtomic, writeJsonAtomic } from './files';
import { nullLogger, type Logger } from './log';

export const StateArea = { pending: 'pending', current: 'current', completed: 'completed' } as const;
export type StateArea = (typeof StateArea)[keyof typeof StateArea];

export interface PendingRecord {
  schemaVersion: 1;
  message: CommandIssuedMessage;
  receivedAtMs: number;
  /** Receive order, for first-come first-served scheduling across restarts. */
  order: number;
  /** A RECEIVE report was queued: the server counts this command as in flight (PENDING). */
  receiveReported: boolean;
}

export interface CurrentRecord extends PendingRecord {
  ackedAtMs: number;
  /** Set once spawned: the script's pid, which is also its process group id. */
  pid?: number;
  procStartTime?: string;
  workDir?: string;
}

export type CompletedOutcome = ExecutionOutcome | 'NOT_RUN';

export interface CompletedRecord {
  schemaVersion: 1;
  instanceAgentCommandId: string;
  completedAtMs: number;
  outcome: CompletedOutcome;
  exitCode?: number | null;
  /** Why it ended this way (e.g. the ack's answer, the restart message). */
  reason?: string;
}

export interface StateOptions {
  clock: Clock;
  /** Generates the agent session id the first time a state dir is used. */
  newSessionId: () => string;
  completedKeep?: number;
  corruptKeep?: number;
  log?: Logger;
  /** Flush every write to the disk (see `WriteOptions` in files.ts); default false. */
  syncWrites?: boolean;
}

const SESSION_FILE = 'agent-session-id';
const DEFAULT_COMPLETED_KEEP = 1000;
const DEFAULT_CORRUPT_KEEP = 100;


function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

export function isPendingRecord(v: unknown): v is PendingRecord {
  return (
    isObject(v) &&
    v.schemaVersion === 1 &&
    isObject(v.message) &&
    typeof v.message.instanceAgentCommandId === 'string' &&
    typeof v.receivedAtMs === 'number' &&
    typeof v.order === 'number' &&
    typeof v.receiveReported === 'boolean'
  );
}

export function isCurrentRecord(v: unknown): v is CurrentRecord {
  return isPendingRecord(v) && typeof (v as unknown as Record<string, unknown>).ackedAtMs === 'number';
}

export function isCompletedRecord(v: unknown): v is CompletedRecord {
  return isObject(v) && v.schemaVersion === 1 && typeof v.instanceAgentCommandId === 'string' && typeof v.completedAtMs === 'number' && typeof v.outcome === 'string';
}

export class AgentState {
  readonly agentSessionId: string;
  readonly outboxDir: string;
  readonly corruptDir: string;
  readonly workRoot: string;
  private readonly completedKeep: number;
  private readonly corruptKeep: number;
  private readonly log: Logger;
  private completedCount: number;

  constructor(
    readonly stateDir: string,
    private readonly options: StateOptions,
  ) {
    this.completedKeep = options.completedKeep ?? DEFAULT_COMPLETED_KEEP;
    this.corruptKeep = options.corruptKeep ?? DEFAULT_CORRUPT_KEEP;
    this.log = options.log ?? nullLogger;
    ensureDir(stateDir);
    for (const area of Object.values(StateArea)) {
      ensureDir(this.dirOf(area));
      removeStaleTempFiles(this.dirOf(area));
    }
    this.outboxDir = path.join(stateDir, 'outbox');
    this.corruptDir = path.join(stateDir, 'corrupt');
    this.workRoot = path.join(stateDir, 'work');
    ensureDir(this.outboxDir);
    ensureDir(this.corruptDir);
    this.agentSessionId = this.loadSessionId();
    this.completedCount = this.ids(StateArea.completed).length;
  }

  private dirOf(area: StateArea): string {
    return path.join(this.stateDir, area);
  }

  private fileOf(area: StateArea, id: string): string {
    if (!isSafeId(id)) throw new Error(`Unsafe command id for a file name: ${JSON.stringify(id)}`);
    return path.join(this.dirOf(area), `${id}.json`);
  }

  private loadSessionId(): string {
    const file = path.join(this.stateDir, SESSION_FILE);
    try {
      const existing = fs.readFileSync(file, 'utf8').trim();
      if (isSafeId(existing)) return existing;
      this.log.warn('the agent session id file is unreadable; generating a new session id', { file });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    const id = this.options.newSessionId();
    writeFileAtomic(file, `${id}\n`, { sync: true });
    return id;
  }

  ids(area: StateArea): string[] {
    return fs
      .readdirSync(this.dirOf(area))
      .filter((n) => n.endsWith('.json') && !n.startsWith('.'))
      .map((n) => n.slice(0, -'.json'.length));
  }

  has(area: StateArea, id: string): boolean {
    return fs.existsSync(this.fileOf(area, id));
  }

  save(area: StateArea, id: string, record: PendingRecord | CurrentRecord | CompletedRecord): void {
    writeJsonAtomic(this.fileOf(area, id), record, { sync: this.options.syncWrites ?? false });
  }

  /** Reads one area; files that do not parse or do not validate are quarantined and skipped. */
  load<T>(area: StateArea, isValid: (v: unknown) => v is T): Array<{ id: string; record: T }> {
    const out: Array<{ id: string; record: T }> = [];
    for (const id of this.ids(area)) {
      const file = this.fileOf(area, id);
      const read = readJsonFile(file);
      if (read.ok && isValid(read.value)) {
        out.push({ id, record: read.value });
      } else if (!(!read.ok && read.missing)) {
        const moved = quarantineFile(file, this.corruptDir, this.corruptKeep, this.options.clock.nowMs());
        this.log.error('moved a corrupt state file aside', { area, file, movedTo: moved, error: read.ok ? 'invalid record' : read.error });
      }
    }
    return out;
  }

  /** Writes `record` into `to`, then removes the entry from `from`; a crash in between leaves both (load resolves it). */
  move(from: StateArea, to: StateArea, id: string, record: PendingRecord | CurrentRecord | CompletedRecord): void {
    this.save(to, id, record);
    this.remove(from, id);
  }

  remove(area: StateArea, id: string): void {
    removeFile(this.fileOf(area, id), { sync: this.options.syncWrites ?? false });
  }

  complete(from: StateArea | undefined, record: CompletedRecord): void {
    const id = record.instanceAgentCommandId;
    const existed = this.has(StateArea.completed, id);
    if (from === undefined) this.save(StateArea.completed, id, record);
    else this.move(from, StateArea.completed, id, record);
    if (!existed) this.completedCount += 1;
    // Pruning in batches keeps the cost per completion constant.
    if (this.completedCount > this.completedKeep + Math.max(1, Math.floor(this.completedKeep / 10))) this.pruneCompleted();
  }

  /** Keeps the newest `completedKeep` completed entries; returns how many were removed. */
  pruneCompleted(): number {
    const entries = this.ids(StateArea.completed).map((id) => {
      let mtimeMs = 0;
      try {
        mtimeMs = fs.statSync(this.fileOf(StateArea.completed, id)).mtimeMs;
      } catch {
        // vanished meanwhile: sorts first and is removed (idempotently)
      }
      return { id, mtimeMs };
    });
    entries.sort((a, b) => a.mtimeMs - b.mtimeMs || a.id.localeCompare(b.id));
    const excess = entries.slice(0, Math.max(0, entries.length - this.completedKeep));
    for (const { id } of excess) fs.rmSync(this.fileOf(StateArea.completed, id), { force: true });
    this.completedCount = entries.length - excess.length;
    return excess.length;
  }
}
