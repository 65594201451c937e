/**
 * Messages between functions and agents. Every message is JSON with a `type`; consumers validate with the parsers
 * in `events/parse.ts` before acting on one. Fixtures of each live in `events/fixtures/`.
 */
import type { CommandContent, InstanceAgentCommandExecution } from '../shared/domain/model';

/** On the instance stream: a new command for this instance's agent. */
export interface CommandIssuedMessage {
  type: 'command.issued';
  specVersion: 1;
  instanceAgentCommandId: string;
  instanceId: string;
  compartmentId: string;
  displayName?: string;
  executionTimeOutInSeconds: number;
  content: CommandContent;
  sequenceNumber: number;
  timeCreated: string;
  /**
   * The agent session the command is reserved for (reserved delivery, docs/agent-protocol.md): that session may start
   * it without an ACK while it is young; any other session must ACK it, and is refused.
   */
  reservedFor?: string;
}

/** On the instance stream: the user asked to cancel a command this agent may be running. */
export interface CommandCancelRequestedMessage {
  type: 'command.cancel-requested';
  specVersion: 1;
  instanceAgentCommandId: string;
  instanceId: string;
  timeRequested: string;
}

export type InstanceStreamMessage = CommandIssuedMessage | CommandCancelRequestedMessage;

/** On the `execution-events` stream: an execution changed (for waiters, consoles, notifications). */
export interface ExecutionChangedMessage {
  type: 'execution.changed';
  specVersion: 1;
  compartmentId: string;
  execution: InstanceAgentCommandExecution;
}

/** The well-known name of the stream every execution change is published to. */
export const EXECUTION_EVENTS_STREAM_NAME = 'execution-events';
