import nock from 'nock';
import * as common from 'oci-common';
import { useNock } from '../../support/nock';
import { publishAll } from '../../../shared/adapters/oci/publish-all';
import { OciStream } from '../../../shared/adapters/oci/stream';
import { LONG_POLL_HEADER } from '../../../shared/api/streaming';
import { OciStreamAdmin } from '../../../shared/adapters/oci/stream-admin';
import {
  CursorExpiredError,
  PublishFailedError,
  StreamError,
  StreamNotFoundError,
  StreamUnavailableError,
} from '../../../shared/ports/stream';

const ENDPOINT = 'https://cell-1.streaming.test.invalid';
const ADMIN_ENDPOINT = 'https://streaming.test.invalid';
const STREAM_ID = 'ocid1.stream.oc1..instance1';
const BASE = `/20180418/streams/${STREAM_ID}`;
// Real cursors are base64 and carry characters that an unencoded query string would corrupt.
const CURSOR = 'eyJjdXJzb3IiOiIx+/Mg==';
const NEXT_CURSOR = 'eyJjdXJzb3IiOiIy';
const TIMESTAMP = '2026-11-27T10:00:00.000Z';

const nockScope = useNock({
  tenancyId: 'ocid1.tenancy.oc1..test',
  // An instance registered with the platform signs as tenancy/instance/fingerprint.
  userId: 'ocid1.instance.oc1..host1',
});


function stream(options: { retries?: boolean; longPollHeaderMs?: number } = {}): OciStream {
  return new OciStream({
    endpoint: ENDPOINT,
    authProvider: nockScope.authProvider(),
    ...(options.longPollHeaderMs === undefined ? {} : { longPollHeaderMs: options.longPollHeaderMs }),
    ...(options.retries
      ? {
          clientConfiguration: {
            retryConfiguration: {
              terminationStrategy: new common.MaxAttemptsTerminationStrategy(3),
              delayStrategy: new common.FixedTimeDelayStrategy(0),
            },
          },
        }
      : {}),
  });
}

const b64 = (text: string): string => Buffer.from(text).toString('base64');

interface WireMessages {
  messages: Array<{ key?: string; value: string }>;
}

function stored(offset: number): { partition: string; offset: number; timestamp: string } {
  return { partition: '0', offset, timestamp: TIMESTAMP };
}

describe('OciStream.publish', () => {
  it('sends base64 keys and values and returns one entry per message', async () => {
    let sent: WireMessages | undefined;
    const scope = nock(ENDPOINT, { badheaders: [LONG_POLL_HEADER] })
      .post(`${BASE}/messages`, (body: WireMessages) => {
        sent = body;
        return true;
      })
      .reply(200, { failures: 0, entries: [stored(7), stored(8)] });

    const entries = await stream().publish(STREAM_ID, [
      { key: 'exec-1', value: '{"type":"command.issued"}' },
      { key: null, value: Buffer.from([0, 255]) },
    ]);

    expect(sent).toEqual({
      messages: [{ key: b64('exec-1'), value: b64('{"type":"command.issued"}') }, { value: Buffer.from([0, 255]).toString('base64') }],
    });
    expect(entries).toEqual([stored(7), stored(8)]);
    expect(scope.isDone()).toBe(true);
  });

  it('throws PublishFailedError naming the failed index, its error and the stored entries', async () => {
    nock(ENDPOINT)
      .post(`${BASE}/messages`)
      .reply(200, {
        failures: 1,
        entries: [stored(1), { error: 'ThrottledError', errorMessage: 'partition 0 is throttled' }, stored(2)],
      });

    const error = await stream()
      .publish(STREAM_ID, [{ value: 'a' }, { value: 'b' }, { value: 'c' }])
      .catch((e: unknown) => e);

    expect(error).toBeInstanceOf(PublishFailedError);
    expect((error as PublishFailedError).failures).toEqual([
      { index: 1, error: 'ThrottledError: partition 0 is throttled' },
    ]);
    expect((error as PublishFailedError).stored).toEqual([stored(1), undefined, stored(2)]);
  });

  it('never retries putMessages, even when the client retries other calls', async () => {
    const scope = nock(ENDPOINT).post(`${BASE}/messages`).twice().reply(503, { code: 'ServiceUnavailable', message: 'x' });

    await expect(stream({ retries: true }).publish(STREAM_ID, [{ value: 'a' }])).rejects.toBeInstanceOf(
      StreamUnavailableError,
    );
    expect(scope.pendingMocks()).toHaveLength(1);
  });
});

describe('publishAll', () => {
  it('re-sends only the failed messages and returns every entry in input order', async () => {
    const bodies: WireMessages[] = [];
    const record = (body: WireMessages): boolean => {
      bodies.push(body);
      return true;
    };
    const scope = nock(ENDPOINT)
      .post(`${BASE}/messages`, record)
      .reply(200, { failures: 1, entries: [stored(1), { error: 'InternalServerError', errorMessage: 'x' }, stored(2)] })
      .post(`${BASE}/messages`, record)
      .reply(200, { failures: 0, entries: [stored(3)] });
    const beforeRetry = jest.fn(() => Promise.resolve());

    const entries = await publishAll(stream(), STREAM_ID, [{ value: 'a' }, { value: 'b' }, { value: 'c' }], {
      attempts: 3,
      beforeRetry,
    });

    expect(bodies.map((b) => b.messages.map((m) => Buffer.from(m.value, 'base64').toString()))).toEqual([
      ['a', 'b', 'c'],
      ['b'],
    ]);
    expect(entries).toEqual([stored(1), stored(3), stored(2)]);
    expect(beforeRetry).toHaveBeenCalledWith(1, [{ index: 1, error: 'InternalServerError: x' }]);
    expect(scope.isDone()).toBe(true);
  });

  it('gives up after the last attempt with indexes into the original messages', async () => {
    nock(ENDPOINT)
      .post(`${BASE}/messages`)
      .reply(200, { failures: 2, entries: [{ error: 'E', errorMessage: '1' }, stored(1), { error: 'E', errorMessage: '2' }] })
      .post(`${BASE}/messages`)
      .reply(200, { failures: 1, entries: [stored(2), { error: 'E', errorMessage: '3' }] });

    const error = await publishAll(stream(), STREAM_ID, [{ value: 'a' }, { value: 'b' }, { value: 'c' }], {
      attempts: 2,
    }).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(PublishFailedError);
    expect((error as PublishFailedError).failures).toEqual([{ index: 2, error: 'E: 3' }]);
    expect((error as PublishFailedError).stored).toEqual([stored(2), stored(1), undefined]);
  });
});

describe('OciStream.getMessages', () => {
  it('decodes keys and values and returns the next cursor', async () => {
    const scope = nock(ENDPOINT)
      .get(`${BASE}/messages`)
      .query({ cursor: CURSOR, limit: '10' })
      .reply(
        200,
        [
          { stream: 'instance1', partition: '0', key: b64('exec-1'), value: b64('hello'), offset: 4, timestamp: TIMESTAMP },
          { stream: 'instance1', partition: '0', key: null, value: b64('world'), offset: 5, timestamp: TIMESTAMP },
        ],
        { 'opc-next-cursor': NEXT_CURSOR },
      );

    const result = await stream().getMessages(STREAM_ID, CURSOR, { limit: 10 });

    expect(result).toEqual({
      messages: [
        { stream: 'instance1', partition: '0', key: 'exec-1', value: Buffer.from('hello'), offset: 4, timestamp: TIMESTAMP },
        { stream: 'instance1', partition: '0', key: null, value: Buffer.from('world'), offset: 5, timestamp: TIMESTAMP },
      ],
      nextCursor: NEXT_CURSOR,
    });
    expect(scope.isDone()).toBe(true);
  });

  it('refuses an answer without opc-next-cursor rather than re-reading from the old cursor', async () => {
    nock(ENDPOINT).get(`${BASE}/messages`).query(true).reply(200, []);

    await expect(stream().getMessages(STREAM_ID, CURSOR, { limit: 10 })).rejects.toThrow('without opc-next-cursor');
  });

  it.each([
    ['OCI', { code: 'InvalidParameter', message: 'Cursor has expired' }],
    ['the platform', { code: 'CursorExpired', message: 'cursor is too old' }],
  ])('maps an expired cursor as %s reports it to CursorExpiredError', async (_source, body) => {
    nock(ENDPOINT).get(`${BASE}/messages`).query(true).reply(400, body);

    await expect(stream().getMessages(STREAM_ID, CURSOR, { limit: 10 })).rejects.toBeInstanceOf(CursorExpiredError);
  });

  it('keeps other 400s as plain StreamErrors', async () => {
    nock(ENDPOINT).get(`${BASE}/messages`).query(true).reply(400, { code: 'InvalidParameter', message: 'limit is too large' });

    const error = await stream().getMessages(STREAM_ID, CURSOR, { limit: 10 }).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(StreamError);
    expect(error).not.toBeInstanceOf(CursorExpiredError);
    expect(error).not.toBeInstanceOf(StreamUnavailableError);
  });

  it('maps 404 to StreamNotFoundError', async () => {
    nock(ENDPOINT).get(`${BASE}/messages`).query(true).reply(404, { code: 'NotAuthorizedOrNotFound', message: 'x' });

    await expect(stream().getMessages(STREAM_ID, CURSOR, { limit: 10 })).rejects.toMatchObject({
      name: 'StreamNotFoundError',
      streamId: STREAM_ID,
    });
  });

  it('maps 429 to StreamUnavailableError once retries are spent', async () => {
    const scope = nock(ENDPOINT)
      .get(`${BASE}/messages`)
      .query(true)
      .times(3)
      .reply(429, { code: 'TooManyRequests', message: 'slow down' });

    await expect(stream({ retries: true }).getMessages(STREAM_ID, CURSOR, { limit: 10 })).rejects.toBeInstanceOf(
      StreamUnavailableError,
    );
    expect(scope.isDone()).toBe(true);
  });

  it('maps a dropped connection to StreamUnavailableError', async () => {
    nock(ENDPOINT).get(`${BASE}/messages`).query(true).replyWithError(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }));

    await expect(stream().getMessages(STREAM_ID, CURSOR, { limit: 10 })).rejects.toBeInstanceOf(StreamUnavailableError);
  });

  it('asks for a long poll with the extension header, capped by longPollHeaderMs', async () => {
    const scope = nock(ENDPOINT)
      .get(`${BASE}/messages`)
      .query(true)
      .matchHeader(LONG_POLL_HEADER, '1500')
      .reply(200, [], { 'opc-next-cursor': NEXT_CURSOR })
      .get(`${BASE}/messages`)
      .query(true)
      .matchHeader(LONG_POLL_HEADER, '2000')
      .reply(200, [], { 'opc-next-cursor': NEXT_CURSOR });

    const adapter = stream({ longPollHeaderMs: 2000 });
    await adapter.getMessages(STREAM_ID, CURSOR, { limit: 1, waitMs: 1500 });
    await adapter.getMessages(STREAM_ID, CURSOR, { limit: 1, waitMs: 60_000 });

    expect(scope.isDone()).toBe(true);
  });

  it('sends no long-poll header when waitMs is 0 or the cap is 0', async () => {
    const scope = nock(ENDPOINT, { badheaders: [LONG_POLL_HEADER] })
      .get(`${BASE}/messages`)
      .query(true)
      .twice()
      .reply(200, [], { 'opc-next-cursor': NEXT_CURSOR });

    await stream().getMessages(STREAM_ID, CURSOR, { limit: 1, waitMs: 0 });
    await stream({ longPollHeaderMs: 0 }).getMessages(STREAM_ID, CURSOR, { limit: 1, waitMs: 5000 });

    expect(scope.isDone()).toBe(true);
  });

  it('rejects with the abort reason as soon as the signal fires, while the server still holds the request', async () => {
    let release: (() => void) | undefined;
    nock(ENDPOINT)
      .get(`${BASE}/messages`)
      .query(true)
      .reply((_uri, _body, callback) => {
        release = () => callback(null, [200, [], { 'opc-next-cursor': NEXT_CURSOR }]);
      });
    const controller = new AbortController();

    const pending = stream().getMessages(STREAM_ID, CURSOR, { limit: 1, waitMs: 10_000, signal: controller.signal });
    await new Promise((resolve) => setImmediate(resolve));
    controller.abort();

    await expect(pending).rejects.toMatchObject({ name: 'AbortError' });
    release?.();
  });

  it('does not call the server when the signal has already fired', async () => {
    const scope = nock(ENDPOINT).get(`${BASE}/messages`).query(true).reply(200, []);
    const controller = new AbortController();
    controller.abort();

    await expect(
      stream().getMessages(STREAM_ID, CURSOR, { limit: 1, signal: controller.signal }),
    ).rejects.toMatchObject({ name: 'AbortError' });
    expect(scope.isDone()).toBe(false);
  });
});

describe('OciStream consumer groups', () => {
  it('creates a group cursor with commitOnGet false and the instance timeout, without the long-poll header', async () => {
    const scope = nock(ENDPOINT, { badheaders: [LONG_POLL_HEADER] })
      .post(`${BASE}/groupCursors`, {
        groupName: 'instance1',
        instanceName: 'agent-a',
        type: 'TRIM_HORIZON',
        commitOnGet: false,
        timeoutInMs: 30_000,
      })
      .reply(200, { value: CURSOR });

    await expect(
      stream().createGroupCursor(STREAM_ID, {
        groupName: 'instance1',
        instanceName: 'agent-a',
        type: 'TRIM_HORIZON',
        timeoutMs: 30_000,
      }),
    ).resolves.toBe(CURSOR);
    expect(scope.isDone()).toBe(true);
  });

  it('commits and heartbeats with the cursor, returning fresh cursors, without the long-poll header', async () => {
    const scope = nock(ENDPOINT, { badheaders: [LONG_POLL_HEADER] })
      .post(`${BASE}/commit`)
      .query({ cursor: CURSOR })
      .reply(200, { value: 'after-commit' })
      .post(`${BASE}/heartbeat`)
      .query({ cursor: 'after-commit' })
      .reply(200, { value: 'after-heartbeat' });

    const adapter = stream();
    await expect(adapter.commit(STREAM_ID, CURSOR)).resolves.toBe('after-commit');
    await expect(adapter.heartbeat(STREAM_ID, 'after-commit')).resolves.toBe('after-heartbeat');
    expect(scope.isDone()).toBe(true);
  });

  it('maps an expired cursor on commit to CursorExpiredError', async () => {
    nock(ENDPOINT)
      .post(`${BASE}/commit`)
      .query(true)
      .reply(400, { code: 'InvalidParameter', message: 'Cursor has expired' });

    await expect(stream().commit(STREAM_ID, CURSOR)).rejects.toBeInstanceOf(CursorExpiredError);
  });
});

describe('OciStreamAdmin', () => {
  function admin(): OciStreamAdmin {
    return new OciStreamAdmin({ endpoint: ADMIN_ENDPOINT, authProvider: nockScope.authProvider() });
  }

  const wireStream = {
    id: STREAM_ID,
    name: 'instance1',
    partitions: 1,
    retentionInHours: 168,
    compartmentId: 'ocid1.compartment.oc1..c',
    streamPoolId: 'ocid1.streampool.oc1..p',
    lifecycleState: 'ACTIVE',
    timeCreated: TIMESTAMP,
    messagesEndpoint: ENDPOINT,
  };

  it('creates a stream with its retention and partitions', async () => {
    const scope = nock(ADMIN_ENDPOINT)
      .post('/20180418/streams', { name: 'instance1', partitions: 1, retentionInHours: 168, compartmentId: 'ocid1.compartment.oc1..c' })
      .reply(200, wireStream);

    await expect(
      admin().createStream({ name: 'instance1', partitions: 1, retentionInHours: 168, compartmentId: 'ocid1.compartment.oc1..c' }),
    ).resolves.toMatchObject({ id: STREAM_ID, retentionInHours: 168, messagesEndpoint: ENDPOINT });
    expect(scope.isDone()).toBe(true);
  });

  it('returns the messages endpoint of a stream and maps 404 to StreamNotFoundError', async () => {
    nock(ADMIN_ENDPOINT)
      .get(`/20180418/streams/${STREAM_ID}`)
      .reply(200, wireStream)
      .get('/20180418/streams/ocid1.stream.oc1..gone')
      .reply(404, { code: 'NotAuthorizedOrNotFound', message: 'x' });

    await expect(admin().getStream(STREAM_ID)).resolves.toMatchObject({ messagesEndpoint: ENDPOINT });
    await expect(admin().getStream('ocid1.stream.oc1..gone')).rejects.toBeInstanceOf(StreamNotFoundError);
  });

  it('lists streams with the next page token', async () => {
    nock(ADMIN_ENDPOINT)
      .get('/20180418/streams')
      .query({ compartmentId: 'ocid1.compartment.oc1..c', limit: '1' })
      .reply(200, [wireStream], { 'opc-next-page': 'page-2' });

    await expect(admin().listStreams({ compartmentId: 'ocid1.compartment.oc1..c', limit: 1 })).resolves.toEqual({
      streams: [expect.objectContaining({ id: STREAM_ID, messagesEndpoint: ENDPOINT })],
      nextPage: 'page-2',
    });
  });
});
