/**
 * Opaque `opc-next-page` tokens (spec §8). The TS SDK sends `page=` without URL-encoding it (spec §2), so a token
 * may use only `[A-Za-z0-9_-]`: base64url of a small flat JSON object, without padding.
 */
import { ServiceError } from './errors';

export type PageTokenPayload = Record<string, string | number>;

/** Keyset tokens carry a sort key and an id; anything much longer was not made by us. */
const MAX_PAGE_TOKEN_LENGTH = 1024;
const PAGE_TOKEN_CHARS = /^[A-Za-z0-9_-]+$/;

export function encodePageToken(payload: PageTokenPayload): string {
  const token = Buffer.from(JSON.stringify(payload), 'utf8').toString('base64url');
  if (token.length > MAX_PAGE_TOKEN_LENGTH) throw new RangeError(`Page token payload too large (${token.length} characters)`);
  return token;
}

function invalidPage(reason: string): ServiceError {
  return new ServiceError('InvalidParameter', `The parameter 'page' is not a valid page token: ${reason}.`);
}

/** Decodes a token made by `encodePageToken`; anything else, or one lacking a required key, is InvalidParameter. */
export function decodePageToken(token: string, requiredKeys: readonly string[]): PageTokenPayload {
  if (token.length === 0 || token.length > MAX_PAGE_TOKEN_LENGTH || !PAGE_TOKEN_CHARS.test(token)) {
    throw invalidPage('malformed');
  }
  const bytes = Buffer.from(token, 'base64url');
  // Node's decoder skips characters it cannot use; re-encoding shows whether the token was canonical base64url.
  if (bytes.toString('base64url') !== token) throw invalidPage('malformed');
  let parsed: unknown;
  try {
    parsed = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw invalidPage('malformed');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw invalidPage('malformed');
  // No prototype: a `__proto__` key in a crafted token stays plain data.
  const payload: PageTokenPayload = Object.create(null) as PageTokenPayload;
  for (const [key, value] of Object.entries(parsed)) {
    if (typeof value === 'string' || (typeof value === 'number' && Number.isFinite(value))) payload[key] = value;
    else throw invalidPage('malformed');
  }
  for (const key of requiredKeys) {
    if (!Object.hasOwn(payload, key)) throw invalidPage('incomplete');
  }
  return payload;
}
