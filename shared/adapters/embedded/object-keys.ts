/**
 * Object key ordering shared by the embedded store and the in-memory fake: Object Storage orders keys by their UTF-8
 * bytes, which differs from JavaScript's UTF-16 string order for characters outside the Basic Multilingual Plane.
 */
import type { ListOptions } from '../../ports/object-store';

/** Object Storage's own maximum page size. */
export const OBJECT_LIST_MAX_LIMIT = 1000;

export function clampListLimit(limit: number): number {
  return Math.min(Math.max(Math.floor(limit), 1), OBJECT_LIST_MAX_LIMIT);
}

export function compareKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** The byte range [lower, upper) of keys that match a list request; no `upper` means unbounded. */
export function keyRange(options: Pick<ListOptions, 'prefix' | 'start' | 'end'>): { lower: Buffer; upper?: Buffer } {
  const prefix = Buffer.from(options.prefix ?? '', 'utf8');
  const start = Buffer.from(options.start ?? '', 'utf8');
  const lower = Buffer.compare(start, prefix) > 0 ? start : prefix;
  const prefixUpper = prefixUpperBound(prefix);
  const end = options.end === undefined ? undefined : Buffer.from(options.end, 'utf8');
  const upper = !prefixUpper ? end : !end ? prefixUpper : Buffer.compare(end, prefixUpper) < 0 ? end : prefixUpper;
  return upper ? { lower, upper } : { lower };
}

/** Whether a key lies in the range `keyRange` gave. */
export function inKeyRange(key: string, range: { lower: Buffer; upper?: Buffer }): boolean {
  const bytes = Buffer.from(key, 'utf8');
  return Buffer.compare(bytes, range.lower) >= 0 && (!range.upper || Buffer.compare(bytes, range.upper) < 0);
}

/** The smallest byte string greater than every string starting with `prefix`; undefined when there is none. */
function prefixUpperBound(prefix: Buffer): Buffer | undefined {
  let end = prefix.length;
  while (end > 0 && prefix[end - 1] === 0xff) end--;
  if (end === 0) return undefined;
  const upper = Buffer.from(prefix.subarray(0, end));
  upper[end - 1] = (upper[end - 1] ?? 0) + 1;
  return upper;
}
