/**
 * The processor (amazon-ssm-agent layering): the stream poll is the transport; `onIssued`/`onCancel` are the router
 * (validation, dedupe by command id); `AdmissionPool` bounds the work; the executor runs scripts. Reports go through
 * the durable outbox, except the ACK, whose answer decides whether the script may run and is awaited.
 *
 * Run-once rule (docs/agent-protocol.md): a command is recorded as pending before the stream is committed, moved to
 * current before its process is spawned, and to completed once its FINISH is queued (state.ts). A command seen in any of
 * them is never run again. After a restart every entry still current may have run (partly): it is never run
 * again; its process group is killed if it survived, and it is reported FAILED with `RESTART_MESSAGE`.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { CommandCancelRequestedMessage, CommandIssuedMessage } from '../events/messages';
import { RESERVED_START_WINDOW_MS } from '../shared/domain/execution-machine';
import type { CommandSource } from '../shared/domain/model';
import type { Clock } from '../shared/ports/clock';
import type { Ids } from '../shared/ports/ids';
import { CursorExpiredError, StreamNotFoundError, type StreamConsumer, type StreamMessage } from '../shared/ports/stream';
import { CircuitBreaker, type CircuitBreakerOptions } from './circuit-breaker';
import type { AgentConfig } from './config';
import {
  DEFAULT_SCRIPT_NAME,
  lookupUser,
  makeWorkDir,
  removeWorkDir,
  safeFileName,
  startExecution,
  type ExecutionOutcome,
  type ExecutionResult,
  type ExecutorOptions,
  type RunAsUser,
  type RunningExecution,
  type ScriptFile,
} from './executor';
import { nullLogger, type Logger } from './log';
import { parseInstanceStreamMessage } from '../events/parse';
import { ObjectOutputSink } from './object-output';
import {
  baseNameOf,
  describeLocation,
  downloadObjectToFile,
  outputLocation,
  ScriptTooLargeError,
  sourceLocation,
  type ObjectLocation,
  type ObjectTransfer,
} from './object-storage';
import { Outbox } from './outbox';
import { textOutputOf, TailBuffer } from './output';
import { AdmissionPool, type PoolCounts } from './pool';
import { isGroupAlive, isRecordedGroupOurs, killProcessGroup } from './process-group';
import {
  isPermanentReportFailure,
  ReportAnswerInvalidError,
  ReportRejectedError,
  type AgentReport,
  type ReportEvent,
  type Reporter,
} from './reporter';
import { AgentState, isCompletedRecord, isCurrentRecord, isPendingRecord, StateArea, type CompletedOutcome, type CurrentRecord, type PendingRecord } from './state';
import { backoffDelayMs, sleep, systemTimers, type BackoffPolicy, type Timers } from './timers';

export const RESTART_MESSAGE = 'The agent restarted while the command was running; it was stopped and not run again.';
export const AGENT_STOPPED_MESSAGE = 'The agent was stopped while the command was running; it was stopped and not run again.';
export const CANCELED_BEFORE_START_MESSAGE = 'The command was canceled before it started; it was not run.';

export type AgentRuntimeConfig = Pick<
  AgentConfig,
  | 'instanceId'
  | 'streamId'
  | 'stateDir'
  | 'commandExecutionMaxWorkers'
  | 'maxInFlight'
  | 'killGraceMs'
  | 'pollWaitMs'
  | 'runAsUser'
  | 'maxScriptBytes'
  | 'maxOutputBytes'
> &
  Partial<Pick<AgentConfig, 'syncWrites'>>;

/** What the agent needs of the `Stream` port: a group cursor over its instance stream, reads and commits. */
export type InstanceStreamReader = Pick<StreamConsumer, 'createGroupCursor' | 'getMessages' | 'commit'>;

export interface AgentDeps {
  stream: InstanceStreamReader;
  reporter: Reporter;
  clock: Clock;
  ids: Pick<Ids, 'token'>;
  log?: Logger;
  timers?: Timers;
  random?: () => number;
  /** Object Storage sources and outputs, as the instance; without it such commands fail with a message, not run. */
  objectStorage?: ObjectTransfer;
  /** Executor settings beyond the config (tests: a short stdio drain, a fake pwsh lookup). */
  executor?: Partial<Pick<ExecutorOptions, 'workRoot' | 'stdioDrainMs' | 'findExecutable'>>;
  pollBackoff?: BackoffPolicy;
  ackBackoff?: BackoffPolicy;
  outboxBackoff?: BackoffPolicy;
  breaker?: CircuitBreakerOptions;
  /** Messages read per poll. */
  pollBatchSize?: number;
  /**
   * Least time between two polls that found nothing. OCI Streaming answers at once even when asked to wait, so
   * without this an idle agent would poll in a hot loop; a long poll that was held open never waits again.
   */
  idlePollMs?: number;
  /** How long a script runs before IN_PROGRESS is reported (shorter scripts report only their end). */
  startReportDelayMs?: number;
  /**
   * Most time between reading a message and committing past it: commits are batched, at most one per interval (a
   * busy instance would otherwise commit after every message). 0 commits after every batch.
   */
  commitIntervalMs?: number;
  /** Recorded commands waiting beyond the in-flight limit; past it the agent stops reading the stream for a while. */
  maxBacklog?: number;
  completedKeep?: number;
}

export interface StopOptions {
  /** Kill running scripts (reported FAILED with `AGENT_STOPPED_MESSAGE`) instead of waiting for them. */
  killRunning?: boolean;
  /** How long to wait for queued reports to be delivered before stopping the outbox (they stay on disk). */
  drainOutboxMs?: number;
}

export interface RunningAgent {
  readonly agentSessionId: string;
  counts(): PoolCounts;
  /** Reports not yet delivered. */
  outboxSize(): number;
  stop(options?: StopOptions): Promise<void>;
}

interface Tracked {
  id: string;
  area: typeof StateArea.pending | typeof StateArea.current;
  record: PendingRecord;
  cancelRequested: boolean;
  execution?: RunningExecution;
  receiveDelivered?: Promise<void>;
  stopReason?: 'agent-stop';
  /** Started without an ACK: reserved for this session (`mayStartUnacked`). */
  startedReserved?: boolean;
}

interface Prepared {
  workDir: string;
  script: ScriptFile;
  output?: { transfer: ObjectTransfer; location: ObjectLocation };
}

type AckDecision = { run: true } | { run: false; reason: string } | { stopped: true };

const DEFAULT_POLL_BACKOFF: BackoffPolicy = { baseMs: 250, maxMs: 5000 };
const DEFAULT_ACK_BACKOFF: BackoffPolicy = { baseMs: 250, maxMs: 10_000 };
const DEFAULT_BREAKER: CircuitBreakerOptions = { failureThreshold: 5, openMs: 5000 };
const EARLY_CANCEL_TTL_MS = 60 * 60 * 1000;
const MAX_EARLY_CANCELS = 1000;
const DEFAULT_MAX_BACKLOG = 1000;
const DEFAULT_POLL_BATCH = 20;
const DEFAULT_IDLE_POLL_MS = 1000;
/**
 * While commands keep coming, the stream is committed at most this often. Every commit is a signed request, and a
 * poll that waits for a due commit is one more: at a second, they were two of every five signed requests an agent made
 * under steady load. A crash re-reads at most this long a run of messages, which the recorded ids make no-ops.
 */
export const DEFAULT_COMMIT_INTERVAL_MS = 5000;
const START_REPORT_DELAY_MS = 50;

export function isAgentReport(v: unknown): v is AgentReport {
  if (v === null || typeof v !== 'object') return false;
  const r = v as Partial<Record<keyof AgentReport, unknown>>;
  const event = r.event as Partial<Record<keyof ReportEvent, unknown>> | null | undefined;
  return (
    typeof r.callbackId === 'string' &&
    typeof r.agentSessionId === 'string' &&
    typeof r.instanceAgentCommandId === 'string' &&
    (r.sequence === undefined || typeof r.sequence === 'number') &&
    event !== null &&
    typeof event === 'object' &&
    typeof event.type === 'string' &&
    typeof event.at === 'string'
  );
}

/**
 * Renders a poll error the way OCI's Go agent does (`Service error:<code>. <message>. http status code: <status>.`)
 * when the error (or one of its causes) carries an HTTP status; otherwise its name and message.
 */
export function describePollError(err: unknown): string {
  for (let e: unknown = err, depth = 0; e !== undefined && e !== null && depth < 5; e = (e as { cause?: unknown }).cause, depth += 1) {
    const { statusCode, serviceCode, message } = e as { statusCode?: unknown; serviceCode?: unknown; message?: unknown };
    if (typeof statusCode === 'number' && typeof serviceCode === 'string') {
      return `Service error:${serviceCode}. ${String(message ?? '').replace(/\.$/, '')}. http status code: ${statusCode}.`;
    }
  }
  if (err instanceof StreamNotFoundError) {
    return 'Service error:NotAuthorizedOrNotFound. Authorization failed or requested resource not found. http status code: 404.';
  }
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}

/** Why a command was not run (its script or its output place is unusable); reported FAILED, exit code null. */
class ScriptUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ScriptUnavailableError';
  }
}

class Agent implements RunningAgent {
  readonly agentSessionId: string;
  /** Reports are numbered in the order the agent makes them; seeded from the clock so numbers rise across restarts. */
  private nextSequence: number;
  private readonly state: AgentState;
  private readonly outbox: Outbox<AgentReport>;
  private readonly pool: AdmissionPool;
  private readonly tracked = new Map<string, Tracked>();
  private readonly completedIds = new Set<string>();
  /** Cancels for commands not seen yet: id → expiry. Bounded and short-lived; the server's ack is the backstop. */
  private readonly earlyCancels = new Map<string, number>();
  private readonly log: Logger;
  private readonly timers: Timers;
  private readonly random: () => number;
  private readonly breaker: CircuitBreaker;
  private readonly stopController = new AbortController();
  /** Aborted by a stop that kills running scripts: it also ends their output uploads. */
  private readonly killController = new AbortController();
  private readonly workers = new Set<Promise<void>>();
  private readonly runAs: RunAsUser | undefined;
  private readonly workRoot: string;
  private nextOrder = 1;
  private pollLoop: Promise<void> | undefined;
  private stopping = false;
  private killRunningOnStop = false;
  private stopped: Promise<void> | undefined;

  constructor(
    private readonly config: AgentRuntimeConfig,
    private readonly deps: AgentDeps,
  ) {
    this.log = deps.log ?? nullLogger;
    this.timers = deps.timers ?? systemTimers;
    this.random = deps.random ?? Math.random;
    this.state = new AgentState(config.stateDir, {
      clock: deps.clock,
      newSessionId: () => `agent-${deps.ids.token()}`,
      log: this.log,
      syncWrites: config.syncWrites ?? false,
      ...(deps.completedKeep !== undefined ? { completedKeep: deps.completedKeep } : {}),
    });
    this.agentSessionId = this.state.agentSessionId;
    this.nextSequence = deps.clock.nowMs() * 1000;
    this.outbox = new Outbox<AgentReport>({
      store: this.state.outboxStore(),
      send: async (report, signal) => {
        await deps.reporter.report(report, { signal });
      },
      isPermanentFailure: isPermanentReportFailure,
      isPayload: isAgentReport,
      timers: this.timers,
      random: this.random,
      log: this.log,
      ...(deps.outboxBackoff !== undefined ? { backoff: deps.outboxBackoff } : {}),
    });
    this.pool = new AdmissionPool({ maxWorkers: config.commandExecutionMaxWorkers, maxInFlight: config.maxInFlight });
    this.breaker = new CircuitBreaker('pollCommand', deps.breaker ?? DEFAULT_BREAKER, deps.clock);
    this.runAs = this.resolveRunAs();
    this.workRoot = deps.executor?.workRoot ?? this.state.workRoot;
    if (this.runAs !== undefined && deps.executor?.workRoot === undefined) {
      // The script's user must be able to reach its working directory (but not list the state dir).
      fs.chmodSync(config.stateDir, 0o711);
    }
  }

  private resolveRunAs(): RunAsUser | undefined {
    const name = this.config.runAsUser;
    if (name === undefined) return undefined;
    if (process.getuid?.() !== 0) {
      this.log.warn('runAsUser is set but the agent does not run as root; scripts run as the agent user', { runAsUser: name, user: os.userInfo().username });
      return undefined;
    }
    return lookupUser(name);
  }

  private now(): string {
    return new Date(this.deps.clock.nowMs()).toISOString();
  }

  private report(id: string, event: Omit<ReportEvent, 'at'>): Promise<void> {
    return this.outbox.enqueue({
      callbackId: this.deps.ids.token(),
      sequence: this.nextSequence++,
      agentSessionId: this.agentSessionId,
      instanceAgentCommandId: id,
      event: { ...event, at: this.now() },
    });
  }

  // ---- start and recovery ----

  async start(): Promise<void> {
    await this.recover();
    this.outbox.start();
    this.log.info('agent started', {
      instanceId: this.config.instanceId,
      agentSessionId: this.agentSessionId,
      maxWorkers: this.pool.maxWorkers,
      maxInFlight: this.pool.maxInFlight,
      pending: this.tracked.size,
      outbox: this.outbox.size,
    });
    this.schedule();
    this.pollLoop = this.poll();
  }

  private async recover(): Promise<void> {
    for (const { id } of this.state.load(StateArea.completed, isCompletedRecord)) this.completedIds.add(id);
    for (const { id, record } of this.state.load(StateArea.current, isCurrentRecord)) {
      if (this.completedIds.has(id)) {
        // Completed and still current (a power loss cut the move short): the command already ended.
        this.state.remove(StateArea.current, id);
        continue;
      }
      await this.recoverInterrupted(id, record);
    }
    const pending = this.state.load(StateArea.pending, isPendingRecord).sort((a, b) => a.record.order - b.record.order);
    for (const { id, record } of pending) {
      if (this.completedIds.has(id)) {
        this.state.remove(StateArea.pending, id);
        continue;
      }
      this.track(id, record);
      this.nextOrder = Math.max(this.nextOrder, record.order + 1);
    }
  }

  private async recoverInterrupted(id: string, record: CurrentRecord): Promise<void> {
    let note = '';
    if (record.pid !== undefined && isRecordedGroupOurs(record.pid, record.procStartTime) && isGroupAlive(record.pid)) {
      this.log.warn('stopping the process group of a command interrupted by a restart', { instanceAgentCommandId: id, pgid: record.pid });
      const gone = await killProcessGroup(record.pid, { graceMs: this.config.killGraceMs, timers: this.timers });
      if (!gone) note = ' Some of its processes did not exit even after SIGKILL.';
    }
    if (record.workDir !== undefined) fs.rm(record.workDir, { recursive: true, force: true }, () => undefined);
    const message = RESTART_MESSAGE + note;
    // Report first: if the agent dies again before it is recorded as completed, it reports again (the server ignores it).
    void this.report(id, { type: 'FINISH', outcome: 'FAILED', exitCode: null, message, ...emptyText() });
    this.state.complete(StateArea.current, { schemaVersion: 1, instanceAgentCommandId: id, completedAtMs: this.deps.clock.nowMs(), outcome: 'FAILED', exitCode: null, reason: message });
    this.completedIds.add(id);
    this.log.error('a command was interrupted by an agent restart; reported FAILED, not run again', { instanceAgentCommandId: id });
  }

  private track(id: string, record: PendingRecord): Tracked {
    const t: Tracked = { id, area: StateArea.pending, record, cancelRequested: false };
    this.tracked.set(id, t);
    this.pool.add(id, record.receiveReported ? 'held' : 'queued');
    return t;
  }

  // ---- transport: the stream poll ----

  /**
   * The transport loop. Messages are recorded on disk as they are read (`route`), and the group's offset is committed
   * after the records, at most once per `commitIntervalMs` while messages keep coming, and at once when a poll finds
   * nothing: a crash or restart re-reads at most what was not committed, which the recorded and completed command ids
   * turn into no-ops. While a commit is pending, a poll waits no longer than until it is due.
   */
  private async poll(): Promise<void> {
    const signal = this.stopController.signal;
    const commitIntervalMs = this.deps.commitIntervalMs ?? DEFAULT_COMMIT_INTERVAL_MS;
    let cursor: string | undefined;
    /** The cursor after the last batch with messages, while it is not committed. */
    let uncommitted: string | undefined;
    let lastCommitMs = this.deps.clock.nowMs();
    let failures = 0;
    while (!signal.aborted) {
      const breakerWaitMs = this.breaker.waitMs();
      if (breakerWaitMs > 0) {
        await sleep(this.timers, breakerWaitMs, signal);
        continue;
      }
      if (this.pool.counts().queued >= (this.deps.maxBacklog ?? DEFAULT_MAX_BACKLOG)) {
        // Bounded backlog: stop reading until commands drain (cancels wait too; this takes a flood of commands).
        await sleep(this.timers, (this.deps.pollBackoff ?? DEFAULT_POLL_BACKOFF).maxMs, signal);
        continue;
      }
      try {
        cursor ??= await this.deps.stream.createGroupCursor(this.config.streamId, {
          groupName: this.config.instanceId,
          instanceName: this.config.instanceId,
          type: 'TRIM_HORIZON',
        });
        const polledAtMs = this.deps.clock.nowMs();
        const commitDueInMs = uncommitted === undefined ? Infinity : Math.max(0, lastCommitMs + commitIntervalMs - polledAtMs);
        const waitMs = Math.min(this.config.pollWaitMs, commitDueInMs);
        const batch = await this.deps.stream.getMessages(this.config.streamId, cursor, {
          limit: this.deps.pollBatchSize ?? DEFAULT_POLL_BATCH,
          waitMs,
          signal,
        });
        for (const message of batch.messages) this.route(message);
        // Every message is recorded on disk now, so commands may start while the commit is on its way; the commit
        // still comes after the records: a crash re-reads at most what was not recorded.
        this.schedule();
        cursor = batch.nextCursor;
        if (batch.messages.length > 0) uncommitted = cursor;
        // A batch that found nothing means the instance went quiet: commit what is due at once.
        if (uncommitted !== undefined && (batch.messages.length === 0 || this.deps.clock.nowMs() - lastCommitMs >= commitIntervalMs)) {
          cursor = await this.deps.stream.commit(this.config.streamId, uncommitted);
          uncommitted = undefined;
          lastCommitMs = this.deps.clock.nowMs();
        }
        if (this.breaker.state !== 'closed') this.log.info('poll command recovered; circuit breaker closed');
        this.breaker.recordSuccess();
        failures = 0;
        // Pacing for servers that answer at once (OCI); a poll shortened for a due commit is followed by a full one.
        if (batch.messages.length === 0 && waitMs === this.config.pollWaitMs) {
          const idleMs = (this.deps.idlePollMs ?? DEFAULT_IDLE_POLL_MS) - (this.deps.clock.nowMs() - polledAtMs);
          if (idleMs > 0) await sleep(this.timers, idleMs, signal);
        }
      } catch (err) {
        if (signal.aborted) break;
        if (err instanceof CursorExpiredError) {
          this.log.info('the stream cursor expired; opening a new group cursor');
          cursor = undefined;
          uncommitted = undefined;
          continue;
        }
        const open = this.breaker.recordFailure();
        if (open) this.log.error(`poll command err: circuitbreaker:[${this.breaker.name}] is open, last err:${describePollError(err)}`);
        else this.log.warn(`poll command err: ${describePollError(err)}`);
        const delayMs = backoffDelayMs(failures, this.deps.pollBackoff ?? DEFAULT_POLL_BACKOFF, this.random);
        failures += 1;
        await sleep(this.timers, delayMs, signal);
      }
    }
  }

  // ---- router ----

  /** Handles one stream record. Invalid messages are skipped; a failure to record one throws (no commit then). */
  private route(record: StreamMessage): void {
    let message;
    try {
      message = parseInstanceStreamMessage(record.value);
    } catch (err) {
      this.log.warn('skipping an invalid stream message', { partition: record.partition, offset: record.offset, error: err });
      return;
    }
    if (message.instanceId !== this.config.instanceId) {
      this.log.warn('skipping a message for another instance', { partition: record.partition, offset: record.offset, instanceId: message.instanceId });
      return;
    }
    if (message.type === 'command.issued') this.onIssued(message);
    else this.onCancel(message);
  }

  private onIssued(message: CommandIssuedMessage): void {
    const id = message.instanceAgentCommandId;
    if (this.completedIds.has(id) || this.tracked.has(id)) {
      this.log.info('ignoring a command seen before', { instanceAgentCommandId: id });
      return;
    }
    const record: PendingRecord = { schemaVersion: 1, message, receivedAtMs: this.deps.clock.nowMs(), order: this.nextOrder, receiveReported: false };
    this.nextOrder += 1;
    this.state.save(StateArea.pending, id, record);
    const t = this.track(id, record);
    if (this.takeEarlyCancel(id)) {
      this.log.info('the command was canceled before it arrived; it will not run', { instanceAgentCommandId: id });
      t.cancelRequested = true;
      this.cancelWaiting(t);
    }
  }

  private onCancel(message: CommandCancelRequestedMessage): void {
    const id = message.instanceAgentCommandId;
    const t = this.tracked.get(id);
    if (t === undefined) {
      if (!this.completedIds.has(id)) this.rememberEarlyCancel(id);
      this.log.info('cancel for a command not running here', { instanceAgentCommandId: id, finished: this.completedIds.has(id) });
      return;
    }
    if (t.cancelRequested) return;
    t.cancelRequested = true;
    const phase = this.pool.phaseOf(id);
    this.log.info('cancel requested', { instanceAgentCommandId: id, phase });
    if (phase === 'queued' || phase === 'held') this.cancelWaiting(t);
    // 'running' with an execution: kill it now. 'starting' (ack or spawn under way) checks cancelRequested itself.
    else if (phase === 'running' && t.execution !== undefined) void t.execution.cancel();
  }

  private rememberEarlyCancel(id: string): void {
    const now = this.deps.clock.nowMs();
    for (const [key, expiresAtMs] of this.earlyCancels) if (expiresAtMs <= now) this.earlyCancels.delete(key);
    this.earlyCancels.delete(id);
    this.earlyCancels.set(id, now + EARLY_CANCEL_TTL_MS);
    while (this.earlyCancels.size > MAX_EARLY_CANCELS) {
      const oldest = this.earlyCancels.keys().next().value;
      if (oldest === undefined) break;
      this.earlyCancels.delete(oldest);
    }
  }

  private takeEarlyCancel(id: string): boolean {
    const expiresAtMs = this.earlyCancels.get(id);
    this.earlyCancels.delete(id);
    return expiresAtMs !== undefined && expiresAtMs > this.deps.clock.nowMs();
  }

  // ---- processor ----

  private schedule(): void {
    if (this.stopping) return;
    const { start, hold } = this.pool.schedule();
    for (const id of hold) {
      const t = this.tracked.get(id);
      if (t === undefined) continue;
      // A command that starts at once is logged when it starts; one that waits is logged now.
      this.log.info('command received; waiting for a worker', { instanceAgentCommandId: id, sequenceNumber: t.record.message.sequenceNumber });
      // Recorded before the RECEIVE is queued: a RECEIVE gives a reservation back, so once one may be on its way this
      // command must be acked, even after a crash between the two writes.
      t.record = { ...t.record, receiveReported: true };
      this.state.save(StateArea.pending, id, t.record);
      t.receiveDelivered = this.report(id, { type: 'RECEIVE' });
    }
    for (const id of start) {
      const t = this.tracked.get(id);
      if (t !== undefined) this.spawnWorker(() => this.run(t));
    }
  }

  private spawnWorker(work: () => Promise<void>): void {
    const p = work()
      .catch((err: unknown) => this.log.error('a command worker failed', { error: err }))
      .finally(() => this.workers.delete(p));
    this.workers.add(p);
  }

  /** A cancel for a command that waits for a worker: ack it now, outside the worker limit (cancels never queue). */
  private cancelWaiting(t: Tracked): void {
    this.pool.set(t.id, 'canceling');
    this.spawnWorker(async () => {
      try {
        const decision = await this.ack(t);
        if ('stopped' in decision) return;
        // The server answers run:false for a canceled command; if it still said run, honour the cancel anyway.
        if (decision.run) this.finish(t, canceledBeforeStart());
        else this.completeNotRun(t, decision.reason);
      } catch (err) {
        this.log.error('unexpected error while canceling a waiting command', { instanceAgentCommandId: t.id, error: err });
      }
    });
  }

  private async run(t: Tracked): Promise<void> {
    try {
      t.startedReserved = this.mayStartUnacked(t);
      const decision: AckDecision = t.startedReserved ? { run: true } : await this.ack(t);
      if ('stopped' in decision) return;
      if (!decision.run) {
        this.completeNotRun(t, decision.reason);
        return;
      }
      if (t.cancelRequested) {
        this.finish(t, canceledBeforeStart());
        return;
      }
      const current: CurrentRecord = { ...t.record, ackedAtMs: this.deps.clock.nowMs() };
      // Persisted before the process exists: from here on, a restart never runs this command again.
      this.state.move(StateArea.pending, StateArea.current, t.id, current);
      t.area = StateArea.current;
      t.record = current;
      this.pool.set(t.id, 'running');
      let prepared: Prepared;
      try {
        prepared = await this.prepare(t.record.message);
      } catch (err) {
        if (!(err instanceof ScriptUnavailableError)) throw err;
        this.finish(t, { outcome: 'FAILED', exitCode: null, message: err.message, ...emptyText() });
        return;
      }
      await this.execute(t, current, prepared);
    } catch (err) {
      this.log.error('unexpected error while running a command', { instanceAgentCommandId: t.id, error: err });
      this.finish(t, { outcome: 'FAILED', exitCode: null, message: `The agent failed to run the command: ${(err as Error).message}`, ...emptyText() });
    }
  }

  private async execute(t: Tracked, current: CurrentRecord, prepared: Prepared): Promise<void> {
    const message = t.record.message;
    let sink: ObjectOutputSink | undefined;
    let execution: RunningExecution;
    try {
      if (prepared.output !== undefined) {
        sink = await ObjectOutputSink.open({
          transfer: prepared.output.transfer,
          location: prepared.output.location,
          workDir: prepared.workDir,
          maxOutputBytes: this.config.maxOutputBytes,
          commandId: t.id,
          instanceId: this.config.instanceId,
          signal: this.killController.signal,
        });
      }
      execution = await startExecution(
        {
          commandId: t.id,
          instanceId: this.config.instanceId,
          compartmentId: message.compartmentId,
          script: prepared.script,
          workDir: prepared.workDir,
          ...(message.content.commandString !== undefined ? { commandString: message.content.commandString } : {}),
          timeoutSec: message.executionTimeOutInSeconds,
          ...(sink !== undefined ? { sink } : {}),
        },
        {
          workRoot: this.workRoot,
          killGraceMs: this.config.killGraceMs,
          timers: this.timers,
          ...(this.runAs !== undefined ? { runAs: this.runAs } : {}),
          ...(this.deps.executor?.stdioDrainMs !== undefined ? { stdioDrainMs: this.deps.executor.stdioDrainMs } : {}),
          ...(this.deps.executor?.findExecutable !== undefined ? { findExecutable: this.deps.executor.findExecutable } : {}),
        },
      );
    } catch (err) {
      await sink?.dispose();
      removeWorkDir(prepared.workDir);
      throw err;
    }
    t.execution = execution;
    if (execution.pid !== undefined) {
      const spawned: CurrentRecord = { ...current, pid: execution.pid, workDir: execution.workDir, ...(execution.procStartTime !== undefined ? { procStartTime: execution.procStartTime } : {}) };
      this.state.save(StateArea.current, t.id, spawned);
      t.record = spawned;
      this.log.info('command started', {
        instanceAgentCommandId: t.id,
        sequenceNumber: message.sequenceNumber,
        pid: execution.pid,
        delivery: t.startedReserved ? 'reserved' : 'acked',
      });
      if (this.stopping && this.killRunningOnStop) t.stopReason = 'agent-stop';
      if (t.cancelRequested || t.stopReason !== undefined) void execution.cancel();
    }
    // IN_PROGRESS is reported once the script has run for START_REPORT_DELAY_MS: a script that ends sooner goes
    // straight from ACKED to its terminal state, saving a report (and a function call) per short command.
    const startReport =
      execution.pid === undefined
        ? undefined
        : this.timers.setTimeout(() => void this.report(t.id, { type: 'START' }), this.deps.startReportDelayMs ?? START_REPORT_DELAY_MS);
    let result = await execution.result;
    if (startReport !== undefined) this.timers.clearTimeout(startReport);
    if (t.stopReason === 'agent-stop' && result.outcome === 'CANCELED') {
      result = { ...result, outcome: 'FAILED', message: AGENT_STOPPED_MESSAGE };
    }
    this.finish(t, result);
  }

  /**
   * Everything a run needs before its process exists, or a `ScriptUnavailableError` saying why it cannot run: the
   * output's place, a working directory, and the script in it (an object source is downloaded here, after the ACK and
   * before START).
   */
  private async prepare(message: CommandIssuedMessage): Promise<Prepared> {
    const { source, output } = message.content;
    if (source.sourceType === 'TEXT' && source.textSha256 !== undefined && createHash('sha256').update(source.text, 'utf8').digest('hex') !== source.textSha256.toLowerCase()) {
      throw new ScriptUnavailableError('The script text does not match its textSha256, so it was not run.');
    }
    const outputPlace =
      output.outputType === 'TEXT'
        ? undefined
        : { transfer: this.objectStorage(), location: locate(() => outputLocation(output), 'The output cannot be written to Object Storage') };
    const workDir = makeWorkDir(this.workRoot, message.instanceAgentCommandId, this.runAs);
    try {
      const script: ScriptFile = source.sourceType === 'TEXT' ? { content: source.text } : await this.download(source, workDir);
      return { workDir, script, ...(outputPlace !== undefined ? { output: outputPlace } : {}) };
    } catch (err) {
      removeWorkDir(workDir);
      throw err;
    }
  }

  private objectStorage(): ObjectTransfer {
    if (this.deps.objectStorage === undefined) {
      throw new ScriptUnavailableError('This agent has no Object Storage access configured, so the command was not run.');
    }
    return this.deps.objectStorage;
  }

  /** Streams the script object into the working directory under its base name, within `maxScriptBytes`. */
  private async download(source: Exclude<CommandSource, { sourceType: 'TEXT' }>, workDir: string): Promise<ScriptFile> {
    const transfer = this.objectStorage();
    const location = locate(() => sourceLocation(source), 'The script cannot be read from Object Storage');
    const savedFile = safeFileName(baseNameOf(location), DEFAULT_SCRIPT_NAME);
    try {
      const { head } = await downloadObjectToFile(transfer, location, path.join(workDir, savedFile), {
        maxBytes: this.config.maxScriptBytes,
        signal: this.stopController.signal,
      });
      return { savedFile, head };
    } catch (err) {
      if (err instanceof ScriptTooLargeError) {
        throw new ScriptUnavailableError(
          `The script ${describeLocation(location)} is larger than this agent's limit of ${err.maxBytes} bytes (maxScriptBytes), so it was not run.`,
        );
      }
      throw new ScriptUnavailableError(`Could not download the script from ${describeLocation(location)}: ${(err as Error).message}`);
    }
  }

  /**
   * Reserved delivery (docs/agent-protocol.md): a command the service reserved for this session starts without an
   * ACK, its START or FINISH being the claim, if it starts on arrival (one this agent held, and so reported as
   * RECEIVE, gave the reservation back) and is still young by this host's clock (the service times an unclaimed
   * reservation out minutes later, so the clocks may disagree by that much).
   */
  private mayStartUnacked(t: Tracked): boolean {
    const message = t.record.message;
    if (message.reservedFor !== this.agentSessionId || t.record.receiveReported) return false;
    const ageMs = this.deps.clock.nowMs() - Date.parse(message.timeCreated);
    return Number.isFinite(ageMs) && ageMs <= RESERVED_START_WINDOW_MS;
  }

  /**
   * The ACK, sent directly (its answer decides): retried with the same callback id on transient failures, since an
   * ack that reached the server and won must be answered `run: true` again for this session.
   */
  private async ack(t: Tracked): Promise<AckDecision> {
    const signal = this.stopController.signal;
    if (t.receiveDelivered !== undefined) {
      // Keeps RECEIVE before ACK on the wire.
      await untilSettledOrAborted(t.receiveDelivered, signal);
    }
    const report: AgentReport = {
      callbackId: this.deps.ids.token(),
      sequence: this.nextSequence++,
      agentSessionId: this.agentSessionId,
      instanceAgentCommandId: t.id,
      event: { type: 'ACK', at: this.now() },
    };
    for (let attempt = 0; ; attempt += 1) {
      if (signal.aborted) return this.leaveWaiting(t);
      try {
        const answer = await this.deps.reporter.report(report, { signal });
        if (signal.aborted && answer.run) return this.leaveWaiting(t);
        if (answer.run) return { run: true };
        return { run: false, reason: `The ack was answered run=false (lifecycleState ${answer.lifecycleState}, deliveryState ${answer.deliveryState}).` };
      } catch (err) {
        if (err instanceof ReportRejectedError) return { run: false, reason: `The ack was refused: ${err.code}: ${err.message}` };
        if (err instanceof ReportAnswerInvalidError) return { run: false, reason: `The ack answer was invalid: ${err.message}` };
        if (signal.aborted) return this.leaveWaiting(t);
        const delayMs = backoffDelayMs(attempt, this.deps.ackBackoff ?? DEFAULT_ACK_BACKOFF, this.random);
        this.log.warn('ack failed; retrying', { instanceAgentCommandId: t.id, attempt: attempt + 1, retryInMs: delayMs, error: err });
        await sleep(this.timers, delayMs, signal);
      }
    }
  }

  /** The agent is stopping during an ack: the command stays pending and is acked again (same session) later. */
  private leaveWaiting(t: Tracked): AckDecision {
    if (this.pool.has(t.id)) this.pool.set(t.id, t.record.receiveReported ? 'held' : 'queued');
    return { stopped: true };
  }

  /** Queues FINISH, records completion, frees the worker now and the in-flight slot once FINISH is delivered. */
  private finish(t: Tracked, result: ExecutionResult): void {
    // The tail is the output only for TEXT outputs; an Object Storage output holds all of it.
    const textOutput = t.record.message.content.output.outputType === 'TEXT';
    const delivered = this.report(t.id, {
      type: 'FINISH',
      outcome: result.outcome,
      exitCode: result.exitCode,
      ...(result.message !== undefined ? { message: result.message } : {}),
      ...(textOutput ? { text: result.text, textSha256: result.textSha256 } : {}),
    });
    this.markCompleted(t, result.outcome, result.exitCode, result.message);
    this.log.info('command finished', { instanceAgentCommandId: t.id, outcome: result.outcome, exitCode: result.exitCode, message: result.message });
    this.pool.set(t.id, 'finishing');
    this.schedule();
    // Not awaited: a worker is free as soon as FINISH is on disk, and stop() must not wait for the platform.
    void delivered.then(() => {
      this.pool.delete(t.id);
      this.schedule();
    });
  }

  private completeNotRun(t: Tracked, reason: string): void {
    this.markCompleted(t, 'NOT_RUN', undefined, reason);
    this.pool.delete(t.id);
    this.log.info('command not run', { instanceAgentCommandId: t.id, reason });
    this.schedule();
  }

  private markCompleted(t: Tracked, outcome: CompletedOutcome, exitCode: number | null | undefined, reason: string | undefined): void {
    this.state.complete(t.area, {
      schemaVersion: 1,
      instanceAgentCommandId: t.id,
      completedAtMs: this.deps.clock.nowMs(),
      outcome,
      ...(exitCode !== undefined ? { exitCode } : {}),
      ...(reason !== undefined ? { reason } : {}),
    });
    this.completedIds.add(t.id);
    this.tracked.delete(t.id);
  }

  // ---- RunningAgent ----

  counts(): PoolCounts {
    return this.pool.counts();
  }

  outboxSize(): number {
    return this.outbox.size;
  }

  /** Idempotent; a later call with `killRunning` escalates a stop that is waiting for running scripts. */
  stop(options: StopOptions = {}): Promise<void> {
    this.stopping = true;
    this.stopController.abort();
    if (options.killRunning) this.killAllRunning();
    this.stopped ??= this.shutDown(options);
    return this.stopped;
  }

  private killAllRunning(): void {
    this.killRunningOnStop = true;
    this.killController.abort();
    for (const t of this.tracked.values()) {
      if (t.execution === undefined) continue;
      t.stopReason = 'agent-stop';
      void t.execution.cancel();
    }
  }

  private async shutDown(options: StopOptions): Promise<void> {
    await this.pollLoop;
    while (this.workers.size > 0) await Promise.allSettled([...this.workers]);
    await this.outbox.whenEmpty(options.drainOutboxMs ?? 5000);
    await this.outbox.stop();
    this.state.close();
    this.log.info('agent stopped', { agentSessionId: this.agentSessionId, outbox: this.outbox.size, pending: this.tracked.size });
  }
}

/** A source or output location, or the reason (naming the URI) it is not one. */
function locate(parse: () => ObjectLocation, what: string): ObjectLocation {
  try {
    return parse();
  } catch (err) {
    throw new ScriptUnavailableError(`${what}: ${(err as Error).message} The command was not run.`);
  }
}

function emptyText(): { text: string; textSha256: string } {
  return textOutputOf(new TailBuffer(1));
}

function canceledBeforeStart(): ExecutionResult {
  return { outcome: 'CANCELED' satisfies ExecutionOutcome, exitCode: null, message: CANCELED_BEFORE_START_MESSAGE, ...emptyText() };
}

/** Waits for `promise`, or until `signal` aborts, without leaving a listener on the long-lived signal. */
async function untilSettledOrAborted(promise: Promise<void>, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return;
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<void>((resolve) => {
    onAbort = () => resolve();
    signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    await Promise.race([promise, aborted]);
  } finally {
    if (onAbort !== undefined) signal.removeEventListener('abort', onAbort);
  }
}

/** Recovers state from `config.stateDir`, starts the outbox and the stream poll. */
export async function startAgent(config: AgentRuntimeConfig, deps: AgentDeps): Promise<RunningAgent> {
  const agent = new Agent(config, deps);
  await agent.start();
  return agent;
}
