/**
 * The agent end to end (issue: every command runs exactly once, with Run Command semantics). Commands are created
 * with Oracle's ComputeInstanceAgentClient against a running platform; agents run as their own processes
 * (`runcommand-agent --config <file>`), as they would on a host, so they can be measured and killed.
 */
import { createHash, createPrivateKey } from 'node:crypto';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ComputeInstanceAgentClient, models } from 'oci-computeinstanceagent';
import { registerInstance } from '../../platform/admin';
import type { ApiKeyType } from '../../platform/identity-admin';
import { OciStream } from '../../shared/adapters/oci/stream';
import { readInstanceCredentials, instanceAuthProvider } from '../../agent/main';
import { loadAgentConfig } from '../../agent/config';
import { StreamNotFoundError } from '../../shared/ports/stream';
import { AGENT_BIN, REPO_ROOT, agentCommandClient, rawRequest, startTestPlatform, type TestPlatform } from '../support/platform';
import { isAlive, runProcess, signalOnOutput, waitFor, type CliProcess } from '../support/processes';

let tp: TestPlatform;
let client: ComputeInstanceAgentClient;
const agents: CliProcess[] = [];

const TERMINAL = ['SUCCEEDED', 'FAILED', 'TIMED_OUT', 'CANCELED'];

/** Started as `runcommand-agent` is on a host: the executable, whose shebang passes Node's memory flags. */
function startAgentProcess(configFile: string): CliProcess {
  const proc = runProcess(AGENT_BIN, ['--config', configFile]);
  agents.push(proc);
  return proc;
}

async function stopAgent(proc: CliProcess): Promise<void> {
  if (proc.child.exitCode === null && proc.child.signalCode === null) {
    proc.child.kill('SIGTERM');
    // A second signal kills running scripts instead of waiting for them.
    setTimeout(() => proc.child.kill('SIGTERM'), 200).unref();
    await proc.exited;
  }
}

let localAgent: CliProcess;

/** A new instance of the platform: its id and its agent's config file. */
async function addInstance(displayName: string, keyType?: ApiKeyType): Promise<{ instanceId: string; configFile: string }> {
  const added = await registerInstance(tp.dataDir, { displayName, endpoint: tp.info.endpoint, ...(keyType !== undefined ? { keyType } : {}) });
  return { instanceId: added.instance.instanceId, configFile: added.agentConfigFile };
}

beforeAll(async () => {
  tp = await startTestPlatform();
  client = agentCommandClient(tp.info.endpoint, tp.info.ociConfigFile);
  localAgent = startAgentProcess(tp.info.localAgentConfigFile);
}, 60_000);

afterAll(async () => {
  await Promise.all(agents.map(stopAgent));
  await tp?.stop();
});

async function run(
  text: string,
  options: { timeoutSec?: number; instanceId?: string; displayName?: string } = {},
): Promise<string> {
  const created = await client.createInstanceAgentCommand({
    createInstanceAgentCommandDetails: {
      compartmentId: tp.info.compartmentId,
      executionTimeOutInSeconds: options.timeoutSec ?? 60,
      displayName: options.displayName ?? 'agent e2e',
      target: { instanceId: options.instanceId ?? tp.info.localInstanceId },
      content: { source: { sourceType: 'TEXT', text } as models.InstanceAgentCommandSourceViaTextDetails },
    },
  });
  return created.instanceAgentCommand.id;
}

async function execution(id: string, instanceId = tp.info.localInstanceId): Promise<models.InstanceAgentCommandExecution> {
  return (await client.getInstanceAgentCommandExecution({ instanceAgentCommandId: id, instanceId })).instanceAgentCommandExecution;
}

function waitForState(id: string, states: string[], timeoutMs: number, instanceId?: string) {
  return waitFor(
    `command ${id} to reach ${states.join('|')}`,
    async () => {
      const e = await execution(id, instanceId);
      return states.includes(e.lifecycleState) ? e : undefined;
    },
    timeoutMs,
    25,
  );
}

const sha256 = (s: string | Buffer) => createHash('sha256').update(s).digest('hex');

/** Live processes whose command line contains `marker` (scripts use odd sleep lengths as markers). */
function processesMatching(marker: string): number[] {
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').includes(marker) && isAlive(Number(pid));
      } catch {
        return false;
      }
    })
    .map(Number);
}

describe('running commands', () => {
  it('runs `echo hello` to SUCCEEDED with exit code 0, the text and its sha256', async () => {
    const done = await waitForState(await run('echo hello'), TERMINAL, 15_000);
    expect(done).toMatchObject({ lifecycleState: 'SUCCEEDED', deliveryState: 'ACKED' });
    expect(done.content).toMatchObject({ outputType: 'TEXT', exitCode: 0, text: 'hello\n', textSha256: sha256('hello\n') });
  });

  it('reports `exit 3` as FAILED with exit code 3', async () => {
    const done = await waitForState(await run('echo about to fail\nexit 3'), TERMINAL, 15_000);
    expect(done.lifecycleState).toBe('FAILED');
    expect(done.content).toMatchObject({ exitCode: 3, text: 'about to fail\n' });
  });

  it('runs a `#!/usr/bin/env python3` script under python', async () => {
    const done = await waitForState(await run('#!/usr/bin/env python3\nimport sys\nprint("python", sys.version_info[0])'), TERMINAL, 15_000);
    expect(done.lifecycleState).toBe('SUCCEEDED');
    expect((done.content as models.InstanceAgentCommandExecutionOutputViaTextDetails).text).toBe('python 3\n');
  });

  it('runs as `runcommand-agent`: Node started by its shebang with the agent’s memory flags', () => {
    const argv = readFileSync(`/proc/${localAgent.child.pid}/cmdline`, 'utf8').split('\0');
    expect(argv).toEqual(expect.arrayContaining(['--max-semi-space-size=1', '--optimize-for-size', '--no-opt', AGENT_BIN]));
    expect(readFileSync(`/proc/${localAgent.child.pid}/comm`, 'utf8').trim()).toBe('node');
  });

  it('keeps exactly the last 1024 bytes of 10 MB of output, with the agent’s memory bounded', async () => {
    const script = 'seq 1 1400000'; // about 10 MB
    const expected = execFileSync('bash', ['-c', script], { maxBuffer: 64 * 1024 * 1024 });
    expect(expected.length).toBeGreaterThan(10_000_000);
    const done = await waitForState(await run(script), TERMINAL, 30_000);
    expect(done.lifecycleState).toBe('SUCCEEDED');
    const text = (done.content as models.InstanceAgentCommandExecutionOutputViaTextDetails).text ?? '';
    expect(text).toBe(expected.subarray(expected.length - 1024).toString('utf8'));
    // The agent's peak resident set over its whole life (VmHWM), after reading 10 MB of output.
    const peakKb = Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${localAgent.child.pid}/status`, 'utf8'))?.[1]);
    expect(peakKb).toBeGreaterThan(0);
    expect(peakKb / 1024).toBeLessThan(100);
  });

  it('times out `sleep 30` with a 2-second timeout within 10 s, leaving no process of it', async () => {
    const started = Date.now();
    const done = await waitForState(await run('sleep 31.25', { timeoutSec: 2 }), TERMINAL, 10_000);
    expect(done.lifecycleState).toBe('TIMED_OUT');
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(done.content.message).toMatch(/time/i);
    expect(processesMatching('sleep 31.25')).toEqual([]);
  });

  it('cancels a running script and its background child: CANCELED, the whole process group gone', async () => {
    const id = await run('sleep 101.25 &\nsleep 102.25\nwait');
    await waitForState(id, ['IN_PROGRESS'], 10_000);
    await waitFor('both sleeps to run', () => processesMatching('sleep 101.25').length > 0 && processesMatching('sleep 102.25').length > 0, 5_000);
    await client.cancelInstanceAgentCommand({ instanceAgentCommandId: id });
    const done = await waitForState(id, TERMINAL, 15_000);
    expect(done.lifecycleState).toBe('CANCELED');
    expect(processesMatching('sleep 101.25')).toEqual([]);
    expect(processesMatching('sleep 102.25')).toEqual([]);
  });
});

describe('reserved delivery', () => {
  /** The local agent's log lines about one command. */
  const logLines = (id: string): Array<Record<string, unknown>> => {
    const logDir = (loadAgentConfig(tp.info.localAgentConfigFile).config as { logDir: string }).logDir;
    return readFileSync(path.join(logDir, 'runcommand.log'), 'utf8')
      .split('\n')
      .filter((line) => line.includes(id))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  };

  it('starts a command created while its agent is active without an ACK, the same as an acked one to the API', async () => {
    await waitForState(await run('true'), TERMINAL, 15_000); // the agent has reported within the last 20 s
    const id = await run('echo reserved');
    const done = await waitForState(id, TERMINAL, 15_000);
    expect(done).toMatchObject({ lifecycleState: 'SUCCEEDED', deliveryState: 'ACKED' });
    expect((done.content as models.InstanceAgentCommandExecutionOutputViaTextDetails).text).toBe('reserved\n');
    await waitFor('the start log line', () => logLines(id).some((l) => l.msg === 'command started'), 5_000);
    expect(logLines(id).find((l) => l.msg === 'command started')).toMatchObject({ delivery: 'reserved' });
  });

  it('ends a command canceled right after its creation CANCELED, its script stopped or never started', async () => {
    await waitForState(await run('true'), TERMINAL, 15_000);
    const id = await run('sleep 103.25');
    await client.cancelInstanceAgentCommand({ instanceAgentCommandId: id });
    const done = await waitForState(id, TERMINAL, 15_000);
    expect(done.lifecycleState).toBe('CANCELED');
    expect(processesMatching('sleep 103.25')).toEqual([]);
  });
});

describe('instance keys', () => {
  it('an agent signing with an RSA key (`instance add --key-type rsa`) runs commands as one with the default Ed25519 key does', async () => {
    const { instanceId, configFile } = await addInstance('rsa-key', 'rsa');
    expect(createPrivateKey(readFileSync(loadAgentConfig(configFile).config.keyFile, 'utf8')).asymmetricKeyType).toBe('rsa');
    expect(createPrivateKey(readFileSync(loadAgentConfig(tp.info.localAgentConfigFile).config.keyFile, 'utf8')).asymmetricKeyType).toBe('ed25519');
    const agent = startAgentProcess(configFile);
    try {
      const id = await run('echo signed with rsa', { instanceId });
      const done = await waitForState(id, TERMINAL, 15_000, instanceId);
      expect(done).toMatchObject({ lifecycleState: 'SUCCEEDED', content: { exitCode: 0, text: 'signed with rsa\n' } });
    } finally {
      await stopAgent(agent);
    }
  }, 30_000);
});

describe('what an agent loads', () => {
  it('reads its stream and runs a TEXT command without loading the OCI SDK (it loads only for Object Storage)', async () => {
    const { instanceId, configFile } = await addInstance('no-sdk');
    const bundle = path.join(REPO_ROOT, 'dist', 'cli', 'runcommand-agent.js');
    // The agent bundle in a process that reports, once asked on stdin, which node_modules packages it has loaded.
    const script = [
      `require(${JSON.stringify(bundle)}).agent(['--config', ${JSON.stringify(configFile)}]);`,
      "process.stdin.once('data', () => {",
      "  const packages = () => [...new Set(Object.keys(require.cache).filter((f) => f.includes('/node_modules/')).map((f) => f.split('/node_modules/').pop().split('/')[0]))];",
      '  const loaded = packages();',
      // The same probe after loading the SDK on purpose: it must see it, or the check above proves nothing.
      "  require('oci-common');",
      "  process.stdout.write('LOADED ' + JSON.stringify({ loaded, probe: packages() }) + '\\n');",
      '  process.exit(0);',
      '});',
    ].join('\n');
    const child = spawn(process.execPath, ['-e', script], { cwd: REPO_ROOT, stdio: ['pipe', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
    try {
      const id = await run('echo fine', { instanceId });
      const done = await waitForState(id, TERMINAL, 15_000, instanceId);
      expect(done.lifecycleState).toBe('SUCCEEDED');
      child.stdin.write('\n');
      await waitFor('the loaded-module list', () => (out.includes('LOADED ') ? true : undefined), 5000);
      const { loaded, probe } = JSON.parse(/LOADED (.*)/.exec(out)?.[1] ?? 'null') as { loaded: string[]; probe: string[] };
      expect(loaded.filter((name) => name.startsWith('oci-'))).toEqual([]);
      expect(probe).toContain('oci-common');
    } finally {
      child.kill('SIGKILL');
    }
  }, 30_000);
});

describe('delivery limits', () => {
  it('8 commands of `sleep 2` at once: never more than 2 running, never more than 5 received, all succeed', async () => {
    const { instanceId, configFile } = await addInstance('limits');
    const ids = await Promise.all(Array.from({ length: 8 }, (_, i) => run('sleep 2', { instanceId, displayName: `limit ${i}` })));
    const agent = startAgentProcess(configFile);
    let maxRunning = 0;
    let maxReceived = 0;
    try {
      await waitFor(
        'all 8 to finish',
        async () => {
          const states = await Promise.all(ids.map((id) => execution(id, instanceId)));
          const live = states.filter((s) => !TERMINAL.includes(s.lifecycleState));
          maxRunning = Math.max(maxRunning, live.filter((s) => s.lifecycleState === 'IN_PROGRESS').length);
          maxReceived = Math.max(maxReceived, live.filter((s) => s.deliveryState !== 'VISIBLE').length);
          return live.length === 0 ? states : undefined;
        },
        40_000,
        100,
      ).then((states) => expect(states.map((s) => s.lifecycleState)).toEqual(Array(8).fill('SUCCEEDED')));
    } finally {
      await stopAgent(agent);
    }
    expect(maxRunning).toBeGreaterThan(0);
    expect(maxRunning).toBeLessThanOrEqual(2);
    expect(maxReceived).toBeLessThanOrEqual(5);
  }, 60_000);
});

describe('run once across restarts', () => {
  it('after kill -9 of the agent mid-run and a restart, the script ran at most once and the execution ends terminal', async () => {
    const { instanceId, configFile } = await addInstance('restarts');
    const marker = path.join(os.tmpdir(), `rc-marker-${process.pid}-${Date.now()}`);
    const first = startAgentProcess(configFile);
    const id = await run(`sleep 5\ndate >> ${marker}`, { instanceId });
    await waitForState(id, ['IN_PROGRESS'], 10_000, instanceId);
    first.child.kill('SIGKILL');
    await first.exited;

    const second = startAgentProcess(configFile);
    try {
      const done = await waitForState(id, TERMINAL, 15_000, instanceId);
      expect(done.lifecycleState).toBe('FAILED');
      expect(done.content.message).toMatch(/restarted/);
      // Give an orphaned or re-run script every chance to write twice.
      await new Promise((r) => setTimeout(r, 6_000));
      const runs = existsSync(marker) ? readFileSync(marker, 'utf8').trim().split('\n').filter(Boolean).length : 0;
      expect(runs).toBeLessThanOrEqual(1);
    } finally {
      await stopAgent(second);
    }
  }, 60_000);
});

describe('signals', () => {
  it('stops cleanly on a SIGTERM sent the moment it logs that it started', async () => {
    const { configFile } = await addInstance('signal-at-start');
    const proc = startAgentProcess(configFile);
    signalOnOutput(proc, 'stderr', '"msg":"agent started"', 'SIGTERM');
    expect(await proc.exited).toBe(0);
    expect(proc.output()).toContain('stopping on signal');
  }, 30_000);
});

describe('one agent per state dir', () => {
  it('a second agent on the same config exits at once with an error naming the state dir, and the first runs on', async () => {
    const { instanceId, configFile } = await addInstance('twice');
    const first = startAgentProcess(configFile);
    try {
      await waitForState(await run('true', { instanceId }), ['SUCCEEDED'], 15_000, instanceId);
      const second = startAgentProcess(configFile);
      expect(await second.exited).not.toBe(0);
      expect(second.output()).toMatch(/Another agent \(pid \d+\) is using the state dir .*state/);
      await waitForState(await run('true', { instanceId }), ['SUCCEEDED'], 15_000, instanceId);
    } finally {
      await stopAgent(first);
    }
    // Stopped, it left the dir to the next agent.
    const third = startAgentProcess(configFile);
    try {
      await waitForState(await run('true', { instanceId }), ['SUCCEEDED'], 15_000, instanceId);
    } finally {
      await stopAgent(third);
    }
  }, 60_000);
});

describe('run once across repeated crashes', () => {
  it('killed with -9 three times while thirty commands arrive: each ran at most once, each SUCCEEDED ran exactly once', async () => {
    const { instanceId, configFile } = await addInstance('crashes');
    const marker = path.join(os.tmpdir(), `rc-crashes-${process.pid}-${Date.now()}`);
    let agent = startAgentProcess(configFile);
    const ids: string[] = [];
    try {
      for (let round = 0; round < 3; round++) {
        for (let i = 0; i < 10; i++) ids.push(await run(`echo "$RUNCOMMAND_COMMAND_ID" >> ${marker}; sleep 0.0${i}`, { instanceId }));
        // Kill it at a different point of its work each round: receiving, acking, running, reporting.
        await new Promise((r) => setTimeout(r, 100 + round * 150));
        agent.child.kill('SIGKILL');
        await agent.exited;
        agent = startAgentProcess(configFile);
      }
      const ends = await Promise.all(ids.map((id) => waitForState(id, TERMINAL, 60_000, instanceId)));
      const runs = new Map<string, number>();
      for (const id of existsSync(marker) ? readFileSync(marker, 'utf8').split('\n').filter(Boolean) : []) runs.set(id, (runs.get(id) ?? 0) + 1);
      expect(ids.filter((id) => (runs.get(id) ?? 0) > 1)).toEqual([]);
      const succeeded = ids.filter((_, i) => ends[i]?.lifecycleState === 'SUCCEEDED');
      expect(succeeded.filter((id) => runs.get(id) !== 1)).toEqual([]);
      // The agent was killed while it had work, and still most commands ran to the end.
      expect(succeeded.length).toBeGreaterThan(10);
      for (const e of ends) if (e.lifecycleState !== 'SUCCEEDED') expect(e.content.message).toMatch(/restarted/);
    } finally {
      await stopAgent(agent);
    }
  }, 120_000);
});

describe('isolation between instances', () => {
  it('a second instance cannot ack, report on, or read the first instance’s commands', async () => {
    const other = await registerInstance(tp.dataDir, { displayName: 'intruder', endpoint: tp.info.endpoint });
    const otherConfig = loadAgentConfig(other.agentConfigFile).config;
    const credentials = readInstanceCredentials(otherConfig);
    const victim = await run('echo mine', { timeoutSec: 60 });

    for (const type of ['ACK', 'START', 'RECEIVE']) {
      const res = await rawRequest(tp.info.endpoint, {
        method: 'POST',
        path: '/20180530/agent/reports',
        body: JSON.stringify({ callbackId: `cb-${type}`, agentSessionId: 'intruder', instanceAgentCommandId: victim, event: { type } }),
        signWithKey: { keyId: credentials.keyId, privateKeyPem: credentials.privateKeyPem },
      });
      expect(res.status).toBe(404);
      expect(res.json).toMatchObject({ code: 'NotAuthorizedOrNotFound' });
    }

    const localStreamId = (loadAgentConfig(tp.info.localAgentConfigFile).config as { streamId: string }).streamId;
    const stream = new OciStream({ endpoint: tp.info.endpoint, authProvider: instanceAuthProvider(otherConfig, credentials) });
    await expect(
      stream.createGroupCursor(localStreamId, { groupName: otherConfig.instanceId, instanceName: 'x', type: 'TRIM_HORIZON' }),
    ).rejects.toBeInstanceOf(StreamNotFoundError);
    // Its own stream is readable.
    await expect(
      stream.createGroupCursor(otherConfig.streamId, { groupName: otherConfig.instanceId, instanceName: 'x', type: 'TRIM_HORIZON' }),
    ).resolves.toEqual(expect.any(String));

    // The intruder changed nothing: the real agent still runs the command.
    const done = await waitForState(victim, TERMINAL, 15_000);
    expect(done.lifecycleState).toBe('SUCCEEDED');
  });
});
