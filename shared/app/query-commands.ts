/**
 * Reads: get and list commands and executions. Lists walk the sorted index objects with keyset pagination:
 * the page token carries the last index key returned, so pages stay stable while commands are created.
 */
import { ServiceError, notAuthorizedOrNotFound } from '../domain/errors';
import type { CommandRecord, ExecutionRecord, LifecycleState } from '../domain/model';
import { decodePageToken, encodePageToken } from '../domain/pagination';
import type { Principal } from '../ports/identity';
import { canUseCompartment } from '../ports/identity';
import type { ObjectStore } from '../ports/object-store';
import type { ServiceDeps } from './deps';
import { readDoc, type Versioned } from './documents';
import {
  commandIdOfIndexKey,
  commandIndexPrefix,
  commandKey,
  executionIndexPrefix,
  executionKey,
  type SortBy,
  type SortOrder,
} from './layout';

export async function getCommand(deps: ServiceDeps, principal: Principal, commandId: string): Promise<Versioned<CommandRecord>> {
  const found = await readDoc<CommandRecord>(deps.state, commandKey(commandId));
  if (!found || !(await canUseCompartment(deps.identity, principal, found.doc.compartmentId))) throw notAuthorizedOrNotFound();
  return found;
}

export async function getExecution(
  deps: ServiceDeps,
  principal: Principal,
  commandId: string,
  instanceId: string,
): Promise<Versioned<ExecutionRecord>> {
  const found = await readDoc<ExecutionRecord>(deps.state, executionKey(commandId, instanceId));
  if (!found || !(await canUseCompartment(deps.identity, principal, found.doc.compartmentId))) throw notAuthorizedOrNotFound();
  return found;
}

export interface ListQuery {
  compartmentId: string;
  limit: number;
  page?: string;
  sortBy: SortBy;
  sortOrder: SortOrder;
}

export interface Page<T> {
  items: T[];
  nextPage?: string;
}

/** How many index entries one list call may read while filtering, so a sparse filter cannot scan without bound. */
const MAX_SCANNED_PER_PAGE = 2000;

interface ScanOptions<T> {
  store: ObjectStore;
  prefix: string;
  limit: number;
  page: string | undefined;
  load: (commandId: string) => Promise<T | undefined>;
  keep?: (item: T) => boolean;
}

async function scanIndex<T>(o: ScanOptions<T>): Promise<Page<T>> {
  let start = o.prefix;
  // Listing bounds are inclusive: the previous page's last key comes back first and is skipped.
  let skipKey: string | undefined;
  if (o.page) {
    skipKey = String(decodePageToken(o.page, ['k']).k);
    if (!skipKey.startsWith(o.prefix)) {
      throw new ServiceError('InvalidParameter', 'The page token does not belong to this list (page).');
    }
    start = skipKey;
  }
  const items: T[] = [];
  let scanned = 0;
  let lastKey: string | undefined;
  for (;;) {
    const want = Math.min(o.limit - items.length + 2, 1000);
    const listed = await o.store.list({ prefix: o.prefix, start, limit: want });
    const keys = listed.objects.map((obj) => obj.key).filter((key) => key !== skipKey);
    for (let next = 0; next < keys.length; ) {
      // One more entry exists past the page: the page ends at the previous key.
      if (items.length === o.limit) return { items, nextPage: encodePageToken({ v: 1, k: lastKey ?? (keys[next] as string) }) };
      // Documents only for the entries the page has room for: never the previous page's last nor the one past it.
      const batch = keys.slice(next, next + o.limit - items.length);
      next += batch.length;
      const loaded = await Promise.all(batch.map((key) => o.load(commandIdOfIndexKey(key))));
      for (let i = 0; i < batch.length; i++) {
        const key = batch[i] as string;
        const item = loaded[i];
        scanned++;
        lastKey = key;
        if (item !== undefined && (!o.keep || o.keep(item))) items.push(item);
        if (scanned >= MAX_SCANNED_PER_PAGE && items.length < o.limit) {
          return { items, nextPage: encodePageToken({ v: 1, k: key }) };
        }
      }
    }
    if (!listed.nextStartWith) return { items };
    start = listed.nextStartWith;
  }
}

export async function listCommands(deps: ServiceDeps, principal: Principal, q: ListQuery): Promise<Page<CommandRecord>> {
  if (!(await canUseCompartment(deps.identity, principal, q.compartmentId))) throw notAuthorizedOrNotFound();
  return scanIndex<CommandRecord>({
    store: deps.state,
    prefix: commandIndexPrefix(q.compartmentId, q.sortBy, q.sortOrder),
    limit: q.limit,
    page: q.page,
    load: async (id) => (await readDoc<CommandRecord>(deps.state, commandKey(id)))?.doc,
  });
}

export interface ListExecutionsQuery extends ListQuery {
  instanceId: string;
  lifecycleState?: LifecycleState;
}

export async function listExecutions(
  deps: ServiceDeps,
  principal: Principal,
  q: ListExecutionsQuery,
): Promise<Page<ExecutionRecord>> {
  if (!(await canUseCompartment(deps.identity, principal, q.compartmentId))) throw notAuthorizedOrNotFound();
  return scanIndex<ExecutionRecord>({
    store: deps.state,
    prefix: executionIndexPrefix(q.compartmentId, q.instanceId, q.sortBy, q.sortOrder),
    limit: q.limit,
    page: q.page,
    load: async (id) => (await readDoc<ExecutionRecord>(deps.state, executionKey(id, q.instanceId)))?.doc,
    ...(q.lifecycleState ? { keep: (e: ExecutionRecord) => e.lifecycleState === q.lifecycleState } : {}),
  });
}
