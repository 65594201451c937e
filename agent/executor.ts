/**
 * Runs one script (spec §5 "Shells"): bash by default, the interpreter of a `#!` first line, PowerShell for `#ps1`, or
 * the command's `commandString`. Each run gets a fresh private working directory, stdin from /dev/null, its own
 * process group (so timeout and cancel stop everything it started), a minimal environment with the command's metadata,
 * and bounded output capture.
 *
 * Exit code conventions, chosen to match what a shell would report in `$?`:
 * - the interpreter cannot be found: 127 ("command not found"), cannot be executed: 126, with a message;
 * - killed by a signal the agent did not send: 128 + the signal number, FAILED, the message names the signal;
 * - stopped by the agent (timeout, cancel): exit code null, since the script did not choose how it ended.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Limits } from '../shared/domain/limits';
import { noopOutputSink, TailBuffer, textOutputOf, type OutputSink, type OutputStreamName } from './output';
import { killProcessGroup, readProcStartTime } from './process-group';
import { settlesWithin, systemTimers, type TimerHandle, type Timers } from './timers';

export type ExecutionOutcome = 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'CANCELED';

export interface ExecutionResult {
  outcome: ExecutionOutcome;
  exitCode: number | null;
  message?: string;
  text: string;
  textSha256: string;
}

export interface RunAsUser {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

export type ScriptFile =
  | {
      content: Buffer | string;
      /** The name the script is saved under; defaults to script.sh / script.ps1. */
      fileName?: string;
    }
  /**
   * Already saved in the execution's `workDir` (a downloaded object, under its base name so a `commandString` can
   * refer to it); `head` is its first bytes, for the `#!` line.
   */
  | { savedFile: string; head: Buffer };

export interface ExecutionSpec {
  commandId: string;
  instanceId: string;
  compartmentId?: string;
  script: ScriptFile;
  /** A directory from `makeWorkDir` (holding a saved script); the execution owns it and removes it at the end. */
  workDir?: string;
  /** Spec §3.3: a full command line, run with `bash -c` in the working directory that holds the script. */
  commandString?: string;
  /** 0 means no timeout; both 0 and larger values are capped at one day. */
  timeoutSec: number;
  sink?: OutputSink;
}

export interface ExecutorOptions {
  /** Parent of the per-execution working directories; must be traversable by `runAs`. */
  workRoot: string;
  killGraceMs: number;
  /** Applied only when the agent runs as root. */
  runAs?: RunAsUser;
  /**
   * After the script's main process exits, how long to wait for its output pipes to close. A background child that
   * keeps them open (a daemon the script started) must not hold the result back forever.
   */
  stdioDrainMs?: number;
  /** Finds an executable on PATH (injected so the "pwsh is not installed" path is testable everywhere). */
  findExecutable?: (name: string) => string | undefined;
  timers?: Timers;
}

export interface RunningExecution {
  /** Process id of the script, which is also its process group id; undefined when it could not be started. */
  readonly pid: number | undefined;
  /** `/proc/<pid>/stat` start time, recorded so a restarted agent never signals a recycled pid. */
  readonly procStartTime: string | undefined;
  readonly workDir: string;
  /** The output tail's fixed allocation and the bytes seen so far (memory stays bounded whatever the output size). */
  readonly output: Pick<TailBuffer, 'allocatedBytes' | 'totalBytes'>;
  readonly result: Promise<ExecutionResult>;
  /** Stops the whole process group (SIGTERM, grace, SIGKILL); resolves once it is gone, with the final result. */
  cancel(): Promise<ExecutionResult>;
}

export const DEFAULT_SCRIPT_NAME = 'script.sh';
const POWERSHELL_SCRIPT_NAME = 'script.ps1';
const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const DEFAULT_STDIO_DRAIN_MS = 2000;

export type LaunchPlan =
  | { kind: 'spawn'; file: string; args: string[]; appendScriptPath: boolean; scriptName: string; describe: string }
  | { kind: 'fail'; exitCode: number; message: string; scriptName: string };

function firstLineOf(content: Buffer | string): string {
  const head = (typeof content === 'string' ? content.slice(0, 512) : content.subarray(0, 512).toString('utf8')).replace(/^\uFEFF/, '');
  const newline = head.indexOf('\n');
  return (newline < 0 ? head : head.slice(0, newline)).replace(/\r$/, '');
}

/** A plain file name inside the working directory: no directories, nothing hidden behind `..`. */
export function safeFileName(name: string | undefined, fallback: string): string {
  if (name === undefined) return fallback;
  const base = name.split('/').pop() ?? '';
  if (base === '' || base === '.' || base === '..' || base.includes('\0') || base.length > 255) return fallback;
  return base;
}

/** Decides how to run the script (pure; the caller resolves paths). */
export function planLaunch(script: ScriptFile, commandString: string | undefined, findExecutable: (name: string) => string | undefined): LaunchPlan {
  const firstLine = firstLineOf('content' in script ? script.content : script.head);
  const isPowerShell = /^#ps1\s*$/i.test(firstLine);
  const scriptName = safeFileName(
    'content' in script ? script.fileName : script.savedFile,
    isPowerShell && commandString === undefined ? POWERSHELL_SCRIPT_NAME : DEFAULT_SCRIPT_NAME,
  );
  if (commandString !== undefined) {
    return { kind: 'spawn', file: 'bash', args: ['-c', commandString], appendScriptPath: false, scriptName, describe: 'bash -c <commandString>' };
  }
  if (isPowerShell) {
    const pwsh = findExecutable('pwsh');
    if (pwsh === undefined) {
      return {
        kind: 'fail',
        exitCode: 127,
        scriptName,
        message: 'The script starts with #ps1 but PowerShell (pwsh) is not installed on this instance, so it was not run.',
      };
    }
    // pwsh -File insists on a .ps1 extension.
    const ps1Name = scriptName.toLowerCase().endsWith('.ps1') ? scriptName : `${scriptName}.ps1`;
    return { kind: 'spawn', file: pwsh, args: ['-NoLogo', '-NoProfile', '-NonInteractive', '-File'], appendScriptPath: true, scriptName: ps1Name, describe: 'pwsh' };
  }
  if (firstLine.startsWith('#!')) {
    // Like the kernel: the interpreter, then everything after it as one optional argument. Running the interpreter
    // ourselves (instead of exec'ing the file) also works where the working directory is mounted noexec.
    const rest = firstLine.slice(2).trim();
    const space = rest.search(/\s/);
    const interpreter = space < 0 ? rest : rest.slice(0, space);
    const argument = space < 0 ? '' : rest.slice(space).trim();
    if (interpreter === '') {
      return { kind: 'fail', exitCode: 127, scriptName, message: "The script's first line starts with #! but names no interpreter." };
    }
    return { kind: 'spawn', file: interpreter, args: argument === '' ? [] : [argument], appendScriptPath: true, scriptName, describe: interpreter };
  }
  return { kind: 'spawn', file: 'bash', args: [], appendScriptPath: true, scriptName, describe: 'bash' };
}

/** Looks `name` up on PATH like a shell would. */
export function findOnPath(name: string, pathEnv: string = process.env.PATH ?? DEFAULT_PATH): string | undefined {
  for (const dir of pathEnv.split(':')) {
    if (dir === '') continue;
    const candidate = path.join(dir, name);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      if (fs.statSync(candidate).isFile()) return candidate;
    } catch {
      // not here; keep looking
    }
  }
  return undefined;
}

/** Resolves a user from /etc/passwd (no dependency on getpwnam bindings). */
export function lookupUser(name: string, passwdFile = '/etc/passwd'): RunAsUser {
  const lines = fs.readFileSync(passwdFile, 'utf8').split('\n');
  for (const line of lines) {
    const [user, , uid, gid, , home] = line.split(':');
    if (user === name && uid !== undefined && gid !== undefined) {
      return { name, uid: Number(uid), gid: Number(gid), home: home !== undefined && home !== '' ? home : '/' };
    }
  }
  throw new Error(`The user ${name} does not exist (not found in ${passwdFile}).`);
}

export function effectiveTimeoutSec(timeoutSec: number): number {
  if (!Number.isFinite(timeoutSec) || timeoutSec <= 0) return Limits.maxTimeoutSec;
  return Math.min(Math.floor(timeoutSec), Limits.maxTimeoutSec);
}

let agentUserName: string | undefined;

/** The agent's own user name, looked up once (each `os.userInfo()` reads the passwd database). */
function agentUser(): string {
  agentUserName ??= os.userInfo().username;
  return agentUserName;
}

function scriptEnvironment(spec: ExecutionSpec, workDir: string, runAs: RunAsUser | undefined): NodeJS.ProcessEnv {
  // A minimal environment: the agent's own variables may hold credentials that scripts have no business seeing.
  const user = runAs?.name ?? agentUser();
  return {
    PATH: process.env.PATH ?? DEFAULT_PATH,
    HOME: runAs?.home ?? process.env.HOME ?? workDir,
    USER: user,
    LOGNAME: user,
    SHELL: '/bin/bash',
    LANG: process.env.LANG ?? 'C.UTF-8',
    ...(process.env.TZ !== undefined ? { TZ: process.env.TZ } : {}),
    RUNCOMMAND_COMMAND_ID: spec.commandId,
    RUNCOMMAND_INSTANCE_ID: spec.instanceId,
    RUNCOMMAND_WORK_DIR: workDir,
    OCI_INSTANCE_ID: spec.instanceId,
    OCI_INSTANCE_AGENT_COMMAND_ID: spec.commandId,
    ...(spec.compartmentId !== undefined ? { RUNCOMMAND_COMPARTMENT_ID: spec.compartmentId, OCI_COMPARTMENT_ID: spec.compartmentId } : {}),
  };
}

function spawnFailure(err: NodeJS.ErrnoException, describe: string): { exitCode: number; message: string } {
  if (err.code === 'ENOENT') return { exitCode: 127, message: `The interpreter ${describe} was not found on this instance, so the script was not run.` };
  if (err.code === 'EACCES') return { exitCode: 126, message: `The interpreter ${describe} could not be executed (permission denied).` };
  return { exitCode: 127, message: `The script could not be started: ${err.message}` };
}

function signalExitCode(signal: NodeJS.Signals): number {
  return 128 + (os.constants.signals[signal] ?? 0);
}

function stopMessage(reason: 'timeout' | 'cancel', timeoutSec: number, groupGone: boolean): string {
  const base =
    reason === 'timeout'
      ? `The command did not finish within its timeout of ${timeoutSec} seconds; it was stopped (SIGTERM to its process group, then SIGKILL).`
      : 'The command was canceled while running; its process group was stopped.';
  return groupGone ? base : `${base} Some of its processes did not exit even after SIGKILL.`;
}

function failedBeforeSpawn(exitCode: number, message: string): ExecutionResult {
  const text = textOutputOf(new TailBuffer(1));
  return { outcome: 'FAILED', exitCode, message, ...text };
}

/** The sink's say on the result. A sink that throws lost the full output, so the run cannot count as SUCCEEDED. */
async function finishOutput(sink: OutputSink, result: ExecutionResult): Promise<ExecutionResult> {
  try {
    return await sink.finish(result);
  } catch (err) {
    return {
      ...result,
      outcome: result.outcome === 'SUCCEEDED' ? 'FAILED' : result.outcome,
      message: `${result.message ?? ''} Writing the full output failed: ${(err as Error).message}`.trim(),
    };
  }
}

function notStarted(workDir: string, sink: OutputSink, result: ExecutionResult): RunningExecution {
  const finished = finishOutput(sink, result).finally(() => removeWorkDir(workDir));
  return { pid: undefined, procStartTime: undefined, workDir, output: new TailBuffer(1), result: finished, cancel: () => finished };
}

/**
 * Removes an execution's working directory. Usually it holds only the script: that is removed at once; anything a
 * script left behind is removed in the background, so a large tree never blocks the agent.
 */
export function removeWorkDir(workDir: string): void {
  try {
    for (const name of fs.readdirSync(workDir)) {
      const entry = path.join(workDir, name);
      if (!fs.lstatSync(entry).isFile()) throw new Error('not only files');
      fs.unlinkSync(entry);
    }
    fs.rmdirSync(workDir);
  } catch {
    fs.rm(workDir, { recursive: true, force: true }, () => undefined);
  }
}

/**
 * A fresh private working directory for one execution under `workRoot` (owned by `runAs` when the agent is root).
 * Synchronous, like the agent's other small local file operations: each is a few microseconds, where the async form
 * costs a thread-pool round trip and a promise per call on the command's path.
 */
export function makeWorkDir(workRoot: string, commandId: string, runAs?: RunAsUser): string {
  const safeId = commandId.replace(/[^A-Za-z0-9._-]/g, '_').slice(-64);
  const prefix = path.join(workRoot, `${safeId}-`);
  let workDir: string;
  try {
    workDir = fs.mkdtempSync(prefix);
  } catch (err) {
    // The work root is made when first needed (and again if something removed it), not checked on every command.
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    fs.mkdirSync(workRoot, { recursive: true, mode: 0o711 });
    workDir = fs.mkdtempSync(prefix);
  }
  if (runAs !== undefined && process.getuid?.() === 0) fs.chownSync(workDir, runAs.uid, runAs.gid);
  return workDir;
}

/** Prepares the working directory, starts the script and returns once it has been spawned (or failed to). */
export async function startExecution(spec: ExecutionSpec, options: ExecutorOptions): Promise<RunningExecution> {
  const timers = options.timers ?? systemTimers;
  const findExecutable = options.findExecutable ?? ((name: string) => findOnPath(name));
  const runAs = options.runAs !== undefined && process.getuid?.() === 0 ? options.runAs : undefined;
  const plan = planLaunch(spec.script, spec.commandString, findExecutable);

  const sink = spec.sink ?? noopOutputSink;
  const workDir = spec.workDir ?? makeWorkDir(options.workRoot, spec.commandId, runAs);
  const scriptPath = path.join(workDir, plan.scriptName);
  if ('content' in spec.script) {
    // A TEXT source's script: at most 4 KiB (downloaded scripts are already on disk).
    fs.writeFileSync(scriptPath, spec.script.content, { mode: 0o700 });
  } else if (spec.script.savedFile !== plan.scriptName) {
    // pwsh -File wants a .ps1 name; an unsafe saved name was never used (the download uses safeFileName too).
    fs.renameSync(path.join(workDir, spec.script.savedFile), scriptPath);
  }
  if (runAs !== undefined) fs.chownSync(scriptPath, runAs.uid, runAs.gid);

  if (plan.kind === 'fail') return notStarted(workDir, sink, failedBeforeSpawn(plan.exitCode, plan.message));

  const args = plan.appendScriptPath ? [...plan.args, scriptPath] : plan.args;
  let child: ChildProcess;
  try {
    child = spawn(plan.file, args, {
      cwd: workDir,
      env: scriptEnvironment(spec, workDir, runAs),
      stdio: ['ignore', 'pipe', 'pipe'],
      // Makes the script the leader of a new session and process group, so one signal reaches all it starts.
      detached: true,
      ...(runAs !== undefined ? { uid: runAs.uid, gid: runAs.gid } : {}),
    });
  } catch (err) {
    const failure = spawnFailure(err as NodeJS.ErrnoException, plan.describe);
    return notStarted(workDir, sink, failedBeforeSpawn(failure.exitCode, failure.message));
  }
  return supervise(child, spec, options, timers, plan.describe, workDir, sink);
}

function supervise(
  child: ChildProcess,
  spec: ExecutionSpec,
  options: ExecutorOptions,
  timers: Timers,
  describe: string,
  workDir: string,
  outputSink: OutputSink,
): RunningExecution {
  const pid = child.pid;
  const tail = new TailBuffer(Limits.maxTextOutputBytes);
  /** Takes writes until one fails; `outputSink` still gets `finish`. */
  let sink: OutputSink | undefined = outputSink;
  let sinkError: string | undefined;
  const timeoutSec = effectiveTimeoutSec(spec.timeoutSec);
  let stop: { reason: 'timeout' | 'cancel'; done: Promise<boolean> } | undefined;
  let exited = false;

  const capture = (name: OutputStreamName, stream: NodeJS.ReadableStream | null): Promise<void> =>
    new Promise((resolve) => {
      if (stream === null) {
        resolve();
        return;
      }
      stream.on('data', (chunk: Buffer) => {
        tail.write(chunk);
        if (sink === undefined) return;
        try {
          const pending = sink.write(name, chunk);
          if (pending instanceof Promise) {
            stream.pause();
            pending.then(
              () => stream.resume(),
              (err: unknown) => {
                sinkError = (err as Error).message;
                sink = undefined;
                stream.resume();
              },
            );
          }
        } catch (err) {
          sinkError = (err as Error).message;
          sink = undefined;
        }
      });
      stream.on('error', () => resolve());
      stream.on('close', () => resolve());
      stream.on('end', () => resolve());
    });
  const streamsClosed = Promise.all([capture('stdout', child.stdout), capture('stderr', child.stderr)]);

  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null; spawnError?: NodeJS.ErrnoException }>((resolve) => {
    child.once('error', (err: NodeJS.ErrnoException) => {
      // 'error' after a successful spawn (a failed kill) is not an exit; only a failed spawn leaves pid undefined.
      if (pid === undefined) resolve({ code: null, signal: null, spawnError: err });
    });
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });

  const requestStop = (reason: 'timeout' | 'cancel'): void => {
    if (stop !== undefined || exited || pid === undefined) return;
    stop = { reason, done: killProcessGroup(pid, { graceMs: options.killGraceMs, timers }) };
  };
  const timeoutHandle: TimerHandle = timers.setTimeout(() => requestStop('timeout'), timeoutSec * 1000);

  const resultOfRun = async (): Promise<ExecutionResult> => {
    const ended = await exit;
    exited = true;
    timers.clearTimeout(timeoutHandle);
    const groupGone = stop === undefined ? true : await stop.done;
    if (ended.spawnError === undefined) {
      await settlesWithin(timers, options.stdioDrainMs ?? DEFAULT_STDIO_DRAIN_MS, streamsClosed);
    }
    child.stdout?.destroy();
    child.stderr?.destroy();
    const text = textOutputOf(tail);
    const note = sinkError === undefined ? '' : ` Writing the full output failed: ${sinkError}`;
    if (ended.spawnError !== undefined) {
      const failure = spawnFailure(ended.spawnError, describe);
      return { outcome: 'FAILED', exitCode: failure.exitCode, message: failure.message + note, ...text };
    }
    if (stop !== undefined) {
      const outcome = stop.reason === 'timeout' ? 'TIMED_OUT' : 'CANCELED';
      return { outcome, exitCode: null, message: stopMessage(stop.reason, timeoutSec, groupGone) + note, ...text };
    }
    if (ended.code === 0) return { outcome: 'SUCCEEDED', exitCode: 0, ...(note !== '' ? { message: note.trim() } : {}), ...text };
    if (ended.code !== null) return { outcome: 'FAILED', exitCode: ended.code, ...(note !== '' ? { message: note.trim() } : {}), ...text };
    const signal = ended.signal ?? 'SIGKILL';
    return { outcome: 'FAILED', exitCode: signalExitCode(signal), message: `The script was killed by signal ${signal}.${note}`, ...text };
  };
  const result = resultOfRun()
    .then((r) => finishOutput(outputSink, r))
    .finally(() => removeWorkDir(workDir));

  return {
    pid,
    procStartTime: pid === undefined ? undefined : readProcStartTime(pid),
    workDir,
    output: tail,
    result,
    cancel: async () => {
      requestStop('cancel');
      return result;
    },
  };
}
