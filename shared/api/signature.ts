/**
 * OCI HTTP Signature v1 (draft-cavage-http-signatures-08 with OCI's required headers), spec §10.
 * `verifySignedRequest` is what the gateway runs on every request; `signRequest` signs our own non-SDK calls
 * (agent callbacks, tests) the way the TS SDK does.
 *
 * Two algorithms, chosen by the key: `rsa-sha256` (OCI's, the only one its SDKs and services know) and `ed25519`
 * (RFC 9421's name), which this platform accepts for keys registered as Ed25519: agents' instance keys by default, since
 * an Ed25519 signature costs an agent a tenth of an RSA-2048 one. The algorithm a request names must be its key's.
 */
import { createHash, createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { ServiceError } from '../domain/errors';
import type { ApiKeyRecord, KeyRegistry, Principal } from '../ports/identity';

export const DEFAULT_MAX_SKEW_MS = 5 * 60 * 1000;

/** Methods whose signature must also cover the body (spec §10.2 step 3). */
/** The methods whose body the signature covers (and which send one, if only empty). */
export const BODY_METHODS: ReadonlySet<string> = new Set(['POST', 'PUT', 'PATCH']);
const BODY_HEADERS = ['content-length', 'content-type', 'x-content-sha256'] as const;
/** A real Authorization header is well under 1 KiB; refusing huge ones bounds the parsing work. */
const MAX_AUTHORIZATION_LENGTH = 8192;
const MAX_SIGNED_HEADERS = 32;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
const AUTH_PARAM = /^([A-Za-z]+)="([^"]*)"$/;

export interface SignedRequest {
  method: string;
  /** Path and query exactly as received (Node's `req.url`); it is signed as is. */
  rawUrl: string;
  headers: IncomingHttpHeaders;
  /** base64(SHA-256) of the raw body bytes, when the caller has read the body. */
  bodySha256Base64?: string;
  bodyLength?: number;
}

export interface VerifyOptions {
  maxSkewMs?: number;
  /**
   * Whether POST/PUT/PATCH must sign content-length, content-type and x-content-sha256. Default true; false for the
   * Object Storage PUT and Streaming putMessages routes, which the SDK signs without the body.
   */
  requireBodyHeaders?: boolean;
}

export interface VerifiedCaller {
  principal: Principal;
  keyId: string;
  /** The headers the signature covers, lower-case, as listed in the Authorization header. */
  signedHeaders: readonly string[];
}

function notAuthenticated(message: string, cause?: unknown): ServiceError {
  return new ServiceError('NotAuthenticated', message, cause === undefined ? undefined : { cause });
}

/** The signature algorithms, by the key type (`KeyObject.asymmetricKeyType`) that signs with each. */
export type SignatureAlgorithm = 'rsa-sha256' | 'ed25519';
const ALGORITHM_OF_KEY_TYPE: Readonly<Record<string, SignatureAlgorithm>> = { rsa: 'rsa-sha256', ed25519: 'ed25519' };
/** The digest `crypto.sign`/`verify` take for each algorithm (Ed25519 hashes internally). */
export const SIGNATURE_DIGEST: Readonly<Record<SignatureAlgorithm, string | null>> = { 'rsa-sha256': 'sha256', ed25519: null };

/** The algorithm a key signs with, or undefined for key types this platform does not accept. */
export function signatureAlgorithmOf(key: KeyObject): SignatureAlgorithm | undefined {
  return key.asymmetricKeyType === undefined ? undefined : ALGORITHM_OF_KEY_TYPE[key.asymmetricKeyType];
}

interface AuthorizationParams {
  keyId: string;
  signature: string;
  headers: string[];
  algorithm: SignatureAlgorithm;
}

function parseAuthorization(header: string | undefined): AuthorizationParams {
  if (header === undefined || header === '') throw notAuthenticated('The Authorization header is missing.');
  if (header.length > MAX_AUTHORIZATION_LENGTH) throw notAuthenticated('The Authorization header is too long.');
  const scheme = 'signature ';
  if (header.slice(0, scheme.length).toLowerCase() !== scheme) {
    throw notAuthenticated('The Authorization header must use the Signature scheme.');
  }
  const params = new Map<string, string>();
  // Values never contain commas or quotes (keyId, base64, header names), so a plain split is exact.
  for (const part of header.slice(scheme.length).split(',')) {
    const match = AUTH_PARAM.exec(part.trim());
    if (!match) throw notAuthenticated('The Authorization header is malformed.');
    const name = (match[1] ?? '').toLowerCase();
    if (params.has(name)) throw notAuthenticated(`The Authorization parameter ${name} appears more than once.`);
    params.set(name, match[2] ?? '');
  }
  // OCI's signers always name the algorithm; without one, rsa-sha256 (OCI's only algorithm) is meant.
  const algorithm = (params.get('algorithm') ?? 'rsa-sha256').toLowerCase();
  if (algorithm !== 'rsa-sha256' && algorithm !== 'ed25519') {
    throw notAuthenticated(`The signature algorithm ${params.get('algorithm')} is not supported; use rsa-sha256 (or ed25519 with an Ed25519 key).`);
  }
  const version = params.get('version');
  if (version !== undefined && version !== '1') throw notAuthenticated(`The signature version ${version} is not supported; use 1.`);
  const keyId = params.get('keyid');
  const signature = params.get('signature');
  const headers = params.get('headers');
  if (!keyId) throw notAuthenticated('The Authorization header has no keyId.');
  if (!signature || !BASE64.test(signature)) throw notAuthenticated('The Authorization header has no valid signature.');
  if (!headers) throw notAuthenticated('The Authorization header has no headers list.');
  const names = headers.trim().split(/\s+/).map((h) => h.toLowerCase());
  if (names.length > MAX_SIGNED_HEADERS) throw notAuthenticated('The signature covers too many headers.');
  if (new Set(names).size !== names.length) throw notAuthenticated('The signed headers list names a header twice.');
  return { keyId, signature, headers: names, algorithm };
}

function headerValue(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}

function requireSignedHeaders(signed: readonly string[], method: string, requireBodyHeaders: boolean): void {
  const required: string[] = ['(request-target)', 'host'];
  if (requireBodyHeaders && BODY_METHODS.has(method)) required.push(...BODY_HEADERS);
  for (const name of required) {
    if (!signed.includes(name)) throw notAuthenticated(`The required header ${name} is not signed.`);
  }
  if (!signed.includes('date') && !signed.includes('x-date')) throw notAuthenticated('The required header x-date (or date) is not signed.');
}

function signingString(req: SignedRequest, method: string, signed: readonly string[]): string {
  return signed
    .map((name) => {
      if (name === '(request-target)') return `(request-target): ${method.toLowerCase()} ${req.rawUrl}`;
      const value = headerValue(req.headers, name);
      if (value === undefined) throw notAuthenticated(`The signed header ${name} is missing from the request.`);
      return `${name}: ${value}`;
    })
    .join('\n');
}

function checkClockSkew(req: SignedRequest, signed: readonly string[], nowMs: number, maxSkewMs: number): void {
  // OCI lets x-date stand in for Date (browsers cannot set Date); when both are signed, x-date is the one meant.
  const dateHeader = signed.includes('x-date') ? 'x-date' : 'date';
  const raw = headerValue(req.headers, dateHeader);
  const signedAtMs = raw === undefined ? NaN : Date.parse(raw);
  if (Number.isNaN(signedAtMs)) throw notAuthenticated(`The ${dateHeader} header is missing or not a date.`);
  if (Math.abs(nowMs - signedAtMs) > maxSkewMs) {
    throw notAuthenticated(`Signature date is more than ${Math.round(maxSkewMs / 60000)} minutes from the server time.`);
  }
}

function parseKeyId(keyId: string): { tenancyId: string; principalId: string; fingerprint: string } {
  const parts = keyId.split('/');
  const [tenancyId, principalId, fingerprint] = parts;
  if (parts.length !== 3 || !tenancyId || !principalId || !fingerprint) {
    throw notAuthenticated('The keyId must be <tenancy>/<user>/<fingerprint>.');
  }
  return { tenancyId, principalId, fingerprint };
}

function principalOf(key: ApiKeyRecord): Principal {
  return key.principalType === 'user'
    ? { type: 'user', tenancyId: key.tenancyId, userId: key.principalId }
    : { type: 'instance', tenancyId: key.tenancyId, instanceId: key.principalId };
}

function checkBody(req: SignedRequest, signed: readonly string[]): void {
  if (req.bodySha256Base64 !== undefined && signed.includes('x-content-sha256')) {
    if (headerValue(req.headers, 'x-content-sha256') !== req.bodySha256Base64) {
      throw notAuthenticated('The body does not match the signed x-content-sha256.');
    }
  }
  if (req.bodyLength !== undefined && signed.includes('content-length')) {
    const declared = headerValue(req.headers, 'content-length');
    if (declared === undefined || !/^\d+$/.test(declared) || Number(declared) !== req.bodyLength) {
      throw notAuthenticated('The body length does not match the signed content-length.');
    }
  }
}

/**
 * Verifies an OCI-signed request and names its caller. Throws ServiceError NotAuthenticated with the reason.
 * The body is checked against whichever of x-content-sha256 / content-length the signature covers, when the caller
 * passes the computed values; `requireBodyHeaders: false` only stops demanding that they be signed.
 */
export async function verifySignedRequest(
  req: SignedRequest,
  registry: KeyRegistry,
  nowMs: number,
  options: VerifyOptions = {},
): Promise<VerifiedCaller> {
  const method = req.method.toUpperCase();
  const auth = parseAuthorization(headerValue(req.headers, 'authorization'));
  requireSignedHeaders(auth.headers, method, options.requireBodyHeaders ?? true);
  checkClockSkew(req, auth.headers, nowMs, options.maxSkewMs ?? DEFAULT_MAX_SKEW_MS);
  const { tenancyId, principalId, fingerprint } = parseKeyId(auth.keyId);
  const key = await registry.findKey(tenancyId, principalId, fingerprint);
  if (!key || key.tenancyId !== tenancyId || key.principalId !== principalId) throw notAuthenticated('Unknown key.');
  let publicKey: KeyObject;
  try {
    publicKey = publicKeyObject(key.publicKeyPem);
  } catch (e) {
    throw notAuthenticated('Unknown key.', e);
  }
  const keyAlgorithm = signatureAlgorithmOf(publicKey);
  if (keyAlgorithm !== auth.algorithm) {
    throw notAuthenticated(`The signature algorithm ${auth.algorithm} does not match the key, which signs with ${keyAlgorithm ?? 'an unsupported algorithm'}.`);
  }
  const text = signingString(req, method, auth.headers);
  if (!verify(SIGNATURE_DIGEST[keyAlgorithm], Buffer.from(text, 'utf8'), publicKey, Buffer.from(auth.signature, 'base64'))) {
    throw notAuthenticated('The signature does not match the request.');
  }
  checkBody(req, auth.headers);
  return { principal: principalOf(key), keyId: auth.keyId, signedHeaders: auth.headers };
}

/** The OCI API key fingerprint: MD5 of the DER SubjectPublicKeyInfo, as colon-separated lower-case hex. */
export function fingerprintOf(publicKeyPem: string): string {
  const der = createPublicKey(publicKeyPem).export({ type: 'spki', format: 'der' });
  const hex = createHash('md5').update(der).digest('hex');
  return (hex.match(/../g) ?? []).join(':');
}

/** What the body is signed as: base64 of its SHA-256. */
export function bodySha256Base64(body: Buffer | string): string {
  return createHash('sha256').update(body).digest('base64');
}

export interface SigningKey {
  /** `<tenancy>/<user or instance>/<fingerprint>` */
  keyId: string;
  privateKeyPem: string;
}

export interface RequestToSign {
  method: string;
  url: URL;
  headers: Record<string, string>;
  body?: Buffer | string;
  /** Sign only `x-date (request-target) host` even for a POST/PUT/PATCH, as the SDK does for object PUTs and putMessages. */
  excludeBody?: boolean;
}

/** Parsing a PEM key costs more than the signature itself; signers and verifiers reuse parsed keys (bounded). */
const parsedKeys = new Map<string, KeyObject>();
// Room for a whole fleet of agents' public keys on a platform; a key object is a few KB.
const MAX_PARSED_KEYS = 4096;

function parsedKey(pem: string, parse: (pem: string) => KeyObject): KeyObject {
  let key = parsedKeys.get(pem);
  if (!key) {
    key = parse(pem);
    if (parsedKeys.size >= MAX_PARSED_KEYS) parsedKeys.clear();
    parsedKeys.set(pem, key);
  }
  return key;
}

const privateKeyObject = (pem: string) => parsedKey(pem, createPrivateKey);
const publicKeyObject = (pem: string) => parsedKey(pem, createPublicKey);

/** The algorithm `signRequest` signs with for this private key (undefined: it cannot sign). */
export function signingAlgorithmOf(privateKeyPem: string): SignatureAlgorithm | undefined {
  return signatureAlgorithmOf(privateKeyObject(privateKeyPem));
}

function findHeader(headers: Record<string, string>, name: string): string | undefined {
  const key = Object.keys(headers).find((k) => k.toLowerCase() === name);
  return key === undefined ? undefined : headers[key];
}

/**
 * Signs a request as the TS SDK does: `x-date (request-target) host`, plus `Content-Type Content-Length
 * x-content-sha256` for POST/PUT/PATCH (content-type defaults to application/json). Returns the headers to add;
 * host, content-type and content-length already in `req.headers` are signed as given and not returned.
 * The request must be sent to `url.pathname + url.search`, which is what gets signed. The algorithm is the key's:
 * rsa-sha256 for an RSA key, ed25519 for an Ed25519 key.
 */
export function signRequest(req: RequestToSign, key: SigningKey, nowMs: number = Date.now()): Record<string, string> {
  const method = req.method.toUpperCase();
  const added: Record<string, string> = { 'x-date': new Date(nowMs).toUTCString() };
  if (findHeader(req.headers, 'host') === undefined) added.host = req.url.host;
  const headerNames = ['x-date', '(request-target)', 'host'];
  if (BODY_METHODS.has(method) && !req.excludeBody) {
    const body = req.body ?? '';
    added['x-content-sha256'] = bodySha256Base64(body);
    if (findHeader(req.headers, 'content-type') === undefined) added['content-type'] = 'application/json';
    if (findHeader(req.headers, 'content-length') === undefined) added['content-length'] = String(typeof body === 'string' ? Buffer.byteLength(body, 'utf8') : body.length);
    headerNames.push('Content-Type', 'Content-Length', 'x-content-sha256');
  }
  const all = { ...req.headers, ...added };
  const text = headerNames
    .map((name) => {
      const lower = name.toLowerCase();
      if (lower === '(request-target)') return `(request-target): ${method.toLowerCase()} ${req.url.pathname}${req.url.search}`;
      return `${lower}: ${findHeader(all, lower) ?? ''}`;
    })
    .join('\n');
  const privateKey = privateKeyObject(key.privateKeyPem);
  const algorithm = signatureAlgorithmOf(privateKey);
  if (algorithm === undefined) throw new Error(`A ${privateKey.asymmetricKeyType ?? 'secret'} key cannot sign requests; use an RSA or Ed25519 key.`);
  const signature = sign(SIGNATURE_DIGEST[algorithm], Buffer.from(text, 'utf8'), privateKey).toString('base64');
  added.authorization = `Signature version="1",keyId="${key.keyId}",algorithm="${algorithm}",headers="${headerNames.join(' ')}",signature="${signature}"`;
  return added;
}
