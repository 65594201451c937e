/**
 * The embedded platform's stand-in for OCI Resource Scheduler: on each schedule's cron it invokes the schedule's
 * function with the configured JSON body, as Resource Scheduler does with a BODY parameter.
 *
 * - A run whose result carries a `continuation` invokes again at once with it, at most `maxInvocationsPerRun` times;
 *   a run that stops there leaves its continuation for the next tick, so a backlog is worked through across ticks.
 * - Runs of one schedule never overlap: the next tick is planned only when a run ends, and ticks missed meanwhile
 *   are skipped, not queued.
 * - Every tick first purges stream messages past their retention (embedded store), a bounded batch at a time.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from '../shared/app/deps';
import { systemClock, type Clock } from '../shared/ports/clock';
import { parseCron, type CronSchedule } from './cron';
import { gatewayStatus, type FnInvokeRequest, type FnInvokeResponse } from './function-pool';

export interface ScheduleConfig {
  name: string;
  /** A cron expression (see `cron.ts`), e.g. `* * * * *` or `@every 10s`. */
  cron: string;
  function: 'retention-sweep';
  /** Sent as the request body, as JSON. */
  body: Record<string, unknown>;
}

export interface SchedulerOptions {
  schedules: readonly ScheduleConfig[];
  invoke(functionName: ScheduleConfig['function'], req: FnInvokeRequest): Promise<FnInvokeResponse>;
  log: Logger;
  clock?: Clock;
  /** Invocations one run may chain through continuations before leaving the rest to the next tick. */
  maxInvocationsPerRun?: number;
  /** The embedded stream store, whose expired messages each tick purges. */
  streams?: { purgeExpired(maxRows: number): number };
  maxPurgedRowsPerTick?: number;
  /** Called after each invocation (the platform wakes its stream long polls: the function may have published). */
  afterInvoke?: () => void;
}

export interface ScheduleRunResult {
  schedule: string;
  invocations: number;
  /** Set when the last invocation failed; the next tick starts over from the last continuation it had. */
  error?: string;
  /** The last invocation's result body. */
  result?: unknown;
}

/** One retention sweep a minute with the sweep's own defaults (see shared/domain/sweep-policy.ts). */
export const DEFAULT_SCHEDULES: readonly ScheduleConfig[] = [
  { name: 'retention-sweep', cron: '* * * * *', function: 'retention-sweep', body: {} },
];

export const PLATFORM_CONFIG_FILE = 'config.json';

/**
 * The `schedules` of `<dataDir>/config.json`, or undefined when the file or the key is absent. The file:
 *
 *   { "schedules": [ { "name": "retention-sweep", "cron": "0 * * * *",
 *                      "function": "retention-sweep", "body": { "maxDeletions": 500, "textRetentionDays": 7 } } ] }
 *
 * `function` defaults to retention-sweep and `body` to `{}`; `"schedules": []` turns scheduling off.
 */
export function readSchedulesFile(dataDir: string): ScheduleConfig[] | undefined {
  const file = path.join(dataDir, PLATFORM_CONFIG_FILE);
  if (!existsSync(file)) return undefined;
  const fail = (reason: string) => new Error(`${file}: ${reason}`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw fail(`not valid JSON (${String(e)})`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw fail('must hold a JSON object');
  const schedules = (parsed as { schedules?: unknown }).schedules;
  if (schedules === undefined) return undefined;
  if (!Array.isArray(schedules)) throw fail("'schedules' must be an array");
  return schedules.map((entry: unknown, i): ScheduleConfig => {
    const at = `schedules[${i}]`;
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) throw fail(`'${at}' must be an object`);
    const { name, cron, function: fn = 'retention-sweep', body = {} } = entry as Record<string, unknown>;
    if (typeof name !== 'string' || name === '') throw fail(`'${at}.name' must be a non-empty string`);
    if (typeof cron !== 'string') throw fail(`'${at}.cron' must be a string`);
    if (fn !== 'retention-sweep') throw fail(`'${at}.function' must be retention-sweep`);
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw fail(`'${at}.body' must be an object`);
    return { name, cron, function: fn, body: body as Record<string, unknown> };
  });
}

const DEFAULT_MAX_INVOCATIONS_PER_RUN = 10;
const DEFAULT_MAX_PURGED_ROWS = 10_000;
/** setTimeout's limit; a later tick is re-planned when this fires. */
const MAX_TIMER_MS = 2 ** 31 - 1;
const MAX_LOGGED_ERROR_CHARS = 2000;

interface ScheduleState {
  config: ScheduleConfig;
  cron: CronSchedule;
  timer?: NodeJS.Timeout;
  dueMs?: number;
  running?: Promise<ScheduleRunResult>;
  /** Where the last run stopped, when it stopped early. */
  continuation?: string;
}

export class Scheduler {
  private readonly states: ScheduleState[];
  private readonly clock: Clock;
  private stopped = false;

  /** Throws `CronSyntaxError` (or an Error naming the schedule) for an invalid configuration. */
  constructor(private readonly options: SchedulerOptions) {
    this.clock = options.clock ?? systemClock;
    const names = new Set<string>();
    this.states = options.schedules.map((config) => {
      if (!config.name || names.has(config.name)) throw new Error(`Schedule names must be unique and non-empty: "${config.name}"`);
      names.add(config.name);
      if (config.function !== 'retention-sweep') throw new Error(`Schedule ${config.name}: unknown function "${String(config.function)}"`);
      return { config, cron: parseCron(config.cron) };
    });
  }

  start(): void {
    for (const state of this.states) this.plan(state, this.clock.nowMs());
  }

  /** Runs a schedule now (or joins its run in progress). */
  runNow(name: string): Promise<ScheduleRunResult> {
    const state = this.states.find((s) => s.config.name === name);
    if (!state) return Promise.reject(new Error(`No schedule named ${name}`));
    return this.run(state);
  }

  /** Cancels planned ticks and waits for runs in progress. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const state of this.states) {
      clearTimeout(state.timer);
      state.timer = undefined;
    }
    await Promise.all(this.states.map((s) => s.running?.catch(() => undefined)));
  }

  private plan(state: ScheduleState, afterMs: number): void {
    if (this.stopped) return;
    state.dueMs = state.cron.nextRun(afterMs);
    this.arm(state);
  }

  private arm(state: ScheduleState): void {
    const dueMs = state.dueMs ?? this.clock.nowMs();
    const waitMs = Math.min(Math.max(0, dueMs - this.clock.nowMs()), MAX_TIMER_MS);
    state.timer = setTimeout(() => {
      state.timer = undefined;
      // A far tick is reached in several timer spans.
      if (this.clock.nowMs() < dueMs) {
        this.arm(state);
        return;
      }
      void this.run(state).finally(() => this.plan(state, Math.max(this.clock.nowMs(), dueMs)));
    }, waitMs);
  }

  private run(state: ScheduleState): Promise<ScheduleRunResult> {
    state.running ??= this.runOnce(state).finally(() => {
      state.running = undefined;
    });
    return state.running;
  }

  private async runOnce(state: ScheduleState): Promise<ScheduleRunResult> {
    const { log } = this.options;
    const name = state.config.name;
    this.purgeStreams();
    const maxInvocations = this.options.maxInvocationsPerRun ?? DEFAULT_MAX_INVOCATIONS_PER_RUN;
    let invocations = 0;
    let result: unknown;
    try {
      while (invocations < maxInvocations && !this.stopped) {
        const body = { ...state.config.body, ...(state.continuation ? { continuation: state.continuation } : {}) };
        invocations++;
        result = await this.invokeOnce(state.config, body);
        state.continuation = continuationOf(result);
        log.info('scheduled run', { schedule: name, function: state.config.function, invocation: invocations, result });
        if (!state.continuation) break;
      }
      return { schedule: name, invocations, result };
    } catch (e) {
      const error = (e instanceof Error ? e.message : String(e)).slice(0, MAX_LOGGED_ERROR_CHARS);
      log.error('scheduled run failed', { schedule: name, function: state.config.function, invocation: invocations, error });
      // A rejected continuation would fail every tick: start over instead. Other failures retry it.
      if (e instanceof InvocationError && e.status >= 400 && e.status < 500) state.continuation = undefined;
      return { schedule: name, invocations, error };
    }
  }

  private async invokeOnce(config: ScheduleConfig, body: Record<string, unknown>): Promise<unknown> {
    const response = await this.options
      .invoke(config.function, { body: Buffer.from(JSON.stringify(body), 'utf8'), headers: { 'content-type': 'application/json' } })
      .finally(() => this.options.afterInvoke?.());
    const text = response.body.toString('utf8');
    // An event function answers 200 with its own status in Fn-Http-Status; the FDK's 502/504 mean it failed.
    const status = gatewayStatus(response);
    if (status !== 200) throw new InvocationError(status, `${config.function} answered ${status}: ${text}`);
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw new InvocationError(502, `${config.function} answered something that is not JSON: ${text}`);
    }
  }

  private purgeStreams(): void {
    const streams = this.options.streams;
    if (!streams) return;
    try {
      const purged = streams.purgeExpired(this.options.maxPurgedRowsPerTick ?? DEFAULT_MAX_PURGED_ROWS);
      if (purged > 0) this.options.log.info('purged expired stream messages', { purged });
    } catch (e) {
      this.options.log.error('stream purge failed', { error: String(e) });
    }
  }
}

class InvocationError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'InvocationError';
  }
}

function continuationOf(result: unknown): string | undefined {
  if (typeof result !== 'object' || result === null) return undefined;
  const c = (result as { continuation?: unknown }).continuation;
  return typeof c === 'string' && c !== '' ? c : undefined;
}
