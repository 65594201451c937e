import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { lookupUser, makeWorkDir, planLaunch, startExecution, type ExecutionResult, type ExecutionSpec, type ExecutorOptions } from '../../../agent/executor';
import type { OutputSink, OutputStreamName } from '../../../agent/output';
import { isGroupAlive } from '../../../agent/process-group';
import { tempDir, waitFor } from './support/helpers';
import { isAlive } from '../../support/processes';

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

function spec(script: string, overrides: Partial<ExecutionSpec> = {}): ExecutionSpec {
  return { commandId: 'ocid1.instanceagentcommand.oc1..exec', instanceId: 'ocid1.instance.oc1..host', script: { content: script }, timeoutSec: 60, ...overrides };
}

function options(overrides: Partial<ExecutorOptions> = {}): ExecutorOptions {
  return { workRoot: tempDir('exec-work-'), killGraceMs: 300, stdioDrainMs: 200, ...overrides };
}

async function run(script: string, overrides: Partial<ExecutionSpec> = {}, opts: Partial<ExecutorOptions> = {}) {
  const execution = await startExecution(spec(script, overrides), options(opts));
  return execution.result;
}

describe('planLaunch', () => {
  const none = (): undefined => undefined;

  it('runs bash on script.sh by default', () => {
    expect(planLaunch({ content: 'echo hi' }, undefined, none)).toMatchObject({ kind: 'spawn', file: 'bash', args: [], appendScriptPath: true, scriptName: 'script.sh' });
  });

  it('runs the #! interpreter with its one optional argument', () => {
    expect(planLaunch({ content: '#!/usr/bin/env python3\nprint(1)' }, undefined, none)).toMatchObject({ file: '/usr/bin/env', args: ['python3'] });
    expect(planLaunch({ content: '#!/bin/sh -eu\r\nls' }, undefined, none)).toMatchObject({ file: '/bin/sh', args: ['-eu'] });
  });

  it('fails a #ps1 script with a clear message when pwsh is not installed, and runs pwsh -File when it is', () => {
    expect(planLaunch({ content: '#ps1\nGet-Date' }, undefined, none)).toMatchObject({ kind: 'fail', exitCode: 127, message: expect.stringMatching(/PowerShell \(pwsh\) is not installed/) });
    expect(planLaunch({ content: '#ps1\nGet-Date' }, undefined, () => '/usr/bin/pwsh')).toMatchObject({ file: '/usr/bin/pwsh', args: expect.arrayContaining(['-File']), scriptName: 'script.ps1' });
  });

  it('runs a commandString with bash -c next to the script saved under its object name', () => {
    expect(planLaunch({ content: 'echo $1', fileName: 'main.sh' }, 'bash main.sh abc', none)).toMatchObject({ file: 'bash', args: ['-c', 'bash main.sh abc'], appendScriptPath: false, scriptName: 'main.sh' });
    expect(planLaunch({ content: 'x', fileName: '../../etc/cron.d/x' }, 'true', none)).toMatchObject({ scriptName: 'x' });
  });

  it('reads the #! line of a saved (downloaded) script from its head, and keeps its name', () => {
    expect(planLaunch({ savedFile: 'tool.py', head: Buffer.from('#!/usr/bin/python3\nprint(1)') }, undefined, none)).toMatchObject({ file: '/usr/bin/python3', scriptName: 'tool.py' });
    expect(planLaunch({ savedFile: 'setup', head: Buffer.from('#ps1\n') }, undefined, () => '/usr/bin/pwsh')).toMatchObject({ scriptName: 'setup.ps1' });
  });
});

/** A sink that records what it is given and lets a test decide the final result. */
function recordingSink(finish: (r: ExecutionResult) => ExecutionResult = (r) => r): OutputSink & { written: Record<OutputStreamName, string>; finished: ExecutionResult[] } {
  const written: Record<OutputStreamName, string> = { stdout: '', stderr: '' };
  const finished: ExecutionResult[] = [];
  return {
    written,
    finished,
    write: (stream, chunk) => {
      written[stream] += chunk.toString();
    },
    finish: async (r) => {
      finished.push(r);
      return finish(r);
    },
  };
}

describe('makeWorkDir', () => {
  it('makes the work root when it is missing, and again after something removed it', () => {
    const workRoot = path.join(tempDir('exec-root-'), 'nested', 'work');
    const first = makeWorkDir(workRoot, 'ocid1.instanceagentcommand.oc1..one');
    expect(path.dirname(first)).toBe(workRoot);
    expect(fs.statSync(workRoot).mode & 0o777).toBe(0o711);
    fs.rmSync(workRoot, { recursive: true, force: true });
    const second = makeWorkDir(workRoot, 'ocid1.instanceagentcommand.oc1..two');
    expect(fs.statSync(second).isDirectory()).toBe(true);
    expect(fs.statSync(second).mode & 0o777).toBe(0o700);
  });
});

describe('startExecution with a prepared working directory and an output sink', () => {
  it('runs a script already saved in the working directory, under its name, and removes the directory', async () => {
    const workRoot = tempDir('exec-work-');
    const workDir = makeWorkDir(workRoot, 'ocid1.instanceagentcommand.oc1..saved');
    fs.writeFileSync(path.join(workDir, 'main.sh'), 'echo "main $1"');
    const execution = await startExecution(spec('', { workDir, script: { savedFile: 'main.sh', head: Buffer.from('echo') }, commandString: 'bash main.sh x' }), options({ workRoot }));
    expect(execution.workDir).toBe(workDir);
    await expect(execution.result).resolves.toMatchObject({ outcome: 'SUCCEEDED', text: 'main x\n' });
    await waitFor(() => !fs.existsSync(workDir), 2000, 'work dir removed');
  });

  it('gives the sink stdout and stderr apart, and reports the result the sink finishes with', async () => {
    const sink = recordingSink((r) => ({ ...r, outcome: 'FAILED', message: 'upload failed' }));
    const result = await run('echo out; echo err >&2', { sink });
    expect(sink.written).toEqual({ stdout: 'out\n', stderr: 'err\n' });
    expect(sink.finished).toEqual([expect.objectContaining({ outcome: 'SUCCEEDED', exitCode: 0 })]);
    expect(result).toMatchObject({ outcome: 'FAILED', exitCode: 0, message: 'upload failed', text: 'out\nerr\n' });
  });

  it('finishes the sink also when the script could not be started', async () => {
    const sink = recordingSink();
    await expect(run('#ps1\nGet-Date', { sink }, { findExecutable: () => undefined })).resolves.toMatchObject({ outcome: 'FAILED', exitCode: 127 });
    expect(sink.finished).toEqual([expect.objectContaining({ exitCode: 127 })]);
  });

  it('never reports SUCCEEDED when the sink fails to finish', async () => {
    const sink: OutputSink = { write: () => undefined, finish: () => Promise.reject(new Error('disk gone')) };
    await expect(run('true', { sink })).resolves.toMatchObject({ outcome: 'FAILED', exitCode: 0, message: 'Writing the full output failed: disk gone' });
  });
});

describe('startExecution', () => {
  it('echo hello → SUCCEEDED, exit 0, text and its sha256', async () => {
    await expect(run('echo hello')).resolves.toEqual({ outcome: 'SUCCEEDED', exitCode: 0, text: 'hello\n', textSha256: sha256('hello\n') });
  });

  it('exit 3 → FAILED with exit code 3, stdout and stderr combined', async () => {
    await expect(run('echo out; echo err >&2; exit 3')).resolves.toMatchObject({ outcome: 'FAILED', exitCode: 3, text: 'out\nerr\n' });
  });

  it('runs a #!/usr/bin/env python3 script under python3', async () => {
    await expect(run('#!/usr/bin/env python3\nimport sys\nprint("python", sys.version_info[0])')).resolves.toMatchObject({ outcome: 'SUCCEEDED', text: 'python 3\n' });
  });

  it('fails with 127 and a message when the #! interpreter does not exist', async () => {
    await expect(run('#!/nonexistent/interpreter\necho no')).resolves.toMatchObject({
      outcome: 'FAILED',
      exitCode: 127,
      message: expect.stringMatching(/interpreter \/nonexistent\/interpreter was not found/),
    });
  });

  it('fails a #ps1 script when pwsh is missing, without running anything', async () => {
    await expect(run('#ps1\nWrite-Output hi', {}, { findExecutable: () => undefined })).resolves.toMatchObject({ outcome: 'FAILED', exitCode: 127, text: '' });
  });

  it('runs commandString in the working directory where the script is available by name', async () => {
    const result = await run('echo "got $1 in $(basename "$PWD")"', { commandString: 'bash ./script.sh arg1 && test -x script.sh' });
    expect(result).toMatchObject({ outcome: 'SUCCEEDED', text: expect.stringMatching(/^got arg1 in ocid1\.instanceagentcommand\.oc1\.\.exec-/) });
  });

  it('gives the script its metadata in the environment, stdin from /dev/null and its own process group', async () => {
    const result = await run('echo "$RUNCOMMAND_COMMAND_ID $RUNCOMMAND_INSTANCE_ID $OCI_INSTANCE_ID"; cat; ps -o pgid= -p $$ | tr -d " "; echo $$');
    const [ids, pgid, pid] = result.text.trim().split('\n');
    expect(ids).toBe('ocid1.instanceagentcommand.oc1..exec ocid1.instance.oc1..host ocid1.instance.oc1..host');
    expect(pgid).toBe(pid);
  });

  it('uses a fresh private working directory per execution and removes it afterwards', async () => {
    const workRoot = tempDir('exec-work-');
    const first = await startExecution(spec('stat -c %a .; pwd'), options({ workRoot }));
    const second = await startExecution(spec('pwd'), options({ workRoot }));
    expect(first.workDir).not.toBe(second.workDir);
    const [mode, cwd] = (await first.result).text.trim().split('\n');
    expect(mode).toBe('700');
    expect(cwd).toBe(first.workDir);
    await second.result;
    await waitFor(() => !fs.existsSync(first.workDir) && !fs.existsSync(second.workDir), 2000, 'work dirs removed');
  });

  it('10 MB of output → exactly the last 1024 bytes, held in a 1024-byte buffer', async () => {
    const execution = await startExecution(spec("yes abcdefghi | head -c 10485760; printf 'THE-END'"), options());
    const result = await execution.result;
    const expected = `${'abcdefghi\n'.repeat(103)}THE-END`.slice(-1024);
    expect(result.text).toBe(expected);
    expect(result.textSha256).toBe(sha256(expected));
    expect(execution.output.totalBytes).toBe(10485760 + 7);
    expect(execution.output.allocatedBytes).toBe(1024);
  });

  it('a signal it did not expect → FAILED with 128 + the signal number and a message naming it', async () => {
    await expect(run('kill -9 $$')).resolves.toMatchObject({ outcome: 'FAILED', exitCode: 137, message: 'The script was killed by signal SIGKILL.' });
  });

  it('sleep 30 with a 2 s timeout → TIMED_OUT within seconds and nothing of it left', async () => {
    const startedAt = Date.now();
    const execution = await startExecution(spec('sleep 30 & sleep 30', { timeoutSec: 2 }), options());
    const result = await execution.result;
    expect(result).toMatchObject({ outcome: 'TIMED_OUT', exitCode: null, message: expect.stringMatching(/timeout of 2 seconds/) });
    expect(Date.now() - startedAt).toBeLessThan(10_000);
    expect(isGroupAlive(execution.pid as number)).toBe(false);
  });

  it('escalates to SIGKILL after the grace period when the script ignores SIGTERM', async () => {
    const execution = await startExecution(spec("trap '' TERM; sleep 30", { timeoutSec: 1 }), options({ killGraceMs: 200 }));
    await expect(execution.result).resolves.toMatchObject({ outcome: 'TIMED_OUT' });
    expect(isGroupAlive(execution.pid as number)).toBe(false);
  });

  it('cancel of a script with a background child → CANCELED once the whole group is gone', async () => {
    const dir = tempDir();
    const execution = await startExecution(spec(`sleep 100 & echo $! > ${dir}/child; sleep 100`), options());
    await waitFor(() => fs.existsSync(path.join(dir, 'child')) && fs.readFileSync(path.join(dir, 'child'), 'utf8').endsWith('\n'), 5000, 'child pid');
    const child = Number(fs.readFileSync(path.join(dir, 'child'), 'utf8'));
    const result = await execution.cancel();
    expect(result).toMatchObject({ outcome: 'CANCELED', exitCode: null });
    expect(isGroupAlive(execution.pid as number)).toBe(false);
    // Gone, or a zombie: an orphan is reparented to PID 1, which may never reap it (microVMs, containers).
    expect(isAlive(child)).toBe(false);
  });

  it('does not hold the result back for a background daemon that keeps the output pipe open', async () => {
    const execution = await startExecution(spec('sleep 30 & echo started'), options({ stdioDrainMs: 100 }));
    await expect(execution.result).resolves.toMatchObject({ outcome: 'SUCCEEDED', text: 'started\n' });
    process.kill(-(execution.pid as number), 'SIGKILL');
  });

  const asRoot = process.getuid?.() === 0 && fs.readFileSync('/etc/passwd', 'utf8').includes('\nnobody:');
  (asRoot ? it : it.skip)('runs the script as runAsUser when the agent is root', async () => {
    const nobody = lookupUser('nobody');
    const workRoot = tempDir('exec-work-');
    fs.chmodSync(workRoot, 0o711);
    await expect(run('id -u', {}, { workRoot, runAs: nobody })).resolves.toMatchObject({ outcome: 'SUCCEEDED', text: `${nobody.uid}\n` });
  });
});
