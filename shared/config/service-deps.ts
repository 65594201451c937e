/**
 * The composition root of a function process: builds `ServiceDeps` for the configured backend once and reuses it
 * for every call the (hot) process serves.
 */
import type { ServiceDeps } from '../app/deps';
import { StoredIdentityDirectory } from '../app/identity-directory';
import { randomIds } from '../app/ids';
import { jsonLogger } from '../app/log';
import { openDatabase } from '../adapters/embedded/database';
import { EmbeddedObjectStorage } from '../adapters/embedded/object-storage';
import { EmbeddedStreams } from '../adapters/embedded/stream';
import { makeAuthProvider } from '../adapters/oci/auth';
import { OciObjectStore } from '../adapters/oci/object-store';
import { OciStream } from '../adapters/oci/stream';
import { systemClock, type Clock } from '../ports/clock';
import type { ObjectStore } from '../ports/object-store';
import type { StreamPublisher } from '../ports/stream';
import { serviceConfigFromEnv, type ServiceConfig } from './service-config';

export interface Backends {
  state: ObjectStore;
  iam: ObjectStore;
  streams: StreamPublisher;
}

export async function openBackends(config: ServiceConfig, clock: Clock): Promise<Backends> {
  if (config.backend === 'embedded') {
    const db = openDatabase(config.embedded.dbFile);
    const storage = new EmbeddedObjectStorage(db, { clock, ...(config.embedded.blobDir ? { blobDir: config.embedded.blobDir } : {}) });
    return {
      state: storage.bucket(config.namespaceName, config.stateBucket),
      iam: storage.bucket(config.namespaceName, config.iamBucket),
      streams: new EmbeddedStreams(db, { clock }),
    };
  }
  const authProvider = await makeAuthProvider(
    config.oci.auth === 'config-file'
      ? { type: 'config-file', ...(config.oci.configFile ? { file: config.oci.configFile } : {}), ...(config.oci.profile ? { profile: config.oci.profile } : {}) }
      : { type: config.oci.auth },
  );
  const bucket = (bucketName: string) =>
    OciObjectStore.create({
      authProvider,
      namespaceName: config.namespaceName,
      bucketName,
      ...(config.oci.objectStorageEndpoint ? { endpoint: config.oci.objectStorageEndpoint } : {}),
    });
  if (!config.oci.streamingEndpoint) throw new Error('RUNCOMMAND_STREAMING_ENDPOINT is required with the oci backend');
  return {
    state: bucket(config.stateBucket),
    iam: bucket(config.iamBucket),
    streams: new OciStream({ endpoint: config.oci.streamingEndpoint, authProvider }),
  };
}

export function buildServiceDeps(config: ServiceConfig, backends: Backends, clock: Clock, component: string): ServiceDeps {
  return {
    state: backends.state,
    identity: new StoredIdentityDirectory(backends.iam, { clock }),
    streams: backends.streams,
    executionEventsStreamId: config.executionEventsStreamId,
    clock,
    ids: randomIds(clock),
    log: jsonLogger(component),
  };
}

let cached: Promise<ServiceDeps> | undefined;

/** This process's dependencies, built on first use from the environment. */
export function processServiceDeps(component: string): Promise<ServiceDeps> {
  cached ??= (async () => {
    const config = serviceConfigFromEnv(process.env);
    return buildServiceDeps(config, await openBackends(config, systemClock), systemClock, component);
  })();
  return cached;
}
