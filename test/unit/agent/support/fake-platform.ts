/**
 * The platform side of docs/agent-protocol.md, in memory: executions with delivery and lifecycle states, the ack as a
 * compare-and-swap (one session wins; canceled → ACKED_CANCELED, run false), reserved delivery (the reserved session's
 * START or FINISH claims it, its RECEIVE gives it back, another session's ACK is refused), terminal states that never change. It
 * records every report and the most commands it ever saw in flight and running at once.
 */
import type { CommandIssuedMessage } from '../../../../events/messages';
import type { DeliveryState, LifecycleState } from '../../../../shared/domain/model';
import { ReportRejectedError, ReportTransientError, type AgentReport, type ReportAnswer, type Reporter } from '../../../../agent/reporter';
import type { TestStream } from './memory-stream';

export interface FakeExecution {
  id: string;
  delivery: DeliveryState;
  lifecycle: LifecycleState;
  canceled: boolean;
  ackedBy?: string;
  /** Reserved delivery: the session that may start it without an ACK (its START or FINISH claims it). */
  reservedFor?: string;
  exitCode?: number | null;
  message?: string;
  text?: string;
  textSha256?: string;
}

const TERMINAL: ReadonlySet<LifecycleState> = new Set<LifecycleState>(['SUCCEEDED', 'FAILED', 'TIMED_OUT', 'CANCELED']);
export const INSTANCE_ID = 'ocid1.instance.oc1..host';

let counter = 0;

export function issuedMessage(overrides: Partial<CommandIssuedMessage> & { script?: string } = {}): CommandIssuedMessage {
  counter += 1;
  const { script, ...rest } = overrides;
  return {
    type: 'command.issued',
    specVersion: 1,
    instanceAgentCommandId: `ocid1.instanceagentcommand.oc1..c${process.pid}x${counter}`,
    instanceId: INSTANCE_ID,
    compartmentId: 'ocid1.compartment.oc1..comp',
    executionTimeOutInSeconds: 60,
    content: { source: { sourceType: 'TEXT', text: script ?? 'echo hello' }, output: { outputType: 'TEXT' } },
    sequenceNumber: 1000 + counter,
    timeCreated: new Date().toISOString(),
    ...rest,
  };
}

export function cancelMessage(id: string): object {
  return { type: 'command.cancel-requested', specVersion: 1, instanceAgentCommandId: id, instanceId: INSTANCE_ID, timeRequested: new Date().toISOString() };
}

export class FakePlatform implements Reporter {
  readonly executions = new Map<string, FakeExecution>();
  readonly reports: AgentReport[] = [];
  /** Every report received, including those answered with an injected failure. */
  readonly attempts: AgentReport[] = [];
  /** Thrown (and consumed) by the next reports whose type matches. */
  readonly failures: Array<{ type?: string; error: Error }> = [];
  maxInFlight = 0;
  maxRunning = 0;

  constructor(readonly stream: TestStream) {}

  /** Creates the execution (VISIBLE) and publishes `command.issued`, like create-command. */
  issue(overrides: Partial<CommandIssuedMessage> & { script?: string } = {}): CommandIssuedMessage {
    const message = issuedMessage(overrides);
    this.executions.set(message.instanceAgentCommandId, {
      id: message.instanceAgentCommandId,
      delivery: 'VISIBLE',
      lifecycle: 'ACCEPTED',
      canceled: false,
      ...(message.reservedFor !== undefined ? { reservedFor: message.reservedFor } : {}),
    });
    this.stream.publishJson(message);
    return message;
  }

  /** Like cancel-command: a queued execution is canceled right away; the agent is told either way. */
  cancel(id: string): void {
    const e = this.executions.get(id);
    if (e !== undefined && !TERMINAL.has(e.lifecycle)) {
      e.canceled = true;
      if (e.delivery === 'VISIBLE' || e.delivery === 'PENDING') e.lifecycle = 'CANCELED';
    }
    this.stream.publishJson(cancelMessage(id));
  }

  reportsOf(id: string, type?: string): AgentReport[] {
    return this.reports.filter((r) => r.instanceAgentCommandId === id && (type === undefined || r.event.type === type));
  }

  finished(id: string): AgentReport | undefined {
    return this.reportsOf(id, 'FINISH')[0];
  }

  private observe(): void {
    let inFlight = 0;
    let running = 0;
    for (const e of this.executions.values()) {
      if (!TERMINAL.has(e.lifecycle) && (e.delivery === 'PENDING' || e.delivery === 'ACKED')) inFlight += 1;
      if (e.lifecycle === 'IN_PROGRESS') running += 1;
    }
    this.maxInFlight = Math.max(this.maxInFlight, inFlight);
    this.maxRunning = Math.max(this.maxRunning, running);
  }

  async report(report: AgentReport): Promise<ReportAnswer> {
    this.attempts.push(report);
    const failureIndex = this.failures.findIndex((f) => f.type === undefined || f.type === report.event.type);
    const failure = failureIndex >= 0 ? this.failures.splice(failureIndex, 1)[0] : undefined;
    if (failure !== undefined) throw failure.error;
    this.reports.push(report);
    const e = this.executions.get(report.instanceAgentCommandId);
    if (e === undefined) throw new ReportRejectedError(404, 'NotAuthorizedOrNotFound', 'Authorization failed or requested resource not found.');
    let changed = false;
    let run = false;
    const terminal = TERMINAL.has(e.lifecycle);
    const queued = e.delivery === 'VISIBLE' || e.delivery === 'PENDING';
    if (queued && e.reservedFor !== undefined) {
      const own = e.reservedFor === report.agentSessionId;
      if (report.event.type === 'ACK' && !own) throw new ReportRejectedError(409, 'Conflict', 'The execution is reserved for another agent session.');
      if (report.event.type === 'RECEIVE' && !own) return { lifecycleState: e.lifecycle, deliveryState: e.delivery, changed: false, run: false };
      if (own) {
        delete e.reservedFor;
        // Its START or FINISH is the claim of a command it started without an ACK.
        if (report.event.type === 'START' || report.event.type === 'FINISH') {
          e.delivery = 'ACKED';
          e.ackedBy = report.agentSessionId;
        }
      }
    }
    switch (report.event.type) {
      case 'RECEIVE':
        if (e.delivery === 'VISIBLE') {
          e.delivery = 'PENDING';
          changed = true;
        }
        break;
      case 'ACK':
        if (e.delivery === 'EXPIRED') throw new ReportRejectedError(409, 'IncorrectState', 'The delivery expired.');
        if (e.delivery === 'ACKED' || e.delivery === 'ACKED_CANCELED') {
          if (e.ackedBy !== report.agentSessionId) throw new ReportRejectedError(409, 'Conflict', 'Another agent session acked it.');
          run = e.delivery === 'ACKED' && !terminal;
          break;
        }
        changed = true;
        e.ackedBy = report.agentSessionId;
        if (e.canceled || terminal) {
          e.delivery = 'ACKED_CANCELED';
          e.lifecycle = 'CANCELED';
        } else {
          e.delivery = 'ACKED';
          run = true;
        }
        break;
      case 'START':
        if (!terminal && e.lifecycle === 'ACCEPTED') {
          e.lifecycle = 'IN_PROGRESS';
          changed = true;
        }
        break;
      case 'FINISH':
        if (!terminal) {
          e.lifecycle = report.event.outcome ?? 'FAILED';
          e.exitCode = report.event.exitCode ?? null;
          if (report.event.message !== undefined) e.message = report.event.message;
          if (report.event.text !== undefined) e.text = report.event.text;
          if (report.event.textSha256 !== undefined) e.textSha256 = report.event.textSha256;
          changed = true;
        }
        break;
    }
    this.observe();
    return { lifecycleState: e.lifecycle, deliveryState: e.delivery, changed, run };
  }
}

export function transient(message = 'HTTP 503'): ReportTransientError {
  return new ReportTransientError(message, 503, 'ServiceUnavailable');
}
