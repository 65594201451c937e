/**
 * `npm run bench`: measures runcommand on this machine against the physical floor, in one run.
 *
 * It starts a fresh platform (`runcommand up --no-agent`) in a temporary data dir and agents as their own processes,
 * and measures: dispatch latency over sequential `true` commands (create → script started, create → SUCCEEDED as a
 * client following `execution-events` sees it), sustained throughput across many instances, the platform's cost of
 * an idle fleet, function cold starts and bundle sizes, and the sweep rate; then the floor: spawning `bash -c true`,
 * a loopback HTTP round trip, an OCI request signature, a bare Node start, and a command's use cases called in one
 * process (`use-cases.ts`). It prints a table and writes JSON.
 *
 *   npm run bench -- [--smoke] [--out FILE] [--sequential N] [--throughput-sec S] [--throughput-warmup-sec S] [--instances N]
 *                    [--concurrency N] [--idle-agents N] [--agents-per-host N] [--throughput-agents-per-process N]
 *                    [--sweep-records N] [--use-case-commands N] [--follower-gap-ms N] [--key-type ed25519|rsa]
 *
 * `--key-type` is the kind of key the bench's instances (and so their agents) sign with; the default is the one
 * `runcommand instance add` generates.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createPrivateKey, createPublicKey, sign, verify } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import * as common from 'oci-common';
import { ComputeInstanceAgentClient, type models } from 'oci-computeinstanceagent';
import { UsageError, optionChoice, optionInt, optionString, parseArgs } from '../cli/args';
import { ExecutionEventFollower } from '../cli/wait';
import { embeddedFunctionEnv, registerInstance, type AddedInstance } from '../platform/admin';
import { FunctionPool } from '../platform/function-pool';
import { API_KEY_TYPES, DEFAULT_INSTANCE_KEY_TYPE, generateApiKey, type ApiKeyType } from '../platform/identity-admin';
import { FUNCTION_NAMES, type PlatformInfo } from '../platform/platform';
import { fastSigningClientParams } from '../shared/adapters/oci/key-signer';
import { OciStream } from '../shared/adapters/oci/stream';
import { SIGNATURE_DIGEST, signRequest, signatureAlgorithmOf, type SigningKey } from '../shared/api/signature';
import type { StreamConsumer } from '../shared/ports/stream';
import { SignedHttpClient } from '../agent/http';
import { AgentStreamClient } from '../agent/stream-client';
import { benchSweep } from './sweep';
import { benchUseCases } from './use-cases';

const ROOT = path.resolve(__dirname, '..', '..');
const CLI = path.join(ROOT, 'bin', 'runcommand.js');
/** `runcommand-agent`, run as an executable: how a host runs its agent (its shebang passes Node's memory flags). */
const AGENT_BIN = path.join(ROOT, 'bin', 'runcommand-agent.js');
const AGENT_HOST = path.join(__dirname, 'agent-host.js');
const MB = 1024 * 1024;
const TERMINAL = new Set(['SUCCEEDED', 'FAILED', 'TIMED_OUT', 'CANCELED']);

interface Options {
  smoke: boolean;
  out?: string;
  sequential: number;
  throughputSec: number;
  /**
   * The same load runs this long before the throughput window opens, so the window measures the sustained rate and
   * not the first seconds of fresh agents and function processes (the warm-up's own rate is reported too).
   */
  throughputWarmupSec: number;
  instances: number;
  concurrency: number;
  idleAgents: number;
  agentsPerHost: number;
  /** Throughput also measured with the agents sharing this many processes (0 = skip that variant). */
  throughputAgentsPerProcess: number;
  idleMeasureSec: number;
  sweepRecords: number;
  coldStarts: number;
  /** Commands through the use cases in process (the platform's floor). */
  useCaseCommands: number;
  /** The throughput run's follower waits this long after a poll that brought events (see `Completions`). */
  followerGapMs: number;
  /** The key type of the instances the bench registers. */
  keyType: ApiKeyType;
}

type NumberOption = Exclude<keyof Options, 'smoke' | 'out' | 'keyType'>;

/** The whole-number options, by flag. */
const NUMBER_OPTIONS: Record<string, NumberOption> = {
  sequential: 'sequential',
  'throughput-sec': 'throughputSec',
  'throughput-warmup-sec': 'throughputWarmupSec',
  instances: 'instances',
  concurrency: 'concurrency',
  'idle-agents': 'idleAgents',
  'agents-per-host': 'agentsPerHost',
  'throughput-agents-per-process': 'throughputAgentsPerProcess',
  'sweep-records': 'sweepRecords',
  'use-case-commands': 'useCaseCommands',
  'follower-gap-ms': 'followerGapMs',
};
/** Counts that are at least one: 0 is taken as 1. */
const AT_LEAST_ONE: ReadonlySet<NumberOption> = new Set(['agentsPerHost', 'useCaseCommands']);

function parseOptions(argv: string[]): Options {
  const args = parseArgs(argv, { booleans: ['smoke'], values: ['out', 'key-type', ...Object.keys(NUMBER_OPTIONS)] });
  const extra = [...args.positional, ...args.rest];
  if (extra.length > 0) throw new UsageError(`unexpected argument ${extra[0] as string}`);
  const smoke = args.options.has('smoke');
  const o: Options = smoke
    ? { smoke, sequential: 10, throughputSec: 3, throughputWarmupSec: 1, instances: 2, concurrency: 4, idleAgents: 4, agentsPerHost: 2, idleMeasureSec: 2, sweepRecords: 200, coldStarts: 1, throughputAgentsPerProcess: 2, useCaseCommands: 50, followerGapMs: 20, keyType: DEFAULT_INSTANCE_KEY_TYPE }
    : { smoke, sequential: 200, throughputSec: 60, throughputWarmupSec: 15, instances: 50, concurrency: 48, idleAgents: 500, agentsPerHost: 50, idleMeasureSec: 30, sweepRecords: 20_000, coldStarts: 5, throughputAgentsPerProcess: 10, useCaseCommands: 2000, followerGapMs: 20, keyType: DEFAULT_INSTANCE_KEY_TYPE };
  const out = optionString(args, 'out');
  if (out !== undefined) o.out = out;
  o.keyType = optionChoice(args, 'key-type', API_KEY_TYPES) ?? o.keyType;
  for (const [flag, key] of Object.entries(NUMBER_OPTIONS)) {
    const n = optionInt(args, flag, { min: 0, max: Number.MAX_SAFE_INTEGER });
    if (n !== undefined) o[key] = AT_LEAST_ONE.has(key) ? Math.max(1, n) : n;
  }
  return o;
}

const log = (line: string) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}\n`);

// ---------- statistics and /proc ----------

function percentiles(samples: number[]): { n: number; p50: number; p90: number; p99: number; max: number } {
  const s = [...samples].sort((a, b) => a - b);
  const at = (p: number) => s[Math.min(s.length - 1, Math.ceil(p * s.length) - 1)] ?? NaN;
  return { n: s.length, p50: at(0.5), p90: at(0.9), p99: at(0.99), max: s[s.length - 1] ?? NaN };
}

/** utime + stime of `pid` (with `reaped`, of its waited-for children instead), in clock ticks. */
function cpuTicks(pid: number, reaped = false): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return reaped ? Number(f[13]) + Number(f[14]) : Number(f[11]) + Number(f[12]);
  } catch {
    return 0;
  }
}

function functionNameOf(pid: number): string {
  try {
    return /functions\/([\w-]+)\//.exec(readFileSync(`/proc/${pid}/cmdline`, 'utf8'))?.[1] ?? 'other';
  } catch {
    return 'other';
  }
}

/** CPU used so far, in clock ticks, by each part of a throughput run. */
interface CpuSnapshot {
  gateway: number;
  /** Live function processes by function name; `exited` is what the gateway reaped. */
  functions: Record<string, number>;
  agents: number;
  /** The agents' reaped children: the scripts. */
  scripts: number;
  loadGeneratorMicros: number;
}

function cpuSnapshot(p: Platform, agentPids: number[]): CpuSnapshot {
  const gatewayPid = p.proc.child.pid as number;
  const functions: Record<string, number> = { exited: cpuTicks(gatewayPid, true) };
  for (const pid of childrenOf(gatewayPid)) {
    const name = functionNameOf(pid);
    functions[name] = (functions[name] ?? 0) + cpuTicks(pid);
  }
  const usage = process.cpuUsage();
  return {
    gateway: cpuTicks(gatewayPid),
    functions,
    agents: agentPids.reduce((sum, pid) => sum + cpuTicks(pid), 0),
    scripts: agentPids.reduce((sum, pid) => sum + cpuTicks(pid, true), 0),
    loadGeneratorMicros: usage.user + usage.system,
  };
}

/** Gateway and function ticks between two snapshots (a function process that exited counts under `exited`). */
function platformTicks(before: CpuSnapshot, after: CpuSnapshot): number {
  const functions = (s: CpuSnapshot) => Object.values(s.functions).reduce((a, b) => a + b, 0);
  return after.gateway - before.gateway + functions(after) - functions(before);
}

/**
 * Milliseconds of CPU per completed command, by part: where a throughput run's CPU went. A function process that
 * exits during the run moves its CPU from its own line to `exited`, so the function lines are summed as one too.
 */
function cpuPerCommand(before: CpuSnapshot, after: CpuSnapshot, commands: number) {
  const perCommand = (ticks: number) => (commands > 0 ? ((ticks / TICKS_PER_SEC) * 1000) / commands : NaN);
  const names = new Set([...Object.keys(before.functions), ...Object.keys(after.functions)]);
  const functions: Record<string, number> = {};
  let functionTicks = 0;
  for (const name of names) {
    const ticks = (after.functions[name] ?? 0) - (before.functions[name] ?? 0);
    functionTicks += ticks;
    if (name !== 'exited' || ticks > 0) functions[name] = perCommand(ticks);
  }
  const parts = {
    agents: perCommand(after.agents - before.agents),
    scripts: perCommand(after.scripts - before.scripts),
    gateway: perCommand(after.gateway - before.gateway),
    functions: perCommand(functionTicks),
    loadGenerator: commands > 0 ? (after.loadGeneratorMicros - before.loadGeneratorMicros) / 1000 / commands : NaN,
  };
  return { ...parts, total: Object.values(parts).reduce((a, b) => a + b, 0), byFunction: functions };
}

function rssMb(pid: number, field: 'VmRSS' | 'VmHWM' = 'VmRSS'): number {
  try {
    const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid) out.push(Number(d));
    } catch {
      // gone
    }
  }
  return out;
}

const TICKS_PER_SEC = 100;

// ---------- processes ----------

interface Proc {
  child: ChildProcess;
  output: () => string;
  exited: Promise<void>;
}

function start(args: string[], env: NodeJS.ProcessEnv = {}, executable = process.execPath): Proc {
  const child = spawn(executable, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let out = '';
  // The last 20,000 characters or more, kept without copying them on every chunk: an agent writes a log line to
  // stderr for every step of every command.
  let chunks: string[] = [];
  let size = 0;
  const flush = () => {
    out = (out + chunks.join('')).slice(-20_000);
    chunks = [];
    size = 0;
  };
  const keep = (c: Buffer) => {
    const text = c.toString('utf8');
    chunks.push(text);
    size += text.length;
    if (size > 40_000) flush();
  };
  const output = () => {
    if (chunks.length > 0) flush();
    return out;
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  return { child, output, exited: new Promise((r) => child.once('exit', () => r())) };
}

async function stop(p: Proc): Promise<void> {
  if (p.child.exitCode === null && p.child.signalCode === null) {
    p.child.kill('SIGTERM');
    const timer = setTimeout(() => p.child.kill('SIGKILL'), 10_000);
    await p.exited;
    clearTimeout(timer);
  }
}

async function waitFor<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

// ---------- the floor ----------

async function spawnTrue(): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const c = spawn('bash', ['-c', 'true'], { stdio: 'ignore' });
    c.once('error', reject);
    c.once('exit', () => resolve());
  });
}

async function measureFloor(o: Options) {
  const n = o.smoke ? 20 : 200;
  const sequential: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await spawnTrue();
    sequential.push(performance.now() - t);
  }
  const parallelCount = o.smoke ? 40 : 400;
  const width = os.cpus().length * 4;
  const t0 = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next++ < parallelCount) await spawnTrue();
    }),
  );
  const parallelPerSec = parallelCount / ((performance.now() - t0) / 1000);

  // A loopback HTTP round trip between two processes, on a keep-alive connection.
  const server = start(['-e', "require('http').createServer((q,s)=>s.end('ok')).listen(0,'127.0.0.1',function(){console.log('port '+this.address().port)})"]);
  const port = Number(await waitFor('the echo server', () => /port (\d+)/.exec(server.output())?.[1], 10_000));
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const rtt: number[] = [];
  for (let i = 0; i < (o.smoke ? 50 : 1000); i++) {
    const t = performance.now();
    await new Promise<void>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port, agent, path: '/' }, (res) => res.resume().on('end', resolve)).on('error', reject);
    });
    rtt.push(performance.now() - t);
  }
  agent.destroy();
  await stop(server);

  // Both ends of every signed request, for each key type the platform generates: users' RSA-2048, and the Ed25519
  // keys of instances (which sign two requests a command, three when a command is acked).
  const rsa = timeSignatures('rsa');
  const ed25519 = timeSignatures('ed25519');

  // A bare Node process start to exit: the floor of a function's cold start.
  const nodeStarts: number[] = [];
  for (let i = 0; i < (o.smoke ? 2 : 10); i++) {
    const t = performance.now();
    await new Promise<void>((r) => spawn(process.execPath, ['-e', ''], { stdio: 'ignore' }).once('exit', () => r()));
    nodeStarts.push(performance.now() - t);
  }
  return {
    spawnBashTrueSequentialMs: percentiles(sequential),
    spawnBashTrueParallelPerSec: parallelPerSec,
    loopbackHttpRoundTripMs: percentiles(rtt),
    signatures: { rsa, ed25519 },
    nodeStartMs: percentiles(nodeStarts),
  };
}

/** 200 signatures of a request's signing string with a fresh key of `type`, each verified: the time of each, in ms. */
function timeSignatures(type: ApiKeyType): { signMs: ReturnType<typeof percentiles>; verifyMs: ReturnType<typeof percentiles> } {
  const key = generateApiKey(type);
  const privateKey = createPrivateKey(key.privateKeyPem);
  const publicKey = createPublicKey(key.publicKeyPem);
  const algorithm = signatureAlgorithmOf(privateKey);
  if (algorithm === undefined) throw new Error(`the platform generated a ${type} key it cannot sign with`);
  const digest = SIGNATURE_DIGEST[algorithm];
  const signMs: number[] = [];
  const verifyMs: number[] = [];
  for (let i = 0; i < 200; i++) {
    const text = Buffer.from(`x-date: ${i}\n(request-target): post /20180530/agent/reports\nhost: h`);
    let t = performance.now();
    const signature = sign(digest, text, privateKey);
    signMs.push(performance.now() - t);
    t = performance.now();
    if (!verify(digest, text, publicKey, signature)) throw new Error(`a ${type} signature did not verify`);
    verifyMs.push(performance.now() - t);
  }
  return { signMs: percentiles(signMs), verifyMs: percentiles(verifyMs) };
}

// ---------- the platform ----------

interface Platform {
  proc: Proc;
  info: PlatformInfo;
  dataDir: string;
  client: ComputeInstanceAgentClient;
}

async function startPlatformProcess(dataDir: string): Promise<Platform> {
  // The scheduler's sweep runs every minute as it does by default.
  const proc = start([CLI, 'up', '--no-agent', '--port', '0', '--data-dir', dataDir]);
  const file = path.join(dataDir, 'platform.json');
  const info = await waitFor(
    'platform.json',
    () => (existsSync(file) && proc.output().includes('ready at') ? (JSON.parse(readFileSync(file, 'utf8')) as PlatformInfo) : undefined),
    60_000,
  );
  // Oracle's client, signing with the parsed-key signer the project's own clients use.
  const client = new ComputeInstanceAgentClient(
    fastSigningClientParams(new common.ConfigFileAuthenticationDetailsProvider(info.ociConfigFile, info.ociProfile)),
  );
  client.endpoint = info.endpoint;
  return { proc, info, dataDir, client };
}

/** The platform process and its function processes. */
function platformPids(p: Platform): number[] {
  const pid = p.proc.child.pid as number;
  return [pid, ...childrenOf(pid)];
}

function createTrue(p: Platform, instanceId: string) {
  return p.client.createInstanceAgentCommand({
    createInstanceAgentCommandDetails: {
      compartmentId: p.info.compartmentId,
      executionTimeOutInSeconds: 60,
      target: { instanceId },
      content: { source: { sourceType: 'TEXT', text: 'true' } as models.InstanceAgentCommandSourceViaTextDetails },
    },
  });
}

/**
 * Follows `execution-events` and resolves each command's terminal state. With `gapMs` 0 (the latency run) it polls
 * again as soon as a poll answers, the fastest way a client can wait. The throughput run's load generator waits
 * `gapMs` after a poll that brought events before the next one, so that under load one poll brings many events
 * instead of one or two: the follower is the load generator's, not the system's, and its polls would otherwise take
 * CPU from the system being measured (the events, and so the commands' states, are the same).
 */
class Completions {
  private readonly waiting = new Map<string, (e: models.InstanceAgentCommandExecution) => void>();
  private readonly early = new Map<string, models.InstanceAgentCommandExecution>();
  private readonly abort = new AbortController();
  private loop: Promise<void> | undefined;
  /** Polls made, for the results. */
  polls = 0;

  private constructor(
    private readonly follower: ExecutionEventFollower,
    private readonly gapMs: number,
  ) {}

  /** Follows with Oracle's SDK (`OciStream`) unless another consumer of the stream is given. */
  static async open(p: Platform, options: { consumer?: StreamConsumer; gapMs?: number } = {}): Promise<Completions> {
    const stream =
      options.consumer ??
      new OciStream({ endpoint: p.info.endpoint, authProvider: new common.ConfigFileAuthenticationDetailsProvider(p.info.ociConfigFile, p.info.ociProfile) });
    const c = new Completions(await ExecutionEventFollower.open(stream, p.info.executionEventsStreamId, 1), options.gapMs ?? 0);
    c.loop = c.run();
    return c;
  }

  private async run(): Promise<void> {
    while (!this.abort.signal.aborted) {
      let seen: models.InstanceAgentCommandExecution[];
      try {
        seen = await this.follower.pollAll(20_000, this.abort.signal);
        this.polls++;
        if (seen.length > 0 && this.gapMs > 0) await new Promise((r) => setTimeout(r, this.gapMs));
      } catch (e) {
        if (this.abort.signal.aborted) return;
        throw e;
      }
      for (const e of seen) {
        if (!TERMINAL.has(e.lifecycleState)) continue;
        const resolve = this.waiting.get(e.instanceAgentCommandId);
        if (resolve) {
          this.waiting.delete(e.instanceAgentCommandId);
          resolve(e);
        } else {
          this.early.set(e.instanceAgentCommandId, e);
        }
      }
    }
  }

  done(commandId: string): Promise<models.InstanceAgentCommandExecution> {
    const early = this.early.get(commandId);
    if (early) {
      this.early.delete(commandId);
      return Promise.resolve(early);
    }
    return new Promise((resolve) => this.waiting.set(commandId, resolve));
  }

  async close(): Promise<void> {
    this.abort.abort();
    await this.loop?.catch(() => undefined);
  }
}

/** The Node flags `runcommand-agent` starts with (its shebang), for agent processes the benchmark starts itself. */
function agentNodeFlags(): string[] {
  const shebang = readFileSync(AGENT_BIN, 'utf8').split('\n', 1)[0] ?? '';
  return shebang.split(/\s+/).filter((word) => word.startsWith('--'));
}

/** One agent process, started as a host starts it. */
function startAgent(configFile: string): Proc {
  return start(['--config', configFile], {}, AGENT_BIN);
}

/**
 * The throughput runs' load generator: the same signed requests as Oracle's client (CreateInstanceAgentCommand, and
 * GetMessages on `execution-events`), sent as plain signed `node:http` requests. The SDK's request pipeline costs
 * several ms of CPU per call, which on a 2-core machine would be taken from the system being measured; the latency
 * run uses Oracle's client.
 */
class LeanClient {
  private readonly http: SignedHttpClient;
  private readonly url: URL;
  readonly events: AgentStreamClient;

  private constructor(
    private readonly p: Platform,
    key: SigningKey,
  ) {
    const sign = (req: Parameters<typeof signRequest>[0]) => signRequest(req, key);
    this.http = new SignedHttpClient({ sign, userAgent: 'runcommand-bench' });
    this.url = new URL('/20180530/instanceAgentCommands', p.info.endpoint);
    this.events = new AgentStreamClient({ endpoint: p.info.endpoint, sign, userAgent: 'runcommand-bench' });
  }

  static async open(p: Platform): Promise<LeanClient> {
    const provider = new common.ConfigFileAuthenticationDetailsProvider(p.info.ociConfigFile, p.info.ociProfile);
    return new LeanClient(p, { keyId: await provider.getKeyId(), privateKeyPem: provider.getPrivateKey() });
  }

  /** Creates a `true` command; resolves with its id. */
  async createTrue(instanceId: string): Promise<string> {
    const body = JSON.stringify({
      compartmentId: this.p.info.compartmentId,
      executionTimeOutInSeconds: 60,
      target: { instanceId },
      content: { source: { sourceType: 'TEXT', text: 'true' } },
    });
    const answer = await this.http.request('POST', this.url, { body });
    if (answer.status !== 200) throw new Error(`create answered ${answer.status}: ${answer.text}`);
    return (JSON.parse(answer.text) as { id: string }).id;
  }

  close(): void {
    this.http.close();
    this.events.close();
  }
}

/** `command started` times from an agent's log, by command id. */
function agentStartTimes(agentConfigFile: string): Map<string, number> {
  const logFile = path.join(path.dirname(agentConfigFile), 'log', 'runcommand.log');
  const out = new Map<string, number>();
  for (const line of readFileSync(logFile, 'utf8').split('\n')) {
    if (!line.includes('"command started"')) continue;
    try {
      const entry = JSON.parse(line) as { time: string; instanceAgentCommandId: string };
      out.set(entry.instanceAgentCommandId, Date.parse(entry.time));
    } catch {
      // a partial last line
    }
  }
  return out;
}

async function measureLatency(p: Platform, o: Options) {
  const { instance, agentConfigFile } = await registerInstance(p.dataDir, { displayName: 'bench-latency', endpoint: p.info.endpoint, keyType: o.keyType });
  const agent = startAgent(agentConfigFile);
  const completions = await Completions.open(p);
  try {
    for (let i = 0; i < 10; i++) {
      const c = await createTrue(p, instance.instanceId);
      await completions.done(c.instanceAgentCommand.id);
    }
    const runs: Array<{ id: string; createdAtMs: number; createMs: number; succeededMs: number; state: string }> = [];
    const agentPid = agent.child.pid as number;
    const agentTicksBefore = cpuTicks(agentPid);
    const loopStartMs = performance.now();
    for (let i = 0; i < o.sequential; i++) {
      const createdAtMs = Date.now();
      const t0 = performance.now();
      const c = await createTrue(p, instance.instanceId);
      const createMs = performance.now() - t0;
      const done = await completions.done(c.instanceAgentCommand.id);
      runs.push({ id: c.instanceAgentCommand.id, createdAtMs, createMs, succeededMs: performance.now() - t0, state: done.lifecycleState });
    }
    // The agent's own CPU while busy with one command after another: set against the throughput run's agents, each
    // of which sees a few commands a second, it shows what an agent costs when it is kept warm.
    const agentCpuMsPerCommand = ((cpuTicks(agentPid) - agentTicksBefore) * 1000) / TICKS_PER_SEC / runs.length;
    const commandsPerSec = runs.length / ((performance.now() - loopStartMs) / 1000);
    await new Promise((r) => setTimeout(r, 300)); // the agent's log is written asynchronously
    const started = agentStartTimes(agentConfigFile);
    const toStarted = runs.flatMap((r) => (started.has(r.id) ? [(started.get(r.id) as number) - r.createdAtMs] : []));
    const idleRss = rssMb(agent.child.pid as number);
    return {
      commands: runs.length,
      failed: runs.filter((r) => r.state !== 'SUCCEEDED').length,
      createRoundTripMs: percentiles(runs.map((r) => r.createMs)),
      createToStartedMs: percentiles(toStarted),
      createToSucceededMs: percentiles(runs.map((r) => r.succeededMs)),
      agentRssMb: idleRss,
      agentCpuMsPerCommand,
      commandsPerSec,
      agentPeakRssMb: rssMb(agent.child.pid as number, 'VmHWM'),
    };
  } finally {
    await completions.close();
    await stop(agent);
  }
}

/**
 * Sustained throughput across `o.instances` instances. `agentsPerProcess` 1 runs each agent as its own process, as on
 * real hosts; more shares processes (`agent-host.js`) the way the idle-fleet measurement does.
 */
async function measureThroughput(p: Platform, o: Options, agentsPerProcess = 1) {
  const instances: AddedInstance[] = [];
  for (let i = 0; i < o.instances; i++) {
    instances.push(await registerInstance(p.dataDir, { displayName: `bench-${agentsPerProcess}-${i}`, endpoint: p.info.endpoint, keyType: o.keyType }));
  }
  const configs = instances.map((i) => i.agentConfigFile);
  const agents: Proc[] = [];
  if (agentsPerProcess <= 1) {
    for (const config of configs) agents.push(startAgent(config));
  } else {
    for (let i = 0; i < configs.length; i += agentsPerProcess) agents.push(start([...agentNodeFlags(), AGENT_HOST, ...configs.slice(i, i + agentsPerProcess)]));
    await waitFor('every agent host', () => (agents.every((a) => a.output().includes('ready')) ? true : undefined), 120_000);
  }
  const client = await LeanClient.open(p);
  const completions = await Completions.open(p, { consumer: client.events, gapMs: o.followerGapMs });
  await new Promise((r) => setTimeout(r, o.smoke ? 1000 : 5000)); // agents connect
  const agentPids = agents.map((a) => a.child.pid as number);
  // Completions and errors are counted from the start of the load; CPU, rate and latency only inside the window.
  let completed = 0;
  let errors = 0;
  const errorSamples: string[] = [];
  const latencies: number[] = [];
  /** Commands that completed in each 10 s of the load (warm-up included), to show how the rate settles. */
  const completedPer10Sec: number[] = [];
  const t0 = Date.now();
  const windowStartMs = t0 + o.throughputWarmupSec * 1000;
  const until = windowStartMs + o.throughputSec * 1000;
  // The window's own start, not the planned one: the timer may fire late on a busy machine, and the rate, the CPU and
  // the completions must all count from the same moment.
  let window: { startMs: number; budgetBefore: CpuSnapshot; completedBefore: number } | undefined;
  const openWindow = () => {
    window = { startMs: Date.now(), budgetBefore: cpuSnapshot(p, agentPids), completedBefore: completed };
  };
  const windowTimer = o.throughputWarmupSec > 0 ? setTimeout(openWindow, windowStartMs - Date.now()) : undefined;
  if (windowTimer === undefined) openWindow();
  let n = 0;
  try {
    await Promise.all(
      Array.from({ length: o.concurrency }, async () => {
        while (Date.now() < until) {
          const instance = instances[n++ % instances.length];
          const t = performance.now();
          try {
            const id = await client.createTrue(instance?.instance.instanceId as string);
            const done = await completions.done(id);
            if (done.lifecycleState === 'SUCCEEDED') {
              completed++;
              const bucket = Math.floor((Date.now() - t0) / 10_000);
              completedPer10Sec[bucket] = (completedPer10Sec[bucket] ?? 0) + 1;
              if (window !== undefined) latencies.push(performance.now() - t);
            } else {
              errors++;
              if (errorSamples.length < 5) errorSamples.push(`${done.lifecycleState}: ${done.content?.message ?? ''}`);
            }
          } catch (e) {
            errors++;
            if (errorSamples.length < 5) errorSamples.push(String(e));
          }
        }
      }),
    );
    const measured = window ?? { startMs: Date.now(), budgetBefore: cpuSnapshot(p, agentPids), completedBefore: completed };
    const seconds = (Date.now() - measured.startMs) / 1000;
    const budgetAfter = cpuSnapshot(p, agentPids);
    const inWindow = completed - measured.completedBefore;
    const cpuMsPerCommand = cpuPerCommand(measured.budgetBefore, budgetAfter, inWindow);
    return {
      seconds,
      warmupSec: o.throughputWarmupSec,
      warmupCommandsPerSec: o.throughputWarmupSec > 0 ? measured.completedBefore / ((measured.startMs - t0) / 1000) : undefined,
      completedPer10Sec: Array.from(completedPer10Sec, (c) => c ?? 0),
      instances: o.instances,
      agentsPerProcess,
      concurrency: o.concurrency,
      followerGapMs: o.followerGapMs,
      followerPolls: completions.polls,
      completed: inWindow,
      errors,
      errorSamples,
      commandsPerSec: inWindow / seconds,
      latencyUnderLoadMs: percentiles(latencies),
      platformCpuCoresUsed: platformTicks(measured.budgetBefore, budgetAfter) / TICKS_PER_SEC / seconds,
      cpuMsPerCommand,
    };
  } finally {
    clearTimeout(windowTimer);
    await completions.close();
    client.close();
    await Promise.all(agents.map(stop));
  }
}

async function measureIdleFleet(p: Platform, o: Options) {
  const configs: string[] = [];
  for (let i = 0; i < o.idleAgents; i++) {
    configs.push((await registerInstance(p.dataDir, { displayName: `idle-${i}`, endpoint: p.info.endpoint, keyType: o.keyType })).agentConfigFile);
  }
  const hosts: Proc[] = [];
  for (let i = 0; i < configs.length; i += o.agentsPerHost) hosts.push(start([...agentNodeFlags(), AGENT_HOST, ...configs.slice(i, i + o.agentsPerHost)]));
  try {
    await waitFor('every agent host', () => (hosts.every((h) => h.output().includes('ready')) ? true : undefined), 300_000);
    await new Promise((r) => setTimeout(r, o.smoke ? 1000 : 10_000)); // every agent has a poll open
    const pids = platformPids(p);
    const before = pids.reduce((s, pid) => s + cpuTicks(pid), 0);
    const t0 = Date.now();
    await new Promise((r) => setTimeout(r, o.idleMeasureSec * 1000));
    const seconds = (Date.now() - t0) / 1000;
    const cpuSeconds = (pids.reduce((s, pid) => s + cpuTicks(pid), 0) - before) / TICKS_PER_SEC;
    const hostRss = hosts.reduce((s, h) => s + rssMb(h.child.pid as number), 0);
    return {
      agents: configs.length,
      agentsPerProcess: o.agentsPerHost,
      measuredSec: seconds,
      platformCpuPercentOfOneCore: (100 * cpuSeconds) / seconds,
      platformRssMb: pids.reduce((s, pid) => s + rssMb(pid), 0),
      agentProcessesRssMb: hostRss,
      rssPerAgentMb: hostRss / configs.length,
    };
  } finally {
    await Promise.all(hosts.map(stop));
  }
}

async function measureColdStarts(o: Options) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'rc-bench-fn-'));
  const { env } = await embeddedFunctionEnv(dir);
  const out: Record<string, { coldStartMs: ReturnType<typeof percentiles>; bundleKb: number }> = {};
  for (const name of FUNCTION_NAMES) {
    const entry = path.join(ROOT, 'dist', 'functions', name, 'func.js');
    const samples: number[] = [];
    for (let i = 0; i < o.coldStarts; i++) {
      const pool = new FunctionPool({ name, entry, env, maxProcesses: 1, callTimeoutMs: 10_000, log: () => undefined });
      const t = performance.now();
      await pool.start();
      samples.push(performance.now() - t);
      await pool.stop();
    }
    out[name] = { coldStartMs: percentiles(samples), bundleKb: statSync(entry).size / 1024 };
  }
  rmSync(dir, { recursive: true, force: true });
  return out;
}

// ---------- report ----------

const TARGETS = {
  createToSucceededP50Ms: 20,
  createToSucceededP99Ms: 100,
  commandsPerSec: 200,
  idlePlatformCpuPercent: 5,
  agentIdleRssMb: 60,
  coldStartMs: 300,
};

const f0 = (n: number) => (Number.isFinite(n) ? n.toFixed(0) : '–');
const f1 = (n: number) => (Number.isFinite(n) ? n.toFixed(1) : '–');
const f2 = (n: number) => (Number.isFinite(n) ? n.toFixed(2) : '–');
const mark = (ok: boolean) => (ok ? 'met' : 'MISSED');

type Results = Awaited<ReturnType<typeof runAll>>;

function cpuBudgetText(c: ReturnType<typeof cpuPerCommand>): string {
  return `total ${f1(c.total)}: agents ${f1(c.agents)}, scripts ${f1(c.scripts)}, gateway ${f1(c.gateway)}, functions ${f1(c.functions)}, load generator ${f1(c.loadGenerator)}`;
}

/** The warm-up's own rate and the completions per 10 s of the whole load: how the rate settled. */
function warmupText(run: { warmupCommandsPerSec: number | undefined; completedPer10Sec: number[] }): string {
  const rate = run.warmupCommandsPerSec === undefined ? 'none' : `${f1(run.warmupCommandsPerSec)}/s`;
  return `${rate}; per 10 s: ${run.completedPer10Sec.join(', ')}`;
}

function table(r: Results): string {
  const { floor, latency, throughput, throughputSharedProcesses: shared, idle, functions, sweep, useCases } = r;
  const spawnP50 = floor.spawnBashTrueSequentialMs.p50;
  const { rsa, ed25519 } = floor.signatures;
  // The CPU a command may use for the target throughput on this machine's cores.
  const budgetMs = (r.machine.cores * 1000) / TARGETS.commandsPerSec;
  const cpuRow = (label: string, run: { cpuMsPerCommand: ReturnType<typeof cpuPerCommand> }): string[] => [
    label,
    cpuBudgetText(run.cpuMsPerCommand),
    `${f1(budgetMs)} ms allows ${TARGETS.commandsPerSec}/s`,
    f2(run.cpuMsPerCommand.total / budgetMs),
    '',
  ];
  const rows: string[][] = [
    ['measure', 'result', 'floor (same run)', 'ratio to floor', 'target'],
    ['create → script started, p50 / p90 / p99 (ms)', `${f1(latency.createToStartedMs.p50)} / ${f1(latency.createToStartedMs.p90)} / ${f1(latency.createToStartedMs.p99)}`, `spawn bash -c true ${f2(spawnP50)}`, f1(latency.createToStartedMs.p50 / spawnP50), ''],
    ['create → SUCCEEDED seen by a client, p50 / p90 / p99 (ms)', `${f1(latency.createToSucceededMs.p50)} / ${f1(latency.createToSucceededMs.p90)} / ${f1(latency.createToSucceededMs.p99)}`, `spawn ${f2(spawnP50)} + HTTP RTT ${f2(floor.loopbackHttpRoundTripMs.p50)}`, f1(latency.createToSucceededMs.p50 / (spawnP50 + floor.loopbackHttpRoundTripMs.p50)), `p50 ≤ ${TARGETS.createToSucceededP50Ms}, p99 ≤ ${TARGETS.createToSucceededP99Ms}: ${mark(latency.createToSucceededMs.p50 <= TARGETS.createToSucceededP50Ms && latency.createToSucceededMs.p99 <= TARGETS.createToSucceededP99Ms)}`],
    ['create round trip (Oracle SDK), p50 (ms)', f1(latency.createRoundTripMs.p50), `HTTP RTT ${f2(floor.loopbackHttpRoundTripMs.p50)} + RSA sign ${f2(rsa.signMs.p50)}`, f1(latency.createRoundTripMs.p50 / (floor.loopbackHttpRoundTripMs.p50 + rsa.signMs.p50)), ''],
    [
      'a request signature, sign / verify, p50 (µs): RSA-2048 (users) / Ed25519 (instances)',
      `${f0(rsa.signMs.p50 * 1000)} / ${f0(rsa.verifyMs.p50 * 1000)}; ${f0(ed25519.signMs.p50 * 1000)} / ${f0(ed25519.verifyMs.p50 * 1000)}`,
      '',
      '',
      '',
    ],
    [`throughput, ${throughput.instances} instances (${r.options.keyType} keys), ${f1(throughput.seconds)} s after ${throughput.warmupSec} s of warm-up (commands/s)`, `${f1(throughput.commandsPerSec)} (${throughput.errors} errors; warm-up ${warmupText(throughput)})`, `parallel spawn ${f1(floor.spawnBashTrueParallelPerSec)}/s`, f2(throughput.commandsPerSec / floor.spawnBashTrueParallelPerSec), `≥ ${TARGETS.commandsPerSec}: ${mark(throughput.commandsPerSec >= TARGETS.commandsPerSec && throughput.errors === 0)}`],
    cpuRow('throughput: CPU per command (ms), by part', throughput),
    [
      'the same use cases in one process (create, reserved for the active agent session, and FINISH on the embedded store; no HTTP), CPU per command (ms)',
      `total ${f2(useCases.cpuMsPerCommand.total)}: create ${f2(useCases.cpuMsPerCommand.create)}, FINISH ${f2(useCases.cpuMsPerCommand.finish)} (an ACK, for a command not reserved: ${f2(useCases.cpuMsPerCommand.ack)})`,
      `gateway + functions in the run: ${f1(throughput.cpuMsPerCommand.gateway + throughput.cpuMsPerCommand.functions)}`,
      f1((throughput.cpuMsPerCommand.gateway + throughput.cpuMsPerCommand.functions) / useCases.cpuMsPerCommand.total),
      '',
    ],
    ...(shared
      ? [[
          `throughput, ${shared.instances} instances, ${shared.agentsPerProcess} agents per process (commands/s)`,
          `${f1(shared.commandsPerSec)} (${shared.errors} errors; warm-up ${warmupText(shared)})`,
          `parallel spawn ${f1(floor.spawnBashTrueParallelPerSec)}/s`,
          f2(shared.commandsPerSec / floor.spawnBashTrueParallelPerSec),
          '',
        ], cpuRow(`throughput, ${shared.agentsPerProcess} agents per process: CPU per command (ms), by part`, shared)]
      : []),
    [
      'agent CPU per command (ms, without the script): one agent kept busy (the latency run) / each of the throughput run\'s agents',
      `${f2(latency.agentCpuMsPerCommand)} at ${f1(latency.commandsPerSec)}/s / ${f2(throughput.cpuMsPerCommand.agents)} at ${f1(throughput.commandsPerSec / throughput.instances)}/s each`,
      '',
      '',
      '',
    ],
    [`idle fleet: platform CPU with ${idle.agents} agents connected`, `${f2(idle.platformCpuPercentOfOneCore)} % of a core`, '0', '', `≤ ${TARGETS.idlePlatformCpuPercent} %: ${mark(idle.platformCpuPercentOfOneCore <= TARGETS.idlePlatformCpuPercent)}`],
    ['idle fleet: platform RSS (gateway + functions)', `${f1(idle.platformRssMb)} MB`, '', '', ''],
    [`idle fleet: RSS per agent (${idle.agentsPerProcess} agents per process)`, `${f1(idle.rssPerAgentMb)} MB`, '', '', ''],
    ['one agent process, RSS after the latency run / peak', `${f1(latency.agentRssMb)} / ${f1(latency.agentPeakRssMb)} MB`, `bare node ${f1(r.nodeBareRssMb)} MB`, f2(latency.agentRssMb / r.nodeBareRssMb), `≤ ${TARGETS.agentIdleRssMb}: ${mark(latency.agentRssMb <= TARGETS.agentIdleRssMb)}`],
    ...Object.entries(functions).map(([name, fn]) => [
      `cold start ${name} (spawn → ready), p50 (ms); bundle`,
      `${f1(fn.coldStartMs.p50)}; ${f1(fn.bundleKb)} KB`,
      `node start ${f1(floor.nodeStartMs.p50)}`,
      f1(fn.coldStartMs.p50 / floor.nodeStartMs.p50),
      `≤ ${TARGETS.coldStartMs}: ${mark(fn.coldStartMs.p50 <= TARGETS.coldStartMs)}`,
    ]),
    [`sweep, ${sweep.records} expired records`, `${f1(sweep.recordsPerSec)} records/s, peak RSS ${f1(sweep.peakRssMb)} MB`, '', '', ''],
  ];
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((row) => (row[i] ?? '').length))) ?? [];
  const line = (row: string[]) => `| ${row.map((c, i) => c.padEnd(widths[i] ?? 0)).join(' | ')} |`;
  return [line(rows[0] as string[]), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.slice(1).map(line)].join('\n');
}

async function runAll(o: Options) {
  const machine = {
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cores: os.cpus().length,
    memoryGb: Math.round(os.totalmem() / 1024 ** 3),
    node: process.version,
    kernel: os.release(),
  };
  log(`machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGb} GiB, node ${machine.node}`);
  log('floor: spawn, loopback HTTP, RSA sign, node start');
  const floor = await measureFloor(o);
  const nodeBareRssMb = await new Promise<number>((resolve) => {
    const c = start(['-e', 'setTimeout(()=>console.log("rss "+process.memoryUsage().rss),100)']);
    void c.exited.then(() => resolve(Number(/rss (\d+)/.exec(c.output())?.[1] ?? 0) / MB));
  });

  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'rc-bench-'));
  const platform = await startPlatformProcess(dataDir);
  try {
    log(`latency: ${o.sequential} sequential commands running true`);
    const latency = await measureLatency(platform, o);
    log(`throughput: ${o.throughputSec} s across ${o.instances} instances, after ${o.throughputWarmupSec} s of warm-up at the same load`);
    const throughput = await measureThroughput(platform, o);
    let throughputSharedProcesses: Awaited<ReturnType<typeof measureThroughput>> | undefined;
    if (o.throughputAgentsPerProcess > 1) {
      log(`throughput again, ${o.throughputAgentsPerProcess} agents per process`);
      throughputSharedProcesses = await measureThroughput(platform, o, o.throughputAgentsPerProcess);
    }
    log(`idle fleet: ${o.idleAgents} agents`);
    const idle = await measureIdleFleet(platform, o);
    log('function cold starts');
    const functions = await measureColdStarts(o);
    log(`sweep: ${o.sweepRecords} records`);
    const { counts: _counts, ...sweep } = await benchSweep({ records: o.sweepRecords, log });
    log(`use cases in process: ${o.useCaseCommands} commands`);
    const useCases = await benchUseCases({ commands: o.useCaseCommands, warmup: Math.min(200, o.useCaseCommands) });
    return { machine, options: o, floor, nodeBareRssMb, latency, throughput, throughputSharedProcesses, idle, functions, sweep, useCases, targets: TARGETS };
  } finally {
    await stop(platform.proc);
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/**
 * oci-common console.warns "Request cannot be retried..." for every failed SDK request, including the long poll the
 * latency run's follower aborts when it closes; the bench reports its own failures, so that line is dropped.
 */
function dropSdkRetryWarnings(): void {
  const warn = console.warn.bind(console);
  console.warn = (...args: unknown[]) => {
    if (typeof args[0] === 'string' && args[0].startsWith('Request cannot be retried.')) return;
    warn(...args);
  };
}

async function main(): Promise<void> {
  dropSdkRetryWarnings();
  const o = parseOptions(process.argv.slice(2));
  const results = await runAll(o);
  const out = o.out ?? path.join(ROOT, 'bench-results', `bench-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  mkdirSync(path.dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify({ time: new Date().toISOString(), ...results }, null, 2)}\n`);
  process.stdout.write(`\n${results.machine.cpu}, ${results.machine.cores} cores, ${results.machine.memoryGb} GiB, Node ${results.machine.node}\n\n`);
  process.stdout.write(`${table(results)}\n\nresults: ${out}\n`);
  process.exit(0);
}

main().catch((e: unknown) => {
  process.stderr.write(`bench failed: ${e instanceof Error ? e.stack : String(e)}\n`);
  process.exit(1);
});
