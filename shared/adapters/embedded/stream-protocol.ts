/**
 * The OCI Streaming rules the embedded log and the in-memory fake both follow: limits, partition choice, publish
 * validation and the group cursor format. Pure: no I/O, no clock reads.
 */
import { CursorExpiredError, StreamError, type CursorOptions, type PublishInput } from '../../ports/stream';

export const StreamLimits = {
  /** One message's value (OCI: 1 MB). */
  maxMessageBytes: 1024 * 1024,
  /** A whole publish request, keys and values after base64 decoding (OCI: 1 MB). */
  maxRequestBytes: 1024 * 1024,
  maxKeyBytes: 256,
  maxGetLimit: 10_000,
  /** OCI cursors expire five minutes after issue. */
  defaultCursorTtlMs: 5 * 60 * 1000,
  maxPartitions: 50,
  minRetentionHours: 24,
  maxRetentionHours: 168,
} as const;

/** A message or a whole publish request is over its size limit. */
export class MessageTooLargeError extends StreamError {
  constructor(
    readonly what: 'message value' | 'message key' | 'publish request',
    readonly sizeBytes: number,
    readonly limitBytes: number,
  ) {
    super(`The ${what} is ${sizeBytes} bytes; the limit is ${limitBytes} bytes`);
    this.name = 'MessageTooLargeError';
  }
}

/** A cursor this adapter did not issue, or issued for another stream. */
export class InvalidCursorError extends StreamError {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidCursorError';
  }
}

/** A stream admin request with an out-of-range setting. */
export class InvalidStreamSettingsError extends StreamError {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidStreamSettingsError';
  }
}

export interface EncodedMessage {
  key: string | null;
  value: Buffer;
}

export interface CheckedBatch {
  /** The messages that may be stored, with their index in the request. */
  accepted: Array<{ index: number; message: EncodedMessage }>;
  /** The messages that may not, with the reason, as OCI reports them per entry. */
  failures: Array<{ index: number; error: string }>;
}

/**
 * Splits a publish request into storable messages and per-message failures (oversize values or keys), as OCI reports
 * them. Throws `MessageTooLargeError` when the storable messages together exceed the request limit: OCI rejects such
 * a request whole.
 */
export function checkPublishBatch(messages: readonly PublishInput[]): CheckedBatch {
  const batch: CheckedBatch = { accepted: [], failures: [] };
  let requestBytes = 0;
  messages.forEach((input, index) => {
    const value = typeof input.value === 'string' ? Buffer.from(input.value, 'utf8') : input.value;
    const key = input.key ?? null;
    const keyBytes = key === null ? 0 : Buffer.byteLength(key, 'utf8');
    const tooLarge =
      value.length > StreamLimits.maxMessageBytes
        ? new MessageTooLargeError('message value', value.length, StreamLimits.maxMessageBytes)
        : keyBytes > StreamLimits.maxKeyBytes
          ? new MessageTooLargeError('message key', keyBytes, StreamLimits.maxKeyBytes)
          : undefined;
    if (tooLarge) {
      batch.failures.push({ index, error: `${tooLarge.name}: ${tooLarge.message}` });
      return;
    }
    requestBytes += keyBytes + value.length;
    batch.accepted.push({ index, message: { key, value } });
  });
  if (requestBytes > StreamLimits.maxRequestBytes) {
    throw new MessageTooLargeError('publish request', requestBytes, StreamLimits.maxRequestBytes);
  }
  return batch;
}

/** The partition of a key: a stable hash (FNV-1a of the UTF-8 bytes), so one key always lands in one partition. */
export function partitionForKey(key: string | null, partitions: number): number {
  if (key === null || partitions <= 1) return 0;
  let hash = 0x811c9dc5;
  for (const byte of Buffer.from(key, 'utf8')) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash % partitions;
}

export function clampGetLimit(limit: number): number {
  return Math.min(Math.max(Math.floor(limit), 1), StreamLimits.maxGetLimit);
}

/** What a group cursor carries: the reader's position in every partition, and when it was issued. */
export interface GroupCursor {
  streamId: string;
  groupName: string;
  instanceName: string;
  /** Per partition, the offset of the next message to read. */
  nextOffsets: number[];
  issuedAtMs: number;
}

interface CursorJson {
  v: 1;
  s: string;
  g: string;
  i: string;
  o: number[];
  t: number;
}

export function encodeCursor(cursor: GroupCursor): string {
  const json: CursorJson = {
    v: 1,
    s: cursor.streamId,
    g: cursor.groupName,
    i: cursor.instanceName,
    o: cursor.nextOffsets,
    t: cursor.issuedAtMs,
  };
  return Buffer.from(JSON.stringify(json), 'utf8').toString('base64url');
}

/** Decodes a cursor for `streamId`, checking its shape and its age. */
export function decodeCursor(
  streamId: string,
  encoded: string,
  expiry: { nowMs: number; cursorTtlMs: number },
  /** The stream's partition count: a cursor (unsigned, so forgeable) must carry exactly one offset per partition. */
  partitions: number,
): GroupCursor {
  let json: Partial<CursorJson>;
  try {
    json = JSON.parse(Buffer.from(encoded, 'base64url').toString('utf8')) as Partial<CursorJson>;
  } catch {
    throw new InvalidCursorError('The cursor is malformed');
  }
  const valid =
    typeof json === 'object' &&
    json !== null &&
    json.v === 1 &&
    typeof json.s === 'string' &&
    typeof json.g === 'string' &&
    typeof json.i === 'string' &&
    typeof json.t === 'number' &&
    Array.isArray(json.o) &&
    json.o.every((offset) => Number.isSafeInteger(offset) && offset >= 0);
  if (!valid) throw new InvalidCursorError('The cursor is malformed');
  if (json.s !== streamId) throw new InvalidCursorError(`The cursor is for another stream than ${streamId}`);
  if ((json.o as number[]).length !== partitions) throw new InvalidCursorError(`The cursor does not match the partitions of ${streamId}`);
  const cursor: GroupCursor = {
    streamId: json.s as string,
    groupName: json.g as string,
    instanceName: json.i as string,
    nextOffsets: json.o as number[],
    issuedAtMs: json.t as number,
  };
  if (expiry.nowMs - cursor.issuedAtMs > expiry.cursorTtlMs) throw new CursorExpiredError();
  return cursor;
}

/** Validates stream admin settings and applies OCI's defaults. */
export function streamSettings(options: { partitions?: number; retentionInHours?: number }): {
  partitions: number;
  retentionInHours: number;
} {
  const partitions = options.partitions ?? 1;
  const retentionInHours = options.retentionInHours ?? StreamLimits.minRetentionHours;
  if (!Number.isInteger(partitions) || partitions < 1 || partitions > StreamLimits.maxPartitions) {
    throw new InvalidStreamSettingsError(`partitions must be an integer from 1 to ${StreamLimits.maxPartitions}`);
  }
  if (
    !Number.isInteger(retentionInHours) ||
    retentionInHours < StreamLimits.minRetentionHours ||
    retentionInHours > StreamLimits.maxRetentionHours
  ) {
    throw new InvalidStreamSettingsError(
      `retentionInHours must be an integer from ${StreamLimits.minRetentionHours} to ${StreamLimits.maxRetentionHours}`,
    );
  }
  return { partitions, retentionInHours };
}

/**
 * A plain cursor is encoded like a group cursor with an empty group name (real groups always have a name), and every
 * other partition parked past any offset that can exist, so the same reader serves both kinds.
 */
const PLAIN_CURSOR_GROUP = '';
const PARKED_OFFSET = Number.MAX_SAFE_INTEGER;

export function isPlainCursor(cursor: GroupCursor): boolean {
  return cursor.groupName === PLAIN_CURSOR_GROUP;
}

/** Commit and heartbeat act on a consumer group; a plain cursor has none. */
export function requireGroupCursor(cursor: GroupCursor): void {
  if (isPlainCursor(cursor)) throw new InvalidCursorError('Commit and heartbeat need a group cursor, not a plain cursor');
}

/** Where a new plain cursor starts, given how to find a partition's end and the first offset at or after a time. */
export function plainCursor(
  streamId: string,
  partitions: number,
  options: CursorOptions,
  position: { endOffset(partition: number): number; firstOffsetAtOrAfter(partition: number, timeMs: number): number },
  issuedAtMs: number,
): string {
  const partition = Number(options.partition);
  if (!/^\d+$/.test(options.partition) || partition >= partitions) {
    throw new InvalidCursorError(`Partition ${options.partition} does not exist in ${streamId}`);
  }
  const needsOffset = options.type === 'AT_OFFSET' || options.type === 'AFTER_OFFSET';
  const offset = options.offset ?? -1;
  if (needsOffset && !(Number.isSafeInteger(offset) && offset >= 0)) {
    throw new InvalidCursorError(`A ${options.type} cursor needs a non-negative integer offset`);
  }
  if (options.type === 'AT_TIME' && !Number.isFinite(options.timeMs)) {
    throw new InvalidCursorError('An AT_TIME cursor needs a time');
  }
  let start: number;
  switch (options.type) {
    case 'TRIM_HORIZON':
      start = 0;
      break;
    case 'LATEST':
      start = position.endOffset(partition);
      break;
    case 'AT_OFFSET':
      start = offset;
      break;
    case 'AFTER_OFFSET':
      start = offset + 1;
      break;
    case 'AT_TIME':
      start = position.firstOffsetAtOrAfter(partition, options.timeMs as number);
      break;
  }
  const nextOffsets = new Array<number>(partitions).fill(PARKED_OFFSET);
  nextOffsets[partition] = start;
  return encodeCursor({ streamId, groupName: PLAIN_CURSOR_GROUP, instanceName: '', nextOffsets, issuedAtMs });
}
