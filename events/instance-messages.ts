/**
 * Validation of instance stream messages at the agent's edge (`events/messages.ts` shapes). A message that does not
 * validate is logged and skipped by the caller; the error names the field.
 */
import type { CommandCancelRequestedMessage, CommandIssuedMessage, InstanceStreamMessage } from './messages';
import type { CommandContent, CommandOutput, CommandSource } from '../shared/domain/model';
import { Limits } from '../shared/domain/limits';
import { codePointLength } from '../shared/domain/validation';
import { InvalidMessageError, isObj, optStr, parseJsonMessage, str, type Obj } from './json';

const SAFE_ID = /^[A-Za-z0-9._-]{1,255}$/;

/** Agents name files after command ids, so an id must be a plain file name. */
export function isSafeId(id: string): boolean {
  return SAFE_ID.test(id) && id !== '.' && id !== '..';
}

function int(o: Obj, field: string, path: string, min: number, max: number): number {
  const v = o[field];
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) {
    throw new InvalidMessageError(`${path}${field} must be an integer from ${min} to ${max}`, `${path}${field}`);
  }
  return v;
}

function commandId(o: Obj): string {
  const id = str(o, 'instanceAgentCommandId', '');
  // The id becomes a state file name: anything outside the OCID alphabet is refused.
  if (!isSafeId(id)) throw new InvalidMessageError('instanceAgentCommandId has characters outside [A-Za-z0-9._-]', 'instanceAgentCommandId');
  return id;
}

function parseSource(v: unknown): CommandSource {
  if (!isObj(v)) throw new InvalidMessageError('content.source must be an object', 'content.source');
  const p = 'content.source.';
  switch (v.sourceType) {
    case 'TEXT': {
      const text = v.text;
      if (typeof text !== 'string') throw new InvalidMessageError('content.source.text must be a string', 'content.source.text');
      const textSha256 = optStr(v, 'textSha256', p);
      return { sourceType: 'TEXT', text, ...(textSha256 !== undefined ? { textSha256 } : {}) };
    }
    case 'OBJECT_STORAGE_URI':
      return { sourceType: 'OBJECT_STORAGE_URI', sourceUri: str(v, 'sourceUri', p) };
    case 'OBJECT_STORAGE_TUPLE':
      return { sourceType: 'OBJECT_STORAGE_TUPLE', bucketName: str(v, 'bucketName', p), namespaceName: str(v, 'namespaceName', p), objectName: str(v, 'objectName', p) };
    default:
      throw new InvalidMessageError('content.source.sourceType must be TEXT, OBJECT_STORAGE_URI or OBJECT_STORAGE_TUPLE', 'content.source.sourceType');
  }
}

function parseOutput(v: unknown): CommandOutput {
  if (v === undefined) return { outputType: 'TEXT' };
  if (!isObj(v)) throw new InvalidMessageError('content.output must be an object', 'content.output');
  const p = 'content.output.';
  switch (v.outputType) {
    case 'TEXT':
      return { outputType: 'TEXT' };
    case 'OBJECT_STORAGE_URI':
      return { outputType: 'OBJECT_STORAGE_URI', outputUri: str(v, 'outputUri', p) };
    case 'OBJECT_STORAGE_TUPLE':
      return { outputType: 'OBJECT_STORAGE_TUPLE', bucketName: str(v, 'bucketName', p), namespaceName: str(v, 'namespaceName', p), objectName: str(v, 'objectName', p) };
    default:
      throw new InvalidMessageError('content.output.outputType must be TEXT, OBJECT_STORAGE_URI or OBJECT_STORAGE_TUPLE', 'content.output.outputType');
  }
}

function parseContent(v: unknown): CommandContent {
  if (!isObj(v)) throw new InvalidMessageError('content must be an object', 'content');
  const commandString = optStr(v, 'commandString', 'content.');
  if (commandString !== undefined && codePointLength(commandString) > Limits.maxCommandStringLength) {
    throw new InvalidMessageError(`content.commandString is longer than ${Limits.maxCommandStringLength} characters`, 'content.commandString');
  }
  return { source: parseSource(v.source), output: parseOutput(v.output), ...(commandString !== undefined ? { commandString } : {}) };
}

function parseIssued(o: Obj): CommandIssuedMessage {
  const displayName = optStr(o, 'displayName', '');
  const reservedFor = optStr(o, 'reservedFor', '');
  return {
    type: 'command.issued',
    specVersion: 1,
    instanceAgentCommandId: commandId(o),
    instanceId: str(o, 'instanceId', ''),
    compartmentId: str(o, 'compartmentId', ''),
    ...(displayName !== undefined ? { displayName } : {}),
    executionTimeOutInSeconds: int(o, 'executionTimeOutInSeconds', '', Limits.minTimeoutSec, Limits.maxTimeoutSec),
    content: parseContent(o.content),
    sequenceNumber: int(o, 'sequenceNumber', '', 0, Number.MAX_SAFE_INTEGER),
    timeCreated: str(o, 'timeCreated', ''),
    ...(reservedFor !== undefined ? { reservedFor } : {}),
  };
}

function parseCancel(o: Obj): CommandCancelRequestedMessage {
  return {
    type: 'command.cancel-requested',
    specVersion: 1,
    instanceAgentCommandId: commandId(o),
    instanceId: str(o, 'instanceId', ''),
    timeRequested: str(o, 'timeRequested', ''),
  };
}

/** Parses one stream record's value into an instance stream message, or throws `InvalidMessageError`. */
export function parseInstanceStreamMessage(value: Buffer): InstanceStreamMessage {
  const parsed = parseJsonMessage(value);
  if (parsed.specVersion !== 1) throw new InvalidMessageError('specVersion must be 1', 'specVersion');
  if (parsed.type === 'command.issued') return parseIssued(parsed);
  if (parsed.type === 'command.cancel-requested') return parseCancel(parsed);
  throw new InvalidMessageError(`unknown message type ${JSON.stringify(parsed.type)}`, 'type');
}
