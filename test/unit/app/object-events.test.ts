import { createCommand } from '../../../shared/app/create-command';
import { readDoc } from '../../../shared/app/documents';
import { ALL_COMMANDS_PREFIX, executionKey } from '../../../shared/app/layout';
import { handleObjectCreated, type ObjectEventsDeps } from '../../../shared/app/object-events';
import { MemoryObjectStore } from '../../../shared/adapters/memory/object-store';
import { ServiceError } from '../../../shared/domain/errors';
import type { CommandOutput, CommandRecord, ExecutionRecord } from '../../../shared/domain/model';
import { createObjectEvent, type CreateObjectEvent } from '../../../shared/domain/object-event';
import type { Principal } from '../../../shared/ports/identity';
import { rejection } from '../../support/errors';
import { fakeWorld, publishedOn, type FakeWorld } from '../../support/service-fakes';

const NS = 'rcns';
const TRIGGER_BUCKET = 'runcommand-scripts';

let w: FakeWorld;
let buckets: Map<string, MemoryObjectStore>;
let deps: ObjectEventsDeps;
let service: Principal;
let eventCounter = 0;

beforeEach(async () => {
  w = await fakeWorld();
  buckets = new Map();
  service = { type: 'user', tenancyId: w.tenancyId, userId: 'ocid1.user.oc1..service' };
  await w.directory.putUser({ tenancyId: w.tenancyId, userId: 'ocid1.user.oc1..service', name: 'service', compartments: '*' });
  deps = {
    ...w.deps,
    objects: { headObject: async (ns, bucket, name) => (ns === NS ? buckets.get(bucket)?.head(name) : undefined) },
    trigger: { bucketName: TRIGGER_BUCKET, prefix: 'scripts' },
    servicePrincipal: service,
  };
});

function bucket(name: string): MemoryObjectStore {
  let b = buckets.get(name);
  if (!b) {
    b = new MemoryObjectStore({ clock: w.deps.clock });
    buckets.set(name, b);
  }
  return b;
}

/** Stores an object and returns the event an Object Storage endpoint would emit for it. */
async function upload(bucketName: string, objectName: string, metadata: Record<string, string> = {}, body = 'echo hi\n'): Promise<CreateObjectEvent> {
  const { etag } = await bucket(bucketName).put(objectName, body, { metadata });
  return createObjectEvent({
    eventId: `event-${++eventCounter}`,
    eventTime: new Date(w.nowMs()).toISOString(),
    compartmentId: w.compartmentId,
    namespaceName: NS,
    bucketName,
    bucketId: `ocid1.bucket.oc1..${bucketName}`,
    objectName,
    etag,
  });
}

async function commandCount(): Promise<number> {
  return (await w.state.list({ prefix: ALL_COMMANDS_PREFIX, limit: 100 })).objects.length;
}

async function commandWithOutput(output: CommandOutput): Promise<CommandRecord> {
  const created = await createCommand(w.deps, {
    principal: w.admin,
    spec: {
      compartmentId: w.compartmentId,
      executionTimeOutInSeconds: 60,
      target: { instanceId: w.instanceId },
      content: { source: { sourceType: 'TEXT', text: 'echo hi' }, output },
    },
  });
  return created.doc;
}

const outputMetadata = (commandId: string, instanceId: string) => ({
  'runcommand-command-id': commandId,
  'runcommand-instance-id': instanceId,
  'runcommand-stdout-bytes': '10',
  'runcommand-stderr-bytes': '0',
  'runcommand-exit-code': '0',
});

async function outputObjectsOf(commandId: string): Promise<ExecutionRecord['outputObjects']> {
  return (await readDoc<ExecutionRecord>(w.state, executionKey(commandId, w.instanceId)))?.doc.outputObjects;
}

describe('handleObjectCreated › script-drop trigger', () => {
  it('creates a command for the instance with the object as its source, by the service principal, in the instance compartment', async () => {
    const objectName = `scripts/${w.instanceId}/hello.sh`;
    const outcome = await handleObjectCreated(deps, await upload(TRIGGER_BUCKET, objectName));
    expect(outcome).toMatchObject({ outcome: 'command-created', instanceId: w.instanceId });
    const id = outcome.outcome === 'command-created' ? outcome.instanceAgentCommandId : '';
    const command = (await readDoc<CommandRecord>(w.state, `commands/${id}.json`))?.doc;
    expect(command).toMatchObject({
      compartmentId: w.compartmentId,
      createdBy: `${w.tenancyId}/ocid1.user.oc1..service`,
      displayName: objectName,
      executionTimeOutInSeconds: 3600,
      target: { instanceId: w.instanceId },
      content: {
        source: { sourceType: 'OBJECT_STORAGE_TUPLE', namespaceName: NS, bucketName: TRIGGER_BUCKET, objectName },
        output: { outputType: 'TEXT' },
      },
    });
    expect(publishedOn(w, w.instanceStreamId)).toEqual([expect.objectContaining({ type: 'command.issued', instanceAgentCommandId: id })]);
  });

  it('takes the timeout, display name and output target from opc-meta-*', async () => {
    const event = await upload(TRIGGER_BUCKET, `scripts/${w.instanceId}/job.sh`, {
      'timeout-in-seconds': '120',
      'display-name': 'nightly job',
      'output-bucket': 'job-outputs',
      'output-object': 'nightly/out.log',
    });
    const outcome = await handleObjectCreated(deps, event);
    const id = outcome.outcome === 'command-created' ? outcome.instanceAgentCommandId : '';
    expect((await readDoc<CommandRecord>(w.state, `commands/${id}.json`))?.doc).toMatchObject({
      displayName: 'nightly job',
      executionTimeOutInSeconds: 120,
      content: { output: { outputType: 'OBJECT_STORAGE_TUPLE', namespaceName: NS, bucketName: 'job-outputs', objectName: 'nightly/out.log' } },
    });
  });

  it('creates one command when the same event is delivered twice', async () => {
    const event = await upload(TRIGGER_BUCKET, `scripts/${w.instanceId}/hello.sh`);
    const first = await handleObjectCreated(deps, event);
    const second = await handleObjectCreated(deps, event);
    expect(second).toEqual(first);
    expect(await commandCount()).toBe(1);
  });

  it('creates a new command for a new upload of the same name (a new ETag), even if its event id was seen before', async () => {
    const first = await upload(TRIGGER_BUCKET, `scripts/${w.instanceId}/hello.sh`);
    await handleObjectCreated(deps, first);
    const second = await upload(TRIGGER_BUCKET, `scripts/${w.instanceId}/hello.sh`, { 'display-name': 'v2' });
    await handleObjectCreated(deps, { ...second, eventID: first.eventID });
    expect(await commandCount()).toBe(2);
  });

  it.each([
    ['an unknown instance', 'scripts/ocid1.instance.oc1..nobody/hello.sh', {}, 'RelatedResourceNotAuthorizedOrNotFound', 'ocid1.instance.oc1..nobody'],
    ['a path without an instance OCID', 'scripts/not-an-instance/hello.sh', {}, 'InvalidParameter', "'data.resourceName'"],
    ['a path with nothing after the instance', 'scripts/ocid1.instance.oc1..i1/', {}, 'InvalidParameter', "'data.resourceName'"],
    ['a timeout that is not a number', 'scripts/ocid1.instance.oc1..i1/a.sh', { 'timeout-in-seconds': 'soon' }, 'InvalidParameter', "'opc-meta-timeout-in-seconds'"],
    ['a timeout over a day', 'scripts/ocid1.instance.oc1..i1/a.sh', { 'timeout-in-seconds': '86401' }, 'InvalidParameter', "'opc-meta-timeout-in-seconds'"],
    ['an empty display name', 'scripts/ocid1.instance.oc1..i1/a.sh', { 'display-name': '' }, 'InvalidParameter', "'opc-meta-display-name'"],
    ['an output object without a bucket', 'scripts/ocid1.instance.oc1..i1/a.sh', { 'output-object': 'x' }, 'InvalidParameter', "'opc-meta-output-object'"],
    ['a bad output bucket name', 'scripts/ocid1.instance.oc1..i1/a.sh', { 'output-bucket': 'no/slash' }, 'InvalidParameter', "'opc-meta-output-bucket'"],
    ['an output back under the trigger prefix', 'scripts/ocid1.instance.oc1..i1/a.sh', { 'output-bucket': TRIGGER_BUCKET, 'output-object': 'scripts/x/y' }, 'InvalidParameter', "'opc-meta-output-object'"],
  ])('refuses %s as permanent (4xx), creating nothing and logging the reason', async (_name, objectName, metadata, code, named) => {
    const e = await rejection(handleObjectCreated(deps, await upload(TRIGGER_BUCKET, objectName, metadata)));
    expect(e.code).toBe(code);
    expect(e.status).toBeLessThan(500);
    expect(e.message).toContain(named);
    expect(await commandCount()).toBe(0);
    expect(w.logs).toContainEqual(expect.objectContaining({ level: 'warn', message: 'object event refused', fields: expect.objectContaining({ reason: e.message }) }));
  });

  it('ignores objects outside the prefix, objects gone since the event, and versions overwritten since', async () => {
    expect(await handleObjectCreated(deps, await upload(TRIGGER_BUCKET, 'elsewhere/hello.sh'))).toMatchObject({ outcome: 'ignored' });
    const gone = await upload(TRIGGER_BUCKET, `scripts/${w.instanceId}/gone.sh`);
    await bucket(TRIGGER_BUCKET).delete(`scripts/${w.instanceId}/gone.sh`);
    expect(await handleObjectCreated(deps, gone)).toMatchObject({ outcome: 'ignored', reason: expect.stringMatching(/no longer exists/) });
    const old = await upload(TRIGGER_BUCKET, `scripts/${w.instanceId}/v.sh`);
    await upload(TRIGGER_BUCKET, `scripts/${w.instanceId}/v.sh`);
    expect(await handleObjectCreated(deps, old)).toMatchObject({ outcome: 'ignored', reason: expect.stringMatching(/overwritten/) });
    expect(await commandCount()).toBe(0);
  });

  it('lets a transient failure through (retried by the invoker), and the retry creates the command once', async () => {
    const event = await upload(TRIGGER_BUCKET, `scripts/${w.instanceId}/hello.sh`);
    const realPublish = w.streams.publish.bind(w.streams);
    let failures = 1;
    w.streams.publish = async (...args) => {
      if (failures-- > 0) throw new Error('stream unavailable');
      return realPublish(...args);
    };
    await expect(handleObjectCreated(deps, event)).rejects.not.toBeInstanceOf(ServiceError);
    await handleObjectCreated(deps, event);
    expect(await commandCount()).toBe(1);
    expect(publishedOn(w, w.instanceStreamId)).toHaveLength(1);
  });
});

describe('handleObjectCreated › output objects', () => {
  it('records the uploaded output on its execution, once per ETag', async () => {
    const command = await commandWithOutput({ outputType: 'OBJECT_STORAGE_TUPLE', namespaceName: NS, bucketName: 'outs', objectName: 'run/1.log' });
    const event = await upload('outs', 'run/1.log', outputMetadata(command.id, w.instanceId), 'x'.repeat(10));
    expect(await handleObjectCreated(deps, event)).toMatchObject({ outcome: 'output-recorded', changed: true });
    const recorded = {
      namespaceName: NS,
      bucketName: 'outs',
      objectName: 'run/1.log',
      sizeInBytes: 10,
      etag: event.data.additionalDetails.eTag,
      timeUploaded: new Date(w.nowMs()).toISOString(),
    };
    expect(await outputObjectsOf(command.id)).toEqual([recorded]);
    expect(await handleObjectCreated(deps, event)).toMatchObject({ outcome: 'output-recorded', changed: false });
    expect(await outputObjectsOf(command.id)).toEqual([recorded]);
  });

  it('records the output of an OBJECT_STORAGE_URI target (native or PAR), and even when it lands under the trigger prefix it is never run', async () => {
    const parUri = `https://objectstorage.example.com/p/secret/n/${NS}/b/${TRIGGER_BUCKET}/o/scripts%2F${w.instanceId}%2Fout.log`;
    const command = await commandWithOutput({ outputType: 'OBJECT_STORAGE_URI', outputUri: parUri });
    const event = await upload(TRIGGER_BUCKET, `scripts/${w.instanceId}/out.log`, outputMetadata(command.id, w.instanceId));
    expect(await handleObjectCreated(deps, event)).toMatchObject({ outcome: 'output-recorded', instanceAgentCommandId: command.id });
    expect(await commandCount()).toBe(1);
  });

  it('refuses (4xx) metadata naming an unknown execution, or an execution whose target is another object', async () => {
    const unknown = await upload('outs', 'a.log', outputMetadata('ocid1.instanceagentcommand.oc1..none', w.instanceId));
    expect((await rejection(handleObjectCreated(deps, unknown))).code).toBe('RelatedResourceNotAuthorizedOrNotFound');
    const command = await commandWithOutput({ outputType: 'OBJECT_STORAGE_TUPLE', namespaceName: NS, bucketName: 'outs', objectName: 'mine.log' });
    const other = await upload('outs', 'not-mine.log', outputMetadata(command.id, w.instanceId));
    expect((await rejection(handleObjectCreated(deps, other))).message).toMatch(/not the output target/);
    const bad = await upload('outs', 'b.log', outputMetadata('../etc', w.instanceId));
    expect((await rejection(handleObjectCreated(deps, bad))).message).toContain("'opc-meta-runcommand-command-id'");
    expect(await outputObjectsOf(command.id)).toBeUndefined();
  });

  it('keeps an agent report racing the record: both changes land (compare-and-swap)', async () => {
    const command = await commandWithOutput({ outputType: 'OBJECT_STORAGE_TUPLE', namespaceName: NS, bucketName: 'outs', objectName: 'r.log' });
    const event = await upload('outs', 'r.log', outputMetadata(command.id, w.instanceId));
    const key = executionKey(command.id, w.instanceId);
    // Another writer changes the document between the record's read and write.
    const realPut = w.state.put.bind(w.state);
    let raced = false;
    w.state.put = async (k, body, options) => {
      if (k === key && !raced) {
        raced = true;
        const current = await readDoc<ExecutionRecord>(w.state, key);
        await realPut(key, JSON.stringify({ ...current?.doc, message: 'changed meanwhile' }));
      }
      return realPut(k, body, options);
    };
    await handleObjectCreated(deps, event);
    const doc = (await readDoc<ExecutionRecord>(w.state, key))?.doc;
    expect(doc).toMatchObject({ message: 'changed meanwhile', outputObjects: [expect.objectContaining({ objectName: 'r.log' })] });
  });
});
