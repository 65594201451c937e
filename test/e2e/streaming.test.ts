/**
 * The platform's Streaming endpoint with Oracle's own StreamAdminClient and StreamClient, authenticated from the
 * admin's OCI config file, exactly as against OCI Streaming: the stream's messagesEndpoint is where StreamClient goes.
 */
import { readFileSync } from 'node:fs';
import * as common from 'oci-common';
import { StreamAdminClient, StreamClient, models } from 'oci-streaming';
import { addCompartment, addRestrictedUser } from '../../platform/admin';
import {
  expectOciError,
  forgedAdminConfigFile,
  instanceClientParams,
  rawRequest,
  startTestPlatform,
  type TestPlatform,
} from '../support/platform';

let tp: TestPlatform;
let admin: StreamAdminClient;
let streamCount = 0;

beforeAll(async () => {
  tp = await startTestPlatform();
  admin = adminClientFor(tp.info.ociConfigFile);
}, 60_000);

afterAll(async () => {
  await tp?.stop();
});

function providerFor(configFile: string): common.ConfigFileAuthenticationDetailsProvider {
  return new common.ConfigFileAuthenticationDetailsProvider(configFile, 'DEFAULT');
}

function adminClientFor(configFile: string): StreamAdminClient {
  const c = new StreamAdminClient({ authenticationDetailsProvider: providerFor(configFile) });
  c.endpoint = tp.info.endpoint;
  return c;
}

function streamClientFor(configFile: string, messagesEndpoint: string): StreamClient {
  const c = new StreamClient({ authenticationDetailsProvider: providerFor(configFile) });
  c.endpoint = messagesEndpoint;
  return c;
}

async function newStream(compartmentId = tp.info.compartmentId): Promise<models.Stream> {
  streamCount += 1;
  const created = await admin.createStream({
    createStreamDetails: { name: `e2e-stream-${streamCount}`, partitions: 1, compartmentId, retentionInHours: 24 },
  });
  return created.stream;
}

const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');
const text = (messages: models.Message[]) => messages.map((m) => Buffer.from(m.value, 'base64').toString('utf8'));

describe('StreamAdminClient', () => {
  it('creates, gets, lists and deletes a stream whose messagesEndpoint is the platform', async () => {
    const stream = await newStream();
    expect(stream).toMatchObject({ partitions: 1, compartmentId: tp.info.compartmentId, lifecycleState: 'ACTIVE', messagesEndpoint: tp.info.endpoint });
    expect(stream.id).toMatch(/^ocid1\.stream\./);
    const got = await admin.getStream({ streamId: stream.id });
    expect(got.stream.name).toBe(stream.name);
    const listed = await admin.listStreams({ compartmentId: tp.info.compartmentId, name: stream.name });
    expect(listed.items.map((s) => s.id)).toEqual([stream.id]);
    await admin.deleteStream({ streamId: stream.id });
    await expectOciError(admin.getStream({ streamId: stream.id }), 404, 'NotAuthorizedOrNotFound');
  });
});

describe('StreamClient', () => {
  it('puts and gets messages with a group cursor, committing explicitly; a new group cursor resumes after the commit', async () => {
    const stream = await newStream();
    const client = streamClientFor(tp.info.ociConfigFile, stream.messagesEndpoint);
    const put = await client.putMessages({
      streamId: stream.id,
      putMessagesDetails: { messages: ['one', 'two', 'three'].map((v) => ({ key: b64('k'), value: b64(v) })) },
    });
    expect(put.putMessagesResult.failures).toBe(0);
    expect(put.putMessagesResult.entries.map((e) => e.offset)).toEqual([0, 1, 2]);

    const groupCursor = (type: models.CreateGroupCursorDetails.Type) =>
      client.createGroupCursor({
        streamId: stream.id,
        createGroupCursorDetails: { groupName: 'workers', instanceName: 'worker-1', type, commitOnGet: false },
      });
    const cursor = (await groupCursor(models.CreateGroupCursorDetails.Type.TrimHorizon)).cursor.value;
    const first = await client.getMessages({ streamId: stream.id, cursor, limit: 2 });
    expect(text(first.items)).toEqual(['one', 'two']);
    expect(first.items[0]?.key).toBe(b64('k'));
    expect(first.opcNextCursor).toBeTruthy();

    // Nothing committed yet (commitOnGet false): a new cursor for the group starts over.
    const again = await client.getMessages({ streamId: stream.id, cursor: (await groupCursor(models.CreateGroupCursorDetails.Type.TrimHorizon)).cursor.value, limit: 10 });
    expect(text(again.items)).toEqual(['one', 'two', 'three']);

    const committed = await client.consumerCommit({ streamId: stream.id, cursor: first.opcNextCursor });
    expect(committed.cursor.value).toBeTruthy();
    const beat = await client.consumerHeartbeat({ streamId: stream.id, cursor: committed.cursor.value });
    expect(beat.cursor.value).toBeTruthy();
    const resumed = await client.getMessages({ streamId: stream.id, cursor: (await groupCursor(models.CreateGroupCursorDetails.Type.Latest)).cursor.value, limit: 10 });
    expect(text(resumed.items)).toEqual(['three']);
  });

  it('answers a GET on an empty stream at once for a client that sends no long-poll header', async () => {
    const stream = await newStream();
    const client = streamClientFor(tp.info.ociConfigFile, stream.messagesEndpoint);
    const cursor = await client.createCursor({ streamId: stream.id, createCursorDetails: { partition: '0', type: models.CreateCursorDetails.Type.TrimHorizon } });
    const startedMs = Date.now();
    const empty = await client.getMessages({ streamId: stream.id, cursor: cursor.cursor.value });
    expect(empty.items).toEqual([]);
    expect(empty.opcNextCursor).toBeTruthy();
    expect(Date.now() - startedMs).toBeLessThan(1000);
  });
});

describe('authentication and authorization', () => {
  let stream: models.Stream;

  beforeAll(async () => {
    stream = await newStream();
  });

  it('answers unsigned requests with 401', async () => {
    const get = await rawRequest(tp.info.endpoint, { method: 'GET', path: `/20180418/streams/${stream.id}` });
    expect(get.status).toBe(401);
    expect(get.json).toMatchObject({ code: 'NotAuthenticated' });
    const put = await rawRequest(tp.info.endpoint, {
      method: 'POST',
      path: `/20180418/streams/${stream.id}/messages`,
      body: JSON.stringify({ messages: [{ value: b64('unsigned') }] }),
    });
    expect(put.status).toBe(401);
  });

  it('answers a stream id that is not valid percent-encoding with 400 InvalidParameter, not a server error', async () => {
    const get = await rawRequest(tp.info.endpoint, {
      method: 'GET',
      path: '/20180418/streams/%E0%A4%A',
      signWith: { configFile: tp.info.ociConfigFile },
    });
    expect(get.status).toBe(400);
    expect(get.json).toMatchObject({ code: 'InvalidParameter' });
  });

  it('answers requests signed with another key with 401', async () => {
    const configFile = forgedAdminConfigFile(tp, 'forged-streaming-config');
    await expectOciError(adminClientFor(configFile).getStream({ streamId: stream.id }), 401, 'NotAuthenticated');
    await expectOciError(
      streamClientFor(configFile, stream.messagesEndpoint).putMessages({ streamId: stream.id, putMessagesDetails: { messages: [{ value: b64('x') }] } }),
      401,
      'NotAuthenticated',
    );
  });

  it('gives a user limited to another compartment 404 on this stream', async () => {
    const other = await addCompartment(tp.dataDir, 'streaming-other');
    const limited = await addRestrictedUser(tp.dataDir, 'streaming-limited', [other]);
    await expectOciError(adminClientFor(limited.ociConfigFile).getStream({ streamId: stream.id }), 404, 'NotAuthorizedOrNotFound');
    await expectOciError(
      streamClientFor(limited.ociConfigFile, stream.messagesEndpoint).putMessages({ streamId: stream.id, putMessagesDetails: { messages: [{ value: b64('x') }] } }),
      404,
      'NotAuthorizedOrNotFound',
    );
    await expectOciError(
      adminClientFor(limited.ociConfigFile).listStreams({ compartmentId: tp.info.compartmentId }),
      404,
      'NotAuthorizedOrNotFound',
    );
  });

  it('lets an instance read its own stream only, and publish nowhere', async () => {
    const instanceId = tp.info.localInstanceId;
    const ownStreamId = /streamId: (\S+)/.exec(readFileSync(tp.info.localAgentConfigFile, 'utf8'))?.[1] ?? '';
    const client = new StreamClient(instanceClientParams(tp, 'streaming-config'));
    client.endpoint = tp.info.endpoint;
    const details = { groupName: instanceId, instanceName: 'agent', type: models.CreateGroupCursorDetails.Type.TrimHorizon, commitOnGet: false };
    const own = await client.createGroupCursor({ streamId: ownStreamId, createGroupCursorDetails: details });
    expect((await client.getMessages({ streamId: ownStreamId, cursor: own.cursor.value })).opcNextCursor).toBeTruthy();

    await expectOciError(client.createGroupCursor({ streamId: stream.id, createGroupCursorDetails: details }), 404, 'NotAuthorizedOrNotFound');
    await expectOciError(
      client.putMessages({ streamId: ownStreamId, putMessagesDetails: { messages: [{ value: b64('forged command') }] } }),
      404,
      'NotAuthorizedOrNotFound',
    );
    const instanceAdmin = new StreamAdminClient(instanceClientParams(tp, 'streaming-admin-config'));
    instanceAdmin.endpoint = tp.info.endpoint;
    await expectOciError(instanceAdmin.getStream({ streamId: ownStreamId }), 404, 'NotAuthorizedOrNotFound');
  });
});
