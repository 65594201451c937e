/**
 * Object operations of the platform's Object Storage endpoint (PutObject, GetObject, HeadObject, DeleteObject,
 * ListObjects) on a bucket the caller was already authorized for, signed or through a pre-authenticated request.
 * Bodies stream between the socket and the embedded store; none is held in memory whole.
 */
import { createHash } from 'node:crypto';
import type http from 'node:http';
import { Readable, pipeline } from 'node:stream';
import type { EmbeddedObjectStorage, StreamedObjectInfo } from '../shared/adapters/embedded/object-storage';
import { compareKeys } from '../shared/adapters/embedded/object-keys';
import { sendJson } from '../shared/api/http';
import { ServiceError } from '../shared/domain/errors';
import type { Clock } from '../shared/ports/clock';
import { PreconditionFailedError } from '../shared/ports/object-store';
import type { BucketRecord } from './buckets';
import { queryLimit } from './endpoint-support';

/** Object Storage's own error codes (BucketNotFound, IfMatchFailed...), which the API's `ServiceError` does not name. */
export class ObjectStorageError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ObjectStorageError';
  }
}

export function bucketNotFound(namespace: string, bucketName: string): ObjectStorageError {
  return new ObjectStorageError(
    404,
    'BucketNotFound',
    `Either the bucket named '${bucketName}' does not exist in the namespace '${namespace}' or you are not authorized to access it`,
  );
}

function objectNotFound(bucketName: string, objectName: string): ObjectStorageError {
  return new ObjectStorageError(404, 'ObjectNotFound', `The object '${objectName}' was not found in the bucket '${bucketName}'`);
}

function preconditionFailed(condition: 'ifMatch' | 'ifNoneMatch'): ObjectStorageError {
  return condition === 'ifMatch'
    ? new ObjectStorageError(412, 'IfMatchFailed', 'The If-Match header does not match the current entity tag.')
    : new ObjectStorageError(412, 'IfNoneMatchFailed', "The If-None-Match header is '*' but the object already exists.");
}

export function invalidParameter(message: string): ObjectStorageError {
  return new ObjectStorageError(400, 'InvalidParameter', message);
}

export function sendStorageError(res: http.ServerResponse, e: ObjectStorageError): void {
  sendJson(res, e.status, { code: e.code, message: e.message });
}

/** Where an object lives; the caller has authorized the operation on it. */
export interface ObjectLocation {
  namespace: string;
  bucketName: string;
}

/** One request on one object of a bucket the caller may use. */
export interface ObjectCall {
  at: ObjectLocation;
  objectName: string;
  req: http.IncomingMessage;
  res: http.ServerResponse;
}

/** A PUT, with the bucket as the caller read it to authorize the write (passed on to `onObjectStored`). */
export type PutObjectCall = ObjectCall & { bucket: BucketRecord };

/** What a PUT tells `onObjectStored` about the object it stored. */
export interface StoredObjectNotice {
  namespace: string;
  bucketName: string;
  objectName: string;
  etag: string;
  /** The bucket as the PUT read it to authorize the write. */
  bucket: BucketRecord;
}

export interface ObjectOperationsDeps {
  storage: EmbeddedObjectStorage;
  clock: Clock;
  maxObjectBytes: number;
  /**
   * Called after a PUT stored the object and before it answers (the platform enqueues the object event there). If it
   * fails, so does the PUT: the client retries, and the retry's new version gets its own event.
   */
  onObjectStored?: (stored: StoredObjectNotice) => Promise<void>;
}

const META_PREFIX = 'opc-meta-';
const DEFAULT_CONTENT_TYPE = 'application/octet-stream';
const MAX_OBJECT_NAME_BYTES = 1024;
const DEFAULT_LIST_LIMIT = 1000;
const MAX_LIST_LIMIT = 1000;
const LIST_FIELDS = new Set(['name', 'size', 'etag', 'timeCreated', 'md5', 'timeModified', 'storageTier', 'archivalState']);

function header(req: http.IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

export function checkObjectName(name: string): string {
  if (name === '' || Buffer.byteLength(name, 'utf8') > MAX_OBJECT_NAME_BYTES || name.includes('\u0000')) {
    throw invalidParameter(`The object name must be 1 to ${MAX_OBJECT_NAME_BYTES} bytes without NUL characters.`);
  }
  return name;
}

function objectHeaders(info: StreamedObjectInfo): http.OutgoingHttpHeaders {
  const out: http.OutgoingHttpHeaders = {
    etag: info.etag,
    'content-length': info.size,
    'content-type': info.contentType ?? DEFAULT_CONTENT_TYPE,
    'last-modified': new Date(info.timeModified).toUTCString(),
    'storage-tier': 'Standard',
  };
  if (info.md5Base64 !== undefined) out['content-md5'] = info.md5Base64;
  for (const [name, value] of Object.entries(info.metadata)) out[`${META_PREFIX}${name}`] = value;
  return out;
}

/** An answer to GET/HEAD's own conditions: undefined to go on, else the status to answer with. */
function readCondition(req: http.IncomingMessage, etag: string): 304 | 412 | undefined {
  const ifMatch = header(req, 'if-match');
  if (ifMatch !== undefined && ifMatch !== '*' && ifMatch !== etag) return 412;
  const ifNoneMatch = header(req, 'if-none-match');
  if (ifNoneMatch !== undefined && (ifNoneMatch === '*' || ifNoneMatch === etag)) return 304;
  return undefined;
}

function answerCondition(res: http.ServerResponse, status: 304 | 412, etag: string): void {
  if (status === 412) throw preconditionFailed('ifMatch');
  res.writeHead(304, { etag });
  res.end();
}

export async function getObject(deps: ObjectOperationsDeps, { at, objectName, req, res }: ObjectCall): Promise<void> {
  const found = await deps.storage.getStream(at.namespace, at.bucketName, objectName);
  if (!found) throw objectNotFound(at.bucketName, objectName);
  const body = found.body as Readable;
  const condition = readCondition(req, found.info.etag);
  if (condition !== undefined) {
    body.destroy();
    answerCondition(res, condition, found.info.etag);
    return;
  }
  res.writeHead(200, objectHeaders(found.info));
  // A client that goes away mid-download ends the pipeline, which closes the blob file.
  pipeline(body, res, () => undefined);
}

export async function headObject(deps: ObjectOperationsDeps, { at, objectName, req, res }: ObjectCall): Promise<void> {
  const info = await deps.storage.head(at.namespace, at.bucketName, objectName);
  if (!info) throw objectNotFound(at.bucketName, objectName);
  const condition = readCondition(req, info.etag);
  if (condition !== undefined) {
    answerCondition(res, condition, info.etag);
    return;
  }
  res.writeHead(200, objectHeaders(info));
  res.end();
}

export async function deleteObject(deps: ObjectOperationsDeps, { at, objectName, req, res }: ObjectCall): Promise<void> {
  const ifMatch = header(req, 'if-match');
  let deleted: boolean;
  try {
    deleted = await deps.storage.delete(at.namespace, at.bucketName, objectName, ifMatch === undefined ? {} : { ifMatch });
  } catch (e) {
    if (e instanceof PreconditionFailedError) throw preconditionFailed('ifMatch');
    throw e;
  }
  if (!deleted) throw objectNotFound(at.bucketName, objectName);
  res.writeHead(204);
  res.end();
}

/**
 * Stores the request body as the object. `signedSha256Base64` is the `x-content-sha256` the caller signed, if any:
 * the SDK signs object PUTs without the body, but a body it did sign must match, checked as it streams in.
 */
export async function putObject(
  deps: ObjectOperationsDeps,
  { at, objectName, req, res, bucket }: PutObjectCall,
  signedSha256Base64?: string,
): Promise<void> {
  checkObjectName(objectName);
  const declared = header(req, 'content-length');
  if (declared !== undefined && !/^\d+$/.test(declared)) throw invalidParameter('content-length must be a number.');
  if (declared !== undefined && Number(declared) > deps.maxObjectBytes) throw tooLarge(deps.maxObjectBytes);
  const ifMatch = header(req, 'if-match');
  const ifNoneMatch = header(req, 'if-none-match');
  if (ifNoneMatch !== undefined && ifNoneMatch !== '*') throw invalidParameter("if-none-match on PUT must be '*'.");
  const contentMd5 = header(req, 'content-md5');
  const metadata: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (name.startsWith(META_PREFIX) && value !== undefined) metadata[name.slice(META_PREFIX.length)] = Array.isArray(value) ? value.join(', ') : value;
  }

  const guarded = guardBody(req, {
    maxBytes: deps.maxObjectBytes,
    ...(signedSha256Base64 !== undefined ? { sha256Base64: signedSha256Base64 } : {}),
    ...(contentMd5 !== undefined ? { md5Base64: contentMd5 } : {}),
  });
  try {
    const stored = await deps.storage.putStream(at.namespace, at.bucketName, objectName, guarded.body, {
      ...(ifMatch !== undefined ? { ifMatch } : {}),
      ...(ifNoneMatch === '*' ? { ifNoneMatch } : {}),
      metadata,
      contentType: header(req, 'content-type') ?? DEFAULT_CONTENT_TYPE,
      ...(declared !== undefined ? { contentLength: Number(declared) } : {}),
    });
    await deps.onObjectStored?.({ namespace: at.namespace, bucketName: at.bucketName, objectName, etag: stored.etag, bucket });
    res.writeHead(200, {
      etag: stored.etag,
      'opc-content-md5': stored.md5Base64,
      'last-modified': new Date(deps.clock.nowMs()).toUTCString(),
      'content-length': 0,
    });
    res.end();
  } catch (e) {
    if (e instanceof PreconditionFailedError) throw preconditionFailed(e.condition);
    throw e;
  } finally {
    // Whatever is left of the body (a refused precondition reads none of it) is drained, not stored.
    guarded.abandon();
  }
}

function tooLarge(maxBytes: number): ObjectStorageError {
  return new ObjectStorageError(413, 'PayloadTooLarge', `The object is larger than ${maxBytes} bytes.`);
}

/**
 * The request body as a stream that fails (and so stores nothing) when it passes `maxBytes` or when its SHA-256 or
 * MD5 is not the one the client declared. The request is only read once the store reads, so a write refused before
 * that (a failed precondition) leaves it unread; `abandon` then drains it so the connection stays usable.
 */
function guardBody(
  req: http.IncomingMessage,
  expect: { maxBytes: number; sha256Base64?: string; md5Base64?: string },
): { body: Readable; abandon: () => void } {
  const sha256 = expect.sha256Base64 !== undefined ? createHash('sha256') : undefined;
  const md5 = expect.md5Base64 !== undefined ? createHash('md5') : undefined;
  let size = 0;
  let listening = false;
  let finished = false;

  const detach = (): void => {
    req.off('data', onData);
    req.off('end', onEnd);
    req.off('error', onError);
    req.off('close', onClose);
  };
  const fail = (err: Error): void => {
    if (finished) return;
    finished = true;
    detach();
    req.resume();
    body.destroy(err);
  };
  const onData = (chunk: Buffer): void => {
    size += chunk.length;
    if (size > expect.maxBytes) return fail(tooLarge(expect.maxBytes));
    sha256?.update(chunk);
    md5?.update(chunk);
    if (!body.push(chunk)) req.pause();
  };
  const onEnd = (): void => {
    if (sha256 && sha256.digest('base64') !== expect.sha256Base64) {
      return fail(new ServiceError('NotAuthenticated', 'The body does not match the signed x-content-sha256.'));
    }
    if (md5 && md5.digest('base64') !== expect.md5Base64) {
      return fail(invalidParameter('The body does not match its Content-MD5.'));
    }
    finished = true;
    detach();
    body.push(null);
  };
  const onError = (err: Error): void => fail(err);
  const onClose = (): void => {
    if (!req.complete) fail(new Error('The client closed the connection before sending the whole body.'));
  };

  const body = new Readable({
    read() {
      if (listening) {
        req.resume();
        return;
      }
      listening = true;
      req.on('data', onData);
      req.on('end', onEnd);
      req.on('error', onError);
      req.on('close', onClose);
    },
  });
  // The store's reader receives failures through its iteration; this only keeps a late one from being unhandled.
  body.on('error', () => undefined);
  return {
    body,
    abandon: () => {
      if (!finished) {
        finished = true;
        detach();
        body.destroy();
      }
      if (!req.complete) req.resume();
    },
  };
}

function listLimit(raw: string | null): number {
  return queryLimit(raw, DEFAULT_LIST_LIMIT, MAX_LIST_LIMIT, invalidParameter);
}

function listFields(raw: string | null): Set<string> {
  const fields = new Set(['name']);
  for (const field of (raw ?? '').split(',').map((f) => f.trim()).filter((f) => f !== '')) {
    if (!LIST_FIELDS.has(field)) throw invalidParameter(`Unknown field ${field}; fields may be ${[...LIST_FIELDS].join(', ')}.`);
    fields.add(field);
  }
  return fields;
}

/** The smallest key that sorts after every key starting with `prefix`, which ends in the `/` delimiter. */
function afterPrefix(prefix: string): string {
  return `${prefix.slice(0, -1)}0`;
}

/** ListObjects: names only unless `fields` asks for more; `delimiter=/` folds deeper keys into `prefixes`. */
export async function listObjects(
  deps: ObjectOperationsDeps,
  at: ObjectLocation,
  query: URLSearchParams,
  res: http.ServerResponse,
): Promise<void> {
  const limit = listLimit(query.get('limit'));
  const fields = listFields(query.get('fields'));
  const delimiter = query.get('delimiter');
  if (delimiter !== null && delimiter !== '/') throw invalidParameter("The only supported delimiter is '/'.");
  const prefix = query.get('prefix') ?? '';
  const end = query.get('end') ?? undefined;
  const startAfter = query.get('startAfter');
  let start = query.get('start') ?? undefined;
  // startAfter is exclusive; the first key after it is itself followed by a NUL.
  if (startAfter !== null && (start === undefined || compareKeys(`${startAfter}\u0000`, start) > 0)) start = `${startAfter}\u0000`;

  const objects: Array<Record<string, unknown>> = [];
  const prefixes: string[] = [];
  let nextStartWith: string | undefined;
  let cursor = start;
  // Each folded prefix costs one more store query; this bounds them per request.
  const maxQueries = limit + 20;
  for (let queries = 0; nextStartWith === undefined; queries++) {
    if (queries === maxQueries) {
      nextStartWith = cursor;
      break;
    }
    const page = await deps.storage.list(at.namespace, at.bucketName, {
      prefix,
      ...(cursor !== undefined ? { start: cursor } : {}),
      ...(end !== undefined ? { end } : {}),
      limit: MAX_LIST_LIMIT,
    });
    let jumpTo: string | undefined;
    for (const o of page.objects) {
      if (objects.length + prefixes.length === limit) {
        nextStartWith = o.key;
        break;
      }
      const slash = delimiter === null ? -1 : o.key.indexOf('/', prefix.length);
      if (slash >= 0) {
        const folded = o.key.slice(0, slash + 1);
        prefixes.push(folded);
        jumpTo = afterPrefix(folded);
        break;
      }
      objects.push(await listedObject(deps, at, o, fields));
    }
    cursor = jumpTo ?? page.nextStartWith;
    if (cursor === undefined) break;
  }
  sendJson(res, 200, { objects, prefixes, ...(nextStartWith !== undefined ? { nextStartWith } : {}) });
}

async function listedObject(
  deps: ObjectOperationsDeps,
  at: ObjectLocation,
  o: { key: string; etag: string; size: number; timeModified: string },
  fields: Set<string>,
): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = { name: o.key };
  if (fields.has('size')) out.size = o.size;
  if (fields.has('etag')) out.etag = o.etag;
  // Objects are replaced whole, never modified in place, so a version is created when it is modified.
  if (fields.has('timeCreated')) out.timeCreated = o.timeModified;
  if (fields.has('timeModified')) out.timeModified = o.timeModified;
  if (fields.has('storageTier')) out.storageTier = 'Standard';
  if (fields.has('md5')) {
    const info = await deps.storage.head(at.namespace, at.bucketName, o.key);
    if (info?.md5Base64 !== undefined) out.md5 = info.md5Base64;
  }
  return out;
}

/** Whether the store holds any object in the bucket (DeleteBucket refuses a non-empty one). */
export async function bucketHasObjects(storage: EmbeddedObjectStorage, at: ObjectLocation): Promise<boolean> {
  return (await storage.list(at.namespace, at.bucketName, { limit: 1 })).objects.length > 0;
}
