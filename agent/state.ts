/**
 * The agent's durable state (after amazon-ssm-agent's, kept in one journal instead of a file per record; see
 * journal.ts), in areas:
 * - `pending`: received from the stream and recorded (so the stream could be committed), not acked yet;
 * - `current`: acked and about to run or running, with the process group once spawned. After a restart, anything
 *   here is never run again (see agent.ts);
 * - `completed`: finished or refused, kept (the last N) so a redelivered command is recognised and not run twice;
 * - `outbox`: reports not delivered yet (outbox.ts).
 * Records that do not validate are copied to `corrupt/` so they never crash the agent. Plus a persistent
 * `agentSessionId`, generated once, and the lock that keeps a second agent out (state-lock.ts). State written by
 * earlier versions, a file per record in `pending/`, `current/`, `completed/` and `outbox/`, is moved into the
 * journal at start.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Clock } from '../shared/ports/clock';
import type { CommandIssuedMessage } from '../events/messages';
import type { ExecutionOutcome } from './executor';
import { isSafeId } from '../events/instance-messages';
import { ensureDir, quarantineFile, readJsonFile, writeFileAtomic } from './files';
import { Journal, type JournalChange } from './journal';
import { nullLogger, type Logger } from './log';
import type { OutboxStore } from './outbox';
import { lockStateDir } from './state-lock';

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
const JOURNAL_FILE = 'journal.jsonl';
const OUTBOX_AREA = 'outbox';
const SEQ_DIGITS = 16;
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
  readonly corruptDir: string;
  readonly workRoot: string;
  private readonly completedKeep: number;
  private readonly corruptKeep: number;
  private readonly log: Logger;
  private readonly journal: Journal;
  private readonly unlock: () => void;

  constructor(
    readonly stateDir: string,
    private readonly options: StateOptions,
  ) {
    this.completedKeep = options.completedKeep ?? DEFAULT_COMPLETED_KEEP;
    this.corruptKeep = options.corruptKeep ?? DEFAULT_CORRUPT_KEEP;
    this.log = options.log ?? nullLogger;
    ensureDir(stateDir);
    this.corruptDir = path.join(stateDir, 'corrupt');
    this.workRoot = path.join(stateDir, 'work');
    this.unlock = lockStateDir(stateDir);
    let journal: Journal | undefined;
    try {
      journal = new Journal({
        file: path.join(stateDir, JOURNAL_FILE),
        corruptDir: this.corruptDir,
        corruptKeep: this.corruptKeep,
        sync: options.syncWrites ?? false,
        log: this.log,
        nowMs: () => options.clock.nowMs(),
      });
      this.journal = journal;
      this.migrateFiles();
      this.agentSessionId = this.loadSessionId();
    } catch (err) {
      journal?.close();
      this.unlock();
      throw err;
    }
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

  /**
   * Moves state written as a file per record (`pending/`, `current/`, `completed/`, `outbox/`) into the journal, then
   * removes those dirs. Completed entries go in by age, so pruning keeps the newest. A crash before the dirs are gone
   * moves the same records again at the next start.
   */
  private migrateFiles(): void {
    const changes: JournalChange[] = [];
    const dirs: string[] = [];
    for (const area of [...Object.values(StateArea), OUTBOX_AREA]) {
      const dir = path.join(this.stateDir, area);
      let names: string[];
      try {
        names = fs.readdirSync(dir);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw err;
      }
      dirs.push(dir);
      const files = names
        .filter((n) => n.endsWith('.json') && !n.startsWith('.'))
        .map((name) => {
          const file = path.join(dir, name);
          let mtimeMs = 0;
          try {
            mtimeMs = fs.statSync(file).mtimeMs;
          } catch {
            // gone meanwhile: read as missing below
          }
          return { file, id: name.slice(0, -'.json'.length), mtimeMs };
        })
        .sort((a, b) => a.mtimeMs - b.mtimeMs || a.id.localeCompare(b.id));
      for (const { file, id } of files) {
        const read = readJsonFile(file);
        if (read.ok && area !== OUTBOX_AREA) {
          changes.push({ area, id, value: read.value });
        } else if (read.ok && isStoredOutboxEntry(read.value)) {
          changes.push({ area, id: seqId(read.value.seq), value: read.value.payload });
        } else if (!(!read.ok && read.missing)) {
          const moved = quarantineFile(file, this.corruptDir, this.corruptKeep, this.options.clock.nowMs());
          this.log.error('moved a corrupt state file aside', { area, file, movedTo: moved, error: read.ok ? 'invalid record' : read.error });
        }
      }
    }
    if (dirs.length === 0) return;
    this.journal.write(changes);
    for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
    this.log.info('moved the agent state from files into its journal', { records: changes.length });
  }

  ids(area: StateArea): string[] {
    return this.journal.ids(area);
  }

  has(area: StateArea, id: string): boolean {
    return this.journal.has(area, id);
  }

  save(area: StateArea, id: string, record: PendingRecord | CurrentRecord | CompletedRecord): void {
    this.journal.write([{ area, id: checkedId(id), value: record }]);
  }

  /** Reads one area; records that do not validate are copied to `corrupt/`, removed and skipped. */
  load<T>(area: StateArea, isValid: (v: unknown) => v is T): Array<{ id: string; record: T }> {
    const out: Array<{ id: string; record: T }> = [];
    for (const [id, value] of this.journal.entries(area)) {
      if (isSafeId(id) && isValid(value)) {
        out.push({ id, record: value });
      } else {
        const movedTo = this.journal.quarantine(area, id, value);
        this.log.error('moved a corrupt state record aside', { area, id, movedTo });
      }
    }
    return out;
  }

  /** Writes `record` into `to` and removes the entry from `from`, in one append. */
  move(from: StateArea, to: StateArea, id: string, record: PendingRecord | CurrentRecord | CompletedRecord): void {
    this.journal.write([
      { area: to, id: checkedId(id), value: record },
      { area: from, id },
    ]);
  }

  remove(area: StateArea, id: string): void {
    this.journal.write([{ area, id }]);
  }

  complete(from: StateArea | undefined, record: CompletedRecord): void {
    const id = checkedId(record.instanceAgentCommandId);
    const changes: JournalChange[] = [{ area: StateArea.completed, id, value: record }];
    if (from !== undefined) changes.push({ area: from, id });
    this.journal.write(changes);
    // Pruning in batches keeps the cost per completion constant.
    if (this.journal.size(StateArea.completed) > this.completedKeep + Math.max(1, Math.floor(this.completedKeep / 10))) this.pruneCompleted();
  }

  /** Keeps the newest `completedKeep` completed entries (by the order they completed); returns how many were removed. */
  pruneCompleted(): number {
    const ids = this.journal.ids(StateArea.completed);
    const excess = ids.slice(0, Math.max(0, ids.length - this.completedKeep));
    this.journal.write(excess.map((id) => ({ area: StateArea.completed, id })));
    return excess.length;
  }

  /** The outbox's reports, kept in this journal too. */
  outboxStore(): OutboxStore {
    return {
      load: () =>
        this.journal
          .entries(OUTBOX_AREA)
          .map(([id, payload]) => ({ seq: Number(id), payload }))
          .sort((a, b) => a.seq - b.seq),
      add: (seq, payload) => this.journal.write([{ area: OUTBOX_AREA, id: seqId(seq), value: payload }]),
      remove: (seq) => this.journal.write([{ area: OUTBOX_AREA, id: seqId(seq) }]),
      quarantine: (seq, payload) => this.journal.quarantine(OUTBOX_AREA, seqId(seq), payload),
    };
  }

  /** Closes the journal and releases the state dir for the next agent. */
  close(): void {
    this.journal.close();
    this.unlock();
  }
}

function checkedId(id: string): string {
  if (!isSafeId(id)) throw new Error(`Unsafe command id for a file name: ${JSON.stringify(id)}`);
  return id;
}

const seqId = (seq: number): string => String(seq).padStart(SEQ_DIGITS, '0');

function isStoredOutboxEntry(v: unknown): v is { seq: number; payload: unknown } {
  return v !== null && typeof v === 'object' && Number.isSafeInteger((v as { seq?: unknown }).seq) && 'payload' in v;
}
