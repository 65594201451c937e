/**
 * sweep: what the service enforces whatever the agents do, in two bounded, resumable phases over the state bucket.
 *
 * 1. Open executions (`idx/open/`): an execution still VISIBLE/PENDING after the delivery window gets deliveryState
 *    EXPIRED (CANCELED if a cancel was requested while it was reserved); an acked one past its agent deadline
 *    (start + timeout + grace, or ack + start window) becomes TIMED_OUT with a message saying the agent went silent; an
 *    entry whose execution is terminal, expired or gone is dropped.
 * 2. Retention (`idx/all/`, up to now − textRetention): a TEXT-output command loses its indexes, its execution and
 *    its command document; an Object Storage one keeps its records (OCI keeps them until the user deletes them, and
 *    outputs in users' buckets are never touched) and loses only its `idx/all` entry, so sweeps stop revisiting it.
 *
 * Idempotent and safe to run twice at once: transitions go through compare-and-swap and count only when they changed
 * the execution; deletes that find nothing are done, not counted. A purge deletes the secondary indexes first, then
 * the execution, then the command, and its `idx/all` entry last: that entry is the sweep's own to-do marker, so a
 * crash anywhere leaves work the next sweep finds and finishes (lists skip indexes whose documents are gone).
 */
import { ServiceError } from '../domain/errors';
import type { ExecutionEvent } from '../domain/execution-machine';
import { agentDeadline, isQueued } from '../domain/execution-machine';
import type { CommandRecord, ExecutionRecord } from '../domain/model';
import { isTerminal } from '../domain/model';
import { decodePageToken, encodePageToken } from '../domain/pagination';
import type { SweepPolicy } from '../domain/sweep-policy';
import type { ServiceDeps } from './deps';
import { readDoc, type Versioned } from './documents';
import { applyExecutionEvent } from './execution-updates';
import {
  ALL_COMMANDS_PREFIX,
  OPEN_EXECUTIONS_PREFIX,
  allCommandsBoundAt,
  commandKey,
  executionKey,
  indexKeys,
  openExecutionKey,
  parseAllCommandsKey,
  parseOpenExecutionKey,
} from './layout';

export interface SweepInput {
  /** The sweep's notion of now (from `deps.clock`), fixed for the whole call. */
  nowMs: number;
  policy: SweepPolicy;
  /** At most this many records removed: a purged command counts once, so does a dropped index entry. */
  maxDeletions: number;
  /** At most this many index entries looked at (each costs a read). */
  maxExamined: number;
  continuation?: string;
  signal?: AbortSignal;
}

export interface SweepCounts {
  /** Executions whose delivery expired. */
  expired: number;
  /** Acked executions timed out because their agent went silent. */
  timedOut: number;
  /** Open-execution entries dropped because their execution was already terminal, expired or gone. */
  staleOpenEntries: number;
  /** TEXT-output commands deleted (with their execution and indexes). */
  commandsDeleted: number;
  executionsDeleted: number;
  /** Index objects deleted while purging, and leftover `idx/all` entries of commands already gone. */
  indexEntriesDeleted: number;
  /** Object Storage output commands past the retention period: records kept, only their `idx/all` entry dropped. */
  objectStorageCommandsKept: number;
}

export type SweepStop = 'maxDeletions' | 'maxExamined' | 'signal';

export interface SweepResult {
  counts: SweepCounts;
  examined: number;
  /** True when both phases reached their end; otherwise `continuation` resumes where this call stopped. */
  done: boolean;
  /** URL-safe; pass it back as `continuation`. */
  continuation?: string;
  stoppedBy?: SweepStop;
}

type Phase = 'open' | 'all';
type Outcome = keyof SweepCounts | 'none';

/** Entries handled at once: enough to overlap store round trips, few enough to stop close to the bounds. */
const BATCH_SIZE = 16;

interface Cursor {
  phase: Phase;
  /** The first key not yet handled (listing starts are inclusive). */
  startKey?: string;
}

export function emptySweepCounts(): SweepCounts {
  return { expired: 0, timedOut: 0, staleOpenEntries: 0, commandsDeleted: 0, executionsDeleted: 0, indexEntriesDeleted: 0, objectStorageCommandsKept: 0 };
}

export async function sweep(deps: ServiceDeps, input: SweepInput): Promise<SweepResult> {
  const counts = emptySweepCounts();
  let examined = 0;
  let deletions = 0;
  const ctx: PhaseContext = { deps, input, count: (kind, n = 1) => void (counts[kind] += n) };

  let cursor: Cursor = input.continuation ? decodeContinuation(input.continuation) : { phase: 'open' };
  for (;;) {
    const prefix = cursor.phase === 'open' ? OPEN_EXECUTIONS_PREFIX : ALL_COMMANDS_PREFIX;
    const end = cursor.phase === 'all' ? allCommandsBoundAt(input.nowMs - input.policy.textRetentionMs) : undefined;
    let start = cursor.startKey ?? prefix;
    let phaseDone = false;
    while (!phaseDone) {
      const stop = boundReached(input, examined, deletions);
      if (stop) return stopped(counts, examined, { phase: cursor.phase, startKey: start }, stop);
      // A batch can remove at most one record per entry, so sizing it by the budget left never overshoots maxDeletions.
      const size = Math.min(BATCH_SIZE, input.maxExamined - examined, input.maxDeletions - deletions);
      const page = await deps.state.list({ prefix, start, limit: size, ...(end !== undefined ? { end } : {}) });
      const outcomes = await settleAll(
        page.objects.map((o) => (cursor.phase === 'open' ? sweepOpenEntry(ctx, o.key) : retainOrPurge(ctx, o.key))),
      );
      examined += page.objects.length;
      for (const outcome of outcomes) {
        if (outcome === 'none') continue;
        ctx.count(outcome);
        if (outcome !== 'expired' && outcome !== 'timedOut') deletions++;
      }
      if (page.nextStartWith === undefined) phaseDone = true;
      else start = page.nextStartWith;
    }
    if (cursor.phase === 'all') return { counts, examined, done: true };
    cursor = { phase: 'all' };
  }
}

interface PhaseContext {
  deps: ServiceDeps;
  input: SweepInput;
  count: (kind: keyof SweepCounts, n?: number) => void;
}

function boundReached(input: SweepInput, examined: number, deletions: number): SweepStop | undefined {
  if (input.signal?.aborted) return 'signal';
  if (deletions >= input.maxDeletions) return 'maxDeletions';
  if (examined >= input.maxExamined) return 'maxExamined';
  return undefined;
}

function stopped(counts: SweepCounts, examined: number, cursor: Cursor, stoppedBy: SweepStop): SweepResult {
  return { counts, examined, done: false, continuation: encodeContinuation(cursor), stoppedBy };
}

/** Waits for every entry of a batch (none is left running behind the call), then fails with the first error. */
async function settleAll<T>(work: Array<Promise<T>>): Promise<T[]> {
  const settled = await Promise.allSettled(work);
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) throw failed.reason;
  return settled.map((s) => (s as PromiseFulfilledResult<T>).value);
}

// ---- phase 1: open executions ----

async function sweepOpenEntry(ctx: PhaseContext, key: string): Promise<Outcome> {
  const { deps, input } = ctx;
  const entry = parseOpenExecutionKey(key);
  if (!entry) return dropEntry(deps, key, 'staleOpenEntries');
  const found = await readDoc<ExecutionRecord>(deps.state, executionKey(entry.commandId, entry.instanceId));
  if (!found) return dropEntry(deps, key, 'staleOpenEntries');
  const e = found.doc;
  if (isTerminal(e.lifecycleState) || e.deliveryState === 'EXPIRED') return dropEntry(deps, key, 'staleOpenEntries');

  const at = new Date(input.nowMs).toISOString();
  if (isQueued(e) && input.nowMs - Date.parse(e.timeCreated) > input.policy.deliveryWindowMs) {
    return transitionOrDrop(deps, key, found, { type: 'EXPIRE', at }, 'expired');
  }
  const deadlineMs = agentDeadline(e, input.policy);
  if (deadlineMs !== undefined && input.nowMs >= deadlineMs) {
    return transitionOrDrop(deps, key, found, { type: 'DEADLINE', at, message: silentAgentMessage(e, input.policy) }, 'timedOut');
  }
  return 'none';
}

async function transitionOrDrop(
  deps: ServiceDeps,
  key: string,
  found: Versioned<ExecutionRecord>,
  event: ExecutionEvent,
  kind: 'expired' | 'timedOut',
): Promise<Outcome> {
  const e = found.doc;
  try {
    const applied = await applyExecutionEvent(deps, e.instanceAgentCommandId, e.instanceId, event, found);
    return applied.changed ? kind : 'none';
  } catch (err) {
    // A concurrent retention purge deleted the execution between our read and the transition.
    if (err instanceof ServiceError && err.code === 'NotAuthorizedOrNotFound') return dropEntry(deps, key, 'staleOpenEntries');
    throw err;
  }
}

async function dropEntry(deps: ServiceDeps, key: string, kind: keyof SweepCounts): Promise<Outcome> {
  return (await deps.state.delete(key)) ? kind : 'none';
}

/** What users read in the execution's `message`: the agent went silent, and the script may well have run anyway. */
function silentAgentMessage(e: ExecutionRecord, policy: SweepPolicy): string {
  const graceSec = Math.round(policy.graceMs / 1000);
  if (e.lifecycleState === 'IN_PROGRESS') {
    const timeoutSec = e.executionTimeOutInSeconds > 0 ? e.executionTimeOutInSeconds : Math.round(policy.maxRunMs / 1000);
    return (
      `The agent stopped reporting: no result within the timeout of ${timeoutSec} s plus a grace period of ${graceSec} s; ` +
      'the command may still have run.'
    );
  }
  return (
    `The agent stopped reporting: it acknowledged the command but did not report its start within ${Math.round(policy.startWindowMs / 1000)} s; ` +
    'the command may still have run.'
  );
}

// ---- phase 2: retention ----

async function retainOrPurge(ctx: PhaseContext, key: string): Promise<Outcome> {
  const { deps } = ctx;
  const entry = parseAllCommandsKey(key);
  const found = entry && (await readDoc<CommandRecord>(deps.state, commandKey(entry.commandId)));
  // The command is gone (an earlier purge stopped just before its last step): only the marker is left.
  if (!found) return dropEntry(deps, key, 'indexEntriesDeleted');
  const c = found.doc;
  if (c.content.output.outputType !== 'TEXT') return dropEntry(deps, key, 'objectStorageCommandsKept');

  const instanceId = c.target.instanceId;
  const secondary = [...indexKeys(c).filter((k) => k !== key), openExecutionKey(c, instanceId)];
  const deleted = await Promise.all(secondary.map((k) => deps.state.delete(k)));
  ctx.count('indexEntriesDeleted', deleted.filter(Boolean).length);
  if (await deps.state.delete(executionKey(c.id, instanceId))) ctx.count('executionsDeleted');
  const commandDeleted = await deps.state.delete(commandKey(c.id));
  if (await deps.state.delete(key)) ctx.count('indexEntriesDeleted');
  return commandDeleted ? 'commandsDeleted' : 'none';
}

// ---- continuation tokens ----

function encodeContinuation(cursor: Cursor): string {
  return encodePageToken({ v: 1, p: cursor.phase, ...(cursor.startKey !== undefined ? { k: cursor.startKey } : {}) });
}

function decodeContinuation(token: string): Cursor {
  const invalid = () => new ServiceError('InvalidParameter', "The parameter 'continuation' is not a token a sweep returned.");
  let payload: Record<string, string | number>;
  try {
    payload = decodePageToken(token, ['v', 'p']);
  } catch {
    throw invalid();
  }
  const { v, p, k } = payload;
  if (v !== 1 || (p !== 'open' && p !== 'all')) throw invalid();
  const prefix = p === 'open' ? OPEN_EXECUTIONS_PREFIX : ALL_COMMANDS_PREFIX;
  if (k !== undefined && (typeof k !== 'string' || !k.startsWith(prefix))) throw invalid();
  return { phase: p, ...(k !== undefined ? { startKey: k } : {}) };
}
