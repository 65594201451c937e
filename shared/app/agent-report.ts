/**
 * applyAgentReport: an agent's RECEIVE / ACK / START / FINISH for one of its instance's executions, applied through
 * the pure state machine under compare-and-swap. The ACK is the claim: only the session whose ack won may run the
 * script. Duplicates and late reports never change a terminal state.
 */
import { notAuthorizedOrNotFound } from '../domain/errors';
import type { DeliveryState, LifecycleState } from '../domain/model';
import type { AgentReport } from '../domain/agent-report';
import { holdsRun } from '../domain/execution-machine';
import type { Principal } from '../ports/identity';
import type { ServiceDeps } from './deps';
import { recordAgentSession } from './agent-sessions';
import { applyExecutionEvent } from './execution-updates';

export interface AgentReportResult {
  lifecycleState: LifecycleState;
  deliveryState: DeliveryState;
  changed: boolean;
  /** True only for the session that holds the ack of a live execution: it may (still) run the script. */
  run: boolean;
}

export async function applyAgentReport(deps: ServiceDeps, principal: Principal, report: AgentReport): Promise<AgentReportResult> {
  if (principal.type !== 'instance') throw notAuthorizedOrNotFound();
  const at = new Date(deps.clock.nowMs()).toISOString();
  const { execution, changed } = await applyExecutionEvent(deps, report.instanceAgentCommandId, principal.instanceId, {
    ...report.event,
    at,
    agentSessionId: report.agentSessionId,
  });
  const e = execution.doc;
  // After the report: a failure to record the session only costs later commands their reservation.
  await recordAgentSession(deps, principal.instanceId, report.agentSessionId).catch((err: unknown) =>
    deps.log.warn('could not record the agent session', { instanceId: principal.instanceId, error: String(err) }),
  );
  return {
    lifecycleState: e.lifecycleState,
    deliveryState: e.deliveryState,
    changed,
    run: holdsRun(e, report.agentSessionId),
  };
}
