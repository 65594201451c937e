/**
 * What a retention sweep enforces, and the request body that configures one (the JSON a scheduler sends: the platform's
 * cron, or OCI Resource Scheduler's BODY parameter). Pure: no I/O, no clock.
 *
 * Body fields, all optional (an empty body means every default):
 *
 *   maxDeletions        records removed per call (a purged command with its execution and indexes counts once)  1000
 *   maxExamined         index entries looked at per call                                                        5000
 *   continuation        the token a previous call returned, to resume where it stopped
 *   deliveryWindowSec   a VISIBLE/PENDING execution older than this gets deliveryState EXPIRED                   3600
 *   graceSec            after start + timeout, how long the service still waits for the agent's report           60
 *   startWindowSec      how long an acked execution may stay unstarted                                           300
 *   maxRunSec           the run limit of a command without a timeout (0)                                         86400
 *   textRetentionDays   TEXT-output commands and executions are deleted this long after creation                7
 *   textRetentionSec    the same in seconds (for tests); give one of the two
 */
import { ServiceError } from './errors';
import type { DeadlinePolicy } from './execution-machine';
import { Limits } from './limits';

export interface SweepPolicy extends DeadlinePolicy {
  /** How long an execution may wait for its agent to take it before delivery expires. */
  deliveryWindowMs: number;
  /** TEXT-output records are deleted this long after creation. */
  textRetentionMs: number;
}

export interface SweepRequest {
  policy: SweepPolicy;
  maxDeletions: number;
  maxExamined: number;
  continuation?: string;
}

const SEC_MS = 1000;
const DAY_SEC = 86_400;

export const DEFAULT_SWEEP_POLICY: SweepPolicy = {
  deliveryWindowMs: 3600 * SEC_MS,
  graceMs: 60 * SEC_MS,
  startWindowMs: 300 * SEC_MS,
  maxRunMs: Limits.maxTimeoutSec * SEC_MS,
  textRetentionMs: Limits.textRetentionMs,
};

export const DEFAULT_MAX_DELETIONS = 1000;
export const DEFAULT_MAX_EXAMINED = 5000;

/** Upper bounds keep one call within a function's timeout and its numbers far from overflow. */
const MAX_DELETIONS_LIMIT = 100_000;
const MAX_EXAMINED_LIMIT = 1_000_000;
const MAX_DURATION_SEC = 3650 * DAY_SEC;
const MAX_CONTINUATION_LENGTH = 2048;

const FIELDS = [
  'maxDeletions',
  'maxExamined',
  'continuation',
  'deliveryWindowSec',
  'graceSec',
  'startWindowSec',
  'maxRunSec',
  'textRetentionDays',
  'textRetentionSec',
] as const;
type Field = (typeof FIELDS)[number];

function invalid(field: string, reason: string): ServiceError {
  return new ServiceError('InvalidParameter', `The parameter '${field}' ${reason}.`);
}

function integerIn(body: Record<string, unknown>, field: Field, min: number, max: number): number | undefined {
  const v = body[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw invalid(field, `must be an integer from ${min} to ${max}`);
  }
  return v;
}

/** Validates a sweep request body (already parsed JSON; `undefined` for an empty body). */
export function parseSweepRequest(body: unknown): SweepRequest {
  if (body === undefined || body === null) body = {};
  if (typeof body !== 'object' || Array.isArray(body)) throw new ServiceError('InvalidParameter', 'The sweep request body must be a JSON object.');
  const o = body as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    if (!(FIELDS as readonly string[]).includes(key)) throw invalid(key, `is not known; the known parameters are ${FIELDS.join(', ')}`);
  }
  const continuation = o.continuation;
  if (continuation !== undefined && continuation !== null) {
    if (typeof continuation !== 'string' || continuation.length === 0 || continuation.length > MAX_CONTINUATION_LENGTH) {
      throw invalid('continuation', `must be a non-empty string of at most ${MAX_CONTINUATION_LENGTH} characters`);
    }
  }
  const days = integerIn(o, 'textRetentionDays', 1, 3650);
  const retentionSec = integerIn(o, 'textRetentionSec', 1, MAX_DURATION_SEC);
  if (days !== undefined && retentionSec !== undefined) {
    throw invalid('textRetentionSec', "cannot be given together with 'textRetentionDays'");
  }
  const ms = (sec: number | undefined, fallbackMs: number) => (sec === undefined ? fallbackMs : sec * SEC_MS);
  const d = DEFAULT_SWEEP_POLICY;
  return {
    policy: {
      deliveryWindowMs: ms(integerIn(o, 'deliveryWindowSec', 1, MAX_DURATION_SEC), d.deliveryWindowMs),
      graceMs: ms(integerIn(o, 'graceSec', 0, MAX_DURATION_SEC), d.graceMs),
      startWindowMs: ms(integerIn(o, 'startWindowSec', 1, MAX_DURATION_SEC), d.startWindowMs),
      maxRunMs: ms(integerIn(o, 'maxRunSec', 1, MAX_DURATION_SEC), d.maxRunMs),
      textRetentionMs: ms(days === undefined ? retentionSec : days * DAY_SEC, d.textRetentionMs),
    },
    maxDeletions: integerIn(o, 'maxDeletions', 1, MAX_DELETIONS_LIMIT) ?? DEFAULT_MAX_DELETIONS,
    maxExamined: integerIn(o, 'maxExamined', 1, MAX_EXAMINED_LIMIT) ?? DEFAULT_MAX_EXAMINED,
    ...(typeof continuation === 'string' ? { continuation } : {}),
  };
}
