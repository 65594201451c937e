/**
 * createCommand: persist the command and its execution (ACCEPTED/VISIBLE), index them, and publish
 * `command.issued` on the target instance's stream.
 *
 * Idempotency: with an `opc-retry-token`, the command id is derived from (principal, token), so a retried create
 * finds the command its first attempt wrote (the create-only write loses) and returns it, finishing whatever that
 * attempt left undone (indexes, publish). The same token with another body is refused. Tokens live 24 hours.
 */
import { createHash } from 'node:crypto';
import { ServiceError, notAuthorizedOrNotFound } from '../domain/errors';
import { Limits } from '../domain/limits';
import type { CommandRecord, CommandSpec, ExecutionRecord } from '../domain/model';
import type { Principal } from '../ports/identity';
import { canUseCompartment, principalId } from '../ports/identity';
import type { ServiceDeps } from './deps';
import { createDoc, readDoc, type Versioned } from './documents';
import { commandKey, executionKey, indexKeys, openExecutionKey } from './layout';
import { activeAgentSession } from './agent-sessions';
import { publishCommandIssued } from './publish';

export interface CreateCommandInput {
  principal: Principal;
  spec: CommandSpec;
  retryToken?: string;
}

const COMMAND_OCID_PREFIX = 'ocid1.instanceagentcommand.oc1..';

function requestHash(spec: CommandSpec): string {
  return createHash('sha256').update(JSON.stringify(spec)).digest('hex');
}

function commandIdForRetryToken(principal: Principal, token: string): string {
  const digest = createHash('sha256').update(`${principalId(principal)}\n${token}`).digest('hex');
  return `${COMMAND_OCID_PREFIX}rt${digest.slice(0, 60)}`;
}

export async function createCommand(deps: ServiceDeps, input: CreateCommandInput): Promise<Versioned<CommandRecord>> {
  const { principal, spec } = input;
  if (!(await canUseCompartment(deps.identity, principal, spec.compartmentId))) throw notAuthorizedOrNotFound();
  const instance = await deps.identity.getInstance(spec.target.instanceId);
  if (!instance || instance.tenancyId !== principal.tenancyId) {
    throw new ServiceError(
      'RelatedResourceNotAuthorizedOrNotFound',
      `The target instance ${spec.target.instanceId} does not exist or is not authorized.`,
    );
  }

  const nowMs = deps.clock.nowMs();
  const now = new Date(nowMs).toISOString();
  const hash = requestHash(spec);
  const command = (id: string): CommandRecord & { requestHash: string } => ({
    schemaVersion: 1,
    id,
    compartmentId: spec.compartmentId,
    ...(spec.displayName !== undefined ? { displayName: spec.displayName } : {}),
    executionTimeOutInSeconds: spec.executionTimeOutInSeconds,
    target: { instanceId: spec.target.instanceId },
    content: spec.content,
    timeCreated: now,
    timeUpdated: now,
    isCanceled: false,
    createdBy: principalId(principal),
    sequenceNumber: deps.ids.sequenceNumber(),
    requestHash: hash,
  });

  // With a retry token the id is derived from it, and the create-only write itself tells a first attempt (the usual
  // case: Oracle's SDK sends a token with every create) from a retry, without reading first.
  let fresh = command(input.retryToken ? commandIdForRetryToken(principal, input.retryToken) : deps.ids.ocid('instanceagentcommand'));
  let created = await createDoc(deps.state, commandKey(fresh.id), fresh);
  if (!created && input.retryToken) {
    const existing = await readDoc<CommandRecord & { requestHash?: string }>(deps.state, commandKey(fresh.id));
    if (!existing) throw new ServiceError('Conflict', 'The command is being created by a concurrent request; retry.');
    if (nowMs - Date.parse(existing.doc.timeCreated) <= Limits.retryTokenTtlMs) {
      // A retry of an earlier attempt (or a concurrent one that won the write a moment ago).
      return resumeRetriedCreate(deps, existing, hash, instance.streamId);
    }
    // The token expired: it no longer names the old command, so this is a new one.
    fresh = command(deps.ids.ocid('instanceagentcommand'));
    created = await createDoc(deps.state, commandKey(fresh.id), fresh);
  }
  if (!created) throw new ServiceError('Conflict', 'A command with this id already exists; retry.');
  await finishCreate(deps, fresh, instance.streamId, await activeAgentSession(deps, fresh.target.instanceId, nowMs));
  return created;
}

async function resumeRetriedCreate(
  deps: ServiceDeps,
  existing: Versioned<CommandRecord & { requestHash?: string }>,
  hash: string,
  streamId: string,
): Promise<Versioned<CommandRecord>> {
  if (existing.doc.requestHash !== hash) {
    throw new ServiceError(
      'InvalidatedRetryToken',
      'The opc-retry-token was already used for a different request within the last 24 hours.',
    );
  }
  // The execution written by the first attempt keeps its reservation (or none); this one is not used then.
  await finishCreate(deps, existing.doc, streamId, await activeAgentSession(deps, existing.doc.target.instanceId, deps.clock.nowMs()));
  return readDoc<CommandRecord>(deps.state, commandKey(existing.doc.id)).then((v) => v ?? existing);
}

/**
 * Everything after the command document: idempotent, so a retried create can run it again. `reservedFor` is the
 * instance's active agent session, for which the execution is reserved (reserved delivery).
 */
async function finishCreate(deps: ServiceDeps, c: CommandRecord, streamId: string, reservedFor: string | undefined): Promise<void> {
  const execution: ExecutionRecord = {
    schemaVersion: 1,
    instanceAgentCommandId: c.id,
    instanceId: c.target.instanceId,
    compartmentId: c.compartmentId,
    ...(c.displayName !== undefined ? { displayName: c.displayName } : {}),
    sequenceNumber: c.sequenceNumber,
    executionTimeOutInSeconds: c.executionTimeOutInSeconds,
    output: c.content.output,
    deliveryState: 'VISIBLE',
    lifecycleState: 'ACCEPTED',
    timeCreated: c.timeCreated,
    timeUpdated: c.timeCreated,
    ...(reservedFor !== undefined ? { reservedFor } : {}),
  };
  // The execution and its index entries are written together: on the embedded store they share one commit. An index
  // entry whose execution is missing (its write failed) is skipped by the lists and removed by the sweeps.
  const [createdExecution] = await Promise.all([
    createDoc(deps.state, executionKey(c.id, c.target.instanceId), execution),
    Promise.all([...indexKeys(c), openExecutionKey(c, c.target.instanceId)].map((key) => deps.state.put(key, ''))),
  ]);
  // A retried create re-publishes only while the execution is still waiting for its agent; agents drop duplicates.
  const current = createdExecution ?? (await readDoc<ExecutionRecord>(deps.state, executionKey(c.id, c.target.instanceId)));
  if (current && current.doc.deliveryState === 'VISIBLE' && current.doc.lifecycleState === 'ACCEPTED') {
    await publishCommandIssued(deps, streamId, c, current.doc.reservedFor);
  }
}
