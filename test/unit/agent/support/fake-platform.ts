/**
 * The platform side of docs/agent-protocol.md, in memory: executions changed by the service's own state machine
 * (`transition`: the ack as a compare-and-swap, reserved delivery, terminal states that never change), its refusals
 * answered as the service answers them (409). It records every report and the most commands it ever saw in flight and
 * running at once.
 */
import type { CommandIssuedMessage } from '../../../../events/messages';
import { parseAgentReport } from '../../../../shared/domain/agent-report';
import { holdsRun, transition } from '../../../../shared/domain/execution-machine';
import { isTerminal, type ExecutionRecord } from '../../../../shared/domain/model';
import { ReportRejectedError, ReportTransientError, type AgentReport, type ReportAnswer, type Reporter } from '../../../../agent/reporter';
import type { TestStream } from './memory-stream';

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
  readonly executions = new Map<string, ExecutionRecord>();
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
    this.seed(message);
    this.stream.publishJson(message);
    return message;
  }

  /** Stores the execution of `message` as create-command writes it, then as `state` says (without publishing). */
  seed(message: CommandIssuedMessage, state: Partial<ExecutionRecord> = {}): ExecutionRecord {
    const execution: ExecutionRecord = {
      schemaVersion: 1,
      instanceAgentCommandId: message.instanceAgentCommandId,
      instanceId: message.instanceId,
      compartmentId: message.compartmentId,
      sequenceNumber: message.sequenceNumber,
      executionTimeOutInSeconds: message.executionTimeOutInSeconds,
      output: message.content.output,
      deliveryState: 'VISIBLE',
      lifecycleState: 'ACCEPTED',
      timeCreated: message.timeCreated,
      timeUpdated: message.timeCreated,
      ...(message.reservedFor !== undefined ? { reservedFor: message.reservedFor } : {}),
      ...state,
    };
    this.executions.set(message.instanceAgentCommandId, execution);
    return execution;
  }

  /** Like cancel-command: the state machine's CANCEL; the agent is told either way. */
  cancel(id: string): void {
    const e = this.executions.get(id);
    if (e !== undefined) {
      const result = transition(e, { type: 'CANCEL', at: new Date().toISOString() });
      if (result.ok) this.executions.set(id, result.next);
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
      if (!isTerminal(e.lifecycleState) && (e.deliveryState === 'PENDING' || e.deliveryState === 'ACKED')) inFlight += 1;
      if (e.lifecycleState === 'IN_PROGRESS') running += 1;
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
    // The agent's report as the service reads it (the same validation), then the service's transition.
    const parsed = parseAgentReport(JSON.parse(JSON.stringify(report)));
    const result = transition(e, { ...parsed.event, at: new Date().toISOString(), agentSessionId: parsed.agentSessionId });
    if (!result.ok) throw new ReportRejectedError(409, result.code, result.message);
    this.executions.set(report.instanceAgentCommandId, result.next);
    this.observe();
    const { lifecycleState, deliveryState } = result.next;
    return { lifecycleState, deliveryState, changed: result.changed, run: holdsRun(result.next, report.agentSessionId) };
  }
}

export function transient(message = 'HTTP 503'): ReportTransientError {
  return new ReportTransientError(message, 503, 'ServiceUnavailable');
}
