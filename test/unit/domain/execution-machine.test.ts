/**
 * The execution state machine against an expected (state × event) matrix written out by hand from the rules in the
 * header of shared/domain/execution-machine.ts and spec oci-run-command-api.md §6 — not derived from the table.
 */
import {
  REACHABLE_STATES,
  RESERVATION_HOLD_MS,
  agentDeadline,
  isReserved,
  transition,
  type DeadlinePolicy,
  type ExecutionEffect,
  type ExecutionEvent,
  type TransitionResult,
} from '../../../shared/domain/execution-machine';
import type { DeliveryState, ExecutionRecord, LifecycleState } from '../../../shared/domain/model';

// ---- fixtures ----

/** The session whose ack won (for acked states), and a competing one. */
const OWNER = 'session-owner';
const OTHER = 'session-other';
const AT = '2026-03-01T10:00:00.000Z';

type StateKey =
  | 'ACCEPTED/VISIBLE'
  | 'ACCEPTED/PENDING'
  | 'ACCEPTED/ACKED'
  | 'IN_PROGRESS/ACKED'
  | 'ACCEPTED/EXPIRED'
  | 'CANCELED/VISIBLE'
  | 'CANCELED/PENDING'
  | 'CANCELED/ACKED_CANCELED'
  | 'SUCCEEDED/ACKED'
  | 'FAILED/ACKED'
  | 'TIMED_OUT/ACKED'
  | 'CANCELED/ACKED';

/** A stored execution in the given state, with the timestamps a real one would have by then. */
function executionIn(key: StateKey): ExecutionRecord {
  const [lifecycleState, deliveryState] = key.split('/') as [LifecycleState, DeliveryState];
  const record: ExecutionRecord = {
    schemaVersion: 1,
    instanceAgentCommandId: 'ocid1.instanceagentcommand.oc1..cmd',
    instanceId: 'ocid1.instance.oc1..inst',
    compartmentId: 'ocid1.compartment.oc1..comp',
    sequenceNumber: 4711,
    executionTimeOutInSeconds: 600,
    output: { outputType: 'TEXT' },
    deliveryState,
    lifecycleState,
    timeCreated: '2026-03-01T09:00:00.000Z',
    timeUpdated: '2026-03-01T09:00:00.000Z',
  };
  if (deliveryState !== 'VISIBLE' && deliveryState !== 'EXPIRED') record.timeReceived = '2026-03-01T09:01:00.000Z';
  if (deliveryState === 'ACKED' || deliveryState === 'ACKED_CANCELED') {
    record.timeAcked = '2026-03-01T09:02:00.000Z';
    record.ackedBy = OWNER;
  }
  if (deliveryState === 'ACKED' && lifecycleState !== 'ACCEPTED') record.timeStarted = '2026-03-01T09:03:00.000Z';
  if (lifecycleState !== 'ACCEPTED' && lifecycleState !== 'IN_PROGRESS') record.timeFinished = '2026-03-01T09:04:00.000Z';
  if (lifecycleState === 'SUCCEEDED') record.exitCode = 0;
  if (lifecycleState === 'FAILED') record.exitCode = 2;
  return record;
}

type EventKey = 'RECEIVE' | 'ACK' | 'START' | 'FINISH' | 'CANCEL' | 'EXPIRE' | 'DEADLINE';
/** Agent events are tried from the owning session and from a competing one (`*`). */
type Column = EventKey | 'RECEIVE*' | 'ACK*' | 'START*' | 'FINISH*';
const COLUMNS: Column[] = ['RECEIVE', 'RECEIVE*', 'ACK', 'ACK*', 'START', 'START*', 'FINISH', 'FINISH*', 'CANCEL', 'EXPIRE', 'DEADLINE'];

function eventFor(column: Column): ExecutionEvent {
  const session = column.endsWith('*') ? OTHER : OWNER;
  switch (column.replace('*', '') as EventKey) {
    case 'RECEIVE':
      return { type: 'RECEIVE', at: AT, agentSessionId: session };
    case 'ACK':
      return { type: 'ACK', at: AT, agentSessionId: session };
    case 'START':
      return { type: 'START', at: AT, agentSessionId: session };
    case 'FINISH':
      return {
        type: 'FINISH',
        at: AT,
        agentSessionId: session,
        outcome: 'SUCCEEDED',
        exitCode: 0,
        message: 'done',
        text: 'hello\n',
        textSha256: 'ab'.repeat(32),
      };
    case 'CANCEL':
      return { type: 'CANCEL', at: AT };
    case 'EXPIRE':
      return { type: 'EXPIRE', at: AT };
    case 'DEADLINE':
      return { type: 'DEADLINE', at: AT, message: 'The agent did not report in time.' };
  }
}

// ---- the expected matrix ----

type Field = 'timeReceived' | 'timeAcked' | 'ackedBy' | 'timeStarted' | 'timeFinished' | 'exitCode' | 'message' | 'text' | 'textSha256';
type EffectTag = 'publish' | 'agentCancel' | 'late';
type Expected =
  | { refuse: 'Conflict' | 'IncorrectState' }
  /** `to` is the next lifecycle/delivery (omitted: unchanged); `set` the fields the event writes (from the event). */
  | { to?: `${LifecycleState}/${DeliveryState}`; set?: Field[]; effects: EffectTag[] };

const noop: Expected = { effects: [] };
const late: Expected = { effects: ['late'] };
const conflict: Expected = { refuse: 'Conflict' };
const incorrect: Expected = { refuse: 'IncorrectState' };
const agentCancel: Expected = { effects: ['agentCancel'] };
const to = (next: `${LifecycleState}/${DeliveryState}`, set: Field[], effects: EffectTag[] = ['publish']): Expected => ({
  to: next,
  set,
  effects,
});

const RECEIVED: Field[] = ['timeReceived'];
const ACKED: Field[] = ['timeAcked', 'ackedBy'];
const STARTED: Field[] = ['timeStarted'];
const FINISHED: Field[] = ['timeFinished', 'exitCode', 'message', 'text', 'textSha256'];
const TIMED_OUT: Field[] = ['timeFinished', 'message'];

/** Terminal and acked: nothing changes; only the owner's ACK is answered, agent reports are late. */
const terminalAcked: Record<Column, Expected> = {
  RECEIVE: noop, 'RECEIVE*': noop,
  ACK: noop, 'ACK*': conflict,
  START: late, 'START*': late,
  FINISH: late, 'FINISH*': late,
  CANCEL: noop, EXPIRE: noop, DEADLINE: noop,
};

const MATRIX: Record<StateKey, Record<Column, Expected>> = {
  'ACCEPTED/VISIBLE': {
    RECEIVE: to('ACCEPTED/PENDING', RECEIVED), 'RECEIVE*': to('ACCEPTED/PENDING', RECEIVED),
    // An agent may ack straight from the stream without a separate receive.
    ACK: to('ACCEPTED/ACKED', ACKED), 'ACK*': to('ACCEPTED/ACKED', ACKED),
    START: incorrect, 'START*': incorrect,
    FINISH: incorrect, 'FINISH*': incorrect,
    CANCEL: to('CANCELED/VISIBLE', ['timeFinished']),
    EXPIRE: to('ACCEPTED/EXPIRED', []),
    DEADLINE: noop,
  },
  'ACCEPTED/PENDING': {
    RECEIVE: noop, 'RECEIVE*': noop,
    ACK: to('ACCEPTED/ACKED', ACKED), 'ACK*': to('ACCEPTED/ACKED', ACKED),
    START: incorrect, 'START*': incorrect,
    FINISH: incorrect, 'FINISH*': incorrect,
    CANCEL: to('CANCELED/PENDING', ['timeFinished']),
    EXPIRE: to('ACCEPTED/EXPIRED', []),
    DEADLINE: noop,
  },
  'ACCEPTED/ACKED': {
    RECEIVE: noop, 'RECEIVE*': noop,
    ACK: noop, 'ACK*': conflict,
    START: to('IN_PROGRESS/ACKED', STARTED), 'START*': conflict,
    // An agent that cannot even launch the script finishes it without a start.
    FINISH: to('SUCCEEDED/ACKED', FINISHED), 'FINISH*': conflict,
    CANCEL: agentCancel,
    EXPIRE: noop,
    // The agent may still start it late: it must be told to stop (see the report).
    DEADLINE: to('TIMED_OUT/ACKED', TIMED_OUT, ['publish', 'agentCancel']),
  },
  'IN_PROGRESS/ACKED': {
    RECEIVE: noop, 'RECEIVE*': noop,
    ACK: noop, 'ACK*': conflict,
    START: noop, 'START*': conflict,
    FINISH: to('SUCCEEDED/ACKED', FINISHED), 'FINISH*': conflict,
    CANCEL: agentCancel,
    EXPIRE: noop,
    // A silent agent may only have lost its reports while the script runs on: it must be told to stop (see the report).
    DEADLINE: to('TIMED_OUT/ACKED', TIMED_OUT, ['publish', 'agentCancel']),
  },
  'ACCEPTED/EXPIRED': {
    RECEIVE: incorrect, 'RECEIVE*': incorrect,
    ACK: incorrect, 'ACK*': incorrect,
    START: incorrect, 'START*': incorrect,
    FINISH: incorrect, 'FINISH*': incorrect,
    CANCEL: noop, EXPIRE: noop, DEADLINE: noop,
  },
  // Canceled before delivery: delivery goes on so the agent's ack learns it must not run it.
  'CANCELED/VISIBLE': {
    RECEIVE: to('CANCELED/PENDING', RECEIVED), 'RECEIVE*': to('CANCELED/PENDING', RECEIVED),
    ACK: to('CANCELED/ACKED_CANCELED', ACKED), 'ACK*': to('CANCELED/ACKED_CANCELED', ACKED),
    START: incorrect, 'START*': incorrect,
    FINISH: incorrect, 'FINISH*': incorrect,
    CANCEL: noop, EXPIRE: noop, DEADLINE: noop,
  },
  'CANCELED/PENDING': {
    RECEIVE: noop, 'RECEIVE*': noop,
    ACK: to('CANCELED/ACKED_CANCELED', ACKED), 'ACK*': to('CANCELED/ACKED_CANCELED', ACKED),
    START: incorrect, 'START*': incorrect,
    FINISH: incorrect, 'FINISH*': incorrect,
    CANCEL: noop, EXPIRE: noop, DEADLINE: noop,
  },
  'CANCELED/ACKED_CANCELED': {
    ...terminalAcked,
    // Nothing is left to run, so a competing session's ack is answered with the canceled state rather than refused.
    'ACK*': noop,
  },
  'SUCCEEDED/ACKED': terminalAcked,
  'FAILED/ACKED': terminalAcked,
  'TIMED_OUT/ACKED': terminalAcked,
  'CANCELED/ACKED': terminalAcked,
};

/** The value each field takes from the event that writes it. */
function fieldFrom(field: Field, ev: ExecutionEvent): unknown {
  switch (field) {
    case 'timeReceived':
    case 'timeAcked':
    case 'timeStarted':
    case 'timeFinished':
      return ev.at;
    case 'ackedBy':
      return 'agentSessionId' in ev ? ev.agentSessionId : undefined;
    case 'exitCode':
    case 'text':
    case 'textSha256':
      return ev.type === 'FINISH' ? ev[field] : undefined;
    case 'message':
      return ev.type === 'FINISH' || ev.type === 'DEADLINE' ? ev.message : undefined;
  }
}

function expectedEffects(tags: EffectTag[], ev: ExecutionEvent, before: ExecutionRecord): ExecutionEffect[] {
  return tags.map((tag): ExecutionEffect => {
    switch (tag) {
      case 'publish':
        return { type: 'publishExecutionChanged' };
      case 'agentCancel':
        return { type: 'requestAgentCancel' };
      case 'late':
        return { type: 'lateReport', event: ev.type, state: before.lifecycleState };
    }
  });
}

function expectedResult(expected: Expected, before: ExecutionRecord, ev: ExecutionEvent): TransitionResult | { ok: false; code: string } {
  if ('refuse' in expected) return { ok: false, code: expected.refuse };
  const set = expected.set ?? [];
  const changed = expected.to !== undefined;
  const next: ExecutionRecord = { ...before };
  if (expected.to !== undefined) {
    const [lifecycleState, deliveryState] = expected.to.split('/') as [LifecycleState, DeliveryState];
    Object.assign(next, { lifecycleState, deliveryState, timeUpdated: ev.at });
  }
  for (const field of set) Object.assign(next, { [field]: fieldFrom(field, ev) });
  return { ok: true, changed, next, effects: expectedEffects(expected.effects, ev, before) };
}

// ---- the tests ----

describe('execution state machine', () => {
  it('has an expected row for exactly the reachable states', () => {
    expect(REACHABLE_STATES.map((s) => `${s.lifecycleState}/${s.deliveryState}`).sort()).toEqual(Object.keys(MATRIX).sort());
  });

  const cells = (Object.keys(MATRIX) as StateKey[]).flatMap((state) => COLUMNS.map((column) => [state, column] as const));

  describe.each(Object.keys(MATRIX) as StateKey[])('from %s', (state) => {
    it.each(COLUMNS)('on %s', (column) => {
      const before = executionIn(state);
      const ev = eventFor(column);
      const expected = expectedResult(MATRIX[state][column], before, ev);

      const result = transition(before, ev);

      if (!expected.ok) {
        expect(result).toMatchObject({ ok: false, code: expected.code, message: expect.any(String) });
      } else {
        expect(result).toStrictEqual(expected);
      }
    });
  });

  it.each(cells)('is pure from %s on %s: the input is not mutated and the result survives JSON', (state, column) => {
    const before = executionIn(state);
    const snapshot = structuredClone(before);

    const result = transition(Object.freeze(before), eventFor(column));

    expect(before).toStrictEqual(snapshot);
    expect(JSON.parse(JSON.stringify(result))).toStrictEqual(result);
    expect(transition(snapshot, eventFor(column))).toStrictEqual(result);
  });

  describe('FINISH', () => {
    it.each(['SUCCEEDED', 'FAILED', 'TIMED_OUT', 'CANCELED'] as const)('records the %s outcome the agent reports', (outcome) => {
      const result = transition(executionIn('IN_PROGRESS/ACKED'), {
        type: 'FINISH',
        at: AT,
        agentSessionId: OWNER,
        outcome,
        exitCode: 137,
      });
      expect(result).toMatchObject({ ok: true, changed: true, next: { lifecycleState: outcome, deliveryState: 'ACKED', exitCode: 137 } });
    });

    it('leaves exitCode, message and output unset when the agent reports none', () => {
      const result = transition(executionIn('IN_PROGRESS/ACKED'), {
        type: 'FINISH',
        at: AT,
        agentSessionId: OWNER,
        outcome: 'FAILED',
        exitCode: null,
      });
      if (!result.ok) throw new Error(result.message);
      expect(result.next.lifecycleState).toBe('FAILED');
      for (const field of ['exitCode', 'message', 'text', 'textSha256'] as const) expect(field in result.next).toBe(false);
    });
  });
});

describe('agentDeadline', () => {
  const policy: DeadlinePolicy = { graceMs: 60_000, startWindowMs: 300_000, maxRunMs: 86_400_000 };
  const ms = (iso: string) => Date.parse(iso);

  it('counts from the start: start + the command timeout + grace', () => {
    const e = executionIn('IN_PROGRESS/ACKED');
    expect(agentDeadline(e, policy)).toBe(ms('2026-03-01T09:03:00.000Z') + 600_000 + 60_000);
  });

  it('uses the one-day cap for a command without a timeout (0)', () => {
    const e = { ...executionIn('IN_PROGRESS/ACKED'), executionTimeOutInSeconds: 0 };
    expect(agentDeadline(e, policy)).toBe(ms('2026-03-01T09:03:00.000Z') + 86_400_000 + 60_000);
  });

  it('gives an acked but unstarted execution the start window from its ack', () => {
    expect(agentDeadline(executionIn('ACCEPTED/ACKED'), policy)).toBe(ms('2026-03-01T09:02:00.000Z') + 300_000);
  });

  it('is undefined for an acked execution with no ack time', () => {
    const { timeAcked: _dropped, ...e } = executionIn('ACCEPTED/ACKED');
    expect(agentDeadline(e, policy)).toBeUndefined();
  });

  it.each([
    'ACCEPTED/VISIBLE',
    'ACCEPTED/PENDING',
    'ACCEPTED/EXPIRED',
    'CANCELED/VISIBLE',
    'CANCELED/PENDING',
    'CANCELED/ACKED_CANCELED',
    'SUCCEEDED/ACKED',
    'FAILED/ACKED',
    'TIMED_OUT/ACKED',
    'CANCELED/ACKED',
  ] as const)('is undefined in %s, where no agent report is awaited', (state) => {
    expect(agentDeadline(executionIn(state), policy)).toBeUndefined();
  });
});

describe('reserved delivery', () => {
  /** Created at 09:00 while OWNER was the instance's active session: still VISIBLE on the wire, reserved for OWNER. */
  const reserved = (): ExecutionRecord => ({ ...executionIn('ACCEPTED/VISIBLE'), reservedFor: OWNER });
  /** Within the reservation's hold (five minutes from creation), and past it. */
  const HELD = '2026-03-01T09:04:59.000Z';
  const LAPSED = '2026-03-01T09:05:00.000Z';
  const agentEvent = (type: 'RECEIVE' | 'ACK' | 'START', session: string, at = HELD): ExecutionEvent => ({ type, at, agentSessionId: session });
  const finish = (session: string, outcome: 'SUCCEEDED' | 'CANCELED' = 'SUCCEEDED', at = HELD): ExecutionEvent => ({
    type: 'FINISH',
    at,
    agentSessionId: session,
    outcome,
    exitCode: outcome === 'SUCCEEDED' ? 0 : null,
  });
  const cancel = (at = HELD): ExecutionEvent => ({ type: 'CANCEL', at });
  const next = (result: TransitionResult): ExecutionRecord => {
    if (!result.ok) throw new Error(`refused: ${result.code}: ${result.message}`);
    return result.next;
  };
  const effectTypes = (result: TransitionResult) => (result.ok ? result.effects.map((e) => e.type) : []);

  it('holds for five minutes from creation', () => {
    expect(RESERVATION_HOLD_MS).toBe(300_000);
    expect(isReserved(reserved(), HELD)).toBe(true);
    expect(isReserved(reserved(), LAPSED)).toBe(false);
    expect(isReserved(executionIn('ACCEPTED/VISIBLE'), HELD)).toBe(false);
  });

  it("takes the reserved session's FINISH, without an ACK, as its claim: SUCCEEDED, acked by that session, reservation gone", () => {
    const result = transition(reserved(), finish(OWNER));
    expect(result).toMatchObject({ ok: true, changed: true });
    expect(next(result)).toMatchObject({ lifecycleState: 'SUCCEEDED', deliveryState: 'ACKED', ackedBy: OWNER, timeAcked: HELD, timeFinished: HELD, exitCode: 0 });
    expect('reservedFor' in next(result)).toBe(false);
    expect(effectTypes(result)).toEqual(['publishExecutionChanged']);
  });

  it("takes the reserved session's START as its claim, also after the hold if no other session took it", () => {
    for (const at of [HELD, LAPSED]) {
      const e = next(transition(reserved(), agentEvent('START', OWNER, at)));
      expect(e).toMatchObject({ lifecycleState: 'IN_PROGRESS', deliveryState: 'ACKED', ackedBy: OWNER, timeAcked: at, timeStarted: at });
      expect('reservedFor' in e).toBe(false);
    }
  });

  it('refuses any other session within the hold: its ACK is a Conflict, its START or FINISH an IncorrectState, its RECEIVE changes nothing', () => {
    expect(transition(reserved(), agentEvent('ACK', OTHER))).toMatchObject({ ok: false, code: 'Conflict' });
    expect(transition(reserved(), agentEvent('START', OTHER))).toMatchObject({ ok: false, code: 'IncorrectState' });
    expect(transition(reserved(), finish(OTHER))).toMatchObject({ ok: false, code: 'IncorrectState' });
    expect(transition(reserved(), agentEvent('RECEIVE', OTHER))).toStrictEqual({ ok: true, changed: false, next: reserved(), effects: [] });
  });

  it('lets another session ack it once the hold has lapsed, as any queued execution', () => {
    const acked = next(transition(reserved(), agentEvent('ACK', OTHER, LAPSED)));
    expect(acked).toMatchObject({ deliveryState: 'ACKED', ackedBy: OTHER });
    expect('reservedFor' in acked).toBe(false);
    expect(transition(acked, finish(OWNER, 'SUCCEEDED', LAPSED))).toMatchObject({ ok: false, code: 'Conflict' });
  });

  it("acks like any queued execution on the reserved session's ACK", () => {
    const e = next(transition(reserved(), agentEvent('ACK', OWNER)));
    expect(e).toMatchObject({ lifecycleState: 'ACCEPTED', deliveryState: 'ACKED', ackedBy: OWNER, timeAcked: HELD });
    expect('reservedFor' in e).toBe(false);
  });

  it("is released by the reserved session's RECEIVE (it holds the command, not started): PENDING, which any session may then ack, once", () => {
    const pending = next(transition(reserved(), agentEvent('RECEIVE', OWNER)));
    expect(pending).toMatchObject({ lifecycleState: 'ACCEPTED', deliveryState: 'PENDING', timeReceived: HELD });
    expect('reservedFor' in pending).toBe(false);
    const acked = next(transition(pending, agentEvent('ACK', OTHER)));
    expect(acked).toMatchObject({ deliveryState: 'ACKED', ackedBy: OTHER });
    expect(transition(acked, agentEvent('ACK', OWNER))).toMatchObject({ ok: false, code: 'Conflict' });
  });

  it('is not canceled outright by CANCEL within the hold, since its session may be running it: the agent is asked to stop it', () => {
    const result = transition(reserved(), cancel());
    expect(next(result)).toMatchObject({ lifecycleState: 'ACCEPTED', deliveryState: 'VISIBLE', reservedFor: OWNER, cancelRequested: true, timeUpdated: HELD });
    expect(effectTypes(result)).toEqual(['publishExecutionChanged', 'requestAgentCancel']);
    // A second cancel asks again and changes nothing.
    const again = transition(next(result), cancel());
    expect(again).toMatchObject({ ok: true, changed: false });
    expect(effectTypes(again)).toEqual(['requestAgentCancel']);
  });

  it('is canceled outright once the hold has lapsed, as any queued execution', () => {
    expect(next(transition(reserved(), cancel(LAPSED)))).toMatchObject({ lifecycleState: 'CANCELED', deliveryState: 'VISIBLE', timeFinished: LAPSED });
  });

  it('ends a canceled reservation CANCELED when its session releases it, acks it or reports it CANCELED, or when it expires', () => {
    const canceled = next(transition(reserved(), cancel('2026-03-01T09:01:00.000Z')));

    const releasedThenAcked = next(transition(next(transition(canceled, agentEvent('RECEIVE', OWNER))), agentEvent('ACK', OWNER)));
    expect(releasedThenAcked).toMatchObject({ lifecycleState: 'CANCELED', deliveryState: 'ACKED_CANCELED', timeFinished: HELD });

    for (const at of [HELD, LAPSED]) {
      const acked = transition(canceled, agentEvent('ACK', OWNER, at));
      expect(next(acked)).toMatchObject({ lifecycleState: 'CANCELED', deliveryState: 'ACKED_CANCELED', ackedBy: OWNER, timeFinished: at });
      expect('reservedFor' in next(acked)).toBe(false);
    }

    expect(next(transition(canceled, finish(OWNER, 'CANCELED')))).toMatchObject({ lifecycleState: 'CANCELED', deliveryState: 'ACKED', ackedBy: OWNER });
    expect(next(transition(canceled, { type: 'EXPIRE', at: AT }))).toMatchObject({ lifecycleState: 'CANCELED', deliveryState: 'VISIBLE', timeFinished: AT });
  });

  it('does not expire within the hold, and expires as any queued execution after it; it never gets an agent deadline', () => {
    expect(transition(reserved(), { type: 'EXPIRE', at: HELD })).toStrictEqual({ ok: true, changed: false, next: reserved(), effects: [] });
    expect(next(transition(reserved(), { type: 'EXPIRE', at: AT }))).toMatchObject({ lifecycleState: 'ACCEPTED', deliveryState: 'EXPIRED' });
    expect(transition(reserved(), { type: 'DEADLINE', at: AT, message: 'silent' })).toStrictEqual({ ok: true, changed: false, next: reserved(), effects: [] });
    const policy: DeadlinePolicy = { graceMs: 60_000, startWindowMs: 300_000, maxRunMs: 86_400_000 };
    expect(agentDeadline(reserved(), policy)).toBeUndefined();
  });

  it('does not mutate its input', () => {
    const before = Object.freeze(reserved());
    for (const ev of [finish(OWNER), agentEvent('RECEIVE', OWNER), agentEvent('ACK', OWNER), agentEvent('ACK', OTHER, LAPSED), cancel(), cancel(LAPSED)]) {
      transition(before, ev);
    }
    expect(before).toStrictEqual(reserved());
  });
});
