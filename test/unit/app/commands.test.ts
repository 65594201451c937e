import { applyAgentReport } from '../../../shared/app/agent-report';
import { cancelCommand } from '../../../shared/app/cancel-command';
import { createCommand } from '../../../shared/app/create-command';
import { readDoc } from '../../../shared/app/documents';
import { OPEN_EXECUTIONS_PREFIX, agentSessionKey, commandKey, executionKey } from '../../../shared/app/layout';
import { getCommand, getExecution, listCommands, listExecutions } from '../../../shared/app/query-commands';
import type { AgentReportEvent } from '../../../shared/domain/agent-report';
import { toWireExecution, type CommandSpec, type ExecutionRecord } from '../../../shared/domain/model';
import { ServiceError } from '../../../shared/domain/errors';
import { rejection } from '../../support/errors';
import { T0, fakeWorld, publishedOn, recordingReads, type FakeWorld } from '../../support/service-fakes';

let w: FakeWorld;

beforeEach(async () => {
  w = await fakeWorld();
});

const spec = (overrides: Partial<CommandSpec> = {}): CommandSpec => ({
  compartmentId: w.compartmentId,
  executionTimeOutInSeconds: 60,
  displayName: 'job',
  target: { instanceId: w.instanceId },
  content: { source: { sourceType: 'TEXT', text: 'echo hi' }, output: { outputType: 'TEXT' } },
  ...overrides,
});

const report = (commandId: string, event: AgentReportEvent, agentSessionId = 'session-a') =>
  applyAgentReport(w.deps, w.instance, { callbackId: `cb-${Math.random()}`, agentSessionId, instanceAgentCommandId: commandId, event });

describe('createCommand', () => {
  it('persists the command and an ACCEPTED/VISIBLE execution, readable at once, and issues it on the instance stream', async () => {
    const { doc, etag } = await createCommand(w.deps, { principal: w.admin, spec: spec() });
    expect(etag).toBeTruthy();
    expect(doc).toMatchObject({ compartmentId: w.compartmentId, isCanceled: false, timeCreated: new Date(T0).toISOString() });
    expect((await getCommand(w.deps, w.admin, doc.id)).doc).toEqual(doc);
    expect((await getExecution(w.deps, w.admin, doc.id, w.instanceId)).doc).toMatchObject({
      lifecycleState: 'ACCEPTED',
      deliveryState: 'VISIBLE',
      sequenceNumber: doc.sequenceNumber,
    });
    expect(publishedOn(w, w.instanceStreamId)).toEqual([
      expect.objectContaining({ type: 'command.issued', instanceAgentCommandId: doc.id, content: spec().content }),
    ]);
    // Tracked as open for the sweeps.
    expect(await w.state.list({ prefix: OPEN_EXECUTIONS_PREFIX, limit: 10 })).toMatchObject({ objects: [expect.anything()] });
  });

  it('returns the same command for a replayed retry token without issuing it twice, and refuses the token with another body', async () => {
    const first = await createCommand(w.deps, { principal: w.admin, spec: spec(), retryToken: 'tok' });
    const again = await createCommand(w.deps, { principal: w.admin, spec: spec(), retryToken: 'tok' });
    expect(again.doc.id).toBe(first.doc.id);
    // The execution is still VISIBLE, so the replay re-publishes (agents drop duplicates by command id).
    expect(publishedOn(w, w.instanceStreamId).every((m) => m.instanceAgentCommandId === first.doc.id)).toBe(true);
    const e = await rejection(createCommand(w.deps, { principal: w.admin, spec: spec({ displayName: 'other' }), retryToken: 'tok' }));
    expect(e.code).toBe('InvalidatedRetryToken');
  });

  it('does not re-issue a replayed create whose execution already started', async () => {
    const first = await createCommand(w.deps, { principal: w.admin, spec: spec(), retryToken: 'tok' });
    await report(first.doc.id, { type: 'ACK' });
    const before = publishedOn(w, w.instanceStreamId).length;
    await createCommand(w.deps, { principal: w.admin, spec: spec(), retryToken: 'tok' });
    expect(publishedOn(w, w.instanceStreamId)).toHaveLength(before);
  });

  it('treats a retry token older than 24 hours as new', async () => {
    const first = await createCommand(w.deps, { principal: w.admin, spec: spec(), retryToken: 'tok' });
    w.advance(24 * 3600_000 + 1);
    const later = await createCommand(w.deps, { principal: w.admin, spec: spec({ displayName: 'new body is fine' }), retryToken: 'tok' });
    expect(later.doc.id).not.toBe(first.doc.id);
  });

  it('keeps retry tokens apart per principal', async () => {
    const other = await w.addUser('ocid1.user.oc1..other', [w.compartmentId]);
    const a = await createCommand(w.deps, { principal: w.admin, spec: spec(), retryToken: 'tok' });
    const b = await createCommand(w.deps, { principal: other, spec: spec({ displayName: 'b' }), retryToken: 'tok' });
    expect(b.doc.id).not.toBe(a.doc.id);
  });

  it('refuses a compartment the user may not use (404) and an unknown target instance (400)', async () => {
    const limited = await w.addUser('ocid1.user.oc1..limited', ['ocid1.compartment.oc1..elsewhere']);
    expect((await rejection(createCommand(w.deps, { principal: limited, spec: spec() }))).code).toBe('NotAuthorizedOrNotFound');
    const unknown = spec({ target: { instanceId: 'ocid1.instance.oc1..ghost' } });
    expect((await rejection(createCommand(w.deps, { principal: w.admin, spec: unknown }))).code).toBe('RelatedResourceNotAuthorizedOrNotFound');
  });

  it('survives a create whose first attempt stopped after the command document: the replay finishes it', async () => {
    const first = await createCommand(w.deps, { principal: w.admin, spec: spec(), retryToken: 'tok' });
    // Simulate a crash after the command document: remove everything else the first attempt wrote.
    const all = await w.state.list({ prefix: '', limit: 1000 });
    for (const o of all.objects) if (o.key !== commandKey(first.doc.id)) await w.state.delete(o.key);
    await createCommand(w.deps, { principal: w.admin, spec: spec(), retryToken: 'tok' });
    expect((await getExecution(w.deps, w.admin, first.doc.id, w.instanceId)).doc.deliveryState).toBe('VISIBLE');
    const page = await listCommands(w.deps, w.admin, { compartmentId: w.compartmentId, limit: 10, sortBy: 'TIMECREATED', sortOrder: 'ASC' });
    expect(page.items.map((c) => c.id)).toEqual([first.doc.id]);
  });
});

describe('listCommands and listExecutions', () => {
  it('pages in creation order with keyset tokens and no duplicates across pages while commands are added', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) {
      ids.push((await createCommand(w.deps, { principal: w.admin, spec: spec({ displayName: `n${i}` }) })).doc.id);
      w.advance(1);
    }
    const first = await listCommands(w.deps, w.admin, { compartmentId: w.compartmentId, limit: 3, sortBy: 'TIMECREATED', sortOrder: 'ASC' });
    expect(first.items.map((c) => c.id)).toEqual(ids.slice(0, 3));
    // A command created between pages sorts last and does not shift the next page.
    await createCommand(w.deps, { principal: w.admin, spec: spec({ displayName: 'late' }) });
    const second = await listCommands(w.deps, w.admin, { compartmentId: w.compartmentId, limit: 3, sortBy: 'TIMECREATED', sortOrder: 'ASC', page: first.nextPage as string });
    expect(second.items.map((c) => c.id)).toEqual(ids.slice(3, 6));
  });

  it('sorts display names by bytes, case-sensitively, both ways, with names sharing a prefix in order', async () => {
    for (const name of ['b', 'ab', 'B', 'abc', 'a']) await createCommand(w.deps, { principal: w.admin, spec: spec({ displayName: name }) });
    const asc = await listCommands(w.deps, w.admin, { compartmentId: w.compartmentId, limit: 10, sortBy: 'DISPLAYNAME', sortOrder: 'ASC' });
    expect(asc.items.map((c) => c.displayName)).toEqual(['B', 'a', 'ab', 'abc', 'b']);
    const desc = await listCommands(w.deps, w.admin, { compartmentId: w.compartmentId, limit: 10, sortBy: 'DISPLAYNAME', sortOrder: 'DESC' });
    expect(desc.items.map((c) => c.displayName)).toEqual(['b', 'abc', 'ab', 'a', 'B']);
  });

  it('reads the documents of the page only: not the last entry of the previous page, nor the one past the page', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) {
      ids.push((await createCommand(w.deps, { principal: w.admin, spec: spec() })).doc.id);
      w.advance(1);
    }
    const { store, reads } = recordingReads(w.state);
    const counting = { ...w.deps, state: store };
    const q = { compartmentId: w.compartmentId, limit: 3, sortBy: 'TIMECREATED' as const, sortOrder: 'ASC' as const };
    const pages: string[][] = [];
    let page: string | undefined;
    do {
      reads.length = 0;
      const result = await listCommands(counting, w.admin, { ...q, ...(page ? { page } : {}) });
      pages.push(result.items.map((c) => c.id));
      expect(reads).toEqual(result.items.map((c) => commandKey(c.id)));
      page = result.nextPage;
    } while (page);
    expect(pages).toEqual([ids.slice(0, 3), ids.slice(3, 6), ids.slice(6)]);
  });

  it('refuses a page token from another list', async () => {
    for (let i = 0; i < 3; i++) await createCommand(w.deps, { principal: w.admin, spec: spec() });
    const page = await listCommands(w.deps, w.admin, { compartmentId: w.compartmentId, limit: 1, sortBy: 'TIMECREATED', sortOrder: 'ASC' });
    const e = await rejection(
      listCommands(w.deps, w.admin, { compartmentId: w.compartmentId, limit: 1, sortBy: 'DISPLAYNAME', sortOrder: 'ASC', page: page.nextPage as string }),
    );
    expect(e.code).toBe('InvalidParameter');
  });

  it('filters executions by lifecycle state', async () => {
    const a = await createCommand(w.deps, { principal: w.admin, spec: spec() });
    const b = await createCommand(w.deps, { principal: w.admin, spec: spec() });
    await cancelCommand(w.deps, { principal: w.admin, commandId: b.doc.id });
    const q = { compartmentId: w.compartmentId, instanceId: w.instanceId, limit: 10, sortBy: 'TIMECREATED' as const, sortOrder: 'ASC' as const };
    expect((await listExecutions(w.deps, w.admin, { ...q, lifecycleState: 'ACCEPTED' })).items.map((e) => e.instanceAgentCommandId)).toEqual([a.doc.id]);
    expect((await listExecutions(w.deps, w.admin, { ...q, lifecycleState: 'CANCELED' })).items.map((e) => e.instanceAgentCommandId)).toEqual([b.doc.id]);
  });
});

describe('cancelCommand', () => {
  it('cancels a queued execution without the agent', async () => {
    const { doc } = await createCommand(w.deps, { principal: w.admin, spec: spec() });
    await cancelCommand(w.deps, { principal: w.admin, commandId: doc.id });
    expect((await getCommand(w.deps, w.admin, doc.id)).doc.isCanceled).toBe(true);
    expect((await getExecution(w.deps, w.admin, doc.id, w.instanceId)).doc.lifecycleState).toBe('CANCELED');
    expect(publishedOn(w, w.instanceStreamId).map((m) => m.type)).toEqual(['command.issued']);
    // The agent's later ack learns it must not run.
    expect(await report(doc.id, { type: 'ACK' })).toMatchObject({ deliveryState: 'ACKED_CANCELED', run: false });
  });

  it('asks the agent to stop a running execution through the instance stream', async () => {
    const { doc } = await createCommand(w.deps, { principal: w.admin, spec: spec() });
    await report(doc.id, { type: 'ACK' });
    await report(doc.id, { type: 'START' });
    await cancelCommand(w.deps, { principal: w.admin, commandId: doc.id });
    expect((await getExecution(w.deps, w.admin, doc.id, w.instanceId)).doc.lifecycleState).toBe('IN_PROGRESS');
    expect(publishedOn(w, w.instanceStreamId).map((m) => m.type)).toEqual(['command.issued', 'command.cancel-requested']);
  });

  it('leaves a finished command unchanged and still succeeds', async () => {
    const { doc } = await createCommand(w.deps, { principal: w.admin, spec: spec() });
    await report(doc.id, { type: 'ACK' });
    await report(doc.id, { type: 'FINISH', outcome: 'SUCCEEDED', exitCode: 0 });
    const before = await getCommand(w.deps, w.admin, doc.id);
    await cancelCommand(w.deps, { principal: w.admin, commandId: doc.id });
    expect(await getCommand(w.deps, w.admin, doc.id)).toEqual(before);
  });

  it('reads the command and its execution once each', async () => {
    const { doc } = await createCommand(w.deps, { principal: w.admin, spec: spec() });
    const { store, reads } = recordingReads(w.state);
    await cancelCommand({ ...w.deps, state: store }, { principal: w.admin, commandId: doc.id });
    expect((await getExecution(w.deps, w.admin, doc.id, w.instanceId)).doc.lifecycleState).toBe('CANCELED');
    expect(reads.sort()).toEqual([commandKey(doc.id), executionKey(doc.id, w.instanceId)].sort());
  });

  it('refuses a stale if-match with 412 NoEtagMatch', async () => {
    const { doc, etag } = await createCommand(w.deps, { principal: w.admin, spec: spec() });
    expect((await rejection(cancelCommand(w.deps, { principal: w.admin, commandId: doc.id, ifMatch: 'stale' }))).code).toBe('NoEtagMatch');
    await cancelCommand(w.deps, { principal: w.admin, commandId: doc.id, ifMatch: etag });
  });

  it('races with an agent finish without losing either update', async () => {
    const { doc } = await createCommand(w.deps, { principal: w.admin, spec: spec() });
    await report(doc.id, { type: 'ACK' });
    await Promise.all([
      cancelCommand(w.deps, { principal: w.admin, commandId: doc.id }),
      report(doc.id, { type: 'FINISH', outcome: 'SUCCEEDED', exitCode: 0 }),
    ]);
    expect((await getExecution(w.deps, w.admin, doc.id, w.instanceId)).doc.lifecycleState).toBe('SUCCEEDED');
  });
});

describe('applyAgentReport', () => {
  it('lets exactly one of two racing agent sessions win the ack', async () => {
    const { doc } = await createCommand(w.deps, { principal: w.admin, spec: spec() });
    const results = await Promise.allSettled([report(doc.id, { type: 'ACK' }, 'a'), report(doc.id, { type: 'ACK' }, 'b')]);
    const runs = results.filter((r) => r.status === 'fulfilled' && r.value.run);
    const conflicts = results.filter((r) => r.status === 'rejected' && (r.reason as ServiceError).code === 'Conflict');
    expect([runs.length, conflicts.length]).toEqual([1, 1]);
  });

  it('answers a retried ack from the winning session with run: true again', async () => {
    const { doc } = await createCommand(w.deps, { principal: w.admin, spec: spec() });
    expect(await report(doc.id, { type: 'ACK' })).toMatchObject({ run: true, changed: true });
    expect(await report(doc.id, { type: 'ACK' })).toMatchObject({ run: true, changed: false });
  });

  it('never changes a terminal state on a duplicate or late report, and logs the late one', async () => {
    const { doc } = await createCommand(w.deps, { principal: w.admin, spec: spec() });
    await report(doc.id, { type: 'ACK' });
    await report(doc.id, { type: 'FINISH', outcome: 'FAILED', exitCode: 3, text: 'x' });
    expect(await report(doc.id, { type: 'FINISH', outcome: 'SUCCEEDED', exitCode: 0 })).toMatchObject({ lifecycleState: 'FAILED', changed: false, run: false });
    expect((await getExecution(w.deps, w.admin, doc.id, w.instanceId)).doc).toMatchObject({ exitCode: 3, text: 'x' });
    expect(w.logs.some((l) => l.message.startsWith('late agent report'))).toBe(true);
  });

  it('refuses reports from another instance and from users with 404', async () => {
    const { doc } = await createCommand(w.deps, { principal: w.admin, spec: spec() });
    const intruder = await w.addInstance('ocid1.instance.oc1..intruder');
    const ack = { callbackId: 'cb', agentSessionId: 's', instanceAgentCommandId: doc.id, event: { type: 'ACK' as const } };
    expect((await rejection(applyAgentReport(w.deps, intruder, ack))).code).toBe('NotAuthorizedOrNotFound');
    expect((await rejection(applyAgentReport(w.deps, w.admin, ack))).code).toBe('NotAuthorizedOrNotFound');
  });

  it('publishes every change on execution-events and drops the open-execution index at the end', async () => {
    const { doc } = await createCommand(w.deps, { principal: w.admin, spec: spec() });
    await report(doc.id, { type: 'ACK' });
    await report(doc.id, { type: 'START' });
    await report(doc.id, { type: 'FINISH', outcome: 'SUCCEEDED', exitCode: 0 });
    const events = publishedOn(w, 'execution-events') as Array<{ execution: { lifecycleState: string; deliveryState: string } }>;
    expect(events.map((e) => `${e.execution.lifecycleState}/${e.execution.deliveryState}`)).toEqual([
      'ACCEPTED/ACKED',
      'IN_PROGRESS/ACKED',
      'SUCCEEDED/ACKED',
    ]);
    expect((await w.state.list({ prefix: OPEN_EXECUTIONS_PREFIX, limit: 10 })).objects).toEqual([]);
  });
});

describe('reserved delivery', () => {
  const stored = async (id: string) => (await readDoc<ExecutionRecord>(w.state, executionKey(id, w.instanceId)))?.doc;
  const issued = (id: string) => publishedOn(w, w.instanceStreamId).filter((m) => m.type === 'command.issued' && m.instanceAgentCommandId === id);
  /** A command the instance's agent (session-a) finished: from then on the session counts as active. */
  const activeSession = async (session = 'session-a') => {
    const { doc } = await createCommand(w.deps, { principal: w.admin, spec: spec() });
    await report(doc.id, { type: 'ACK' }, session);
    await report(doc.id, { type: 'FINISH', outcome: 'SUCCEEDED', exitCode: 0 }, session);
  };

  it('reserves nothing for an instance whose agent never reported', async () => {
    const { doc } = await createCommand(w.deps, { principal: w.admin, spec: spec() });
    expect((await stored(doc.id))?.reservedFor).toBeUndefined();
    expect(issued(doc.id)).toEqual([expect.not.objectContaining({ reservedFor: expect.anything() })]);
  });

  it('reserves a command for the session that reported within 20 s: in its execution and its command.issued, never on the wire', async () => {
    await activeSession();
    w.advance(20_000);
    const { doc } = await createCommand(w.deps, { principal: w.admin, spec: spec() });
    expect(await stored(doc.id)).toMatchObject({ deliveryState: 'VISIBLE', reservedFor: 'session-a' });
    expect(issued(doc.id)).toEqual([expect.objectContaining({ reservedFor: 'session-a' })]);
    const wire = toWireExecution((await getExecution(w.deps, w.admin, doc.id, w.instanceId)).doc);
    expect(wire).toMatchObject({ deliveryState: 'VISIBLE', lifecycleState: 'ACCEPTED' });
    expect(JSON.stringify(wire)).not.toContain('session-a');
  });

  it('reserves nothing once the session has been quiet for more than 20 s', async () => {
    await activeSession();
    w.advance(20_001);
    const { doc } = await createCommand(w.deps, { principal: w.admin, spec: spec() });
    expect((await stored(doc.id))?.reservedFor).toBeUndefined();
  });

  it('reserves nothing for a session record dated more than 20 s ahead, nor for one it cannot read', async () => {
    const record = (body: unknown) =>
      w.state.put(agentSessionKey(w.instanceId), typeof body === 'string' ? body : JSON.stringify(body), { contentType: 'application/json' });
    const reservedFor = async () => (await stored((await createCommand(w.deps, { principal: w.admin, spec: spec() })).doc.id))?.reservedFor;
    const at = (offsetMs: number) => new Date(T0 + offsetMs).toISOString();
    // The clock is at T0: a record written by a process whose clock ran ahead is trusted up to 20 s ahead, no further.
    await record({ schemaVersion: 1, instanceId: w.instanceId, agentSessionId: 'session-a', timeReported: at(20_000) });
    expect(await reservedFor()).toBe('session-a');
    await record({ schemaVersion: 1, instanceId: w.instanceId, agentSessionId: 'session-a', timeReported: at(20_001) });
    expect(await reservedFor()).toBeUndefined();
    for (const bad of ['{not json', { agentSessionId: '', timeReported: at(0) }, { agentSessionId: 'session-a', timeReported: 'yesterday' }, { timeReported: at(0) }]) {
      await record(bad);
      expect(await reservedFor()).toBeUndefined();
    }
  });

  it('follows the session that reported last, and records a session that keeps reporting at most every 5 s', async () => {
    await activeSession('session-a');
    w.advance(20_001); // session-a went quiet, so session-b's command is not reserved for it
    await activeSession('session-b');
    const { doc } = await createCommand(w.deps, { principal: w.admin, spec: spec() });
    expect((await stored(doc.id))?.reservedFor).toBe('session-b');

    const timeReported = async () => JSON.parse((await w.state.get(agentSessionKey(w.instanceId)))?.body.toString() ?? '{}').timeReported as string;
    const recordedAt = await timeReported();
    w.advance(4_000);
    await report(doc.id, { type: 'START' }, 'session-b');
    expect(await timeReported()).toBe(recordedAt);
    w.advance(1_000);
    await report(doc.id, { type: 'FINISH', outcome: 'SUCCEEDED', exitCode: 0 }, 'session-b');
    expect(await timeReported()).toBe(new Date(Date.parse(recordedAt) + 5_000).toISOString());
  });

  it("takes the reserved session's FINISH without an ACK, and refuses another session's ACK", async () => {
    await activeSession();
    const finished = (await createCommand(w.deps, { principal: w.admin, spec: spec() })).doc;
    expect(await report(finished.id, { type: 'FINISH', outcome: 'SUCCEEDED', exitCode: 0 })).toMatchObject({ lifecycleState: 'SUCCEEDED', deliveryState: 'ACKED' });
    const claimed = (await createCommand(w.deps, { principal: w.admin, spec: spec() })).doc;
    expect((await rejection(report(claimed.id, { type: 'ACK' }, 'session-other'))).code).toBe('Conflict');
    expect(await report(claimed.id, { type: 'ACK' })).toMatchObject({ deliveryState: 'ACKED', run: true });
  });

  it('cancels a reserved command through its agent: it stays ACCEPTED until the agent reports, and its ack then learns not to run', async () => {
    await activeSession();
    const { doc } = await createCommand(w.deps, { principal: w.admin, spec: spec() });
    await cancelCommand(w.deps, { principal: w.admin, commandId: doc.id });
    expect((await getCommand(w.deps, w.admin, doc.id)).doc.isCanceled).toBe(true);
    expect((await getExecution(w.deps, w.admin, doc.id, w.instanceId)).doc.lifecycleState).toBe('ACCEPTED');
    expect(publishedOn(w, w.instanceStreamId).filter((m) => m.instanceAgentCommandId === doc.id).map((m) => m.type)).toEqual([
      'command.issued',
      'command.cancel-requested',
    ]);
    expect(await report(doc.id, { type: 'ACK' })).toMatchObject({ lifecycleState: 'CANCELED', deliveryState: 'ACKED_CANCELED', run: false });
  });

  it('re-issues a replayed create with the reservation its first attempt recorded', async () => {
    await activeSession('session-a');
    const first = await createCommand(w.deps, { principal: w.admin, spec: spec(), retryToken: 'tok' });
    w.advance(20_001);
    await activeSession('session-b');
    await createCommand(w.deps, { principal: w.admin, spec: spec(), retryToken: 'tok' });
    expect(issued(first.doc.id).map((m) => m.reservedFor)).toEqual(['session-a', 'session-a']);
  });
});
