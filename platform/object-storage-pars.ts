/**
 * Pre-authenticated requests: `POST/GET /n/{ns}/b/{bucket}/p/`, `GET/DELETE .../p/{parId}` for users who may manage
 * the bucket, and `/p/{token}/n/{ns}/b/{bucket}/o/{object}`, which works without any signature (plain curl), only
 * within the PAR's access type and object, only before it expires, and only while its creator may still use the
 * bucket. Anything outside that is 404, like an unknown PAR. The token is shown once; only its hash is kept.
 */
import type http from 'node:http';
import { sendJson } from '../shared/api/http';
import type { Clock } from '../shared/ports/clock';
import type { Ids } from '../shared/ports/ids';
import type { Principal } from '../shared/ports/identity';
import { PAR_ACCESS_TYPES, parIdOf, type BucketRecord, type ParAccessType, type ParRecord } from './buckets';
import { mayUseBucket, type BucketAccessDeps } from './object-storage-access';
import { isRecord, queryLimit } from './endpoint-support';
import {
  ObjectStorageError,
  checkObjectName,
  getObject,
  headObject,
  invalidParameter,
  listObjects,
  putObject,
  type ObjectOperationsDeps,
} from './object-storage-objects';

export interface ParDeps extends BucketAccessDeps, ObjectOperationsDeps {
  ids: Ids;
  clock: Clock;
  /** The endpoint's base URL, for a PAR's `fullPath`. */
  endpoint: () => string;
}

const MAX_PAR_NAME_LENGTH = 512;
const MAX_PAR_LIST_LIMIT = 1000;

function parNotFound(): ObjectStorageError {
  return new ObjectStorageError(404, 'NotAuthorizedOrNotFound', 'The pre-authenticated request does not exist, has expired, or does not allow this.');
}

function parSummary(par: ParRecord) {
  return {
    id: par.id,
    name: par.name,
    ...(par.objectName !== undefined ? { objectName: par.objectName } : {}),
    bucketListingAction: par.bucketListingAction,
    accessType: par.accessType,
    timeExpires: par.timeExpires,
    timeCreated: par.timeCreated,
  };
}

function isAnyObject(accessType: ParAccessType): boolean {
  return accessType.startsWith('AnyObject');
}

function allowsRead(accessType: ParAccessType): boolean {
  return accessType.includes('Read');
}

function allowsWrite(accessType: ParAccessType): boolean {
  return accessType.endsWith('Write');
}

/** CreatePreauthenticatedRequest; the caller may manage the bucket. */
export async function createPar(
  deps: ParDeps,
  principal: Principal & { type: 'user' },
  bucket: BucketRecord,
  json: unknown,
  res: http.ServerResponse,
): Promise<void> {
  const o = isRecord(json) ? json : {};
  const name = o.name;
  if (typeof name !== 'string' || name === '' || name.length > MAX_PAR_NAME_LENGTH) {
    throw invalidParameter(`name must be a string of 1 to ${MAX_PAR_NAME_LENGTH} characters.`);
  }
  const accessType = o.accessType;
  if (typeof accessType !== 'string' || !(PAR_ACCESS_TYPES as readonly string[]).includes(accessType)) {
    throw invalidParameter(`accessType must be one of ${PAR_ACCESS_TYPES.join(', ')}.`);
  }
  const access = accessType as ParAccessType;
  const expiresMs = typeof o.timeExpires === 'string' ? Date.parse(o.timeExpires) : NaN;
  if (Number.isNaN(expiresMs)) throw invalidParameter('timeExpires must be an RFC 3339 date.');
  const nowMs = deps.clock.nowMs();
  if (expiresMs <= nowMs) throw invalidParameter('timeExpires must be in the future.');
  let objectName: string | undefined;
  if (!isAnyObject(access)) {
    if (typeof o.objectName !== 'string') throw invalidParameter(`objectName is required for ${access}.`);
    objectName = checkObjectName(o.objectName);
  } else if (o.objectName !== undefined && o.objectName !== null) {
    throw invalidParameter(`objectName is not allowed for ${access}.`);
  }
  const listing = o.bucketListingAction ?? 'Deny';
  if (listing !== 'Deny' && listing !== 'ListObjects') throw invalidParameter('bucketListingAction must be Deny or ListObjects.');
  if (listing === 'ListObjects' && !(isAnyObject(access) && allowsRead(access))) {
    throw invalidParameter('bucketListingAction ListObjects needs an AnyObjectRead or AnyObjectReadWrite PAR.');
  }

  const token = `${deps.ids.token()}${deps.ids.token()}`;
  const par: ParRecord = {
    id: parIdOf(token),
    name,
    namespace: bucket.namespace,
    bucketName: bucket.name,
    ...(objectName !== undefined ? { objectName } : {}),
    accessType: access,
    bucketListingAction: listing,
    timeCreated: new Date(nowMs).toISOString(),
    timeExpires: new Date(expiresMs).toISOString(),
    createdBy: { tenancyId: principal.tenancyId, userId: principal.userId },
  };
  await deps.registry.createPar(par);
  const accessUri = `/p/${token}/n/${encodeURIComponent(bucket.namespace)}/b/${encodeURIComponent(bucket.name)}/o/${
    objectName !== undefined ? encodeURIComponent(objectName) : ''
  }`;
  sendJson(res, 200, { ...parSummary(par), accessUri, fullPath: `${deps.endpoint()}${accessUri}` });
}

export async function listPars(deps: ParDeps, bucket: BucketRecord, query: URLSearchParams, res: http.ServerResponse): Promise<void> {
  const limit = queryLimit(query.get('limit'), MAX_PAR_LIST_LIMIT, MAX_PAR_LIST_LIMIT, invalidParameter);
  const page = query.get('page');
  const objectNamePrefix = query.get('objectNamePrefix');
  const found = await deps.registry.listPars(bucket.namespace, bucket.name, {
    limit,
    ...(page ? { page } : {}),
    ...(objectNamePrefix ? { objectNamePrefix } : {}),
  });
  sendJson(res, 200, found.pars.map(parSummary), found.next === undefined ? {} : { 'opc-next-page': found.next });
}

export async function getPar(deps: ParDeps, bucket: BucketRecord, parId: string, res: http.ServerResponse): Promise<void> {
  const par = await deps.registry.getPar(bucket.namespace, bucket.name, parId);
  if (!par) throw parNotFound();
  sendJson(res, 200, parSummary(par));
}

export async function deletePar(deps: ParDeps, bucket: BucketRecord, parId: string, res: http.ServerResponse): Promise<void> {
  if (!(await deps.registry.deletePar(bucket.namespace, bucket.name, parId))) throw parNotFound();
  res.writeHead(204);
  res.end();
}

/**
 * Serves `/p/{token}/n/{ns}/b/{bucket}/o/{object}` (segments after the leading slash). The object part may be raw or
 * percent-encoded; an empty one lists the bucket when the PAR allows listing.
 */
export async function servePar(
  deps: ParDeps,
  segments: string[],
  query: URLSearchParams,
  req: http.IncomingMessage,
  res: http.ServerResponse,
): Promise<void> {
  const [, token, n, namespace, b, bucketName, o] = segments;
  if (!token || n !== 'n' || !namespace || b !== 'b' || !bucketName || o !== 'o') throw parNotFound();
  const at = { namespace: decode(namespace), bucketName: decode(bucketName) };
  const objectName = decode(segments.slice(7).join('/'));
  const par = at.namespace === deps.namespace ? await deps.registry.getPar(at.namespace, at.bucketName, parIdOf(token)) : undefined;
  if (!par || Date.parse(par.timeExpires) <= deps.clock.nowMs()) throw parNotFound();
  const bucket = await deps.registry.getBucket(at.namespace, at.bucketName);
  const creator: Principal = { type: 'user', ...par.createdBy };
  if (!bucket || !(await mayUseBucket(deps, creator, bucket.doc, 'manage'))) throw parNotFound();

  const method = req.method ?? 'GET';
  const call = { at, objectName, req, res };
  const inScope = objectName !== '' && (isAnyObject(par.accessType) || objectName === par.objectName);
  if (objectName === '' && method === 'GET' && par.bucketListingAction === 'ListObjects') return listObjects(deps, at, query, res);
  if (inScope && allowsRead(par.accessType) && method === 'GET') return getObject(deps, call);
  if (inScope && allowsRead(par.accessType) && method === 'HEAD') return headObject(deps, call);
  if (inScope && allowsWrite(par.accessType) && method === 'PUT') return putObject(deps, { ...call, bucket: bucket.doc });
  throw parNotFound();
}

function decode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw parNotFound();
  }
}
