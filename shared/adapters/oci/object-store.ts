import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import * as common from 'oci-common';
import { ObjectStorageClient } from 'oci-objectstorage';
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
import type { AuthProvider } from './auth';
import { regionOf } from './auth';
import { classifySdkFailure, describeFailure, isTransient, queryValue } from './sdk-errors';

/** OCI's own maximum page size for ListObjects. */
export const MAX_LIST_LIMIT = 1000;
const LIST_FIELDS = 'name,etag,size,timeModified';
const META_PREFIX = 'opc-meta-';

export interface OciObjectStoreOptions {
  client: ObjectStorageClient;
  namespaceName: string;
  bucketName: string;
}

export interface OciObjectStoreConfig {
  /** e.g. the platform's `http://127.0.0.1:PORT`; defaults to the region's Object Storage endpoint. */
  endpoint?: string;
  region?: string;
  authProvider: AuthProvider;
  namespaceName: string;
  bucketName: string;
  /** Client-wide retries; without it the SDK default applies (or none under `OCI_SDK_DEFAULT_RETRY_ENABLED=false`). */
  retry?: common.RetryConfiguration;
}

export interface StreamedObject {
  /** `size` is 0 when the server sent no content-length (a chunked body). */
  info: ObjectInfo;
  /** The body as it arrives; the caller must consume or destroy it. */
  body: Readable;
}

type SdkBody = Readable | WebReadableStream | ReadableStream | null | undefined;

/**
 * `ObjectStore` on OCI Object Storage (or anything speaking its REST API, such as the platform's endpoint).
 *
 * A 412 after a retried PUT may be our own first attempt having landed: the SDK retries string and Buffer bodies on
 * 5xx and network errors, so the attempt that "lost" can be racing the one that won. `put` therefore answers a 412 by
 * re-reading the object; when its body and metadata are exactly what we wrote, it returns the stored ETag as our
 * success. Identical content written by someone else is indistinguishable and is also reported as success, which is
 * harmless because the stored state is the one the caller asked for.
 */
export class OciObjectStore implements ObjectStore {
  private readonly client: ObjectStorageClient;
  private readonly namespaceName: string;
  private readonly bucketName: string;

  constructor(options: OciObjectStoreOptions) {
    this.client = options.client;
    this.namespaceName = options.namespaceName;
    this.bucketName = options.bucketName;
  }

  static create(config: OciObjectStoreConfig): OciObjectStore {
    const client = new ObjectStorageClient(
      { authenticationDetailsProvider: config.authProvider },
      config.retry === undefined ? undefined : { retryConfiguration: config.retry },
    );
    if (config.region !== undefined) client.region = regionOf(config.region);
    if (config.endpoint !== undefined) client.endpoint = config.endpoint.replace(/\/+$/, '');
    return new OciObjectStore({ client, namespaceName: config.namespaceName, bucketName: config.bucketName });
  }

  async get(key: string): Promise<StoredObject | undefined> {
    const found = await this.getStream(key);
    if (found === undefined) return undefined;
    const body = await readAll(found.body).catch((err: unknown) => {
      throw new ObjectStoreUnavailableError(`Object Storage ${key}: the body was cut off`, { cause: err });
    });
    // A chunked answer has no content-length; the body is the authority.
    return { ...found.info, size: body.length, body };
  }

  /**
   * `missingIsError`: a 404 throws (`ObjectStoreError`, the SDK's error as its cause) instead of answering "absent", for
   * callers that must tell a missing object (ObjectNotFound) from a missing or foreign bucket (BucketNotFound).
   */
  async getStream(key: string, options: { missingIsError?: boolean } = {}): Promise<StreamedObject | undefined> {
    const get = () => this.client.getObject({ ...this.location(key) });
    const response = options.missingIsError === true ? await this.call(key, get) : await this.call(key, get, { absentOn404: true });
    if (response === undefined) return undefined;
    return { info: toObjectInfo(key, response), body: toNodeReadable(response.value as SdkBody) };
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    const response = await this.call(key, () => this.client.headObject({ ...this.location(key) }), { absentOn404: true });
    if (response === undefined) return undefined;
    return toObjectInfo(key, response);
  }

  async put(key: string, body: Buffer | string, options: PutOptions = {}): Promise<{ etag: string }> {
    const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
    try {
      return await this.putBody(key, bytes, bytes.length, options);
    } catch (err) {
      if (!(err instanceof PreconditionFailedError)) throw err;
      const etag = await this.etagIfStoredAsWritten(key, bytes, options.metadata ?? {});
      if (etag === undefined) throw err;
      return { etag };
    }
  }

  /**
   * Streams `body` without buffering it. Stream bodies are never retried by the SDK, so a 412 here is always a real
   * conflict.
   */
  async putStream(key: string, body: Readable, contentLength: number, options: PutOptions = {}): Promise<{ etag: string }> {
    return this.putBody(key, body, contentLength, options);
  }

  async delete(key: string, options: { ifMatch?: string } = {}): Promise<boolean> {
    const deleted = await this.call(
      key,
      () => this.client.deleteObject({ ...this.location(key), ifMatch: options.ifMatch }),
      { absentOn404: true, condition: 'ifMatch' },
    );
    return deleted !== undefined;
  }

  async list(options: ListOptions): Promise<ListResult> {
    const response = await this.call(options.prefix ?? '', () =>
      this.client.listObjects({
        namespaceName: this.namespaceName,
        bucketName: this.bucketName,
        prefix: queryValue(options.prefix),
        start: queryValue(options.start),
        end: queryValue(options.end),
        limit: Math.max(1, Math.min(Math.floor(options.limit), MAX_LIST_LIMIT)),
        fields: LIST_FIELDS,
      }),
    );
    const { objects, nextStartWith } = response.listObjects;
    return {
      objects: objects.map((o) => ({
        key: o.name,
        etag: o.etag ?? '',
        size: o.size ?? 0,
        timeModified: toIsoString(o.timeModified),
      })),
      ...(nextStartWith ? { nextStartWith } : {}),
    };
  }

  private async putBody(
    key: string,
    body: Buffer | Readable,
    contentLength: number,
    options: PutOptions,
  ): Promise<{ etag: string }> {
    const response = await this.call(
      key,
      () =>
        this.client.putObject({
          ...this.location(key),
          putObjectBody: body,
          contentLength,
          ifMatch: options.ifMatch,
          ifNoneMatch: options.ifNoneMatch,
          contentType: options.contentType,
          opcMeta: options.metadata,
        }),
      { condition: options.ifNoneMatch === '*' ? 'ifNoneMatch' : 'ifMatch' },
    );
    return { etag: response.eTag };
  }

  private async etagIfStoredAsWritten(
    key: string,
    body: Buffer,
    metadata: Record<string, string>,
  ): Promise<string | undefined> {
    const stored = await this.get(key);
    if (stored === undefined || !stored.body.equals(body)) return undefined;
    return sameMetadata(stored.metadata, metadata) ? stored.etag : undefined;
  }

  private location(key: string): { namespaceName: string; bucketName: string; objectName: string } {
    return { namespaceName: this.namespaceName, bucketName: this.bucketName, objectName: key };
  }

  /** Runs one SDK call and translates its failure into the port's errors. */
  private call<T>(
    key: string,
    operation: () => Promise<T>,
    handling: { absentOn404: true; condition?: 'ifMatch' },
  ): Promise<T | undefined>;
  private call<T>(
    key: string,
    operation: () => Promise<T>,
    handling?: { condition?: 'ifMatch' | 'ifNoneMatch' },
  ): Promise<T>;
  private async call<T>(
    key: string,
    operation: () => Promise<T>,
    handling: { absentOn404?: boolean; condition?: 'ifMatch' | 'ifNoneMatch' } = {},
  ): Promise<T | undefined> {
    try {
      return await operation();
    } catch (err) {
      const failure = classifySdkFailure(err);
      if (failure === undefined) throw err;
      if (failure.kind === 'service' && failure.statusCode === 404 && handling.absentOn404) return undefined;
      if (failure.kind === 'service' && failure.statusCode === 412 && handling.condition) {
        throw new PreconditionFailedError(key, handling.condition, { cause: err });
      }
      const message = `Object Storage ${key}: ${describeFailure(failure)}`;
      if (isTransient(failure)) throw new ObjectStoreUnavailableError(message, { cause: err });
      throw new ObjectStoreError(message, { cause: err });
    }
  }
}

/** What GetObject and HeadObject answers share. */
interface ObjectHeaders {
  eTag: string;
  contentLength?: number;
  lastModified?: Date;
  opcMeta?: Record<string, string>;
}

function toObjectInfo(key: string, headers: ObjectHeaders): ObjectInfo {
  return {
    key,
    etag: headers.eTag,
    size: headers.contentLength ?? 0,
    metadata: stripMetaPrefix(headers.opcMeta),
    timeModified: fromSdkHeaderDate(headers.lastModified),
  };
}

function stripMetaPrefix(opcMeta: Record<string, string> | undefined): Record<string, string> {
  const metadata: Record<string, string> = {};
  for (const [name, value] of Object.entries(opcMeta ?? {})) {
    metadata[name.startsWith(META_PREFIX) ? name.slice(META_PREFIX.length) : name] = value;
  }
  return metadata;
}

/** Header names come back lower-cased, so a written `State` is read as `state`. */
function sameMetadata(stored: Record<string, string>, written: Record<string, string>): boolean {
  const normalised = Object.entries(written).map(([name, value]) => [name.toLowerCase(), value] as const);
  return (
    normalised.length === Object.keys(stored).length && normalised.every(([name, value]) => stored[name] === value)
  );
}

function toNodeReadable(body: SdkBody): Readable {
  if (body === null || body === undefined) return Readable.from([]);
  if (body instanceof Readable) return body;
  return Readable.fromWeb(body as WebReadableStream);
}

async function readAll(body: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks);
}

function toIsoString(value: Date | string | undefined): string {
  if (value === undefined) return '';
  return value instanceof Date ? value.toISOString() : value;
}

/**
 * oci-common 2.139.1 turns date headers (`last-modified`) into `YYYY-MM-DDTH:mm:ssZ` built from the *local* time
 * fields (hours unpadded, yet marked `Z`). Reading the fields back as local time recovers the real instant.
 */
export function fromSdkHeaderDate(value: unknown): string {
  if (value instanceof Date) return value.toISOString();
  if (typeof value !== 'string') return '';
  const match = /^(\d{4})-(\d{2})-(\d{2})T(\d{1,2}):(\d{2}):(\d{2})Z$/.exec(value);
  if (match === null) return value;
  const [year, month, day, hours, minutes, seconds] = match.slice(1).map(Number) as [number, number, number, number, number, number];
  return new Date(year, month - 1, day, hours, minutes, seconds).toISOString();
}
