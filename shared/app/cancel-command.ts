/**
 * cancelCommand: best effort, as OCI documents it. A queued execution becomes CANCELED at once without any agent;
 * a running one gets `command.cancel-requested` on its instance stream; a finished or expired one is unchanged and
 * the call still succeeds.
 */
import { ServiceError } from '../domain/errors';
import type { CommandRecord, ExecutionRecord } from '../domain/model';
import { isTerminal } from '../domain/model';
import type { Principal } from '../ports/identity';
import type { ServiceDeps } from './deps';
import { readDoc, updateDoc } from './documents';
import { applyExecutionEvent } from './execution-updates';
import { commandKey, executionKey } from './layout';
import { getCommand } from './query-commands';

export interface CancelCommandInput {
  principal: Principal;
  commandId: string;
  ifMatch?: string;
}

export async function cancelCommand(deps: ServiceDeps, input: CancelCommandInput): Promise<void> {
  const command = await getCommand(deps, input.principal, input.commandId);
  if (input.ifMatch !== undefined && input.ifMatch !== command.etag) {
    throw new ServiceError('NoEtagMatch', 'The resource has changed since the given if-match etag.');
  }
  const instanceId = command.doc.target.instanceId;
  const execution = await readDoc<ExecutionRecord>(deps.state, executionKey(command.doc.id, instanceId));
  if (execution && (isTerminal(execution.doc.lifecycleState) || execution.doc.deliveryState === 'EXPIRED')) return;

  const nowIso = new Date(deps.clock.nowMs()).toISOString();
  await updateDoc<CommandRecord, void>(
    deps.state,
    commandKey(command.doc.id),
    (c) => ({ next: { ...c, isCanceled: true, timeUpdated: nowIso }, changed: !c.isCanceled, result: undefined }),
    command,
  );
  if (execution) await applyExecutionEvent(deps, command.doc.id, instanceId, { type: 'CANCEL', at: nowIso }, execution);
}
