import { MemoryObjectStore } from '../../shared/adapters/memory/object-store';
import { MemoryStream } from '../../shared/adapters/memory/stream';
import { objectStoreContract } from './object-store.contract';
import { streamContract } from './stream.contract';

objectStoreContract('memory', async () => ({ store: new MemoryObjectStore() }));

streamContract('memory', async () => {
  let nowMs = Date.parse('2024-05-01T00:00:00Z');
  const stream = new MemoryStream({ clock: { nowMs: () => nowMs } });
  stream.createStream('ocid1.stream.oc1..first');
  stream.createStream('ocid1.stream.oc1..second');
  return {
    stream,
    streamId: 'ocid1.stream.oc1..first',
    otherStreamId: 'ocid1.stream.oc1..second',
    advanceClockMs: (ms) => {
      nowMs += ms;
    },
    close: async () => stream.close(),
  };
});
