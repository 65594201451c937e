/**
 * The built `runcommand` CLI (dist/cli/runcommand.js) as a user runs it: a subprocess against a running platform,
 * with an agent for the platform's local instance running in this process for `run`.
 */
import { spawn } from 'node:child_process';
import { createPrivateKey } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { startAgentFromConfigFile } from '../../agent/main';
import { addCompartment, addRestrictedUser } from '../../platform/admin';
import { CLI_BUNDLE, startTestPlatform, type TestPlatform } from '../support/platform';
import { waitFor } from '../support/processes';

let tp: TestPlatform;
let agent: { stop(): Promise<void> };

beforeAll(async () => {
  tp = await startTestPlatform();
  agent = await startAgentFromConfigFile(tp.info.localAgentConfigFile);
}, 60_000);

afterAll(async () => {
  await agent?.stop();
  await tp?.stop();
});

interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

interface Running {
  child: ReturnType<typeof spawn>;
  stderr(): string;
  done: Promise<CliResult>;
}

/** Starts the CLI with the platform's data dir and endpoint, given before any `--` (which starts the script). */
function start(args: string[], env: NodeJS.ProcessEnv = {}): Running {
  const dashDash = args.indexOf('--');
  const globals = ['--data-dir', tp.dataDir, '--endpoint', tp.info.endpoint];
  const argv = dashDash < 0 ? [...args, ...globals] : [...args.slice(0, dashDash), ...globals, ...args.slice(dashDash)];
  const child = spawn(process.execPath, [CLI_BUNDLE, ...argv], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, RUNCOMMAND_DATA_DIR: '/nonexistent/runcommand-cli-test', ...env },
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
  const done = new Promise<CliResult>((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr })));
  return { child, stderr: () => stderr, done };
}

const cli = (...args: string[]): Promise<CliResult> => start(args).done;

async function json<T = Record<string, unknown>>(...args: string[]): Promise<T> {
  const result = await cli(...args);
  if (result.code !== 0) throw new Error(`runcommand ${args.join(' ')} exited ${result.code}: ${result.stderr}`);
  return JSON.parse(result.stdout) as T;
}

async function createText(text: string, displayName = 'cli test'): Promise<string> {
  const created = await json<{ id: string }>('command', 'create', '--timeout-in-seconds', '60', '--content-text', text, '--display-name', displayName, '--instance-id', queuedInstanceId);
  return created.id;
}

/**
 * Commands created by the API tests target an instance no agent runs for, so they stay queued (ACCEPTED) until
 * canceled; `run` targets the local instance, whose agent runs in this process.
 */
let queuedInstanceId = '';

beforeAll(async () => {
  const added = await json<{ instanceId: string; agentConfigFile: string }>('instance', 'add', '--display-name', 'no agent here');
  queuedInstanceId = added.instanceId;
}, 30_000);

describe('runcommand command create', () => {
  it('creates a command from --content-text and prints the InstanceAgentCommand as JSON', async () => {
    const cmd = await json('command', 'create', '--timeout-in-seconds', '120', '--content-text', 'uptime', '--display-name', 'from text', '--instance-id', queuedInstanceId);
    expect(cmd).toMatchObject({
      id: expect.stringMatching(/^ocid1\.instanceagentcommand\./),
      compartmentId: tp.info.compartmentId,
      displayName: 'from text',
      executionTimeOutInSeconds: 120,
      isCanceled: false,
      target: { instanceId: queuedInstanceId },
      content: { source: { sourceType: 'TEXT', text: 'uptime' }, output: { outputType: 'TEXT' } },
    });
  });

  it('sends a --content-file as text, with --command-string and an Object Storage output tuple', async () => {
    const file = path.join(tp.dataDir, 'script.sh');
    writeFileSync(file, '#!/bin/sh\necho "from a file"\n');
    const cmd = await json(
      'command', 'create', '--timeout-in-seconds', '30', '--content-file', file, '--command-string', '/bin/sh script.sh',
      '--output-bucket-name', 'out', '--output-namespace-name', tp.info.namespace, '--output-object-name', 'o.txt',
      '--instance-id', queuedInstanceId,
    );
    expect(cmd.content).toEqual({
      source: { sourceType: 'TEXT', text: '#!/bin/sh\necho "from a file"\n' },
      output: { outputType: 'OBJECT_STORAGE_TUPLE', bucketName: 'out', namespaceName: tp.info.namespace, objectName: 'o.txt' },
      commandString: '/bin/sh script.sh',
    });
  });

  it('takes the source as an Object Storage bucket/namespace/object', async () => {
    const cmd = await json(
      'command', 'create', '--timeout-in-seconds', '30', '--bucket-name', 'scripts', '--namespace-name', 'ns', '--object-name', 'main.sh',
      '--instance-id', queuedInstanceId,
    );
    expect(cmd.content).toMatchObject({
      source: { sourceType: 'OBJECT_STORAGE_TUPLE', bucketName: 'scripts', namespaceName: 'ns', objectName: 'main.sh' },
    });
  });

  it('returns the same command for a repeated --retry-token', async () => {
    const args = ['command', 'create', '--timeout-in-seconds', '30', '--content-text', 'true', '--retry-token', `cli-${Date.now()}`, '--instance-id', queuedInstanceId];
    const first = await json<{ id: string }>(...args);
    const again = await json<{ id: string }>(...args);
    expect(again.id).toBe(first.id);
  });
});

describe('runcommand command get | list | cancel', () => {
  it('gets a command as JSON and as a field/value table', async () => {
    const id = await createText('hostname', 'to get');
    const got = await json('command', 'get', '--instance-agent-command-id', id);
    expect(got).toMatchObject({ id, displayName: 'to get', content: { source: { text: 'hostname' } } });
    const table = await cli('command', 'get', '--instance-agent-command-id', id, '--output', 'table');
    expect(table.code).toBe(0);
    const lines = table.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^field\s+value$/);
    expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^id\\s+${id.replace(/\./g, '\\.')}$`)));
    expect(lines).toContainEqual(expect.stringMatching(/^content\.source\.sourceType\s+TEXT$/));
  });

  it('lists one page, names the next page on stderr, and follows every page with --all', async () => {
    const ids = [await createText('true', 'page a'), await createText('true', 'page b'), await createText('true', 'page c')];
    const one = await cli('command', 'list', '--limit', '1');
    expect(one.code).toBe(0);
    expect(JSON.parse(one.stdout)).toHaveLength(1);
    const next = /--page (\S+)/.exec(one.stderr)?.[1];
    expect(next).toBeDefined();
    const second = await json<Array<{ instanceAgentCommandId: string }>>('command', 'list', '--limit', '1', '--page', next as string);
    expect(second).toHaveLength(1);
    expect(second[0]?.instanceAgentCommandId).not.toBe(JSON.parse(one.stdout)[0].instanceAgentCommandId);

    const all = await cli('command', 'list', '--limit', '1', '--all');
    expect(all.code).toBe(0);
    expect(all.stderr).not.toMatch(/--page/);
    const listed = (JSON.parse(all.stdout) as Array<{ instanceAgentCommandId: string }>).map((c) => c.instanceAgentCommandId);
    expect(listed).toEqual(expect.arrayContaining(ids));
    expect(new Set(listed).size).toBe(listed.length);
  });

  it('sorts by display name in any case, as the oci CLI accepts', async () => {
    await createText('true', 'zz last');
    const sorted = await json<Array<{ displayName?: string }>>('command', 'list', '--all', '--sort-by', 'displayname', '--sort-order', 'asc');
    const names = sorted.map((c) => c.displayName ?? '');
    expect(names).toEqual([...names].sort());
  });

  it('prints a list as aligned columns with --output table', async () => {
    const id = await createText('true', 'tabled');
    const { code, stdout } = await cli('command', 'list', '--all', '--output', 'table');
    expect(code).toBe(0);
    const [header, ...rows] = stdout.trimEnd().split('\n');
    expect(header).toMatch(/^instanceAgentCommandId\s+displayName\s+timeCreated\s+isCanceled$/);
    const row = rows.find((r) => r.startsWith(id));
    expect(row).toMatch(/\s+tabled\s+\d{4}-\d\d-\d\dT\S+Z\s+false$/);
    // Aligned: every row starts its second column where the header does.
    const column = (header ?? '').indexOf('displayName');
    expect(row?.slice(column, column + 'tabled'.length)).toBe('tabled');
  });

  it('cancels a queued command: it never runs and shows CANCELED', async () => {
    const id = await createText('sleep 100', 'to cancel');
    const canceled = await cli('command', 'cancel', '--instance-agent-command-id', id);
    expect(canceled).toMatchObject({ code: 0, stdout: '' });
    expect(await json('command', 'get', '--instance-agent-command-id', id)).toMatchObject({ isCanceled: true });
    const execution = await json('execution', 'get', '--instance-agent-command-id', id, '--instance-id', queuedInstanceId);
    expect(execution).toMatchObject({ instanceAgentCommandId: id, lifecycleState: 'CANCELED' });
  });
});

describe('runcommand execution get | list', () => {
  it('gets an execution, also through the command-execution alias', async () => {
    const id = await createText('true', 'execution');
    const execution = await json('execution', 'get', '--instance-agent-command-id', id, '--instance-id', queuedInstanceId);
    expect(execution).toMatchObject({
      instanceAgentCommandId: id,
      instanceId: queuedInstanceId,
      lifecycleState: 'ACCEPTED',
      deliveryState: 'VISIBLE',
      content: { outputType: 'TEXT', exitCode: null },
    });
    const alias = await json('command-execution', 'get', '--instance-agent-command-id', id, '--instance-id', queuedInstanceId);
    expect(alias).toEqual(execution);
  });

  it('filters the list by --lifecycle-state, in any case', async () => {
    const queued = await createText('true', 'stays queued');
    const canceled = await createText('true', 'gets canceled');
    expect((await cli('command', 'cancel', '--instance-agent-command-id', canceled)).code).toBe(0);
    const onlyCanceled = await json<Array<{ instanceAgentCommandId: string; lifecycleState: string }>>(
      'execution', 'list', '--instance-id', queuedInstanceId, '--lifecycle-state', 'canceled', '--all',
    );
    const ids = onlyCanceled.map((e) => e.instanceAgentCommandId);
    expect(ids).toContain(canceled);
    expect(ids).not.toContain(queued);
    expect(new Set(onlyCanceled.map((e) => e.lifecycleState))).toEqual(new Set(['CANCELED']));
    const table = await cli('execution', 'list', '--instance-id', queuedInstanceId, '--all', '--output', 'table');
    expect(table.stdout.split('\n')[0]).toMatch(/^instanceAgentCommandId\s+displayName\s+lifecycleState\s+deliveryState\s+content\.exitCode\s+timeUpdated$/);
  });
});

describe('errors', () => {
  it('prints the service error and its opc-request-id and exits 1 for an unknown command', async () => {
    const result = await cli('command', 'get', '--instance-agent-command-id', 'ocid1.instanceagentcommand.oc1..doesnotexist');
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/^ServiceError: NotAuthorizedOrNotFound \(404\): .+\nopc-request-id: \S+\n$/);
  });

  it('exits 1 with InvalidParameter when the service rejects the request', async () => {
    const result = await cli('command', 'create', '--timeout-in-seconds', '30', '--content-text', 'x'.repeat(5000), '--instance-id', queuedInstanceId);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/ServiceError: InvalidParameter \(400\)/);
  });

  it.each([
    ['an unknown command', ['frobnicate']],
    ['an unknown subcommand', ['command', 'frobnicate']],
    ['an unknown option', ['command', 'list', '--bogus']],
    ['a missing required option', ['command', 'create', '--content-text', 'true']],
    ['two script sources', ['command', 'create', '--timeout-in-seconds', '5', '--content-text', 'a', '--source-uri', 'https://x/o']],
    ['an out-of-range timeout', ['command', 'create', '--timeout-in-seconds', '86401', '--content-text', 'a']],
    ['a bad --output', ['command', 'list', '--output', 'yaml']],
    ['a bad --sort-by', ['command', 'list', '--sort-by', 'size']],
    ['a bad --lifecycle-state', ['execution', 'list', '--lifecycle-state', 'done']],
    ['a stray argument', ['command', 'get', 'ocid1.instanceagentcommand.oc1..x']],
    ['run without a script', ['run']],
    ['run with both --file and words', ['run', '--file', '/etc/hostname', '--', 'true']],
  ])('exits 2 on %s, saying what is wrong on stderr', async (_what, args) => {
    const result = await cli(...args);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/^runcommand: .+\n\(see runcommand --help\)\n$/);
  });

  it('exits 2 and says how to get an endpoint when there is no platform.json and no --endpoint', async () => {
    const child = spawn(process.execPath, [CLI_BUNDLE, 'command', 'list', '--data-dir', path.join(tp.dataDir, 'nothing-here')], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr?.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    const code = await new Promise((resolve) => child.once('close', resolve));
    expect(code).toBe(2);
    expect(stderr).toMatch(/no endpoint: pass --endpoint/);
  });
});

describe('--help', () => {
  const everyCommand = [
    [],
    ['command'],
    ['command', 'create'],
    ['command', 'get'],
    ['command', 'list'],
    ['command', 'cancel'],
    ['execution'],
    ['execution', 'get'],
    ['command-execution', 'list'],
    ['run'],
    ['instance'],
    ['instance', 'add'],
    ['instance', 'list'],
    ['agent'],
    ['up'],
  ];
  const groups = new Set(['command', 'execution', 'instance']);

  it('prints usage on stdout and exits 0 for every command and group, each command with examples', async () => {
    // In parallel: one process each, and they do not touch the platform.
    const results = await Promise.all(everyCommand.map(async (words) => ({ words, result: await cli(...words, '--help') })));
    for (const { words, result } of results) {
      const what = `runcommand ${words.join(' ')} --help`;
      expect({ what, code: result.code }).toEqual({ what, code: 0 });
      expect(result.stdout).toMatch(/^Usage: runcommand/);
      if (!(words.length === 1 && groups.has(words[0] ?? ''))) expect({ what, examples: /Examples?:\n {2}\S/.test(result.stdout) }).toEqual({ what, examples: true });
    }
  });

  it('documents the exit codes of run', async () => {
    const { stdout } = await cli('run', '--help');
    for (const code of ['124', '125', '130']) expect(stdout).toMatch(new RegExp(`^ {2}${code} `, 'm'));
  });
});

describe('runcommand instance add | list', () => {
  it('registers an instance, writes its agent config and lists it', async () => {
    const added = await json<{ instanceId: string; displayName: string; agentConfigFile: string }>('instance', 'add', '--display-name', 'web-1');
    expect(added.instanceId).toMatch(/^ocid1\.instance\./);
    expect(added.displayName).toBe('web-1');
    expect(existsSync(added.agentConfigFile)).toBe(true);
    expect(existsSync(path.join(path.dirname(added.agentConfigFile), 'key.pem'))).toBe(true);
    const listed = await json<Array<{ instanceId: string; agentConfigFile: string }>>('instance', 'list');
    expect(listed).toContainEqual(expect.objectContaining({ instanceId: added.instanceId, agentConfigFile: added.agentConfigFile }));
    expect(listed.map((i) => i.instanceId)).toContain(tp.info.localInstanceId);
  });

  it('generates an Ed25519 key unless --key-type rsa asks for RSA, and refuses other key types', async () => {
    const keyTypeOf = (agentConfigFile: string): string | undefined =>
      createPrivateKey(readFileSync(path.join(path.dirname(agentConfigFile), 'key.pem'), 'utf8')).asymmetricKeyType;
    const byDefault = await json<{ agentConfigFile: string }>('instance', 'add', '--display-name', 'ed');
    expect(keyTypeOf(byDefault.agentConfigFile)).toBe('ed25519');
    const rsa = await json<{ agentConfigFile: string }>('instance', 'add', '--display-name', 'rsa', '--key-type', 'rsa');
    expect(keyTypeOf(rsa.agentConfigFile)).toBe('rsa');
    const refused = await cli('instance', 'add', '--key-type', 'dsa');
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('--key-type must be one of ed25519, rsa');
  });
});

describe('runcommand run (against the local instance and its agent)', () => {
  it('prints the output and exits 0', async () => {
    const result = await cli('run', '--', 'echo', 'hi');
    expect(result).toMatchObject({ code: 0, stdout: 'hi\n', stderr: '' });
  });

  it("exits with the script's exit code", async () => {
    const result = await cli('run', '--', 'echo', 'partial;', 'exit', '3');
    expect(result.code).toBe(3);
    expect(result.stdout).toBe('partial\n');
    expect(result.stderr).toMatch(/FAILED, exit 3/);
  });

  it('runs a --file and shows a line per state change with --progress', async () => {
    const file = path.join(tp.dataDir, 'run.sh');
    // Long enough to be reported IN_PROGRESS (shorter scripts go from ACKED straight to their end).
    writeFileSync(file, 'sleep 0.3\necho "from $0"\n');
    const result = await cli('run', '--file', file, '--progress');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^from /);
    expect(result.stderr).toMatch(/\] IN_PROGRESS \(ACKED\)\n/);
    // It followed the execution-events stream rather than polling.
    expect(result.stderr).not.toMatch(/polling/);
    expect(result.stderr).toMatch(/SUCCEEDED, exit 0 after \d+\.\ds\n$/);
  });

  it('exits 124 when the script outlives --timeout-in-seconds', async () => {
    const result = await cli('run', '--timeout-in-seconds', '1', '--', 'sleep', '5');
    expect(result.code).toBe(124);
    expect(result.stderr).toMatch(/TIMED_OUT/);
  }, 30_000);

  it('exits 125 when the service refuses the script (over the 4 KB text limit)', async () => {
    const result = await cli('run', '--', 'echo', 'x'.repeat(5000));
    expect(result.code).toBe(125);
    expect(result.stderr).toMatch(/ServiceError: InvalidParameter \(400\)/);
  });

  it('prints the finished execution with --output json', async () => {
    const result = await cli('run', '--output', 'json', '--', 'echo', 'as json');
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ lifecycleState: 'SUCCEEDED', content: { outputType: 'TEXT', exitCode: 0, text: 'as json\n' } });
  });

  it('cancels the command on Ctrl-C and exits 130', async () => {
    const running = start(['run', '--progress', '--', 'sleep', '30']);
    await waitFor('the script to start', () => running.stderr().includes('IN_PROGRESS'), 15_000);
    const id = /command (ocid1\.instanceagentcommand\.\S+)/.exec(running.stderr())?.[1] as string;
    running.child.kill('SIGINT');
    const result = await running.done;
    expect(result.code).toBe(130);
    expect(result.stderr).toMatch(/canceled ocid1\.instanceagentcommand\./);
    await waitFor(
      'the execution to be CANCELED',
      async () => (await json<{ lifecycleState: string }>('execution', 'get', '--instance-agent-command-id', id)).lifecycleState === 'CANCELED',
      15_000,
      200,
    );
  }, 30_000);

  it('polls the execution when the user may not read the execution-events stream', async () => {
    // A user limited to another compartment cannot read the stream, which lives in the platform's compartment.
    const compartmentId = await addCompartment(tp.dataDir, 'limited');
    const user = await addRestrictedUser(tp.dataDir, 'limited-user', [compartmentId]);
    const result = await cli('run', '--config-file', user.ociConfigFile, '--compartment-id', compartmentId, '--progress', '--', 'echo', 'polled');
    expect(result.code).toBe(0);
    expect(result.stdout).toBe('polled\n');
    expect(result.stderr).toMatch(/cannot follow execution-events .*polling the execution instead/);
  });
});

describe('compartment add and user add', () => {
  it('adds a compartment and a user limited to it, who can use it and gets 404 elsewhere', async () => {
    const { compartmentId } = await json<{ compartmentId: string }>('compartment', 'add', '--name', 'team-a');
    expect(compartmentId).toMatch(/^ocid1\.compartment\./);
    const user = await json<{ userId: string; ociConfigFile: string; compartments: string[] }>('user', 'add', '--name', 'alice', '--compartment-id', compartmentId);
    expect(user.compartments).toEqual([compartmentId]);
    const own = await cli('command', 'list', '--compartment-id', compartmentId, '--config-file', user.ociConfigFile);
    expect(own.code).toBe(0);
    expect(JSON.parse(own.stdout)).toEqual([]);
    const elsewhere = await cli('command', 'list', '--compartment-id', tp.info.compartmentId, '--config-file', user.ociConfigFile);
    expect(elsewhere.code).toBe(1);
    expect(elsewhere.stderr).toContain('NotAuthorizedOrNotFound');
  });

  it('refuses a user without a compartment (usage error)', async () => {
    expect((await cli('user', 'add', '--name', 'bob')).code).toBe(2);
  });
});
