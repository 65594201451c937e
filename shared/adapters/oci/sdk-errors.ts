import { isCursorExpiredAnswer } from '../../api/streaming';
import { CursorExpiredError, StreamError, StreamNotFoundError, StreamUnavailableError } from '../../ports/stream';

/**
 * What an OCI SDK call failed with, read from the shapes oci-common 2.139.1 actually throws:
 * - a service answer becomes `OciError { statusCode, serviceCode, message }`;
 * - a dropped connection or DNS failure becomes a plain object `{ code, message, requestEndpoint }` (not an Error);
 * - an open circuit breaker becomes an `OciError` whose `statusCode` is the string `'EOPENBREAKER'`.
 * Fields are read by duck typing: `instanceof OciError` breaks when two oci-common copies are installed.
 */
export type SdkFailure =
  | { kind: 'service'; statusCode: number; serviceCode: string; message: string }
  | { kind: 'transport'; message: string };

export function classifySdkFailure(err: unknown): SdkFailure | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const { statusCode, serviceCode, message, requestEndpoint } = err as Record<string, unknown>;
  const text = typeof message === 'string' ? message : '';
  if (typeof statusCode === 'number' && statusCode > 0) {
    return { kind: 'service', statusCode, serviceCode: typeof serviceCode === 'string' ? serviceCode : 'None', message: text };
  }
  if (statusCode !== undefined || typeof requestEndpoint === 'string') return { kind: 'transport', message: text };
  return undefined;
}

/** Throttling, server faults and lost connections: worth retrying later, after the SDK's own retries gave up. */
export function isTransient(failure: SdkFailure): boolean {
  return failure.kind === 'transport' || failure.statusCode === 429 || failure.statusCode >= 500;
}

/**
 * The `Stream` port's error for a failed Streaming call, whoever made it (the SDK adapter, or the agent's own client):
 * 404 → not found, an expired cursor, throttling/server/transport faults → unavailable, anything else → StreamError.
 */
export function streamErrorOf(streamId: string, failure: SdkFailure, cause: unknown): StreamError {
  if (failure.kind === 'service') {
    if (failure.statusCode === 404) return new StreamNotFoundError(streamId, { cause });
    if (isCursorExpiredAnswer(failure.statusCode, failure.serviceCode, failure.message)) {
      return new CursorExpiredError(failure.message || undefined, { cause });
    }
  }
  const message = `Stream ${streamId}: ${describeFailure(failure)}`;
  return isTransient(failure) ? new StreamUnavailableError(message, { cause }) : new StreamError(message, { cause });
}

export function describeFailure(failure: SdkFailure): string {
  return failure.kind === 'service'
    ? `${failure.statusCode} ${failure.serviceCode}: ${failure.message}`
    : `connection failed: ${failure.message || 'unknown error'}`;
}

/**
 * oci-common 2.139.1 does not percent-encode query parameters (`key + "=" + value`), so a `+`, `&` or `%` in a
 * prefix, object name or cursor would reach the server altered. Encoding here makes every server decode the original.
 */
export function queryValue(value: string): string;
export function queryValue(value: string | undefined): string | undefined;
export function queryValue(value: string | undefined): string | undefined {
  return value === undefined ? undefined : encodeURIComponent(value);
}
