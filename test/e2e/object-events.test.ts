/**
 * Object-upload events end to end: Oracle's ObjectStorageClient (the admin's config file) uploads into the trigger
 * bucket the platform created on first start; the platform emits createobject events, its router delivers them to the
 * object-events function, and the local agent (its own process) runs the resulting commands.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as common from 'oci-common';
import type { ComputeInstanceAgentClient, models } from 'oci-computeinstanceagent';
import { ObjectStorageClient } from 'oci-objectstorage';
import { startPlatform, type RunningPlatform } from '../../platform/platform';
import type { DeliveryRecord } from '../../platform/event-router';
import { jsonLogger } from '../../shared/app/log';
import { createObjectEvent } from '../../shared/domain/object-event';
import { CLI_BIN, FUNCTIONS_DIR, agentCommandClient, testFunctionsBackend } from '../support/platform';
import { runCli, waitFor, type CliProcess } from '../support/processes';

let dataDir: string;
let platform: RunningPlatform;
let commands: ComputeInstanceAgentClient;
let storage: ObjectStorageClient;
let agent: CliProcess;
/** Object names whose next delivery answers 502, as a failed function call does. */
const failOnce = new Set<string>();

beforeAll(async () => {
  dataDir = mkdtempSync(path.join(os.tmpdir(), 'rc-e2e-events-'));
  platform = await startPlatform({
    dataDir,
    port: 0,
    functionsDir: FUNCTIONS_DIR,
    log: jsonLogger('platform', () => undefined),
    functionsBackend: testFunctionsBackend(),
    interceptEventDelivery: async (body, invoke) => {
      const name = (JSON.parse(body.toString('utf8')) as { data: { resourceName: string } }).data.resourceName;
      if (failOnce.delete(name)) return { status: 502, headers: {}, body: Buffer.from('{"message":"Function failed"}') };
      return invoke(body);
    },
  });
  commands = agentCommandClient(platform.info.endpoint, platform.info.ociConfigFile);
  storage = new ObjectStorageClient({
    authenticationDetailsProvider: new common.ConfigFileAuthenticationDetailsProvider(platform.info.ociConfigFile, 'DEFAULT'),
  });
  storage.endpoint = platform.info.endpoint;
  agent = runCli(CLI_BIN, ['agent', '--config', platform.info.localAgentConfigFile]);
}, 60_000);

afterAll(async () => {
  if (agent && agent.child.exitCode === null && agent.child.signalCode === null) {
    agent.child.kill('SIGTERM');
    setTimeout(() => agent.child.kill('SIGKILL'), 2000).unref();
    await agent.exited;
  }
  await platform?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

async function drop(objectName: string, body: string, opcMeta: Record<string, string> = {}): Promise<string> {
  const put = await storage.putObject({
    namespaceName: platform.info.namespace,
    bucketName: platform.info.triggerBucket,
    objectName,
    putObjectBody: body,
    contentLength: Buffer.byteLength(body),
    opcMeta,
  });
  return put.eTag;
}

async function commandsNamed(displayName: string): Promise<models.InstanceAgentCommandSummary[]> {
  const listed = await commands.listInstanceAgentCommands({ compartmentId: platform.info.compartmentId, limit: 1000 });
  return listed.items.filter((c) => c.displayName === displayName);
}

function deliveriesOf(objectName: string): DeliveryRecord[] {
  return platform.objectEvents.recent().filter((d) => d.objectName === objectName);
}

const scriptPath = (name: string) => `${platform.info.triggerPrefix}/${platform.info.localInstanceId}/${name}`;

describe('object events', () => {
  it('has the trigger bucket from the first start, with object events on, named in platform.json', async () => {
    expect(platform.info).toMatchObject({ triggerBucket: 'runcommand-scripts', triggerPrefix: 'scripts' });
    const { bucket } = await storage.getBucket({ namespaceName: platform.info.namespace, bucketName: 'runcommand-scripts' });
    expect(bucket).toMatchObject({ compartmentId: platform.info.compartmentId, objectEventsEnabled: true });
  });

  it('runs a script dropped under scripts/<instanceId>/ to SUCCEEDED within seconds', async () => {
    const objectName = scriptPath('hello.sh');
    await drop(objectName, '#!/bin/bash\necho hello from a drop\n', { 'timeout-in-seconds': '60' });
    const [created] = await waitFor('the command to appear', async () => {
      const found = await commandsNamed(objectName);
      return found.length > 0 && found;
    }, 10_000, 50);
    const execution = await waitFor('the command to succeed', async () => {
      const e = (await commands.getInstanceAgentCommandExecution({
        instanceAgentCommandId: created?.instanceAgentCommandId ?? '',
        instanceId: platform.info.localInstanceId,
      })).instanceAgentCommandExecution;
      return ['SUCCEEDED', 'FAILED', 'TIMED_OUT', 'CANCELED'].includes(e.lifecycleState) && e;
    }, 15_000, 50);
    expect(execution.lifecycleState).toBe('SUCCEEDED');
    expect(execution.content).toMatchObject({ outputType: 'TEXT', exitCode: 0, text: 'hello from a drop\n' });
  });

  it('records the output the agent uploads to an events-enabled bucket on its execution', async () => {
    const namespaceName = platform.info.namespace;
    await storage.createBucket({
      namespaceName,
      createBucketDetails: { name: 'job-outputs', compartmentId: platform.info.compartmentId, objectEventsEnabled: true },
    });
    const objectName = scriptPath('with-output.sh');
    await drop(objectName, 'echo to the bucket\n', { 'output-bucket': 'job-outputs', 'output-object': 'results/with-output.out' });
    const [recorded] = await waitFor('the output upload to be recorded', () => {
      const found = deliveriesOf('results/with-output.out').filter((d) => d.outcome === 'delivered');
      return found.length > 0 && found;
    }, 15_000, 50);
    const head = await storage.headObject({ namespaceName, bucketName: 'job-outputs', objectName: 'results/with-output.out' });
    const [command] = await commandsNamed(objectName);
    expect(JSON.parse(recorded?.detail ?? '{}')).toEqual({
      outcome: 'output-recorded',
      instanceAgentCommandId: command?.instanceAgentCommandId,
      instanceId: platform.info.localInstanceId,
      etag: head.eTag,
      changed: true,
    });
  });

  it('creates one command when the same event is delivered twice', async () => {
    const objectName = scriptPath('twice.sh');
    const etag = await drop(objectName, 'echo twice\n');
    const [first] = await waitFor('the first delivery', () => {
      const found = deliveriesOf(objectName).filter((d) => d.outcome === 'delivered');
      return found.length > 0 && found;
    }, 10_000, 25);
    const { bucket } = await storage.getBucket({ namespaceName: platform.info.namespace, bucketName: platform.info.triggerBucket });
    const again = createObjectEvent({
      eventId: first?.eventId ?? '',
      eventTime: new Date().toISOString(),
      compartmentId: platform.info.compartmentId,
      namespaceName: platform.info.namespace,
      bucketName: platform.info.triggerBucket,
      bucketId: bucket.id ?? '',
      objectName,
      etag,
    });
    expect(await platform.objectEvents.deliver(again)).toMatchObject({ kind: 'ok', status: 200 });
    expect(await commandsNamed(objectName)).toHaveLength(1);
  });

  it('creates nothing for an invalid drop, and drops its event after one attempt instead of retrying it', async () => {
    const objectName = `${platform.info.triggerPrefix}/not-an-instance/oops.sh`;
    await drop(objectName, 'echo never\n');
    const [refused] = await waitFor('the event to be refused', () => {
      const found = deliveriesOf(objectName);
      return found.length > 0 && found;
    }, 10_000, 25);
    expect(refused).toMatchObject({ outcome: 'dropped', status: 400, attempts: 1 });
    expect(refused?.detail).toContain("'data.resourceName'");
    expect(await commandsNamed(objectName)).toHaveLength(0);
    expect(await platform.objectEvents.pendingCount()).toBe(0);
  });

  it('retries a delivery that failed (502) and then creates the command once', async () => {
    const objectName = scriptPath('retried.sh');
    failOnce.add(objectName);
    await drop(objectName, 'echo retried\n');
    await waitFor('the retried delivery to succeed', () => deliveriesOf(objectName).some((d) => d.outcome === 'delivered'), 10_000, 25);
    expect(deliveriesOf(objectName).map((d) => [d.outcome, d.status])).toEqual([
      ['retrying', 502],
      ['delivered', 200],
    ]);
    expect(await commandsNamed(objectName)).toHaveLength(1);
  });
});
