/**
 * JSON documents in the state bucket, read and written with ETag compare-and-swap. Every state change is a pure
 * function applied under CAS and retried on a lost race, so concurrent callers (cancel vs. finish, duplicate
 * callbacks) never overwrite each other.
 */
import type { ObjectStore } from '../ports/object-store';
import { PreconditionFailedError } from '../ports/object-store';
import { ServiceError } from '../domain/errors';

export interface Versioned<T> {
  doc: T;
  etag: string;
}

export async function readDoc<T>(store: ObjectStore, key: string): Promise<Versioned<T> | undefined> {
  const obj = await store.get(key);
  if (!obj) return undefined;
  return { doc: JSON.parse(obj.body.toString('utf8')) as T, etag: obj.etag };
}

/** Creates the document; resolves undefined (instead of throwing) when it already exists. */
export async function createDoc<T>(store: ObjectStore, key: string, doc: T): Promise<Versioned<T> | undefined> {
  try {
    // ifNoneMatch: a second writer of the same key (a retried create) must not overwrite the first.
    const { etag } = await store.put(key, JSON.stringify(doc), { ifNoneMatch: '*', contentType: 'application/json' });
    return { doc, etag };
  } catch (e) {
    if (e instanceof PreconditionFailedError) return undefined;
    throw e;
  }
}

export type Mutation<T, R> = (current: T) => { next: T; changed: boolean; result: R };

const MAX_CAS_ATTEMPTS = 20;

/**
 * Read, apply `mutate`, write back if it changed, with the read ETag as the write condition; on a lost race,
 * re-read and apply again. Resolves undefined when the document does not exist. `known`: a copy the caller has just
 * read, used for the first attempt instead of reading again (a stale one only costs the retry).
 */
export async function updateDoc<T, R>(
  store: ObjectStore,
  key: string,
  mutate: Mutation<T, R>,
  known?: Versioned<T>,
): Promise<{ result: R; current: Versioned<T>; changed: boolean } | undefined> {
  for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
    const current = attempt === 0 && known !== undefined ? known : await readDoc<T>(store, key);
    if (!current) return undefined;
    const { next, changed, result } = mutate(current.doc);
    if (!changed) return { result, current, changed: false };
    try {
      // ifMatch: someone may have changed the document since we read it; then we re-read and re-apply.
      const { etag } = await store.put(key, JSON.stringify(next), { ifMatch: current.etag, contentType: 'application/json' });
      return { result, current: { doc: next, etag }, changed: true };
    } catch (e) {
      if (!(e instanceof PreconditionFailedError)) throw e;
      await new Promise((r) => setTimeout(r, Math.min(2 ** attempt, 50) * Math.random()));
    }
  }
  throw new ServiceError('Conflict', `Too many concurrent updates to ${key}; try again.`);
}
