/** Script output: a bounded tail of the combined stdout/stderr for TEXT results, and a sink for the full stream. */
import { createHash } from 'node:crypto';
import { Limits } from '../shared/domain/limits';
import type { ExecutionResult } from './executor';

export type OutputStreamName = 'stdout' | 'stderr';

/**
 * Where the full output goes (an Object Storage output: `object-output.ts`). A returned promise pauses reading from
 * the script until it settles, so a slow sink applies backpressure instead of buffering.
 */
export interface OutputSink {
  write(stream: OutputStreamName, chunk: Buffer): void | Promise<void>;
  /**
   * Called exactly once, after the script ended and its output drained (or when it could not be started), with the
   * result so far; answers the result to report, which an upload that failed changes.
   */
  finish(result: ExecutionResult): Promise<ExecutionResult>;
}

export const noopOutputSink: OutputSink = {
  write: () => undefined,
  finish: (result) => Promise.resolve(result),
};

/** Keeps the last `capacityBytes` bytes written, in a fixed buffer: memory never grows with the output. */
export class TailBuffer {
  private readonly ring: Buffer;
  private end = 0;
  private filled = 0;
  private total = 0;

  constructor(readonly capacityBytes: number = Limits.maxTextOutputBytes) {
    if (!Number.isInteger(capacityBytes) || capacityBytes <= 0) throw new RangeError('capacityBytes must be a positive integer');
    this.ring = Buffer.alloc(capacityBytes);
  }

  /** Bytes allocated for the tail (fixed). */
  get allocatedBytes(): number {
    return this.ring.length;
  }

  get totalBytes(): number {
    return this.total;
  }

  write(chunk: Buffer): void {
    this.total += chunk.length;
    const cap = this.ring.length;
    const data = chunk.length > cap ? chunk.subarray(chunk.length - cap) : chunk;
    const first = Math.min(data.length, cap - this.end);
    data.copy(this.ring, this.end, 0, first);
    data.copy(this.ring, 0, first);
    this.end = (this.end + data.length) % cap;
    this.filled = Math.min(cap, this.filled + data.length);
  }

  /** The held bytes, oldest first (a copy). */
  contents(): Buffer {
    const out = Buffer.alloc(this.filled);
    const start = (this.end - this.filled + this.ring.length) % this.ring.length;
    const first = Math.min(this.filled, this.ring.length - start);
    this.ring.copy(out, 0, start, start + first);
    this.ring.copy(out, first, 0, this.filled - first);
    return out;
  }
}

/** The last `maxBytes` bytes of `bytes`, dropping a partial UTF-8 character at the start of the cut. */
export function utf8Tail(bytes: Buffer, maxBytes: number): Buffer {
  let start = Math.max(0, bytes.length - maxBytes);
  // Continuation bytes are 10xxxxxx; a character is at most 4 bytes, so at most 3 of them need skipping.
  for (let skipped = 0; skipped < 3 && start < bytes.length && ((bytes[start] ?? 0) & 0xc0) === 0x80; skipped += 1) start += 1;
  return bytes.subarray(start);
}

export interface TextOutput {
  text: string;
  /** Lower-case hex SHA-256 of `text` encoded as UTF-8. */
  textSha256: string;
}

/**
 * The TEXT result of a run, at most `maxBytes` bytes of UTF-8. The hash is of the text as reported (UTF-8 of the decoded string), not of the raw bytes:
 * if the script wrote invalid UTF-8 the decoded text carries U+FFFD, and a reader can only ever check what it got.
 */
export function textOutputOf(tail: TailBuffer, maxBytes: number = Limits.maxTextOutputBytes): TextOutput {
  let text = utf8Tail(tail.contents(), maxBytes).toString('utf8');
  // Each invalid byte decodes to a 3-byte U+FFFD, so binary output can grow past the limit; re-cut the valid text.
  if (Buffer.byteLength(text, 'utf8') > maxBytes) text = utf8Tail(Buffer.from(text, 'utf8'), maxBytes).toString('utf8');
  return { text, textSha256: createHash('sha256').update(text, 'utf8').digest('hex') };
}
