/**
 * Agent sessions (docs/agent-protocol.md, "Sessions"). An agent signs one request with its instance key,
 * `POST /20180530/agent/sessions`, and gets a session: an opaque token and a secret. It then signs its requests to the
 * platform with HMAC-SHA256 under that secret (`algorithm="hmac-sha256"`, `keyId="session:<token>"`), which costs
 * both ends a few microseconds where an asymmetric signature costs the agent 35-300 µs and the platform 25-90 µs.
 *
 * The platform keeps no session state. The token carries the instance, its key's fingerprint and the expiry, with a MAC
 * under a key that lives only in the platform process's memory; the secret is a MAC of the token under that key, so
 * it is derived again for every request. A restart of the platform ends every session (agents then sign with their
 * keys and open a new one). Every session-signed request still looks up the instance key: deleting the key ends its
 * sessions at once.
 *
 * The secret never crosses the wire in clear: the agent sends an ephemeral X25519 public key in its (key-signed)
 * request, and the platform answers the secret encrypted with AES-256-GCM under HKDF-SHA256 of the X25519 shared secret,
 * so a passive observer of a plain-HTTP deployment learns nothing it can sign with.
 */
import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  hkdfSync,
  randomBytes,
  timingSafeEqual,
  type KeyObject,
} from 'node:crypto';

export const AGENT_SESSIONS_PATH = '/20180530/agent/sessions';
/** Session-signed requests name `keyId="session:<token>"`. */
export const SESSION_KEY_ID_PREFIX = 'session:';
export const DEFAULT_SESSION_LIFETIME_MS = 60 * 60 * 1000;

const TOKEN_VERSION = 'v1';
const HKDF_INFO = Buffer.from('runcommand agent session v1');
const SECRET_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
/** Base64url, as JWK carries an X25519 public key (32 bytes). */
const X25519_PUBLIC_KEY = /^[A-Za-z0-9_-]{43}$/;
const MAX_TOKEN_LENGTH = 2048;

/** Who a session speaks for: an instance and the key it was opened with. */
export interface SessionPrincipal {
  tenancyId: string;
  instanceId: string;
  fingerprint: string;
}

export interface OpenedSession extends SessionPrincipal {
  secret: Buffer;
  expiresAtMs: number;
}

/** The body of `POST /20180530/agent/sessions`. */
export interface SessionRequestBody {
  /** The agent's ephemeral X25519 public key, base64url (JWK `x`). */
  publicKey: string;
}

/** The answer to `POST /20180530/agent/sessions`. */
export interface SessionGrant {
  sessionToken: string;
  /** The platform's ephemeral X25519 public key for this grant, base64url. */
  serverPublicKey: string;
  /** base64 of iv (12 bytes) | ciphertext (32) | tag (16): the secret under AES-256-GCM, the token as associated data. */
  encryptedSecret: string;
  timeExpires: string;
}

/** A session as the agent holds it. */
export interface AgentSession {
  token: string;
  secret: Buffer;
  expiresAtMs: number;
}

export class InvalidSessionRequestError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidSessionRequestError';
  }
}

const b64url = (b: Buffer): string => b.toString('base64url');

function x25519PublicKey(x: string): KeyObject {
  if (!X25519_PUBLIC_KEY.test(x)) throw new InvalidSessionRequestError('publicKey must be a base64url X25519 public key (32 bytes).');
  try {
    return createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x }, format: 'jwk' });
  } catch {
    throw new InvalidSessionRequestError('publicKey is not a valid X25519 public key.');
  }
}

function rawPublicKey(key: KeyObject): string {
  const { x } = key.export({ format: 'jwk' });
  if (typeof x !== 'string') throw new Error('An X25519 key exported no public value.');
  return x;
}

/** The AES key both ends derive from their X25519 keys; the token binds it to this grant. */
function wrappingKey(privateKey: KeyObject, publicKey: KeyObject, token: string): Buffer {
  let shared: Buffer;
  try {
    shared = diffieHellman({ privateKey, publicKey });
  } catch {
    throw new InvalidSessionRequestError('publicKey is not a usable X25519 public key.');
  }
  // A small-order public key makes the shared secret all zeros; such a key is refused.
  if (shared.every((byte) => byte === 0)) throw new InvalidSessionRequestError('publicKey is not a usable X25519 public key.');
  return Buffer.from(hkdfSync('sha256', shared, Buffer.from(token, 'utf8'), HKDF_INFO, 32));
}

/** The platform's side: issues and opens session tokens with a key held in memory only. */
export class AgentSessions {
  private readonly key: Buffer;
  readonly lifetimeMs: number;

  constructor(options: { lifetimeMs?: number; key?: Buffer } = {}) {
    this.key = options.key ?? randomBytes(32);
    this.lifetimeMs = options.lifetimeMs ?? DEFAULT_SESSION_LIFETIME_MS;
  }

  /** A grant for `principal`, its secret encrypted to the agent's X25519 public key (base64url). */
  issue(principal: SessionPrincipal, agentPublicKey: string, nowMs: number): SessionGrant {
    const publicKey = x25519PublicKey(agentPublicKey);
    const expiresAtMs = nowMs + this.lifetimeMs;
    // The nonce makes every grant's token, and so its secret, its own, even two in the same millisecond.
    const fields = { t: principal.tenancyId, i: principal.instanceId, f: principal.fingerprint, e: expiresAtMs, n: b64url(randomBytes(12)) };
    const payload = b64url(Buffer.from(JSON.stringify(fields), 'utf8'));
    const token = `${TOKEN_VERSION}.${payload}.${b64url(this.mac('token', `${TOKEN_VERSION}.${payload}`))}`;
    const server = generateKeyPairSync('x25519');
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', wrappingKey(server.privateKey, publicKey, token), iv);
    cipher.setAAD(Buffer.from(token, 'utf8'));
    const encrypted = Buffer.concat([iv, cipher.update(this.secretOf(token)), cipher.final(), cipher.getAuthTag()]);
    return {
      sessionToken: token,
      serverPublicKey: rawPublicKey(server.publicKey),
      encryptedSecret: encrypted.toString('base64'),
      timeExpires: new Date(expiresAtMs).toISOString(),
    };
  }

  /** The session a token stands for, or undefined when it is malformed, forged, or expired. */
  open(token: string, nowMs: number): OpenedSession | undefined {
    if (token.length > MAX_TOKEN_LENGTH) return undefined;
    const parts = token.split('.');
    if (parts.length !== 3 || parts[0] !== TOKEN_VERSION) return undefined;
    const [version, payload, mac] = parts as [string, string, string];
    const given = Buffer.from(mac, 'base64url');
    const expected = this.mac('token', `${version}.${payload}`);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
    let fields: unknown;
    try {
      fields = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
    } catch {
      return undefined;
    }
    const f = fields as { t?: unknown; i?: unknown; f?: unknown; e?: unknown } | null;
    if (f === null || typeof f !== 'object' || typeof f.t !== 'string' || typeof f.i !== 'string' || typeof f.f !== 'string' || typeof f.e !== 'number') {
      return undefined;
    }
    if (f.e <= nowMs) return undefined;
    return { tenancyId: f.t, instanceId: f.i, fingerprint: f.f, expiresAtMs: f.e, secret: this.secretOf(token) };
  }

  private secretOf(token: string): Buffer {
    return this.mac('secret', token);
  }

  private mac(purpose: string, value: string): Buffer {
    return createHmac('sha256', this.key).update(`${purpose}\n${value}`, 'utf8').digest();
  }
}

/** The agent's side, before asking: an ephemeral X25519 key pair and the request body carrying its public half. */
export function newSessionRequest(): { body: SessionRequestBody; privateKey: KeyObject } {
  const { privateKey, publicKey } = generateKeyPairSync('x25519');
  return { body: { publicKey: rawPublicKey(publicKey) }, privateKey };
}

/** The agent's side, with the answer: the session, or an error saying what is wrong with the grant. */
export function openSessionGrant(grant: unknown, privateKey: KeyObject): AgentSession {
  const g = grant as Partial<Record<keyof SessionGrant, unknown>> | null;
  if (g === null || typeof g !== 'object' || typeof g.sessionToken !== 'string' || typeof g.serverPublicKey !== 'string' || typeof g.encryptedSecret !== 'string' || typeof g.timeExpires !== 'string') {
    throw new Error('The session grant lacks sessionToken, serverPublicKey, encryptedSecret or timeExpires.');
  }
  const expiresAtMs = Date.parse(g.timeExpires);
  if (Number.isNaN(expiresAtMs)) throw new Error('The session grant has no valid timeExpires.');
  const sealed = Buffer.from(g.encryptedSecret, 'base64');
  if (sealed.length !== IV_BYTES + SECRET_BYTES + TAG_BYTES) throw new Error('The session grant has a malformed encryptedSecret.');
  const decipher = createDecipheriv('aes-256-gcm', wrappingKey(privateKey, x25519PublicKey(g.serverPublicKey), g.sessionToken), sealed.subarray(0, IV_BYTES));
  decipher.setAAD(Buffer.from(g.sessionToken, 'utf8'));
  decipher.setAuthTag(sealed.subarray(IV_BYTES + SECRET_BYTES));
  let secret: Buffer;
  try {
    secret = Buffer.concat([decipher.update(sealed.subarray(IV_BYTES, IV_BYTES + SECRET_BYTES)), decipher.final()]);
  } catch {
    throw new Error('The session secret could not be decrypted.');
  }
  return { token: g.sessionToken, secret, expiresAtMs };
}
