/**
 * Structured logs: one JSON object per line in `<logDir>/runcommand.log` (OCI's file name), optionally echoed to
 * stderr. The file is bounded: past `maxBytes` it is renamed to `runcommand.log.1` (replacing the previous one).
 */
import fs from 'node:fs';
import path from 'node:path';
import { systemClock, type Clock } from '../shared/ports/clock';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
}

export const nullLogger: Logger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

const LEVEL_RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };
export const LOG_FILE_NAME = 'runcommand.log';
const DEFAULT_MAX_BYTES = 10 * 1024 * 1024;
/** A line never exceeds this; longer values are cut (a script's output has no business in full in the log). */
const MAX_LINE_BYTES = 16 * 1024;
const MAX_FIELD_CHARS = 2048;

export interface FileLoggerOptions {
  logDir: string;
  maxBytes?: number;
  minLevel?: LogLevel;
  stderr?: boolean;
  clock?: Clock;
}

function serializable(value: unknown): unknown {
  if (value instanceof Error) {
    const code = (value as { code?: unknown }).code;
    return { name: value.name, message: value.message, ...(code !== undefined ? { code } : {}) };
  }
  if (typeof value === 'string' && value.length > MAX_FIELD_CHARS) return `${value.slice(0, MAX_FIELD_CHARS)}…`;
  return value;
}

export function formatLogLine(timeIso: string, level: LogLevel, msg: string, fields: LogFields = {}): string {
  const entry: Record<string, unknown> = { time: timeIso, level, msg: serializable(msg) };
  for (const [k, v] of Object.entries(fields)) if (v !== undefined && !(k in entry)) entry[k] = serializable(v);
  let line = JSON.stringify(entry);
  if (Buffer.byteLength(line, 'utf8') > MAX_LINE_BYTES) {
    line = JSON.stringify({ time: timeIso, level, msg: String(serializable(msg)).slice(0, 1024), truncated: true });
  }
  return `${line}\n`;
}

export class FileLogger implements Logger {
  private readonly file: string;
  private readonly maxBytes: number;
  private readonly minRank: number;
  private readonly clock: Clock;
  private fd: number | undefined;
  private size = 0;

  constructor(private readonly options: FileLoggerOptions) {
    fs.mkdirSync(options.logDir, { recursive: true, mode: 0o750 });
    this.file = path.join(options.logDir, LOG_FILE_NAME);
    this.maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
    this.minRank = LEVEL_RANK[options.minLevel ?? 'info'];
    this.clock = options.clock ?? systemClock;
    this.open();
  }

  debug(msg: string, fields?: LogFields): void {
    this.write('debug', msg, fields);
  }

  info(msg: string, fields?: LogFields): void {
    this.write('info', msg, fields);
  }

  warn(msg: string, fields?: LogFields): void {
    this.write('warn', msg, fields);
  }

  error(msg: string, fields?: LogFields): void {
    this.write('error', msg, fields);
  }

  close(): void {
    if (this.fd !== undefined) fs.closeSync(this.fd);
    this.fd = undefined;
  }

  private open(): void {
    this.fd = fs.openSync(this.file, 'a', 0o640);
    this.size = fs.fstatSync(this.fd).size;
  }

  private rotate(): void {
    this.close();
    fs.renameSync(this.file, `${this.file}.1`);
    this.open();
  }

  private write(level: LogLevel, msg: string, fields?: LogFields): void {
    if (LEVEL_RANK[level] < this.minRank) return;
    const line = formatLogLine(new Date(this.clock.nowMs()).toISOString(), level, msg, fields);
    const bytes = Buffer.byteLength(line, 'utf8');
    // Logging must never take the agent down: a full disk loses log lines, not commands.
    try {
      if (this.size > 0 && this.size + bytes > this.maxBytes) this.rotate();
      if (this.fd === undefined) this.open();
      fs.writeSync(this.fd as number, line);
      this.size += bytes;
    } catch {
      // ignored on purpose (see above)
    }
    if (this.options.stderr) {
      // Straight to fd 2, as the file above: the stream's machinery costs more than the write (a line per step of every
      // command). A full pipe on a non-blocking stderr drops the line, as a full disk does.
      try {
        fs.writeSync(2, line);
      } catch {
        // ignored on purpose (see above)
      }
    }
  }
}
