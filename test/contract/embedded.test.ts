import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { openDatabase } from '../../shared/adapters/embedded/database';
import { EmbeddedObjectStorage } from '../../shared/adapters/embedded/object-storage';
import { EmbeddedStreams } from '../../shared/adapters/embedded/stream';
import { objectStoreContract } from './object-store.contract';
import { streamContract } from './stream.contract';

const clock = { nowMs: () => Date.parse('2024-05-01T00:00:00Z') };

objectStoreContract('embedded (SQLite, inline bodies)', async () => {
  const db = openDatabase(':memory:');
  return { store: new EmbeddedObjectStorage(db, { clock }).bucket('ns', 'state'), close: async () => void db.close() };
});

objectStoreContract('embedded (SQLite file, every body in a blob file)', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'runcommand-contract-'));
  const db = openDatabase(path.join(dir, 'platform.db'));
  const storage = new EmbeddedObjectStorage(db, { clock, blobDir: path.join(dir, 'blobs'), inlineBodyMaxBytes: 0 });
  return {
    store: storage.bucket('ns', 'state'),
    close: async () => {
      db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

streamContract('embedded (SQLite)', async () => {
  let nowMs = Date.parse('2024-05-01T00:00:00Z');
  const db = openDatabase(':memory:');
  const streams = new EmbeddedStreams(db, { clock: { nowMs: () => nowMs } });
  const first = streams.createStream({ name: 'first', compartmentId: 'ocid1.compartment.oc1..c' });
  const second = streams.createStream({ name: 'second', compartmentId: 'ocid1.compartment.oc1..c' });
  return {
    stream: streams,
    streamId: first.id,
    otherStreamId: second.id,
    advanceClockMs: (ms) => {
      nowMs += ms;
    },
    close: async () => {
      streams.close();
      db.close();
    },
  };
});
