/**
 * handleObjectCreated: what an Object Storage `createobject` event means to runcommand.
 *
 * - An **output** the agent uploaded (its `opc-meta-runcommand-*` metadata names the execution) is recorded on that
 *   execution's `outputObjects`, once per ETag, under compare-and-swap.
 * - A **script dropped** under `<triggerPrefix>/<instanceId>/` in the trigger bucket becomes a command for that
 *   instance, created by the service principal, with the object as its source.
 * - Anything else in a bucket with events enabled is ignored.
 *
 * Events are delivered at least once, so both paths are idempotent: a redelivered output event finds its ETag
 * already recorded, and a redelivered drop derives the same create retry token (see `dropRetryToken`).
 * An upload that can never be acted on (unknown instance, bad metadata, a path outside the layout) is refused with a
 * 4xx ServiceError naming the reason, so the invoker logs it and stops retrying; other failures are retried.
 */
import { createHash } from 'node:crypto';
import { ServiceError, isServiceError } from '../domain/errors';
import type { ExecutionRecord, RecordedOutputObject } from '../domain/model';
import {
  eventObject,
  isOutputUpload,
  isUnderTriggerPrefix,
  outputTargetOf,
  parseOutputUpload,
  parseScriptDrop,
  type CreateObjectEvent,
  type EventObject,
  type TriggerLocation,
} from '../domain/object-event';
import { validateCreateDetails } from '../domain/validation';
import type { Principal } from '../ports/identity';
import type { ObjectInfo } from '../ports/object-store';
import type { ObjectReader } from '../ports/object-reader';
import { createCommand } from './create-command';
import type { ServiceDeps } from './deps';
import { updateDoc } from './documents';
import { executionKey } from './layout';

export interface ObjectEventsDeps extends ServiceDeps {
  /** Heads the object an event names (events carry no metadata). */
  objects: ObjectReader;
  trigger: TriggerLocation;
  /** Commands created from dropped scripts are created by this principal. */
  servicePrincipal: Principal;
}

export type ObjectEventOutcome =
  | { outcome: 'output-recorded'; instanceAgentCommandId: string; instanceId: string; etag: string; changed: boolean }
  | { outcome: 'command-created'; instanceAgentCommandId: string; instanceId: string }
  | { outcome: 'ignored'; reason: string };

/** An execution keeps at most this many recorded uploads (each overwrite of its output is one); the newest win. */
export const MAX_RECORDED_OUTPUT_OBJECTS = 100;

/**
 * The create retry token of a dropped script, derived from the event id AND the ETag:
 * - the event id is what stays the same when one event is delivered again (retries, a second rule), so a
 *   redelivery finds the command its first delivery created;
 * - but event ids are minted by whoever emits the event (OCI's sample and test events, replays), so the id alone
 *   could take a different upload for a duplicate (no command) or, its body differing, make createCommand refuse it
 *   as InvalidatedRetryToken. The ETag ties the token to the exact object version the command runs.
 * The ETag alone is not the key either: OCI promises it only as one object's version tag (not unique across buckets
 * or namespaces), and the at-least-once contract of Events is keyed on the event id.
 */
export function dropRetryToken(eventId: string, etag: string): string {
  return `drop-${createHash('sha256').update(`${eventId}\n${etag}`).digest('base64url').slice(0, 43)}`;
}

export async function handleObjectCreated(deps: ObjectEventsDeps, event: CreateObjectEvent): Promise<ObjectEventOutcome> {
  const object = eventObject(event);
  const fields = {
    eventId: event.eventID,
    namespaceName: object.namespaceName,
    bucketName: object.bucketName,
    objectName: object.objectName,
    etag: object.etag,
  };
  try {
    const outcome = await act(deps, event, object);
    deps.log.info('object event handled', { ...fields, ...outcome });
    return outcome;
  } catch (e) {
    if (isServiceError(e) && e.status < 500) deps.log.warn('object event refused', { ...fields, code: e.code, reason: e.message });
    throw e;
  }
}

async function act(deps: ObjectEventsDeps, event: CreateObjectEvent, object: EventObject): Promise<ObjectEventOutcome> {
  const head = await deps.objects.headObject(object.namespaceName, object.bucketName, object.objectName);
  if (!head) return { outcome: 'ignored', reason: 'The object no longer exists.' };
  // The version this event announced was replaced; the newer version has its own event.
  if (head.etag !== object.etag) return { outcome: 'ignored', reason: 'The object was overwritten since this event.' };
  // Outputs first: an output that lands under the trigger prefix must never be run as a script.
  if (isOutputUpload(head.metadata)) return recordOutput(deps, object, head);
  if (isUnderTriggerPrefix(deps.trigger, object)) return createFromDrop(deps, event, object, head);
  return { outcome: 'ignored', reason: 'The object is neither an execution output nor a script drop.' };
}

function sameObject(a: Omit<EventObject, 'etag'>, b: Omit<EventObject, 'etag'>): boolean {
  return a.namespaceName === b.namespaceName && a.bucketName === b.bucketName && a.objectName === b.objectName;
}

async function recordOutput(deps: ObjectEventsDeps, object: EventObject, head: ObjectInfo): Promise<ObjectEventOutcome> {
  const { commandId, instanceId } = parseOutputUpload(head.metadata);
  const recorded: RecordedOutputObject = {
    namespaceName: object.namespaceName,
    bucketName: object.bucketName,
    objectName: object.objectName,
    sizeInBytes: head.size,
    etag: head.etag,
    timeUploaded: head.timeModified,
  };
  const updated = await updateDoc<ExecutionRecord, 'recorded' | 'duplicate' | 'not-the-target'>(
    deps.state,
    executionKey(commandId, instanceId),
    (current) => {
      const target = outputTargetOf(current.output);
      // Anyone who may write a bucket could set the metadata; only the execution's own target is its output.
      if (!target || !sameObject(target, object)) return { next: current, changed: false, result: 'not-the-target' };
      const existing = current.outputObjects ?? [];
      if (existing.some((o) => o.etag === recorded.etag)) return { next: current, changed: false, result: 'duplicate' };
      const outputObjects = [...existing, recorded].slice(-MAX_RECORDED_OUTPUT_OBJECTS);
      return { next: { ...current, outputObjects }, changed: true, result: 'recorded' };
    },
  );
  if (!updated) {
    throw new ServiceError(
      'RelatedResourceNotAuthorizedOrNotFound',
      `The execution of command ${commandId} on instance ${instanceId} named by the object's metadata does not exist.`,
    );
  }
  if (updated.result === 'not-the-target') {
    throw new ServiceError(
      'InvalidParameter',
      `The object is not the output target of the execution of command ${commandId} on instance ${instanceId} named by its metadata.`,
    );
  }
  return { outcome: 'output-recorded', instanceAgentCommandId: commandId, instanceId, etag: recorded.etag, changed: updated.changed };
}

async function createFromDrop(
  deps: ObjectEventsDeps,
  event: CreateObjectEvent,
  object: EventObject,
  head: ObjectInfo,
): Promise<ObjectEventOutcome> {
  const drop = parseScriptDrop(deps.trigger, object, head.metadata, event.eventID);
  const instance = await deps.identity.getInstance(drop.instanceId);
  if (!instance) {
    throw new ServiceError('RelatedResourceNotAuthorizedOrNotFound', `The instance ${drop.instanceId} named by the object's path does not exist.`);
  }
  const spec = validateCreateDetails({
    compartmentId: instance.compartmentId,
    displayName: drop.displayName,
    executionTimeOutInSeconds: drop.executionTimeOutInSeconds,
    target: { instanceId: drop.instanceId },
    content: {
      source: { sourceType: 'OBJECT_STORAGE_TUPLE', namespaceName: object.namespaceName, bucketName: object.bucketName, objectName: object.objectName },
      output: drop.output,
    },
  });
  const created = await createCommand(deps, {
    principal: deps.servicePrincipal,
    spec,
    retryToken: dropRetryToken(event.eventID, object.etag),
  });
  return { outcome: 'command-created', instanceAgentCommandId: created.doc.id, instanceId: drop.instanceId };
}
