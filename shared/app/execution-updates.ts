/**
 * Applying execution events under compare-and-swap and performing the effects the pure transition returns.
 * Every writer of an execution document goes through `applyExecutionEvent`.
 */
import type { ExecutionEvent, TransitionResult } from '../domain/execution-machine';
import { transition } from '../domain/execution-machine';
import { ServiceError, notAuthorizedOrNotFound } from '../domain/errors';
import type { ExecutionRecord } from '../domain/model';
import { isTerminal } from '../domain/model';
import type { ServiceDeps } from './deps';
import { updateDoc, type Versioned } from './documents';
import { executionKey, openExecutionKey } from './layout';
import { publishCancelRequested, publishExecutionChanged } from './publish';

export interface AppliedEvent {
  execution: Versioned<ExecutionRecord>;
  changed: boolean;
}

/** `known`: the execution as the caller has just read it, so it is not read again (a stale copy costs a retry). */
export async function applyExecutionEvent(
  deps: ServiceDeps,
  commandId: string,
  instanceId: string,
  event: ExecutionEvent,
  known?: Versioned<ExecutionRecord>,
): Promise<AppliedEvent> {
  const updated = await updateDoc<ExecutionRecord, TransitionResult>(
    deps.state,
    executionKey(commandId, instanceId),
    (current) => {
      const result = transition(current, event);
      return { next: result.ok ? result.next : current, changed: result.ok && result.changed, result };
    },
    known,
  );
  if (!updated) throw notAuthorizedOrNotFound();
  const { result } = updated;
  if (!result.ok) throw new ServiceError(result.code, result.message);

  const execution = updated.current.doc;
  // The open-executions index only feeds the sweeps; a leftover entry is cleaned by the next sweep. The delete goes out
  // with the effects below, so on the embedded store it shares their commit.
  const openEntryDropped =
    updated.changed && (isTerminal(execution.lifecycleState) || execution.deliveryState === 'EXPIRED')
      ? deps.state
          .delete(openExecutionKey({ id: commandId, timeCreated: execution.timeCreated, sequenceNumber: execution.sequenceNumber }, instanceId))
          .catch((err: unknown) => deps.log.warn('could not delete open-execution index', { commandId, error: String(err) }))
      : undefined;
  for (const effect of result.effects) {
    switch (effect.type) {
      case 'publishExecutionChanged':
        await publishExecutionChanged(deps, execution);
        break;
      case 'requestAgentCancel': {
        const instance = await deps.identity.getInstance(instanceId);
        if (instance) await publishCancelRequested(deps, instance.streamId, execution);
        break;
      }
      case 'lateReport':
        deps.log.warn('late agent report ignored: the execution is already terminal', {
          commandId,
          instanceId,
          event: effect.event,
          state: effect.state,
        });
        break;
    }
  }
  await openEntryDropped;
  return { execution: updated.current, changed: updated.changed };
}
