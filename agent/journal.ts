/**
 * The agent's durable records in one append-only file (`journal.jsonl`), one JSON line per change, instead of a file
 * per record. A command used to create and rename five files on its way through the agent (received, acked, spawned,
 * its report, completed); on ext4 every new file is an inode allocation, which under load took more of an agent's CPU
 * than anything but request signing. Now each change is one `write` to an open file.
 *
 * - A line is `{"a":area,"id":id,"v":record}` (put) or `{"a":area,"id":id,"d":1}` (delete). The changes of one call
 *   (a move: put in one area, delete from another) go out in one `write`.
 * - Reading replays the lines in order. A crash in the middle of an append leaves a partial last line, which is
 *   dropped; a line that does not parse is copied to the corrupt dir and skipped.
 * - When the file holds several times more lines than live records, it is rewritten with just the live records (a
 *   temp file renamed over it), and it is rewritten so at every open.
 * - With `sync`, each append is flushed (fdatasync) before it counts as done, and a rewrite is flushed with its dir.
 *   Without it a change still survives the agent being killed (the page cache outlives the process).
 */
import fs from 'node:fs';
import path from 'node:path';
import { ensureDir, quarantineData, removeStaleTempFiles, writeFileAtomic } from './files';
import { nullLogger, type Logger } from './log';

export interface JournalOptions {
  file: string;
  /** Where unreadable lines are copied for a human to look at. */
  corruptDir: string;
  sync: boolean;
  log?: Logger;
  nowMs: () => number;
  /** The file is rewritten once it has this many lines and four times as many as live records. */
  compactMinLines?: number;
  /** How many files the corrupt dir keeps (the oldest go first). */
  corruptKeep?: number;
}

/** One change: `value` undefined deletes the record. */
export interface JournalChange {
  area: string;
  id: string;
  value?: unknown;
}

const DEFAULT_COMPACT_MIN_LINES = 1000;
const DEFAULT_CORRUPT_KEEP = 100;
const COMPACT_RATIO = 4;

type Line = { a: string; id: string; v: unknown } | { a: string; id: string; d: 1 };

function isLine(v: unknown): v is Line {
  if (v === null || typeof v !== 'object') return false;
  const line = v as Record<string, unknown>;
  return typeof line.a === 'string' && typeof line.id === 'string' && ('v' in line || line.d === 1);
}

const lineOf = (change: JournalChange): string =>
  `${JSON.stringify(change.value === undefined ? { a: change.area, id: change.id, d: 1 } : { a: change.area, id: change.id, v: change.value })}\n`;

export class Journal {
  private readonly areas = new Map<string, Map<string, unknown>>();
  private readonly log: Logger;
  private readonly compactMinLines: number;
  private fd: number | undefined;
  /** Lines in the file now, and its length. */
  private lines = 0;
  private bytes = 0;
  /** No rewrite before the file has this many lines (raised after a rewrite fails, so it is not retried on every write). */
  private rewriteAfterLines = 0;

  constructor(private readonly options: JournalOptions) {
    this.log = options.log ?? nullLogger;
    this.compactMinLines = options.compactMinLines ?? DEFAULT_COMPACT_MIN_LINES;
    ensureDir(path.dirname(options.file));
    // A rewrite a crash interrupted leaves its temp file; the journal itself is whole.
    removeStaleTempFiles(options.file);
    this.replay();
    this.compact();
  }

  /** The records of `area`, in the order they were first written. */
  entries(area: string): Array<[string, unknown]> {
    return [...(this.areas.get(area) ?? new Map<string, unknown>())];
  }

  ids(area: string): string[] {
    return [...(this.areas.get(area)?.keys() ?? [])];
  }

  has(area: string, id: string): boolean {
    return this.areas.get(area)?.has(id) ?? false;
  }

  size(area: string): number {
    return this.areas.get(area)?.size ?? 0;
  }

  /** Applies the changes and appends them in one write (flushed with `sync`). */
  write(changes: JournalChange[]): void {
    if (changes.length === 0) return;
    if (this.fd === undefined) throw new Error('the agent state journal is closed');
    const data = Buffer.from(changes.map(lineOf).join(''), 'utf8');
    try {
      for (let written = 0; written < data.length; ) written += fs.writeSync(this.fd, data, written, data.length - written);
      if (this.options.sync) fs.fdatasyncSync(this.fd);
    } catch (err) {
      // A failed append (a full disk, say) must not leave half a line for the next one to run into.
      try {
        fs.ftruncateSync(this.fd, this.bytes);
      } catch {
        // the replay drops a cut-short last line anyway
      }
      throw err;
    }
    this.bytes += data.length;
    this.lines += changes.length;
    for (const change of changes) this.apply(change);
    if (this.lines >= Math.max(this.compactMinLines, this.rewriteAfterLines) && this.lines >= COMPACT_RATIO * this.liveCount()) {
      try {
        this.compact();
      } catch (err) {
        // The append above is in the file; the journal only stays longer than it needs to for now.
        this.rewriteAfterLines = 2 * this.lines;
        this.log.error('could not rewrite the agent state journal; it will try again later', { file: this.options.file, error: err });
        if (this.fd === undefined) throw err;
      }
    }
  }

  /** Copies a record to the corrupt dir (as `<time>-<area>-<id>.json`) and deletes it; returns the copy's path. */
  quarantine(area: string, id: string, raw: unknown): string {
    const target = this.writeCorrupt(`${area}-${id}.json`, `${JSON.stringify(raw)}\n`);
    this.write([{ area, id }]);
    return target;
  }

  close(): void {
    if (this.fd !== undefined) fs.closeSync(this.fd);
    this.fd = undefined;
  }

  private apply(change: JournalChange): void {
    let area = this.areas.get(change.area);
    if (change.value === undefined) {
      area?.delete(change.id);
      return;
    }
    if (!area) {
      area = new Map();
      this.areas.set(change.area, area);
    }
    area.set(change.id, change.value);
  }

  private liveCount(): number {
    let n = 0;
    for (const area of this.areas.values()) n += area.size;
    return n;
  }

  private replay(): void {
    let text: string;
    try {
      text = fs.readFileSync(this.options.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    const lines = text.split('\n');
    // Whatever follows the last newline is an append a crash cut short: it never counted as written.
    const partial = lines.pop() ?? '';
    if (partial !== '') this.log.warn('dropped a partial last line of the agent state journal (an interrupted write)', { file: this.options.file, bytes: partial.length });
    const unreadable: string[] = [];
    for (const text of lines) {
      if (text === '') continue;
      let line: unknown;
      try {
        line = JSON.parse(text);
      } catch {
        line = undefined;
      }
      if (!isLine(line)) {
        unreadable.push(text);
        continue;
      }
      this.apply('d' in line ? { area: line.a, id: line.id } : { area: line.a, id: line.id, value: line.v });
    }
    if (unreadable.length > 0) {
      const movedTo = this.writeCorrupt('journal-lines.jsonl', `${unreadable.join('\n')}\n`);
      this.log.error('copied unreadable lines of the agent state journal aside', { file: this.options.file, lines: unreadable.length, movedTo });
    }
  }

  /**
   * Rewrites the file with just the live records, and (re)opens it for appending. Until the new file is renamed into
   * place the old one stays the journal (and open); after that, the journal is closed until the new one is open.
   */
  private compact(): void {
    const changes: JournalChange[] = [];
    for (const [area, records] of this.areas) for (const [id, value] of records) changes.push({ area, id, value });
    const text = changes.map(lineOf).join('');
    writeFileAtomic(this.options.file, text, { sync: this.options.sync });
    this.close();
    this.fd = fs.openSync(this.options.file, 'a', 0o600);
    this.lines = changes.length;
    this.bytes = Buffer.byteLength(text, 'utf8');
    this.rewriteAfterLines = 0;
  }

  private writeCorrupt(name: string, data: string): string {
    return quarantineData(data, name, this.options.corruptDir, this.options.corruptKeep ?? DEFAULT_CORRUPT_KEEP, this.options.nowMs());
  }
}
