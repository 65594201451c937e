/**
 * The subset of the OCI Object Storage REST API (20160918) that runcommand and its users need, served from the
 * embedded store, so the OCI adapter, agents and Oracle's own `ObjectStorageClient` (and plain curl with a PAR) run
 * unchanged against the platform:
 *
 *   GET  /n/                                      the namespace, as a bare JSON string
 *   POST /n/{ns}/b/   GET /n/{ns}/b/?compartmentId=     CreateBucket, ListBuckets
 *   GET|HEAD|DELETE /n/{ns}/b/{bucket}            GetBucket, HeadBucket, DeleteBucket (only when empty)
 *   PUT|GET|HEAD|DELETE /n/{ns}/b/{bucket}/o/{object}   objects (the name is one percent-encoded segment)
 *   GET  /n/{ns}/b/{bucket}/o                     ListObjects
 *   POST|GET /n/{ns}/b/{bucket}/p/   GET|DELETE .../p/{parId}   pre-authenticated requests
 *   GET|PUT|HEAD /p/{token}/n/{ns}/b/{bucket}/o/{object}        PAR access, unsigned
 *
 * Every `/n/` request is signed (object PUTs are signed without their body, as the SDK does) and authorized per
 * bucket (`object-storage-access.ts`). Bucket and PAR records are JSON documents in the platform's internal bucket.
 */
import type http from 'node:http';
import type { EmbeddedObjectStorage } from '../shared/adapters/embedded/object-storage';
import type { Versioned } from '../shared/app/documents';
import { sendJson } from '../shared/api/http';
import type { VerifiedCaller } from '../shared/api/signature';
import { ServiceError, notAuthorizedOrNotFound } from '../shared/domain/errors';
import type { Ids } from '../shared/ports/ids';
import { canUseCompartment, type IdentityDirectory, type Principal } from '../shared/ports/identity';
import { PreconditionFailedError } from '../shared/ports/object-store';
import type { BucketRecord, BucketRegistry } from './buckets';
import { authenticate, authenticateCaller, decodeSegment, isRecord, queryLimit, readJsonBody, requireString, splitPath, type EndpointDeps } from './endpoint-support';
import type { EndpointMount } from './gateway';
import { isServicePrincipal, openBucket } from './object-storage-access';
import {
  ObjectStorageError,
  bucketHasObjects,
  bucketNotFound,
  deleteObject,
  getObject,
  headObject,
  invalidParameter,
  listObjects,
  putObject,
  sendStorageError,
  type ObjectOperationsDeps,
} from './object-storage-objects';
import { createPar, deletePar, getPar, listPars, servePar, type ParDeps } from './object-storage-pars';

/** The largest object a PUT may store, unless configured otherwise. */
export const DEFAULT_MAX_OBJECT_BYTES = 10 * 1024 ** 3;
const MAX_JSON_BODY_BYTES = 64 * 1024;
const BUCKET_NAME = /^[A-Za-z0-9._-]{1,256}$/;
const MAX_BUCKET_LIST_LIMIT = 1000;
/** DeleteBucket removes the bucket's PARs in rounds of at most this many pages. */
const MAX_PAR_DELETE_ROUNDS = 100;

export interface ObjectStorageEndpointDeps extends EndpointDeps {
  storage: EmbeddedObjectStorage;
  registry: BucketRegistry;
  directory: IdentityDirectory;
  ids: Ids;
  /** The platform's namespace; no other is served. */
  namespace: string;
  /** The only principal that may use the service's own buckets. */
  serviceUserId: string;
  /** The base URL clients reach this endpoint at (a PAR's `fullPath`). */
  endpoint: () => string;
  maxObjectBytes?: number;
  /** See `ObjectOperationsDeps.onObjectStored`: how object events leave the endpoint. */
  onObjectStored?: ObjectOperationsDeps['onObjectStored'];
}

type Deps = ParDeps & EndpointDeps;

/** Object Storage's own paths: `/n...` (namespaces, buckets, objects) and `/p...` (pre-authenticated requests). */
const OWN_PATH = /^\/[np](?:[/?]|$)/;

export function objectStorageEndpoint(input: ObjectStorageEndpointDeps): EndpointMount {
  const deps: Deps = { ...input, maxObjectBytes: input.maxObjectBytes ?? DEFAULT_MAX_OBJECT_BYTES };
  return async (req, res) => {
    // Every request passes here first; only /n/... and /p/... are parsed.
    if (!OWN_PATH.test(req.url ?? '/')) return false;
    const { segments, query } = splitPath(req.url ?? '/');
    try {
      if (segments[0] === 'p') await servePar(deps, segments, query, req, res);
      else await serveSigned(deps, segments, query, req, res);
    } catch (e) {
      // An unread body is drained, so the answer reaches the client and the connection stays usable.
      if (!req.complete) req.resume();
      if (!(e instanceof ObjectStorageError) || res.headersSent) throw e;
      sendStorageError(res, e);
    }
    return true;
  };
}

function noRoute(method: string, url: string): ServiceError {
  return new ServiceError('NotFound', `No route for ${method} ${url.split('?')[0]}.`);
}

function methodNotAllowed(method: string, url: string): ServiceError {
  return new ServiceError('MethodNotAllowed', `${method} is not allowed on ${url.split('?')[0]}.`);
}

/** The `x-content-sha256` a request's signature covers, if it covers one. */
function signedBodyHash(req: http.IncomingMessage, caller: VerifiedCaller): string | undefined {
  const value = req.headers['x-content-sha256'];
  return caller.signedHeaders.includes('x-content-sha256') && typeof value === 'string' ? value : undefined;
}

async function serveSigned(
  deps: Deps,
  segments: string[],
  query: URLSearchParams,
  req: http.IncomingMessage,
  res: http.ServerResponse,
): Promise<void> {
  const method = req.method ?? 'GET';
  const url = req.url ?? '/';
  const [, rawNamespace, b, rawBucket, kind] = segments;

  if (rawNamespace === undefined || (rawNamespace === '' && segments.length === 2)) {
    if (method !== 'GET') throw methodNotAllowed(method, url);
    await authenticate(deps, req, undefined, true);
    return sendJson(res, 200, deps.namespace);
  }
  if (b !== 'b') throw noRoute(method, url);
  const namespace = decodeSegment(rawNamespace, invalidParameter);

  if ((rawBucket === undefined || rawBucket === '') && segments.length <= 4) {
    if (method === 'POST') {
      const body = await readJsonBody(req, MAX_JSON_BODY_BYTES);
      const principal = await authenticate(deps, req, body.raw, true);
      return createBucket(deps, principal, namespace, body.json, res);
    }
    if (method === 'GET') return listBuckets(deps, await authenticate(deps, req, undefined, true), namespace, query, res);
    throw methodNotAllowed(method, url);
  }
  const bucketName = decodeSegment(rawBucket ?? '', invalidParameter);

  if (kind === undefined) {
    const principal = await authenticate(deps, req, undefined, true);
    if (method === 'GET' || method === 'HEAD') {
      const bucket = await openBucket(deps, principal, namespace, bucketName, 'manage');
      return getBucket(deps, bucket, query, method, res);
    }
    if (method === 'DELETE') return deleteBucket(deps, principal, namespace, bucketName, req, res);
    throw methodNotAllowed(method, url);
  }

  if (kind === 'o') {
    const call = { at: { namespace, bucketName }, objectName: decodeSegment(segments.slice(5).join('/'), invalidParameter), req, res };
    if (method === 'PUT' && call.objectName !== '') {
      const caller = await authenticateCaller(deps, req, undefined, false);
      const bucket = await openBucket(deps, caller.principal, namespace, bucketName, 'write');
      return putObject(deps, { ...call, bucket: bucket.doc }, signedBodyHash(req, caller));
    }
    const principal = await authenticate(deps, req, undefined, true);
    if (call.objectName === '') {
      if (method !== 'GET') throw methodNotAllowed(method, url);
      await openBucket(deps, principal, namespace, bucketName, 'manage');
      return listObjects(deps, call.at, query, res);
    }
    if (method === 'GET' || method === 'HEAD') {
      await openBucket(deps, principal, namespace, bucketName, 'read');
      return method === 'GET' ? getObject(deps, call) : headObject(deps, call);
    }
    if (method === 'DELETE') {
      await openBucket(deps, principal, namespace, bucketName, 'manage');
      return deleteObject(deps, call);
    }
    throw methodNotAllowed(method, url);
  }

  if (kind === 'p') {
    const parId = decodeSegment(segments.slice(5).join('/'), invalidParameter);
    const body = method === 'POST' ? await readJsonBody(req, MAX_JSON_BODY_BYTES) : undefined;
    const principal = await authenticate(deps, req, body?.raw, true);
    const bucket = await openBucket(deps, principal, namespace, bucketName, 'manage');
    // Only users reach here: instances never manage a bucket.
    if (principal.type !== 'user') throw bucketNotFound(namespace, bucketName);
    if (parId === '' && method === 'POST') return createPar(deps, principal, bucket.doc, body?.json, res);
    if (parId === '' && method === 'GET') return listPars(deps, bucket.doc, query, res);
    if (parId !== '' && method === 'GET') return getPar(deps, bucket.doc, parId, res);
    if (parId !== '' && method === 'DELETE') return deletePar(deps, bucket.doc, parId, res);
    throw methodNotAllowed(method, url);
  }
  throw noRoute(method, url);
}

function wireBucket(bucket: Versioned<BucketRecord>) {
  const b = bucket.doc;
  return {
    namespace: b.namespace,
    name: b.name,
    compartmentId: b.compartmentId,
    metadata: b.metadata,
    createdBy: b.createdBy,
    timeCreated: b.timeCreated,
    etag: bucket.etag,
    publicAccessType: b.publicAccessType,
    storageTier: b.storageTier,
    objectEventsEnabled: b.objectEventsEnabled,
    freeformTags: b.freeformTags,
    definedTags: b.definedTags,
    id: b.id,
    versioning: 'Disabled',
    autoTiering: 'Disabled',
    replicationEnabled: false,
    isReadOnly: false,
  };
}

function stringRecord(value: unknown, field: string): Record<string, string> {
  if (value === undefined || value === null) return {};
  if (!isRecord(value) || Object.values(value).some((v) => typeof v !== 'string')) {
    throw invalidParameter(`${field} must be an object of strings.`);
  }
  return value as Record<string, string>;
}

async function createBucket(deps: Deps, principal: Principal, namespace: string, json: unknown, res: http.ServerResponse): Promise<void> {
  const o = isRecord(json) ? json : {};
  const name = requireString(o, 'name');
  const compartmentId = requireString(o, 'compartmentId');
  if (!BUCKET_NAME.test(name)) throw invalidParameter('The bucket name may use letters, digits, dashes, underscores and periods (1 to 256).');
  if (o.objectEventsEnabled !== undefined && typeof o.objectEventsEnabled !== 'boolean') {
    throw invalidParameter('objectEventsEnabled must be a boolean.');
  }
  if (namespace !== deps.namespace || !(await canUseCompartment(deps.directory, principal, compartmentId)) || principal.type !== 'user') {
    throw notAuthorizedOrNotFound();
  }
  const record: BucketRecord = {
    namespace,
    name,
    id: deps.ids.ocid('bucket'),
    compartmentId,
    createdBy: principal.userId,
    timeCreated: new Date(deps.clock.nowMs()).toISOString(),
    metadata: stringRecord(o.metadata, 'metadata'),
    // Public access is not served; every bucket is private whatever was asked.
    publicAccessType: 'NoPublicAccess',
    storageTier: typeof o.storageTier === 'string' ? o.storageTier : 'Standard',
    objectEventsEnabled: o.objectEventsEnabled === true,
    freeformTags: stringRecord(o.freeformTags, 'freeformTags'),
    definedTags: isRecord(o.definedTags) ? (o.definedTags as BucketRecord['definedTags']) : {},
    serviceOnly: false,
  };
  const created = await deps.registry.createBucket(record);
  if (!created) {
    throw new ObjectStorageError(409, 'BucketAlreadyExists', `Either the bucket '${name}' in namespace '${namespace}' already exists or you are not authorized to create it`);
  }
  sendJson(res, 200, wireBucket(created), { etag: created.etag, location: `${deps.endpoint()}/n/${namespace}/b/${name}` });
}

async function getBucket(
  deps: Deps,
  bucket: Versioned<BucketRecord>,
  query: URLSearchParams,
  method: string,
  res: http.ServerResponse,
): Promise<void> {
  if (method === 'HEAD') {
    res.writeHead(200, { etag: bucket.etag });
    res.end();
    return;
  }
  const fields = (query.get('fields') ?? '').split(',');
  const count = fields.includes('approximateCount') ? { approximateCount: deps.storage.countObjects(bucket.doc.namespace, bucket.doc.name) } : {};
  sendJson(res, 200, { ...wireBucket(bucket), ...count }, { etag: bucket.etag });
}

async function deleteBucket(
  deps: Deps,
  principal: Principal,
  namespace: string,
  bucketName: string,
  req: http.IncomingMessage,
  res: http.ServerResponse,
): Promise<void> {
  const bucket = await openBucket(deps, principal, namespace, bucketName, 'manage');
  // The service's own buckets outlive any request, even the service principal's.
  if (bucket.doc.serviceOnly) throw new ObjectStorageError(409, 'BucketNotEmpty', `Bucket named '${bucketName}' is in use by the service.`);
  const ifMatch = typeof req.headers['if-match'] === 'string' ? req.headers['if-match'] : undefined;
  if (ifMatch !== undefined && ifMatch !== bucket.etag) throw new ObjectStorageError(412, 'IfMatchFailed', 'The If-Match header does not match the bucket etag.');
  if (await bucketHasObjects(deps.storage, { namespace, bucketName })) {
    throw new ObjectStorageError(409, 'BucketNotEmpty', `Bucket named '${bucketName}' is not empty. Delete all objects first.`);
  }
  try {
    // The etag read above: a bucket changed (or recreated) since is not deleted blindly.
    if (!(await deps.registry.deleteBucket(namespace, bucketName, bucket.etag))) throw bucketNotFound(namespace, bucketName);
  } catch (e) {
    if (e instanceof PreconditionFailedError) throw new ObjectStorageError(412, 'IfMatchFailed', 'The bucket changed during the delete.');
    throw e;
  }
  for (let round = 0; round < MAX_PAR_DELETE_ROUNDS && (await deps.registry.deleteParsOf(namespace, bucketName)); round++);
  res.writeHead(204);
  res.end();
}

async function listBuckets(deps: Deps, principal: Principal, namespace: string, query: URLSearchParams, res: http.ServerResponse): Promise<void> {
  const compartmentId = query.get('compartmentId');
  if (!compartmentId) throw new ServiceError('MissingParameter', 'Missing required parameter compartmentId.');
  const limit = queryLimit(query.get('limit'), MAX_BUCKET_LIST_LIMIT, MAX_BUCKET_LIST_LIMIT, invalidParameter);
  if (namespace !== deps.namespace || !(await canUseCompartment(deps.directory, principal, compartmentId))) throw notAuthorizedOrNotFound();
  const service = isServicePrincipal(deps, principal);
  const page = query.get('page');
  const found = await deps.registry.listBuckets(namespace, {
    limit,
    ...(page ? { page } : {}),
    include: (b) => b.compartmentId === compartmentId && (!b.serviceOnly || service),
  });
  const summaries = found.buckets.map(({ doc, etag }) => ({
    namespace: doc.namespace,
    name: doc.name,
    compartmentId: doc.compartmentId,
    createdBy: doc.createdBy,
    timeCreated: doc.timeCreated,
    etag,
    freeformTags: doc.freeformTags,
    definedTags: doc.definedTags,
  }));
  sendJson(res, 200, summaries, found.next === undefined ? {} : { 'opc-next-page': found.next });
}
