/**
 * A bucket of objects with ETag compare-and-swap, shaped after OCI Object Storage so the same code runs on it:
 * create-only writes (`ifNoneMatch: '*'`), conditional updates (`ifMatch`), metadata, and lexicographic prefix listing.
 */

export interface ObjectInfo {
  key: string;
  etag: string;
  size: number;
  /** `opc-meta-*` values, keys without the prefix. */
  metadata: Record<string, string>;
  timeModified: string;
}

export interface StoredObject extends ObjectInfo {
  body: Buffer;
}

export interface PutOptions {
  /** Write only if the current ETag is this one (guards against lost updates). */
  ifMatch?: string;
  /** `'*'`: write only if the object does not exist (create-only). */
  ifNoneMatch?: '*';
  metadata?: Record<string, string>;
  contentType?: string;
}

export interface ListOptions {
  prefix?: string;
  /** Inclusive lower bound on the key. */
  start?: string;
  /** Exclusive upper bound on the key. */
  end?: string;
  /** At most this many keys (adapters clamp to their own maximum). */
  limit: number;
}

export interface ListedObject {
  key: string;
  etag: string;
  size: number;
  timeModified: string;
}

export interface ListResult {
  objects: ListedObject[];
  /** The key to pass as `start` for the next page; absent on the last page. */
  nextStartWith?: string;
}

export interface ObjectStore {
  get(key: string): Promise<StoredObject | undefined>;
  head(key: string): Promise<ObjectInfo | undefined>;
  /** Throws `PreconditionFailedError` when `ifMatch`/`ifNoneMatch` does not hold. */
  put(key: string, body: Buffer | string, options?: PutOptions): Promise<{ etag: string }>;
  /** Resolves false when there was nothing to delete. Throws `PreconditionFailedError` on an `ifMatch` mismatch. */
  delete(key: string, options?: { ifMatch?: string }): Promise<boolean>;
  list(options: ListOptions): Promise<ListResult>;
}

/** Base class of every error an `ObjectStore` adapter throws on purpose. */
export class ObjectStoreError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ObjectStoreError';
  }
}

/** A conditional write or delete lost: someone else changed (or created) the object first. */
export class PreconditionFailedError extends ObjectStoreError {
  constructor(
    readonly key: string,
    readonly condition: 'ifMatch' | 'ifNoneMatch',
    options?: { cause?: unknown },
  ) {
    super(`Precondition ${condition} failed for ${key}`, options);
    this.name = 'PreconditionFailedError';
  }
}

/** The backend is unavailable or throttling; the caller may retry. */
export class ObjectStoreUnavailableError extends ObjectStoreError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ObjectStoreUnavailableError';
  }
}
