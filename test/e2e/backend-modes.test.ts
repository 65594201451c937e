/**
 * Both backend modes end to end, in one file: the same flow (create, get, list with paging, cancel, retry-token
 * replay, and what reaches the agent's stream) against a platform whose functions run on the embedded store, and
 * one whose functions run on the OCI adapters (Object Storage and Streaming SDKs) against the platform's own
 * endpoints, signed as the service principal. Both must answer the same.
 */
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import type { models } from 'oci-computeinstanceagent';
import { StreamClient, models as streamModels } from 'oci-streaming';
import { addCompartment } from '../../platform/admin';
import type { Backend } from '../../shared/config/service-config';
import { agentCommandClient, instanceClientParams, startTestPlatform, type TestPlatform } from '../support/platform';

const platforms = new Map<Backend, TestPlatform>();

beforeAll(async () => {
  const [embedded, oci] = await Promise.all([
    startTestPlatform({ functionsBackend: 'embedded', maxProcessesPerFunction: 1 }),
    startTestPlatform({ functionsBackend: 'oci', maxProcessesPerFunction: 1 }),
  ]);
  platforms.set('embedded', embedded);
  platforms.set('oci', oci);
}, 90_000);

afterAll(async () => {
  await Promise.all([...platforms.values()].map((tp) => tp.stop()));
});

function platform(backend: Backend): TestPlatform {
  const tp = platforms.get(backend);
  if (!tp) throw new Error(`no ${backend} platform`);
  return tp;
}

/** RUNCOMMAND_* variables of this process's function processes serving the given namespace (Linux /proc). */
function functionEnvironments(namespace: string): Array<Record<string, string>> {
  const found: Array<Record<string, string>> = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const parentPid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (parentPid !== process.pid) continue;
      const env = Object.fromEntries(
        readFileSync(`/proc/${entry}/environ`, 'utf8')
          .split('\0')
          .filter((kv) => kv.startsWith('RUNCOMMAND_'))
          .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
      );
      if (env.RUNCOMMAND_NAMESPACE === namespace) found.push(env);
    } catch {
      // The process ended while it was being read.
    }
  }
  return found;
}

interface OciErrorLike {
  statusCode: number;
  serviceCode: string;
}

/** What the agent of the platform's local instance would read from its stream, as `type:displayName`. */
async function instanceStreamEvents(tp: TestPlatform, displayNames: Map<string, string>): Promise<string[]> {
  const streamId = /streamId: (\S+)/.exec(readFileSync(tp.info.localAgentConfigFile, 'utf8'))?.[1] ?? '';
  const client = new StreamClient(instanceClientParams(tp, 'modes-config'));
  client.endpoint = tp.info.endpoint;
  const cursor = await client.createGroupCursor({
    streamId,
    createGroupCursorDetails: { groupName: 'modes-test', type: streamModels.CreateGroupCursorDetails.Type.TrimHorizon, commitOnGet: false },
  });
  const read = await client.getMessages({ streamId, cursor: cursor.cursor.value, limit: 100 });
  return read.items.map((m) => {
    const message = JSON.parse(Buffer.from(m.value, 'base64').toString('utf8')) as { type: string; instanceAgentCommandId: string };
    return `${message.type}:${displayNames.get(message.instanceAgentCommandId) ?? 'unknown'}`;
  });
}

/** The representative flow, with ids and times left out so two platforms' answers compare equal. */
async function representativeFlow(tp: TestPlatform) {
  const client = agentCommandClient(tp.info.endpoint, tp.info.ociConfigFile);
  const compartmentId = await addCompartment(tp.dataDir, 'backend-modes');
  const displayNames = new Map<string, string>();
  const details = (displayName: string): models.CreateInstanceAgentCommandDetails => ({
    compartmentId,
    executionTimeOutInSeconds: 120,
    displayName,
    target: { instanceId: tp.info.localInstanceId },
    content: { source: { sourceType: 'TEXT', text: `echo ${displayName}` } as models.InstanceAgentCommandSourceViaTextDetails },
  });
  const create = async (displayName: string, opcRetryToken?: string) => {
    const created = await client.createInstanceAgentCommand({ createInstanceAgentCommandDetails: details(displayName), ...(opcRetryToken ? { opcRetryToken } : {}) });
    displayNames.set(created.instanceAgentCommand.id, displayName);
    return created;
  };

  const first = await create('job-first', 'modes-token');
  const got = await client.getInstanceAgentCommand({ instanceAgentCommandId: first.instanceAgentCommand.id });
  const replay = await create('job-first', 'modes-token');
  const reused = await create('job-other', 'modes-token').then(
    () => undefined,
    (e: OciErrorLike) => ({ statusCode: e.statusCode, serviceCode: e.serviceCode }),
  );
  const rest = [];
  for (const name of ['job-e', 'job-b', 'job-d', 'job-a', 'job-c', 'job-f']) rest.push(await create(name));

  const pages: string[][] = [];
  let page: string | undefined;
  do {
    const res = await client.listInstanceAgentCommands({
      compartmentId,
      limit: 3,
      sortBy: 'DISPLAYNAME' as never,
      sortOrder: 'ASC' as never,
      ...(page ? { page } : {}),
    });
    pages.push(res.items.map((i) => i.displayName ?? ''));
    page = res.opcNextPage;
  } while (page && pages.length < 10);

  const toCancel = rest[1]?.instanceAgentCommand.id ?? '';
  await client.cancelInstanceAgentCommand({ instanceAgentCommandId: toCancel });
  const canceled = await client.getInstanceAgentCommand({ instanceAgentCommandId: toCancel });
  const canceledExecution = await client.getInstanceAgentCommandExecution({ instanceAgentCommandId: toCancel, instanceId: tp.info.localInstanceId });
  const executions = await client.listInstanceAgentCommandExecutions({ compartmentId, instanceId: tp.info.localInstanceId, limit: 100 });

  return {
    readsItsOwnWrite: got.etag === first.etag && JSON.stringify(got.instanceAgentCommand) === JSON.stringify(first.instanceAgentCommand),
    replayReturnsTheOriginal: replay.instanceAgentCommand.id === first.instanceAgentCommand.id,
    reusedTokenWithAnotherBody: reused,
    pages,
    canceled: {
      isCanceled: canceled.instanceAgentCommand.isCanceled,
      lifecycleState: canceledExecution.instanceAgentCommandExecution.lifecycleState,
      deliveryState: canceledExecution.instanceAgentCommandExecution.deliveryState,
    },
    executionStates: executions.items.map((e) => `${displayNames.get(e.instanceAgentCommandId)}:${e.lifecycleState}`).sort(),
    streamEvents: await instanceStreamEvents(tp, displayNames),
  };
}

describe('backend modes', () => {
  it('runs the functions of an oci-mode platform on the OCI adapters against its own endpoints, signed as the service principal', async () => {
    // Every pool starts a process; the env is what the function processes were actually given.
    const tp = platform('oci');
    await agentCommandClient(tp.info.endpoint, tp.info.ociConfigFile).listInstanceAgentCommands({ compartmentId: tp.info.compartmentId, limit: 1 });
    const envs = functionEnvironments(tp.info.namespace);
    expect(envs.length).toBeGreaterThan(0);
    for (const env of envs) {
      expect(env).toMatchObject({
        RUNCOMMAND_BACKEND: 'oci',
        RUNCOMMAND_OBJECTSTORAGE_ENDPOINT: tp.info.endpoint,
        RUNCOMMAND_STREAMING_ENDPOINT: tp.info.endpoint,
        RUNCOMMAND_OCI_AUTH: 'config-file',
        RUNCOMMAND_OCI_CONFIG_FILE: path.join(tp.dataDir, 'oci', 'service_config'),
      });
      expect(env.RUNCOMMAND_DB_FILE).toBeUndefined();
    }
    for (const env of functionEnvironments(platform('embedded').info.namespace)) expect(env.RUNCOMMAND_BACKEND).toBe('embedded');
  });

  it('gives the same answers, and the same messages to the agent, in both modes', async () => {
    const embedded = await representativeFlow(platform('embedded'));
    const oci = await representativeFlow(platform('oci'));
    expect(embedded).toEqual({
      readsItsOwnWrite: true,
      replayReturnsTheOriginal: true,
      reusedTokenWithAnotherBody: { statusCode: 409, serviceCode: 'InvalidatedRetryToken' },
      pages: [
        ['job-a', 'job-b', 'job-c'],
        ['job-d', 'job-e', 'job-f'],
        ['job-first'],
      ],
      canceled: { isCanceled: true, lifecycleState: 'CANCELED', deliveryState: 'VISIBLE' },
      executionStates: [
        'job-a:ACCEPTED',
        'job-b:CANCELED',
        'job-c:ACCEPTED',
        'job-d:ACCEPTED',
        'job-e:ACCEPTED',
        'job-f:ACCEPTED',
        'job-first:ACCEPTED',
      ],
      streamEvents: expect.arrayContaining(['command.issued:job-first', 'command.issued:job-b']),
    });
    expect(oci).toEqual(embedded);
  }, 60_000);
});
