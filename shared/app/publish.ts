import type { CommandIssuedMessage, CommandCancelRequestedMessage, ExecutionChangedMessage } from '../../events/messages';
import type { CommandRecord, ExecutionRecord } from '../domain/model';
import { toWireExecution } from '../domain/model';
import type { ServiceDeps } from './deps';

export async function publishCommandIssued(deps: ServiceDeps, streamId: string, c: CommandRecord, reservedFor?: string): Promise<void> {
  const message: CommandIssuedMessage = {
    type: 'command.issued',
    specVersion: 1,
    instanceAgentCommandId: c.id,
    instanceId: c.target.instanceId,
    compartmentId: c.compartmentId,
    ...(c.displayName !== undefined ? { displayName: c.displayName } : {}),
    executionTimeOutInSeconds: c.executionTimeOutInSeconds,
    content: c.content,
    sequenceNumber: c.sequenceNumber,
    timeCreated: c.timeCreated,
    ...(reservedFor !== undefined ? { reservedFor } : {}),
  };
  await deps.streams.publish(streamId, [{ key: c.id, value: JSON.stringify(message) }]);
}

export async function publishCancelRequested(deps: ServiceDeps, streamId: string, e: ExecutionRecord): Promise<void> {
  const message: CommandCancelRequestedMessage = {
    type: 'command.cancel-requested',
    specVersion: 1,
    instanceAgentCommandId: e.instanceAgentCommandId,
    instanceId: e.instanceId,
    timeRequested: new Date(deps.clock.nowMs()).toISOString(),
  };
  await deps.streams.publish(streamId, [{ key: e.instanceAgentCommandId, value: JSON.stringify(message) }]);
}

/**
 * Execution changes feed waiters and consoles; they are a notification, not the record (the document is), so a
 * failure to publish is logged and does not fail the state change that already happened.
 */
export async function publishExecutionChanged(deps: ServiceDeps, e: ExecutionRecord): Promise<void> {
  const message: ExecutionChangedMessage = {
    type: 'execution.changed',
    specVersion: 1,
    compartmentId: e.compartmentId,
    execution: toWireExecution(e),
  };
  try {
    await deps.streams.publish(deps.executionEventsStreamId, [
      { key: e.instanceAgentCommandId, value: JSON.stringify(message) },
    ]);
  } catch (err) {
    deps.log.warn('could not publish execution change', {
      commandId: e.instanceAgentCommandId,
      error: String(err),
    });
  }
}
