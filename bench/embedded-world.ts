/**
 * The use cases' dependencies on the embedded SQLite store in a temporary dir, with one tenancy, compartment, user and
 * instance (with its stream), for the benchmarks that call the use cases in process.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openDatabase } from '../shared/adapters/embedded/database';
import { EmbeddedObjectStorage } from '../shared/adapters/embedded/object-storage';
import { EmbeddedStreams } from '../shared/adapters/embedded/stream';
import type { Logger, ServiceDeps } from '../shared/app/deps';
import { StoredIdentityDirectory } from '../shared/app/identity-directory';
import { randomIds } from '../shared/app/ids';
import type { CommandSpec } from '../shared/domain/model';
import type { Clock } from '../shared/ports/clock';
import type { Principal } from '../shared/ports/identity';

export interface EmbeddedWorld {
  deps: ServiceDeps;
  user: Principal;
  instance: Principal;
  /** A TEXT command for the world's instance. */
  spec(text: string, displayName?: string): CommandSpec;
  close(): void;
}

const silent: Logger = { info: () => undefined, warn: () => undefined, error: () => undefined };

export async function openEmbeddedWorld(clock: Clock, dirPrefix: string): Promise<EmbeddedWorld> {
  const dir = mkdtempSync(path.join(os.tmpdir(), dirPrefix));
  const db = openDatabase(path.join(dir, 'store.db'));
  const streams = new EmbeddedStreams(db, { clock });
  const close = () => {
    streams.close();
    db.close();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const storage = new EmbeddedObjectStorage(db, { clock });
    const tenancyId = 'ocid1.tenancy.oc1..bench';
    const compartmentId = 'ocid1.compartment.oc1..bench';
    const instanceId = 'ocid1.instance.oc1..bench';
    const userId = 'ocid1.user.oc1..bench';
    const identity = new StoredIdentityDirectory(storage.bucket('bench', 'iam'), { clock });
    const instanceStream = streams.createStream({ name: 'instance', compartmentId });
    const events = streams.createStream({ name: 'execution-events', compartmentId });
    await identity.putCompartment({ tenancyId, compartmentId, name: 'bench' });
    await identity.putUser({ tenancyId, userId, name: 'bench', compartments: '*' });
    await identity.putInstance({
      tenancyId,
      instanceId,
      compartmentId,
      displayName: 'bench',
      streamId: instanceStream.id,
      timeCreated: new Date(clock.nowMs()).toISOString(),
    });
    return {
      deps: {
        state: storage.bucket('bench', 'state'),
        identity,
        streams,
        executionEventsStreamId: events.id,
        clock,
        ids: randomIds(clock),
        log: silent,
      },
      user: { type: 'user', tenancyId, userId },
      instance: { type: 'instance', tenancyId, instanceId },
      spec: (text, displayName = 'bench') => ({
        compartmentId,
        displayName,
        executionTimeOutInSeconds: 60,
        target: { instanceId },
        content: { source: { sourceType: 'TEXT', text }, output: { outputType: 'TEXT' } },
      }),
      close,
    };
  } catch (e) {
    close();
    throw e;
  }
}
