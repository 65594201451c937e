import { MemoryObjectStore } from '../../../shared/adapters/memory/object-store';
import { MemoryStream } from '../../../shared/adapters/memory/stream';
import { applyAgentReport } from '../../../shared/app/agent-report';
import { cancelCommand } from '../../../shared/app/cancel-command';
import { createCommand } from '../../../shared/app/create-command';
import type { Logger, ServiceDeps } from '../../../shared/app/deps';
import { readDoc } from '../../../shared/app/documents';
import { allCommandsKey, executionKey, openExecutionKey } from '../../../shared/app/layout';
import { getCommand, getExecution, listCommands, listExecutions } from '../../../shared/app/query-commands';
import { sweep, type SweepCounts, type SweepInput, type SweepResult } from '../../../shared/app/sweep';
import type { AgentReportEvent } from '../../../shared/domain/agent-report';
import { ServiceError } from '../../../shared/domain/errors';
import type { CommandOutput, CommandRecord, ExecutionRecord } from '../../../shared/domain/model';
import { DEFAULT_SWEEP_POLICY, parseSweepRequest } from '../../../shared/domain/sweep-policy';
import type { IdentityDirectory, InstanceRecord, Principal } from '../../../shared/ports/identity';
import type { ObjectStore } from '../../../shared/ports/object-store';
import { recordingReads } from '../../support/service-fakes';

const SEC = 1000;
const MIN = 60 * SEC;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const T0 = Date.parse('2025-03-01T00:00:00.000Z');

const TENANCY = 'ocid1.tenancy.oc1..t';
const COMPARTMENT = 'ocid1.compartment.oc1..c';
const INSTANCE = 'ocid1.instance.oc1..i';
const INSTANCE_STREAM = 'ocid1.stream.oc1..instance';
const EVENTS_STREAM = 'ocid1.stream.oc1..events';
const user: Principal = { type: 'user', tenancyId: TENANCY, userId: 'ocid1.user.oc1..u' };
const agent: Principal = { type: 'instance', tenancyId: TENANCY, instanceId: INSTANCE };

/** The identity directory as a fixed in-memory table: one admin user, one compartment, one instance. */
class MemoryIdentityDirectory implements IdentityDirectory {
  private readonly instance: InstanceRecord = {
    tenancyId: TENANCY,
    instanceId: INSTANCE,
    compartmentId: COMPARTMENT,
    displayName: 'host',
    streamId: INSTANCE_STREAM,
    timeCreated: new Date(T0).toISOString(),
  };

  async getUser(tenancyId: string, userId: string) {
    return user.type === 'user' && tenancyId === TENANCY && userId === user.userId
      ? { tenancyId, userId, name: 'admin', compartments: '*' as const }
      : undefined;
  }

  async getInstance(instanceId: string) {
    return instanceId === INSTANCE ? this.instance : undefined;
  }

  async getCompartment(compartmentId: string) {
    return compartmentId === COMPARTMENT ? { tenancyId: TENANCY, compartmentId, name: 'c' } : undefined;
  }

  async findKey() {
    return undefined;
  }
}

interface World {
  deps: ServiceDeps;
  store: MemoryObjectStore;
  streams: MemoryStream;
  warnings: string[];
  clock: { now: number };
  advance(ms: number): void;
}

function world(): World {
  const clock = { now: T0 };
  const clockPort = { nowMs: () => clock.now };
  let n = 0;
  const store = new MemoryObjectStore({ clock: clockPort });
  const streams = new MemoryStream({ clock: clockPort });
  streams.createStream(INSTANCE_STREAM);
  streams.createStream(EVENTS_STREAM);
  const warnings: string[] = [];
  const log: Logger = { info: () => undefined, warn: (m) => void warnings.push(m), error: (m) => void warnings.push(m) };
  const deps: ServiceDeps = {
    state: store,
    identity: new MemoryIdentityDirectory(),
    streams,
    executionEventsStreamId: EVENTS_STREAM,
    clock: clockPort,
    ids: {
      ocid: (type) => `ocid1.${type}.oc1..${String(++n).padStart(6, '0')}`,
      sequenceNumber: () => clock.now * 1000 + (++n % 1000),
      token: () => `token${++n}`,
    },
    log,
  };
  return { deps, store, streams, warnings, clock, advance: (ms) => void (clock.now += ms) };
}

async function create(
  w: World,
  options: { output?: CommandOutput; timeoutSec?: number; displayName?: string } = {},
): Promise<CommandRecord> {
  const created = await createCommand(w.deps, {
    principal: user,
    spec: {
      compartmentId: COMPARTMENT,
      displayName: options.displayName ?? 'job',
      executionTimeOutInSeconds: options.timeoutSec ?? 60,
      target: { instanceId: INSTANCE },
      content: { source: { sourceType: 'TEXT', text: 'echo hi' }, output: options.output ?? { outputType: 'TEXT' } },
    },
  });
  return created.doc;
}

const report = (w: World, commandId: string, event: AgentReportEvent, session = 'session-1') =>
  applyAgentReport(w.deps, agent, { callbackId: `cb-${event.type}`, agentSessionId: session, instanceAgentCommandId: commandId, event });

const sweepAt = (w: World, overrides: Partial<SweepInput> = {}): Promise<SweepResult> =>
  sweep(w.deps, { nowMs: w.clock.now, policy: DEFAULT_SWEEP_POLICY, maxDeletions: 1000, maxExamined: 10_000, ...overrides });

const execution = async (w: World, commandId: string) =>
  (await readDoc<ExecutionRecord>(w.store, executionKey(commandId, INSTANCE)))?.doc;

async function allKeys(store: ObjectStore): Promise<string[]> {
  const keys: string[] = [];
  let start: string | undefined;
  do {
    const page = await store.list({ limit: 1000, ...(start ? { start } : {}) });
    keys.push(...page.objects.map((o) => o.key));
    start = page.nextStartWith;
  } while (start);
  return keys;
}

const listQuery = { compartmentId: COMPARTMENT, limit: 100, sortBy: 'TIMECREATED', sortOrder: 'ASC' } as const;

async function expectNotFound(p: Promise<unknown>): Promise<void> {
  await expect(p).rejects.toMatchObject({ code: 'NotAuthorizedOrNotFound' });
}

function sum(results: SweepResult[], kind: keyof SweepCounts): number {
  return results.reduce((total, r) => total + r.counts[kind], 0);
}

/** Sweeps with the given bounds until done; returns every call's result. */
async function sweepToCompletion(w: World, bounds: Partial<SweepInput>, from?: string): Promise<SweepResult[]> {
  const results: SweepResult[] = [];
  let continuation = from;
  do {
    const r = await sweepAt(w, { ...bounds, ...(continuation ? { continuation } : {}) });
    results.push(r);
    continuation = r.continuation;
    if (results.length > 100) throw new Error('the sweep never finished');
  } while (continuation);
  return results;
}

describe('sweep', () => {
  describe('retention', () => {
    it('deletes a TEXT command 7 days and 1 minute old and keeps one 6 days 23 hours old', async () => {
      const w = world();
      const old = await create(w, { displayName: 'old' });
      w.advance(HOUR + MIN);
      const young = await create(w, { displayName: 'young' });
      w.advance(7 * DAY + MIN - (HOUR + MIN));
      const before = await allKeys(w.store);

      const result = await sweepAt(w);

      expect(result).toMatchObject({ done: true, counts: { commandsDeleted: 1, executionsDeleted: 1 } });
      expect(result.continuation).toBeUndefined();
      await expectNotFound(getCommand(w.deps, user, old.id));
      await expectNotFound(getExecution(w.deps, user, old.id, INSTANCE));
      expect((await listCommands(w.deps, user, listQuery)).items.map((c) => c.id)).toEqual([young.id]);
      expect((await listExecutions(w.deps, user, { ...listQuery, instanceId: INSTANCE })).items.map((e) => e.instanceAgentCommandId)).toEqual([
        young.id,
      ]);
      expect((await getCommand(w.deps, user, young.id)).doc.displayName).toBe('young');
      // Nothing of the old command is left behind: documents, indexes, the open entry.
      const after = await allKeys(w.store);
      expect(after.filter((k) => k.includes(old.id))).toEqual([]);
      // Its two documents, its indexes, and its open entry (dropped when its delivery expired in the same sweep).
      expect(result.counts.expired).toBe(2);
      expect(before.filter((k) => k.includes(old.id)).length).toBe(2 + result.counts.indexEntriesDeleted + 1);
    });

    it('keeps the records of a command whose output goes to Object Storage, and stops revisiting it', async () => {
      const w = world();
      const bucketOutput: CommandOutput = { outputType: 'OBJECT_STORAGE_URI', outputUri: 'https://objectstorage.example/n/ns/b/user-bucket/o/out' };
      const kept = await create(w, { output: bucketOutput });
      w.advance(8 * DAY);

      const first = await sweepAt(w);
      const second = await sweepAt(w);

      expect(first.counts).toMatchObject({ objectStorageCommandsKept: 1, commandsDeleted: 0, executionsDeleted: 0 });
      expect((await getCommand(w.deps, user, kept.id)).doc.content.output).toEqual(bucketOutput);
      expect((await getExecution(w.deps, user, kept.id, INSTANCE)).doc.output).toEqual(bucketOutput);
      expect((await listCommands(w.deps, user, listQuery)).items.map((c) => c.id)).toEqual([kept.id]);
      expect(second.examined).toBe(0);
    });

    it('finishes a purge that stopped after deleting the command document', async () => {
      const w = world();
      const c = await create(w);
      w.advance(8 * DAY);
      await sweepAt(w);
      // As if a crash had left only the sweep's own marker (idx/all) behind.
      await w.store.put(allCommandsKey(c), '');

      const result = await sweepAt(w);

      expect(result.counts).toMatchObject({ indexEntriesDeleted: 1, commandsDeleted: 0 });
      expect(await allKeys(w.store)).toEqual([]);
    });
  });

  describe('delivery expiry', () => {
    it('expires an execution still VISIBLE after the delivery window, and not before', async () => {
      const w = world();
      const c = await create(w);
      w.advance(DEFAULT_SWEEP_POLICY.deliveryWindowMs);
      expect((await sweepAt(w)).counts.expired).toBe(0);
      expect((await execution(w, c.id))?.deliveryState).toBe('VISIBLE');

      w.advance(1);
      const result = await sweepAt(w);

      expect(result.counts.expired).toBe(1);
      expect(await execution(w, c.id)).toMatchObject({ deliveryState: 'EXPIRED', lifecycleState: 'ACCEPTED' });
      expect(w.store.count('idx/open/')).toBe(0);
    });

    it('reads an execution it expires once', async () => {
      const w = world();
      const c = await create(w);
      w.advance(DEFAULT_SWEEP_POLICY.deliveryWindowMs + 1);
      const { store, reads } = recordingReads(w.store);
      const result = await sweep({ ...w.deps, state: store }, { nowMs: w.clock.now, policy: DEFAULT_SWEEP_POLICY, maxDeletions: 1000, maxExamined: 10_000 });
      expect(result.counts.expired).toBe(1);
      expect(reads.filter((key) => key === executionKey(c.id, INSTANCE))).toHaveLength(1);
    });

    it('expires a PENDING execution, which the agent can then no longer take, and cancel leaves it alone', async () => {
      const w = world();
      const c = await create(w);
      await report(w, c.id, { type: 'RECEIVE' });
      w.advance(DEFAULT_SWEEP_POLICY.deliveryWindowMs + 1);
      await sweepAt(w);

      await expect(report(w, c.id, { type: 'ACK' })).rejects.toMatchObject({ code: 'IncorrectState' });
      await cancelCommand(w.deps, { principal: user, commandId: c.id });
      expect(await execution(w, c.id)).toMatchObject({ deliveryState: 'EXPIRED', lifecycleState: 'ACCEPTED' });
      expect((await getCommand(w.deps, user, c.id)).doc.isCanceled).toBe(false);
    });

    it('publishes the expiry on the execution-events stream', async () => {
      const w = world();
      const c = await create(w);
      w.advance(2 * HOUR);
      await sweepAt(w);
      const published = w.streams.messages(EVENTS_STREAM).map((m) => JSON.parse(m.value.toString()) as { execution: { deliveryState: string; instanceAgentCommandId: string } });
      expect(published.at(-1)?.execution).toMatchObject({ instanceAgentCommandId: c.id, deliveryState: 'EXPIRED' });
    });
  });

  describe('deadlines', () => {
    it('times out a started execution whose agent went silent past timeout plus grace, with a message', async () => {
      const w = world();
      const c = await create(w, { timeoutSec: 5 });
      await report(w, c.id, { type: 'ACK' });
      await report(w, c.id, { type: 'START' });
      w.advance(5 * SEC + DEFAULT_SWEEP_POLICY.graceMs - 1);
      expect((await sweepAt(w)).counts.timedOut).toBe(0);
      expect((await execution(w, c.id))?.lifecycleState).toBe('IN_PROGRESS');

      w.advance(1);
      const result = await sweepAt(w);

      expect(result.counts.timedOut).toBe(1);
      const e = await execution(w, c.id);
      expect(e).toMatchObject({ lifecycleState: 'TIMED_OUT', deliveryState: 'ACKED' });
      expect(e?.message).toBe(
        'The agent stopped reporting: no result within the timeout of 5 s plus a grace period of 60 s; the command may still have run.',
      );
      // The agent, should it come back, is asked to stop whatever may still run.
      const toAgent = w.streams.messages(INSTANCE_STREAM).map((m) => (JSON.parse(m.value.toString()) as { type: string }).type);
      expect(toAgent).toEqual(['command.issued', 'command.cancel-requested']);
    });

    it('ignores a late FINISH after the deadline and logs it', async () => {
      const w = world();
      const c = await create(w, { timeoutSec: 5 });
      await report(w, c.id, { type: 'ACK' });
      await report(w, c.id, { type: 'START' });
      w.advance(2 * MIN);
      await sweepAt(w);
      const timedOut = await execution(w, c.id);

      const late = await report(w, c.id, { type: 'FINISH', outcome: 'SUCCEEDED', exitCode: 0, text: 'done' });

      expect(late).toMatchObject({ changed: false, lifecycleState: 'TIMED_OUT', run: false });
      expect(await execution(w, c.id)).toEqual(timedOut);
      expect(w.warnings).toContain('late agent report ignored: the execution is already terminal');
    });

    it('times out an acked execution that never started within the start window', async () => {
      const w = world();
      const c = await create(w, { timeoutSec: 3600 });
      await report(w, c.id, { type: 'ACK' });
      w.advance(DEFAULT_SWEEP_POLICY.startWindowMs);

      const result = await sweepAt(w);

      expect(result.counts.timedOut).toBe(1);
      expect((await execution(w, c.id))?.message).toMatch(/^The agent stopped reporting: it acknowledged the command but did not report its start within 300 s/);
    });

    it('leaves a command reserved for an agent that never reports on it queued, and expires it after the delivery window (CANCELED if a cancel was asked)', async () => {
      const w = world();
      // The instance's agent session reported a moment ago, so the next commands are reserved for it.
      const first = await create(w);
      await report(w, first.id, { type: 'ACK' });
      await report(w, first.id, { type: 'FINISH', outcome: 'SUCCEEDED', exitCode: 0 });
      const waiting = await create(w, { timeoutSec: 3600 });
      const canceled = await create(w, { timeoutSec: 3600 });
      expect((await execution(w, waiting.id))?.reservedFor).toBe('session-1');
      await cancelCommand(w.deps, { principal: user, commandId: canceled.id });
      expect(await execution(w, canceled.id)).toMatchObject({ lifecycleState: 'ACCEPTED', cancelRequested: true });

      w.advance(DEFAULT_SWEEP_POLICY.startWindowMs + MIN);
      expect((await sweepAt(w)).counts).toMatchObject({ timedOut: 0, expired: 0 });
      w.advance(DEFAULT_SWEEP_POLICY.deliveryWindowMs);
      expect((await sweepAt(w)).counts).toMatchObject({ timedOut: 0, expired: 2 });
      expect(await execution(w, waiting.id)).toMatchObject({ lifecycleState: 'ACCEPTED', deliveryState: 'EXPIRED' });
      expect(await execution(w, canceled.id)).toMatchObject({ lifecycleState: 'CANCELED', deliveryState: 'VISIBLE' });
    });

    it('uses the one-day cap for a command without a timeout', async () => {
      const w = world();
      const c = await create(w, { timeoutSec: 0 });
      await report(w, c.id, { type: 'ACK' });
      await report(w, c.id, { type: 'START' });
      w.advance(DAY);
      expect((await sweepAt(w)).counts.timedOut).toBe(0);
      w.advance(DEFAULT_SWEEP_POLICY.graceMs);
      expect((await sweepAt(w)).counts.timedOut).toBe(1);
      expect((await execution(w, c.id))?.message).toContain('timeout of 86400 s');
    });

    it('leaves a running execution alone while its agent may still report', async () => {
      const w = world();
      const c = await create(w, { timeoutSec: 3 * 3600 });
      await report(w, c.id, { type: 'ACK' });
      await report(w, c.id, { type: 'START' });
      // Older than the delivery window, but acked: only its own deadline applies.
      w.advance(2 * HOUR);
      const result = await sweepAt(w);
      expect(result.counts).toMatchObject({ timedOut: 0, expired: 0 });
      expect(result.examined).toBe(1);
      expect((await execution(w, c.id))?.lifecycleState).toBe('IN_PROGRESS');
    });
  });

  describe('open-execution entries', () => {
    it('drops an entry whose execution is already terminal or gone', async () => {
      const w = world();
      const finished = await create(w);
      await report(w, finished.id, { type: 'ACK' });
      await report(w, finished.id, { type: 'FINISH', outcome: 'SUCCEEDED', exitCode: 0 });
      // Leftovers, as a crash between the transition and the index delete would leave them.
      await w.store.put(openExecutionKey(finished, INSTANCE), '');
      await w.store.put(openExecutionKey({ id: 'ocid1.instanceagentcommand.oc1..gone', timeCreated: finished.timeCreated, sequenceNumber: 1 }, INSTANCE), '');

      const result = await sweepAt(w);

      expect(result.counts.staleOpenEntries).toBe(2);
      expect(w.store.count('idx/open/')).toBe(0);
      expect((await execution(w, finished.id))?.lifecycleState).toBe('SUCCEEDED');
    });
  });

  describe('bounds', () => {
    it('honours maxDeletions and resumes from its continuation to completion', async () => {
      const w = world();
      for (let i = 0; i < 10; i++) await create(w);
      w.advance(8 * DAY);

      const results = await sweepToCompletion(w, { maxDeletions: 3 });

      expect(results.map((r) => r.counts.commandsDeleted)).toEqual([3, 3, 3, 1]);
      expect(results.slice(0, -1).every((r) => r.stoppedBy === 'maxDeletions' && r.done === false)).toBe(true);
      expect(results.at(-1)?.done).toBe(true);
      expect(sum(results, 'expired')).toBe(10);
      expect(await allKeys(w.store)).toEqual([]);
    });

    it('honours maxExamined', async () => {
      const w = world();
      for (let i = 0; i < 5; i++) await create(w);
      w.advance(30 * MIN);

      const results = await sweepToCompletion(w, { maxExamined: 2 });

      expect(results.map((r) => r.examined)).toEqual([2, 2, 1]);
      expect(results[0]).toMatchObject({ stoppedBy: 'maxExamined', done: false });
    });

    it('gives URL-safe continuations', async () => {
      const w = world();
      for (let i = 0; i < 3; i++) await create(w);
      w.advance(8 * DAY);
      const { continuation } = await sweepAt(w, { maxDeletions: 1 });
      expect(continuation).toMatch(/^[A-Za-z0-9_-]+$/);
    });

    it('stops when its signal aborts and resumes where it stopped', async () => {
      const w = world();
      for (let i = 0; i < 40; i++) await create(w);
      w.advance(8 * DAY);
      const controller = new AbortController();
      const state = w.deps.state;
      const abortingStore: ObjectStore = {
        get: (k) => state.get(k),
        head: (k) => state.head(k),
        put: (k, b, o) => state.put(k, b, o),
        list: (o) => state.list(o),
        delete: async (k, o) => {
          // The invocation deadline passes during the first purge.
          if (k.startsWith('commands/')) controller.abort();
          return state.delete(k, o);
        },
      };

      const first = await sweep({ ...w.deps, state: abortingStore }, {
        nowMs: w.clock.now,
        policy: DEFAULT_SWEEP_POLICY,
        maxDeletions: 1000,
        maxExamined: 10_000,
        signal: controller.signal,
      });
      expect(first).toMatchObject({ done: false, stoppedBy: 'signal' });
      expect(first.counts.commandsDeleted).toBeGreaterThan(0);
      expect(first.counts.commandsDeleted).toBeLessThan(40);

      const rest = await sweepToCompletion(w, {}, first.continuation);
      expect(rest.at(-1)?.done).toBe(true);
      expect(first.counts.commandsDeleted + sum(rest, 'commandsDeleted')).toBe(40);
      expect(await allKeys(w.store)).toEqual([]);
    });

    it('refuses a continuation it did not make, naming the parameter', async () => {
      const w = world();
      await expect(sweepAt(w, { continuation: 'not-a-token' })).rejects.toThrow(/'continuation'/);
      const foreign = Buffer.from(JSON.stringify({ v: 1, p: 'all', k: 'commands/x' })).toString('base64url');
      await expect(sweepAt(w, { continuation: foreign })).rejects.toBeInstanceOf(ServiceError);
    });
  });

  describe('concurrency', () => {
    it('runs twice at once without error and counts every record exactly once', async () => {
      const w = world();
      const total = 40;
      for (let i = 0; i < total; i++) await create(w);
      w.advance(8 * DAY);

      const results = await Promise.all([sweepAt(w), sweepAt(w)]);

      expect(sum(results, 'commandsDeleted')).toBe(total);
      expect(sum(results, 'executionsDeleted')).toBe(total);
      expect(sum(results, 'expired')).toBe(total);
      expect(await allKeys(w.store)).toEqual([]);
    });

    it('times out a silent execution once when two sweeps race', async () => {
      const w = world();
      const c = await create(w, { timeoutSec: 5 });
      await report(w, c.id, { type: 'ACK' });
      await report(w, c.id, { type: 'START' });
      w.advance(10 * MIN);

      const results = await Promise.all([sweepAt(w), sweepAt(w), sweepAt(w)]);

      expect(sum(results, 'timedOut')).toBe(1);
      const cancels = w.streams.messages(INSTANCE_STREAM).filter((m) => m.value.toString().includes('command.cancel-requested'));
      expect(cancels).toHaveLength(1);
    });
  });
});

describe('parseSweepRequest', () => {
  it('uses the documented defaults for an empty body', () => {
    expect(parseSweepRequest(undefined)).toEqual({
      policy: { deliveryWindowMs: HOUR, graceMs: 60 * SEC, startWindowMs: 5 * MIN, maxRunMs: DAY, textRetentionMs: 7 * DAY },
      maxDeletions: 1000,
      maxExamined: 5000,
    });
    expect(parseSweepRequest({})).toEqual(parseSweepRequest(undefined));
  });

  it('takes overrides in seconds and days', () => {
    const r = parseSweepRequest({ deliveryWindowSec: 2, graceSec: 0, startWindowSec: 3, maxRunSec: 4, textRetentionDays: 30, maxDeletions: 5, maxExamined: 6, continuation: 'abc' });
    expect(r).toEqual({
      policy: { deliveryWindowMs: 2 * SEC, graceMs: 0, startWindowMs: 3 * SEC, maxRunMs: 4 * SEC, textRetentionMs: 30 * DAY },
      maxDeletions: 5,
      maxExamined: 6,
      continuation: 'abc',
    });
    expect(parseSweepRequest({ textRetentionSec: 90 }).policy.textRetentionMs).toBe(90 * SEC);
  });

  it.each([
    [{ maxDeletions: 0 }, 'maxDeletions'],
    [{ maxExamined: 1.5 }, 'maxExamined'],
    [{ deliveryWindowSec: '60' }, 'deliveryWindowSec'],
    [{ graceSec: -1 }, 'graceSec'],
    [{ continuation: 7 }, 'continuation'],
    [{ textRetentionDays: 1, textRetentionSec: 60 }, 'textRetentionSec'],
    [{ retentionDays: 7 }, 'retentionDays'],
  ])('refuses %j, naming the field', (body, field) => {
    expect(() => parseSweepRequest(body)).toThrow(new RegExp(`'${field}'`));
  });

  it('refuses a body that is not an object', () => {
    expect(() => parseSweepRequest([1])).toThrow(ServiceError);
  });
});
