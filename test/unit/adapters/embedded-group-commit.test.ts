import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { openDatabase, type Database } from '../../../shared/adapters/embedded/database';
import { EmbeddedObjectStorage } from '../../../shared/adapters/embedded/object-storage';
import { EmbeddedStreams } from '../../../shared/adapters/embedded/stream';
import { applyAgentReport } from '../../../shared/app/agent-report';
import { createCommand } from '../../../shared/app/create-command';
import { StoredIdentityDirectory } from '../../../shared/app/identity-directory';
import { randomIds } from '../../../shared/app/ids';
import { openExecutionKey } from '../../../shared/app/layout';
import { ObjectStoreUnavailableError } from '../../../shared/ports/object-store';
import { StreamNotFoundError, StreamUnavailableError } from '../../../shared/ports/stream';

const clock = { nowMs: () => Date.parse('2024-05-01T12:00:00Z') };
const silent = { info: () => undefined, warn: () => undefined, error: () => undefined };
const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

/**
 * Counts the commits appended to the write-ahead log from now on: every frame header holds the database size after a
 * commit in its second word, and zero in every other frame.
 */
function walCommits(db: Database, file: string): () => number {
  db.pragma('wal_checkpoint(TRUNCATE)');
  const pageSize = db.pragma('page_size', { simple: true }) as number;
  return () => {
    const wal = readFileSync(`${file}-wal`);
    let commits = 0;
    for (let frame = 32; frame + 24 + pageSize <= wal.length; frame += 24 + pageSize) {
      if (wal.readUInt32BE(frame + 4) !== 0) commits++;
    }
    return commits;
  };
}

describe('the embedded group commit, shared by Object Storage and Streams on one database', () => {
  let dir: string;
  let file: string;
  let db: Database;
  let storage: EmbeddedObjectStorage;
  let streams: EmbeddedStreams;

  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'runcommand-group-commit-'));
    file = path.join(dir, 'platform.db');
    db = openDatabase(file);
    storage = new EmbeddedObjectStorage(db, { clock });
    streams = new EmbeddedStreams(db, { clock });
  });

  afterEach(() => {
    streams.close();
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('commits a put, a delete and a publish issued in one tick once, and each on its own when awaited in turn', async () => {
    const stream = streams.createStream({ name: 's', compartmentId: 'c' });
    await storage.put('ns', 'b', 'old', 'x');

    const together = walCommits(db, file);
    await Promise.all([
      storage.put('ns', 'b', 'new', 'y'),
      storage.delete('ns', 'b', 'old'),
      streams.publish(stream.id, [{ key: 'k', value: 'event' }]),
    ]);
    expect(together()).toBe(1);
    expect(await storage.get('ns', 'b', 'old')).toBeUndefined();
    expect((await storage.get('ns', 'b', 'new'))?.body.toString()).toBe('y');
    const cursor = await streams.createCursor(stream.id, { partition: '0', type: 'TRIM_HORIZON' });
    expect((await streams.getMessages(stream.id, cursor, { limit: 10 })).messages.map((m) => m.value.toString())).toEqual(['event']);

    const inTurn = walCommits(db, file);
    await storage.put('ns', 'b', 'third', 'z');
    await storage.delete('ns', 'b', 'new');
    await streams.publish(stream.id, [{ key: 'k', value: 'second' }]);
    expect(inTurn()).toBe(3);
  });

  it('fails only the write that throws: a publish to a missing stream rejects, the put beside it is stored', async () => {
    const results = await Promise.allSettled([
      storage.put('ns', 'b', 'kept', 'v'),
      streams.publish('ocid1.stream.oc1..missing', [{ key: 'k', value: 'lost' }]),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected']);
    expect((results[1] as PromiseRejectedResult).reason).toBeInstanceOf(StreamNotFoundError);
    expect((await storage.get('ns', 'b', 'kept'))?.body.toString()).toBe('v');
  });

  it("rejects every write of a batch the database cannot take, each with its own port's error", async () => {
    const stream = streams.createStream({ name: 's', compartmentId: 'c' });
    const blockedDb = openDatabase(file, { busyTimeoutMs: 0 });
    const blockedStreams = new EmbeddedStreams(blockedDb, { clock });
    const blockedStorage = new EmbeddedObjectStorage(blockedDb, { clock });
    db.prepare('BEGIN IMMEDIATE').run();
    try {
      const results = await Promise.allSettled([
        blockedStorage.put('ns', 'b', 'x', '1'),
        blockedStorage.delete('ns', 'b', 'x'),
        blockedStreams.publish(stream.id, [{ key: 'k', value: 'v' }]),
      ]);
      expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected', 'rejected']);
      expect((results[0] as PromiseRejectedResult).reason).toBeInstanceOf(ObjectStoreUnavailableError);
      expect((results[1] as PromiseRejectedResult).reason).toBeInstanceOf(ObjectStoreUnavailableError);
      expect((results[2] as PromiseRejectedResult).reason).toBeInstanceOf(StreamUnavailableError);
    } finally {
      db.prepare('ROLLBACK').run();
      blockedStreams.close();
      blockedDb.close();
    }
  });

  describe("a command's writes", () => {
    const tenancyId = 'ocid1.tenancy.oc1..t';
    const compartmentId = 'ocid1.compartment.oc1..c';
    const instanceId = 'ocid1.instance.oc1..i';

    async function world() {
      const identity = new StoredIdentityDirectory(storage.bucket('ns', 'iam'), { clock });
      const instanceStream = streams.createStream({ name: 'instance', compartmentId });
      const events = streams.createStream({ name: 'execution-events', compartmentId });
      await identity.putCompartment({ tenancyId, compartmentId, name: 'c' });
      await identity.putUser({ tenancyId, userId: 'ocid1.user.oc1..u', name: 'u', compartments: '*' });
      await identity.putInstance({ tenancyId, instanceId, compartmentId, displayName: 'i', streamId: instanceStream.id, timeCreated: '2024-05-01T00:00:00.000Z' });
      const deps = { state: storage.bucket('ns', 'state'), identity, streams, executionEventsStreamId: events.id, clock, ids: randomIds(clock), log: silent };
      const create = () =>
        createCommand(deps, {
          principal: { type: 'user', tenancyId, userId: 'ocid1.user.oc1..u' },
          spec: { compartmentId, executionTimeOutInSeconds: 60, target: { instanceId }, content: { source: { sourceType: 'TEXT', text: 'true' }, output: { outputType: 'TEXT' } } },
        });
      let sequence = 0;
      const report = (id: string, event: Parameters<typeof applyAgentReport>[2]['event']) =>
        applyAgentReport(deps, { type: 'instance', tenancyId, instanceId }, { callbackId: `cb-${++sequence}`, sequence, agentSessionId: 'session', instanceAgentCommandId: id, event });
      return { deps, create, report };
    }

    it('a create commits three times: the command, then its execution with every index entry, then its message', async () => {
      const { create } = await world();
      const commits = walCommits(db, file);
      const created = await create();
      expect(commits()).toBe(3);
      expect(created.doc.id).toMatch(/^ocid1\.instanceagentcommand\./);
    });

    it('a FINISH commits twice: the execution, then its event with the open-execution entry deleted', async () => {
      const { deps, create, report } = await world();
      const { doc } = await create();
      await report(doc.id, { type: 'ACK' });
      const commits = walCommits(db, file);
      await report(doc.id, { type: 'FINISH', outcome: 'SUCCEEDED', exitCode: 0, text: '', textSha256: EMPTY_SHA256 });
      // The session record was written by the ACK; this report finds it fresh and leaves it.
      expect(commits()).toBe(2);
      expect(await deps.state.head(openExecutionKey(doc, instanceId))).toBeUndefined();
    });
  });
});
