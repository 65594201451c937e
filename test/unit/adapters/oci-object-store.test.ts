import nock from 'nock';
import { Readable } from 'node:stream';
import * as common from 'oci-common';
import { useNock } from '../../support/nock';
import { OciObjectStore } from '../../../shared/adapters/oci/object-store';
import {
  ObjectStoreError,
  ObjectStoreUnavailableError,
  PreconditionFailedError,
} from '../../../shared/ports/object-store';

const ENDPOINT = 'https://objectstorage.test.invalid';
const KEY = 'commands/abc/state.json';
const PATH = '/n/ns/b/bucket/o/commands%2Fabc%2Fstate.json';
const LIST_PATH = '/n/ns/b/bucket/o';
const LAST_MODIFIED = 'Tue, 03 Jan 2023 04:05:06 GMT';

const nockScope = useNock({
  tenancyId: 'ocid1.tenancy.oc1..test',
  userId: 'ocid1.user.oc1..test',
});


function store(options: { retries?: boolean } = {}): OciObjectStore {
  return OciObjectStore.create({
    endpoint: ENDPOINT,
    authProvider: nockScope.authProvider(),
    namespaceName: 'ns',
    bucketName: 'bucket',
    ...(options.retries
      ? {
          retry: {
            terminationStrategy: new common.MaxAttemptsTerminationStrategy(3),
            delayStrategy: new common.FixedTimeDelayStrategy(0),
          },
        }
      : {}),
  });
}

function ociError(status: number, code: string): [number, { code: string; message: string }] {
  return [status, { code, message: `${code} (test)` }];
}

describe('OciObjectStore.put', () => {
  it('creates only when absent by sending if-none-match: * and returns the new etag', async () => {
    const scope = nock(ENDPOINT)
      .put(PATH, '{"state":"ACCEPTED"}')
      .matchHeader('if-none-match', '*')
      .matchHeader('opc-meta-state', 'ACCEPTED')
      .matchHeader('authorization', /^Signature version="1",keyId="ocid1\.tenancy\.oc1\.\.test\/ocid1\.user/)
      .reply(200, '', { etag: 'etag-1' });

    await expect(
      store().put(KEY, '{"state":"ACCEPTED"}', { ifNoneMatch: '*', metadata: { state: 'ACCEPTED' } }),
    ).resolves.toEqual({ etag: 'etag-1' });
    expect(scope.isDone()).toBe(true);
  });

  it('maps 412 IfNoneMatchFailed to PreconditionFailedError when the stored object differs', async () => {
    const scope = nock(ENDPOINT)
      .put(PATH)
      .reply(...ociError(412, 'IfNoneMatchFailed'))
      .get(PATH)
      .reply(200, 'someone else', { etag: 'theirs' });

    const error = await store().put(KEY, 'mine', { ifNoneMatch: '*' }).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(PreconditionFailedError);
    expect(error).toMatchObject({ key: KEY, condition: 'ifNoneMatch' });
    expect((error as Error).cause).toMatchObject({ statusCode: 412, serviceCode: 'IfNoneMatchFailed' });
    expect(scope.isDone()).toBe(true);
  });

  it('maps 412 IfMatchFailed to PreconditionFailedError and sends the if-match etag', async () => {
    const scope = nock(ENDPOINT)
      .put(PATH)
      .matchHeader('if-match', 'etag-1')
      .reply(...ociError(412, 'IfMatchFailed'))
      .get(PATH)
      .reply(200, 'newer', { etag: 'etag-2' });

    await expect(store().put(KEY, 'mine', { ifMatch: 'etag-1' })).rejects.toMatchObject({
      name: 'PreconditionFailedError',
      condition: 'ifMatch',
    });
    expect(scope.isDone()).toBe(true);
  });

  it('still fails when the object vanished before the re-read', async () => {
    nock(ENDPOINT).put(PATH).reply(...ociError(412, 'IfMatchFailed')).get(PATH).reply(...ociError(404, 'ObjectNotFound'));

    await expect(store().put(KEY, 'mine', { ifMatch: 'etag-1' })).rejects.toBeInstanceOf(PreconditionFailedError);
  });

  it('treats a 412 after a retried 503 as success when the stored object is exactly what it wrote', async () => {
    const scope = nock(ENDPOINT)
      .put(PATH, 'mine')
      .reply(...ociError(503, 'ServiceUnavailable'))
      .put(PATH, 'mine')
      .matchHeader('if-none-match', '*')
      .reply(...ociError(412, 'IfNoneMatchFailed'))
      .get(PATH)
      .reply(200, 'mine', { etag: 'stored-etag', 'opc-meta-state': 'ACCEPTED' });

    await expect(
      store({ retries: true }).put(KEY, 'mine', { ifNoneMatch: '*', metadata: { State: 'ACCEPTED' } }),
    ).resolves.toEqual({ etag: 'stored-etag' });
    expect(scope.isDone()).toBe(true);
  });

  it('fails a 412 after a retried 503 when the stored body differs', async () => {
    const scope = nock(ENDPOINT)
      .put(PATH)
      .reply(...ociError(503, 'ServiceUnavailable'))
      .put(PATH)
      .reply(...ociError(412, 'IfNoneMatchFailed'))
      .get(PATH)
      .reply(200, 'theirs', { etag: 'their-etag', 'opc-meta-state': 'ACCEPTED' });

    await expect(
      store({ retries: true }).put(KEY, 'mine', { ifNoneMatch: '*', metadata: { state: 'ACCEPTED' } }),
    ).rejects.toBeInstanceOf(PreconditionFailedError);
    expect(scope.isDone()).toBe(true);
  });

  it('fails a 412 after a retried 503 when only the stored metadata differs', async () => {
    nock(ENDPOINT)
      .put(PATH)
      .reply(...ociError(503, 'ServiceUnavailable'))
      .put(PATH)
      .reply(...ociError(412, 'IfMatchFailed'))
      .get(PATH)
      .reply(200, 'mine', { etag: 'their-etag', 'opc-meta-state': 'CANCELED' });

    await expect(
      store({ retries: true }).put(KEY, 'mine', { ifMatch: 'etag-1', metadata: { state: 'ACCEPTED' } }),
    ).rejects.toMatchObject({ name: 'PreconditionFailedError', condition: 'ifMatch' });
  });

  it('succeeds after a 429 when retries are configured', async () => {
    const scope = nock(ENDPOINT)
      .put(PATH)
      .reply(...ociError(429, 'TooManyRequests'))
      .put(PATH, 'body')
      .reply(200, '', { etag: 'etag-after-throttle' });

    await expect(store({ retries: true }).put(KEY, Buffer.from('body'))).resolves.toEqual({
      etag: 'etag-after-throttle',
    });
    expect(scope.isDone()).toBe(true);
  });

  it('gives ObjectStoreUnavailableError with the cause once the retries are spent on 503s', async () => {
    const scope = nock(ENDPOINT).put(PATH).times(3).reply(...ociError(503, 'ServiceUnavailable'));

    const error = await store({ retries: true }).put(KEY, 'body').catch((e: unknown) => e);

    expect(error).toBeInstanceOf(ObjectStoreUnavailableError);
    expect((error as Error).cause).toMatchObject({ statusCode: 503, serviceCode: 'ServiceUnavailable' });
    expect(scope.isDone()).toBe(true);
  });

  it('gives ObjectStoreUnavailableError when the connection drops', async () => {
    nock(ENDPOINT).put(PATH).replyWithError({ code: 'ECONNRESET', message: 'socket hang up' });

    const error = await store().put(KEY, 'body').catch((e: unknown) => e);

    expect(error).toBeInstanceOf(ObjectStoreUnavailableError);
    expect((error as Error).message).toContain('connection failed');
  });

  it('gives a plain ObjectStoreError, not a retryable one, for a rejected request', async () => {
    nock(ENDPOINT).put(PATH).reply(...ociError(401, 'NotAuthenticated'));

    const error = await store().put(KEY, 'body').catch((e: unknown) => e);

    expect(error).toBeInstanceOf(ObjectStoreError);
    expect(error).not.toBeInstanceOf(ObjectStoreUnavailableError);
    expect((error as Error).message).toContain('401 NotAuthenticated');
  });
});

describe('OciObjectStore.putStream', () => {
  it('streams the body with its length and maps a 412 without re-reading', async () => {
    const scope = nock(ENDPOINT)
      .put(PATH, 'chunk-1chunk-2')
      .matchHeader('content-length', '14')
      .matchHeader('if-none-match', '*')
      .reply(...ociError(412, 'IfNoneMatchFailed'));

    await expect(
      store({ retries: true }).putStream(KEY, Readable.from([Buffer.from('chunk-1'), Buffer.from('chunk-2')]), 14, {
        ifNoneMatch: '*',
      }),
    ).rejects.toMatchObject({ name: 'PreconditionFailedError', condition: 'ifNoneMatch' });
    expect(scope.isDone()).toBe(true);
  });
});

describe('OciObjectStore.get and head', () => {
  // oci-common renders date headers from local time fields; run with TZ=America/New_York to exercise the undoing.
  it('returns the body, etag, size, last-modified and metadata without the opc-meta- prefix', async () => {
    nock(ENDPOINT)
      .get(PATH)
      .reply(200, '{"state":"DONE"}', {
        etag: 'etag-7',
        'content-length': '16',
        'last-modified': LAST_MODIFIED,
        'opc-meta-state': 'DONE',
        'opc-meta-attempt': '2',
      });

    const object = await store().get(KEY);

    expect(object).toEqual({
      key: KEY,
      etag: 'etag-7',
      size: 16,
      metadata: { state: 'DONE', attempt: '2' },
      timeModified: '2023-01-03T04:05:06.000Z',
      body: Buffer.from('{"state":"DONE"}'),
    });
  });

  it('returns head information with stripped metadata and no body', async () => {
    nock(ENDPOINT)
      .head(PATH)
      .reply(200, '', { etag: 'etag-8', 'content-length': '42', 'last-modified': LAST_MODIFIED, 'opc-meta-state': 'RUNNING' });

    await expect(store().head(KEY)).resolves.toEqual({
      key: KEY,
      etag: 'etag-8',
      size: 42,
      metadata: { state: 'RUNNING' },
      timeModified: '2023-01-03T04:05:06.000Z',
    });
  });

  it('returns undefined for a missing object on get and head', async () => {
    nock(ENDPOINT).get(PATH).reply(...ociError(404, 'ObjectNotFound')).head(PATH).reply(404);

    await expect(store().get(KEY)).resolves.toBeUndefined();
    await expect(store().head(KEY)).resolves.toBeUndefined();
  });

  it('streams a body with getStream', async () => {
    nock(ENDPOINT).get(PATH).reply(200, 'streamed body', { etag: 'etag-9', 'opc-meta-kind': 'output' });

    const found = await store().getStream(KEY);

    expect(found?.info).toMatchObject({ etag: 'etag-9', metadata: { kind: 'output' } });
    const chunks: Buffer[] = [];
    for await (const chunk of found?.body ?? []) chunks.push(chunk as Buffer);
    expect(Buffer.concat(chunks).toString()).toBe('streamed body');
  });

  it('gives ObjectStoreUnavailableError when the body is cut off midway', async () => {
    nock(ENDPOINT)
      .get(PATH)
      .reply(200, () =>
        Readable.from(
          (async function* () {
            yield Buffer.from('partial');
            throw new Error('connection reset');
          })(),
        ),
      );

    await expect(store().get(KEY)).rejects.toBeInstanceOf(ObjectStoreUnavailableError);
  });

  it('gives ObjectStoreUnavailableError on a dropped connection during get', async () => {
    nock(ENDPOINT).get(PATH).replyWithError('socket hang up');

    await expect(store().get(KEY)).rejects.toBeInstanceOf(ObjectStoreUnavailableError);
  });
});

describe('OciObjectStore.delete', () => {
  it('returns true when it deleted, guarded by if-match', async () => {
    const scope = nock(ENDPOINT).delete(PATH).matchHeader('if-match', 'etag-1').reply(204);

    await expect(store().delete(KEY, { ifMatch: 'etag-1' })).resolves.toBe(true);
    expect(scope.isDone()).toBe(true);
  });

  it('returns false when there was nothing to delete', async () => {
    nock(ENDPOINT).delete(PATH).reply(...ociError(404, 'ObjectNotFound'));

    await expect(store().delete(KEY)).resolves.toBe(false);
  });

  it('maps a 412 to PreconditionFailedError', async () => {
    nock(ENDPOINT).delete(PATH).reply(...ociError(412, 'IfMatchFailed'));

    await expect(store().delete(KEY, { ifMatch: 'stale' })).rejects.toMatchObject({
      name: 'PreconditionFailedError',
      condition: 'ifMatch',
    });
  });
});

describe('OciObjectStore.list', () => {
  it('pages with prefix, start, end, limit and the fields it needs', async () => {
    const scope = nock(ENDPOINT)
      .get(LIST_PATH)
      .query({ prefix: 'commands/', end: 'commands0', limit: '2', fields: 'name,etag,size,timeModified' })
      .reply(200, {
        objects: [
          { name: 'commands/a', etag: 'ea', size: 1, timeModified: '2024-05-01T10:00:00.000Z' },
          { name: 'commands/b', etag: 'eb', size: 2, timeModified: '2024-05-01T10:00:01.000Z' },
        ],
        nextStartWith: 'commands/c',
      })
      .get(LIST_PATH)
      .query({ prefix: 'commands/', start: 'commands/c', end: 'commands0', limit: '2', fields: 'name,etag,size,timeModified' })
      .reply(200, { objects: [{ name: 'commands/c', etag: 'ec', size: 3, timeModified: '2024-05-01T10:00:02.000Z' }] });

    const first = await store().list({ prefix: 'commands/', end: 'commands0', limit: 2 });
    const second = await store().list({ prefix: 'commands/', start: first.nextStartWith, end: 'commands0', limit: 2 });

    expect(first).toEqual({
      objects: [
        { key: 'commands/a', etag: 'ea', size: 1, timeModified: '2024-05-01T10:00:00.000Z' },
        { key: 'commands/b', etag: 'eb', size: 2, timeModified: '2024-05-01T10:00:01.000Z' },
      ],
      nextStartWith: 'commands/c',
    });
    expect(second).toEqual({
      objects: [{ key: 'commands/c', etag: 'ec', size: 3, timeModified: '2024-05-01T10:00:02.000Z' }],
    });
    expect(scope.isDone()).toBe(true);
  });

  it('percent-encodes query values and clamps the limit to 1000', async () => {
    const scope = nock(ENDPOINT)
      .get(LIST_PATH)
      .query({ prefix: 'a+b&c d', limit: '1000', fields: 'name,etag,size,timeModified' })
      .reply(200, { objects: [] });

    await expect(store().list({ prefix: 'a+b&c d', limit: 5000 })).resolves.toEqual({ objects: [] });
    expect(scope.isDone()).toBe(true);
  });
});
