import { MemoryObjectStore } from '../../../shared/adapters/memory/object-store';
import { InvalidCursorError, MemoryStream } from '../../../shared/adapters/memory/stream';

describe('MemoryStream', () => {
  const streamId = 'ocid1.stream.oc1..s';

  it('keeps a stream’s messages when it is created again', async () => {
    const stream = new MemoryStream();
    stream.createStream(streamId);
    await stream.publish(streamId, [{ key: 'k', value: 'v' }]);
    stream.createStream(streamId);
    expect(stream.messages(streamId).map((m) => m.value.toString())).toEqual(['v']);
  });

  it('never moves a group back when an older cursor is committed late', async () => {
    const stream = new MemoryStream();
    stream.createStream(streamId);
    await stream.publish(streamId, [{ value: 'a' }, { value: 'b' }]);
    const groupCursor = () =>
      stream.createGroupCursor(streamId, { groupName: 'g', instanceName: 'i', type: 'TRIM_HORIZON' });
    const start = await groupCursor();
    const read = await stream.getMessages(streamId, start, { limit: 10 });
    await stream.commit(streamId, read.nextCursor);
    await stream.commit(streamId, start);
    const resumed = await groupCursor();
    expect((await stream.getMessages(streamId, resumed, { limit: 10 })).messages).toEqual([]);
  });

  it('ends a long poll when its signal aborts', async () => {
    const stream = new MemoryStream();
    stream.createStream(streamId);
    const cursor = await stream.createGroupCursor(streamId, { groupName: 'g', instanceName: 'i', type: 'LATEST' });
    const controller = new AbortController();
    const startedAt = Date.now();
    const waiting = stream.getMessages(streamId, cursor, { limit: 1, waitMs: 10_000, signal: controller.signal });
    controller.abort();
    expect((await waiting).messages).toEqual([]);
    expect(Date.now() - startedAt).toBeLessThan(1000);
  });

  it('rejects a cursor it did not issue', async () => {
    const stream = new MemoryStream();
    stream.createStream(streamId);
    await expect(stream.getMessages(streamId, 'bogus', { limit: 1 })).rejects.toBeInstanceOf(InvalidCursorError);
  });
});

describe('MemoryObjectStore', () => {
  it('is not changed by a caller that mutates the buffer it wrote', async () => {
    const store = new MemoryObjectStore();
    const body = Buffer.from('original');
    await store.put('k', body);
    body.write('mutated!');
    expect((await store.get('k'))?.body.toString()).toBe('original');
  });

  it('counts objects by prefix', async () => {
    const store = new MemoryObjectStore();
    await store.put('a/1', '');
    await store.put('a/2', '');
    await store.put('b/1', '');
    expect(store.count('a/')).toBe(2);
    expect(store.count()).toBe(3);
  });
});
