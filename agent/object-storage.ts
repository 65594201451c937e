/**
 * Object Storage as the agent sees it: where a source or output object is (a native object URL, a pre-authenticated
 * request URL, or a namespace/bucket/object tuple on the configured endpoint), and moving bytes to and from it.
 * Native objects are read and written as the instance, signed, through `OciObjectStore` (the same SDK code as against
 * OCI); a PAR is a plain unsigned GET or PUT. Bodies stream: nothing here holds an object in memory.
 */
import { createWriteStream } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { RetryConfiguration } from 'oci-common';
import type { ObjectStorageClient } from 'oci-objectstorage';
import type { OciObjectStore } from '../shared/adapters/oci/object-store';
import type { requestSignerFor } from '../shared/adapters/oci/key-signer';
import type { AuthProvider } from '../shared/adapters/oci/auth';
import { classifySdkFailure, type SdkFailure } from '../shared/adapters/oci/sdk-errors';
import type { CommandOutput, CommandSource } from '../shared/domain/model';
import { NodeHttpClient } from '../shared/adapters/oci/node-http-client';
import { parseErrorBody } from './http';

export type ObjectSource = Exclude<CommandSource, { sourceType: 'TEXT' }>;
export type ObjectOutput = Exclude<CommandOutput, { outputType: 'TEXT' }>;

interface ObjectName {
  namespaceName: string;
  bucketName: string;
  objectName: string;
}

export type ObjectLocation =
  /** Signed requests; `endpoint` is absent for a tuple (the agent's configured Object Storage endpoint). */
  | ({ kind: 'native'; endpoint?: string } & ObjectName)
  /** Unsigned requests to `url` (the token is in it: never log it). */
  | ({ kind: 'par'; url: string } & ObjectName);

export class ObjectUriError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ObjectUriError';
  }
}

/** A transfer failed; the message names the cause the way OCI does (`ObjectNotFound (404): ...`). */
export class ObjectTransferError extends Error {
  constructor(
    message: string,
    readonly statusCode?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ObjectTransferError';
  }
}

/** `<endpoint>/n/<ns>/b/<bucket>/o/<object>` or `<endpoint>/p/<token>/n/<ns>/b/<bucket>/o/<object>`. */
const OBJECT_PATH = /^(.*?)(\/p\/([^/]+))?\/n\/([^/]+)\/b\/([^/]+)\/o\/(.+)$/;
const MAX_REASON_LENGTH = 500;
const MAX_ERROR_BODY_BYTES = 64 * 1024;
const DEFAULT_PAR_TIMEOUT_MS = 60_000;
/** Distinct endpoints (native URIs may name other regions) whose SDK client is kept. */
const MAX_CLIENTS = 8;

function decodeSegment(segment: string, what: string, uri: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new ObjectUriError(`${uri} is not an Object Storage object URL: its ${what} is not valid percent-encoding.`);
  }
}

/** Parses a native object URL or a PAR URL; the object name may be one percent-encoded segment or contain slashes. */
export function parseObjectUri(uri: string): ObjectLocation {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    throw new ObjectUriError(`${uri} is not an Object Storage object URL.`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ObjectUriError(`${uri} is not an http(s) Object Storage URL.`);
  const match = OBJECT_PATH.exec(url.pathname);
  if (match === null) {
    throw new ObjectUriError(`${uri} is not an Object Storage object URL (expected .../n/<namespace>/b/<bucket>/o/<object>, or a pre-authenticated request URL for one object).`);
  }
  const [, basePath = '', par, , ns = '', bucket = '', object = ''] = match;
  const name: ObjectName = {
    namespaceName: decodeSegment(ns, 'namespace', uri),
    bucketName: decodeSegment(bucket, 'bucket', uri),
    objectName: decodeSegment(object, 'object name', uri),
  };
  if (par !== undefined) return { kind: 'par', url: url.href, ...name };
  if (url.search !== '') throw new ObjectUriError(`${uri} is not an Object Storage object URL: it has a query string.`);
  return { kind: 'native', endpoint: `${url.origin}${basePath}`, ...name };
}

export function sourceLocation(source: ObjectSource): ObjectLocation {
  if (source.sourceType === 'OBJECT_STORAGE_URI') return parseObjectUri(source.sourceUri);
  return { kind: 'native', namespaceName: source.namespaceName, bucketName: source.bucketName, objectName: source.objectName };
}

export function outputLocation(output: ObjectOutput): ObjectLocation {
  if (output.outputType === 'OBJECT_STORAGE_URI') return parseObjectUri(output.outputUri);
  return { kind: 'native', namespaceName: output.namespaceName, bucketName: output.bucketName, objectName: output.objectName };
}

/** `<ns>/<bucket>/<object>`: how messages name an object (a PAR's token stays out of them). */
export function describeLocation(location: ObjectLocation): string {
  return `${location.namespaceName}/${location.bucketName}/${location.objectName}`;
}

/** The object's base name: what a downloaded script is saved as, so a `commandString` can refer to it. */
export function baseNameOf(location: ObjectLocation): string {
  return location.objectName.split('/').pop() ?? '';
}

export interface OpenedObject {
  body: Readable;
  /** Absent when the server sent none. */
  contentLength?: number;
}

export interface UploadRequest {
  body: Readable;
  contentLength: number;
  /** `opc-meta-*` values, names without the prefix. */
  metadata: Record<string, string>;
  contentType?: string;
}

/** The agent's Object Storage operations; failures are `ObjectTransferError`s that name their cause. */
export interface ObjectTransfer {
  open(location: ObjectLocation, signal: AbortSignal): Promise<OpenedObject>;
  upload(location: ObjectLocation, request: UploadRequest, signal: AbortSignal): Promise<void>;
}

function clip(text: string): string {
  return text.length > MAX_REASON_LENGTH ? `${text.slice(0, MAX_REASON_LENGTH)}...` : text;
}

function describeCause(code: string, status: number, message: string | undefined): string {
  return `${code} (${status})${message !== undefined && message !== '' ? `: ${clip(message)}` : ''}`;
}

function sdkTransferError(failure: SdkFailure, cause: unknown): ObjectTransferError {
  if (failure.kind === 'transport') return new ObjectTransferError(`connection failed: ${clip(failure.message || 'unknown error')}`, undefined, { cause });
  return new ObjectTransferError(describeCause(failure.serviceCode, failure.statusCode, failure.message), failure.statusCode, { cause });
}

/** Reads an SDK failure out of what `OciObjectStore` threw (its errors keep the SDK's as `cause`). */
function fromStoreError(err: unknown): ObjectTransferError {
  for (let e: unknown = err, depth = 0; e !== undefined && e !== null && depth < 3; e = (e as { cause?: unknown }).cause, depth += 1) {
    const failure = classifySdkFailure(e);
    if (failure !== undefined) return sdkTransferError(failure, err);
  }
  return new ObjectTransferError(clip(err instanceof Error ? err.message : String(err)), undefined, { cause: err });
}

function abortedError(signal: AbortSignal): ObjectTransferError {
  return new ObjectTransferError('the agent was stopped during the transfer', undefined, { cause: signal.reason });
}

interface ObjectStorageSdk {
  ObjectStorageClient: typeof ObjectStorageClient;
  OciObjectStore: typeof OciObjectStore;
  requestSignerFor: typeof requestSignerFor;
}

let loadedSdk: ObjectStorageSdk | undefined;

/**
 * The OCI SDK (oci-common and oci-objectstorage), loaded on first signed transfer: an agent that never touches Object
 * Storage does not carry it (oci-common alone is 215 modules and about 16 MB of resident memory).
 */
function objectStorageSdk(): ObjectStorageSdk {
  loadedSdk ??= {
    ObjectStorageClient: (require('oci-objectstorage') as typeof import('oci-objectstorage')).ObjectStorageClient,
    OciObjectStore: (require('../shared/adapters/oci/object-store') as typeof import('../shared/adapters/oci/object-store')).OciObjectStore,
    requestSignerFor: (require('../shared/adapters/oci/key-signer') as typeof import('../shared/adapters/oci/key-signer')).requestSignerFor,
  };
  return loadedSdk;
}

export interface AgentObjectStorageOptions {
  /** The configured Object Storage endpoint (tuples). */
  endpoint: string;
  /** The instance's key, as an oci-common provider; built on the first signed transfer (it loads the SDK). */
  authProvider: () => AuthProvider;
  /** SDK retries; the SDK default without it. */
  retry?: RetryConfiguration;
  /** Idle-socket timeout of PAR requests. */
  parTimeoutMs?: number;
}

export class AgentObjectStorage implements ObjectTransfer {
  private readonly clients = new Map<string, ObjectStorageClient>();
  private authProvider: AuthProvider | undefined;

  constructor(private readonly options: AgentObjectStorageOptions) {}

  async open(location: ObjectLocation, signal: AbortSignal): Promise<OpenedObject> {
    if (signal.aborted) throw abortedError(signal);
    if (location.kind === 'par') return this.parGet(location.url, signal);
    const sdk = objectStorageSdk();
    const store = new sdk.OciObjectStore({ client: this.clientFor(sdk, location.endpoint), namespaceName: location.namespaceName, bucketName: location.bucketName });
    let found;
    try {
      // A 404 is an error here, carrying OCI's code: ObjectNotFound, or BucketNotFound for a missing or foreign bucket.
      found = await store.getStream(location.objectName, { missingIsError: true });
    } catch (err) {
      throw fromStoreError(err);
    }
    if (found === undefined) throw new ObjectTransferError('ObjectNotFound (404)', 404);
    if (signal.aborted) {
      found.body.destroy();
      throw abortedError(signal);
    }
    return { body: found.body, ...(found.info.size > 0 ? { contentLength: found.info.size } : {}) };
  }

  async upload(location: ObjectLocation, request: UploadRequest, signal: AbortSignal): Promise<void> {
    if (signal.aborted) throw abortedError(signal);
    if (location.kind === 'par') return this.parPut(location.url, request, signal);
    const sdk = objectStorageSdk();
    const store = new sdk.OciObjectStore({ client: this.clientFor(sdk, location.endpoint), namespaceName: location.namespaceName, bucketName: location.bucketName });
    // The SDK takes no signal; ending the body ends the request.
    const onAbort = (): void => void request.body.destroy(new Error('aborted'));
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      await store.putStream(location.objectName, request.body, request.contentLength, {
        metadata: request.metadata,
        contentType: request.contentType ?? 'application/octet-stream',
      });
    } catch (err) {
      throw signal.aborted ? abortedError(signal) : fromStoreError(err);
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }

  private clientFor(sdk: ObjectStorageSdk, endpoint: string = this.options.endpoint): ObjectStorageClient {
    const key = endpoint.replace(/\/+$/, '');
    let client = this.clients.get(key);
    if (client === undefined) {
      client = new sdk.ObjectStorageClient(
        // The SDK takes a transport or an auth provider; the transport signs with the provider.
        { httpClient: new NodeHttpClient({ signer: sdk.requestSignerFor((this.authProvider ??= this.options.authProvider())) }) },
        this.options.retry === undefined ? undefined : { retryConfiguration: this.options.retry },
      );
      client.endpoint = key;
      if (this.clients.size >= MAX_CLIENTS) this.clients.delete(this.clients.keys().next().value as string);
    } else {
      this.clients.delete(key);
    }
    // Re-inserted: the map's order is least recently used first.
    this.clients.set(key, client);
    return client;
  }

  private parGet(url: string, signal: AbortSignal): Promise<OpenedObject> {
    return new Promise((resolve, reject) => {
      const req = this.parRequest(url, 'GET', {}, signal, reject, (res) => {
        const status = res.statusCode ?? 0;
        if (status !== 200) {
          void parFailure(res).then(reject);
          return;
        }
        const length = Number(res.headers['content-length']);
        resolve({ body: res, ...(Number.isSafeInteger(length) && length >= 0 ? { contentLength: length } : {}) });
      });
      req.end();
    });
  }

  private parPut(url: string, request: UploadRequest, signal: AbortSignal): Promise<void> {
    const headers: Record<string, string> = {
      'content-length': String(request.contentLength),
      'content-type': request.contentType ?? 'application/octet-stream',
    };
    for (const [name, value] of Object.entries(request.metadata)) headers[`opc-meta-${name}`] = value;
    return new Promise((resolve, reject) => {
      const req = this.parRequest(url, 'PUT', headers, signal, reject, (res) => {
        const status = res.statusCode ?? 0;
        if (status >= 200 && status < 300) {
          res.resume();
          res.on('end', () => resolve());
          res.on('error', (err) => reject(new ObjectTransferError(`connection failed: ${clip(err.message)}`, undefined, { cause: err })));
          return;
        }
        void parFailure(res).then(reject);
      });
      request.body.on('error', (err) => req.destroy(err));
      request.body.pipe(req);
    });
  }

  private parRequest(
    url: string,
    method: 'GET' | 'PUT',
    headers: Record<string, string>,
    signal: AbortSignal,
    reject: (err: ObjectTransferError) => void,
    onResponse: (res: http.IncomingMessage) => void,
  ): http.ClientRequest {
    const client = url.startsWith('https:') ? https : http;
    const req = client.request(url, { method, headers, signal, timeout: this.options.parTimeoutMs ?? DEFAULT_PAR_TIMEOUT_MS }, onResponse);
    req.on('timeout', () => req.destroy(new Error('the pre-authenticated request timed out')));
    req.on('error', (err) => reject(signal.aborted ? abortedError(signal) : new ObjectTransferError(`connection failed: ${clip(err.message)}`, undefined, { cause: err })));
    return req;
  }
}

/** An error answer's `{code, message}`, read up to a bound. */
async function parFailure(res: http.IncomingMessage): Promise<ObjectTransferError> {
  const status = res.statusCode ?? 0;
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of res) {
      size += (chunk as Buffer).length;
      if (size > MAX_ERROR_BODY_BYTES) break;
      chunks.push(chunk as Buffer);
    }
  } catch {
    // The status alone still names the failure.
  }
  res.destroy();
  const { code = `HTTP ${status}`, message } = parseErrorBody(Buffer.concat(chunks).toString('utf8'));
  return new ObjectTransferError(describeCause(code, status, message), status);
}

export class ScriptTooLargeError extends Error {
  constructor(readonly maxBytes: number) {
    super(`larger than ${maxBytes} bytes`);
    this.name = 'ScriptTooLargeError';
  }
}

/** Counts the bytes going through, fails past `maxBytes`, and keeps the first `headBytes` of them. */
class SizeLimit extends Transform {
  private bytes = 0;
  private readonly headChunks: Buffer[] = [];
  private headLength = 0;

  constructor(
    private readonly maxBytes: number,
    private readonly headBytes: number,
  ) {
    super();
  }

  get head(): Buffer {
    return Buffer.concat(this.headChunks);
  }

  get total(): number {
    return this.bytes;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.bytes > this.maxBytes) {
      callback(new ScriptTooLargeError(this.maxBytes));
      return;
    }
    if (this.headLength < this.headBytes) {
      const part = chunk.subarray(0, this.headBytes - this.headLength);
      this.headChunks.push(Buffer.from(part));
      this.headLength += part.length;
    }
    callback(null, chunk);
  }
}

export interface DownloadOptions {
  maxBytes: number;
  signal: AbortSignal;
  /** How many leading bytes to return (the `#!` line). */
  headBytes?: number;
  mode?: number;
}

export interface DownloadedScript {
  sizeBytes: number;
  head: Buffer;
}

/**
 * Streams the object into `file` (created, never overwritten). Throws `ScriptTooLargeError` when it is larger than
 * `maxBytes` (before reading it when the server says so up front), `ObjectTransferError` when it cannot be read.
 */
export async function downloadObjectToFile(
  transfer: ObjectTransfer,
  location: ObjectLocation,
  file: string,
  options: DownloadOptions,
): Promise<DownloadedScript> {
  const opened = await transfer.open(location, options.signal);
  if (opened.contentLength !== undefined && opened.contentLength > options.maxBytes) {
    opened.body.destroy();
    throw new ScriptTooLargeError(options.maxBytes);
  }
  const limit = new SizeLimit(options.maxBytes, options.headBytes ?? 512);
  try {
    await pipeline(opened.body, limit, createWriteStream(file, { flags: 'wx', mode: options.mode ?? 0o700 }), { signal: options.signal });
  } catch (err) {
    if (err instanceof ScriptTooLargeError) throw err;
    if (options.signal.aborted) throw abortedError(options.signal);
    if ((err as NodeJS.ErrnoException).code !== undefined && (err as NodeJS.ErrnoException).syscall !== undefined) {
      throw new ObjectTransferError(`saving it failed: ${clip((err as Error).message)}`, undefined, { cause: err });
    }
    throw new ObjectTransferError(`the download was cut off: ${clip((err as Error).message)}`, undefined, { cause: err });
  }
  return { sizeBytes: limit.total, head: limit.head };
}
