/**
 * Administration of a platform's data dir from outside the running platform (the CLI, tests): adding compartments,
 * users limited to some compartments, and instances. It opens the same store the platform uses.
 */
import path from 'node:path';
import { serviceConfigToEnv } from '../shared/config/service-config';
import type { InstanceRecord } from '../shared/ports/identity';
import { writeAgentConfig } from './agent-files';
import { addInstance, addUser, writeUserCredentials, type ApiKeyType } from './identity-admin';
import { embeddedFunctionsConfig } from './object-storage-service';
import { bootstrap, dataPaths, instanceDir, openPlatformStore, writeInstanceKey, type BootstrapRecord, type PlatformStore } from './platform';

async function withStore<T>(dataDir: string, work: (store: PlatformStore, boot: Awaited<ReturnType<typeof bootstrap>>) => Promise<T>): Promise<T> {
  const store = openPlatformStore(dataDir);
  try {
    return await work(store, await bootstrap(store));
  } finally {
    store.streams.close();
    store.db.close();
  }
}

export function readBootstrap(dataDir: string): Promise<BootstrapRecord> {
  return withStore(dataDir, async (_s, boot) => boot.record);
}

export async function addCompartment(dataDir: string, name: string): Promise<string> {
  return withStore(dataDir, async (store, { record, directory }) => {
    const compartmentId = store.ids.ocid('compartment');
    await directory.putCompartment({ tenancyId: record.tenancyId, compartmentId, name });
    return compartmentId;
  });
}

export interface AddedUser {
  userId: string;
  ociConfigFile: string;
  ociProfile: string;
}

/** A user that may use only the given compartments, with its own key and OCI config file. */
export async function addRestrictedUser(dataDir: string, name: string, compartments: string[]): Promise<AddedUser> {
  return withStore(dataDir, async (store, { record, directory }) => {
    const { user, key } = await addUser(directory, store.ids, { tenancyId: record.tenancyId, name, compartments });
    const dir = path.join(store.paths.dataDir, 'users', user.userId);
    const ociConfigFile = path.join(dir, 'config');
    writeUserCredentials({ configFile: ociConfigFile, keyFile: path.join(dir, 'key.pem') }, 'DEFAULT', { tenancyId: record.tenancyId, userId: user.userId }, key);
    return { userId: user.userId, ociConfigFile, ociProfile: 'DEFAULT' };
  });
}

export interface AddedInstance {
  instance: InstanceRecord;
  agentConfigFile: string;
}

/** Registers an instance (key, stream) and writes its agent config for the given platform endpoint. */
export async function registerInstance(
  dataDir: string,
  input: { displayName: string; compartmentId?: string; endpoint: string; maxWorkers?: number; keyType?: ApiKeyType },
): Promise<AddedInstance> {
  return withStore(dataDir, async (store, { record, directory }) => {
    const { instance, key } = await addInstance(directory, store.streams, store.ids, {
      tenancyId: record.tenancyId,
      compartmentId: input.compartmentId ?? record.compartmentId,
      displayName: input.displayName,
      nowIso: new Date(store.clock.nowMs()).toISOString(),
      ...(input.keyType !== undefined ? { keyType: input.keyType } : {}),
    });
    writeInstanceKey(store.paths.instancesDir, instance.instanceId, key);
    const agentConfigFile = writeAgentConfig({
      instancesDir: store.paths.instancesDir,
      tenancyId: record.tenancyId,
      instanceId: instance.instanceId,
      endpoint: input.endpoint,
      streamId: instance.streamId,
      ...(input.maxWorkers !== undefined ? { maxWorkers: input.maxWorkers } : {}),
    });
    return { instance, agentConfigFile };
  });
}

export async function listInstances(dataDir: string): Promise<Array<InstanceRecord & { agentConfigFile: string }>> {
  return withStore(dataDir, async (store, { directory }) =>
    (await directory.listInstances()).map((i) => ({
      ...i,
      agentConfigFile: path.join(instanceDir(store.paths.instancesDir, i.instanceId), 'agent.yml'),
    })),
  );
}

/**
 * The environment a function process needs to serve this data dir's embedded store (bootstrapping it on first use),
 * for running function bundles outside the platform: tests and the benchmark.
 */
export async function embeddedFunctionEnv(dataDir: string): Promise<{ record: BootstrapRecord; env: Record<string, string> }> {
  const record = await readBootstrap(dataDir);
  const paths = dataPaths(dataDir);
  const env = serviceConfigToEnv(
    embeddedFunctionsConfig({
      namespace: record.namespace,
      executionEventsStreamId: record.executionEventsStreamId,
      embedded: { dbFile: paths.db, blobDir: paths.blobs },
    }),
  );
  return { record, env };
}
