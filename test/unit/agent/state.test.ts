import fs from 'node:fs';
import path from 'node:path';
import { AgentState, isCompletedRecord, isPendingRecord, StateArea, type PendingRecord } from '../../../agent/state';
import { issuedMessage } from './support/fake-platform';
import { MemoryLogger, tempDir } from './support/helpers';

const clock = { nowMs: () => 1_700_000_000_000 };

function pending(order: number): PendingRecord {
  return { schemaVersion: 1, message: issuedMessage(), receivedAtMs: 1, order, receiveReported: false };
}

describe('AgentState', () => {
  it('generates the agent session id once per state dir and keeps it', () => {
    const dir = tempDir();
    let n = 0;
    const newSessionId = (): string => `agent-s${(n += 1)}`;
    expect(new AgentState(dir, { clock, newSessionId }).agentSessionId).toBe('agent-s1');
    expect(new AgentState(dir, { clock, newSessionId }).agentSessionId).toBe('agent-s1');
  });

  it('moves a record between areas, leaving no temp files behind', () => {
    const dir = tempDir();
    const state = new AgentState(dir, { clock, newSessionId: () => 'agent-x' });
    const record = pending(1);
    const id = record.message.instanceAgentCommandId;
    state.save(StateArea.pending, id, record);
    state.move(StateArea.pending, StateArea.current, id, { ...record, ackedAtMs: 2 });
    expect(state.ids(StateArea.pending)).toEqual([]);
    expect(state.ids(StateArea.current)).toEqual([id]);
    expect(fs.readdirSync(path.join(dir, 'current'))).toEqual([`${id}.json`]);
  });

  it('moves unparseable and invalid files to corrupt/ and carries on', () => {
    const dir = tempDir();
    const log = new MemoryLogger();
    const state = new AgentState(dir, { clock, newSessionId: () => 'agent-x', log });
    const good = pending(1);
    state.save(StateArea.pending, good.message.instanceAgentCommandId, good);
    fs.writeFileSync(path.join(dir, 'pending', 'broken.json'), '{"half":');
    fs.writeFileSync(path.join(dir, 'pending', 'wrong.json'), '{"schemaVersion":1}');
    const loaded = state.load(StateArea.pending, isPendingRecord);
    expect(loaded.map((l) => l.id)).toEqual([good.message.instanceAgentCommandId]);
    expect(fs.readdirSync(path.join(dir, 'corrupt')).sort()).toEqual([`${clock.nowMs()}-pending-broken.json`, `${clock.nowMs()}-pending-wrong.json`]);
    expect(log.messages()).toContain('moved a corrupt state file aside');
  });

  it('removes temp files a crash left behind', () => {
    const dir = tempDir();
    new AgentState(dir, { clock, newSessionId: () => 'agent-x' });
    fs.writeFileSync(path.join(dir, 'pending', '.c1.json.abc.tmp'), 'partial');
    new AgentState(dir, { clock, newSessionId: () => 'agent-x' });
    expect(fs.readdirSync(path.join(dir, 'pending'))).toEqual([]);
  });

  it('keeps only the newest completed entries, pruning in batches as entries complete', () => {
    const dir = tempDir();
    const state = new AgentState(dir, { clock, newSessionId: () => 'agent-x', completedKeep: 3 });
    for (let i = 1; i <= 5; i += 1) {
      state.complete(undefined, { schemaVersion: 1, instanceAgentCommandId: `c${i}`, completedAtMs: i, outcome: 'SUCCEEDED' });
      const file = path.join(dir, 'completed', `c${i}.json`);
      fs.utimesSync(file, i, i);
    }
    // With keep 3 the batch is 1: the 5th completion pruned the two oldest.
    expect(state.load(StateArea.completed, isCompletedRecord).map((l) => l.id).sort()).toEqual(['c3', 'c4', 'c5']);
    state.save(StateArea.completed, 'c0', { schemaVersion: 1, instanceAgentCommandId: 'c0', completedAtMs: 0, outcome: 'FAILED' });
    fs.utimesSync(path.join(dir, 'completed', 'c0.json'), 0, 0);
    expect(state.pruneCompleted()).toBe(1);
    expect(state.has(StateArea.completed, 'c0')).toBe(false);
  });

  it('refuses ids that are not plain file names', () => {
    const state = new AgentState(tempDir(), { clock, newSessionId: () => 'agent-x' });
    expect(() => state.save(StateArea.pending, '../escape', pending(1))).toThrow(/Unsafe command id/);
  });
});
