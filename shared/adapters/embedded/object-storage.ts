/**
 * Object Storage on the embedded SQLite file: the `ObjectStore` port for the functions, plus the streaming put/get the
 * platform's OCI-compatible Object Storage endpoint serves. Small bodies live in the row; large ones in files under
 * `blobDir`, so a 50 MB upload or download never sits in memory.
 */
import { createHash, randomUUID } from 'node:crypto';
import { promises as fs, mkdirSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import type { Clock } from '../../ports/clock';
import {
  ObjectStoreError,
  ObjectStoreUnavailableError,
  PreconditionFailedError,
  type ListOptions,
  type ListResult,
  type ObjectInfo,
  type ObjectStore,
  type PutOptions,
  type StoredObject,
} from '../../ports/object-store';
import { isBusyError, type Database } from './database';
import { GroupCommit } from './group-commit';
import { clampListLimit, keyRange } from './object-keys';

/** By default, bodies above this many bytes go to a file under `blobDir` (when there is one). */
export const INLINE_BODY_MAX_BYTES = 256 * 1024;
/** A blob can vanish between reading its row and opening its file (a concurrent overwrite); re-read this often. */
const BLOB_OPEN_ATTEMPTS = 5;

export interface EmbeddedObjectStorageOptions {
  clock: Clock;
  newEtag?: () => string;
  /** Where bodies larger than `inlineBodyMaxBytes` are kept; without it every body is kept in its row. */
  blobDir?: string;
  inlineBodyMaxBytes?: number;
}

export interface StreamedObjectInfo extends ObjectInfo {
  contentType?: string;
  md5Base64?: string;
}

export interface PutStreamResult {
  etag: string;
  size: number;
  md5Base64: string;
}

interface ObjectRow {
  etag: string;
  size: number;
  body: Buffer | null;
  blob_name: string | null;
  metadata: string;
  content_type: string | null;
  md5_base64: string;
  time_modified_ms: number;
}

interface ListedRow {
  key: Buffer;
  etag: string;
  size: number;
  time_modified_ms: number;
}

type Content = { kind: 'inline'; body: Buffer } | { kind: 'blob'; name: string };

interface NewObject {
  content: Content;
  size: number;
  md5Base64: string;
}

export class EmbeddedObjectStorage {
  private readonly clock: Clock;
  private readonly newEtag: () => string;
  private readonly blobDir: string | undefined;
  private readonly inlineBodyMaxBytes: number;
  private readonly statements;
  private readonly group: GroupCommit;

  constructor(
    private readonly db: Database,
    options: EmbeddedObjectStorageOptions,
  ) {
    this.clock = options.clock;
    this.newEtag = options.newEtag ?? randomUUID;
    this.blobDir = options.blobDir;
    this.inlineBodyMaxBytes = options.inlineBodyMaxBytes ?? INLINE_BODY_MAX_BYTES;
    this.group = GroupCommit.of(db);
    if (this.blobDir) mkdirSync(this.blobDir, { recursive: true });
    const where = 'WHERE namespace = ? AND bucket = ? AND key = ?';
    const columns = 'etag, size, body, blob_name, metadata, content_type, md5_base64, time_modified_ms';
    const listColumns = 'SELECT key, etag, size, time_modified_ms FROM objects WHERE namespace = ? AND bucket = ?';
    this.statements = {
      select: db.prepare(`SELECT ${columns} FROM objects ${where}`),
      selectEtag: db.prepare(`SELECT etag FROM objects ${where}`).pluck(),
      selectBlobName: db.prepare(`SELECT blob_name FROM objects ${where}`).pluck(),
      insert: db.prepare(
        `INSERT INTO objects (namespace, bucket, key, ${columns}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT DO NOTHING`,
      ),
      update: db.prepare(
        `UPDATE objects SET etag = ?, size = ?, body = ?, blob_name = ?, metadata = ?, content_type = ?,
         md5_base64 = ?, time_modified_ms = ? ${where} AND (? IS NULL OR etag = ?)`,
      ),
      delete: db.prepare(`DELETE FROM objects ${where} AND (? IS NULL OR etag = ?)`),
      listBounded: db.prepare(`${listColumns} AND key >= ? AND key < ? ORDER BY key LIMIT ?`),
      listUnbounded: db.prepare(`${listColumns} AND key >= ? ORDER BY key LIMIT ?`),
      countBounded: db.prepare(
        'SELECT count(*) FROM objects WHERE namespace = ? AND bucket = ? AND key >= ? AND key < ?',
      ).pluck(),
      countUnbounded: db
        .prepare('SELECT count(*) FROM objects WHERE namespace = ? AND bucket = ? AND key >= ?')
        .pluck(),
    };
  }

  bucket(namespaceName: string, bucketName: string): ObjectStore {
    return new EmbeddedBucket(this, namespaceName, bucketName);
  }

  async head(namespaceName: string, bucketName: string, key: string): Promise<StreamedObjectInfo | undefined> {
    const row = this.selectRow(namespaceName, bucketName, key);
    return row && streamedInfo(key, row);
  }

  async get(namespaceName: string, bucketName: string, key: string): Promise<StoredObject | undefined> {
    const opened = await this.openBody(namespaceName, bucketName, key);
    if (!opened) return undefined;
    const { row, file } = opened;
    if (!file) return { ...objectInfo(key, row), body: row.body ?? Buffer.alloc(0) };
    try {
      return { ...objectInfo(key, row), body: await file.readFile() };
    } finally {
      await file.close();
    }
  }

  /**
   * Reads an object as a stream. A blob is opened before this resolves, so a concurrent overwrite or delete (which
   * unlinks it) cannot cut the body short.
   */
  async getStream(
    namespaceName: string,
    bucketName: string,
    key: string,
  ): Promise<{ info: StreamedObjectInfo; body: NodeJS.ReadableStream } | undefined> {
    const opened = await this.openBody(namespaceName, bucketName, key);
    if (!opened) return undefined;
    const { row, file } = opened;
    const body = file ? file.createReadStream() : Readable.from([row.body ?? Buffer.alloc(0)]);
    return { info: streamedInfo(key, row), body };
  }

  async put(
    namespaceName: string,
    bucketName: string,
    key: string,
    body: Buffer | string,
    options: PutOptions = {},
  ): Promise<{ etag: string }> {
    const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
    const md5Base64 = createHash('md5').update(bytes).digest('base64');
    const content: Content =
      this.blobDir && bytes.length > this.inlineBodyMaxBytes
        ? { kind: 'blob', name: await this.writeBlob(bytes) }
        : { kind: 'inline', body: bytes };
    const etag = await this.commit(namespaceName, bucketName, key, { content, size: bytes.length, md5Base64 }, options);
    return { etag };
  }

  /**
   * Stores a body read from a stream. A failed precondition is detected before the body is read (and again, atomically,
   * at commit); in that case the body is left unread for the caller to drain or discard.
   */
  async putStream(
    namespaceName: string,
    bucketName: string,
    key: string,
    body: NodeJS.ReadableStream,
    options: PutOptions & { contentLength?: number } = {},
  ): Promise<PutStreamResult> {
    this.checkPrecondition(namespaceName, bucketName, key, options);
    const received = await this.receive(body);
    if (options.contentLength !== undefined && received.size !== options.contentLength) {
      if (received.content.kind === 'blob') await this.unlinkBlob(received.content.name);
      throw new ObjectStoreError(
        `Body of ${key} was ${received.size} bytes, but its content length is ${options.contentLength}`,
      );
    }
    const etag = await this.commit(namespaceName, bucketName, key, received, options);
    return { etag, size: received.size, md5Base64: received.md5Base64 };
  }

  /** Resolves false when there was nothing to delete. */
  async delete(namespaceName: string, bucketName: string, key: string, options: { ifMatch?: string } = {}) {
    const keyBytes = Buffer.from(key, 'utf8');
    const ifMatch = options.ifMatch ?? null;
    const removed = await this.inBatch((): { deleted: boolean; blobName: string | null } => {
      const blobName = this.statements.selectBlobName.get(namespaceName, bucketName, keyBytes) as string | null | undefined;
      if (blobName === undefined) return { deleted: false, blobName: null };
      // The etag condition guards against deleting a version the caller has not seen.
      const { changes } = this.statements.delete.run(namespaceName, bucketName, keyBytes, ifMatch, ifMatch);
      if (changes === 0) throw new PreconditionFailedError(key, 'ifMatch');
      return { deleted: true, blobName };
    });
    if (removed.blobName) await this.unlinkBlob(removed.blobName);
    return removed.deleted;
  }

  async list(namespaceName: string, bucketName: string, options: ListOptions): Promise<ListResult> {
    const limit = clampListLimit(options.limit);
    const { lower, upper } = keyRange(options);
    if (upper && Buffer.compare(lower, upper) >= 0) return { objects: [] };
    const rows = translateBusy(() =>
      upper
        ? this.statements.listBounded.all(namespaceName, bucketName, lower, upper, limit + 1)
        : this.statements.listUnbounded.all(namespaceName, bucketName, lower, limit + 1),
    ) as ListedRow[];
    const page = rows.slice(0, limit).map((row) => ({
      key: row.key.toString('utf8'),
      etag: row.etag,
      size: row.size,
      timeModified: new Date(row.time_modified_ms).toISOString(),
    }));
    const next = rows[limit];
    return next ? { objects: page, nextStartWith: next.key.toString('utf8') } : { objects: page };
  }

  countObjects(namespaceName: string, bucketName: string, prefix = ''): number {
    const { lower, upper } = keyRange({ prefix });
    return Number(
      translateBusy(() =>
        upper
          ? this.statements.countBounded.get(namespaceName, bucketName, lower, upper)
          : this.statements.countUnbounded.get(namespaceName, bucketName, lower),
      ),
    );
  }

  private selectRow(namespaceName: string, bucketName: string, key: string): ObjectRow | undefined {
    return translateBusy(() => this.statements.select.get(namespaceName, bucketName, Buffer.from(key, 'utf8'))) as
      | ObjectRow
      | undefined;
  }

  private async openBody(
    namespaceName: string,
    bucketName: string,
    key: string,
  ): Promise<{ row: ObjectRow; file?: FileHandle } | undefined> {
    for (let attempt = 1; ; attempt++) {
      const row = this.selectRow(namespaceName, bucketName, key);
      if (!row) return undefined;
      if (row.blob_name === null) return { row };
      try {
        return { row, file: await fs.open(this.blobPath(row.blob_name), 'r') };
      } catch (e) {
        // ENOENT: overwritten or deleted since the row was read; the next read sees the new row.
        if (!isNotFound(e) || attempt >= BLOB_OPEN_ATTEMPTS) {
          throw new ObjectStoreUnavailableError(`Cannot read the body of ${key}`, { cause: e });
        }
      }
    }
  }

  private checkPrecondition(namespaceName: string, bucketName: string, key: string, options: PutOptions): void {
    if (options.ifNoneMatch !== '*' && options.ifMatch === undefined) return;
    const keyBytes = Buffer.from(key, 'utf8');
    const etag = translateBusy(() => this.statements.selectEtag.get(namespaceName, bucketName, keyBytes));
    if (options.ifNoneMatch === '*' && etag !== undefined) throw new PreconditionFailedError(key, 'ifNoneMatch');
    if (options.ifMatch !== undefined && etag !== options.ifMatch) throw new PreconditionFailedError(key, 'ifMatch');
  }

  /** Runs `write` in the database's next group commit (shared with the streams on it: see `GroupCommit`). */
  private async inBatch<T>(write: () => T): Promise<T> {
    try {
      return await this.group.run(write);
    } catch (e) {
      throw unavailableIfBusy(e);
    }
  }

  /** Commits a new version of the object; on failure the new blob, if any, is removed. */
  private async commit(
    namespaceName: string,
    bucketName: string,
    key: string,
    object: NewObject,
    options: PutOptions,
  ): Promise<string> {
    const keyBytes = Buffer.from(key, 'utf8');
    const etag = this.newEtag();
    const body = object.content.kind === 'inline' ? object.content.body : null;
    const blobName = object.content.kind === 'blob' ? object.content.name : null;
    const values = [
      etag,
      object.size,
      body,
      blobName,
      JSON.stringify(options.metadata ?? {}),
      options.contentType ?? null,
      object.md5Base64,
      this.clock.nowMs(),
    ];
    let replacedBlob: string | null;
    try {
      replacedBlob = await this.inBatch((): string | null => {
        const previousBlob = this.statements.selectBlobName.get(namespaceName, bucketName, keyBytes) as string | null | undefined;
        if (options.ifNoneMatch === '*' || (previousBlob === undefined && options.ifMatch === undefined)) {
          // ON CONFLICT DO NOTHING: a create-only write never replaces an object another writer created first.
          const { changes } = this.statements.insert.run(namespaceName, bucketName, keyBytes, ...values);
          if (changes === 0) throw new PreconditionFailedError(key, 'ifNoneMatch');
          if (options.ifMatch !== undefined) throw new PreconditionFailedError(key, 'ifMatch');
          return null;
        }
        // The etag condition guards against a lost update: someone wrote since the caller read.
        const ifMatch = options.ifMatch ?? null;
        const where = [namespaceName, bucketName, keyBytes, ifMatch, ifMatch];
        const { changes } = this.statements.update.run(...values, ...where);
        if (changes === 0) throw new PreconditionFailedError(key, 'ifMatch');
        return previousBlob ?? null;
      });
    } catch (e) {
      if (blobName) await this.unlinkBlob(blobName);
      throw e;
    }
    if (replacedBlob) await this.unlinkBlob(replacedBlob);
    return etag;
  }

  /** Reads the body, keeping at most `inlineBodyMaxBytes` in memory before switching to a blob file. */
  private async receive(body: NodeJS.ReadableStream): Promise<NewObject> {
    const md5 = createHash('md5');
    const chunks: Buffer[] = [];
    let size = 0;
    let blob: { name: string; tmpPath: string; file: FileHandle } | undefined;
    try {
      for await (const chunk of body) {
        const bytes = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
        md5.update(bytes);
        size += bytes.length;
        if (blob) {
          await blob.file.write(bytes);
        } else {
          chunks.push(bytes);
          if (this.blobDir && size > this.inlineBodyMaxBytes) {
            const name = randomUUID();
            const tmpPath = this.blobPath(`${name}.tmp`);
            blob = { name, tmpPath, file: await fs.open(tmpPath, 'wx') };
            await blob.file.write(Buffer.concat(chunks));
            chunks.length = 0;
          }
        }
      }
      const md5Base64 = md5.digest('base64');
      if (!blob) return { content: { kind: 'inline', body: Buffer.concat(chunks) }, size, md5Base64 };
      await blob.file.close();
      await fs.rename(blob.tmpPath, this.blobPath(blob.name));
      return { content: { kind: 'blob', name: blob.name }, size, md5Base64 };
    } catch (e) {
      if (blob) {
        await blob.file.close().catch(() => undefined);
        await fs.unlink(blob.tmpPath).catch(() => undefined);
      }
      throw e;
    }
  }

  private async writeBlob(bytes: Buffer): Promise<string> {
    const name = randomUUID();
    const tmpPath = this.blobPath(`${name}.tmp`);
    try {
      await fs.writeFile(tmpPath, bytes, { flag: 'wx' });
      await fs.rename(tmpPath, this.blobPath(name));
    } catch (e) {
      await fs.unlink(tmpPath).catch(() => undefined);
      throw e;
    }
    return name;
  }

  private async unlinkBlob(name: string): Promise<void> {
    // The row no longer points at it; if the unlink fails the file is only garbage, and the write already succeeded.
    await fs.unlink(this.blobPath(name)).catch(() => undefined);
  }

  private blobPath(name: string): string {
    if (!this.blobDir) throw new ObjectStoreError(`Object body ${name} is a blob, but no blobDir is configured`);
    return path.join(this.blobDir, name);
  }

}

class EmbeddedBucket implements ObjectStore {
  constructor(
    private readonly storage: EmbeddedObjectStorage,
    private readonly namespaceName: string,
    private readonly bucketName: string,
  ) {}

  async get(key: string): Promise<StoredObject | undefined> {
    return this.storage.get(this.namespaceName, this.bucketName, key);
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    const info = await this.storage.head(this.namespaceName, this.bucketName, key);
    return info && { key, etag: info.etag, size: info.size, metadata: info.metadata, timeModified: info.timeModified };
  }

  async put(key: string, body: Buffer | string, options?: PutOptions): Promise<{ etag: string }> {
    return this.storage.put(this.namespaceName, this.bucketName, key, body, options);
  }

  async delete(key: string, options?: { ifMatch?: string }): Promise<boolean> {
    return this.storage.delete(this.namespaceName, this.bucketName, key, options);
  }

  async list(options: ListOptions): Promise<ListResult> {
    return this.storage.list(this.namespaceName, this.bucketName, options);
  }
}

function objectInfo(key: string, row: ObjectRow): ObjectInfo {
  return {
    key,
    etag: row.etag,
    size: row.size,
    metadata: JSON.parse(row.metadata) as Record<string, string>,
    timeModified: new Date(row.time_modified_ms).toISOString(),
  };
}

function streamedInfo(key: string, row: ObjectRow): StreamedObjectInfo {
  const info: StreamedObjectInfo = { ...objectInfo(key, row), md5Base64: row.md5_base64 };
  if (row.content_type !== null) info.contentType = row.content_type;
  return info;
}

function translateBusy<T>(run: () => T): T {
  try {
    return run();
  } catch (e) {
    throw unavailableIfBusy(e);
  }
}

/** SQLite giving up on another connection's lock, as the port's error; any other error as it is. */
function unavailableIfBusy(e: unknown): unknown {
  return isBusyError(e) ? new ObjectStoreUnavailableError('The object database is busy', { cause: e }) : e;
}

function isNotFound(e: unknown): boolean {
  return (e as { code?: unknown } | null)?.code === 'ENOENT';
}
