/** What the OCI-compatible endpoints (Streaming, Object Storage) share: signature checks, JSON bodies, errors. */
import type http from 'node:http';
import { ServiceError } from '../shared/domain/errors';
import { readBody } from '../shared/api/http';
import { bodySha256Base64, verifySignedRequest, type VerifiedCaller } from '../shared/api/signature';
import type { Clock } from '../shared/ports/clock';
import type { KeyRegistry, Principal } from '../shared/ports/identity';

export interface EndpointDeps {
  keys: KeyRegistry;
  clock: Clock;
}

/**
 * Authenticates a request. `signsBody: false` is for the calls the OCI SDK signs without the body (Object Storage
 * PUT, Streaming putMessages); a body hash is still checked whenever the client did sign one.
 */
export async function authenticate(
  deps: EndpointDeps,
  req: http.IncomingMessage,
  body: Buffer | undefined,
  signsBody: boolean,
): Promise<Principal> {
  return (await authenticateCaller(deps, req, body, signsBody)).principal;
}

/** `authenticate`, with what else the signature check learned (the signed headers). */
export async function authenticateCaller(
  deps: EndpointDeps,
  req: http.IncomingMessage,
  body: Buffer | undefined,
  signsBody: boolean,
): Promise<VerifiedCaller> {
  return verifySignedRequest(
    {
      method: req.method ?? 'GET',
      rawUrl: req.url ?? '/',
      headers: req.headers,
      ...(body ? { bodySha256Base64: bodySha256Base64(body), bodyLength: body.length } : {}),
    },
    deps.keys,
    deps.clock.nowMs(),
    { requireBodyHeaders: signsBody },
  );
}

export async function readJsonBody(req: http.IncomingMessage, maxBytes: number): Promise<{ raw: Buffer; json: unknown }> {
  const raw = await readBody(req, maxBytes);
  if (raw.length === 0) return { raw, json: {} };
  try {
    return { raw, json: JSON.parse(raw.toString('utf8')) as unknown };
  } catch {
    throw new ServiceError('CannotParseRequest', 'The request body is not valid JSON.');
  }
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function requireString(o: Record<string, unknown>, field: string): string {
  const v = o[field];
  if (v === undefined || v === null || v === '') throw new ServiceError('MissingParameter', `Missing required parameter ${field}.`);
  if (typeof v !== 'string') throw new ServiceError('InvalidParameter', `${field} must be a string.`);
  return v;
}

/** A percent-decoded path segment; `invalid` builds the endpoint's own 400 for a malformed escape. */
export function decodeSegment(segment: string, invalid: (message: string) => Error): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw invalid('The path is not valid percent-encoded UTF-8.');
  }
}

/** The `limit` query parameter: `fallback` when absent, else a whole number from 1 to `max` (`invalid` builds the 400). */
export function queryLimit(raw: string | null, fallback: number, max: number, invalid: (message: string) => Error): number {
  if (raw === null) return fallback;
  const limit = Number(raw);
  if (!Number.isInteger(limit) || limit < 1 || limit > max) throw invalid(`limit must be an integer from 1 to ${max}.`);
  return limit;
}

export function splitPath(url: string): { segments: string[]; query: URLSearchParams } {
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  return { segments: path.split('/').slice(1), query: new URLSearchParams(q < 0 ? '' : url.slice(q + 1)) };
}
