/**
 * The parsers every consumer of an event or message uses, one per source (fixtures of each are in `fixtures/`):
 *
 *   instance stream (command.issued, command.cancel-requested)  parseInstanceStreamMessage   → InvalidMessageError
 *   execution-events stream (execution.changed)                 parseExecutionChangedMessage → InvalidMessageError
 *   Object Storage createobject (CloudEvents 0.1)               parseCreateObjectEvent       → ServiceError (400)
 *   retention-sweep scheduler body                              parseSweepRequest            → ServiceError (400)
 *   agent report (POST /20180530/agent/reports)                 parseAgentReport             → ServiceError (400)
 *
 * Every rejection names the field.
 */
import type { ExecutionChangedMessage } from './messages';
import { DeliveryState, LifecycleState, SourceType, type InstanceAgentCommandExecution } from '../shared/domain/model';
import { InvalidMessageError, isObj, optStr, parseJsonMessage, str, type Obj } from './json';

export { InvalidMessageError, parseJsonMessage } from './json';
export { parseInstanceStreamMessage } from './instance-messages';
export { parseCloudEventEnvelope, parseCreateObjectData, parseCreateObjectEvent } from '../shared/domain/object-event';
export { parseSweepRequest } from '../shared/domain/sweep-policy';
export { parseAgentReport } from '../shared/domain/agent-report';


function fail(field: string, reason: string): never {
  throw new InvalidMessageError(`${field} ${reason}`, field);
}

function oneOf<T extends string>(o: Obj, field: string, path: string, values: readonly T[]): T {
  const v = o[field];
  if (typeof v !== 'string' || !(values as readonly string[]).includes(v)) fail(`${path}${field}`, `must be one of ${values.join(', ')}`);
  return v as T;
}

function time(o: Obj, field: string, path: string): string {
  const v = str(o, field, path);
  if (Number.isNaN(Date.parse(v))) fail(`${path}${field}`, 'must be an RFC 3339 time');
  return v;
}


function parseContent(v: unknown): InstanceAgentCommandExecution['content'] {
  if (!isObj(v)) fail('execution.content', 'must be an object');
  const p = 'execution.content.';
  const exitCode = v.exitCode ?? null;
  if (exitCode !== null && (typeof exitCode !== 'number' || !Number.isInteger(exitCode))) fail(`${p}exitCode`, 'must be an integer or null');
  const message = optStr(v, 'message', p);
  const exit = { exitCode, ...(message !== undefined ? { message } : {}) };
  const outputType = oneOf(v, 'outputType', p, Object.values(SourceType));
  switch (outputType) {
    case 'TEXT': {
      const text = v.text ?? undefined;
      if (text !== undefined && typeof text !== 'string') fail(`${p}text`, 'must be a string');
      const textSha256 = optStr(v, 'textSha256', p);
      return { outputType, ...(text !== undefined ? { text } : {}), ...(textSha256 !== undefined ? { textSha256 } : {}), ...exit };
    }
    case 'OBJECT_STORAGE_URI':
      return { outputType, outputUri: str(v, 'outputUri', p), ...exit };
    case 'OBJECT_STORAGE_TUPLE':
      return { outputType, bucketName: str(v, 'bucketName', p), namespaceName: str(v, 'namespaceName', p), objectName: str(v, 'objectName', p), ...exit };
  }
}

/** Parses one `execution-events` record's value. */
export function parseExecutionChangedMessage(value: Buffer): ExecutionChangedMessage {
  const o = parseJsonMessage(value);
  if (o.type !== 'execution.changed') fail('type', 'must be execution.changed');
  if (o.specVersion !== 1) fail('specVersion', 'must be 1');
  const e = o.execution;
  if (!isObj(e)) fail('execution', 'must be an object');
  const p = 'execution.';
  const sequenceNumber = e.sequenceNumber;
  if (typeof sequenceNumber !== 'number' || !Number.isSafeInteger(sequenceNumber) || sequenceNumber < 0) {
    fail(`${p}sequenceNumber`, 'must be a non-negative integer');
  }
  const displayName = optStr(e, 'displayName', p);
  return {
    type: 'execution.changed',
    specVersion: 1,
    compartmentId: str(o, 'compartmentId', ''),
    execution: {
      instanceAgentCommandId: str(e, 'instanceAgentCommandId', p),
      instanceId: str(e, 'instanceId', p),
      deliveryState: oneOf(e, 'deliveryState', p, Object.values(DeliveryState)),
      lifecycleState: oneOf(e, 'lifecycleState', p, Object.values(LifecycleState)),
      timeCreated: time(e, 'timeCreated', p),
      timeUpdated: time(e, 'timeUpdated', p),
      sequenceNumber,
      ...(displayName !== undefined ? { displayName } : {}),
      content: parseContent(e.content),
    },
  };
}
