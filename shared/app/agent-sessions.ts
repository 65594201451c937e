/**
 * Which agent session is active on an instance, for reserved delivery (`domain/execution-machine.ts`): every agent
 * report records its session in `agents/<instanceId>.json`, and a command created while that record is recent is
 * reserved for the session, which then starts it without an ACK. An instance whose agent went quiet gets its commands
 * unreserved, acked as before. The record is a hint, never a claim: a stale or wrong one costs a refused ACK or a
 * later timeout, never a second run.
 */
import { agentSessionKey } from './layout';
import type { ServiceDeps } from './deps';

export interface AgentSessionRecord {
  schemaVersion: 1;
  instanceId: string;
  agentSessionId: string;
  timeReported: string;
}

/** A command is reserved only for a session that reported within this long before its creation. */
export const AGENT_ACTIVE_MS = 20_000;
/** A session's record is rewritten at most this often while it keeps reporting (per function process). */
export const AGENT_SESSION_REFRESH_MS = 5_000;

/** Per state store: the session and time last written for each instance by this process. */
const written = new WeakMap<object, Map<string, { agentSessionId: string; atMs: number }>>();
const MAX_REMEMBERED = 10_000;

/** Records that `agentSessionId` reported for `instanceId` now (skipped when this process recorded it recently). */
export async function recordAgentSession(deps: ServiceDeps, instanceId: string, agentSessionId: string): Promise<void> {
  const nowMs = deps.clock.nowMs();
  let seen = written.get(deps.state);
  if (seen === undefined) {
    seen = new Map();
    written.set(deps.state, seen);
  }
  const last = seen.get(instanceId);
  if (last !== undefined && last.agentSessionId === agentSessionId && nowMs - last.atMs < AGENT_SESSION_REFRESH_MS) return;
  const record: AgentSessionRecord = { schemaVersion: 1, instanceId, agentSessionId, timeReported: new Date(nowMs).toISOString() };
  await deps.state.put(agentSessionKey(instanceId), JSON.stringify(record), { contentType: 'application/json' });
  seen.delete(instanceId);
  seen.set(instanceId, { agentSessionId, atMs: nowMs });
  if (seen.size > MAX_REMEMBERED) {
    const oldest = seen.keys().next().value;
    if (oldest !== undefined) seen.delete(oldest);
  }
}

/** The session that reported for `instanceId` within `AGENT_ACTIVE_MS` of `nowMs`, if any. */
export async function activeAgentSession(deps: ServiceDeps, instanceId: string, nowMs: number): Promise<string | undefined> {
  const stored = await deps.state.get(agentSessionKey(instanceId));
  if (stored === undefined) return undefined;
  let record: Partial<AgentSessionRecord>;
  try {
    record = JSON.parse(stored.body.toString('utf8')) as Partial<AgentSessionRecord>;
  } catch {
    return undefined;
  }
  const reportedMs = typeof record.timeReported === 'string' ? Date.parse(record.timeReported) : NaN;
  if (typeof record.agentSessionId !== 'string' || record.agentSessionId === '' || !Number.isFinite(reportedMs)) return undefined;
  return nowMs - reportedMs <= AGENT_ACTIVE_MS && reportedMs <= nowMs + AGENT_ACTIVE_MS ? record.agentSessionId : undefined;
}
