import BetterSqlite3 from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  DatabaseSchemaError,
  SCHEMA_VERSION,
  openDatabase,
  schemaVersion,
  type Database,
} from '../../../shared/adapters/embedded/database';

describe('openDatabase', () => {
  let dir: string;
  const open: Database[] = [];

  function track(db: Database): Database {
    open.push(db);
    return db;
  }

  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'runcommand-db-'));
  });

  afterEach(() => {
    for (const db of open.splice(0)) if (db.open) db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('opens a file in WAL mode with NORMAL sync, foreign keys and a busy timeout', () => {
    const db = track(openDatabase(path.join(dir, 'a.db')));
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.pragma('synchronous', { simple: true })).toBe(1);
    expect(db.pragma('foreign_keys', { simple: true })).toBe(1);
    expect(db.pragma('busy_timeout', { simple: true })).toBe(5000);
    expect(schemaVersion(db)).toBe(SCHEMA_VERSION);
  });

  it('takes a busy timeout in milliseconds', () => {
    const db = track(openDatabase(path.join(dir, 'a.db'), { busyTimeoutMs: 250 }));
    expect(db.pragma('busy_timeout', { simple: true })).toBe(250);
  });

  it('works in memory, with the whole schema', () => {
    const db = track(openDatabase(':memory:'));
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").pluck().all();
    expect(tables).toEqual(expect.arrayContaining(['objects', 'streams', 'stream_messages', 'stream_groups']));
  });

  it('migrates once: reopening keeps the data and the version', () => {
    const file = path.join(dir, 'a.db');
    const first = track(openDatabase(file));
    first
      .prepare("INSERT INTO streams VALUES ('s1', 'n', 'c', 1, 24, 'ACTIVE', 0)")
      .run();
    first.close();
    const second = track(openDatabase(file));
    const third = track(openDatabase(file));
    expect(schemaVersion(second)).toBe(SCHEMA_VERSION);
    expect(third.prepare('SELECT id FROM streams').pluck().all()).toEqual(['s1']);
  });

  it('enforces foreign keys', () => {
    const db = track(openDatabase(':memory:'));
    expect(() =>
      db.prepare("INSERT INTO stream_partitions VALUES ('no-such-stream', 0, 0)").run(),
    ).toThrow(/FOREIGN KEY/);
  });

  it('opens a migrated file read-only and refuses writes through it', () => {
    const file = path.join(dir, 'a.db');
    track(openDatabase(file)).close();
    const reader = track(openDatabase(file, { readonly: true }));
    expect(schemaVersion(reader)).toBe(SCHEMA_VERSION);
    expect(() => reader.prepare("INSERT INTO streams VALUES ('s', 'n', 'c', 1, 24, 'ACTIVE', 0)").run()).toThrow(
      /readonly/i,
    );
  });

  it('refuses to open a missing or unmigrated file read-only', () => {
    expect(() => openDatabase(path.join(dir, 'missing.db'), { readonly: true })).toThrow();
    const file = path.join(dir, 'plain.db');
    new BetterSqlite3(file).close();
    expect(() => openDatabase(file, { readonly: true })).toThrow(DatabaseSchemaError);
  });
});
