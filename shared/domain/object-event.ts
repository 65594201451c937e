/**
 * OCI Events `com.oraclecloud.objectstorage.createobject` (spec fn-fdk-and-events.md §5.1): the CloudEvents 0.1
 * envelope and the Object Storage data inside it are parsed separately, and every rejection names the field
 * (`'data.additionalDetails.eTag'`). Also the pure rules of what an upload means to runcommand: an output of an
 * execution (metadata written by the agent) or a script dropped under `<triggerPrefix>/<instanceId>/` in the trigger
 * bucket (metadata written by the user). Pure: no I/O, no clock.
 */
import { ServiceError } from './errors';
import { Limits } from './limits';
import type { CommandOutput } from './model';
import { INSTANCE_OCID_TYPES, isOcidOf } from './validation';

export const CREATE_OBJECT_EVENT_TYPE = 'com.oraclecloud.objectstorage.createobject';
export const CLOUD_EVENTS_VERSION = '0.1';

/** The CloudEvents 0.1 envelope OCI Events delivers; `data` is left for the parser of its event type. */
export interface CloudEventEnvelope {
  cloudEventsVersion: typeof CLOUD_EVENTS_VERSION;
  eventID: string;
  eventType: string;
  eventTypeVersion: string;
  source: string;
  eventTime: string;
  contentType?: string;
  extensions: { compartmentId: string };
  data: unknown;
}

/** What runcommand reads of a createobject event's `data` (the other fields OCI sends are not relied on). */
export interface CreateObjectData {
  /** The object name; may contain `/`. */
  resourceName: string;
  /** `/n/<ns>/b/<bucket>/o/<object>`; older OCI samples leave it empty, so it is kept but never used. */
  resourceId: string;
  additionalDetails: { eTag: string; namespace: string; bucketName: string; bucketId?: string };
}

export interface CreateObjectEvent extends Omit<CloudEventEnvelope, 'data'> {
  data: CreateObjectData;
}

/** The object an event is about. */
export interface EventObject {
  namespaceName: string;
  bucketName: string;
  objectName: string;
  etag: string;
}

const MAX_EVENT_ID_LENGTH = 256;
const MAX_NAME_LENGTH = 256;
const MAX_OBJECT_NAME_BYTES = 1024;
const MAX_ETAG_LENGTH = 256;
const MAX_FIELD_LENGTH = 1024;
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

type JsonObject = Record<string, unknown>;

function invalid(path: string, reason: string): ServiceError {
  return new ServiceError('InvalidParameter', `The parameter '${path}' ${reason}.`);
}

function isPlainObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function requireObject(value: unknown, path: string): JsonObject {
  if (value === undefined || value === null) throw new ServiceError('MissingParameter', `The parameter '${path}' is required.`);
  if (!isPlainObject(value)) throw invalid(path, 'must be a JSON object');
  return value;
}

function requireText(value: unknown, path: string, maxLength = MAX_FIELD_LENGTH): string {
  if (value === undefined || value === null) throw new ServiceError('MissingParameter', `The parameter '${path}' is required.`);
  if (typeof value !== 'string' || value === '') throw invalid(path, 'must be a non-empty string');
  if (value.length > maxLength) throw invalid(path, `must be at most ${maxLength} characters`);
  return value;
}

/** Parses the CloudEvents 0.1 envelope; `data` is returned unparsed. */
export function parseCloudEventEnvelope(input: unknown): CloudEventEnvelope {
  if (!isPlainObject(input)) throw new ServiceError('InvalidParameter', 'The event must be a JSON object (a CloudEvents 0.1 envelope).');
  if (input.cloudEventsVersion !== CLOUD_EVENTS_VERSION) throw invalid('cloudEventsVersion', `must be "${CLOUD_EVENTS_VERSION}"`);
  const eventTime = requireText(input.eventTime, 'eventTime', 64);
  if (!RFC3339.test(eventTime) || Number.isNaN(Date.parse(eventTime))) throw invalid('eventTime', 'must be an RFC 3339 time');
  const contentType = input.contentType;
  if (contentType !== undefined && contentType !== null && typeof contentType !== 'string') throw invalid('contentType', 'must be a string');
  const extensions = requireObject(input.extensions, 'extensions');
  return {
    cloudEventsVersion: CLOUD_EVENTS_VERSION,
    eventID: requireText(input.eventID, 'eventID', MAX_EVENT_ID_LENGTH),
    eventType: requireText(input.eventType, 'eventType'),
    eventTypeVersion: requireText(input.eventTypeVersion, 'eventTypeVersion', 64),
    source: requireText(input.source, 'source'),
    eventTime,
    ...(typeof contentType === 'string' ? { contentType } : {}),
    extensions: { compartmentId: requireText(extensions.compartmentId, 'extensions.compartmentId', 255) },
    data: input.data,
  };
}

/** Parses the `data` of a createobject event. */
export function parseCreateObjectData(value: unknown): CreateObjectData {
  const data = requireObject(value, 'data');
  const resourceName = requireText(data.resourceName, 'data.resourceName', MAX_OBJECT_NAME_BYTES);
  if (Buffer.byteLength(resourceName, 'utf8') > MAX_OBJECT_NAME_BYTES) throw invalid('data.resourceName', `must be at most ${MAX_OBJECT_NAME_BYTES} bytes`);
  const resourceId = data.resourceId ?? '';
  if (typeof resourceId !== 'string') throw invalid('data.resourceId', 'must be a string');
  const details = requireObject(data.additionalDetails, 'data.additionalDetails');
  const bucketId = details.bucketId;
  if (bucketId !== undefined && bucketId !== null && typeof bucketId !== 'string') throw invalid('data.additionalDetails.bucketId', 'must be a string');
  return {
    resourceName,
    resourceId,
    additionalDetails: {
      eTag: requireText(details.eTag, 'data.additionalDetails.eTag', MAX_ETAG_LENGTH),
      namespace: requireText(details.namespace, 'data.additionalDetails.namespace', MAX_NAME_LENGTH),
      bucketName: requireText(details.bucketName, 'data.additionalDetails.bucketName', MAX_NAME_LENGTH),
      ...(typeof bucketId === 'string' ? { bucketId } : {}),
    },
  };
}

/** Parses a whole createobject event: the envelope, its type, then its data. */
export function parseCreateObjectEvent(input: unknown): CreateObjectEvent {
  const envelope = parseCloudEventEnvelope(input);
  if (envelope.eventType !== CREATE_OBJECT_EVENT_TYPE) throw invalid('eventType', `must be ${CREATE_OBJECT_EVENT_TYPE}`);
  return { ...envelope, data: parseCreateObjectData(envelope.data) };
}

export function eventObject(event: CreateObjectEvent): EventObject {
  const d = event.data.additionalDetails;
  return { namespaceName: d.namespace, bucketName: d.bucketName, objectName: event.data.resourceName, etag: d.eTag };
}

/** The event an Object Storage endpoint emits when an object was created or overwritten (spec §5.1's shape). */
export function createObjectEvent(input: {
  eventId: string;
  eventTime: string;
  compartmentId: string;
  namespaceName: string;
  bucketName: string;
  bucketId: string;
  objectName: string;
  etag: string;
}): CreateObjectEvent & { data: CreateObjectData & Record<string, unknown> } {
  return {
    eventType: CREATE_OBJECT_EVENT_TYPE,
    cloudEventsVersion: CLOUD_EVENTS_VERSION,
    eventTypeVersion: '2.0',
    source: 'ObjectStorage',
    eventID: input.eventId,
    eventTime: input.eventTime,
    contentType: 'application/json',
    extensions: { compartmentId: input.compartmentId },
    data: {
      compartmentId: input.compartmentId,
      resourceName: input.objectName,
      resourceId: `/n/${input.namespaceName}/b/${input.bucketName}/o/${input.objectName}`,
      freeformTags: {},
      definedTags: {},
      additionalDetails: {
        eTag: input.etag,
        namespace: input.namespaceName,
        archivalState: 'Available',
        bucketName: input.bucketName,
        bucketId: input.bucketId,
      } as CreateObjectData['additionalDetails'],
    },
  };
}

// ---- outputs uploaded by the agent ----

/** Object metadata (without `opc-meta-`) the agent writes on every output object it uploads. */
export const OutputMetadata = {
  commandId: 'runcommand-command-id',
  instanceId: 'runcommand-instance-id',
  stdoutBytes: 'runcommand-stdout-bytes',
  stderrBytes: 'runcommand-stderr-bytes',
  exitCode: 'runcommand-exit-code',
} as const;

/** Whether the object carries the agent's output metadata (it then is an output, never a trigger drop). */
export function isOutputUpload(metadata: Record<string, string>): boolean {
  return metadata[OutputMetadata.commandId] !== undefined || metadata[OutputMetadata.instanceId] !== undefined;
}

/** The execution an output object names in its metadata. */
export function parseOutputUpload(metadata: Record<string, string>): { commandId: string; instanceId: string } {
  const commandId = metadata[OutputMetadata.commandId];
  const instanceId = metadata[OutputMetadata.instanceId];
  if (commandId === undefined || !isOcidOf(commandId, ['instanceagentcommand'])) {
    throw invalid(`opc-meta-${OutputMetadata.commandId}`, 'must be an instanceagentcommand OCID');
  }
  if (instanceId === undefined || !isOcidOf(instanceId, INSTANCE_OCID_TYPES)) {
    throw invalid(`opc-meta-${OutputMetadata.instanceId}`, 'must be an instance OCID');
  }
  return { commandId, instanceId };
}

/**
 * The object an execution's output target names: a tuple, or the `/n/<ns>/b/<bucket>/o/<object>` path of a native
 * or PAR URI. Undefined for TEXT output.
 */
export function outputTargetOf(output: CommandOutput): Omit<EventObject, 'etag'> | undefined {
  if (output.outputType === 'OBJECT_STORAGE_TUPLE') {
    return { namespaceName: output.namespaceName, bucketName: output.bucketName, objectName: output.objectName };
  }
  if (output.outputType !== 'OBJECT_STORAGE_URI') return undefined;
  let pathname: string;
  try {
    pathname = new URL(output.outputUri).pathname;
  } catch {
    return undefined;
  }
  const m = /\/n\/([^/]+)\/b\/([^/]+)\/o\/(.+)$/.exec(pathname);
  if (!m?.[1] || !m[2] || !m[3]) return undefined;
  try {
    return { namespaceName: decodeURIComponent(m[1]), bucketName: decodeURIComponent(m[2]), objectName: decodeURIComponent(m[3]) };
  } catch {
    return undefined;
  }
}

// ---- scripts dropped into the trigger bucket ----

/** Object metadata (without `opc-meta-`) a user may set on a dropped script. */
export const DropMetadata = {
  timeoutSec: 'timeout-in-seconds',
  displayName: 'display-name',
  outputBucket: 'output-bucket',
  outputObject: 'output-object',
} as const;

export const DEFAULT_DROP_TIMEOUT_SEC = 3600;

export interface TriggerLocation {
  bucketName: string;
  /** Without a trailing slash, e.g. `scripts`. */
  prefix: string;
}

/** What a dropped script asks for, before the instance is looked up. */
export interface ScriptDrop {
  instanceId: string;
  executionTimeOutInSeconds: number;
  displayName: string;
  output: CommandOutput;
}

const BUCKET_NAME = /^[A-Za-z0-9._-]{1,256}$/;

function codePoints(s: string): string[] {
  return [...s];
}

export function isUnderTriggerPrefix(trigger: TriggerLocation, o: Omit<EventObject, 'etag'>): boolean {
  return o.bucketName === trigger.bucketName && o.objectName.startsWith(`${trigger.prefix}/`);
}

/**
 * Reads a script dropped at `<prefix>/<instanceId>/<name>` with its `opc-meta-*`. `eventId` makes the default
 * output object unique per drop. Throws a ServiceError naming the offending object part or metadata field.
 */
export function parseScriptDrop(
  trigger: TriggerLocation,
  object: Omit<EventObject, 'etag'>,
  metadata: Record<string, string>,
  eventId: string,
): ScriptDrop {
  const rest = object.objectName.slice(trigger.prefix.length + 1);
  const slash = rest.indexOf('/');
  const instanceId = slash < 0 ? '' : rest.slice(0, slash);
  const name = slash < 0 ? '' : rest.slice(slash + 1);
  if (!isUnderTriggerPrefix(trigger, object) || !isOcidOf(instanceId, INSTANCE_OCID_TYPES) || name === '') {
    throw invalid('data.resourceName', `must be ${trigger.prefix}/<instanceId>/<name> with an instance OCID`);
  }

  const timeoutRaw = metadata[DropMetadata.timeoutSec];
  let executionTimeOutInSeconds = DEFAULT_DROP_TIMEOUT_SEC;
  if (timeoutRaw !== undefined) {
    const n = /^\d{1,6}$/.test(timeoutRaw.trim()) ? Number(timeoutRaw.trim()) : NaN;
    if (!(n >= Limits.minTimeoutSec && n <= Limits.maxTimeoutSec)) {
      throw invalid(`opc-meta-${DropMetadata.timeoutSec}`, `must be an integer from ${Limits.minTimeoutSec} to ${Limits.maxTimeoutSec}`);
    }
    executionTimeOutInSeconds = n;
  }

  const displayNameRaw = metadata[DropMetadata.displayName];
  if (displayNameRaw !== undefined) {
    const length = codePoints(displayNameRaw).length;
    if (length < Limits.minDisplayNameLength || length > Limits.maxDisplayNameLength) {
      throw invalid(`opc-meta-${DropMetadata.displayName}`, `must be ${Limits.minDisplayNameLength} to ${Limits.maxDisplayNameLength} characters`);
    }
  }
  // The object name can be longer than a display name may be; its end says most about it.
  const displayName = displayNameRaw ?? codePoints(object.objectName).slice(-Limits.maxDisplayNameLength).join('');

  const outputBucket = metadata[DropMetadata.outputBucket];
  const outputObjectRaw = metadata[DropMetadata.outputObject];
  let output: CommandOutput = { outputType: 'TEXT' };
  if (outputBucket === undefined && outputObjectRaw !== undefined) {
    throw invalid(`opc-meta-${DropMetadata.outputObject}`, `needs opc-meta-${DropMetadata.outputBucket}`);
  }
  if (outputBucket !== undefined) {
    if (!BUCKET_NAME.test(outputBucket)) {
      throw invalid(`opc-meta-${DropMetadata.outputBucket}`, 'must be a bucket name (1 to 256 letters, digits, dashes, underscores, periods)');
    }
    const objectName = outputObjectRaw ?? `outputs/${instanceId}/${name}.${eventId}.out`;
    if (objectName === '' || Buffer.byteLength(objectName, 'utf8') > MAX_OBJECT_NAME_BYTES) {
      throw invalid(`opc-meta-${DropMetadata.outputObject}`, `must be 1 to ${MAX_OBJECT_NAME_BYTES} bytes`);
    }
    // An output written back under the trigger prefix would be run as a script: a loop.
    if (isUnderTriggerPrefix(trigger, { namespaceName: object.namespaceName, bucketName: outputBucket, objectName })) {
      throw invalid(`opc-meta-${DropMetadata.outputObject}`, `must not be under ${trigger.prefix}/ in the trigger bucket`);
    }
    output = { outputType: 'OBJECT_STORAGE_TUPLE', namespaceName: object.namespaceName, bucketName: outputBucket, objectName };
  }
  return { instanceId, executionTimeOutInSeconds, displayName, output };
}
