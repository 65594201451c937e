/**
 * The embedded single-machine platform: the SQLite store behind the ports, the identity bootstrap, one pool of hot
 * function processes per Fn function, and the gateway in front. `npm start` runs this plus an agent for this host.
 */
import { randomUUID } from 'node:crypto';
import { chmodSync, createWriteStream, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openDatabase, type Database } from '../shared/adapters/embedded/database';
import { EmbeddedObjectStorage } from '../shared/adapters/embedded/object-storage';
import { EmbeddedStreams } from '../shared/adapters/embedded/stream';
import type { Logger } from '../shared/app/deps';
import { readDoc } from '../shared/app/documents';
import { StoredIdentityDirectory } from '../shared/app/identity-directory';
import { randomIds } from '../shared/app/ids';
import type { FunctionName } from '../shared/api/routes';
import {
  DEFAULT_IAM_BUCKET,
  DEFAULT_TRIGGER_BUCKET,
  DEFAULT_TRIGGER_PREFIX,
  serviceConfigToEnv,
  triggerPrefixOf,
  type Backend,
} from '../shared/config/service-config';
import { EXECUTION_EVENTS_STREAM_NAME } from '../events/messages';
import { systemClock, type Clock } from '../shared/ports/clock';
import type { Ids } from '../shared/ports/ids';
import { FunctionPool, type FunctionPoolStats } from './function-pool';
import { Gateway } from './gateway';
import { streamingEndpoint } from './streaming-endpoint';
import { objectStorageEndpoint } from './object-storage-endpoint';
import { functionsBackendFromEnv, functionsServiceConfig, prepareServiceStorage } from './object-storage-service';
import { addInstance, addUser, writeUserCredentials, type KeyPair } from './identity-admin';
import { writeAgentConfig } from './agent-files';
import { ensureBucket, PLATFORM_META_BUCKET, PLATFORM_META_NAMESPACE, type BucketRegistry } from './buckets';
import { EventRouter, objectEventEmitter, type DeliveryRecord, type DeliveryResult, type EventInvoke } from './event-router';
import { DEFAULT_SCHEDULES, Scheduler, readSchedulesFile, type ScheduleConfig } from './scheduler';

export const DEFAULT_PORT = 8530;
/** The API's functions, plus those only the platform invokes (the scheduler's retention-sweep). */
export type PlatformFunctionName = FunctionName | 'retention-sweep' | 'object-events';
export const FUNCTION_NAMES: readonly PlatformFunctionName[] = [
  'create-command',
  'query-commands',
  'cancel-command',
  'agent-callback',
  'retention-sweep',
  'object-events',
];
const OCI_PROFILE = 'DEFAULT';
const BOOTSTRAP_KEY = 'platform/bootstrap.json';

/** What first start creates, kept in the identity bucket so a restart finds the same tenancy. */
export interface BootstrapRecord {
  tenancyId: string;
  compartmentId: string;
  namespace: string;
  adminUserId: string;
  localInstanceId: string;
  executionEventsStreamId: string;
}

/** The public description of a running platform, written to `<dataDir>/platform.json`. */
export interface PlatformInfo extends BootstrapRecord {
  endpoint: string;
  ociConfigFile: string;
  ociProfile: string;
  localAgentConfigFile: string;
  /** Where the function processes' output goes (their structured log lines). */
  functionsLogFile: string;
  dataDir: string;
  pid: number;
  /** Scripts uploaded to `<triggerPrefix>/<instanceId>/...` in this bucket become commands for that instance. */
  triggerBucket: string;
  triggerPrefix: string;
}

export interface PlatformOptions {
  dataDir: string;
  port?: number;
  host?: string;
  /** Where the function bundles are (`dist/functions`). */
  functionsDir: string;
  maxProcessesPerFunction?: number;
  callTimeoutMs?: number;
  log: Logger;
  clock?: Clock;
  /** What the scheduler runs; default `<dataDir>/config.json`'s `schedules`, else one sweep a minute. */
  schedules?: readonly ScheduleConfig[];
  /** What the functions run on: the store in process, or the OCI adapters against this platform's own endpoints. */
  functionsBackend?: Backend;
  /** The largest object the Object Storage endpoint stores (default 10 GiB). */
  maxObjectBytes?: number;
  /** The script-drop trigger bucket (created on first start) and prefix; default runcommand-scripts and scripts. */
  triggerBucket?: string;
  triggerPrefix?: string;
  /** Wraps every delivery of an object event to the object-events function (fault injection in tests). */
  interceptEventDelivery?: (body: Buffer, invoke: EventInvoke) => ReturnType<EventInvoke>;
}

export interface RunningPlatform {
  info: PlatformInfo;
  /** Per function: processes, busy, queued, started, crashed. */
  functionStats(): Record<string, FunctionPoolStats>;
  /** Object-upload events on their way to the object-events function. */
  objectEvents: {
    /** Delivers an event now, outside the queue (a redelivery). */
    deliver(event: unknown): Promise<DeliveryResult>;
    pendingCount(): Promise<number>;
    recent(): DeliveryRecord[];
  };
  stop(): Promise<void>;
}

export interface PlatformStore {
  db: Database;
  storage: EmbeddedObjectStorage;
  streams: EmbeddedStreams;
  ids: Ids;
  clock: Clock;
  paths: ReturnType<typeof dataPaths>;
}

export function dataPaths(dataDir: string) {
  return {
    dataDir,
    db: path.join(dataDir, 'store.db'),
    blobs: path.join(dataDir, 'blobs'),
    ociDir: path.join(dataDir, 'oci'),
    ociConfig: path.join(dataDir, 'oci', 'config'),
    adminKey: path.join(dataDir, 'oci', 'admin_key.pem'),
    instancesDir: path.join(dataDir, 'instances'),
    platformJson: path.join(dataDir, 'platform.json'),
    functionsLog: path.join(dataDir, 'logs', 'functions.log'),
  };
}

/** Opens the embedded store of a data dir (the platform, and CLI commands that administer it, share it). */
export function openPlatformStore(dataDir: string, clock: Clock = systemClock): PlatformStore {
  const paths = dataPaths(dataDir);
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const db = openDatabase(paths.db);
  const storage = new EmbeddedObjectStorage(db, { clock, blobDir: paths.blobs });
  // Appends that pass through the gateway or the platform's own invokers wake long polls at once (notifyAppended);
  // the cross-process check is only a safety net, so it runs rarely and costs an idle fleet next to nothing.
  const streams = new EmbeddedStreams(db, { clock, pollIntervalMs: 250 });
  return { db, storage, streams, ids: randomIds(clock), clock, paths };
}

function directoryFor(store: PlatformStore, namespace: string): StoredIdentityDirectory {
  return new StoredIdentityDirectory(store.storage.bucket(namespace, DEFAULT_IAM_BUCKET), { clock: store.clock });
}

export interface Bootstrapped {
  record: BootstrapRecord;
  directory: StoredIdentityDirectory;
}

/** Reads the bootstrap record, creating the tenancy, admin and local instance on first start. */
export async function bootstrap(store: PlatformStore): Promise<Bootstrapped> {
  // The namespace is itself part of the record, so the record lives in a fixed internal bucket.
  const meta = store.storage.bucket(PLATFORM_META_NAMESPACE, PLATFORM_META_BUCKET);
  const existing = await readDoc<BootstrapRecord>(meta, BOOTSTRAP_KEY);
  if (existing) return { record: existing.doc, directory: directoryFor(store, existing.doc.namespace) };

  const { ids, clock, paths } = store;
  const tenancyId = ids.ocid('tenancy');
  const namespace = `rc${ids.token().replace(/[^a-z0-9]/gi, '').toLowerCase().slice(0, 10)}`;
  const directory = directoryFor(store, namespace);
  const compartmentId = ids.ocid('compartment');
  await directory.putCompartment({ tenancyId, compartmentId, name: 'runcommand' });
  // The tenancy is the root compartment; commands may be created in it too.
  await directory.putCompartment({ tenancyId, compartmentId: tenancyId, name: 'root' });
  const { user, key } = await addUser(directory, ids, { tenancyId, name: 'admin', compartments: '*' });
  writeAdminConfig(paths, tenancyId, user.userId, key);
  const executionEvents = store.streams.createStream({ name: EXECUTION_EVENTS_STREAM_NAME, compartmentId, retentionInHours: 24 });
  const local = await addInstance(directory, store.streams, ids, {
    tenancyId,
    compartmentId,
    displayName: os.hostname(),
    nowIso: new Date(clock.nowMs()).toISOString(),
  });
  writeInstanceKey(paths.instancesDir, local.instance.instanceId, local.key);

  const record: BootstrapRecord = {
    tenancyId,
    compartmentId,
    namespace,
    adminUserId: user.userId,
    localInstanceId: local.instance.instanceId,
    executionEventsStreamId: executionEvents.id,
  };
  // ifNoneMatch: two platforms starting on one new data dir at once must agree on a single tenancy.
  await meta.put(BOOTSTRAP_KEY, JSON.stringify(record), { ifNoneMatch: '*' });
  return { record, directory };
}

function writeAdminConfig(paths: ReturnType<typeof dataPaths>, tenancyId: string, userId: string, key: KeyPair): void {
  writeUserCredentials({ configFile: paths.ociConfig, keyFile: paths.adminKey }, OCI_PROFILE, { tenancyId, userId }, key);
}

export function instanceDir(instancesDir: string, instanceId: string): string {
  return path.join(instancesDir, instanceId);
}

export function writeInstanceKey(instancesDir: string, instanceId: string, key: KeyPair): string {
  const dir = instanceDir(instancesDir, instanceId);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = path.join(dir, 'key.pem');
  writeFileSync(file, key.privateKeyPem, { mode: 0o600 });
  writeFileSync(path.join(dir, 'fingerprint'), `${key.fingerprint}\n`);
  return file;
}

export async function startPlatform(options: PlatformOptions): Promise<RunningPlatform> {
  const clock = options.clock ?? systemClock;
  const store = openPlatformStore(options.dataDir, clock);
  const { record, directory } = await bootstrap(store);
  const { paths } = store;
  const { registry, servicePrincipal } = await prepareServiceStorage({
    storage: store.storage,
    directory,
    ids: store.ids,
    clock,
    dataDir: options.dataDir,
    tenancyId: record.tenancyId,
    namespace: record.namespace,
    compartmentId: record.compartmentId,
  });
  const functionsBackend = options.functionsBackend ?? functionsBackendFromEnv(process.env);
  const trigger = {
    bucketName: options.triggerBucket ?? DEFAULT_TRIGGER_BUCKET,
    prefix: triggerPrefixOf(options.triggerPrefix ?? DEFAULT_TRIGGER_PREFIX),
  };
  await ensureTriggerBucket(registry, store, record, trigger.bucketName);

  // Function output is the functions' log (as Fn and OCI collect it), kept in a file rather than on the terminal.
  mkdirSync(path.dirname(paths.functionsLog), { recursive: true, mode: 0o700 });
  const functionsLog = createWriteStream(paths.functionsLog, { flags: 'a', mode: 0o600 });
  // Socket paths must stay short (the FDK's unix socket limit), whatever the data dir is.
  const socketDir = mkdtempSync(path.join(os.tmpdir(), 'rcfn-'));
  const pools = new Map<PlatformFunctionName, FunctionPool>();
  // The functions start once the gateway listens (with the oci backend they call its endpoints); calls wait for them.
  let functionsStarted = (): void => undefined;
  const functionsReady = new Promise<void>((resolve) => {
    functionsStarted = resolve;
  });
  const createPools = (endpoint: string) => {
    const config = {
      ...functionsServiceConfig({
        backend: functionsBackend,
        namespace: record.namespace,
        executionEventsStreamId: record.executionEventsStreamId,
        embedded: { dbFile: paths.db, blobDir: paths.blobs },
        endpoint,
        servicePrincipal,
      }),
      triggerBucket: trigger.bucketName,
      triggerPrefix: trigger.prefix,
      servicePrincipalId: `${servicePrincipal.tenancyId}/${servicePrincipal.userId}`,
    };
    for (const name of FUNCTION_NAMES) {
      pools.set(
        name,
        new FunctionPool({
          name,
          entry: path.join(options.functionsDir, name, 'func.js'),
          env: { ...serviceConfigToEnv(config), PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/' },
          maxProcesses: options.maxProcessesPerFunction ?? 2,
          callTimeoutMs: options.callTimeoutMs ?? 30_000,
          socketDir,
          log: (line) => functionsLog.write(`${line}\n`),
        }),
      );
    }
  };

  const invokeObjectEvents: EventInvoke = async (body) => {
    await functionsReady;
    const pool = pools.get('object-events');
    if (!pool) throw new Error('no function object-events');
    return pool.invoke({ body, headers: { 'content-type': 'application/json' } });
  };
  const intercept = options.interceptEventDelivery;
  const router = new EventRouter({
    store: store.storage.bucket(PLATFORM_META_NAMESPACE, PLATFORM_META_BUCKET),
    invoke: intercept ? (body) => intercept(body, invokeObjectEvents) : invokeObjectEvents,
    log: options.log,
    clock,
    afterDelivery: () => store.streams.notifyAppended(),
  });

  let endpoint = '';
  const gateway = new Gateway({
    mounts: [
      streamingEndpoint({ streams: store.streams, directory, keys: directory, clock, endpoint: () => endpoint }),
      objectStorageEndpoint({
        storage: store.storage,
        registry,
        directory,
        keys: directory,
        clock,
        ids: store.ids,
        namespace: record.namespace,
        serviceUserId: servicePrincipal.userId,
        endpoint: () => endpoint,
        ...(options.maxObjectBytes !== undefined ? { maxObjectBytes: options.maxObjectBytes } : {}),
        onObjectStored: objectEventEmitter({ router, clock, newEventId: randomUUID }),
      }),
    ],
    host: options.host ?? '127.0.0.1',
    port: options.port ?? DEFAULT_PORT,
    keys: directory,
    clock,
    newRequestId: () => store.ids.token().replace(/[^A-Za-z0-9]/g, '').toUpperCase().slice(0, 32),
    log: options.log,
    invoke: async (name, req) => {
      await functionsReady;
      const pool = pools.get(name);
      if (!pool) throw new Error(`no function ${name}`);
      return pool.invokeHttp(req);
    },
    afterWrite: () => store.streams.notifyAppended(),
  });

  let scheduler: Scheduler | undefined;
  const stopAll = async () => {
    // Stopping the pools fails a sweep in flight, so the scheduler's stop is awaited only after them.
    const schedulerStopped = scheduler?.stop();
    await gateway.close().catch(() => undefined);
    // Deliveries in flight finish (or fail and stay pending) while the pools still run.
    await router.stop();
    await Promise.all([...pools.values()].map((p) => p.stop()));
    await schedulerStopped;
    store.streams.close();
    store.db.close();
    rmSync(socketDir, { recursive: true, force: true });
    await new Promise<void>((resolve) => functionsLog.end(() => resolve()));
  };

  try {
    endpoint = await gateway.listen();
    createPools(endpoint);
    await Promise.all([...pools.values()].map((p) => p.start()));
    functionsStarted();
    router.start();
    scheduler = new Scheduler({
      schedules: options.schedules ?? readSchedulesFile(options.dataDir) ?? DEFAULT_SCHEDULES,
      invoke: (name, req) => {
        const pool = pools.get(name);
        if (!pool) throw new Error(`no function ${name}`);
        return pool.invoke(req);
      },
      log: options.log,
      clock,
      streams: store.streams,
      afterInvoke: () => store.streams.notifyAppended(),
    });
    scheduler.start();
  } catch (e) {
    await stopAll();
    throw e;
  }

  const localAgentConfigFile = writeAgentConfig({
    instancesDir: paths.instancesDir,
    tenancyId: record.tenancyId,
    instanceId: record.localInstanceId,
    endpoint,
    streamId: (await directory.getInstance(record.localInstanceId))?.streamId ?? '',
  });
  const info: PlatformInfo = {
    ...record,
    endpoint,
    ociConfigFile: paths.ociConfig,
    ociProfile: OCI_PROFILE,
    localAgentConfigFile,
    functionsLogFile: paths.functionsLog,
    dataDir: path.resolve(options.dataDir),
    pid: process.pid,
    triggerBucket: trigger.bucketName,
    triggerPrefix: trigger.prefix,
  };
  writeFileSync(paths.platformJson, `${JSON.stringify(info, null, 2)}\n`);
  chmodSync(paths.platformJson, 0o644);

  let stopped: Promise<void> | undefined;
  return {
    info,
    functionStats: () => Object.fromEntries([...pools].map(([name, pool]) => [name, pool.stats()])),
    objectEvents: {
      deliver: (event) => router.deliver(event),
      pendingCount: () => router.pendingCount(),
      recent: () => router.recent(),
    },
    stop: () => {
      stopped ??= stopAll();
      return stopped;
    },
  };
}

/**
 * The script-drop trigger bucket: created on first start in the platform's compartment, by the admin (who may write
 * it), with object events on; instances of that compartment may read it, so their agents download dropped scripts.
 */
async function ensureTriggerBucket(registry: BucketRegistry, store: PlatformStore, record: BootstrapRecord, name: string): Promise<void> {
  await ensureBucket(registry, {
    namespace: record.namespace,
    name,
    id: store.ids.ocid('bucket'),
    compartmentId: record.compartmentId,
    createdBy: record.adminUserId,
    timeCreated: new Date(store.clock.nowMs()).toISOString(),
    metadata: {},
    publicAccessType: 'NoPublicAccess',
    storageTier: 'Standard',
    objectEventsEnabled: true,
    freeformTags: {},
    definedTags: {},
    serviceOnly: false,
  });
}
