/**
 * The execution lifecycle as a pure transition table: `(execution, event) → {next, effects} | error`.
 * No clock reads and no I/O: time arrives on the event, effects are returned as data for the use-case to perform.
 *
 * States are (lifecycleState, deliveryState) pairs:
 *   ACCEPTED/VISIBLE → (RECEIVE) ACCEPTED/PENDING → (ACK) ACCEPTED/ACKED → (START) IN_PROGRESS/ACKED
 *   → (FINISH) SUCCEEDED | FAILED | TIMED_OUT | CANCELED / ACKED
 * User CANCEL of a queued execution makes it CANCELED without any agent; the agent's later ACK turns delivery into
 * ACKED_CANCELED and tells it not to run. Sweeps EXPIRE undelivered executions and time out silent ones (DEADLINE).
 * Terminal states never change: every later event is a no-op (agent reports are flagged as late).
 *
 * Reserved delivery: a command created while its instance's agent session is active is reserved for that session
 * (`reservedFor`, still VISIBLE on the wire). The session may start it on receipt without an ACK, within
 * `RESERVED_START_WINDOW_MS` of its creation by the agent's clock; its START or FINISH then claims it (also later, as
 * long as no other session took it). For `RESERVATION_HOLD_MS` after its creation the service must assume it may be
 * running, so:
 *   - another session's ACK is refused (Conflict), and its RECEIVE changes nothing;
 *   - CANCEL asks the agent to stop it (`cancelRequested`), like a running one; the agent's ACK, RECEIVE or FINISH
 *     then ends it CANCELED (and so does EXPIRE, if its agent never came);
 *   - EXPIRE waits.
 * The reserved session's RECEIVE (it holds the command, not started) releases the reservation at once: the execution is
 * an ordinary PENDING one again, which that session acks before it runs it. Past the hold, the reservation has lapsed
 * (the agent acks such an old command too) and the execution is an ordinary queued one.
 */
import type { ExecutionRecord, LifecycleState } from './model';
import { isTerminal } from './model';

export type FinishOutcome = 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'CANCELED';

export type ExecutionEvent =
  | { type: 'RECEIVE'; at: string; agentSessionId: string }
  | { type: 'ACK'; at: string; agentSessionId: string }
  | { type: 'START'; at: string; agentSessionId: string }
  | {
      type: 'FINISH';
      at: string;
      agentSessionId: string;
      outcome: FinishOutcome;
      exitCode: number | null;
      message?: string;
      text?: string;
      textSha256?: string;
    }
  | { type: 'CANCEL'; at: string }
  | { type: 'EXPIRE'; at: string }
  | { type: 'DEADLINE'; at: string; message: string };

export type ExecutionEventType = ExecutionEvent['type'];

export type ExecutionEffect =
  /** The execution changed: publish it on `execution-events` for waiters. */
  | { type: 'publishExecutionChanged' }
  /** The execution is running (or about to): ask its agent to stop it via the instance stream. */
  | { type: 'requestAgentCancel' }
  /** An agent report arrived after the execution became terminal; it changes nothing and is logged. */
  | { type: 'lateReport'; event: ExecutionEventType; state: LifecycleState };

export type TransitionResult =
  | { ok: true; changed: boolean; next: ExecutionRecord; effects: ExecutionEffect[] }
  | { ok: false; code: 'Conflict' | 'IncorrectState'; message: string };

const unchanged = (e: ExecutionRecord, effects: ExecutionEffect[] = []): TransitionResult => ({
  ok: true,
  changed: false,
  next: e,
  effects,
});

const changed = (e: ExecutionRecord, patch: Partial<ExecutionRecord>, at: string, extra: ExecutionEffect[] = []): TransitionResult => ({
  ok: true,
  changed: true,
  next: { ...e, ...patch, timeUpdated: at },
  effects: [{ type: 'publishExecutionChanged' }, ...extra],
});

const refuse = (code: 'Conflict' | 'IncorrectState', message: string): TransitionResult => ({ ok: false, code, message });

const isAgentEvent = (ev: ExecutionEvent): ev is Extract<ExecutionEvent, { agentSessionId: string }> =>
  'agentSessionId' in ev;

/** Not yet taken by an agent: VISIBLE, or PENDING (an agent received it but has not acked it). */
export const isQueued = (e: ExecutionRecord): boolean => e.deliveryState === 'VISIBLE' || e.deliveryState === 'PENDING';

/** How long after a reserved command's creation (by its own clock) an agent may still start it without an ACK. */
export const RESERVED_START_WINDOW_MS = 60_000;

/**
 * How long after its creation a reservation binds the service (`isReserved`). Five times the agent's window, so the
 * agent's and the service's clocks may disagree by four minutes before an agent could start a command the service
 * already treats as an ordinary queued one.
 */
export const RESERVATION_HOLD_MS = 300_000;

/** The execution's queued delivery with its reservation dropped (the session holds it and will ack it). */
function released(e: ExecutionRecord): ExecutionRecord {
  const { reservedFor: _released, ...rest } = e;
  return rest;
}

/** Apply one event to an execution. Pure: the same inputs always give the same result. */
export function transition(e: ExecutionRecord, ev: ExecutionEvent): TransitionResult {
  const queued = isQueued(e);
  const acked = e.deliveryState === 'ACKED';
  const session = reservedSession(e);
  const reserved = session !== undefined && withinHold(e, ev.at);

  if (session !== undefined && isAgentEvent(ev)) {
    const own = ev.agentSessionId === session;
    if (own && ev.type === 'RECEIVE') {
      const base = released(e);
      if (e.cancelRequested) {
        return changed(base, { deliveryState: 'PENDING', timeReceived: ev.at, lifecycleState: 'CANCELED', timeFinished: ev.at }, ev.at);
      }
      return changed(base, { deliveryState: 'PENDING', timeReceived: ev.at }, ev.at);
    }
    if (own && (ev.type === 'START' || ev.type === 'FINISH')) {
      // The reserved session started it without an ack: this report is its claim.
      const claimed = transition({ ...released(e), deliveryState: 'ACKED', timeAcked: ev.at, ackedBy: ev.agentSessionId }, ev);
      return claimed.ok ? { ...claimed, changed: true } : claimed;
    }
    if (!own && reserved && ev.type === 'ACK') return refuse('Conflict', 'The execution is reserved for another agent session.');
    if (!own && reserved && ev.type === 'RECEIVE') return unchanged(e);
  }

  // Terminal executions never change. A repeated ACK from the winning session is still answered
  // (so a retried ack learns the outcome); a competing session is refused so it never runs the script.
  if (isTerminal(e.lifecycleState) && !queued) {
    if (ev.type === 'ACK' && acked && e.ackedBy !== ev.agentSessionId) {
      return refuse('Conflict', 'The execution was acknowledged by another agent session.');
    }
    if (isAgentEvent(ev) && ev.type !== 'ACK' && ev.type !== 'RECEIVE') {
      return unchanged(e, [{ type: 'lateReport', event: ev.type, state: e.lifecycleState }]);
    }
    return unchanged(e);
  }

  switch (ev.type) {
    case 'RECEIVE':
      if (e.deliveryState === 'VISIBLE') return changed(e, { deliveryState: 'PENDING', timeReceived: ev.at }, ev.at);
      if (e.deliveryState === 'EXPIRED') return refuse('IncorrectState', 'Delivery of this command expired; it will not run.');
      return unchanged(e);

    case 'ACK':
      if (queued && e.lifecycleState === 'CANCELED') {
        return changed(e, { deliveryState: 'ACKED_CANCELED', timeAcked: ev.at, ackedBy: ev.agentSessionId }, ev.at);
      }
      if (queued && e.cancelRequested) {
        return changed(
          released(e),
          { lifecycleState: 'CANCELED', timeFinished: ev.at, deliveryState: 'ACKED_CANCELED', timeAcked: ev.at, ackedBy: ev.agentSessionId },
          ev.at,
        );
      }
      if (queued) return changed(released(e), { deliveryState: 'ACKED', timeAcked: ev.at, ackedBy: ev.agentSessionId }, ev.at);
      if (e.deliveryState === 'EXPIRED') return refuse('IncorrectState', 'Delivery of this command expired; it will not run.');
      if (e.ackedBy !== ev.agentSessionId) return refuse('Conflict', 'The execution was acknowledged by another agent session.');
      return unchanged(e);

    case 'START':
    case 'FINISH': {
      if (!acked) {
        return refuse('IncorrectState', `The execution is ${e.lifecycleState}/${e.deliveryState}; it must be acknowledged first.`);
      }
      if (e.ackedBy !== ev.agentSessionId) return refuse('Conflict', 'The execution was acknowledged by another agent session.');
      if (ev.type === 'START') {
        return e.lifecycleState === 'ACCEPTED' ? changed(e, { lifecycleState: 'IN_PROGRESS', timeStarted: ev.at }, ev.at) : unchanged(e);
      }
      return changed(
        e,
        {
          lifecycleState: ev.outcome,
          timeFinished: ev.at,
          ...(ev.exitCode !== null ? { exitCode: ev.exitCode } : {}),
          ...(ev.message !== undefined ? { message: ev.message } : {}),
          ...(ev.text !== undefined ? { text: ev.text } : {}),
          ...(ev.textSha256 !== undefined ? { textSha256: ev.textSha256 } : {}),
        },
        ev.at,
      );
    }

    case 'CANCEL':
      if (reserved) {
        return e.cancelRequested ? unchanged(e, [{ type: 'requestAgentCancel' }]) : changed(e, { cancelRequested: true }, ev.at, [{ type: 'requestAgentCancel' }]);
      }
      if (queued && !isTerminal(e.lifecycleState)) return changed(e, { lifecycleState: 'CANCELED', timeFinished: ev.at }, ev.at);
      if (acked) return unchanged(e, [{ type: 'requestAgentCancel' }]);
      return unchanged(e);

    case 'EXPIRE':
      if (reserved) return unchanged(e);
      // A cancel requested while the command was reserved, whose agent never came: the cancel wins.
      if (queued && !isTerminal(e.lifecycleState) && e.cancelRequested) return changed(e, { lifecycleState: 'CANCELED', timeFinished: ev.at }, ev.at);
      if (queued && !isTerminal(e.lifecycleState)) return changed(e, { deliveryState: 'EXPIRED' }, ev.at);
      return unchanged(e);

    case 'DEADLINE':
      // The agent went silent, not necessarily its script: ask it to stop whatever may still run.
      if (acked) {
        return changed(e, { lifecycleState: 'TIMED_OUT', timeFinished: ev.at, message: ev.message }, ev.at, [{ type: 'requestAgentCancel' }]);
      }
      return unchanged(e);
  }
}

/** Every (lifecycle, delivery) pair the machine can reach; tests walk each against every event. */
export const REACHABLE_STATES: ReadonlyArray<Pick<ExecutionRecord, 'lifecycleState' | 'deliveryState'>> = [
  { lifecycleState: 'ACCEPTED', deliveryState: 'VISIBLE' },
  { lifecycleState: 'ACCEPTED', deliveryState: 'PENDING' },
  { lifecycleState: 'ACCEPTED', deliveryState: 'ACKED' },
  { lifecycleState: 'IN_PROGRESS', deliveryState: 'ACKED' },
  { lifecycleState: 'ACCEPTED', deliveryState: 'EXPIRED' },
  { lifecycleState: 'CANCELED', deliveryState: 'VISIBLE' },
  { lifecycleState: 'CANCELED', deliveryState: 'PENDING' },
  { lifecycleState: 'CANCELED', deliveryState: 'ACKED_CANCELED' },
  { lifecycleState: 'SUCCEEDED', deliveryState: 'ACKED' },
  { lifecycleState: 'FAILED', deliveryState: 'ACKED' },
  { lifecycleState: 'TIMED_OUT', deliveryState: 'ACKED' },
  { lifecycleState: 'CANCELED', deliveryState: 'ACKED' },
];

/** The session a queued, live execution is reserved for (the reservation may have lapsed), if any. */
function reservedSession(e: ExecutionRecord): string | undefined {
  return isQueued(e) && !isTerminal(e.lifecycleState) ? e.reservedFor : undefined;
}

/** Whether `at` falls within the reservation's hold, counted from the execution's creation. */
function withinHold(e: ExecutionRecord, at: string): boolean {
  return Date.parse(at) - Date.parse(e.timeCreated) < RESERVATION_HOLD_MS;
}

/** At `at`: a queued execution reserved for an agent session that has not claimed or released it, within the hold. */
export function isReserved(e: ExecutionRecord, at: string): boolean {
  return reservedSession(e) !== undefined && withinHold(e, at);
}

/** Whether `agentSessionId` holds the ack of this live execution, and so may (still) run its script. */
export function holdsRun(e: ExecutionRecord, agentSessionId: string): boolean {
  return e.deliveryState === 'ACKED' && e.ackedBy === agentSessionId && !isTerminal(e.lifecycleState);
}

/** Deadline policy for silent agents (sweeps). Durations in milliseconds. */
export interface DeadlinePolicy {
  /** Extra time after start + timeout before the service gives up on the agent. */
  graceMs: number;
  /** How long an acked execution may stay unstarted. */
  startWindowMs: number;
  /** Used when the command has no timeout (0): the one-day cap. */
  maxRunMs: number;
}

/**
 * When the service stops waiting for an agent report, or undefined while the execution is not waiting on one.
 * Counts from the start (or the ack, for an execution that never started).
 */
export function agentDeadline(e: ExecutionRecord, policy: DeadlinePolicy): number | undefined {
  if (e.deliveryState !== 'ACKED' || isTerminal(e.lifecycleState)) return undefined;
  if (e.lifecycleState === 'IN_PROGRESS' && e.timeStarted) {
    const runMs = e.executionTimeOutInSeconds > 0 ? e.executionTimeOutInSeconds * 1000 : policy.maxRunMs;
    return Date.parse(e.timeStarted) + runMs + policy.graceMs;
  }
  if (e.timeAcked) return Date.parse(e.timeAcked) + policy.startWindowMs;
  return undefined;
}
