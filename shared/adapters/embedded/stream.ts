/**
 * OCI Streaming on the embedded SQLite file: the `Stream` port (publish, group cursors with explicit commits, long
 * polls) plus stream admin and retention purges. Messages may be appended by other processes sharing the file, so a
 * waiting reader watches `PRAGMA data_version` rather than relying on in-process notifications alone.
 */
import { randomBytes } from 'node:crypto';
import type { Clock } from '../../ports/clock';
import {
  PublishFailedError,
  StreamNotFoundError,
  StreamUnavailableError,
  type CursorOptions,
  type GetMessagesOptions,
  type GetMessagesResult,
  type GroupCursorOptions,
  type PublishedEntry,
  type PublishInput,
  type Stream,
  type StreamMessage,
} from '../../ports/stream';
import { isBusyError, type Database } from './database';
import { GroupCommit } from './group-commit';
import { StreamWaiters } from './long-poll';
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
} from './stream-protocol';

export { InvalidCursorError, InvalidStreamSettingsError, MessageTooLargeError, StreamLimits } from './stream-protocol';

export interface EmbeddedStreamsOptions {
  clock: Clock;
  /** How long a cursor stays valid after issue (OCI: 5 minutes). */
  cursorTtlMs?: number;
  /** While readers wait, how often to look for appends committed by other connections. */
  pollIntervalMs?: number;
}

export interface StreamInfo {
  id: string;
  name: string;
  compartmentId: string;
  partitions: number;
  retentionInHours: number;
  lifecycleState: 'ACTIVE' | 'DELETED';
  timeCreated: string;
}

export interface CreateStreamInput {
  name: string;
  compartmentId: string;
  partitions?: number;
  retentionInHours?: number;
  /** A fixed id (e.g. from configuration); a random OCID otherwise. */
  id?: string;
}

/** Bounds a response whose messages are near the 1 MiB limit each; at least one message is always returned. */
const MAX_RESPONSE_BYTES = 16 * 1024 * 1024;
const MAX_LISTED_STREAMS = 1000;

interface StreamRow {
  id: string;
  name: string;
  compartment_id: string;
  partitions: number;
  retention_hours: number;
  lifecycle_state: 'ACTIVE' | 'DELETED';
  time_created_ms: number;
}

interface MessageRow {
  seq: number;
  partition: number;
  offset: number;
  key: string | null;
  value: Buffer;
  timestamp_ms: number;
}

/** EmbeddedStreams instances per connection: appends on one connection do not change its own `data_version`. */
const instancesByDatabase = new WeakMap<Database, Set<EmbeddedStreams>>();

export class EmbeddedStreams implements Stream {
  private readonly clock: Clock;
  private readonly cursorTtlMs: number;
  private readonly pollIntervalMs: number;
  private readonly statements;
  private readonly waiters: StreamWaiters;
  private readonly group: GroupCommit;
  private pollTimer: NodeJS.Timeout | undefined;
  private lastDataVersion = 0;
  private lastSeenSeq = 0;
  private closed = false;

  constructor(
    private readonly db: Database,
    options: EmbeddedStreamsOptions,
  ) {
    this.clock = options.clock;
    this.cursorTtlMs = options.cursorTtlMs ?? StreamLimits.defaultCursorTtlMs;
    this.pollIntervalMs = Math.max(1, options.pollIntervalMs ?? 5);
    this.group = GroupCommit.of(db);
    this.waiters = new StreamWaiters({
      onFirstWaiter: () => this.startWatching(),
      onNoWaiters: () => this.stopWatching(),
    });
    const streamColumns = 'id, name, compartment_id, partitions, retention_hours, lifecycle_state, time_created_ms';
    this.statements = {
      insertStream: db.prepare(
        `INSERT INTO streams (${streamColumns}) VALUES (?, ?, ?, ?, ?, 'ACTIVE', ?) ON CONFLICT (id) DO NOTHING`,
      ),
      insertPartition: db.prepare('INSERT INTO stream_partitions (stream_id, partition, next_offset) VALUES (?, ?, 0)'),
      selectStream: db.prepare(`SELECT ${streamColumns} FROM streams WHERE id = ?`),
      listStreams: db.prepare(
        `SELECT ${streamColumns} FROM streams WHERE lifecycle_state = 'ACTIVE'
         AND (@compartmentId IS NULL OR compartment_id = @compartmentId) AND (@name IS NULL OR name = @name)
         ORDER BY time_created_ms, id LIMIT @limit`,
      ),
      markDeleted: db.prepare(
        "UPDATE streams SET lifecycle_state = 'DELETED' WHERE id = ? AND lifecycle_state = 'ACTIVE'",
      ),
      takeOffset: db
        .prepare(
          `UPDATE stream_partitions SET next_offset = next_offset + 1 WHERE stream_id = ? AND partition = ?
           RETURNING next_offset - 1`,
        )
        .pluck(),
      insertMessage: db.prepare(
        `INSERT INTO stream_messages (stream_id, partition, offset, key, value, timestamp_ms)
         VALUES (?, ?, ?, ?, ?, ?)`,
      ),
      partitionEnds: db
        .prepare('SELECT next_offset FROM stream_partitions WHERE stream_id = ? ORDER BY partition')
        .pluck(),
      groupOffsets: db
        .prepare('SELECT partition, next_offset FROM stream_groups WHERE stream_id = ? AND group_name = ?')
        .raw(),
      commitGroupOffset: db.prepare(
        `INSERT INTO stream_groups (stream_id, group_name, partition, next_offset, time_updated_ms)
         VALUES (?, ?, ?, ?, ?)
         ON CONFLICT DO UPDATE SET next_offset = max(next_offset, excluded.next_offset),
         time_updated_ms = excluded.time_updated_ms`,
      ),
      readPartition: db.prepare(
        `SELECT seq, partition, offset, key, value, timestamp_ms FROM stream_messages
         WHERE stream_id = ? AND partition = ? AND offset >= ? ORDER BY offset LIMIT ?`,
      ),
      firstOffsetAtOrAfter: db
        .prepare(
          `SELECT coalesce(min(offset), (SELECT next_offset FROM stream_partitions WHERE stream_id = @streamId
           AND partition = @partition)) FROM stream_messages
           WHERE stream_id = @streamId AND partition = @partition AND timestamp_ms >= @timeMs`,
        )
        .pluck(),
      dataVersion: db.prepare('PRAGMA data_version').pluck(),
      maxSeq: db.prepare('SELECT coalesce(max(seq), 0) FROM stream_messages').pluck(),
      // A range on the rowid: the rows appended since the last check, however large the table. (Grouping here made
      // SQLite scan the whole (stream_id, partition, offset) index on every check.)
      appendedSince: db.prepare('SELECT stream_id, seq FROM stream_messages WHERE seq > ? ORDER BY seq').raw(),
      purgeOlderThan: db.prepare(
        `DELETE FROM stream_messages WHERE seq IN
         (SELECT seq FROM stream_messages WHERE timestamp_ms < ? ORDER BY timestamp_ms LIMIT ?)`,
      ),
      // The purges find their rows through an index: a LIMIT does not bound a scan that finds nothing to delete,
      // and this runs on every scheduler tick, in the gateway, over every retained message.
      purgeDeletedStreams: db.prepare(
        `DELETE FROM stream_messages WHERE seq IN
         (SELECT m.seq FROM streams s CROSS JOIN stream_messages m ON m.stream_id = s.id
          WHERE s.lifecycle_state = 'DELETED' LIMIT ?)`,
      ),
      // Only messages older than the shortest retention can have expired: that bound is the time index's range.
      purgePastRetention: db.prepare(
        `DELETE FROM stream_messages WHERE seq IN
         (SELECT m.seq FROM stream_messages m JOIN streams s ON s.id = m.stream_id
          WHERE m.timestamp_ms < @nowMs - (SELECT min(retention_hours) FROM streams) * 3600000
            AND m.timestamp_ms < @nowMs - s.retention_hours * 3600000
          LIMIT @maxRows)`,
      ),
    };
    let siblings = instancesByDatabase.get(db);
    if (!siblings) {
      siblings = new Set();
      instancesByDatabase.set(db, siblings);
    }
    siblings.add(this);
  }

  createStream(input: CreateStreamInput): StreamInfo {
    const { partitions, retentionInHours } = streamSettings(input);
    const id = input.id ?? `ocid1.stream.oc1..${randomBytes(30).toString('base64url').toLowerCase()}`;
    return this.sql(() =>
      this.db
        .transaction((): StreamInfo => {
          const { changes } = this.statements.insertStream.run(
            id,
            input.name,
            input.compartmentId,
            partitions,
            retentionInHours,
            this.clock.nowMs(),
          );
          // A fixed id that exists already: creating is idempotent, and the stream keeps its first settings.
          if (changes === 1) {
            for (let partition = 0; partition < partitions; partition++) {
              this.statements.insertPartition.run(id, partition);
            }
          }
          return toStreamInfo(this.statements.selectStream.get(id) as StreamRow);
        })
        .immediate(),
    );
  }

  getStream(id: string): StreamInfo | undefined {
    const row = this.sql(() => this.statements.selectStream.get(id)) as StreamRow | undefined;
    return row && toStreamInfo(row);
  }

  /** Active streams, oldest first (at most 1000). */
  listStreams(filter: { compartmentId?: string; name?: string } = {}): StreamInfo[] {
    const rows = this.sql(() =>
      this.statements.listStreams.all({
        compartmentId: filter.compartmentId ?? null,
        name: filter.name ?? null,
        limit: MAX_LISTED_STREAMS,
      }),
    ) as StreamRow[];
    return rows.map(toStreamInfo);
  }

  /** Marks the stream deleted; its messages go in later `purgeExpired` runs, in bounded batches. */
  deleteStream(id: string): boolean {
    return this.sql(() => this.statements.markDeleted.run(id).changes === 1);
  }

  async publish(streamId: string, messages: PublishInput[]): Promise<PublishedEntry[]> {
    this.assertOpen();
    const batch = checkPublishBatch(messages);
    const nowMs = this.clock.nowMs();
    const timestamp = new Date(nowMs).toISOString();
    const stored: Array<PublishedEntry | undefined> = messages.map(() => undefined);
    if (batch.accepted.length > 0) {
      // In the database's group commit: an event published with other writes (an execution's index delete, say)
      // shares their commit.
      try {
        await this.group.run(() => {
          const stream = this.activeStreamRow(streamId);
          for (const { index, message } of batch.accepted) {
            const partition = partitionForKey(message.key, stream.partitions);
            const offset = this.statements.takeOffset.get(streamId, partition) as number;
            this.statements.insertMessage.run(streamId, partition, offset, message.key, message.value, nowMs);
            stored[index] = { partition: String(partition), offset, timestamp };
          }
        });
      } catch (e) {
        throw unavailableIfBusy(e);
      }
      for (const sibling of instancesByDatabase.get(this.db) ?? []) sibling.waiters.wake(streamId);
    } else {
      this.requireActiveStream(streamId);
    }
    if (batch.failures.length > 0) throw new PublishFailedError(batch.failures, stored);
    return stored as PublishedEntry[];
  }

  async createGroupCursor(streamId: string, options: GroupCursorOptions): Promise<string> {
    this.assertOpen();
    const nowMs = this.clock.nowMs();
    const nextOffsets = this.sql(() =>
      this.db
        .transaction((): number[] => {
          const stream = this.activeStreamRow(streamId);
          const committed = this.groupOffsets(streamId, options.groupName, stream.partitions);
          if (committed) return committed;
          // A new group: IMMEDIATE makes its creation atomic with reading where LATEST is.
          const start =
            options.type === 'LATEST'
              ? (this.statements.partitionEnds.all(streamId) as number[])
              : new Array<number>(stream.partitions).fill(0);
          start.forEach((offset, partition) =>
            this.statements.commitGroupOffset.run(streamId, options.groupName, partition, offset, nowMs),
          );
          return start;
        })
        .immediate(),
    );
    return encodeCursor({
      streamId,
      groupName: options.groupName,
      instanceName: options.instanceName,
      nextOffsets,
      issuedAtMs: nowMs,
    });
  }

  async createCursor(streamId: string, options: CursorOptions): Promise<string> {
    this.assertOpen();
    return this.sql(() => {
      const stream = this.activeStreamRow(streamId);
      return plainCursor(
        streamId,
        stream.partitions,
        options,
        {
          endOffset: (partition) => (this.statements.partitionEnds.all(streamId) as number[])[partition] ?? 0,
          firstOffsetAtOrAfter: (partition, timeMs) =>
            this.statements.firstOffsetAtOrAfter.get({ streamId, partition, timeMs }) as number,
        },
        this.clock.nowMs(),
      );
    });
  }

  async getMessages(streamId: string, cursor: string, options: GetMessagesOptions): Promise<GetMessagesResult> {
    this.assertOpen();
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
    this.assertOpen();
    const position = this.decode(streamId, cursor);
    requireGroupCursor(position);
    const nowMs = this.clock.nowMs();
    this.sql(() =>
      this.db
        .transaction(() => {
          this.activeStreamRow(streamId);
          // max() in the upsert: a late commit of an older cursor never moves the group back.
          position.nextOffsets.forEach((offset, partition) =>
            this.statements.commitGroupOffset.run(streamId, position.groupName, partition, offset, nowMs),
          );
        })
        .immediate(),
    );
    return this.reissue(position, position.nextOffsets);
  }

  async heartbeat(streamId: string, cursor: string): Promise<string> {
    this.assertOpen();
    const position = this.decode(streamId, cursor);
    requireGroupCursor(position);
    return this.reissue(position, position.nextOffsets);
  }

  /** Looks for appends by other processes now (e.g. after a function call returned), instead of at the next poll. */
  notifyAppended(): void {
    if (this.waiters.size > 0) this.wakeAppendedStreams();
  }

  /** Deletes up to `maxRows` messages older than `cutoffMs` (epoch ms); returns how many. */
  purgeOlderThan(cutoffMs: number, maxRows: number): number {
    return this.sql(() => this.statements.purgeOlderThan.run(cutoffMs, Math.max(0, Math.floor(maxRows))).changes);
  }

  /** Deletes up to `maxRows` messages past their stream's retention, or of deleted streams; returns how many. */
  purgeExpired(maxRows: number): number {
    const nowMs = this.clock.nowMs();
    const limit = Math.max(0, Math.floor(maxRows));
    return this.sql(() => {
      const deleted = this.statements.purgeDeletedStreams.run(limit).changes;
      if (deleted >= limit) return deleted;
      return deleted + this.statements.purgePastRetention.run({ nowMs, maxRows: limit - deleted }).changes;
    });
  }

  /** Ends every wait and stops the poll timer; the database stays open (it belongs to the caller). */
  close(): void {
    this.closed = true;
    this.waiters.close();
    this.stopWatching();
    instancesByDatabase.get(this.db)?.delete(this);
  }

  private readAfter(position: GroupCursor, limit: number): StreamMessage[] {
    const { streamId, nextOffsets } = position;
    const rows = this.sql(() =>
      nextOffsets.flatMap(
        (offset, partition) => this.statements.readPartition.all(streamId, partition, offset, limit) as MessageRow[],
      ),
    );
    // Interleave partitions in append order, as one reader of the whole stream would see them.
    rows.sort((a, b) => a.seq - b.seq);
    const messages: StreamMessage[] = [];
    let bytes = 0;
    for (const row of rows) {
      if (messages.length >= limit || (messages.length > 0 && bytes + row.value.length > MAX_RESPONSE_BYTES)) break;
      bytes += row.value.length;
      messages.push({
        stream: streamId,
        partition: String(row.partition),
        key: row.key,
        value: row.value,
        offset: row.offset,
        timestamp: new Date(row.timestamp_ms).toISOString(),
      });
    }
    return messages;
  }

  private groupOffsets(streamId: string, groupName: string, partitions: number): number[] | undefined {
    const rows = this.statements.groupOffsets.all(streamId, groupName) as Array<[number, number]>;
    if (rows.length === 0) return undefined;
    const offsets = new Array<number>(partitions).fill(0);
    for (const [partition, offset] of rows) offsets[partition] = offset;
    return offsets;
  }

  /** Decodes a cursor of an active stream (throws `StreamNotFoundError` otherwise), checked against its partitions. */
  private decode(streamId: string, cursor: string): GroupCursor {
    const stream = this.requireActiveStream(streamId);
    return decodeCursor(streamId, cursor, { nowMs: this.clock.nowMs(), cursorTtlMs: this.cursorTtlMs }, stream.partitions);
  }

  private reissue(position: GroupCursor, nextOffsets: number[]): string {
    return encodeCursor({ ...position, nextOffsets, issuedAtMs: this.clock.nowMs() });
  }

  private activeStreamRow(streamId: string): StreamRow {
    const row = this.statements.selectStream.get(streamId) as StreamRow | undefined;
    if (!row || row.lifecycle_state !== 'ACTIVE') throw new StreamNotFoundError(streamId);
    return row;
  }

  private requireActiveStream(streamId: string): StreamRow {
    return this.sql(() => this.activeStreamRow(streamId));
  }

  private startWatching(): void {
    this.lastDataVersion = this.statements.dataVersion.get() as number;
    this.lastSeenSeq = this.statements.maxSeq.get() as number;
    this.pollTimer = setInterval(() => this.checkForAppends(), this.pollIntervalMs);
  }

  private stopWatching(): void {
    if (this.pollTimer) clearInterval(this.pollTimer);
    this.pollTimer = undefined;
  }

  private checkForAppends(): void {
    try {
      // data_version changes only when another connection commits, so an idle poll costs one pragma.
      const dataVersion = this.statements.dataVersion.get() as number;
      if (dataVersion === this.lastDataVersion) return;
      this.lastDataVersion = dataVersion;
      this.wakeAppendedStreams();
    } catch {
      // A busy or failing database: the waiters still end at their deadline, and the next tick tries again.
    }
  }

  private wakeAppendedStreams(): void {
    const appended = this.statements.appendedSince.all(this.lastSeenSeq) as Array<[string, number]>;
    const streams = new Set<string>();
    for (const [streamId, seq] of appended) {
      this.lastSeenSeq = seq;
      streams.add(streamId);
    }
    for (const streamId of streams) this.waiters.wake(streamId);
  }

  private assertOpen(): void {
    if (this.closed) throw new StreamUnavailableError('The embedded stream adapter is closed');
  }

  private sql<T>(run: () => T): T {
    try {
      return run();
    } catch (e) {
      throw unavailableIfBusy(e);
    }
  }
}

/** SQLite giving up on another connection's lock, as the port's error; any other error as it is. */
function unavailableIfBusy(e: unknown): unknown {
  return isBusyError(e) ? new StreamUnavailableError('The stream database is busy', { cause: e }) : e;
}

function toStreamInfo(row: StreamRow): StreamInfo {
  return {
    id: row.id,
    name: row.name,
    compartmentId: row.compartment_id,
    partitions: row.partitions,
    retentionInHours: row.retention_hours,
    lifecycleState: row.lifecycle_state,
    timeCreated: new Date(row.time_created_ms).toISOString(),
  };
}
