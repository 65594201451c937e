/**
 * Bucket and pre-authenticated request (PAR) records of the platform's Object Storage endpoint, kept as JSON documents
 * in the platform's internal bucket (no schema of their own):
 *
 *   buckets/<namespace>/<bucket>.json          one per bucket; its document ETag is the bucket's `etag`
 *   pars/<namespace>/<bucket>/<parId>.json     one per PAR; `parId` is the SHA-256 of the PAR's secret token
 *
 * Objects themselves live in the embedded store under (namespace, bucket); a bucket record only says the bucket
 * exists, who may use it (its compartment) and what OCI reports about it.
 */
import { createHash } from 'node:crypto';
import { createDoc, readDoc, type Versioned } from '../shared/app/documents';
import type { ObjectStore } from '../shared/ports/object-store';

/** The internal bucket that holds the platform's own records; never served by the endpoint. */
export const PLATFORM_META_NAMESPACE = '_platform';
export const PLATFORM_META_BUCKET = 'runcommand-platform';

export interface BucketRecord {
  namespace: string;
  name: string;
  id: string;
  compartmentId: string;
  /** The user that created it (OCI's `createdBy`). */
  createdBy: string;
  timeCreated: string;
  metadata: Record<string, string>;
  publicAccessType: string;
  storageTier: string;
  objectEventsEnabled: boolean;
  freeformTags: Record<string, string>;
  definedTags: Record<string, Record<string, unknown>>;
  /** Only the service principal may see or use it: the service's own state and keys live there. */
  serviceOnly: boolean;
}

export const PAR_ACCESS_TYPES = [
  'ObjectRead',
  'ObjectWrite',
  'ObjectReadWrite',
  'AnyObjectRead',
  'AnyObjectWrite',
  'AnyObjectReadWrite',
] as const;
export type ParAccessType = (typeof PAR_ACCESS_TYPES)[number];

export interface ParRecord {
  id: string;
  name: string;
  namespace: string;
  bucketName: string;
  /** Absent for the AnyObject* types. */
  objectName?: string;
  accessType: ParAccessType;
  bucketListingAction: 'Deny' | 'ListObjects';
  timeCreated: string;
  timeExpires: string;
  /** A PAR stops working when its creator loses access to the bucket, as on OCI. */
  createdBy: { tenancyId: string; userId: string };
}

/** One page of buckets; `next` is the opaque token of the following page. */
export interface BucketPage {
  buckets: Array<Versioned<BucketRecord>>;
  next?: string;
}

const LIST_BATCH = 1000;
/** Bounds one ListBuckets / ListPreauthenticatedRequests scan, whatever is filtered out. */
const MAX_SCANNED_PER_PAGE = 20_000;

const keys = {
  bucketPrefix: (namespace: string) => `buckets/${namespace}/`,
  bucket: (namespace: string, name: string) => `buckets/${namespace}/${name}.json`,
  parPrefix: (namespace: string, bucketName: string) => `pars/${namespace}/${bucketName}/`,
  par: (namespace: string, bucketName: string, parId: string) => `pars/${namespace}/${bucketName}/${parId}.json`,
};

/** The id under which a PAR is kept and managed; the token itself is never stored. */
export function parIdOf(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('base64url');
}

export class BucketRegistry {
  constructor(private readonly meta: ObjectStore) {}

  getBucket(namespace: string, name: string): Promise<Versioned<BucketRecord> | undefined> {
    return readDoc<BucketRecord>(this.meta, keys.bucket(namespace, name));
  }

  /** Resolves undefined when a bucket of that name already exists in the namespace. */
  createBucket(record: BucketRecord): Promise<Versioned<BucketRecord> | undefined> {
    return createDoc(this.meta, keys.bucket(record.namespace, record.name), record);
  }

  /** Resolves false when there was no such bucket; throws `PreconditionFailedError` on a stale `ifMatch`. */
  deleteBucket(namespace: string, name: string, ifMatch?: string): Promise<boolean> {
    return this.meta.delete(keys.bucket(namespace, name), ifMatch === undefined ? {} : { ifMatch });
  }

  /** Buckets of one namespace that `include` accepts, in name order; `page` is a previous answer's `next`. */
  async listBuckets(
    namespace: string,
    options: { limit: number; page?: string; include: (b: BucketRecord) => boolean },
  ): Promise<BucketPage> {
    const found = await this.scan(keys.bucketPrefix(namespace), options, (doc: BucketRecord) => options.include(doc));
    return { buckets: found.items, ...(found.next === undefined ? {} : { next: found.next }) };
  }

  async createPar(record: ParRecord): Promise<void> {
    // ifNoneMatch: a token collision (practically impossible) must never repoint someone else's PAR.
    await this.meta.put(keys.par(record.namespace, record.bucketName, record.id), JSON.stringify(record), {
      ifNoneMatch: '*',
      contentType: 'application/json',
    });
  }

  async getPar(namespace: string, bucketName: string, parId: string): Promise<ParRecord | undefined> {
    return (await readDoc<ParRecord>(this.meta, keys.par(namespace, bucketName, parId)))?.doc;
  }

  deletePar(namespace: string, bucketName: string, parId: string): Promise<boolean> {
    return this.meta.delete(keys.par(namespace, bucketName, parId));
  }

  async listPars(
    namespace: string,
    bucketName: string,
    options: { limit: number; page?: string; objectNamePrefix?: string },
  ): Promise<{ pars: ParRecord[]; next?: string }> {
    const namePrefix = options.objectNamePrefix ?? '';
    const found = await this.scan(keys.parPrefix(namespace, bucketName), options, (doc: ParRecord) =>
      (doc.objectName ?? '').startsWith(namePrefix),
    );
    return { pars: found.items.map((v) => v.doc), ...(found.next === undefined ? {} : { next: found.next }) };
  }

  /** Removes every PAR of a bucket (its deletion); bounded per call, so a caller loops while it returns true. */
  async deleteParsOf(namespace: string, bucketName: string): Promise<boolean> {
    const page = await this.meta.list({ prefix: keys.parPrefix(namespace, bucketName), limit: LIST_BATCH });
    for (const o of page.objects) await this.meta.delete(o.key);
    return page.nextStartWith !== undefined;
  }

  /** Documents under `prefix` that `include` accepts; `next` (a key without the prefix) resumes after them. */
  private async scan<T>(
    prefix: string,
    options: { limit: number; page?: string },
    include: (doc: T) => boolean,
  ): Promise<{ items: Array<Versioned<T>>; next?: string }> {
    const items: Array<Versioned<T>> = [];
    let start = options.page === undefined ? undefined : prefix + options.page;
    let scanned = 0;
    for (;;) {
      const page = await this.meta.list({ prefix, ...(start === undefined ? {} : { start }), limit: LIST_BATCH });
      for (const o of page.objects) {
        scanned++;
        const found = await readDoc<T>(this.meta, o.key);
        if (!found || !include(found.doc)) continue;
        if (items.length === options.limit) return { items, next: o.key.slice(prefix.length) };
        items.push(found);
      }
      start = page.nextStartWith;
      if (start === undefined) return { items };
      if (scanned >= MAX_SCANNED_PER_PAGE) return { items, next: start.slice(prefix.length) };
    }
  }
}

/** Creates a bucket record unless one exists (the platform's own buckets at every start). */
export async function ensureBucket(registry: BucketRegistry, record: BucketRecord): Promise<Versioned<BucketRecord>> {
  for (let attempt = 0; attempt < 3; attempt++) {
    const existing = await registry.getBucket(record.namespace, record.name);
    if (existing) return existing;
    const created = await registry.createBucket(record);
    if (created) return created;
  }
  throw new Error(`Cannot create bucket ${record.namespace}/${record.name}`);
}
