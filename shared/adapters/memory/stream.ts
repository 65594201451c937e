/**
 * An in-memory `Stream` for use-case tests, with the embedded log's semantics: per-partition offsets, group cursors
 * with explicit commits, cursor expiry on an injected clock, OCI's size limits, and long polls woken in process.
 */
import { systemClock, type Clock } from '../../ports/clock';
import {
  PublishFailedError,
  StreamNotFoundError,
  type CursorOptions,
  type GetMessagesOptions,
  type GetMessagesResult,
  type GroupCursorOptions,
  type PublishedEntry,
  type PublishInput,
  type Stream,
  type StreamMessage,
} from '../../ports/stream';
import { StreamWaiters } from '../embedded/long-poll';
import {
  StreamLimits,
  checkPublishBatch,
  clampGetLimit,
  decodeCursor,
  encodeCursor,
  partitionForKey,
  plainCursor,
  requireGroupCursor,
  streamSettings,
  type GroupCursor,
} from '../embedded/stream-protocol';

export { InvalidCursorError, MessageTooLargeError } from '../embedded/stream-protocol';

interface MemoryStreamState {
  /** Per partition, its messages in offset order (offsets start at 0 and nothing is purged), with publish order. */
  partitions: Array<Array<{ seq: number; message: StreamMessage }>>;
  /** Per group, per partition, the first offset not committed. */
  groups: Map<string, number[]>;
}

export class MemoryStream implements Stream {
  private readonly streams = new Map<string, MemoryStreamState>();
  private readonly waiters = new StreamWaiters();
  private readonly clock: Clock;
  private readonly cursorTtlMs: number;
  private lastSeq = 0;

  constructor(options: { clock?: Clock; cursorTtlMs?: number } = {}) {
    this.clock = options.clock ?? systemClock;
    this.cursorTtlMs = options.cursorTtlMs ?? StreamLimits.defaultCursorTtlMs;
  }

  /** Creates the stream if it does not exist yet. */
  createStream(id: string, options: { partitions?: number } = {}): void {
    if (this.streams.has(id)) return;
    const { partitions } = streamSettings(options);
    this.streams.set(id, { partitions: Array.from({ length: partitions }, () => []), groups: new Map() });
  }

  /** Every message in the stream, in publish order within each partition: for assertions in tests. */
  messages(streamId: string): StreamMessage[] {
    return sortedBySeq(this.state(streamId).partitions.flat());
  }

  async publish(streamId: string, messages: PublishInput[]): Promise<PublishedEntry[]> {
    const stream = this.state(streamId);
    const batch = checkPublishBatch(messages);
    const timestamp = new Date(this.clock.nowMs()).toISOString();
    const entries: Array<PublishedEntry | undefined> = messages.map(() => undefined);
    for (const { index, message } of batch.accepted) {
      const partition = partitionForKey(message.key, stream.partitions.length);
      const log = stream.partitions[partition] ?? [];
      const offset = log.length;
      const { key, value } = message;
      const stored: StreamMessage = { stream: streamId, partition: String(partition), key, value, offset, timestamp };
      log.push({ seq: ++this.lastSeq, message: stored });
      entries[index] = { partition: String(partition), offset, timestamp };
    }
    if (batch.accepted.length > 0) this.waiters.wake(streamId);
    if (batch.failures.length > 0) throw new PublishFailedError(batch.failures, entries);
    return entries as PublishedEntry[];
  }

  async createGroupCursor(streamId: string, options: GroupCursorOptions): Promise<string> {
    const stream = this.state(streamId);
    let offsets = stream.groups.get(options.groupName);
    if (!offsets) {
      offsets = stream.partitions.map((log) => (options.type === 'LATEST' ? log.length : 0));
      stream.groups.set(options.groupName, offsets);
    }
    return encodeCursor({
      streamId,
      groupName: options.groupName,
      instanceName: options.instanceName,
      nextOffsets: [...offsets],
      issuedAtMs: this.clock.nowMs(),
    });
  }

  async createCursor(streamId: string, options: CursorOptions): Promise<string> {
    const { partitions } = this.state(streamId);
    return plainCursor(
      streamId,
      partitions.length,
      options,
      {
        endOffset: (partition) => partitions[partition]?.length ?? 0,
        firstOffsetAtOrAfter: (partition, timeMs) => {
          const log = partitions[partition] ?? [];
          const found = log.findIndex((entry) => Date.parse(entry.message.timestamp) >= timeMs);
          return found < 0 ? log.length : found;
        },
      },
      this.clock.nowMs(),
    );
  }

  async getMessages(streamId: string, cursor: string, options: GetMessagesOptions): Promise<GetMessagesResult> {
    const position = this.decode(streamId, cursor);
    const limit = clampGetLimit(options.limit);
    const messages = await this.waiters.poll(
      streamId,
      options,
      () => this.readAfter(position, limit),
      (read) => read.length === 0,
    );
    const nextOffsets = [...position.nextOffsets];
    for (const message of messages) nextOffsets[Number(message.partition)] = message.offset + 1;
    return { messages, nextCursor: this.reissue(position, nextOffsets) };
  }

  async commit(streamId: string, cursor: string): Promise<string> {
    const position = this.decode(streamId, cursor);
    requireGroupCursor(position);
    const stream = this.state(streamId);
    const committed = stream.groups.get(position.groupName) ?? position.nextOffsets.map(() => 0);
    // Never backwards: a late commit of an older cursor must not make the group re-read.
    stream.groups.set(
      position.groupName,
      position.nextOffsets.map((offset, partition) => Math.max(offset, committed[partition] ?? 0)),
    );
    return this.reissue(position, position.nextOffsets);
  }

  async heartbeat(streamId: string, cursor: string): Promise<string> {
    const position = this.decode(streamId, cursor);
    requireGroupCursor(position);
    return this.reissue(position, position.nextOffsets);
  }

  /** Ends every long poll at once. */
  close(): void {
    this.waiters.close();
  }

  private readAfter(position: GroupCursor, limit: number): StreamMessage[] {
    const stream = this.state(position.streamId);
    // Publish order across partitions, as the embedded log returns them.
    const unread = position.nextOffsets.flatMap((offset, partition) =>
      (stream.partitions[partition] ?? []).slice(offset, offset + limit),
    );
    return sortedBySeq(unread).slice(0, limit);
  }

  private decode(streamId: string, cursor: string): GroupCursor {
    const stream = this.state(streamId);
    return decodeCursor(streamId, cursor, { nowMs: this.clock.nowMs(), cursorTtlMs: this.cursorTtlMs }, stream.partitions.length);
  }

  private reissue(position: GroupCursor, nextOffsets: number[]): string {
    return encodeCursor({ ...position, nextOffsets, issuedAtMs: this.clock.nowMs() });
  }

  private state(streamId: string): MemoryStreamState {
    const stream = this.streams.get(streamId);
    if (!stream) throw new StreamNotFoundError(streamId);
    return stream;
  }
}

function sortedBySeq(entries: Array<{ seq: number; message: StreamMessage }>): StreamMessage[] {
  return entries.sort((a, b) => a.seq - b.seq).map((entry) => entry.message);
}
