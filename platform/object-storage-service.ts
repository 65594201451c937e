/**
 * What the platform's Object Storage endpoint needs from the first start on: the service's own buckets
 * (`runcommand-state`, `runcommand-iam`) as real buckets in the platform's compartment, and the service principal, the
 * only principal that may use them. Functions run with the `oci` backend authenticate as it (its OCI config file is
 * under `<dataDir>/oci/`); no user, however broad its rights, can read the keys and state those buckets hold.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { readDoc } from '../shared/app/documents';
import type { StoredIdentityDirectory } from '../shared/app/identity-directory';
import { readOciConfigProfile } from '../shared/api/oci-config';
import {
  DEFAULT_IAM_BUCKET,
  DEFAULT_STATE_BUCKET,
  type Backend,
  type ServiceConfig,
} from '../shared/config/service-config';
import type { Clock } from '../shared/ports/clock';
import type { Ids } from '../shared/ports/ids';
import type { ObjectStore } from '../shared/ports/object-store';
import { BucketRegistry, PLATFORM_META_BUCKET, PLATFORM_META_NAMESPACE, ensureBucket, type BucketRecord } from './buckets';
import type { EmbeddedObjectStorage } from '../shared/adapters/embedded/object-storage';
import { addUser, generateApiKey, writeUserCredentials } from './identity-admin';

const SERVICE_PRINCIPAL_KEY = 'platform/service-principal.json';
const SERVICE_USER_NAME = 'runcommand-service';
export const SERVICE_PROFILE = 'DEFAULT';

export interface ServicePrincipal {
  tenancyId: string;
  userId: string;
  ociConfigFile: string;
  ociProfile: string;
}

export function servicePrincipalFiles(dataDir: string): { configFile: string; keyFile: string } {
  const ociDir = path.join(dataDir, 'oci');
  return { configFile: path.join(ociDir, 'service_config'), keyFile: path.join(ociDir, 'service_key.pem') };
}

/**
 * Reads the service principal, creating it (a user with every compartment, its own key and config file) on first
 * start, and a new key for it when its key file was lost.
 */
export async function ensureServicePrincipal(input: {
  meta: ObjectStore;
  directory: StoredIdentityDirectory;
  ids: Ids;
  dataDir: string;
  tenancyId: string;
}): Promise<ServicePrincipal> {
  const files = servicePrincipalFiles(input.dataDir);
  let record = (await readDoc<{ userId: string }>(input.meta, SERVICE_PRINCIPAL_KEY))?.doc;
  if (!record) {
    const { user, key } = await addUser(input.directory, input.ids, { tenancyId: input.tenancyId, name: SERVICE_USER_NAME, compartments: '*' });
    writeUserCredentials(files, SERVICE_PROFILE, { tenancyId: input.tenancyId, userId: user.userId }, key);
    // ifNoneMatch: two platforms starting on one new data dir must agree on a single service principal.
    await input.meta.put(SERVICE_PRINCIPAL_KEY, JSON.stringify({ userId: user.userId }), { ifNoneMatch: '*' });
    record = { userId: user.userId };
  } else if (!keyFilesMatch(files, input.tenancyId, record.userId)) {
    const key = generateApiKey();
    await input.directory.putKey({
      tenancyId: input.tenancyId,
      principalId: record.userId,
      principalType: 'user',
      fingerprint: key.fingerprint,
      publicKeyPem: key.publicKeyPem,
    });
    writeUserCredentials(files, SERVICE_PROFILE, { tenancyId: input.tenancyId, userId: record.userId }, key);
  }
  return { tenancyId: input.tenancyId, userId: record.userId, ociConfigFile: files.configFile, ociProfile: SERVICE_PROFILE };
}

function keyFilesMatch(files: { configFile: string; keyFile: string }, tenancyId: string, userId: string): boolean {
  if (!existsSync(files.configFile) || !existsSync(files.keyFile)) return false;
  try {
    const profile = readOciConfigProfile(files.configFile, SERVICE_PROFILE);
    return profile.user === userId && profile.tenancy === tenancyId && readFileSync(files.keyFile, 'utf8').length > 0;
  } catch {
    return false;
  }
}

/** Makes sure the service's buckets exist as buckets of the platform's compartment, visible to the service only. */
export async function ensureServiceBuckets(input: {
  registry: BucketRegistry;
  ids: Ids;
  clock: Clock;
  namespace: string;
  compartmentId: string;
  servicePrincipal: ServicePrincipal;
}): Promise<void> {
  for (const name of [DEFAULT_STATE_BUCKET, DEFAULT_IAM_BUCKET]) {
    const record: BucketRecord = {
      namespace: input.namespace,
      name,
      id: input.ids.ocid('bucket'),
      compartmentId: input.compartmentId,
      createdBy: input.servicePrincipal.userId,
      timeCreated: new Date(input.clock.nowMs()).toISOString(),
      metadata: {},
      publicAccessType: 'NoPublicAccess',
      storageTier: 'Standard',
      objectEventsEnabled: false,
      freeformTags: {},
      definedTags: {},
      serviceOnly: true,
    };
    await ensureBucket(input.registry, record);
  }
}

/** The bucket registry, service principal and service buckets of a platform's store, made ready at every start. */
export async function prepareServiceStorage(input: {
  storage: EmbeddedObjectStorage;
  directory: StoredIdentityDirectory;
  ids: Ids;
  clock: Clock;
  dataDir: string;
  tenancyId: string;
  namespace: string;
  compartmentId: string;
}): Promise<{ registry: BucketRegistry; servicePrincipal: ServicePrincipal }> {
  const meta = input.storage.bucket(PLATFORM_META_NAMESPACE, PLATFORM_META_BUCKET);
  const registry = new BucketRegistry(meta);
  const servicePrincipal = await ensureServicePrincipal({ ...input, meta });
  await ensureServiceBuckets({ ...input, registry, servicePrincipal });
  return { registry, servicePrincipal };
}

/** `RUNCOMMAND_FUNCTIONS_BACKEND`: which backend the platform's functions run on (default embedded). */
export function functionsBackendFromEnv(env: NodeJS.ProcessEnv): Backend {
  const value = env.RUNCOMMAND_FUNCTIONS_BACKEND ?? 'embedded';
  if (value !== 'embedded' && value !== 'oci') throw new Error(`RUNCOMMAND_FUNCTIONS_BACKEND must be embedded or oci, not ${value}`);
  return value;
}

/** The functions' configuration on the embedded store: the SQLite file and its blob directory, in process. */
export function embeddedFunctionsConfig(input: {
  namespace: string;
  executionEventsStreamId: string;
  embedded: { dbFile: string; blobDir: string };
}): ServiceConfig {
  return {
    backend: 'embedded',
    namespaceName: input.namespace,
    stateBucket: DEFAULT_STATE_BUCKET,
    iamBucket: DEFAULT_IAM_BUCKET,
    executionEventsStreamId: input.executionEventsStreamId,
    embedded: input.embedded,
    oci: { auth: 'config-file' },
  };
}

/**
 * The configuration the platform's functions run with. `embedded`: the store's SQLite file, in process. `oci`: the
 * OCI SDK adapters against the platform's own Object Storage and Streaming endpoints, signed as the service
 * principal, exactly as the functions would run against OCI.
 */
export function functionsServiceConfig(input: {
  backend: Backend;
  namespace: string;
  executionEventsStreamId: string;
  embedded: { dbFile: string; blobDir: string };
  endpoint: string;
  servicePrincipal: ServicePrincipal;
}): ServiceConfig {
  const embedded = embeddedFunctionsConfig(input);
  if (input.backend === 'embedded') return embedded;
  return {
    ...embedded,
    backend: 'oci',
    // Nothing of the SQLite file: in this mode the functions reach the state only through the endpoints.
    embedded: { dbFile: '' },
    oci: {
      objectStorageEndpoint: input.endpoint,
      streamingEndpoint: input.endpoint,
      auth: 'config-file',
      configFile: input.servicePrincipal.ociConfigFile,
      profile: input.servicePrincipal.ociProfile,
    },
  };
}
