/**
 * Which backend each component uses, read from the environment (Fn and OCI Functions pass function and app
 * configuration as environment variables). One process builds its dependencies once and reuses them across calls.
 *
 *   RUNCOMMAND_BACKEND                    embedded (default) | oci
 *   RUNCOMMAND_DB_FILE, RUNCOMMAND_BLOB_DIR   embedded: the SQLite file shared by the platform and its functions
 *   RUNCOMMAND_NAMESPACE                  Object Storage namespace of the service's buckets
 *   RUNCOMMAND_STATE_BUCKET               commands, executions and their indexes (default runcommand-state)
 *   RUNCOMMAND_IAM_BUCKET                 users, compartments, instances, keys (default runcommand-iam)
 *   RUNCOMMAND_EXECUTION_EVENTS_STREAM_ID the stream of execution changes
 *   RUNCOMMAND_TRIGGER_BUCKET             object-events: scripts dropped here become commands (default runcommand-scripts)
 *   RUNCOMMAND_TRIGGER_PREFIX             object-events: ... under <prefix>/<instanceId>/ (default scripts)
 *   RUNCOMMAND_SERVICE_PRINCIPAL          object-events: `<tenancyId>/<userId>` that creates commands from dropped scripts
 *   oci: RUNCOMMAND_OBJECTSTORAGE_ENDPOINT, RUNCOMMAND_STREAMING_ENDPOINT, RUNCOMMAND_OCI_AUTH
 *        (config-file | resource-principal | instance-principal), RUNCOMMAND_OCI_CONFIG_FILE, RUNCOMMAND_OCI_PROFILE
 */
import { ServiceError } from '../domain/errors';

export type Backend = 'embedded' | 'oci';

export interface ServiceConfig {
  backend: Backend;
  namespaceName: string;
  stateBucket: string;
  iamBucket: string;
  executionEventsStreamId: string;
  /** Where dropped scripts become commands (object-events); defaults apply when absent. */
  triggerBucket?: string;
  /** Without a trailing slash. */
  triggerPrefix?: string;
  /** `<tenancyId>/<userId>` of the service principal (object-events creates commands as it). */
  servicePrincipalId?: string;
  embedded: { dbFile: string; blobDir?: string };
  oci: {
    objectStorageEndpoint?: string;
    streamingEndpoint?: string;
    auth: 'config-file' | 'resource-principal' | 'instance-principal';
    configFile?: string;
    profile?: string;
  };
}

export const DEFAULT_STATE_BUCKET = 'runcommand-state';
export const DEFAULT_IAM_BUCKET = 'runcommand-iam';
export const DEFAULT_TRIGGER_BUCKET = 'runcommand-scripts';
export const DEFAULT_TRIGGER_PREFIX = 'scripts';
const TRIGGER_PREFIX = /^[^/]+(\/[^/]+)*$/;

function required(env: NodeJS.ProcessEnv, name: string): string {
  const v = env[name];
  if (!v) throw new ServiceError('InternalServerError', `The function is not configured: ${name} is not set.`);
  return v;
}

/** A trigger prefix is one or more non-empty path segments; a trailing slash is dropped. */
export function triggerPrefixOf(raw: string): string {
  const prefix = raw.replace(/\/+$/, '');
  if (!TRIGGER_PREFIX.test(prefix)) {
    throw new ServiceError('InternalServerError', `The trigger prefix must be non-empty path segments without empty parts, not ${JSON.stringify(raw)}.`);
  }
  return prefix;
}

export function serviceConfigFromEnv(env: NodeJS.ProcessEnv): ServiceConfig {
  const backend = (env.RUNCOMMAND_BACKEND ?? 'embedded') as Backend;
  if (backend !== 'embedded' && backend !== 'oci') {
    throw new ServiceError('InternalServerError', `RUNCOMMAND_BACKEND must be embedded or oci, not ${backend}.`);
  }
  const auth = (env.RUNCOMMAND_OCI_AUTH ?? 'config-file') as ServiceConfig['oci']['auth'];
  return {
    backend,
    namespaceName: required(env, 'RUNCOMMAND_NAMESPACE'),
    stateBucket: env.RUNCOMMAND_STATE_BUCKET ?? DEFAULT_STATE_BUCKET,
    iamBucket: env.RUNCOMMAND_IAM_BUCKET ?? DEFAULT_IAM_BUCKET,
    executionEventsStreamId: required(env, 'RUNCOMMAND_EXECUTION_EVENTS_STREAM_ID'),
    triggerBucket: env.RUNCOMMAND_TRIGGER_BUCKET || DEFAULT_TRIGGER_BUCKET,
    triggerPrefix: triggerPrefixOf(env.RUNCOMMAND_TRIGGER_PREFIX || DEFAULT_TRIGGER_PREFIX),
    ...(env.RUNCOMMAND_SERVICE_PRINCIPAL ? { servicePrincipalId: env.RUNCOMMAND_SERVICE_PRINCIPAL } : {}),
    embedded: {
      dbFile: backend === 'embedded' ? required(env, 'RUNCOMMAND_DB_FILE') : '',
      ...(env.RUNCOMMAND_BLOB_DIR ? { blobDir: env.RUNCOMMAND_BLOB_DIR } : {}),
    },
    oci: {
      ...(env.RUNCOMMAND_OBJECTSTORAGE_ENDPOINT ? { objectStorageEndpoint: env.RUNCOMMAND_OBJECTSTORAGE_ENDPOINT } : {}),
      ...(env.RUNCOMMAND_STREAMING_ENDPOINT ? { streamingEndpoint: env.RUNCOMMAND_STREAMING_ENDPOINT } : {}),
      auth,
      ...(env.RUNCOMMAND_OCI_CONFIG_FILE ? { configFile: env.RUNCOMMAND_OCI_CONFIG_FILE } : {}),
      ...(env.RUNCOMMAND_OCI_PROFILE ? { profile: env.RUNCOMMAND_OCI_PROFILE } : {}),
    },
  };
}

/** The environment a function process needs for this configuration (the inverse of `serviceConfigFromEnv`). */
export function serviceConfigToEnv(c: ServiceConfig): Record<string, string> {
  return {
    RUNCOMMAND_BACKEND: c.backend,
    RUNCOMMAND_NAMESPACE: c.namespaceName,
    RUNCOMMAND_STATE_BUCKET: c.stateBucket,
    RUNCOMMAND_IAM_BUCKET: c.iamBucket,
    RUNCOMMAND_EXECUTION_EVENTS_STREAM_ID: c.executionEventsStreamId,
    ...(c.triggerBucket ? { RUNCOMMAND_TRIGGER_BUCKET: c.triggerBucket } : {}),
    ...(c.triggerPrefix ? { RUNCOMMAND_TRIGGER_PREFIX: c.triggerPrefix } : {}),
    ...(c.servicePrincipalId ? { RUNCOMMAND_SERVICE_PRINCIPAL: c.servicePrincipalId } : {}),
    ...(c.backend === 'embedded' ? { RUNCOMMAND_DB_FILE: c.embedded.dbFile } : {}),
    ...(c.embedded.blobDir ? { RUNCOMMAND_BLOB_DIR: c.embedded.blobDir } : {}),
    ...(c.backend === 'oci'
      ? {
          RUNCOMMAND_OCI_AUTH: c.oci.auth,
          ...(c.oci.objectStorageEndpoint ? { RUNCOMMAND_OBJECTSTORAGE_ENDPOINT: c.oci.objectStorageEndpoint } : {}),
          ...(c.oci.streamingEndpoint ? { RUNCOMMAND_STREAMING_ENDPOINT: c.oci.streamingEndpoint } : {}),
          ...(c.oci.configFile ? { RUNCOMMAND_OCI_CONFIG_FILE: c.oci.configFile } : {}),
          ...(c.oci.profile ? { RUNCOMMAND_OCI_PROFILE: c.oci.profile } : {}),
        }
      : {}),
  };
}
