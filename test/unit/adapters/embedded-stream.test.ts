import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { openDatabase, type Database } from '../../../shared/adapters/embedded/database';
import {
  EmbeddedStreams,
  InvalidCursorError,
  InvalidStreamSettingsError,
  MessageTooLargeError,
} from '../../../shared/adapters/embedded/stream';
import {
  PublishFailedError,
  StreamNotFoundError,
  StreamUnavailableError,
  type StreamMessage,
} from '../../../shared/ports/stream';

const START_MS = Date.parse('2024-05-01T00:00:00Z');
const HOUR_MS = 60 * 60 * 1000;
const MIB = 1024 * 1024;
const COMPARTMENT = 'ocid1.compartment.oc1..c';

function values(messages: StreamMessage[]): string[] {
  return messages.map((m) => m.value.toString('utf8'));
}

/**
 * The adapter's timers under Jest's fake clock: `jest.getTimerCount()` counts exactly the timers this test's code
 * created, where the process-wide count also sees the runner's own.
 */
function withFakeTimers(): void {
  jest.useFakeTimers({ doNotFake: ['nextTick', 'queueMicrotask', 'setImmediate'] });
}

describe('EmbeddedStreams', () => {
  let dir: string;
  let file: string;
  let db: Database;
  let nowMs: number;
  let streams: EmbeddedStreams;
  const extra: Array<{ streams?: EmbeddedStreams; db?: Database }> = [];

  const clock = { nowMs: () => nowMs };

  beforeEach(() => {
    nowMs = START_MS;
    dir = mkdtempSync(path.join(tmpdir(), 'runcommand-streams-'));
    file = path.join(dir, 'platform.db');
    db = openDatabase(file);
    streams = new EmbeddedStreams(db, { clock });
  });

  afterEach(() => {
    for (const opened of extra.splice(0)) {
      opened.streams?.close();
      opened.db?.close();
    }
    streams.close();
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Another process on the same file: its own connection and its own adapter. */
  function otherProcess(options: { pollIntervalMs?: number } = {}): EmbeddedStreams {
    const otherDb = openDatabase(file);
    const other = new EmbeddedStreams(otherDb, { clock, ...options });
    extra.push({ streams: other, db: otherDb });
    return other;
  }

  function newStream(partitions = 1) {
    return streams.createStream({ name: `s-${Math.random()}`, compartmentId: COMPARTMENT, partitions }).id;
  }

  async function readAll(reader: EmbeddedStreams, streamId: string, groupName = 'reader'): Promise<StreamMessage[]> {
    const cursor = await reader.createGroupCursor(streamId, { groupName, instanceName: 'i', type: 'TRIM_HORIZON' });
    return (await reader.getMessages(streamId, cursor, { limit: 10_000 })).messages;
  }

  describe('stream admin', () => {
    it('creates a stream with OCI defaults and an OCID', () => {
      const info = streams.createStream({ name: 'instance-1', compartmentId: COMPARTMENT });
      expect(info).toEqual({
        id: expect.stringMatching(/^ocid1\.stream\.oc1\.\.[a-z0-9_-]+$/),
        name: 'instance-1',
        compartmentId: COMPARTMENT,
        partitions: 1,
        retentionInHours: 24,
        lifecycleState: 'ACTIVE',
        timeCreated: '2024-05-01T00:00:00.000Z',
      });
      expect(streams.getStream(info.id)).toEqual(info);
    });

    it('creates a stream with a fixed id once: later creates return it unchanged', () => {
      const first = streams.createStream({ id: 'ocid1.stream.oc1..fixed', name: 'a', compartmentId: COMPARTMENT });
      const again = streams.createStream({
        id: 'ocid1.stream.oc1..fixed',
        name: 'b',
        compartmentId: COMPARTMENT,
        partitions: 3,
      });
      expect(again).toEqual(first);
    });

    it('refuses out-of-range partitions and retention', () => {
      const base = { name: 'x', compartmentId: COMPARTMENT };
      expect(() => streams.createStream({ ...base, retentionInHours: 23 })).toThrow(InvalidStreamSettingsError);
      expect(() => streams.createStream({ ...base, retentionInHours: 169 })).toThrow(InvalidStreamSettingsError);
      expect(() => streams.createStream({ ...base, partitions: 0 })).toThrow(InvalidStreamSettingsError);
      expect(streams.createStream({ ...base, retentionInHours: 168 }).retentionInHours).toBe(168);
    });

    it('lists active streams by compartment and name', () => {
      const a = streams.createStream({ name: 'a', compartmentId: COMPARTMENT });
      nowMs += 1;
      const b = streams.createStream({ name: 'b', compartmentId: COMPARTMENT });
      streams.createStream({ name: 'a', compartmentId: 'ocid1.compartment.oc1..other' });
      expect(streams.listStreams({ compartmentId: COMPARTMENT }).map((s) => s.id)).toEqual([a.id, b.id]);
      expect(streams.listStreams({ compartmentId: COMPARTMENT, name: 'b' }).map((s) => s.id)).toEqual([b.id]);
      expect(streams.listStreams({ name: 'a' })).toHaveLength(2);
    });

    it('deletes a stream: it stops being listed or usable, and shows as DELETED', async () => {
      const id = newStream();
      expect(streams.deleteStream(id)).toBe(true);
      expect(streams.deleteStream(id)).toBe(false);
      expect(streams.getStream(id)?.lifecycleState).toBe('DELETED');
      expect(streams.listStreams({ compartmentId: COMPARTMENT })).toEqual([]);
      await expect(streams.publish(id, [{ value: 'v' }])).rejects.toBeInstanceOf(StreamNotFoundError);
    });
  });

  describe('publish', () => {
    it('stamps messages with the injected clock', async () => {
      const id = newStream();
      const [entry] = await streams.publish(id, [{ key: 'k', value: 'v' }]);
      expect(entry?.timestamp).toBe('2024-05-01T00:00:00.000Z');
      expect((await readAll(streams, id))[0]?.timestamp).toBe('2024-05-01T00:00:00.000Z');
    });

    it('accepts a value of exactly 1 MiB', async () => {
      const id = newStream();
      await expect(streams.publish(id, [{ value: Buffer.alloc(MIB) }])).resolves.toHaveLength(1);
    });

    it('rejects a request over 1 MiB in total, naming the limit, and stores none of it', async () => {
      const id = newStream();
      const attempt = streams.publish(id, [{ value: Buffer.alloc(600 * 1024) }, { value: Buffer.alloc(600 * 1024) }]);
      await expect(attempt).rejects.toBeInstanceOf(MessageTooLargeError);
      await expect(attempt).rejects.toThrow(/limit is 1048576 bytes/);
      expect(await readAll(streams, id)).toEqual([]);
    });

    it('reports a key over 256 bytes as a per-message failure', async () => {
      const id = newStream();
      const error = (await streams
        .publish(id, [{ key: 'k'.repeat(257), value: 'a' }, { key: 'ok', value: 'b' }])
        .catch((e: unknown) => e)) as PublishFailedError;
      expect(error).toBeInstanceOf(PublishFailedError);
      expect(error.failures).toEqual([{ index: 0, error: expect.stringMatching(/key .* limit is 256 bytes/) }]);
      expect(values(await readAll(streams, id))).toEqual(['b']);
    });

    it('reports every message as failed when none can be stored', async () => {
      const id = newStream();
      const error = (await streams
        .publish(id, [{ value: Buffer.alloc(MIB + 1) }])
        .catch((e: unknown) => e)) as PublishFailedError;
      expect(error).toBeInstanceOf(PublishFailedError);
      expect(error.stored).toEqual([undefined]);
    });

    it('sends one key to one partition, numbers each partition from 0, and reads back in publish order', async () => {
      const id = newStream(4);
      const keys = ['alpha', 'beta', 'gamma', 'delta', 'epsilon', 'alpha', 'beta', 'gamma', 'delta', 'epsilon'];
      const entries = await streams.publish(
        id,
        keys.map((key, i) => ({ key, value: `m${i}` })),
      );
      const partitionOf = new Map<string, string>();
      const offsetsByPartition = new Map<string, number[]>();
      entries.forEach((entry, i) => {
        const key = keys[i] as string;
        expect(partitionOf.get(key) ?? entry.partition).toBe(entry.partition);
        partitionOf.set(key, entry.partition);
        offsetsByPartition.set(entry.partition, [...(offsetsByPartition.get(entry.partition) ?? []), entry.offset]);
      });
      expect(new Set(partitionOf.values()).size).toBeGreaterThan(1);
      for (const offsets of offsetsByPartition.values()) expect(offsets).toEqual(offsets.map((_, i) => i));
      expect(values(await readAll(streams, id))).toEqual(keys.map((_, i) => `m${i}`));
    });

    it('resumes a group on several partitions after its commit', async () => {
      const id = newStream(3);
      await streams.publish(id, ['a', 'b', 'c', 'd', 'e', 'f'].map((value) => ({ key: value, value })));
      const cursor = await streams.createGroupCursor(id, { groupName: 'g', instanceName: 'i', type: 'TRIM_HORIZON' });
      const first = await streams.getMessages(id, cursor, { limit: 4 });
      await streams.commit(id, first.nextCursor);
      const rest = await readAll(streams, id, 'g');
      expect([...values(first.messages), ...values(rest)].sort()).toEqual(['a', 'b', 'c', 'd', 'e', 'f']);
      expect(rest).toHaveLength(2);
    });
  });

  describe('cursors', () => {
    it('never moves a group back when an older cursor is committed late', async () => {
      const id = newStream();
      await streams.publish(id, [{ value: 'a' }, { value: 'b' }]);
      const start = await streams.createGroupCursor(id, { groupName: 'g', instanceName: 'i', type: 'TRIM_HORIZON' });
      const read = await streams.getMessages(id, start, { limit: 10 });
      await streams.commit(id, read.nextCursor);
      await streams.commit(id, start);
      expect(await readAll(streams, id, 'g')).toEqual([]);
    });

    it('rejects a malformed cursor and a cursor of another stream', async () => {
      const id = newStream();
      const other = newStream();
      const cursor = await streams.createGroupCursor(id, { groupName: 'g', instanceName: 'i', type: 'LATEST' });
      await expect(streams.getMessages(id, 'not-a-cursor', { limit: 1 })).rejects.toBeInstanceOf(InvalidCursorError);
      await expect(streams.getMessages(other, cursor, { limit: 1 })).rejects.toBeInstanceOf(InvalidCursorError);
    });

    it('refuses a cursor whose offsets do not match the partitions, in commit and heartbeat too, and keeps the group usable', async () => {
      const id = newStream();
      await streams.publish(id, [{ value: 'a' }]);
      const cursor = await streams.createGroupCursor(id, { groupName: 'g', instanceName: 'i', type: 'TRIM_HORIZON' });
      // Cursors are unsigned JSON: one with an offset for a partition the stream does not have.
      const json = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as { o: number[] };
      const forged = Buffer.from(JSON.stringify({ ...json, o: [...json.o, 0] })).toString('base64url');
      await expect(streams.commit(id, forged)).rejects.toBeInstanceOf(InvalidCursorError);
      await expect(streams.heartbeat(id, forged)).rejects.toBeInstanceOf(InvalidCursorError);
      await expect(streams.getMessages(id, forged, { limit: 1 })).rejects.toBeInstanceOf(InvalidCursorError);
      expect((await readAll(streams, id, 'g')).map((m) => m.value.toString())).toEqual(['a']);
    });

    it('expires cursors after the configured time', async () => {
      const shortLived = new EmbeddedStreams(db, { clock, cursorTtlMs: 1000 });
      extra.push({ streams: shortLived });
      const id = newStream();
      const cursor = await shortLived.createGroupCursor(id, { groupName: 'g', instanceName: 'i', type: 'LATEST' });
      nowMs += 1000;
      await expect(shortLived.heartbeat(id, cursor)).resolves.toEqual(expect.any(String));
      nowMs += 1;
      await expect(shortLived.heartbeat(id, cursor)).rejects.toThrow('The cursor has expired');
    });
  });

  describe('long poll across processes', () => {
    it('wakes a waiter on another connection within about 100 ms of a publish', async () => {
      const id = newStream();
      const reader = otherProcess();
      const cursor = await reader.createGroupCursor(id, { groupName: 'g', instanceName: 'i', type: 'TRIM_HORIZON' });
      const waiting = reader.getMessages(id, cursor, { limit: 10, waitMs: 5000 });
      await new Promise((resolve) => setTimeout(resolve, 30));
      const publishedAt = Date.now();
      await streams.publish(id, [{ value: 'from another process' }]);
      const { messages } = await waiting;
      expect(Date.now() - publishedAt).toBeLessThan(200);
      expect(values(messages)).toEqual(['from another process']);
    });

    it('looks at once when told that another process appended', async () => {
      const id = newStream();
      const reader = otherProcess({ pollIntervalMs: 60_000 });
      const cursor = await reader.createGroupCursor(id, { groupName: 'g', instanceName: 'i', type: 'TRIM_HORIZON' });
      const waiting = reader.getMessages(id, cursor, { limit: 10, waitMs: 5000 });
      await new Promise((resolve) => setTimeout(resolve, 30));
      const publishedAt = Date.now();
      await streams.publish(id, [{ value: 'v' }]);
      reader.notifyAppended();
      expect(values((await waiting).messages)).toEqual(['v']);
      expect(Date.now() - publishedAt).toBeLessThan(200);
    });

    it('wakes a waiter of another adapter on the same connection without polling', async () => {
      const id = newStream();
      const sibling = new EmbeddedStreams(db, { clock, pollIntervalMs: 60_000 });
      extra.push({ streams: sibling });
      const cursor = await sibling.createGroupCursor(id, { groupName: 'g', instanceName: 'i', type: 'TRIM_HORIZON' });
      const waiting = sibling.getMessages(id, cursor, { limit: 10, waitMs: 5000 });
      await new Promise((resolve) => setTimeout(resolve, 30));
      const publishedAt = Date.now();
      await streams.publish(id, [{ value: 'v' }]);
      expect(values((await waiting).messages)).toEqual(['v']);
      expect(Date.now() - publishedAt).toBeLessThan(200);
    });

    it('keeps waiting when another process appends to a different stream', async () => {
      const id = newStream();
      const elsewhere = newStream();
      const reader = otherProcess();
      const cursor = await reader.createGroupCursor(id, { groupName: 'g', instanceName: 'i', type: 'TRIM_HORIZON' });
      const startedMs = Date.now();
      const waiting = reader.getMessages(id, cursor, { limit: 10, waitMs: 200 });
      await new Promise((resolve) => setTimeout(resolve, 30));
      await streams.publish(elsewhere, [{ value: 'not for you' }]);
      expect((await waiting).messages).toEqual([]);
      // It kept waiting: an empty answer alone would also come from a wait that the other stream ended.
      expect(Date.now() - startedMs).toBeGreaterThanOrEqual(150);
    });

    it('ends a wait when its signal aborts, and leaves no timer behind', async () => {
      const id = newStream();
      const cursor = await streams.createGroupCursor(id, { groupName: 'g', instanceName: 'i', type: 'TRIM_HORIZON' });
      withFakeTimers();
      try {
        const timersBefore = jest.getTimerCount();
        const controller = new AbortController();
        const waiting = streams.getMessages(id, cursor, { limit: 10, waitMs: 10_000, signal: controller.signal });
        await jest.advanceTimersByTimeAsync(20);
        expect(jest.getTimerCount()).toBeGreaterThan(timersBefore);
        // The clock stands still: only the abort can end this wait.
        controller.abort();
        expect((await waiting).messages).toEqual([]);
        expect(jest.getTimerCount()).toBe(timersBefore);
      } finally {
        jest.useRealTimers();
      }
    });

    it('ends every wait on close, leaves no timer behind, and refuses calls afterwards', async () => {
      const id = newStream();
      const cursor = await streams.createGroupCursor(id, { groupName: 'g', instanceName: 'i', type: 'TRIM_HORIZON' });
      withFakeTimers();
      try {
        const timersBefore = jest.getTimerCount();
        const waits = [1, 2].map(() => streams.getMessages(id, cursor, { limit: 10, waitMs: 10_000 }));
        await jest.advanceTimersByTimeAsync(20);
        streams.close();
        for (const wait of waits) expect((await wait).messages).toEqual([]);
        expect(jest.getTimerCount()).toBe(timersBefore);
      } finally {
        jest.useRealTimers();
      }
      await expect(streams.publish(id, [{ value: 'v' }])).rejects.toBeInstanceOf(StreamUnavailableError);
    });
  });

  describe('retention', () => {
    it('purges at most maxRows messages older than the cutoff, oldest first', async () => {
      const id = newStream();
      for (let i = 0; i < 5; i++) {
        await streams.publish(id, [{ value: `old-${i}` }]);
        nowMs += 1000;
      }
      await streams.publish(id, [{ value: 'new' }]);
      expect(streams.purgeOlderThan(START_MS + 4500, 3)).toBe(3);
      expect(values(await readAll(streams, id))).toEqual(['old-3', 'old-4', 'new']);
      expect(streams.purgeOlderThan(START_MS + 4500, 3)).toBe(2);
      expect(streams.purgeOlderThan(START_MS + 4500, 3)).toBe(0);
      expect(values(await readAll(streams, id))).toEqual(['new']);
    });

    it('keeps numbering offsets after the messages before them were purged', async () => {
      const id = newStream();
      await streams.publish(id, [{ value: 'a' }, { value: 'b' }]);
      streams.purgeOlderThan(nowMs + 1, 100);
      const [entry] = await streams.publish(id, [{ value: 'c' }]);
      expect(entry?.offset).toBe(2);
    });

    it('purges by each stream’s retention, and every message of a deleted stream', async () => {
      const day = streams.createStream({ name: 'day', compartmentId: COMPARTMENT, retentionInHours: 24 });
      const week = streams.createStream({ name: 'week', compartmentId: COMPARTMENT, retentionInHours: 168 });
      const gone = streams.createStream({ name: 'gone', compartmentId: COMPARTMENT });
      for (const id of [day.id, week.id, gone.id]) await streams.publish(id, [{ value: 'first' }]);
      nowMs += 2 * HOUR_MS;
      for (const id of [day.id, week.id, gone.id]) await streams.publish(id, [{ value: 'second' }]);
      streams.deleteStream(gone.id);
      nowMs = START_MS + 25 * HOUR_MS;
      expect(streams.purgeExpired(1000)).toBe(3);
      expect(values(await readAll(streams, day.id))).toEqual(['second']);
      expect(values(await readAll(streams, week.id))).toEqual(['first', 'second']);
      expect(db.prepare('SELECT count(*) FROM stream_messages WHERE stream_id = ?').pluck().get(gone.id)).toBe(0);
    });

    it('purges at most maxRows messages a call, a deleted stream’s first', async () => {
      const day = streams.createStream({ name: 'day', compartmentId: COMPARTMENT, retentionInHours: 24 });
      const gone = streams.createStream({ name: 'gone', compartmentId: COMPARTMENT });
      await streams.publish(day.id, [{ value: 'a' }, { value: 'b' }]);
      await streams.publish(gone.id, [{ value: 'x' }, { value: 'y' }]);
      streams.deleteStream(gone.id);
      nowMs = START_MS + 25 * HOUR_MS;
      const left = (id: string) => db.prepare('SELECT count(*) FROM stream_messages WHERE stream_id = ?').pluck().get(id);
      expect(streams.purgeExpired(1)).toBe(1);
      expect([left(gone.id), left(day.id)]).toEqual([1, 2]);
      expect(streams.purgeExpired(2)).toBe(2);
      expect([left(gone.id), left(day.id)]).toEqual([0, 1]);
      expect(streams.purgeExpired(5)).toBe(1);
      expect(streams.purgeExpired(5)).toBe(0);
    });
  });
});
