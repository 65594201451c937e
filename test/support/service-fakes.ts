/**
 * ServiceDeps over in-memory fakes that honour ETags (no I/O), with a clock the test moves, for use-case tests.
 * The identity directory is the real one, over a memory bucket.
 */
import { MemoryObjectStore } from '../../shared/adapters/memory/object-store';
import { MemoryStream } from '../../shared/adapters/memory/stream';
import type { Logger, ServiceDeps } from '../../shared/app/deps';
import { StoredIdentityDirectory } from '../../shared/app/identity-directory';
import type { Principal } from '../../shared/ports/identity';
import type { ObjectStore } from '../../shared/ports/object-store';

export const T0 = Date.parse('2026-01-01T00:00:00.000Z');

export interface FakeWorld {
  deps: ServiceDeps;
  state: MemoryObjectStore;
  streams: MemoryStream;
  directory: StoredIdentityDirectory;
  logs: Array<{ level: string; message: string; fields?: Record<string, unknown> }>;
  advance(ms: number): void;
  nowMs(): number;
  admin: Principal;
  tenancyId: string;
  compartmentId: string;
  instanceId: string;
  instanceStreamId: string;
  instance: Principal;
  /** Registers another instance with its own stream. */
  addInstance(instanceId: string): Promise<Principal>;
  /** Registers a user limited to the given compartments. */
  addUser(userId: string, compartments: string[]): Promise<Principal>;
}

export async function fakeWorld(): Promise<FakeWorld> {
  let now = T0;
  const clock = { nowMs: () => now };
  const state = new MemoryObjectStore({ clock });
  const streams = new MemoryStream({ clock });
  const directory = new StoredIdentityDirectory(new MemoryObjectStore({ clock }), { clock, cacheTtlMs: 0 });
  const logs: FakeWorld['logs'] = [];
  const log: Logger = {
    info: (message, fields) => logs.push({ level: 'info', message, ...(fields ? { fields } : {}) }),
    warn: (message, fields) => logs.push({ level: 'warn', message, ...(fields ? { fields } : {}) }),
    error: (message, fields) => logs.push({ level: 'error', message, ...(fields ? { fields } : {}) }),
  };
  let n = 0;
  const tenancyId = 'ocid1.tenancy.oc1..t';
  const compartmentId = 'ocid1.compartment.oc1..c';
  streams.createStream('execution-events');
  const deps: ServiceDeps = {
    state,
    identity: directory,
    streams,
    executionEventsStreamId: 'execution-events',
    clock,
    ids: {
      ocid: (type) => `ocid1.${type}.oc1..n${++n}`,
      sequenceNumber: () => now * 1000 + (++n % 1000),
      token: () => `token${++n}`,
    },
    log,
  };
  await directory.putCompartment({ tenancyId, compartmentId, name: 'c' });
  const addUser = async (userId: string, compartments: string[] | '*'): Promise<Principal> => {
    await directory.putUser({ tenancyId, userId, name: userId, compartments });
    return { type: 'user', tenancyId, userId };
  };
  const addInstance = async (instanceId: string): Promise<Principal> => {
    const streamId = `stream-${instanceId}`;
    streams.createStream(streamId);
    await directory.putInstance({ tenancyId, instanceId, compartmentId, displayName: instanceId, streamId, timeCreated: new Date(now).toISOString() });
    return { type: 'instance', tenancyId, instanceId };
  };
  const instanceId = 'ocid1.instance.oc1..i1';
  return {
    deps,
    state,
    streams,
    directory,
    logs,
    advance: (ms) => void (now += ms),
    nowMs: () => now,
    admin: await addUser('ocid1.user.oc1..admin', '*'),
    tenancyId,
    compartmentId,
    instanceId,
    instanceStreamId: `stream-${instanceId}`,
    instance: await addInstance(instanceId),
    addInstance,
    addUser,
  };
}

/** The JSON messages published on a stream so far. */
export function publishedOn(world: FakeWorld, streamId: string): Array<Record<string, unknown>> {
  return world.streams.messages(streamId).map((m) => JSON.parse(m.value.toString('utf8')) as Record<string, unknown>);
}

/** `store` with the keys of its reads (`get`) recorded in order; everything else goes to `store` itself. */
export function recordingReads<S extends ObjectStore>(store: S): { store: S; reads: string[] } {
  const reads: string[] = [];
  const wrapped = new Proxy(store, {
    get(target, prop) {
      if (prop === 'get') {
        return (key: string) => {
          reads.push(key);
          return target.get(key);
        };
      }
      const value: unknown = Reflect.get(target, prop, target);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
  return { store: wrapped, reads };
}
