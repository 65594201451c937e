/**
 * The body of `POST /20180530/agent/reports` (docs/agent-protocol.md), validated at the edge. Errors name the field.
 */
import { ServiceError } from './errors';
import type { FinishOutcome } from './execution-machine';
import { Limits } from './limits';

export type AgentReportEvent =
  | { type: 'RECEIVE' }
  | { type: 'ACK' }
  | { type: 'START' }
  | { type: 'FINISH'; outcome: FinishOutcome; exitCode: number | null; message?: string; text?: string; textSha256?: string };

export interface AgentReport {
  callbackId: string;
  /** The agent's report number (rising, across its restarts too); logged with late reports. */
  sequence?: number;
  agentSessionId: string;
  instanceAgentCommandId: string;
  event: AgentReportEvent;
}

const OUTCOMES: readonly FinishOutcome[] = ['SUCCEEDED', 'FAILED', 'TIMED_OUT', 'CANCELED'];
const MAX_MESSAGE_LENGTH = 4096;
const TOKEN = /^[A-Za-z0-9._:-]{1,128}$/;

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function requireToken(o: Record<string, unknown>, field: string): string {
  const v = o[field];
  if (v === undefined || v === null) throw new ServiceError('MissingParameter', `Missing required parameter ${field}.`);
  if (typeof v !== 'string' || !TOKEN.test(v)) throw new ServiceError('InvalidParameter', `Invalid ${field}.`);
  return v;
}

function optionalString(o: Record<string, unknown>, field: string, maxLength: number): string | undefined {
  const v = o[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string' || v.length > maxLength) {
    throw new ServiceError('InvalidParameter', `event.${field} must be a string of at most ${maxLength} characters.`);
  }
  return v;
}

export function parseAgentReport(input: unknown): AgentReport {
  if (!isRecord(input)) throw new ServiceError('InvalidParameter', 'The report must be a JSON object.');
  const callbackId = requireToken(input, 'callbackId');
  const agentSessionId = requireToken(input, 'agentSessionId');
  const sequence = input.sequence ?? undefined;
  if (sequence !== undefined && (typeof sequence !== 'number' || !Number.isSafeInteger(sequence) || sequence < 0)) {
    throw new ServiceError('InvalidParameter', 'sequence must be a non-negative integer.');
  }
  const numbered = sequence === undefined ? {} : { sequence: sequence as number };
  const id = input.instanceAgentCommandId;
  if (typeof id !== 'string' || !id.startsWith('ocid1.instanceagentcommand.')) {
    throw new ServiceError('InvalidParameter', 'Invalid instanceAgentCommandId.');
  }
  const ev = input.event;
  if (!isRecord(ev)) throw new ServiceError('MissingParameter', 'Missing required parameter event.');
  switch (ev.type) {
    case 'RECEIVE':
    case 'ACK':
    case 'START':
      return { callbackId, ...numbered, agentSessionId, instanceAgentCommandId: id, event: { type: ev.type } };
    case 'FINISH': {
      const outcome = ev.outcome;
      if (typeof outcome !== 'string' || !OUTCOMES.includes(outcome as FinishOutcome)) {
        throw new ServiceError('InvalidParameter', `event.outcome must be one of ${OUTCOMES.join(', ')}.`);
      }
      const exitCode = ev.exitCode ?? null;
      if (exitCode !== null && (!Number.isInteger(exitCode) || (exitCode as number) < -2_147_483_648 || (exitCode as number) > 2_147_483_647)) {
        throw new ServiceError('InvalidParameter', 'event.exitCode must be a 32-bit integer or null.');
      }
      if (outcome === 'SUCCEEDED' && exitCode !== 0) {
        throw new ServiceError('InvalidParameter', 'event.exitCode must be 0 when event.outcome is SUCCEEDED.');
      }
      const text = optionalString(ev, 'text', Limits.maxTextOutputBytes);
      if (text !== undefined && Buffer.byteLength(text, 'utf8') > Limits.maxTextOutputBytes) {
        throw new ServiceError('InvalidParameter', `event.text must be at most ${Limits.maxTextOutputBytes} bytes.`);
      }
      const textSha256 = optionalString(ev, 'textSha256', 64);
      if (textSha256 !== undefined && !/^[0-9a-f]{64}$/.test(textSha256)) {
        throw new ServiceError('InvalidParameter', 'event.textSha256 must be 64 lower-case hex characters.');
      }
      const message = optionalString(ev, 'message', MAX_MESSAGE_LENGTH);
      return {
        callbackId,
        ...numbered,
        agentSessionId,
        instanceAgentCommandId: id,
        event: {
          type: 'FINISH',
          outcome: outcome as FinishOutcome,
          exitCode: exitCode as number | null,
          ...(message !== undefined ? { message } : {}),
          ...(text !== undefined ? { text } : {}),
          ...(textSha256 !== undefined ? { textSha256 } : {}),
        },
      };
    }
    default:
      throw new ServiceError('InvalidParameter', 'event.type must be one of RECEIVE, ACK, START, FINISH.');
  }
}
