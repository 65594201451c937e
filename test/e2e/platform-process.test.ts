/**
 * The platform as users run it (`runcommand up`, what `npm start` runs): a foreground process that stops cleanly on
 * SIGINT/SIGTERM and keeps every command across restarts, including after SIGKILL.
 */
import { existsSync, mkdtempSync, rmSync, unlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CLI_BUNDLE, agentCommandClient } from '../support/platform';
import { descendantsOf, isAlive, runCli, signalOnOutput, waitFor, waitForPlatformJson } from '../support/processes';

let dataDir: string;

beforeEach(() => {
  dataDir = mkdtempSync(path.join(os.tmpdir(), 'rc-proc-'));
});

afterEach(() => {
  rmSync(dataDir, { recursive: true, force: true });
});

async function startUp() {
  const proc = runCli(CLI_BUNDLE, ['up', '--port', '0', '--data-dir', dataDir]);
  const info = await waitForPlatformJson(dataDir);
  await waitFor('the ready line', () => proc.output().includes('platform ready at'), 30_000);
  return { proc, info };
}

function createIn(info: Record<string, string>) {
  const client = agentCommandClient(info.endpoint as string, info.ociConfigFile as string);
  return client.createInstanceAgentCommand({
    createInstanceAgentCommandDetails: {
      compartmentId: info.compartmentId as string,
      executionTimeOutInSeconds: 30,
      displayName: 'survives restarts',
      target: { instanceId: info.localInstanceId as string },
      content: { source: { sourceType: 'TEXT', text: 'true' } as never },
    },
  });
}

describe('runcommand up', () => {
  it.each(['SIGINT', 'SIGTERM'] as const)('stops on %s with no child process left', async (signal) => {
    const { proc, info } = await startUp();
    expect(info).toMatchObject({
      endpoint: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+$/),
      tenancyId: expect.stringMatching(/^ocid1\.tenancy\./),
      compartmentId: expect.stringMatching(/^ocid1\.compartment\./),
      localInstanceId: expect.stringMatching(/^ocid1\.instance\./),
      ociConfigFile: expect.any(String),
      ociProfile: 'DEFAULT',
      namespace: expect.any(String),
      functionsLogFile: path.join(dataDir, 'logs', 'functions.log'),
    });
    // The functions' output goes to their log file, not to the terminal.
    expect(existsSync(info.functionsLogFile as string)).toBe(true);
    expect(proc.output()).toContain(`function logs:   ${info.functionsLogFile}`);
    const pid = proc.child.pid as number;
    const children = descendantsOf(pid);
    expect(children.length).toBeGreaterThanOrEqual(4); // one hot process per function at least
    proc.child.kill(signal);
    expect(await proc.exited).toBe(0);
    await waitFor('every child to exit', () => children.every((c) => !isAlive(c)), 10_000);
  }, 60_000);

  it('stops cleanly on a SIGTERM sent the moment the ready line appears', async () => {
    // `up` must be listening by then (it used to install its handlers just after printing the line).
    const proc = runCli(CLI_BUNDLE, ['up', '--port', '0', '--data-dir', dataDir]);
    signalOnOutput(proc, 'stdout', 'platform ready at', 'SIGTERM');
    expect(await proc.exited).toBe(0);
    expect(proc.output()).toContain('SIGTERM: stopping');
  }, 60_000);

  it('stops cleanly on a SIGTERM that comes while it starts, once it is up, and leaves no child process', async () => {
    const proc = runCli(CLI_BUNDLE, ['up', '--port', '0', '--data-dir', dataDir]);
    // platform.json is written once the platform serves, before the host's agent starts and the ready line.
    await waitFor('platform.json', () => existsSync(path.join(dataDir, 'platform.json')), 30_000, 1);
    const children = descendantsOf(proc.child.pid as number);
    proc.child.kill('SIGTERM');
    expect(await proc.exited).toBe(0);
    expect(proc.output()).toContain('SIGTERM: stopping');
    await waitFor('every child to exit', () => children.every((c) => !isAlive(c)), 10_000);
  }, 60_000);

  it('keeps a command created right before a SIGKILL, and its function processes do not outlive it', async () => {
    const first = await startUp();
    const created = await createIn(first.info);
    const children = descendantsOf(first.proc.child.pid as number);
    first.proc.child.kill('SIGKILL');
    await first.proc.exited;
    await waitFor('orphaned function processes to exit', () => children.every((c) => !isAlive(c)), 10_000);

    unlinkSync(path.join(dataDir, 'platform.json'));
    const second = await startUp();
    try {
      expect(second.info.tenancyId).toBe(first.info.tenancyId);
      const client = agentCommandClient(second.info.endpoint as string, second.info.ociConfigFile as string);
      const got = await client.getInstanceAgentCommand({ instanceAgentCommandId: created.instanceAgentCommand.id });
      expect(got.instanceAgentCommand).toEqual(created.instanceAgentCommand);
    } finally {
      second.proc.child.kill('SIGTERM');
      await second.proc.exited;
    }
  }, 90_000);

  it('refuses a port that is taken, with a clear message', async () => {
    const first = await startUp();
    try {
      const port = new URL(first.info.endpoint as string).port;
      const other = mkdtempSync(path.join(os.tmpdir(), 'rc-proc-'));
      const second = runCli(CLI_BUNDLE, ['up', '--port', port, '--data-dir', other]);
      expect(await second.exited).not.toBe(0);
      expect(second.output()).toMatch(/EADDRINUSE|in use/);
      rmSync(other, { recursive: true, force: true });
    } finally {
      first.proc.child.kill('SIGTERM');
      await first.proc.exited;
    }
  }, 60_000);
});
