/**
 * Scheduled sweeps end to end: the platform's scheduler invokes the real retention-sweep function (a hot FDK process)
 * on a fast schedule from `<dataDir>/config.json`, and Oracle's client sees the outcome.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ComputeInstanceAgentClient, models } from 'oci-computeinstanceagent';
import { CLI_BUNDLE, agentCommandClient, startTestPlatform, type TestPlatform } from '../support/platform';
import { isAlive, runCli, waitFor, type CliProcess } from '../support/processes';

const DELIVERY_WINDOW_SEC = 4;
const GRACE_SEC = 2;
const SWEEP_INTERVAL_SEC = 1;

let dataDir: string;
let tp: TestPlatform;
let client: ComputeInstanceAgentClient;

beforeAll(async () => {
  dataDir = mkdtempSync(path.join(os.tmpdir(), 'rc-e2e-sweeps-'));
  writeFileSync(
    path.join(dataDir, 'config.json'),
    JSON.stringify({
      schedules: [
        {
          name: 'fast-sweep',
          cron: `@every ${SWEEP_INTERVAL_SEC}s`,
          function: 'retention-sweep',
          body: { deliveryWindowSec: DELIVERY_WINDOW_SEC, graceSec: GRACE_SEC },
        },
      ],
    }),
  );
  tp = await startTestPlatform({ dataDir });
  client = agentCommandClient(tp.info.endpoint, tp.info.ociConfigFile);
}, 60_000);

afterAll(async () => {
  await tp?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

function createScript(text: string, executionTimeOutInSeconds: number, displayName: string) {
  return client.createInstanceAgentCommand({
    createInstanceAgentCommandDetails: {
      compartmentId: tp.info.compartmentId,
      executionTimeOutInSeconds,
      displayName,
      target: { instanceId: tp.info.localInstanceId },
      content: { source: { sourceType: 'TEXT', text } as models.InstanceAgentCommandSourceViaTextDetails },
    },
  });
}

async function executionOf(commandId: string): Promise<models.InstanceAgentCommandExecution> {
  const r = await client.getInstanceAgentCommandExecution({ instanceAgentCommandId: commandId, instanceId: tp.info.localInstanceId });
  return r.instanceAgentCommandExecution;
}

describe('scheduled sweeps on the platform', () => {
  it('expires a command no agent ever took, through the real retention-sweep function', async () => {
    const created = await createScript('echo never', 60, 'never delivered');
    const id = created.instanceAgentCommand.id;
    expect(await executionOf(id)).toMatchObject({ deliveryState: 'VISIBLE', lifecycleState: 'ACCEPTED' });

    const expired = await waitFor(
      'EXPIRED',
      async () => {
        const e = await executionOf(id);
        return e.deliveryState === 'EXPIRED' && e;
      },
      (DELIVERY_WINDOW_SEC + SWEEP_INTERVAL_SEC + 10) * 1000,
      200,
    );
    expect(expired.lifecycleState).toBe('ACCEPTED');
    // Expired commands can no longer be canceled: cancel succeeds and changes nothing.
    await client.cancelInstanceAgentCommand({ instanceAgentCommandId: id });
    expect(await executionOf(id)).toMatchObject({ deliveryState: 'EXPIRED', lifecycleState: 'ACCEPTED' });
  }, 30_000);

  it('times out, with a message, a command whose agent was killed during sleep 100 and never restarted', async () => {
    const pidFile = path.join(dataDir, 'script.pid');
    let agent: CliProcess | undefined;
    try {
      agent = runCli(CLI_BUNDLE, ['agent', '--config', tp.info.localAgentConfigFile]);
      const created = await createScript(`echo $$ > ${pidFile}; sleep 100`, 5, 'killed agent');
      const id = created.instanceAgentCommand.id;
      await waitFor('IN_PROGRESS', async () => (await executionOf(id)).lifecycleState === 'IN_PROGRESS', 15_000, 100);
      await waitFor('the script pid', () => existsSync(pidFile) && readFileSync(pidFile, 'utf8').trim() !== '', 5_000);
      const startedAtMs = Date.now();
      agent.child.kill('SIGKILL');
      await agent.exited;

      const timedOut = await waitFor(
        'TIMED_OUT',
        async () => {
          const e = await executionOf(id);
          return e.lifecycleState === 'TIMED_OUT' && e;
        },
        (5 + GRACE_SEC + SWEEP_INTERVAL_SEC + 10) * 1000,
        200,
      );
      const elapsedMs = Date.now() - startedAtMs;
      expect(timedOut.content.message).toBe(
        `The agent stopped reporting: no result within the timeout of 5 s plus a grace period of ${GRACE_SEC} s; the command may still have run.`,
      );
      // Not before the deadline (the START report came before startedAtMs), and within a sweep interval of it plus slack.
      expect(elapsedMs).toBeLessThan((5 + GRACE_SEC + SWEEP_INTERVAL_SEC + 5) * 1000);
      expect(timedOut.content.exitCode ?? null).toBeNull();
    } finally {
      if (agent && agent.child.exitCode === null && agent.child.signalCode === null) agent.child.kill('SIGKILL');
      // The killed agent's script lives on in its own process group; end it (this test started it).
      const scriptPid = existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8').trim()) : NaN;
      if (Number.isInteger(scriptPid) && scriptPid > 1 && isAlive(scriptPid)) {
        try {
          process.kill(-scriptPid, 'SIGKILL');
        } catch {
          process.kill(scriptPid, 'SIGKILL');
        }
      }
    }
  }, 60_000);
});
