/**
 * The composition root of a function process: builds `ServiceDeps` for the configured backend once and reuses it
 * for every call the (hot) process serves.
 */
import { ObjectStorageClient } from 'oci-objectstorage';
import type { ServiceDeps } from '../app/deps';
import { StoredIdentityDirectory } from '../app/identity-directory';
import { randomIds } from '../app/ids';
import { jsonLogger } from '../app/log';
import type { ObjectEventsDeps } from '../app/object-events';
import { ServiceError } from '../domain/errors';
import { openDatabase } from '../adapters/embedded/database';
import { EmbeddedObjectStorage } from '../adapters/embedded/object-storage';
import { EmbeddedStreams } from '../adapters/embedded/stream';
import { makeAuthProvider } from '../adapters/oci/auth';
import { OciObjectStore } from '../adapters/oci/object-store';
import { OciStream } from '../adapters/oci/stream';
import { systemClock, type Clock } from '../ports/clock';
import type { Principal } from '../ports/identity';
import type { ObjectReader } from '../ports/object-reader';
import type { ObjectStore } from '../ports/object-store';
import type { StreamPublisher } from '../ports/stream';
import { DEFAULT_TRIGGER_BUCKET, DEFAULT_TRIGGER_PREFIX, serviceConfigFromEnv, type ServiceConfig } from './service-config';

export interface Backends {
  state: ObjectStore;
  iam: ObjectStore;
  streams: StreamPublisher;
  /** Heads objects in any bucket of the namespace (the object-events function). */
  objects: ObjectReader;
}

export async function openBackends(config: ServiceConfig, clock: Clock): Promise<Backends> {
  if (config.backend === 'embedded') {
    const db = openDatabase(config.embedded.dbFile);
    const storage = new EmbeddedObjectStorage(db, { clock, ...(config.embedded.blobDir ? { blobDir: config.embedded.blobDir } : {}) });
    return {
      state: storage.bucket(config.namespaceName, config.stateBucket),
      iam: storage.bucket(config.namespaceName, config.iamBucket),
      streams: new EmbeddedStreams(db, { clock }),
      objects: { headObject: (namespaceName, bucketName, objectName) => storage.head(namespaceName, bucketName, objectName) },
    };
  }
  const authProvider = await makeAuthProvider(
    config.oci.auth === 'config-file'
      ? { type: 'config-file', ...(config.oci.configFile ? { file: config.oci.configFile } : {}), ...(config.oci.profile ? { profile: config.oci.profile } : {}) }
      : { type: config.oci.auth },
  );
  if (!config.oci.streamingEndpoint) throw new Error('RUNCOMMAND_STREAMING_ENDPOINT is required with the oci backend');
  // One client for every bucket: the adapter only binds the names, so a store per bucket (or per head) costs nothing.
  const client = new ObjectStorageClient({ authenticationDetailsProvider: authProvider });
  if (config.oci.objectStorageEndpoint) client.endpoint = config.oci.objectStorageEndpoint.replace(/\/+$/, '');
  const bucket = (bucketName: string) => new OciObjectStore({ client, namespaceName: config.namespaceName, bucketName });
  return {
    state: bucket(config.stateBucket),
    iam: bucket(config.iamBucket),
    streams: new OciStream({ endpoint: config.oci.streamingEndpoint, authProvider }),
    objects: {
      headObject: (namespaceName, bucketName, objectName) => new OciObjectStore({ client, namespaceName, bucketName }).head(objectName),
    },
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

/**
 * Builds something from this process's configuration on first use and keeps it: a hot function process serves many
 * calls with the same backends and caches (the identity directory's among them).
 */
function onceFromEnv<T>(build: (config: ServiceConfig, backends: Backends, clock: Clock) => T): () => Promise<T> {
  let built: Promise<T> | undefined;
  return () => {
    built ??= (async () => {
      const config = serviceConfigFromEnv(process.env);
      return build(config, await openBackends(config, systemClock), systemClock);
    })();
    return built;
  };
}

let serviceDeps: (() => Promise<ServiceDeps>) | undefined;

/** This process's dependencies, built on first use from the environment. */
export function processServiceDeps(component: string): Promise<ServiceDeps> {
  serviceDeps ??= onceFromEnv((config, backends, clock) => buildServiceDeps(config, backends, clock, component));
  return serviceDeps();
}

/** `<tenancyId>/<userId>` → the user principal it names. */
export function parseServicePrincipal(id: string | undefined): Principal {
  const [tenancyId, userId, ...rest] = (id ?? '').split('/');
  if (!tenancyId || !userId || rest.length > 0) {
    throw new ServiceError('InternalServerError', 'The function is not configured: RUNCOMMAND_SERVICE_PRINCIPAL must be <tenancyId>/<userId>.');
  }
  return { type: 'user', tenancyId, userId };
}

export function buildObjectEventsDeps(config: ServiceConfig, backends: Backends, clock: Clock): ObjectEventsDeps {
  return {
    ...buildServiceDeps(config, backends, clock, 'object-events'),
    objects: backends.objects,
    trigger: { bucketName: config.triggerBucket ?? DEFAULT_TRIGGER_BUCKET, prefix: config.triggerPrefix ?? DEFAULT_TRIGGER_PREFIX },
    servicePrincipal: parseServicePrincipal(config.servicePrincipalId),
  };
}

/** The object-events function's dependencies, built on first use from the environment. */
export const processObjectEventsDeps = onceFromEnv(buildObjectEventsDeps);
