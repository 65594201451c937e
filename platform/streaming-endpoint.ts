/**
 * The subset of the OCI Streaming REST API (20180418) that runcommand and its users need, served from the embedded
 * log, so agents and the OCI adapter run the same `oci-streaming` SDK code here as against OCI.
 *
 * Admin: POST/GET /streams, GET/DELETE /streams/{id}. Data: POST/GET /streams/{id}/messages, POST cursors, groupCursors,
 * commit, heartbeat. A GET of messages answers at once, as OCI does, unless the request carries
 * `x-runcommand-long-poll-ms`: then an empty stream holds the request open up to that long (at most 30 s) so an
 * agent gets its command the moment it is published.
 *
 * Authorization: users act on streams in compartments they may use; an instance may only read (cursors, messages,
 * commit, heartbeat) its own instance stream. Anything else is 404 NotAuthorizedOrNotFound.
 */
import type http from 'node:http';
import type { EmbeddedStreams, StreamInfo } from '../shared/adapters/embedded/stream';
import { InvalidCursorError, InvalidStreamSettingsError, MessageTooLargeError } from '../shared/adapters/embedded/stream';
import { sendJson } from '../shared/api/http';
import { LONG_POLL_HEADER, MAX_GET_LIMIT } from '../shared/api/streaming';
import { ServiceError, notAuthorizedOrNotFound } from '../shared/domain/errors';
import { canUseCompartment, type IdentityDirectory, type Principal } from '../shared/ports/identity';
import { CursorExpiredError, PublishFailedError, StreamNotFoundError, type CursorOptions, type PublishInput } from '../shared/ports/stream';
import type { EndpointMount } from './gateway';
import { authenticate, decodeSegment, isRecord, queryLimit, readJsonBody, requireString, splitPath, type EndpointDeps } from './endpoint-support';

export const STREAMING_PREFIX = '/20180418/';
/** The server's own cap on a long poll (clients ask for at most `MAX_LONG_POLL_MS`). */
const MAX_SERVER_LONG_POLL_MS = 30_000;
const MAX_REQUEST_BYTES = 2 * 1024 * 1024;
const DEFAULT_GET_LIMIT = 1000;

export interface StreamingEndpointDeps extends EndpointDeps {
  streams: EmbeddedStreams;
  directory: IdentityDirectory;
  /** The base URL clients reach this endpoint at (a stream's `messagesEndpoint`). */
  endpoint: () => string;
}

function wireStream(s: StreamInfo, endpoint: string) {
  return {
    id: s.id,
    name: s.name,
    partitions: s.partitions,
    retentionInHours: s.retentionInHours,
    compartmentId: s.compartmentId,
    streamPoolId: 'ocid1.streampool.oc1..embedded',
    lifecycleState: s.lifecycleState === 'ACTIVE' ? 'ACTIVE' : 'DELETED',
    timeCreated: s.timeCreated,
    messagesEndpoint: endpoint,
    freeformTags: {},
    definedTags: {},
  };
}

async function authorize(deps: StreamingEndpointDeps, principal: Principal, stream: StreamInfo | undefined, access: 'read' | 'write' | 'manage'): Promise<StreamInfo> {
  if (!stream || stream.lifecycleState !== 'ACTIVE') throw notAuthorizedOrNotFound();
  if (principal.type === 'instance') {
    const instance = await deps.directory.getInstance(principal.instanceId);
    if (access === 'read' && instance?.streamId === stream.id) return stream;
    throw notAuthorizedOrNotFound();
  }
  if (!(await canUseCompartment(deps.directory, principal, stream.compartmentId))) throw notAuthorizedOrNotFound();
  return stream;
}

function mapStreamError(e: unknown): never {
  if (e instanceof CursorExpiredError) throw new ServiceError('InvalidParameter', 'The cursor has expired.');
  if (e instanceof InvalidCursorError) throw new ServiceError('InvalidParameter', `Invalid cursor: ${e.message}`);
  if (e instanceof StreamNotFoundError) throw notAuthorizedOrNotFound();
  if (e instanceof MessageTooLargeError || e instanceof InvalidStreamSettingsError) throw new ServiceError('InvalidParameter', e.message);
  throw e;
}

export function streamingEndpoint(deps: StreamingEndpointDeps): EndpointMount {
  return async (req, res) => {
    const url = req.url ?? '/';
    if (!url.startsWith(STREAMING_PREFIX)) return false;
    const method = req.method ?? 'GET';
    const { segments, query } = splitPath(url);
    // segments: ['20180418', 'streams', id?, action?]
    if (segments[1] !== 'streams' || segments.length > 4) throw new ServiceError('NotFound', `No route for ${method} ${url.split('?')[0]}.`);
    const streamId = segments[2] ? decodeSegment(segments[2], (message) => new ServiceError('InvalidParameter', message)) : undefined;
    const action = segments[3];
    const hasBody = method === 'POST' || method === 'PUT';
    const body = hasBody ? await readJsonBody(req, MAX_REQUEST_BYTES) : undefined;
    const principal = await authenticate(deps, req, body?.raw, !(action === 'messages' && method === 'POST'));
    const stream = streamId ? deps.streams.getStream(streamId) : undefined;

    try {
      if (!streamId) {
        if (method === 'POST') return await createStream(deps, principal, body?.json, res);
        if (method === 'GET') return await listStreams(deps, principal, query, res);
      } else if (!action) {
        if (method === 'GET') return send(res, 200, wireStream(await authorize(deps, principal, stream, 'manage'), deps.endpoint()));
        if (method === 'DELETE') {
          await authorize(deps, principal, stream, 'manage');
          deps.streams.deleteStream(streamId);
          return send(res, 204, undefined);
        }
      } else if (action === 'messages' && method === 'POST') {
        await authorize(deps, principal, stream, 'write');
        return await putMessages(deps, streamId, body?.json, res);
      } else if (action === 'messages' && method === 'GET') {
        await authorize(deps, principal, stream, 'read');
        return await getMessages(deps, req, streamId, query, res);
      } else if (action === 'cursors' && method === 'POST') {
        await authorize(deps, principal, stream, 'read');
        const cursor = await deps.streams.createCursor(streamId, cursorOptions(body?.json));
        return send(res, 200, { value: cursor });
      } else if (action === 'groupCursors' && method === 'POST') {
        await authorize(deps, principal, stream, 'read');
        const o = isRecord(body?.json) ? body.json : {};
        const type = o.type === 'LATEST' ? 'LATEST' : o.type === 'TRIM_HORIZON' || o.type === undefined ? 'TRIM_HORIZON' : undefined;
        if (!type) throw new ServiceError('InvalidParameter', 'type must be TRIM_HORIZON or LATEST.');
        const cursor = await deps.streams.createGroupCursor(streamId, {
          groupName: requireString(o, 'groupName'),
          instanceName: typeof o.instanceName === 'string' ? o.instanceName : 'default',
          type,
          ...(typeof o.timeoutInMs === 'number' ? { timeoutMs: o.timeoutInMs } : {}),
        });
        return send(res, 200, { value: cursor });
      } else if ((action === 'commit' || action === 'heartbeat') && method === 'POST') {
        await authorize(deps, principal, stream, 'read');
        const cursor = query.get('cursor');
        if (!cursor) throw new ServiceError('MissingParameter', 'Missing required parameter cursor.');
        const next = action === 'commit' ? await deps.streams.commit(streamId, cursor) : await deps.streams.heartbeat(streamId, cursor);
        return send(res, 200, { value: next });
      }
    } catch (e) {
      mapStreamError(e);
    }
    throw new ServiceError('MethodNotAllowed', `${method} is not allowed on ${url.split('?')[0]}.`);
  };
}

const CURSOR_TYPES: ReadonlySet<string> = new Set(['TRIM_HORIZON', 'LATEST', 'AT_OFFSET', 'AFTER_OFFSET', 'AT_TIME']);

/** OCI `CreateCursorDetails`: partition, type, and the offset or time the type needs. */
function cursorOptions(json: unknown): CursorOptions {
  const o = isRecord(json) ? json : {};
  const partition = requireString(o, 'partition');
  const type = requireString(o, 'type');
  if (!CURSOR_TYPES.has(type)) throw new ServiceError('InvalidParameter', `type must be one of ${[...CURSOR_TYPES].join(', ')}.`);
  const options: CursorOptions = { partition, type: type as CursorOptions['type'] };
  if (type === 'AT_OFFSET' || type === 'AFTER_OFFSET') {
    if (!Number.isSafeInteger(o.offset) || (o.offset as number) < 0) throw new ServiceError('InvalidParameter', `offset must be a non-negative integer for ${type}.`);
    options.offset = o.offset as number;
  } else if (type === 'AT_TIME') {
    const timeMs = typeof o.time === 'string' ? Date.parse(o.time) : NaN;
    if (Number.isNaN(timeMs)) throw new ServiceError('InvalidParameter', 'time must be an RFC 3339 timestamp for AT_TIME.');
    options.timeMs = timeMs;
  }
  return options;
}

function send(res: http.ServerResponse, status: number, body: unknown, headers: http.OutgoingHttpHeaders = {}): true {
  sendJson(res, status, body, headers);
  return true;
}

async function createStream(deps: StreamingEndpointDeps, principal: Principal, json: unknown, res: http.ServerResponse): Promise<true> {
  const o = isRecord(json) ? json : {};
  const compartmentId = requireString(o, 'compartmentId');
  if (!(await canUseCompartment(deps.directory, principal, compartmentId))) throw notAuthorizedOrNotFound();
  const created = deps.streams.createStream({
    name: requireString(o, 'name'),
    compartmentId,
    ...(typeof o.partitions === 'number' ? { partitions: o.partitions } : {}),
    ...(typeof o.retentionInHours === 'number' ? { retentionInHours: o.retentionInHours } : {}),
  });
  return send(res, 200, wireStream(created, deps.endpoint()));
}

async function listStreams(deps: StreamingEndpointDeps, principal: Principal, query: URLSearchParams, res: http.ServerResponse): Promise<true> {
  const compartmentId = query.get('compartmentId');
  if (!compartmentId) throw new ServiceError('MissingParameter', 'Missing required parameter compartmentId.');
  if (!(await canUseCompartment(deps.directory, principal, compartmentId))) throw notAuthorizedOrNotFound();
  const name = query.get('name');
  const found = deps.streams.listStreams({ compartmentId, ...(name ? { name } : {}) });
  return send(res, 200, found.map((s) => wireStream(s, deps.endpoint())));
}

async function putMessages(deps: StreamingEndpointDeps, streamId: string, json: unknown, res: http.ServerResponse): Promise<true> {
  const messages = isRecord(json) ? json.messages : undefined;
  if (!Array.isArray(messages) || messages.length === 0) throw new ServiceError('InvalidParameter', 'messages must be a non-empty array.');
  const inputs: PublishInput[] = messages.map((m, i) => {
    if (!isRecord(m) || typeof m.value !== 'string') throw new ServiceError('InvalidParameter', `messages[${i}].value must be base64.`);
    const key = typeof m.key === 'string' ? Buffer.from(m.key, 'base64').toString('utf8') : null;
    return { key, value: Buffer.from(m.value, 'base64') };
  });
  try {
    const entries = await deps.streams.publish(streamId, inputs);
    return send(res, 200, { failures: 0, entries: entries.map(wireEntry) });
  } catch (e) {
    if (!(e instanceof PublishFailedError)) throw e;
    const failed = new Map(e.failures.map((f) => [f.index, f.error]));
    const entries = inputs.map((_, i) => {
      const error = failed.get(i);
      const stored = e.stored[i];
      if (error !== undefined || !stored) return { error: 'MessageTooLarge', errorMessage: error ?? 'not stored' };
      return wireEntry(stored);
    });
    return send(res, 200, { failures: e.failures.length, entries });
  }
}

function wireEntry(e: { partition: string; offset: number; timestamp: string }) {
  return { partition: e.partition, offset: e.offset, timestamp: e.timestamp };
}

async function getMessages(
  deps: StreamingEndpointDeps,
  req: http.IncomingMessage,
  streamId: string,
  query: URLSearchParams,
  res: http.ServerResponse,
): Promise<true> {
  const cursor = query.get('cursor');
  if (!cursor) throw new ServiceError('MissingParameter', 'Missing required parameter cursor.');
  const limit = queryLimit(query.get('limit'), DEFAULT_GET_LIMIT, MAX_GET_LIMIT, (message) => new ServiceError('InvalidParameter', message));
  const rawWait = req.headers[LONG_POLL_HEADER];
  const waitMs = Math.max(0, Math.min(Number(Array.isArray(rawWait) ? rawWait[0] : rawWait) || 0, MAX_SERVER_LONG_POLL_MS));
  // A client that goes away stops the long poll instead of leaving a waiter behind.
  const abort = new AbortController();
  const onClose = () => abort.abort();
  res.once('close', onClose);
  try {
    const got = await deps.streams.getMessages(streamId, cursor, { limit, waitMs, signal: abort.signal });
    if (abort.signal.aborted) return true;
    const wire = got.messages.map((m) => ({
      stream: m.stream,
      partition: m.partition,
      key: m.key === null ? null : Buffer.from(m.key, 'utf8').toString('base64'),
      value: m.value.toString('base64'),
      offset: m.offset,
      timestamp: m.timestamp,
    }));
    return send(res, 200, wire, { 'opc-next-cursor': got.nextCursor });
  } finally {
    res.off('close', onClose);
  }
}
