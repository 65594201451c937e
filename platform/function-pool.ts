/**
 * Runs one Fn function as hot processes under the real FDK contract, the way the Fn agent does
 * (spec fn-fdk-and-events.md §1.3, §1.4, §2): each process listens on `FN_LISTENER=unix:<dir>/lsnr.sock`, serves
 * one call at a time over a single keep-alive connection, is killed when a call overruns its deadline, and is
 * replaced on demand when it dies. Calls queue (bounded) while every process is busy.
 */
import { spawn, type ChildProcess } from 'child_process';
import { randomUUID } from 'crypto';
import fs from 'fs';
import os from 'os';
import path from 'path';
import { AnswerError, Http1Pool } from '../shared/http1';
import { systemClock, type Clock } from '../shared/ports/clock';

export interface FunctionPoolOptions {
  name: string;
  /** Path of the bundled function (`func.js`). */
  entry: string;
  /** Function configuration, passed as env vars as Fn and OCI do. */
  env: Record<string, string>;
  maxProcesses: number;
  callTimeoutMs: number;
  /** How long a process may take to create its socket (the Fn contract allows 5 s). */
  startTimeoutMs?: number;
  /** Parent of the per-process temp dirs; socket paths must stay under ~100 bytes. */
  socketDir?: string;
  /** Receives the children's output, one line at a time, prefixed with the function name. */
  log?: (line: string) => void;
  /** Calls waiting for a free process beyond this are refused. */
  maxQueuedCalls?: number;
  /** Request and response bodies are capped (OCI's invoke limit is 6 MB). */
  maxBodyBytes?: number;
  /** After SIGTERM in `stop()`, how long before SIGKILL. */
  stopGraceMs?: number;
  clock?: Clock;
  newCallId?: () => string;
}

export interface FnInvokeRequest {
  body: Buffer;
  headers: Record<string, string>;
  /** Absolute deadline (ms since the epoch); never later than now + callTimeoutMs. */
  deadlineMs?: number;
}

export interface FnHttpInvokeRequest {
  method: string;
  /** Path and query, as OCI API Gateway sends it in `Fn-Http-Request-Url`. */
  url: string;
  headers: Record<string, string>;
  body: Buffer;
}

export interface FnInvokeResponse {
  status: number;
  /** Lower-case names; repeated headers joined with ", ". */
  headers: Record<string, string>;
  body: Buffer;
}

export interface FunctionPoolStats {
  processes: number;
  busy: number;
  queued: number;
  /** Processes spawned over the pool's life. */
  started: number;
  /** Processes that exited without the pool asking them to. */
  crashed: number;
}

export interface FunctionProcessInfo {
  pid: number;
  socketPath: string;
  busy: boolean;
}

export const FunctionErrorKind = {
  /** The process died or broke the connection during the call. */
  Crashed: 'Crashed',
  /** The call passed its deadline (the process was killed if it was running it). */
  TimedOut: 'TimedOut',
  /** No process could be started. */
  StartFailed: 'StartFailed',
  /** Too many calls waiting, or the request body is too large. */
  Rejected: 'Rejected',
  /** The pool is stopping. */
  Stopped: 'Stopped',
} as const;
export type FunctionErrorKind = (typeof FunctionErrorKind)[keyof typeof FunctionErrorKind];

/** Why a call produced no function response; `status` is what a gateway answers for it. */
export class FunctionError extends Error {
  readonly status: number;

  constructor(
    readonly kind: FunctionErrorKind,
    message: string,
    options?: { cause?: unknown; status?: number },
  ) {
    super(message, options);
    this.name = 'FunctionError';
    this.status = options?.status ?? FUNCTION_ERROR_STATUS[kind];
  }
}

const FUNCTION_ERROR_STATUS: Record<FunctionErrorKind, number> = {
  Crashed: 502,
  TimedOut: 504,
  StartFailed: 502,
  Rejected: 503,
  Stopped: 503,
};

const SOCKET_NAME = 'lsnr.sock';
/** Linux sun_path is 108 bytes including the NUL (macOS: 104); this is checked with the FDK's `.tmp` suffix. */
const MAX_SOCKET_PATH_BYTES = 103;
const READY_POLL_MS = 25;
/** Starts that may fail in a row before waiting calls are failed instead of trying again. */
const MAX_START_ATTEMPTS = 3;
const MAX_LOG_LINE_CHARS = 16 * 1024;
const HTTP_PREFIX = 'fn-http-h-';
/** Fn accepts only these statuses from an FDK; anything else means the process is broken. */
const FDK_STATUSES = new Set([200, 502, 504]);
/** Where FDK calls go (the FDK serves POST /call on its socket; the host only fills the Host header). */
const FDK_CALL_URL = new URL('http://localhost/call');

const DEFAULTS = {
  startTimeoutMs: 5000,
  maxQueuedCalls: 1000,
  maxBodyBytes: 6 * 1024 * 1024,
  stopGraceMs: 2000,
};

type WorkerState = 'starting' | 'idle' | 'busy' | 'dead';

interface Worker {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly dir: string;
  readonly socketPath: string;
  /**
   * Calls go over one kept-alive connection to the FDK's socket, one at a time: the agent's small HTTP/1.1 client,
   * not node:http, whose request, agent and response objects were about a third of the gateway's CPU in `perf`.
   */
  readonly http: Http1Pool;
  state: WorkerState;
  /** Set by the pool before it kills the process, so the exit is not counted as a crash. */
  killedByPool: boolean;
  /** Resolves once the process has exited and its temp dir is gone. */
  readonly gone: Promise<void>;
  /** Fails the call in flight, if any. */
  failCall?: (error: FunctionError) => void;
}

interface Waiter {
  assign(worker: Worker): void;
  fail(error: FunctionError): void;
}

/** Children still alive, killed if the parent exits without stopping its pools. */
const liveChildren = new Set<ChildProcess>();
let exitHookInstalled = false;
function trackChild(child: ChildProcess): void {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const c of liveChildren) c.kill('SIGKILL');
    });
  }
  liveChildren.add(child);
}

export class FunctionPool {
  /** Processes in the rotation (starting, idle or busy). */
  private readonly workers: Worker[] = [];
  /** Every process not yet gone, including ones killed and awaiting exit. */
  private readonly unfinished = new Set<Worker>();
  private readonly waiters: Waiter[] = [];
  private readonly opts: Required<FunctionPoolOptions>;
  private startedCount = 0;
  private crashedCount = 0;
  private startFailures = 0;
  private stopping: Promise<void> | undefined;

  constructor(options: FunctionPoolOptions) {
    if (!Number.isInteger(options.maxProcesses) || options.maxProcesses < 1) throw new Error('maxProcesses must be a positive integer');
    this.opts = {
      ...options,
      startTimeoutMs: options.startTimeoutMs ?? DEFAULTS.startTimeoutMs,
      socketDir: options.socketDir ?? os.tmpdir(),
      log: options.log ?? ((line) => process.stderr.write(`${line}\n`)),
      maxQueuedCalls: options.maxQueuedCalls ?? DEFAULTS.maxQueuedCalls,
      maxBodyBytes: options.maxBodyBytes ?? DEFAULTS.maxBodyBytes,
      stopGraceMs: options.stopGraceMs ?? DEFAULTS.stopGraceMs,
      clock: options.clock ?? systemClock,
      newCallId: options.newCallId ?? randomUUID,
    };
    const longestSocketPath = path.join(this.opts.socketDir, 'fn-XXXXXX', `${SOCKET_NAME}.tmp`);
    if (Buffer.byteLength(longestSocketPath) > MAX_SOCKET_PATH_BYTES) {
      throw new Error(`socketDir ${this.opts.socketDir} is too long for a unix socket path; use a shorter one`);
    }
  }

  /** Start one process and wait until it serves. */
  async start(): Promise<void> {
    if (this.stopping) throw this.stoppedError();
    if (this.workers.length > 0) return;
    this.startFailures = 0;
    let worker: Worker;
    try {
      worker = this.spawnWorker();
    } catch (e) {
      throw this.startFailedError(`could not create its socket dir: ${String(e)}`);
    }
    await this.whenReady(worker);
  }

  /** A raw FDK call: the body and headers as given, plus `Fn-Call-Id` and `Fn-Deadline`. */
  async invoke(req: FnInvokeRequest): Promise<FnInvokeResponse> {
    if (this.stopping) throw this.stoppedError();
    if (req.body.length > this.opts.maxBodyBytes) {
      throw new FunctionError('Rejected', `Request body of ${req.body.length} bytes exceeds ${this.opts.maxBodyBytes}`, { status: 413 });
    }
    const capMs = this.opts.clock.nowMs() + this.opts.callTimeoutMs;
    const deadlineMs = Math.min(req.deadlineMs ?? capMs, capMs);
    const callId = this.opts.newCallId();
    const worker = await this.acquire(deadlineMs, callId);
    try {
      // The process may have gone between being handed over and this continuation running.
      if (worker.state !== 'busy') {
        throw this.stopping ? this.stoppedError() : new FunctionError('Crashed', `Function ${this.opts.name} process ${worker.pid} exited before the call`);
      }
      return await this.call(worker, req, deadlineMs, callId);
    } finally {
      this.release(worker);
    }
  }

  /** Call the function as OCI API Gateway / an Fn HTTP trigger would, and unwrap its answer the same way. */
  async invokeHttp(req: FnHttpInvokeRequest): Promise<FnInvokeResponse> {
    const headers: Record<string, string> = {
      'Fn-Intent': 'httprequest',
      'Fn-Http-Method': req.method,
      'Fn-Http-Request-Url': req.url,
    };
    for (const [name, value] of Object.entries(req.headers)) {
      if (name.toLowerCase() === 'content-type') headers['Content-Type'] = value;
      else headers[`Fn-Http-H-${name}`] = value;
    }
    const raw = await this.invoke({ body: req.body, headers });
    return { status: gatewayStatus(raw), headers: gatewayHeaders(raw.headers), body: raw.body };
  }

  /** Stop every process (SIGTERM, then SIGKILL after the grace period) and remove their temp dirs. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      for (const waiter of this.waiters.splice(0)) waiter.fail(this.stoppedError());
      await Promise.all([...this.unfinished].map((w) => this.terminate(w)));
    })();
    return this.stopping;
  }

  stats(): FunctionPoolStats {
    return {
      processes: this.workers.length,
      busy: this.workers.filter((w) => w.state === 'busy').length,
      queued: this.waiters.length,
      started: this.startedCount,
      crashed: this.crashedCount,
    };
  }

  /** The live processes (for diagnostics and tests). */
  processList(): FunctionProcessInfo[] {
    return this.workers.map((w) => ({ pid: w.pid, socketPath: w.socketPath, busy: w.state === 'busy' }));
  }

  // ---- scheduling ----

  private acquire(deadlineMs: number, callId: string): Promise<Worker> {
    const idle = this.workers.find((w) => w.state === 'idle');
    if (idle) {
      idle.state = 'busy';
      return Promise.resolve(idle);
    }
    if (this.waiters.length >= this.opts.maxQueuedCalls) {
      return Promise.reject(new FunctionError('Rejected', `Function ${this.opts.name} has ${this.waiters.length} calls waiting; try again later`));
    }
    // A new call gets fresh start attempts once earlier ones have left nothing running.
    if (this.workers.length === 0) this.startFailures = 0;
    return new Promise<Worker>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.removeWaiter(waiter);
        reject(new FunctionError('TimedOut', `Call ${callId} to ${this.opts.name} passed its deadline waiting for a process`));
      }, Math.max(0, deadlineMs - this.opts.clock.nowMs()));
      const waiter: Waiter = {
        assign: (worker) => {
          clearTimeout(timer);
          worker.state = 'busy';
          resolve(worker);
        },
        fail: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      };
      this.waiters.push(waiter);
      this.dispatch();
    });
  }

  private removeWaiter(waiter: Waiter): void {
    const i = this.waiters.indexOf(waiter);
    if (i >= 0) this.waiters.splice(i, 1);
  }

  private release(worker: Worker): void {
    if (worker.state === 'busy') worker.state = 'idle';
    this.dispatch();
  }

  /** Hand idle processes to waiting calls, and start processes while calls outnumber the ones starting. */
  private dispatch(): void {
    if (this.stopping) return;
    for (let idle = this.findIdle(); idle && this.waiters.length > 0; idle = this.findIdle()) {
      this.waiters.shift()?.assign(idle);
    }
    const starting = () => this.workers.filter((w) => w.state === 'starting').length;
    while (
      this.waiters.length > starting() &&
      this.workers.length < this.opts.maxProcesses &&
      this.startFailures < MAX_START_ATTEMPTS
    ) {
      let worker: Worker;
      try {
        worker = this.spawnWorker();
      } catch (e) {
        this.onStartFailed(this.startFailedError(`could not create its socket dir: ${String(e)}`));
        return;
      }
      // Failures are handled in onStartFailed.
      this.whenReady(worker).catch(() => undefined);
    }
  }

  private onStartFailed(error: FunctionError): void {
    this.startFailures++;
    this.dispatch();
    // Waiting calls would otherwise hang with nothing left to serve them.
    if (this.workers.length === 0) for (const waiter of this.waiters.splice(0)) waiter.fail(error);
  }

  private findIdle(): Worker | undefined {
    return this.workers.find((w) => w.state === 'idle');
  }

  // ---- processes ----

  private spawnWorker(): Worker {
    // A fresh dir per process: the FDK cannot start over a stale socket (exit 3).
    const dir = fs.mkdtempSync(path.join(this.opts.socketDir, 'fn-'));
    const socketPath = path.join(dir, SOCKET_NAME);
    const child = spawn(process.execPath, [this.opts.entry], {
      cwd: path.dirname(this.opts.entry),
      // stdin stays open for the child's life: it ends when this process dies, however it dies (exitWithParent).
      stdio: ['pipe', 'pipe', 'pipe'],
      env: {
        RUNCOMMAND_EXIT_WITH_PARENT: '1',
        PATH: process.env.PATH ?? '',
        FN_APP_NAME: 'runcommand',
        FN_APP_ID: 'local-app',
        FN_FN_ID: `local-fn-${this.opts.name}`,
        FN_MEMORY: '256',
        ...this.opts.env,
        FN_FN_NAME: this.opts.name,
        FN_TYPE: 'sync',
        FN_FORMAT: 'http-stream',
        FN_LISTENER: `unix:${socketPath}`,
      },
    });
    this.startedCount++;
    trackChild(child);
    const prefix = `[${this.opts.name} ${child.pid ?? '?'}]`;
    for (const stream of [child.stdout, child.stderr]) {
      if (stream) pipeLines(stream, (line) => this.opts.log(`${prefix} ${line}`));
    }
    const gone = new Promise<void>((resolve) => {
      const onGone = (detail: string) => {
        liveChildren.delete(child);
        // A process that dies while starting is a start failure; whenReady reports it.
        const wasServing = worker.state === 'idle' || worker.state === 'busy';
        this.retire(worker);
        if (!worker.killedByPool) this.crashedCount++;
        worker.failCall?.(new FunctionError('Crashed', `Function ${this.opts.name} process ${worker.pid} ${detail} during the call`));
        fs.promises
          .rm(dir, { recursive: true, force: true })
          .catch(() => undefined)
          .then(() => {
            this.unfinished.delete(worker);
            resolve();
          });
        if (wasServing) this.dispatch();
      };
      child.once('exit', (code, signal) => onGone(signal ? `was killed by ${signal}` : `exited with code ${code}`));
      child.once('error', (e) => {
        this.opts.log(`${prefix} ${e.message}`);
        // A child that never spawned emits no 'exit'.
        if (child.pid === undefined) onGone(`could not start (${e.message})`);
      });
    });
    const worker: Worker = {
      child,
      pid: child.pid ?? -1,
      dir,
      socketPath,
      // Header values are forwarded from the gateway's callers: node:http takes obs-text in them, and so does this.
      http: new Http1Pool({ maxConnectionsPerOrigin: 1, socketPath, latin1HeaderValues: true }),
      state: 'starting',
      killedByPool: false,
      gone,
    };
    this.workers.push(worker);
    this.unfinished.add(worker);
    return worker;
  }

  /** Resolves when the FDK's `lsnr.sock` symlink exists and points at a socket in the same dir. */
  private whenReady(worker: Worker): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let done = false;
      let watcher: fs.FSWatcher | undefined;
      const finish = (failure?: FunctionError) => {
        if (done) return;
        done = true;
        clearTimeout(timeout);
        clearInterval(poll);
        watcher?.close();
        const error = failure ?? (worker.state === 'starting' ? undefined : this.startFailedError(`process ${worker.pid} ended while starting`));
        if (!error) {
          worker.state = 'idle';
          this.startFailures = 0;
          resolve();
          this.dispatch();
          return;
        }
        this.kill(worker);
        reject(error);
        this.onStartFailed(error);
      };
      const check = () => {
        if (worker.state === 'dead') {
          finish(this.startFailedError(`process ${worker.pid} exited before it was ready`));
          return;
        }
        isReadySocket(worker.socketPath).then((ready) => ready && finish(), () => undefined);
      };
      const timeout = setTimeout(
        () => finish(this.startFailedError(`process ${worker.pid} was not ready within ${this.opts.startTimeoutMs} ms`)),
        this.opts.startTimeoutMs,
      );
      const poll = setInterval(check, READY_POLL_MS);
      try {
        watcher = fs.watch(worker.dir, check);
        watcher.on('error', () => undefined);
      } catch {
        // The poll alone still finds the socket.
      }
      worker.child.once('exit', check);
      check();
    });
  }

  private call(worker: Worker, req: FnInvokeRequest, deadlineMs: number, callId: string): Promise<FnInvokeResponse> {
    return new Promise<FnInvokeResponse>((resolve, reject) => {
      let settled = false;
      const settle = (outcome: { error: FunctionError } | { response: FnInvokeResponse }) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        worker.failCall = undefined;
        if ('error' in outcome) {
          worker.http.close();
          reject(outcome.error);
        } else {
          resolve(outcome.response);
        }
      };
      const remainingMs = Math.max(0, deadlineMs - this.opts.clock.nowMs());
      const timer = setTimeout(() => {
        // As Fn does: a call past its deadline takes its container with it.
        this.kill(worker);
        settle({ error: new FunctionError('TimedOut', `Call ${callId} to ${this.opts.name} passed its deadline; process ${worker.pid} was killed`) });
      }, remainingMs);
      worker.failCall = (error) => settle({ error });
      const request = {
        method: 'POST',
        url: FDK_CALL_URL,
        headers: {
          host: FDK_CALL_URL.host,
          ...req.headers,
          'Content-Length': String(req.body.length),
          'Fn-Call-Id': callId,
          'Fn-Deadline': new Date(deadlineMs).toISOString(),
        },
        body: req.body,
        // The deadline timer above decides; the connection's own idle limit only backs it up.
        timeoutMs: remainingMs + 1000,
        maxAnswerBytes: this.opts.maxBodyBytes,
      };
      worker.http.request(request).then(
        (answer) => {
          if (settled) return;
          if (!FDK_STATUSES.has(answer.status)) this.kill(worker);
          settle({ response: answer });
        },
        (e: Error) => {
          if (settled) return;
          if (e instanceof AnswerError) {
            // Too large or not HTTP: the pool gives up on the process.
            this.kill(worker);
            settle({ error: new FunctionError('Crashed', `Function ${this.opts.name} sent an answer the pool cannot take: ${e.message}`, { cause: e }) });
            return;
          }
          // A broken connection is the function failing, not the pool's choice: it counts as a crash.
          this.kill(worker, { crashed: true });
          settle({ error: new FunctionError('Crashed', `Call ${callId} to ${this.opts.name} failed: ${e.message}`, { cause: e }) });
        },
      );
    });
  }

  /** SIGKILL a process the pool gives up on; it leaves the rotation at once. */
  private kill(worker: Worker, how: { crashed: boolean } = { crashed: false }): void {
    if (worker.state === 'dead') return;
    worker.killedByPool = !how.crashed;
    this.retire(worker);
    worker.child.kill('SIGKILL');
  }

  private retire(worker: Worker): void {
    worker.state = 'dead';
    worker.http.close();
    const i = this.workers.indexOf(worker);
    if (i >= 0) this.workers.splice(i, 1);
  }

  private async terminate(worker: Worker): Promise<void> {
    worker.killedByPool = true;
    worker.failCall?.(this.stoppedError());
    this.retire(worker);
    if (worker.child.exitCode === null && worker.child.signalCode === null) {
      worker.child.kill('SIGTERM');
      const grace = setTimeout(() => worker.child.kill('SIGKILL'), this.opts.stopGraceMs);
      await worker.gone;
      clearTimeout(grace);
    } else {
      await worker.gone;
    }
  }

  private stoppedError(): FunctionError {
    return new FunctionError('Stopped', `Function ${this.opts.name} is stopping`);
  }

  private startFailedError(detail = 'no process could be started'): FunctionError {
    return new FunctionError('StartFailed', `Function ${this.opts.name}: ${detail}`);
  }
}

/**
 * Fn trigger semantics: the function's own status when the FDK answered 200; 502/504 as is; any other FDK status → 502.
 * The gateway, the event router and the scheduler all read a function's answer through it.
 */
export function gatewayStatus(raw: FnInvokeResponse): number {
  if (raw.status === 200) {
    const fnStatus = Number(raw.headers['fn-http-status']);
    return Number.isInteger(fnStatus) && fnStatus >= 100 && fnStatus <= 599 ? fnStatus : 200;
  }
  return raw.status === 504 ? 504 : 502;
}

function gatewayHeaders(raw: Record<string, string>): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(raw)) {
    if (name.startsWith(HTTP_PREFIX) && name.length > HTTP_PREFIX.length) headers[name.slice(HTTP_PREFIX.length)] = value;
  }
  if (raw['content-type'] !== undefined) headers['content-type'] = raw['content-type'];
  return headers;
}

async function isReadySocket(socketPath: string): Promise<boolean> {
  try {
    const link = await fs.promises.lstat(socketPath);
    if (!link.isSymbolicLink()) return false;
    // Fn's own check: the link must point into the same dir, at a socket.
    const target = await fs.promises.readlink(socketPath);
    if (path.dirname(target) !== '.') return false;
    return (await fs.promises.stat(socketPath)).isSocket();
  } catch {
    return false;
  }
}

/** Split a stream into lines; an overlong line is cut so a child cannot grow the buffer without bound. */
function pipeLines(stream: NodeJS.ReadableStream, emit: (line: string) => void): void {
  let pending = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    pending += chunk;
    let newline = pending.indexOf('\n');
    while (newline >= 0) {
      emit(pending.slice(0, newline));
      pending = pending.slice(newline + 1);
      newline = pending.indexOf('\n');
    }
    while (pending.length > MAX_LOG_LINE_CHARS) {
      emit(`${pending.slice(0, MAX_LOG_LINE_CHARS)} …`);
      pending = pending.slice(MAX_LOG_LINE_CHARS);
    }
  });
  stream.on('end', () => {
    if (pending !== '') emit(pending);
  });
}
