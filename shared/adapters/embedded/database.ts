/**
 * The embedded platform's one SQLite file. Several processes open it at once (the platform and one process per Fn
 * function), so: WAL (readers never block the writer), short write transactions, and a busy timeout so a writer that
 * finds the lock taken waits instead of failing.
 */
import BetterSqlite3 from 'better-sqlite3';

export type Database = BetterSqlite3.Database;

export interface OpenDatabaseOptions {
  readonly?: boolean;
  /** How long a statement waits for another connection's write lock before failing with SQLITE_BUSY. */
  busyTimeoutMs?: number;
}

export const DEFAULT_BUSY_TIMEOUT_MS = 5000;

/**
 * Each entry moves the schema from version `index` to `index + 1`. Append only: a released migration never changes,
 * because files already migrated past it will not run it again.
 */
const MIGRATIONS: readonly string[] = [
  `
  -- Keys are BLOBs of their UTF-8 bytes: ordering and prefix ranges are byte-lexicographic, as in Object Storage.
  CREATE TABLE objects (
    namespace TEXT NOT NULL,
    bucket TEXT NOT NULL,
    key BLOB NOT NULL,
    etag TEXT NOT NULL,
    size INTEGER NOT NULL,
    body BLOB,
    blob_name TEXT,
    metadata TEXT NOT NULL,
    content_type TEXT,
    md5_base64 TEXT NOT NULL,
    time_modified_ms INTEGER NOT NULL,
    PRIMARY KEY (namespace, bucket, key),
    CHECK ((body IS NULL) <> (blob_name IS NULL))
  ) WITHOUT ROWID;

  CREATE TABLE streams (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    compartment_id TEXT NOT NULL,
    partitions INTEGER NOT NULL CHECK (partitions >= 1),
    retention_hours INTEGER NOT NULL,
    lifecycle_state TEXT NOT NULL CHECK (lifecycle_state IN ('ACTIVE', 'DELETED')),
    time_created_ms INTEGER NOT NULL
  );
  CREATE INDEX streams_by_compartment ON streams (compartment_id, name);

  -- The next offset lives apart from the messages so offsets keep increasing after old messages are purged.
  CREATE TABLE stream_partitions (
    stream_id TEXT NOT NULL REFERENCES streams (id),
    partition INTEGER NOT NULL,
    next_offset INTEGER NOT NULL,
    PRIMARY KEY (stream_id, partition)
  ) WITHOUT ROWID;

  -- AUTOINCREMENT keeps seq increasing even after the newest rows are purged: long-poll waiters in other processes
  -- find new messages as "seq greater than the last one seen".
  CREATE TABLE stream_messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    stream_id TEXT NOT NULL REFERENCES streams (id),
    partition INTEGER NOT NULL,
    offset INTEGER NOT NULL,
    key TEXT,
    value BLOB NOT NULL,
    timestamp_ms INTEGER NOT NULL,
    UNIQUE (stream_id, partition, offset)
  );
  CREATE INDEX stream_messages_by_time ON stream_messages (timestamp_ms);

  -- next_offset is the first offset the group has not committed.
  CREATE TABLE stream_groups (
    stream_id TEXT NOT NULL REFERENCES streams (id),
    group_name TEXT NOT NULL,
    partition INTEGER NOT NULL,
    next_offset INTEGER NOT NULL,
    time_updated_ms INTEGER NOT NULL,
    PRIMARY KEY (stream_id, group_name, partition)
  ) WITHOUT ROWID;
  `,
];

export const SCHEMA_VERSION = MIGRATIONS.length;

export class DatabaseSchemaError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DatabaseSchemaError';
  }
}

export function openDatabase(file: string, options: OpenDatabaseOptions = {}): Database {
  const readonly = options.readonly ?? false;
  const db = new BetterSqlite3(file, { readonly, fileMustExist: readonly });
  try {
    // Set first: switching to WAL itself needs a lock that another process may hold.
    db.pragma(`busy_timeout = ${Math.max(0, Math.floor(options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS))}`);
    db.pragma('foreign_keys = ON');
    if (readonly) {
      const version = schemaVersion(db);
      if (version < SCHEMA_VERSION) {
        throw new DatabaseSchemaError(`${file} has schema version ${version}; this code needs ${SCHEMA_VERSION}`);
      }
      return db;
    }
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    migrate(db);
    return db;
  } catch (e) {
    db.close();
    throw e;
  }
}

export function schemaVersion(db: Database): number {
  return Number(db.pragma('user_version', { simple: true }));
}

function migrate(db: Database): void {
  if (schemaVersion(db) >= SCHEMA_VERSION) return;
  // IMMEDIATE, and the version re-read inside: two processes opening a new file at once migrate it only once.
  db.transaction(() => {
    const from = schemaVersion(db);
    if (from > SCHEMA_VERSION) {
      throw new DatabaseSchemaError(`schema version ${from} is newer than this code (${SCHEMA_VERSION})`);
    }
    for (let version = from; version < SCHEMA_VERSION; version++) {
      db.exec(MIGRATIONS[version] ?? '');
    }
    db.pragma(`user_version = ${SCHEMA_VERSION}`);
  }).immediate();
}

/** Whether an error is SQLite giving up on a lock held by another connection (after the busy timeout). */
export function isBusyError(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' && (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED'));
}
