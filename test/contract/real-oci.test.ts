/**
 * The port contracts against real OCI Object Storage and Streaming, with the project's OCI adapters. Skipped unless
 * credentials are given (they never are in CI):
 *
 *   RUNCOMMAND_OCI_IT_CONFIG_FILE   an OCI config file (its profile's region picks the endpoints)
 *   RUNCOMMAND_OCI_IT_PROFILE       the profile (default DEFAULT)
 *   RUNCOMMAND_OCI_IT_COMPARTMENT   a compartment where the suite may create and delete buckets and streams
 *   RUNCOMMAND_OCI_IT_STREAMS=1     also run the stream contract (creating two streams per case takes minutes)
 *
 * Every bucket and stream it creates is named `runcommand-it-*` and deleted afterwards.
 */
import * as common from 'oci-common';
import { ObjectStorageClient } from 'oci-objectstorage';
import { OciObjectStore } from '../../shared/adapters/oci/object-store';
import { OciStream } from '../../shared/adapters/oci/stream';
import { OciStreamAdmin } from '../../shared/adapters/oci/stream-admin';
import { objectStoreContract } from './object-store.contract';
import { streamContract } from './stream.contract';

const configFile = process.env.RUNCOMMAND_OCI_IT_CONFIG_FILE;
const compartmentId = process.env.RUNCOMMAND_OCI_IT_COMPARTMENT;
const enabled = Boolean(configFile && compartmentId);
const runId = `${Date.now().toString(36)}`;
let made = 0;

if (!enabled) {
  describe('contracts against real OCI', () => {
    it.skip('needs RUNCOMMAND_OCI_IT_CONFIG_FILE and RUNCOMMAND_OCI_IT_COMPARTMENT', () => undefined);
  });
} else {
  jest.setTimeout(600_000);
  const provider = new common.ConfigFileAuthenticationDetailsProvider(configFile, process.env.RUNCOMMAND_OCI_IT_PROFILE ?? 'DEFAULT');
  const objects = new ObjectStorageClient({ authenticationDetailsProvider: provider });
  const namespace = objects.getNamespace({}).then((r) => r.value);

  objectStoreContract('OCI adapters against real OCI Object Storage', async () => {
    const namespaceName = await namespace;
    const bucketName = `runcommand-it-${runId}-${++made}`;
    await objects.createBucket({ namespaceName, createBucketDetails: { name: bucketName, compartmentId: compartmentId as string } });
    return {
      store: OciObjectStore.create({ authProvider: provider, namespaceName, bucketName }),
      close: async () => {
        for (;;) {
          const listed = await objects.listObjects({ namespaceName, bucketName, limit: 1000 });
          if (listed.listObjects.objects.length === 0) break;
          await Promise.all(listed.listObjects.objects.map((o) => objects.deleteObject({ namespaceName, bucketName, objectName: o.name })));
        }
        await objects.deleteBucket({ namespaceName, bucketName });
      },
    };
  });

  if (process.env.RUNCOMMAND_OCI_IT_STREAMS === '1') {
    const admin = new OciStreamAdmin({ authProvider: provider });
    streamContract(
      'OCI adapters against real OCI Streaming',
      async () => {
        const create = async () => {
          const s = await admin.createStream({ name: `runcommand-it-${runId}-${++made}`, partitions: 1, compartmentId: compartmentId as string });
          // A new stream is CREATING for a while; messages are accepted once it is ACTIVE.
          for (let info = s; info.lifecycleState !== 'ACTIVE'; info = await admin.getStream(s.id)) await new Promise((r) => setTimeout(r, 5000));
          return admin.getStream(s.id);
        };
        const [first, second] = [await create(), await create()];
        return {
          stream: new OciStream({ endpoint: first.messagesEndpoint, authProvider: provider }),
          streamId: first.id,
          otherStreamId: second.id,
          close: async () => {
            await admin.deleteStream(first.id);
            await admin.deleteStream(second.id);
          },
        };
      },
      {
        skipCursorExpiry: 'waiting more than five minutes per case against a real service is too slow',
        noLongPoll: 'OCI Streaming answers GetMessages at once',
      },
    );
  }
}
