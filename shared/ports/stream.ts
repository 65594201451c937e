/**
 * An append-only, partitioned message log with consumer groups, shaped after OCI Streaming so the same code runs on
 * it: publish with per-message results, group cursors with explicit commits (`commitOnGet: false`), heartbeats.
 */

export interface StreamMessage {
  stream: string;
  partition: string;
  key: string | null;
  value: Buffer;
  offset: number;
  timestamp: string;
}

export interface PublishInput {
  key?: string | null;
  value: Buffer | string;
}

export interface PublishedEntry {
  partition: string;
  offset: number;
  timestamp: string;
}

export interface GroupCursorOptions {
  groupName: string;
  instanceName: string;
  /** Where a new group starts; ignored when the group already exists. */
  type: 'TRIM_HORIZON' | 'LATEST';
  /** How long the instance may be silent before its partition reservations are released. */
  timeoutMs?: number;
}

/** Where a plain (non-group) cursor starts, in one partition: OCI `CreateCursorDetails`. */
export interface CursorOptions {
  partition: string;
  type: 'TRIM_HORIZON' | 'LATEST' | 'AT_OFFSET' | 'AFTER_OFFSET' | 'AT_TIME';
  /** Required for AT_OFFSET and AFTER_OFFSET. */
  offset?: number;
  /** Required for AT_TIME: the first message at or after this time (epoch ms). */
  timeMs?: number;
}

export interface GetMessagesOptions {
  limit: number;
  /** Wait up to this long for a message when none is available (a long poll). 0 answers at once. */
  waitMs?: number;
  signal?: AbortSignal;
}

export interface GetMessagesResult {
  messages: StreamMessage[];
  nextCursor: string;
}

export interface StreamPublisher {
  /**
   * Appends the messages in order. Resolves with one entry per message, or throws `PublishFailedError`
   * naming the messages that were not stored (the others were).
   */
  publish(streamId: string, messages: PublishInput[]): Promise<PublishedEntry[]>;
}

export interface StreamConsumer {
  createGroupCursor(streamId: string, options: GroupCursorOptions): Promise<string>;
  /**
   * A plain cursor: reads one partition from a position, with no consumer group (nothing to commit; OCI allows at most
   * 50 groups per stream, so readers that only follow "from now" use these). Commit and heartbeat reject it.
   */
  createCursor(streamId: string, options: CursorOptions): Promise<string>;
  /** Throws `CursorExpiredError` when the cursor is too old; open a new group cursor then. */
  getMessages(streamId: string, cursor: string, options: GetMessagesOptions): Promise<GetMessagesResult>;
  /** Commits the offsets of the messages read with `cursor`'s predecessor batch; returns a fresh cursor. */
  commit(streamId: string, cursor: string): Promise<string>;
  heartbeat(streamId: string, cursor: string): Promise<string>;
}

export type Stream = StreamPublisher & StreamConsumer;

export class StreamError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StreamError';
  }
}

export class PublishFailedError extends StreamError {
  constructor(
    /** Indexes (into the published array) of the messages that were not stored, with the reason. */
    readonly failures: ReadonlyArray<{ index: number; error: string }>,
    readonly stored: ReadonlyArray<PublishedEntry | undefined>,
    options?: { cause?: unknown },
  ) {
    super(`${failures.length} message(s) were not published: ${failures.map((f) => f.error).join('; ')}`, options);
    this.name = 'PublishFailedError';
  }
}

export class CursorExpiredError extends StreamError {
  constructor(message = 'The cursor has expired', options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CursorExpiredError';
  }
}

export class StreamNotFoundError extends StreamError {
  constructor(readonly streamId: string, options?: { cause?: unknown }) {
    super(`Stream ${streamId} not found`, options);
    this.name = 'StreamNotFoundError';
  }
}

export class StreamUnavailableError extends StreamError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StreamUnavailableError';
  }
}
