/**
 * The OCI adapters (the production SDK code) against the platform's own Object Storage and Streaming endpoints,
 * signed with the admin's OCI config file: one platform for the file, a fresh bucket or pair of streams per case. The
 * agent's own stream client (no SDK) runs the Stream contract there too.
 */
import * as common from 'oci-common';
import { ObjectStorageClient } from 'oci-objectstorage';
import { OciObjectStore } from '../../shared/adapters/oci/object-store';
import { OciStream } from '../../shared/adapters/oci/stream';
import { OciStreamAdmin } from '../../shared/adapters/oci/stream-admin';
import { signRequest } from '../../shared/api/signature';
import type { Stream } from '../../shared/ports/stream';
import { AgentStreamClient } from '../../agent/stream-client';
import { startTestPlatform, type TestPlatform } from '../support/platform';
import { objectStoreContract } from './object-store.contract';
import { streamContract } from './stream.contract';

const PLATFORM_CLOCK_FIXED =
  'the platform checks signatures against the clock that ages cursors (5 minutes of skew), so it cannot be moved past a cursor’s 5 minutes';

let tp: TestPlatform;
let authProvider: common.ConfigFileAuthenticationDetailsProvider;
let buckets: ObjectStorageClient;
let streamAdmin: OciStreamAdmin;
let made = 0;

beforeAll(async () => {
  tp = await startTestPlatform();
  authProvider = new common.ConfigFileAuthenticationDetailsProvider(tp.info.ociConfigFile, tp.info.ociProfile);
  buckets = new ObjectStorageClient({ authenticationDetailsProvider: authProvider });
  buckets.endpoint = tp.info.endpoint;
  streamAdmin = new OciStreamAdmin({ authProvider, endpoint: tp.info.endpoint });
}, 60_000);

afterAll(async () => {
  await tp?.stop();
});

function uniqueName(kind: string): string {
  made += 1;
  return `contract-${kind}-${made}`;
}

objectStoreContract('OCI SDK against the platform endpoint', async () => {
  const bucketName = uniqueName('bucket');
  await buckets.createBucket({
    namespaceName: tp.info.namespace,
    createBucketDetails: { name: bucketName, compartmentId: tp.info.compartmentId },
  });
  return {
    store: OciObjectStore.create({ endpoint: tp.info.endpoint, authProvider, namespaceName: tp.info.namespace, bucketName }),
  };
});

streamContract(
  'OCI SDK against the platform endpoint',
  async () => {
    const create = () => streamAdmin.createStream({ name: uniqueName('stream'), partitions: 1, compartmentId: tp.info.compartmentId });
    const [first, second] = [await create(), await create()];
    return {
      stream: new OciStream({ endpoint: first.messagesEndpoint, authProvider }),
      streamId: first.id,
      otherStreamId: second.id,
      close: async () => {
        await streamAdmin.deleteStream(first.id);
        await streamAdmin.deleteStream(second.id);
      },
    };
  },
  { skipCursorExpiry: PLATFORM_CLOCK_FIXED },
);

streamContract(
  'the agent’s stream client (consuming) with the OCI SDK (publishing), against the platform endpoint',
  async () => {
    const create = () => streamAdmin.createStream({ name: uniqueName('stream'), partitions: 1, compartmentId: tp.info.compartmentId });
    const [first, second] = [await create(), await create()];
    const publisher = new OciStream({ endpoint: first.messagesEndpoint, authProvider });
    const keyId = await authProvider.getKeyId();
    const privateKeyPem = authProvider.getPrivateKey();
    const consumer = new AgentStreamClient({ endpoint: first.messagesEndpoint, sign: (req) => signRequest(req, { keyId, privateKeyPem }) });
    const stream: Stream = {
      publish: (id, messages) => publisher.publish(id, messages),
      createGroupCursor: (id, options) => consumer.createGroupCursor(id, options),
      createCursor: (id, options) => consumer.createCursor(id, options),
      getMessages: (id, cursor, options) => consumer.getMessages(id, cursor, options),
      commit: (id, cursor) => consumer.commit(id, cursor),
      heartbeat: (id, cursor) => consumer.heartbeat(id, cursor),
    };
    return {
      stream,
      streamId: first.id,
      otherStreamId: second.id,
      close: async () => {
        consumer.close();
        await streamAdmin.deleteStream(first.id);
        await streamAdmin.deleteStream(second.id);
      },
    };
  },
  { skipCursorExpiry: PLATFORM_CLOCK_FIXED },
);
