/**
 * Command and execution models. Wire types use the exact JSON names of the instanceagent 20180530 API
 * (spec §3); stored records add what the service needs to enforce its rules.
 */

export const LifecycleState = {
  ACCEPTED: 'ACCEPTED',
  IN_PROGRESS: 'IN_PROGRESS',
  SUCCEEDED: 'SUCCEEDED',
  FAILED: 'FAILED',
  TIMED_OUT: 'TIMED_OUT',
  CANCELED: 'CANCELED',
} as const;
export type LifecycleState = (typeof LifecycleState)[keyof typeof LifecycleState];

export const DeliveryState = {
  VISIBLE: 'VISIBLE',
  PENDING: 'PENDING',
  ACKED: 'ACKED',
  ACKED_CANCELED: 'ACKED_CANCELED',
  EXPIRED: 'EXPIRED',
} as const;
export type DeliveryState = (typeof DeliveryState)[keyof typeof DeliveryState];

export const TERMINAL_LIFECYCLE_STATES: readonly LifecycleState[] = ['SUCCEEDED', 'FAILED', 'TIMED_OUT', 'CANCELED'];

export function isTerminal(state: LifecycleState): boolean {
  return TERMINAL_LIFECYCLE_STATES.includes(state);
}

export const SourceType = {
  TEXT: 'TEXT',
  OBJECT_STORAGE_URI: 'OBJECT_STORAGE_URI',
  OBJECT_STORAGE_TUPLE: 'OBJECT_STORAGE_TUPLE',
} as const;
export type SourceType = (typeof SourceType)[keyof typeof SourceType];
export const OutputType = SourceType;
export type OutputType = SourceType;

export type CommandSource =
  | { sourceType: 'TEXT'; text: string; textSha256?: string }
  | { sourceType: 'OBJECT_STORAGE_URI'; sourceUri: string }
  | { sourceType: 'OBJECT_STORAGE_TUPLE'; bucketName: string; namespaceName: string; objectName: string };

export type CommandOutput =
  | { outputType: 'TEXT' }
  | { outputType: 'OBJECT_STORAGE_URI'; outputUri: string }
  | { outputType: 'OBJECT_STORAGE_TUPLE'; bucketName: string; namespaceName: string; objectName: string };

export interface CommandContent {
  source: CommandSource;
  output: CommandOutput;
  commandString?: string;
}

/** A validated create request: what `CreateInstanceAgentCommandDetails` means once checked. */
export interface CommandSpec {
  compartmentId: string;
  displayName?: string;
  executionTimeOutInSeconds: number;
  target: { instanceId: string };
  content: CommandContent;
}

/** The stored command document (one JSON object per command). */
export interface CommandRecord extends CommandSpec {
  schemaVersion: 1;
  id: string;
  timeCreated: string;
  timeUpdated: string;
  isCanceled: boolean;
  /** The principal that created it (`tenancy/user`). */
  createdBy: string;
  sequenceNumber: number;
}

/** Where an execution's full output was uploaded, as recorded from an object-upload event. */
export interface RecordedOutputObject {
  namespaceName: string;
  bucketName: string;
  objectName: string;
  sizeInBytes?: number;
  etag: string;
  timeUploaded: string;
}

/** The stored execution document (one per command and target instance). */
export interface ExecutionRecord {
  schemaVersion: 1;
  instanceAgentCommandId: string;
  instanceId: string;
  compartmentId: string;
  displayName?: string;
  sequenceNumber: number;
  executionTimeOutInSeconds: number;
  output: CommandOutput;
  deliveryState: DeliveryState;
  lifecycleState: LifecycleState;
  timeCreated: string;
  timeUpdated: string;
  timeReceived?: string;
  timeAcked?: string;
  timeStarted?: string;
  timeFinished?: string;
  /** The agent session whose ack won the compare-and-swap; only it may start the execution. */
  ackedBy?: string;
  /**
   * Reserved delivery (`execution-machine.ts`): the agent session this queued execution was reserved for at creation.
   * That session may start it without an ack; no other session may claim it. Never on the wire.
   */
  reservedFor?: string;
  /** A cancel arrived while the reserved session might already be running it: the agent is asked to stop it. */
  cancelRequested?: boolean;
  exitCode?: number;
  message?: string;
  text?: string;
  textSha256?: string;
  outputObjects?: RecordedOutputObject[];
}

// ---- wire shapes (responses) ----

export interface InstanceAgentCommand {
  id: string;
  compartmentId: string;
  displayName?: string;
  timeCreated: string;
  timeUpdated: string;
  isCanceled: boolean;
  executionTimeOutInSeconds: number;
  target: { instanceId: string };
  content: CommandContent;
}

export interface InstanceAgentCommandSummary {
  instanceAgentCommandId: string;
  displayName?: string;
  compartmentId: string;
  timeCreated: string;
  timeUpdated: string;
  isCanceled: boolean;
}

export type ExecutionOutputContent = (
  | { outputType: 'TEXT'; text?: string; textSha256?: string }
  | { outputType: 'OBJECT_STORAGE_URI'; outputUri: string }
  | { outputType: 'OBJECT_STORAGE_TUPLE'; bucketName: string; namespaceName: string; objectName: string }
) & { exitCode: number | null; message?: string };

export interface InstanceAgentCommandExecution {
  instanceAgentCommandId: string;
  instanceId: string;
  deliveryState: DeliveryState;
  lifecycleState: LifecycleState;
  timeCreated: string;
  timeUpdated: string;
  sequenceNumber: number;
  displayName?: string;
  content: ExecutionOutputContent;
}

export function toWireCommand(c: CommandRecord): InstanceAgentCommand {
  return {
    id: c.id,
    compartmentId: c.compartmentId,
    ...(c.displayName !== undefined ? { displayName: c.displayName } : {}),
    timeCreated: c.timeCreated,
    timeUpdated: c.timeUpdated,
    isCanceled: c.isCanceled,
    executionTimeOutInSeconds: c.executionTimeOutInSeconds,
    target: { instanceId: c.target.instanceId },
    content: c.content,
  };
}

export function toWireCommandSummary(c: CommandRecord): InstanceAgentCommandSummary {
  return {
    instanceAgentCommandId: c.id,
    ...(c.displayName !== undefined ? { displayName: c.displayName } : {}),
    compartmentId: c.compartmentId,
    timeCreated: c.timeCreated,
    timeUpdated: c.timeUpdated,
    isCanceled: c.isCanceled,
  };
}

export function toWireExecution(e: ExecutionRecord): InstanceAgentCommandExecution {
  const exit = { exitCode: e.exitCode ?? null, ...(e.message !== undefined ? { message: e.message } : {}) };
  let content: ExecutionOutputContent;
  switch (e.output.outputType) {
    case 'TEXT':
      content = {
        outputType: 'TEXT',
        ...(e.text !== undefined ? { text: e.text } : {}),
        ...(e.textSha256 !== undefined ? { textSha256: e.textSha256 } : {}),
        ...exit,
      };
      break;
    case 'OBJECT_STORAGE_URI':
      content = { outputType: 'OBJECT_STORAGE_URI', outputUri: e.output.outputUri, ...exit };
      break;
    case 'OBJECT_STORAGE_TUPLE':
      content = {
        outputType: 'OBJECT_STORAGE_TUPLE',
        bucketName: e.output.bucketName,
        namespaceName: e.output.namespaceName,
        objectName: e.output.objectName,
        ...exit,
      };
      break;
  }
  return {
    instanceAgentCommandId: e.instanceAgentCommandId,
    instanceId: e.instanceId,
    deliveryState: e.deliveryState,
    lifecycleState: e.lifecycleState,
    timeCreated: e.timeCreated,
    timeUpdated: e.timeUpdated,
    sequenceNumber: e.sequenceNumber,
    ...(e.displayName !== undefined ? { displayName: e.displayName } : {}),
    content,
  };
}
