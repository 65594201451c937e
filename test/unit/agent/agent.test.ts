import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { AGENT_STOPPED_MESSAGE, CANCELED_BEFORE_START_MESSAGE, DEFAULT_COMMIT_INTERVAL_MS, RESTART_MESSAGE, startAgent, type AgentDeps, type AgentRuntimeConfig, type RunningAgent } from '../../../agent/agent';
import { isGroupAlive, readProcStartTime } from '../../../agent/process-group';
import { AgentState, StateArea, type CurrentRecord } from '../../../agent/state';
import { systemClock } from '../../../shared/ports/clock';
import { FakePlatform, INSTANCE_ID, cancelMessage, issuedMessage, transient } from './support/fake-platform';
import { TestStream } from './support/memory-stream';
import { FakeObjectStorage } from './support/fake-object-storage';
import { FakeTimers, flush, journalRecords, MemoryLogger, tempDir, testIds, waitFor } from './support/helpers';
import { ObjectTransferError } from '../../../agent/object-storage';
import type { CommandContent } from '../../../shared/domain/model';

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

interface Harness {
  stream: TestStream;
  platform: FakePlatform;
  log: MemoryLogger;
  stateDir: string;
  config: AgentRuntimeConfig;
  deps: AgentDeps;
  marker: string;
}

const running: RunningAgent[] = [];

function harness(overrides: Partial<AgentRuntimeConfig> = {}): Harness {
  const stream = new TestStream();
  const platform = new FakePlatform(stream);
  const log = new MemoryLogger();
  const stateDir = tempDir('agent-state-');
  const config: AgentRuntimeConfig = {
    instanceId: INSTANCE_ID,
    streamId: stream.streamId,
    stateDir,
    commandExecutionMaxWorkers: 2,
    maxInFlight: 5,
    killGraceMs: 300,
    pollWaitMs: 1000,
    maxScriptBytes: 1024 * 1024,
    maxOutputBytes: 1024 * 1024,
    ...overrides,
  };
  const fast = { baseMs: 10, maxMs: 50 };
  const deps: AgentDeps = {
    stream,
    reporter: platform,
    clock: systemClock,
    ids: testIds,
    log,
    executor: { workRoot: tempDir('agent-work-'), stdioDrainMs: 200 },
    pollBackoff: fast,
    ackBackoff: fast,
    outboxBackoff: fast,
    breaker: { failureThreshold: 2, openMs: 50 },
  };
  return { stream, platform, log, stateDir, config, deps, marker: path.join(tempDir('agent-marker-'), 'runs') };
}

async function start(h: Harness, deps: Partial<AgentDeps> = {}): Promise<RunningAgent> {
  const agent = await startAgent(h.config, { ...h.deps, ...deps });
  running.push(agent);
  return agent;
}

function runsOf(marker: string): string[] {
  return fs.existsSync(marker) ? fs.readFileSync(marker, 'utf8').trim().split('\n') : [];
}

afterEach(async () => {
  await Promise.all(running.splice(0).map((a) => a.stop({ killRunning: true, drainOutboxMs: 0 })));
});

describe('agent', () => {
  it('runs echo hello: ACK, FINISH SUCCEEDED with the text and its sha256', async () => {
    const h = harness();
    await start(h);
    const { instanceAgentCommandId: id } = h.platform.issue({ script: 'echo hello' });
    await waitFor(() => h.platform.finished(id) !== undefined, 10_000, 'FINISH');
    // Shorter than the start-report delay: it goes from ACKED straight to its end.
    expect(h.platform.reportsOf(id).map((r) => r.event.type)).toEqual(['ACK', 'FINISH']);
    expect(h.platform.executions.get(id)).toMatchObject({ lifecycleState: 'SUCCEEDED', exitCode: 0, text: 'hello\n', textSha256: sha256('hello\n') });
    // Committed once the instance is quiet (at most a commit interval later).
    await waitFor(async () => (await h.stream.uncommittedCount(INSTANCE_ID)) === 0, 5000, 'the commit');
  });

  it('batches commits while commands keep coming: at most one per commit interval, and all committed once quiet', async () => {
    const h = harness({ pollWaitMs: 5000 });
    await start(h, { commitIntervalMs: 60_000 });
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      ids.push(h.platform.issue({ script: 'true' }).instanceAgentCommandId);
      await waitFor(() => h.platform.finished(ids[i] as string) !== undefined, 10_000, `FINISH ${i}`);
    }
    // Five polls found a message each; none of them committed (the interval is a minute), though each was recorded.
    expect(h.stream.getMessagesCalls).toBeGreaterThanOrEqual(5);
    expect(h.stream.commitCalls).toBe(0);
    expect(await h.stream.uncommittedCount(INSTANCE_ID)).toBe(5);
  });

  it('by default commits no more than once in five seconds while commands keep coming', async () => {
    expect(DEFAULT_COMMIT_INTERVAL_MS).toBe(5000);
    const h = harness({ pollWaitMs: 5000 });
    await start(h);
    const startedAt = Date.now();
    let n = 0;
    // A steady flow for two seconds, one command after another.
    while (Date.now() - startedAt < 2000) {
      const { instanceAgentCommandId: id } = h.platform.issue({ script: 'true' });
      await waitFor(() => h.platform.finished(id) !== undefined, 10_000, `FINISH ${n}`);
      n++;
    }
    expect(n).toBeGreaterThan(5);
    expect(h.stream.commitCalls).toBe(0);
    // Polls: one for each command, and none shortened for a due commit.
    expect(h.stream.getMessagesCalls).toBeLessThanOrEqual(n + 1);
    // Quiet again: the next poll finds nothing and commits everything.
    await waitFor(async () => (await h.stream.uncommittedCount(INSTANCE_ID)) === 0, 10_000, 'the commit');
    expect(h.stream.commitCalls).toBe(1);
  });

  it('goes straight back to a full long poll after the poll shortened for a commit (no idle pause before the next command)', async () => {
    const h = harness({ pollWaitMs: 5000 });
    await start(h, { commitIntervalMs: 100, idlePollMs: 5000 });
    const first = h.platform.issue({ script: 'true' }).instanceAgentCommandId;
    await waitFor(() => h.platform.finished(first) !== undefined, 10_000, 'FINISH 1');
    await waitFor(() => h.stream.commitCalls === 1, 5000, 'the commit');
    await new Promise((r) => setTimeout(r, 100));
    const issuedAt = Date.now();
    const second = h.platform.issue({ script: 'true' }).instanceAgentCommandId;
    await waitFor(() => h.platform.finished(second) !== undefined, 10_000, 'FINISH 2');
    // An idle pause (idlePollMs) would hold the second command back about 5 s.
    expect(Date.now() - issuedAt).toBeLessThan(2500);
  });

  it('commits what it read as soon as a poll finds nothing, however long the interval', async () => {
    const h = harness({ pollWaitMs: 200 });
    await start(h, { commitIntervalMs: 60_000 });
    const { instanceAgentCommandId: id } = h.platform.issue({ script: 'true' });
    await waitFor(() => h.platform.finished(id) !== undefined, 10_000, 'FINISH');
    await waitFor(async () => (await h.stream.uncommittedCount(INSTANCE_ID)) === 0, 5000, 'the commit');
    expect(h.stream.commitCalls).toBe(1);
  });

  it('reports IN_PROGRESS (START) for a script still running after the start-report delay', async () => {
    const h = harness();
    await start(h);
    const { instanceAgentCommandId: id } = h.platform.issue({ script: 'sleep 0.4' });
    await waitFor(() => h.platform.executions.get(id)?.lifecycleState === 'IN_PROGRESS', 10_000, 'IN_PROGRESS while running');
    await waitFor(() => h.platform.finished(id) !== undefined, 10_000, 'FINISH');
    expect(h.platform.reportsOf(id).map((r) => r.event.type)).toEqual(['ACK', 'START', 'FINISH']);
    const sequences = h.platform.reportsOf(id).map((r) => r.sequence);
    expect(sequences).toEqual([...sequences].sort((a, b) => a - b));
    expect(new Set(sequences).size).toBe(3);
  });

  it('reports exit 3 as FAILED with exit code 3', async () => {
    const h = harness();
    await start(h);
    const { instanceAgentCommandId: id } = h.platform.issue({ script: 'exit 3' });
    await waitFor(() => h.platform.finished(id) !== undefined, 10_000, 'FINISH');
    expect(h.platform.executions.get(id)).toMatchObject({ lifecycleState: 'FAILED', exitCode: 3 });
  });

  it('8 commands of sleep 2: never more than 2 running, never more than 5 received, all succeed', async () => {
    const h = harness();
    await start(h);
    const ids = Array.from({ length: 8 }, () => h.platform.issue({ script: 'sleep 2' }).instanceAgentCommandId);
    await waitFor(() => ids.every((id) => h.platform.finished(id) !== undefined), 20_000, 'all 8 finished');
    expect(ids.map((id) => h.platform.executions.get(id)?.lifecycleState)).toEqual(Array(8).fill('SUCCEEDED'));
    expect(h.platform.maxRunning).toBe(2);
    expect(h.platform.maxInFlight).toBe(5);
    // Only the commands that had to wait for a worker were reported RECEIVEd.
    expect(ids.filter((id) => h.platform.reportsOf(id, 'RECEIVE').length > 0).length).toBeGreaterThanOrEqual(3);
    expect(h.platform.reportsOf(ids[0] as string, 'RECEIVE')).toEqual([]);
  }, 30_000);

  it('cancel of a running script with a background child → CANCELED after the whole group is gone', async () => {
    const h = harness();
    await start(h);
    const pidFile = `${h.marker}.pid`;
    const { instanceAgentCommandId: id } = h.platform.issue({ script: `echo $$ > ${pidFile}.tmp; mv ${pidFile}.tmp ${pidFile}; sleep 100 & sleep 100` });
    await waitFor(() => fs.existsSync(pidFile), 10_000, 'script started');
    const pgid = Number(fs.readFileSync(pidFile, 'utf8'));
    h.platform.cancel(id);
    await waitFor(() => h.platform.finished(id) !== undefined, 10_000, 'FINISH');
    expect(h.platform.finished(id)?.event).toMatchObject({ outcome: 'CANCELED', exitCode: null });
    expect(h.platform.executions.get(id)?.lifecycleState).toBe('CANCELED');
    expect(isGroupAlive(pgid)).toBe(false);
  });

  it('a cancel that arrives before the command never lets it run, even if the ack says run', async () => {
    const h = harness();
    await start(h);
    const message = issuedMessage({ script: `echo ran >> ${h.marker}` });
    const id = message.instanceAgentCommandId;
    // The platform has not seen the cancel (a stale view), so only the agent's memory of it can stop the run.
    h.platform.seed(message);
    h.stream.publishJson(cancelMessage(id));
    h.stream.publishJson(message);
    await waitFor(() => h.platform.finished(id) !== undefined, 10_000, 'FINISH');
    expect(h.platform.finished(id)?.event).toMatchObject({ outcome: 'CANCELED', message: CANCELED_BEFORE_START_MESSAGE });
    expect(h.platform.reportsOf(id, 'START')).toEqual([]);
    expect(runsOf(h.marker)).toEqual([]);
  });

  it('acks a waiting command at once when it is canceled (ACKED_CANCELED) and never runs it', async () => {
    const h = harness({ commandExecutionMaxWorkers: 1 });
    await start(h);
    const gate = `${h.marker}.go`;
    const first = h.platform.issue({ script: `while [ ! -f ${gate} ]; do sleep 0.05; done` }).instanceAgentCommandId;
    const second = h.platform.issue({ script: `echo ran >> ${h.marker}` }).instanceAgentCommandId;
    await waitFor(() => h.platform.executions.get(second)?.deliveryState === 'PENDING', 10_000, 'second received');
    h.platform.cancel(second);
    await waitFor(() => h.platform.executions.get(second)?.deliveryState === 'ACKED_CANCELED', 10_000, 'second acked canceled');
    await waitFor(() => h.platform.executions.get(first)?.lifecycleState === 'IN_PROGRESS', 10_000, 'first IN_PROGRESS');
    fs.writeFileSync(gate, '');
    await waitFor(() => h.platform.finished(first) !== undefined, 10_000, 'first FINISH');
    expect(h.platform.reportsOf(second, 'START')).toEqual([]);
    expect(runsOf(h.marker)).toEqual([]);
  });

  it('starts a command reserved for its own session without an ACK: its FINISH is the claim', async () => {
    const h = harness();
    const agent = await start(h);
    const { instanceAgentCommandId: id } = h.platform.issue({ script: 'echo hello', reservedFor: agent.agentSessionId });
    await waitFor(() => h.platform.finished(id) !== undefined, 10_000, 'FINISH');
    expect(h.platform.reportsOf(id).map((r) => r.event.type)).toEqual(['FINISH']);
    expect(h.platform.executions.get(id)).toMatchObject({ lifecycleState: 'SUCCEEDED', deliveryState: 'ACKED', ackedBy: agent.agentSessionId, text: 'hello\n' });
    expect(h.log.entries.find((e) => e.msg === 'command started')?.fields).toMatchObject({ instanceAgentCommandId: id, delivery: 'reserved' });
  });

  it('acks a command reserved for another session, and never runs it when that ack is refused', async () => {
    const h = harness();
    await start(h);
    const { instanceAgentCommandId: id } = h.platform.issue({ script: `echo ran >> ${h.marker}`, reservedFor: 'another-session' });
    const later = h.platform.issue({ script: 'true' }).instanceAgentCommandId;
    await waitFor(() => h.platform.finished(later) !== undefined, 10_000, 'later command');
    expect(h.platform.reportsOf(id).map((r) => r.event.type)).toEqual(['ACK']);
    expect(runsOf(h.marker)).toEqual([]);
    expect(h.log.messages()).toContain('command not run');
  });

  it('acks a command reserved for it that arrives older than the reserved start window (60 s by its own clock)', async () => {
    const h = harness();
    const agent = await start(h);
    const timeCreated = new Date(Date.now() - 61_000).toISOString();
    const { instanceAgentCommandId: id } = h.platform.issue({ script: 'true', reservedFor: agent.agentSessionId, timeCreated });
    await waitFor(() => h.platform.finished(id) !== undefined, 10_000, 'FINISH');
    expect(h.platform.reportsOf(id).map((r) => r.event.type)).toEqual(['ACK', 'FINISH']);
  });

  it('gives back (RECEIVE) a command reserved for it that must wait for a worker, and acks it before running it', async () => {
    const h = harness({ commandExecutionMaxWorkers: 1 });
    const agent = await start(h);
    const gate = `${h.marker}.go`;
    const first = h.platform.issue({ script: `while [ ! -f ${gate} ]; do sleep 0.05; done`, reservedFor: agent.agentSessionId }).instanceAgentCommandId;
    const second = h.platform.issue({ script: 'true', reservedFor: agent.agentSessionId }).instanceAgentCommandId;
    await waitFor(() => h.platform.executions.get(second)?.deliveryState === 'PENDING', 10_000, 'second given back');
    expect(h.platform.executions.get(second)?.reservedFor).toBeUndefined();
    fs.writeFileSync(gate, '');
    await waitFor(() => h.platform.finished(second) !== undefined, 10_000, 'second FINISH');
    expect(h.platform.reportsOf(first).map((r) => r.event.type)).toEqual(['START', 'FINISH']);
    expect(h.platform.reportsOf(second).map((r) => r.event.type)).toEqual(['RECEIVE', 'ACK', 'FINISH']);
    // Only the command that had to wait is logged on arrival; each is logged when it starts, with its sequence number.
    const logged = (msg: string) => h.log.entries.filter((e) => e.msg === msg).map((e) => e.fields);
    expect(logged('command received; waiting for a worker')).toEqual([expect.objectContaining({ instanceAgentCommandId: second })]);
    expect(logged('command started')).toEqual([
      expect.objectContaining({ instanceAgentCommandId: first, delivery: 'reserved', sequenceNumber: expect.any(Number) }),
      expect.objectContaining({ instanceAgentCommandId: second, delivery: 'acked', sequenceNumber: expect.any(Number) }),
    ]);
  });

  it('runs a command delivered twice only once', async () => {
    const h = harness();
    await start(h);
    const message = h.platform.issue({ script: `echo ran >> ${h.marker}` });
    h.stream.publishJson(message); // while it is held
    await waitFor(() => h.platform.finished(message.instanceAgentCommandId) !== undefined, 10_000, 'FINISH');
    h.stream.publishJson(message); // after it completed
    const marker = h.platform.issue({ script: 'true' }).instanceAgentCommandId;
    await waitFor(() => h.platform.finished(marker) !== undefined, 10_000, 'later command');
    expect(runsOf(h.marker)).toEqual(['ran']);
    expect(h.platform.reportsOf(message.instanceAgentCommandId, 'ACK')).toHaveLength(1);
    expect(h.log.messages()).toContain('ignoring a command seen before');
  });

  it('skips bad messages and keeps going', async () => {
    const h = harness();
    await start(h);
    h.stream.publishJson('{not json');
    h.stream.publishJson({ ...issuedMessage(), content: { source: { sourceType: 'FTP' } } });
    h.stream.publishJson({ ...issuedMessage(), instanceId: 'ocid1.instance.oc1..someone-else' });
    const { instanceAgentCommandId: id } = h.platform.issue({ script: 'echo fine' });
    await waitFor(() => h.platform.finished(id) !== undefined, 10_000, 'FINISH');
    expect(h.platform.executions.get(id)?.lifecycleState).toBe('SUCCEEDED');
    expect(h.log.entries.filter((e) => e.msg === 'skipping an invalid stream message').map((e) => String((e.fields.error as Error).message))).toEqual([
      'the message is not JSON',
      'content.source.sourceType must be TEXT, OBJECT_STORAGE_URI or OBJECT_STORAGE_TUPLE',
    ]);
    expect(h.log.messages()).toContain('skipping a message for another instance');
  });

  it('never runs a command whose ack is refused (409 Conflict)', async () => {
    const h = harness();
    await start(h);
    const message = issuedMessage({ script: `echo ran >> ${h.marker}` });
    const id = message.instanceAgentCommandId;
    h.platform.seed(message, { deliveryState: 'ACKED', ackedBy: 'agent-someone-else' });
    h.stream.publishJson(message);
    await waitFor(() => journalRecords(h.stateDir, 'completed').has(id), 10_000, 'completed');
    expect(h.platform.reportsOf(id).map((r) => r.event.type)).toEqual(['ACK']);
    expect(runsOf(h.marker)).toEqual([]);
  });

  it('retries a transient ack failure with the same callback id, then runs', async () => {
    const h = harness();
    h.platform.failures.push({ type: 'ACK', error: transient() });
    await start(h);
    const { instanceAgentCommandId: id } = h.platform.issue({ script: 'echo once' });
    await waitFor(() => h.platform.finished(id) !== undefined, 10_000, 'FINISH');
    const acks = h.platform.attempts.filter((r) => r.instanceAgentCommandId === id && r.event.type === 'ACK');
    expect(acks).toHaveLength(2);
    expect(acks[1]?.callbackId).toBe(acks[0]?.callbackId);
    expect(h.platform.executions.get(id)?.lifecycleState).toBe('SUCCEEDED');
  });

  it('after a restart, kills a surviving script recorded as current, reports it FAILED and never runs it again', async () => {
    const h = harness();
    const message = issuedMessage({ script: `echo ran >> ${h.marker}; sleep 30` });
    const id = message.instanceAgentCommandId;
    h.platform.seed(message, { deliveryState: 'ACKED', lifecycleState: 'IN_PROGRESS', ackedBy: 'agent-before' });
    // The "crashed" agent's script, still running in its own process group.
    const orphan = spawn('sleep', ['30'], { detached: true, stdio: 'ignore' });
    const pid = orphan.pid as number;
    const state = new AgentState(h.stateDir, { clock: systemClock, newSessionId: () => 'agent-before' });
    const record: CurrentRecord = { schemaVersion: 1, message, receivedAtMs: 1, order: 1, receiveReported: false, ackedAtMs: 2, pid, procStartTime: readProcStartTime(pid) };
    state.save(StateArea.current, id, record);
    state.close();
    // The stream still holds the command (as if the commit had been lost): it must not run again either.
    h.stream.publishJson(message);

    const agent = await start(h);
    expect(agent.agentSessionId).toBe('agent-before');
    expect(isGroupAlive(pid)).toBe(false);
    await waitFor(() => h.platform.finished(id) !== undefined, 10_000, 'FINISH');
    expect(h.platform.finished(id)?.event).toMatchObject({ outcome: 'FAILED', exitCode: null, message: RESTART_MESSAGE });
    const later = h.platform.issue({ script: 'true' }).instanceAgentCommandId;
    await waitFor(() => h.platform.finished(later) !== undefined, 10_000, 'later command');
    expect(h.platform.reportsOf(id).map((r) => r.event.type)).toEqual(['FINISH']);
    expect(runsOf(h.marker)).toEqual([]);
  });

  it('does not signal a recycled pid recorded as current', async () => {
    const h = harness();
    const message = issuedMessage();
    const bystander = spawn('sleep', ['30'], { detached: true, stdio: 'ignore' });
    const pid = bystander.pid as number;
    const state = new AgentState(h.stateDir, { clock: systemClock, newSessionId: () => 'agent-before' });
    state.save(StateArea.current, message.instanceAgentCommandId, { schemaVersion: 1, message, receivedAtMs: 1, order: 1, receiveReported: false, ackedAtMs: 2, pid, procStartTime: '1' });
    state.close();
    h.platform.seed(message, { deliveryState: 'ACKED', lifecycleState: 'IN_PROGRESS', ackedBy: 'agent-before' });
    await start(h);
    await waitFor(() => h.platform.finished(message.instanceAgentCommandId) !== undefined, 10_000, 'FINISH');
    expect(isGroupAlive(pid)).toBe(true);
    process.kill(-pid, 'SIGKILL');
  });

  it('runs commands left pending by a previous run', async () => {
    const h = harness();
    const message = issuedMessage({ script: 'echo resumed' });
    const id = message.instanceAgentCommandId;
    h.platform.seed(message, { deliveryState: 'PENDING' });
    const state = new AgentState(h.stateDir, { clock: systemClock, newSessionId: () => 'agent-before' });
    state.save(StateArea.pending, id, { schemaVersion: 1, message, receivedAtMs: 1, order: 7, receiveReported: true });
    state.close();
    await start(h);
    await waitFor(() => h.platform.finished(id) !== undefined, 10_000, 'FINISH');
    expect(h.platform.executions.get(id)).toMatchObject({ lifecycleState: 'SUCCEEDED', text: 'resumed\n' });
  });

  it('keeps undelivered reports across a restart and delivers them, retrying transient errors', async () => {
    const h = harness();
    for (let i = 0; i < 1000; i += 1) h.platform.failures.push({ type: 'FINISH', error: transient() });
    const first = await start(h);
    const { instanceAgentCommandId: id } = h.platform.issue({ script: 'echo persisted' });
    await waitFor(() => journalRecords(h.stateDir, 'completed').has(id), 10_000, 'completed');
    await first.stop({ drainOutboxMs: 0 });
    expect(h.platform.finished(id)).toBeUndefined();
    expect(journalRecords(h.stateDir, 'outbox').size).toBe(1);

    h.platform.failures.splice(0, h.platform.failures.length - 2);
    await start(h);
    await waitFor(() => h.platform.finished(id) !== undefined, 10_000, 'FINISH after restart');
    expect(h.platform.executions.get(id)).toMatchObject({ lifecycleState: 'SUCCEEDED', text: 'persisted\n' });
    expect(h.platform.reportsOf(id, 'ACK')).toHaveLength(1);
  });

  it('logs the OCI circuit breaker line while the instance is unregistered, then starts promptly once registered', async () => {
    const h = harness();
    h.stream.unregistered = true;
    await start(h);
    await waitFor(() => h.log.messages().some((m) => m.startsWith('poll command err: circuitbreaker:[pollCommand] is open')), 5000, 'breaker open');
    const line = h.log.messages().find((m) => m.startsWith('poll command err: circuitbreaker'));
    expect(line).toBe(
      'poll command err: circuitbreaker:[pollCommand] is open, last err:Service error:NotAuthorizedOrNotFound. Authorization failed or requested resource not found. http status code: 404.',
    );
    h.stream.unregistered = false;
    const { instanceAgentCommandId: id } = h.platform.issue({ script: 'echo registered' });
    await waitFor(() => h.platform.finished(id) !== undefined, 5000, 'FINISH once registered');
    expect(h.log.messages()).toContain('poll command recovered; circuit breaker closed');
  });

  it('backs off exponentially between failed polls (capped) instead of looping hot', async () => {
    const h = harness();
    h.stream.unregistered = true;
    const timers = new FakeTimers();
    const agent = await start(h, { timers, random: () => 0.5, pollBackoff: { baseMs: 100, maxMs: 400 }, breaker: { failureThreshold: 100, openMs: 1000 } });
    await flush();
    // equal jitter with random 0.5: 3/4 of min(400, 100 * 2^n)
    for (const [calls, delayMs] of [[1, 75], [2, 150], [3, 300], [4, 300]] as const) {
      expect(h.stream.createGroupCursorCalls).toBe(calls);
      expect(timers.scheduled).toEqual([delayMs]);
      await timers.advance(delayMs - 1);
      expect(h.stream.createGroupCursorCalls).toBe(calls);
      await timers.advance(1);
    }
    await agent.stop();
  });

  it('paces polls that come back empty at once (OCI Streaming does not hold them), but not polls that found messages', async () => {
    const h = harness({ pollWaitMs: 0 });
    const timers = new FakeTimers();
    const agent = await start(h, { timers, clock: { nowMs: () => 0 }, idlePollMs: 1000 });
    await flush();
    expect(h.stream.getMessagesCalls).toBe(1);
    expect(timers.scheduled).toEqual([1000]);
    await timers.advance(999);
    expect(h.stream.getMessagesCalls).toBe(1);
    h.stream.publishJson('{"not": "a command"}');
    h.stream.publishJson('{"not": "a command either"}');
    await timers.advance(1);
    // The poll that found a message is followed by another at once; that one finds nothing and waits again.
    expect(h.stream.getMessagesCalls).toBe(3);
    expect(timers.scheduled).toEqual([1000]);
    await agent.stop();
  });

  it('stop() aborts a long poll at once', async () => {
    const h = harness({ pollWaitMs: 60_000 });
    const agent = await start(h);
    await waitFor(() => h.stream.getMessagesCalls > 0, 5000, 'poll under way');
    let timer: ReturnType<typeof setTimeout> | undefined;
    const stopped = agent.stop().then(() => 'stopped');
    const slow = new Promise((r) => (timer = setTimeout(() => r('still polling'), 2000)));
    await expect(Promise.race([stopped, slow])).resolves.toBe('stopped');
    clearTimeout(timer);
  });

  it('stop({ killRunning }) stops running scripts and reports them FAILED', async () => {
    const h = harness();
    const agent = await start(h);
    const pidFile = `${h.marker}.pid`;
    const { instanceAgentCommandId: id } = h.platform.issue({ script: `echo $$ > ${pidFile}; sleep 30` });
    await waitFor(() => h.platform.reportsOf(id, 'START').length > 0 && fs.existsSync(pidFile), 10_000, 'START');
    await agent.stop({ killRunning: true });
    expect(h.platform.finished(id)?.event).toMatchObject({ outcome: 'FAILED', message: AGENT_STOPPED_MESSAGE });
    expect(isGroupAlive(Number(fs.readFileSync(pidFile, 'utf8')))).toBe(false);
  });

  it('reports a 404 from the platform without retrying forever', async () => {
    const h = harness();
    await start(h);
    const message = issuedMessage({ script: 'true' });
    h.stream.publishJson(message); // unknown to the platform: every report answers 404
    await waitFor(() => journalRecords(h.stateDir, 'completed').has(message.instanceAgentCommandId), 10_000, 'completed');
    expect(h.platform.reportsOf(message.instanceAgentCommandId).map((r) => r.event.type)).toEqual(['ACK']);
  });
});

describe('agent with Object Storage sources and outputs', () => {
  const tuple = (objectName: string) => ({ sourceType: 'OBJECT_STORAGE_TUPLE' as const, namespaceName: 'ns', bucketName: 'scripts', objectName });
  const textOutput = { outputType: 'TEXT' as const };
  const objectOutput = { outputType: 'OBJECT_STORAGE_TUPLE' as const, namespaceName: 'ns', bucketName: 'out', objectName: 'runs/out.log' };

  async function runToFinish(content: CommandContent, deps: Partial<AgentDeps>, overrides: Partial<AgentRuntimeConfig> = {}) {
    const h = harness(overrides);
    await start(h, deps);
    const { instanceAgentCommandId: id } = h.platform.issue({ content });
    await waitFor(() => h.platform.finished(id) !== undefined, 10_000, 'FINISH');
    return { h, id, types: h.platform.reportsOf(id).map((r) => r.event.type), execution: h.platform.executions.get(id), event: h.platform.finished(id)?.event };
  }

  it('downloads a tuple source and runs it under its base name, so the commandString can call it', async () => {
    const storage = new FakeObjectStorage();
    storage.put('ns/scripts/tools/main.sh', 'echo "main says $1"');
    const { execution, types } = await runToFinish({ source: tuple('tools/main.sh'), output: textOutput, commandString: '/bin/sh main.sh abc' }, { objectStorage: storage });
    expect(execution).toMatchObject({ lifecycleState: 'SUCCEEDED', exitCode: 0, text: 'main says abc\n' });
    expect(types).toEqual(['ACK', 'FINISH']);
  });

  it('runs a native-URI source with its #! interpreter', async () => {
    const storage = new FakeObjectStorage();
    storage.put('ns/scripts/py/hello.py', '#!/usr/bin/env python3\nprint("from python")');
    const { execution } = await runToFinish(
      { source: { sourceType: 'OBJECT_STORAGE_URI', sourceUri: 'https://objectstorage.example.com/n/ns/b/scripts/o/py%2Fhello.py' }, output: textOutput },
      { objectStorage: storage },
    );
    expect(execution).toMatchObject({ lifecycleState: 'SUCCEEDED', text: 'from python\n' });
    expect(storage.opened[0]).toMatchObject({ kind: 'native', endpoint: 'https://objectstorage.example.com', objectName: 'py/hello.py' });
  });

  it('fails a missing source object with a message naming it and the cause, exit code null, never started', async () => {
    const { event, types } = await runToFinish({ source: tuple('missing.sh'), output: textOutput }, { objectStorage: new FakeObjectStorage() });
    expect(event).toMatchObject({ outcome: 'FAILED', exitCode: null, message: 'Could not download the script from ns/scripts/missing.sh: ObjectNotFound (404)' });
    expect(types).toEqual(['ACK', 'FINISH']);
  });

  it.each([
    ['announced up front', true],
    ['found while streaming', false],
  ])('fails a script larger than maxScriptBytes (%s) with a message naming the limit, without running it', async (_how, announceLength) => {
    const storage = new FakeObjectStorage();
    storage.announceLength = announceLength;
    const marker = path.join(tempDir('agent-marker-'), 'ran');
    storage.put('ns/scripts/big.sh', `touch ${marker}\n#${'x'.repeat(10_000)}\n`);
    const { event, types } = await runToFinish({ source: tuple('big.sh'), output: textOutput }, { objectStorage: storage }, { maxScriptBytes: 4096 });
    expect(event).toMatchObject({ outcome: 'FAILED', exitCode: null, message: expect.stringContaining('larger than this agent\'s limit of 4096 bytes (maxScriptBytes)') });
    expect(types).toEqual(['ACK', 'FINISH']);
    expect(fs.existsSync(marker)).toBe(false);
  });

  it('fails a TEXT script whose textSha256 does not match, without running it, and runs one that matches', async () => {
    const marker = path.join(tempDir('agent-marker-'), 'ran');
    const text = `touch ${marker}`;
    const wrong = await runToFinish({ source: { sourceType: 'TEXT', text, textSha256: sha256('something else') }, output: textOutput }, {});
    expect(wrong.event).toMatchObject({ outcome: 'FAILED', exitCode: null, message: expect.stringMatching(/does not match its textSha256/) });
    expect(wrong.types).toEqual(['ACK', 'FINISH']);
    expect(fs.existsSync(marker)).toBe(false);
    const right = await runToFinish({ source: { sourceType: 'TEXT', text, textSha256: sha256(text).toUpperCase() }, output: textOutput }, {});
    expect(right.execution?.lifecycleState).toBe('SUCCEEDED');
    expect(fs.existsSync(marker)).toBe(true);
  });

  it('fails Object Storage commands with a message when the agent has no Object Storage access', async () => {
    const { event, types } = await runToFinish({ source: tuple('main.sh'), output: textOutput }, {});
    expect(event).toMatchObject({ outcome: 'FAILED', exitCode: null, message: expect.stringMatching(/no Object Storage access/) });
    expect(types).toEqual(['ACK', 'FINISH']);
  });

  it('fails, without running it, a command whose outputUri names no object', async () => {
    const marker = path.join(tempDir('agent-marker-'), 'ran');
    const { event } = await runToFinish(
      { source: { sourceType: 'TEXT', text: `touch ${marker}` }, output: { outputType: 'OBJECT_STORAGE_URI', outputUri: 'https://objectstorage.example.com/n/ns/b/out' } },
      { objectStorage: new FakeObjectStorage() },
    );
    expect(event).toMatchObject({ outcome: 'FAILED', exitCode: null, message: expect.stringMatching(/^The output cannot be written to Object Storage: .*not an Object Storage object URL/) });
    expect(fs.existsSync(marker)).toBe(false);
  });

  it('uploads stdout then stderr as one object with their sizes, and reports no text tail', async () => {
    const storage = new FakeObjectStorage();
    const { id, execution, event } = await runToFinish(
      { source: { sourceType: 'TEXT', text: 'seq 1 3000; echo oops >&2; exit 4' }, output: objectOutput },
      { objectStorage: storage },
    );
    const stdout = Array.from({ length: 3000 }, (_, i) => `${i + 1}\n`).join('');
    expect(execution).toMatchObject({ lifecycleState: 'FAILED', exitCode: 4 });
    expect(event?.text).toBeUndefined();
    expect(event?.message).toBeUndefined();
    const stored = storage.get('ns/out/runs/out.log');
    expect(stored?.body.toString()).toBe(`${stdout}oops\n`);
    expect(stored?.metadata).toEqual({
      'runcommand-stdout-bytes': String(stdout.length),
      'runcommand-stderr-bytes': '5',
      'runcommand-dropped-bytes': '0',
      'runcommand-command-id': id,
      'runcommand-instance-id': INSTANCE_ID,
      'runcommand-exit-code': '4',
    });
  });

  it('never reports SUCCEEDED when the output upload fails: FAILED with exit code 0 and the upload error', async () => {
    const storage = new FakeObjectStorage();
    storage.uploadFailure = new ObjectTransferError('BucketNotFound (404)', 404);
    const { execution } = await runToFinish({ source: { sourceType: 'TEXT', text: 'echo fine' }, output: objectOutput }, { objectStorage: storage });
    expect(execution).toMatchObject({
      lifecycleState: 'FAILED',
      exitCode: 0,
      message: 'The script exited 0 but its output could not be uploaded to ns/out/runs/out.log: BucketNotFound (404)',
    });
  });
});
