/**
 * An in-memory `ObjectStore` for use-case tests: honours ETags (create-only, compare-and-swap, conditional delete) and
 * lists in the same byte-lexicographic key order as Object Storage.
 */
import { randomUUID } from 'node:crypto';
import { systemClock, type Clock } from '../../ports/clock';
import {
  PreconditionFailedError,
  type ListOptions,
  type ListResult,
  type ObjectInfo,
  type ObjectStore,
  type PutOptions,
  type StoredObject,
} from '../../ports/object-store';
import { clampListLimit, compareKeys, inKeyRange, keyRange } from '../embedded/object-keys';

interface MemoryObject {
  body: Buffer;
  etag: string;
  metadata: Record<string, string>;
  contentType?: string;
  timeModifiedMs: number;
}

export class MemoryObjectStore implements ObjectStore {
  private readonly objects = new Map<string, MemoryObject>();
  private readonly clock: Clock;
  private readonly newEtag: () => string;

  constructor(options: { clock?: Clock; newEtag?: () => string } = {}) {
    this.clock = options.clock ?? systemClock;
    this.newEtag = options.newEtag ?? randomUUID;
  }

  /** How many objects are stored (under `prefix`): for assertions in tests. */
  count(prefix = ''): number {
    return [...this.objects.keys()].filter((key) => key.startsWith(prefix)).length;
  }

  async get(key: string): Promise<StoredObject | undefined> {
    const object = this.objects.get(key);
    return object && { ...info(key, object), body: Buffer.from(object.body) };
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    const object = this.objects.get(key);
    return object && info(key, object);
  }

  async put(key: string, body: Buffer | string, options: PutOptions = {}): Promise<{ etag: string }> {
    const current = this.objects.get(key);
    if (options.ifNoneMatch === '*' && current) throw new PreconditionFailedError(key, 'ifNoneMatch');
    if (options.ifMatch !== undefined && current?.etag !== options.ifMatch) {
      throw new PreconditionFailedError(key, 'ifMatch');
    }
    const etag = this.newEtag();
    const object: MemoryObject = {
      // Copied: a caller that later mutates its buffer must not change the stored object.
      body: typeof body === 'string' ? Buffer.from(body, 'utf8') : Buffer.from(body),
      etag,
      metadata: { ...(options.metadata ?? {}) },
      timeModifiedMs: this.clock.nowMs(),
    };
    if (options.contentType !== undefined) object.contentType = options.contentType;
    this.objects.set(key, object);
    return { etag };
  }

  async delete(key: string, options: { ifMatch?: string } = {}): Promise<boolean> {
    const current = this.objects.get(key);
    if (!current) return false;
    if (options.ifMatch !== undefined && current.etag !== options.ifMatch) {
      throw new PreconditionFailedError(key, 'ifMatch');
    }
    return this.objects.delete(key);
  }

  async list(options: ListOptions): Promise<ListResult> {
    const limit = clampListLimit(options.limit);
    const range = keyRange(options);
    const keys = [...this.objects.keys()].filter((key) => inKeyRange(key, range)).sort(compareKeys);
    const objects = keys.slice(0, limit).map((key) => {
      const { etag, size, timeModified } = info(key, this.objects.get(key) as MemoryObject);
      return { key, etag, size, timeModified };
    });
    const next = keys[limit];
    return next === undefined ? { objects } : { objects, nextStartWith: next };
  }
}

function info(key: string, object: MemoryObject): ObjectInfo {
  return {
    key,
    etag: object.etag,
    size: object.body.length,
    metadata: { ...object.metadata },
    timeModified: new Date(object.timeModifiedMs).toISOString(),
  };
}
