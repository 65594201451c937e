/**
 * The `Stream` contract: what every adapter (in-memory, embedded SQLite, OCI SDK against the emulator) must do. Uses
 * only the port. `make` must return two new, empty streams each time. Timing bounds are generous on purpose.
 */
import {
  CursorExpiredError,
  PublishFailedError,
  StreamError,
  StreamNotFoundError,
  type Stream,
  type StreamMessage,
} from '../../shared/ports/stream';

export interface StreamFixture {
  stream: Stream;
  /** A new, empty stream. */
  streamId: string;
  /** Another new, empty stream. */
  otherStreamId: string;
  close?: () => Promise<void>;
  /** Moves the clock the adapter reads (cursor expiry); needed unless `skipCursorExpiry` is given. */
  advanceClockMs?: (ms: number) => void;
}

export interface StreamContractOptions {
  /** Why this adapter cannot run the cursor-expiry case (e.g. its server's clock cannot be moved). */
  skipCursorExpiry?: string;
  /**
   * Why this adapter's server does not hold a read open (OCI Streaming answers GetMessages at once; the long-poll wait is
   * the platform's own extension). The cases that need a held read are skipped.
   */
  noLongPoll?: string;
}

const CURSOR_TTL_MS = 5 * 60 * 1000;
const ONE_MIB = 1024 * 1024;

export function streamContract(
  name: string,
  make: () => Promise<StreamFixture>,
  options: StreamContractOptions = {},
): void {
  describe(`Stream contract: ${name}`, () => {
    let fixture: StreamFixture;
    let stream: Stream;
    let streamId: string;
    let group = 0;

    beforeEach(async () => {
      fixture = await make();
      ({ stream, streamId } = fixture);
    });

    afterEach(async () => {
      await fixture.close?.();
    });

    /** A group name no other test uses, so adapters backed by a shared server stay independent. */
    function newGroup(): string {
      group += 1;
      return `contract-group-${group}-${Date.now()}`;
    }

    function cursorFor(groupName: string, type: 'TRIM_HORIZON' | 'LATEST' = 'TRIM_HORIZON', id = streamId) {
      return stream.createGroupCursor(id, { groupName, instanceName: `${groupName}-instance`, type });
    }

    /** A case that needs the server to hold a read open until a message arrives. */
    function longPollCase(title: string, body: () => Promise<void>): void {
      if (options.noLongPoll) it.skip(`${title} (skipped: ${options.noLongPoll})`, body);
      else it(title, body);
    }

    function values(messages: StreamMessage[]): string[] {
      return messages.map((m) => m.value.toString('utf8'));
    }

    async function publishText(texts: string[], key: string | null = 'k', id = streamId) {
      return stream.publish(
        id,
        texts.map((value) => ({ key, value })),
      );
    }

    describe('publish', () => {
      it('appends in order with increasing offsets from 0 within a partition', async () => {
        const entries = await publishText(['m0', 'm1', 'm2']);
        expect(entries.map((e) => e.offset)).toEqual([0, 1, 2]);
        expect(new Set(entries.map((e) => e.partition)).size).toBe(1);
        for (const entry of entries) expect(Number.isNaN(Date.parse(entry.timestamp))).toBe(false);
        const more = await publishText(['m3']);
        expect(more[0]?.offset).toBe(3);
        expect(more[0]?.partition).toBe(entries[0]?.partition);
      });

      it('delivers what was published: value bytes, key, partition, offset and stream', async () => {
        const binary = Buffer.from([0, 0xff, 0x80, 10]);
        const entries = await stream.publish(streamId, [
          { key: 'instance-1', value: binary },
          { key: 'instance-1', value: 'text ✓' },
        ]);
        const { messages } = await stream.getMessages(streamId, await cursorFor(newGroup()), { limit: 10 });
        expect(messages).toHaveLength(2);
        expect(messages[0]?.value.equals(binary)).toBe(true);
        expect(messages[1]?.value.toString('utf8')).toBe('text ✓');
        messages.forEach((message, i) => {
          expect(message.key).toBe('instance-1');
          expect(message.stream).toBe(streamId);
          expect(message.partition).toBe(entries[i]?.partition);
          expect(message.offset).toBe(entries[i]?.offset);
          expect(Number.isNaN(Date.parse(message.timestamp))).toBe(false);
        });
      });

      it('accepts a message without a key', async () => {
        await stream.publish(streamId, [{ value: 'no key' }]);
        const { messages } = await stream.getMessages(streamId, await cursorFor(newGroup()), { limit: 10 });
        expect(values(messages)).toEqual(['no key']);
        expect(messages[0]?.key ?? null).toBeNull();
      });

      it('reports an oversize message as a per-message failure and stores the others', async () => {
        const attempt = stream.publish(streamId, [
          { key: 'k', value: 'before' },
          { key: 'k', value: Buffer.alloc(ONE_MIB + 1, 1) },
          { key: 'k', value: 'after' },
        ]);
        const error = (await attempt.catch((e: unknown) => e)) as PublishFailedError;
        expect(error).toBeInstanceOf(PublishFailedError);
        expect(error.failures.map((f) => f.index)).toEqual([1]);
        expect(error.failures[0]?.error).toMatch(/large|limit|size/i);
        expect(error.stored[0]).toBeDefined();
        expect(error.stored[1]).toBeUndefined();
        expect(error.stored[2]).toBeDefined();
        const { messages } = await stream.getMessages(streamId, await cursorFor(newGroup()), { limit: 10 });
        expect(values(messages)).toEqual(['before', 'after']);
      });

      it('keeps streams apart', async () => {
        await publishText(['only in the first stream']);
        const cursor = await cursorFor(newGroup(), 'TRIM_HORIZON', fixture.otherStreamId);
        const { messages } = await stream.getMessages(fixture.otherStreamId, cursor, { limit: 10 });
        expect(messages).toEqual([]);
      });

      it('rejects an unknown stream with StreamNotFoundError', async () => {
        const unknown = 'ocid1.stream.oc1..contractdoesnotexist';
        await expect(stream.publish(unknown, [{ key: 'k', value: 'v' }])).rejects.toBeInstanceOf(StreamNotFoundError);
        await expect(cursorFor(newGroup(), 'TRIM_HORIZON', unknown)).rejects.toBeInstanceOf(StreamNotFoundError);
      });
    });

    describe('group cursors', () => {
      it('reads at most limit messages and continues from the next cursor', async () => {
        await publishText(['a', 'b', 'c', 'd', 'e']);
        const first = await stream.getMessages(streamId, await cursorFor(newGroup()), { limit: 2 });
        expect(values(first.messages)).toEqual(['a', 'b']);
        const second = await stream.getMessages(streamId, first.nextCursor, { limit: 10 });
        expect(values(second.messages)).toEqual(['c', 'd', 'e']);
        const third = await stream.getMessages(streamId, second.nextCursor, { limit: 10 });
        expect(third.messages).toEqual([]);
      });

      it('resumes a group after its committed offset', async () => {
        await publishText(['a', 'b', 'c']);
        const groupName = newGroup();
        const read = await stream.getMessages(streamId, await cursorFor(groupName), { limit: 2 });
        expect(values(read.messages)).toEqual(['a', 'b']);
        const afterCommit = await stream.commit(streamId, read.nextCursor);
        expect(typeof afterCommit).toBe('string');
        const resumed = await stream.getMessages(streamId, await cursorFor(groupName), { limit: 10 });
        expect(values(resumed.messages)).toEqual(['c']);
      });

      it('continues reading from the cursor that commit returns', async () => {
        await publishText(['a', 'b', 'c']);
        const read = await stream.getMessages(streamId, await cursorFor(newGroup()), { limit: 1 });
        const afterCommit = await stream.commit(streamId, read.nextCursor);
        const next = await stream.getMessages(streamId, afterCommit, { limit: 10 });
        expect(values(next.messages)).toEqual(['b', 'c']);
      });

      it('re-reads from the last commit when nothing was committed since (getMessages does not commit)', async () => {
        await publishText(['a', 'b']);
        const groupName = newGroup();
        const read = await stream.getMessages(streamId, await cursorFor(groupName), { limit: 10 });
        expect(values(read.messages)).toEqual(['a', 'b']);
        const again = await stream.getMessages(streamId, await cursorFor(groupName), { limit: 10 });
        expect(values(again.messages)).toEqual(['a', 'b']);
      });

      it('keeps two groups independent', async () => {
        await publishText(['a', 'b']);
        const first = newGroup();
        const second = newGroup();
        const read = await stream.getMessages(streamId, await cursorFor(first), { limit: 10 });
        await stream.commit(streamId, read.nextCursor);
        const other = await stream.getMessages(streamId, await cursorFor(second), { limit: 10 });
        expect(values(other.messages)).toEqual(['a', 'b']);
        const resumed = await stream.getMessages(streamId, await cursorFor(first), { limit: 10 });
        expect(resumed.messages).toEqual([]);
      });

      it('starts a new group at the oldest message with TRIM_HORIZON and after the newest with LATEST', async () => {
        await publishText(['old']);
        const fromStart = await cursorFor(newGroup(), 'TRIM_HORIZON');
        const fromEnd = await cursorFor(newGroup(), 'LATEST');
        await publishText(['new']);
        expect(values((await stream.getMessages(streamId, fromStart, { limit: 10 })).messages)).toEqual(['old', 'new']);
        expect(values((await stream.getMessages(streamId, fromEnd, { limit: 10 })).messages)).toEqual(['new']);
      });

      it('ignores the start type once the group exists', async () => {
        await publishText(['a']);
        const groupName = newGroup();
        await cursorFor(groupName, 'TRIM_HORIZON');
        await publishText(['b']);
        const later = await cursorFor(groupName, 'LATEST');
        expect(values((await stream.getMessages(streamId, later, { limit: 10 })).messages)).toEqual(['a', 'b']);
      });

      it('heartbeat returns a cursor at the same position', async () => {
        await publishText(['a', 'b']);
        const read = await stream.getMessages(streamId, await cursorFor(newGroup()), { limit: 1 });
        const beat = await stream.heartbeat(streamId, read.nextCursor);
        expect(values((await stream.getMessages(streamId, beat, { limit: 10 })).messages)).toEqual(['b']);
      });

      const expiryCase = options.skipCursorExpiry ? it.skip : it;
      const expiryTitle = options.skipCursorExpiry
        ? `rejects a cursor older than five minutes (skipped: ${options.skipCursorExpiry})`
        : 'rejects a cursor older than five minutes with CursorExpiredError, and heartbeat renews it';
      expiryCase(expiryTitle, async () => {
        const advance = fixture.advanceClockMs;
        if (!advance) throw new Error('this adapter needs advanceClockMs in its fixture, or skipCursorExpiry');
        await publishText(['a']);
        const groupName = newGroup();
        const cursor = await cursorFor(groupName);
        advance(CURSOR_TTL_MS - 60_000);
        const renewed = await stream.heartbeat(streamId, cursor);
        advance(2 * 60_000);
        await expect(stream.getMessages(streamId, cursor, { limit: 10 })).rejects.toBeInstanceOf(CursorExpiredError);
        await expect(stream.commit(streamId, cursor)).rejects.toBeInstanceOf(CursorExpiredError);
        expect(values((await stream.getMessages(streamId, renewed, { limit: 10 })).messages)).toEqual(['a']);
        const fresh = await cursorFor(groupName);
        expect(values((await stream.getMessages(streamId, fresh, { limit: 10 })).messages)).toEqual(['a']);
      });
    });

    describe('plain cursors', () => {
      it('reads from the oldest message with TRIM_HORIZON', async () => {
        const [first] = await publishText(['a', 'b']);
        const cursor = await stream.createCursor(streamId, { partition: first?.partition ?? '0', type: 'TRIM_HORIZON' });
        expect(values((await stream.getMessages(streamId, cursor, { limit: 10 })).messages)).toEqual(['a', 'b']);
      });

      it('sees only messages published after a LATEST cursor was created', async () => {
        const [first] = await publishText(['before']);
        const cursor = await stream.createCursor(streamId, { partition: first?.partition ?? '0', type: 'LATEST' });
        await publishText(['after']);
        const read = await stream.getMessages(streamId, cursor, { limit: 10 });
        expect(values(read.messages)).toEqual(['after']);
        await publishText(['later']);
        expect(values((await stream.getMessages(streamId, read.nextCursor, { limit: 10 })).messages)).toEqual(['later']);
      });

      it('starts at an offset with AT_OFFSET and just past it with AFTER_OFFSET', async () => {
        const entries = await publishText(['m0', 'm1', 'm2']);
        const partition = entries[0]?.partition ?? '0';
        const at = await stream.createCursor(streamId, { partition, type: 'AT_OFFSET', offset: 1 });
        const after = await stream.createCursor(streamId, { partition, type: 'AFTER_OFFSET', offset: 1 });
        expect(values((await stream.getMessages(streamId, at, { limit: 10 })).messages)).toEqual(['m1', 'm2']);
        expect(values((await stream.getMessages(streamId, after, { limit: 10 })).messages)).toEqual(['m2']);
      });

      longPollCase('wakes a long poll on a LATEST cursor when a message is published', async () => {
        const [first] = await publishText(['old']);
        const cursor = await stream.createCursor(streamId, { partition: first?.partition ?? '0', type: 'LATEST' });
        const waiting = stream.getMessages(streamId, cursor, { limit: 10, waitMs: 2000 });
        await new Promise((resolve) => setTimeout(resolve, 50));
        await publishText(['new']);
        expect(values((await waiting).messages)).toEqual(['new']);
      });

      it('cannot be committed or heartbeated: it belongs to no group', async () => {
        const [first] = await publishText(['a']);
        const cursor = await stream.createCursor(streamId, { partition: first?.partition ?? '0', type: 'TRIM_HORIZON' });
        const { nextCursor } = await stream.getMessages(streamId, cursor, { limit: 10 });
        await expect(stream.commit(streamId, nextCursor)).rejects.toBeInstanceOf(StreamError);
        await expect(stream.heartbeat(streamId, nextCursor)).rejects.toBeInstanceOf(StreamError);
      });

      it('rejects a partition the stream does not have, and an unknown stream', async () => {
        await expect(stream.createCursor(streamId, { partition: '99', type: 'LATEST' })).rejects.toBeInstanceOf(StreamError);
        await expect(
          stream.createCursor('ocid1.stream.oc1..contractdoesnotexist', { partition: '0', type: 'LATEST' }),
        ).rejects.toBeInstanceOf(StreamNotFoundError);
      });
    });

    describe('long poll', () => {
      longPollCase('answers a waiting read as soon as a message is published, well before waitMs', async () => {
        const cursor = await cursorFor(newGroup());
        const startedMs = Date.now();
        const waiting = stream.getMessages(streamId, cursor, { limit: 10, waitMs: 2000 });
        await new Promise((resolve) => setTimeout(resolve, 50));
        await publishText(['wake up']);
        const { messages } = await waiting;
        expect(values(messages)).toEqual(['wake up']);
        expect(Date.now() - startedMs).toBeLessThan(1500);
      });

      it('answers empty when nothing arrives within waitMs', async () => {
        const cursor = await cursorFor(newGroup());
        const startedMs = Date.now();
        const { messages, nextCursor } = await stream.getMessages(streamId, cursor, { limit: 10, waitMs: 100 });
        expect(messages).toEqual([]);
        expect(typeof nextCursor).toBe('string');
        expect(Date.now() - startedMs).toBeLessThan(1500);
      });

      longPollCase('is not woken by a message in another stream', async () => {
        const cursor = await cursorFor(newGroup());
        const startedMs = Date.now();
        const waiting = stream.getMessages(streamId, cursor, { limit: 10, waitMs: 300 });
        await new Promise((resolve) => setTimeout(resolve, 30));
        await publishText(['elsewhere'], 'k', fixture.otherStreamId);
        expect((await waiting).messages).toEqual([]);
        // It kept waiting: an empty answer alone would also come from a wait that the other stream ended.
        expect(Date.now() - startedMs).toBeGreaterThanOrEqual(250);
      });
    });
  });
}
