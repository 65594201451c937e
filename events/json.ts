/** What every stream message parser shares: the error type and a bounded JSON-object decode. */

export class InvalidMessageError extends Error {
  constructor(
    message: string,
    readonly field?: string,
  ) {
    super(message);
    this.name = 'InvalidMessageError';
  }
}

/** Stream messages are small; anything larger is not one of ours. */
export const MAX_MESSAGE_BYTES = 64 * 1024;

export type Obj = Record<string, unknown>;

export function isObj(v: unknown): v is Obj {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Decodes a stream record's value into a JSON object, bounded. */
export function parseJsonMessage(value: Buffer): Obj {
  if (value.length > MAX_MESSAGE_BYTES) throw new InvalidMessageError(`the message is larger than ${MAX_MESSAGE_BYTES} bytes`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(value.toString('utf8'));
  } catch {
    throw new InvalidMessageError('the message is not JSON');
  }
  if (!isObj(parsed)) throw new InvalidMessageError('the message must be a JSON object');
  return parsed;
}

/** `o[field]` as a non-empty string; the error names `path + field`. */
export function str(o: Obj, field: string, path: string): string {
  const v = o[field];
  if (typeof v !== 'string' || v === '') throw new InvalidMessageError(`${path}${field} must be a non-empty string`, `${path}${field}`);
  return v;
}

/** Like `str`, but absent (`undefined` or `null`) gives `undefined`. */
export function optStr(o: Obj, field: string, path: string): string | undefined {
  return o[field] === undefined || o[field] === null ? undefined : str(o, field, path);
}
