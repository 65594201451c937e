import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { AgentState, isCompletedRecord, isCurrentRecord, isPendingRecord, StateArea, type CompletedRecord, type PendingRecord, type StateOptions } from '../../../agent/state';
import { readProcStartTime } from '../../../agent/process-group';
import { LOCK_FILE, StateDirInUseError } from '../../../agent/state-lock';
import { issuedMessage } from './support/fake-platform';
import { journalRecords, MemoryLogger, tempDir } from './support/helpers';

const clock = { nowMs: () => 1_700_000_000_000 };

function pending(order: number): PendingRecord {
  return { schemaVersion: 1, message: issuedMessage(), receivedAtMs: 1, order, receiveReported: false };
}

function completed(id: string, at = 1): CompletedRecord {
  return { schemaVersion: 1, instanceAgentCommandId: id, completedAtMs: at, outcome: 'SUCCEEDED' };
}

const states: AgentState[] = [];

function open(dir: string, options: Partial<StateOptions> = {}): AgentState {
  const state = new AgentState(dir, { clock, newSessionId: () => 'agent-x', ...options });
  states.push(state);
  return state;
}

afterEach(() => {
  for (const state of states.splice(0)) state.close();
});

const journalFile = (dir: string) => path.join(dir, 'journal.jsonl');
const journalLines = (dir: string) => fs.readFileSync(journalFile(dir), 'utf8').split('\n').filter((l) => l !== '');

describe('AgentState', () => {
  it('generates the agent session id once per state dir and keeps it', () => {
    const dir = tempDir();
    let n = 0;
    const newSessionId = (): string => `agent-s${(n += 1)}`;
    const first = open(dir, { newSessionId });
    expect(first.agentSessionId).toBe('agent-s1');
    first.close();
    expect(open(dir, { newSessionId }).agentSessionId).toBe('agent-s1');
  });

  it('keeps every record in one journal file: no file is created per record', () => {
    const dir = tempDir();
    const state = open(dir);
    for (let i = 0; i < 50; i++) {
      const record = pending(i);
      const id = record.message.instanceAgentCommandId;
      state.save(StateArea.pending, id, record);
      state.move(StateArea.pending, StateArea.current, id, { ...record, ackedAtMs: 2 });
      state.complete(StateArea.current, completed(id));
    }
    expect(fs.readdirSync(dir).sort()).toEqual(['agent-session-id', 'agent.lock', 'journal.jsonl']);
    expect(state.ids(StateArea.completed)).toHaveLength(50);
    expect(state.ids(StateArea.pending)).toEqual([]);
    expect(state.ids(StateArea.current)).toEqual([]);
  });

  it('moves a record between areas in one append, and a reopened state reads the same records', () => {
    const dir = tempDir();
    const state = open(dir);
    const record = pending(1);
    const id = record.message.instanceAgentCommandId;
    state.save(StateArea.pending, id, record);
    const before = journalLines(dir).length;
    state.move(StateArea.pending, StateArea.current, id, { ...record, ackedAtMs: 2 });
    expect(journalLines(dir).slice(before).map((l) => JSON.parse(l) as unknown)).toEqual([
      { a: 'current', id, v: { ...record, ackedAtMs: 2 } },
      { a: 'pending', id, d: 1 },
    ]);
    state.close();

    const reopened = open(dir);
    expect(reopened.ids(StateArea.pending)).toEqual([]);
    expect(reopened.load(StateArea.current, isCurrentRecord)).toEqual([{ id, record: { ...record, ackedAtMs: 2 } }]);
  });

  it('drops a partial last line (a write a crash cut short) and keeps everything before it', () => {
    const dir = tempDir();
    const state = open(dir);
    const record = pending(1);
    state.save(StateArea.pending, record.message.instanceAgentCommandId, record);
    state.close();
    fs.appendFileSync(journalFile(dir), '{"a":"pending","id":"c2","v":{"sche');
    const log = new MemoryLogger();
    const reopened = open(dir, { log });
    expect(reopened.ids(StateArea.pending)).toEqual([record.message.instanceAgentCommandId]);
    expect(log.messages()).toContain('dropped a partial last line of the agent state journal (an interrupted write)');
    // The reopened journal was rewritten without it, so the next append starts on a line of its own.
    reopened.save(StateArea.pending, 'c3', pending(3));
    expect(journalRecords(dir, 'pending').has('c3')).toBe(true);
  });

  it('removes the temp file of a rewrite a crash interrupted', () => {
    const dir = tempDir();
    open(dir).close();
    fs.writeFileSync(path.join(dir, '.journal.jsonl.0a1b2c.tmp'), 'partial');
    open(dir).close();
    expect(fs.readdirSync(dir).sort()).toEqual(['agent-session-id', 'journal.jsonl']);
  });

  it('copies unreadable lines and invalid records to corrupt/ and carries on', () => {
    const dir = tempDir();
    const log = new MemoryLogger();
    const state = open(dir, { log });
    const good = pending(1);
    state.save(StateArea.pending, good.message.instanceAgentCommandId, good);
    state.close();
    fs.appendFileSync(journalFile(dir), 'not json\n{"a":"pending","id":"wrong","v":{"schemaVersion":1}}\n');
    const reopened = open(dir, { log });
    const loaded = reopened.load(StateArea.pending, isPendingRecord);
    expect(loaded.map((l) => l.id)).toEqual([good.message.instanceAgentCommandId]);
    expect(fs.readdirSync(path.join(dir, 'corrupt')).sort()).toEqual([`${clock.nowMs()}-journal-lines.jsonl`, `${clock.nowMs()}-pending-wrong.json`]);
    expect(log.messages()).toEqual(expect.arrayContaining(['copied unreadable lines of the agent state journal aside', 'moved a corrupt state record aside']));
    expect(reopened.ids(StateArea.pending)).toEqual([good.message.instanceAgentCommandId]);
  });

  it('rewrites the journal once it holds far more lines than records, without losing any', () => {
    const dir = tempDir();
    const state = open(dir);
    const ids: string[] = [];
    for (let i = 0; i < 600; i++) {
      const record = pending(i);
      const id = record.message.instanceAgentCommandId;
      ids.push(id);
      state.save(StateArea.pending, id, record);
      state.move(StateArea.pending, StateArea.current, id, { ...record, ackedAtMs: 2 });
      if (i % 2 === 0) state.remove(StateArea.current, id);
    }
    // 1,800 changes were written, 300 records are live: the file was rewritten along the way.
    expect(journalLines(dir).length).toBeLessThan(1300);
    expect(state.ids(StateArea.current)).toEqual(ids.filter((_, i) => i % 2 === 1));
    state.close();
    expect(open(dir).ids(StateArea.current)).toEqual(ids.filter((_, i) => i % 2 === 1));
    // And at open, to the live records alone.
    expect(journalLines(dir)).toHaveLength(300);
  });

  it('keeps only the newest completed entries, pruning in batches as entries complete', () => {
    const dir = tempDir();
    const state = open(dir, { completedKeep: 3 });
    for (let i = 1; i <= 5; i += 1) state.complete(undefined, completed(`c${i}`, i));
    // With keep 3 the batch is 1: the 5th completion pruned the two oldest.
    expect(state.load(StateArea.completed, isCompletedRecord).map((l) => l.id)).toEqual(['c3', 'c4', 'c5']);
    state.save(StateArea.completed, 'c6', completed('c6', 6));
    expect(state.pruneCompleted()).toBe(1);
    expect(state.has(StateArea.completed, 'c3')).toBe(false);
    expect(state.ids(StateArea.completed)).toEqual(['c4', 'c5', 'c6']);
  });

  it('keeps a second agent out of a state dir in use, and lets the next one in once it is closed', () => {
    const dir = tempDir();
    const first = open(dir);
    expect(() => open(dir)).toThrow(StateDirInUseError);
    expect(() => open(dir)).toThrow(`Another agent (pid ${process.pid}) is using the state dir ${dir}`);
    first.close();
    expect(fs.existsSync(path.join(dir, LOCK_FILE))).toBe(false);
    expect(open(dir).agentSessionId).toBe('agent-x');
  });

  it('takes over the lock of an agent that is gone (killed, crashed, or from before a reboot)', () => {
    const dir = tempDir();
    open(dir).close();
    const gone = spawnSync('true').pid as number;
    fs.writeFileSync(path.join(dir, LOCK_FILE), `${gone} 12345\n`);
    expect(open(dir).agentSessionId).toBe('agent-x');
    expect(fs.readFileSync(path.join(dir, LOCK_FILE), 'utf8')).toMatch(new RegExp(`^${process.pid} `));
  });

  it('does not take the lock of a live process whose start time matches, nor of a recycled pid whose does not', () => {
    const dir = tempDir();
    open(dir).close();
    const live = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      const pid = live.pid as number;
      fs.writeFileSync(path.join(dir, LOCK_FILE), `${pid} ${readProcStartTime(pid)}\n`);
      expect(() => open(dir)).toThrow(StateDirInUseError);
      // The same pid with another start time is a process that reused the pid of a dead agent.
      fs.writeFileSync(path.join(dir, LOCK_FILE), `${pid} 1\n`);
      expect(open(dir).agentSessionId).toBe('agent-x');
    } finally {
      live.kill('SIGKILL');
    }
  });

  it('with syncWrites, flushes every change to the disk before it counts as written, and a rewrite with its dir', () => {
    const dir = tempDir();
    const fdatasync = jest.spyOn(fs, 'fdatasyncSync');
    const fsync = jest.spyOn(fs, 'fsyncSync');
    try {
      const state = open(dir, { syncWrites: true });
      const opened = fsync.mock.calls.length;
      // The rewrite at open: the temp file, then its dir.
      expect(opened).toBeGreaterThanOrEqual(2);
      const record = pending(1);
      state.save(StateArea.pending, record.message.instanceAgentCommandId, record);
      state.remove(StateArea.pending, record.message.instanceAgentCommandId);
      expect(fdatasync).toHaveBeenCalledTimes(2);
      state.close();
      fdatasync.mockClear();
      const unsynced = open(dir);
      unsynced.save(StateArea.pending, record.message.instanceAgentCommandId, record);
      expect(fdatasync).not.toHaveBeenCalled();
    } finally {
      fdatasync.mockRestore();
      fsync.mockRestore();
    }
  });

  it('a failed append changes nothing, leaves no half line behind, and the next append works', () => {
    const dir = tempDir();
    const state = open(dir);
    const kept = pending(1);
    state.save(StateArea.pending, kept.message.instanceAgentCommandId, kept);
    const lost = pending(2);
    const realWrite = fs.writeSync;
    // The disk fills up in the middle of the line: part of it is written, then the write fails.
    const write = jest.spyOn(fs, 'writeSync').mockImplementationOnce(((fd: number, data: Buffer) => {
      realWrite(fd, data, 0, 10);
      throw Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
    }) as unknown as typeof fs.writeSync);
    try {
      expect(() => state.save(StateArea.pending, lost.message.instanceAgentCommandId, lost)).toThrow(/ENOSPC/);
    } finally {
      write.mockRestore();
    }
    expect(state.ids(StateArea.pending)).toEqual([kept.message.instanceAgentCommandId]);
    const next = pending(3);
    state.save(StateArea.pending, next.message.instanceAgentCommandId, next);
    state.close();
    const log = new MemoryLogger();
    expect(open(dir, { log }).ids(StateArea.pending)).toEqual([kept.message.instanceAgentCommandId, next.message.instanceAgentCommandId]);
    expect(log.messages()).toEqual([]);
  });

  it('when a rewrite fails, goes on appending to the old file and tries again later', () => {
    const dir = tempDir();
    const log = new MemoryLogger();
    const state = open(dir, { log });
    const rename = jest.spyOn(fs, 'renameSync').mockImplementation(() => {
      throw Object.assign(new Error('EIO: i/o error, rename'), { code: 'EIO' });
    });
    const ids: string[] = [];
    try {
      for (let i = 0; i < 600; i++) {
        const record = pending(i);
        ids.push(record.message.instanceAgentCommandId);
        state.save(StateArea.pending, record.message.instanceAgentCommandId, record);
        state.remove(StateArea.pending, record.message.instanceAgentCommandId);
      }
    } finally {
      rename.mockRestore();
    }
    expect(log.messages().filter((m) => m === 'could not rewrite the agent state journal; it will try again later')).toHaveLength(1);
    expect(journalLines(dir)).toHaveLength(1200);
    const last = pending(600);
    state.save(StateArea.pending, last.message.instanceAgentCommandId, last);
    state.close();
    expect(open(dir).ids(StateArea.pending)).toEqual([last.message.instanceAgentCommandId]);
  });

  it('refuses ids that are not plain file names', () => {
    const state = open(tempDir());
    expect(() => state.save(StateArea.pending, '../escape', pending(1))).toThrow(/Unsafe command id/);
  });

  it('keeps the outbox reports in the journal, in sequence order', () => {
    const dir = tempDir();
    const store = open(dir).outboxStore();
    store.add(2, { n: 2 });
    store.add(1, { n: 1 });
    store.add(3, { n: 3 });
    store.remove(2);
    expect(store.load()).toEqual([
      { seq: 1, payload: { n: 1 } },
      { seq: 3, payload: { n: 3 } },
    ]);
    expect(fs.readdirSync(dir).sort()).toEqual(['agent-session-id', 'agent.lock', 'journal.jsonl']);
  });

  it('moves the state an earlier version kept as a file per record into the journal, and removes those dirs', () => {
    const dir = tempDir();
    const write = (area: string, name: string, value: unknown, mtime?: number) => {
      fs.mkdirSync(path.join(dir, area), { recursive: true });
      const file = path.join(dir, area, name);
      fs.writeFileSync(file, typeof value === 'string' ? value : JSON.stringify(value));
      if (mtime !== undefined) fs.utimesSync(file, mtime, mtime);
    };
    const waiting = pending(4);
    const running = { ...pending(5), ackedAtMs: 2, pid: 4242, procStartTime: '77' };
    write('pending', `${waiting.message.instanceAgentCommandId}.json`, waiting);
    write('pending', '.half-written.json.abc.tmp', 'partial');
    write('current', `${running.message.instanceAgentCommandId}.json`, running);
    write('completed', 'newer.json', completed('newer', 2), 2000);
    write('completed', 'older.json', completed('older', 1), 1000);
    write('completed', 'broken.json', '{"half":', 1500);
    write('outbox', '0000000000000007.json', { seq: 7, payload: { n: 7 } });
    write('outbox', '0000000000000009.json', { seq: 9, payload: { n: 9 } });
    fs.writeFileSync(path.join(dir, 'agent-session-id'), 'agent-old\n');

    const log = new MemoryLogger();
    const state = open(dir, { log });
    expect(state.agentSessionId).toBe('agent-old');
    expect(state.load(StateArea.pending, isPendingRecord)).toEqual([{ id: waiting.message.instanceAgentCommandId, record: waiting }]);
    expect(state.load(StateArea.current, isCurrentRecord)).toEqual([{ id: running.message.instanceAgentCommandId, record: running }]);
    // Oldest first, so pruning keeps the newest.
    expect(state.ids(StateArea.completed)).toEqual(['older', 'newer']);
    expect(state.outboxStore().load()).toEqual([
      { seq: 7, payload: { n: 7 } },
      { seq: 9, payload: { n: 9 } },
    ]);
    expect(fs.readdirSync(dir).sort()).toEqual(['agent-session-id', 'agent.lock', 'corrupt', 'journal.jsonl']);
    expect(fs.readdirSync(path.join(dir, 'corrupt'))).toEqual([`${clock.nowMs()}-completed-broken.json`]);
    expect(log.messages()).toEqual(expect.arrayContaining(['moved a corrupt state file aside', 'moved the agent state from files into its journal']));

    // Done once: the next start finds only the journal.
    state.close();
    const again = open(dir);
    expect(again.ids(StateArea.completed)).toEqual(['older', 'newer']);
    expect(again.outboxStore().load()).toHaveLength(2);
  });
});
