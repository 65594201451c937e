/**
 * Commands whose script comes from Object Storage and whose output goes there (issue: Object Storage sources and
 * outputs), end to end: buckets and objects made by Oracle's ObjectStorageClient as the admin, commands created with
 * Oracle's ComputeInstanceAgentClient, and the local instance's agent as its own process (`runcommand agent`), which
 * downloads and uploads as its instance through the platform's Object Storage endpoint.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import * as common from 'oci-common';
import type { ComputeInstanceAgentClient, models } from 'oci-computeinstanceagent';
import { ObjectStorageClient } from 'oci-objectstorage';
import { addCompartment } from '../../platform/admin';
import { CLI_BIN, agentCommandClient, startTestPlatform, type TestPlatform } from '../support/platform';
import { runCli, waitFor, type CliProcess } from '../support/processes';

const TERMINAL = ['SUCCEEDED', 'FAILED', 'TIMED_OUT', 'CANCELED'];
const SCRIPT_BUCKET = 'scripts';
const OUTPUT_BUCKET = 'outputs';
const FOREIGN_BUCKET = 'elsewhere-outputs';
const BIG_SCRIPT_OBJECT = 'jobs/run.sh';
/** `seq 1 6700000`: about 52.5 MB of stdout, generated again here to know its sha256. */
const SEQ_END = 6_700_000;

let tp: TestPlatform;
let commands: ComputeInstanceAgentClient;
let objects: ObjectStorageClient;
let namespaceName: string;
let agent: CliProcess;
let bigScript: Buffer;

const sha256 = (data: Buffer | string): string => createHash('sha256').update(data).digest('hex');

/** The agent process's resident set now and at its peak (VmRSS, VmHWM), in MiB. */
function agentMemoryMb(): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${agent.child.pid}/status`, 'utf8');
  const kb = (field: string): number => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1]);
  return { rss: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024 };
}

/**
 * A 1 MiB bash script that is mostly a heredoc bash never reads (it exits first): it prints a known line and the
 * sha256 of itself, so the output proves the whole object arrived.
 */
function makeBigScript(): Buffer {
  const head = '#!/bin/bash\necho "big script ran"\nsha256sum "$0" | cut -d" " -f1\nexit 0\n: <<\'FILLER\'\n';
  const tail = 'FILLER\n';
  const line = `${'filler '.repeat(15)}\n`;
  const fillerBytes = 1024 * 1024 - head.length - tail.length;
  const filler = line.repeat(Math.ceil(fillerBytes / line.length)).slice(0, fillerBytes - 1);
  return Buffer.from(`${head}${filler}\n${tail}`);
}

beforeAll(async () => {
  tp = await startTestPlatform();
  namespaceName = tp.info.namespace;
  commands = agentCommandClient(tp.info.endpoint, tp.info.ociConfigFile);
  objects = new ObjectStorageClient({ authenticationDetailsProvider: new common.ConfigFileAuthenticationDetailsProvider(tp.info.ociConfigFile, 'DEFAULT') });
  objects.endpoint = tp.info.endpoint;
  const elsewhere = await addCompartment(tp.dataDir, 'elsewhere');
  for (const [name, compartmentId] of [
    [SCRIPT_BUCKET, tp.info.compartmentId],
    [OUTPUT_BUCKET, tp.info.compartmentId],
    [FOREIGN_BUCKET, elsewhere],
  ] as const) {
    await objects.createBucket({ namespaceName, createBucketDetails: { name, compartmentId } });
  }
  bigScript = makeBigScript();
  await objects.putObject({ namespaceName, bucketName: SCRIPT_BUCKET, objectName: BIG_SCRIPT_OBJECT, putObjectBody: bigScript, contentLength: bigScript.length });
  agent = runCli(CLI_BIN, ['agent', '--config', tp.info.localAgentConfigFile]);
}, 60_000);

afterAll(async () => {
  if (agent !== undefined && agent.child.exitCode === null && agent.child.signalCode === null) {
    agent.child.kill('SIGTERM');
    setTimeout(() => agent.child.kill('SIGTERM'), 200).unref();
    await agent.exited;
  }
  await tp?.stop();
});

type Source = models.InstanceAgentCommandSourceDetails;
type Output = models.InstanceAgentCommandOutputDetails;

const tupleSource = (objectName: string): Source =>
  ({ sourceType: 'OBJECT_STORAGE_TUPLE', namespaceName, bucketName: SCRIPT_BUCKET, objectName }) as models.InstanceAgentCommandSourceViaObjectStorageTupleDetails;
const textSource = (text: string, textSha256?: string): Source =>
  ({ sourceType: 'TEXT', text, ...(textSha256 !== undefined ? { textSha256 } : {}) }) as models.InstanceAgentCommandSourceViaTextDetails;
const tupleOutput = (bucketName: string, objectName: string): Output =>
  ({ outputType: 'OBJECT_STORAGE_TUPLE', namespaceName, bucketName, objectName }) as models.InstanceAgentCommandOutputViaObjectStorageTupleDetails;

async function run(source: Source, options: { output?: Output; commandString?: string } = {}): Promise<models.InstanceAgentCommandExecution> {
  const created = await commands.createInstanceAgentCommand({
    createInstanceAgentCommandDetails: {
      compartmentId: tp.info.compartmentId,
      executionTimeOutInSeconds: 60,
      displayName: 'object storage e2e',
      target: { instanceId: tp.info.localInstanceId },
      content: {
        source,
        ...(options.output !== undefined ? { output: options.output } : {}),
        ...(options.commandString !== undefined ? { commandString: options.commandString } : {}),
      } as models.InstanceAgentCommandContent,
    },
  });
  const id = created.instanceAgentCommand.id;
  return waitFor(
    `command ${id} to end`,
    async () => {
      const { instanceAgentCommandExecution: e } = await commands.getInstanceAgentCommandExecution({ instanceAgentCommandId: id, instanceId: tp.info.localInstanceId });
      return TERMINAL.includes(e.lifecycleState) ? e : undefined;
    },
    30_000,
    50,
  );
}

const textOf = (e: models.InstanceAgentCommandExecution): string | undefined => (e.content as models.InstanceAgentCommandExecutionOutputViaTextDetails).text;

function parUri(accessUri: string): string {
  return `${tp.info.endpoint}${accessUri}`;
}

async function createPar(bucketName: string, objectName: string, accessType: string): Promise<{ uri: string; id: string }> {
  const { preauthenticatedRequest: par } = await objects.createPreauthenticatedRequest({
    namespaceName,
    bucketName,
    createPreauthenticatedRequestDetails: { name: `e2e-${objectName}`, objectName, accessType: accessType as never, timeExpires: new Date(Date.now() + 3_600_000) },
  });
  return { uri: parUri(par.accessUri), id: par.id };
}

describe('scripts from Object Storage', () => {
  const expectedText = (): string => `big script ran\n${sha256(bigScript)}\n`;

  it('runs a 1 MB script by tuple', async () => {
    const done = await run(tupleSource(BIG_SCRIPT_OBJECT));
    expect(done).toMatchObject({ lifecycleState: 'SUCCEEDED', content: { outputType: 'TEXT', exitCode: 0 } });
    expect(textOf(done)).toBe(expectedText());
  });

  it('runs it by native URI, saved under its base name for the commandString', async () => {
    const sourceUri = `${tp.info.endpoint}/n/${namespaceName}/b/${SCRIPT_BUCKET}/o/${encodeURIComponent(BIG_SCRIPT_OBJECT)}`;
    const done = await run({ sourceType: 'OBJECT_STORAGE_URI', sourceUri } as models.InstanceAgentCommandSourceViaObjectStorageUriDetails, { commandString: 'bash run.sh' });
    expect(done.lifecycleState).toBe('SUCCEEDED');
    expect(textOf(done)).toBe(expectedText());
  });

  it('runs it by PAR URI, and fails with the cause once the PAR is gone', async () => {
    const par = await createPar(SCRIPT_BUCKET, BIG_SCRIPT_OBJECT, 'ObjectRead');
    const source = { sourceType: 'OBJECT_STORAGE_URI', sourceUri: par.uri } as models.InstanceAgentCommandSourceViaObjectStorageUriDetails;
    const done = await run(source);
    expect(done.lifecycleState).toBe('SUCCEEDED');
    expect(textOf(done)).toBe(expectedText());

    await objects.deletePreauthenticatedRequest({ namespaceName, bucketName: SCRIPT_BUCKET, parId: par.id });
    const gone = await run(source);
    expect(gone).toMatchObject({ lifecycleState: 'FAILED', content: { exitCode: null } });
    expect(gone.content.message).toMatch(new RegExp(`^Could not download the script from ${namespaceName}/${SCRIPT_BUCKET}/jobs/run.sh: NotAuthorizedOrNotFound \\(404\\)`));
  });

  it('fails a missing source object with a message naming it, without running anything', async () => {
    const done = await run(tupleSource('jobs/missing.sh'));
    expect(done).toMatchObject({ lifecycleState: 'FAILED', content: { outputType: 'TEXT', exitCode: null } });
    expect(done.content.message).toMatch(new RegExp(`^Could not download the script from ${namespaceName}/${SCRIPT_BUCKET}/jobs/missing.sh: ObjectNotFound \\(404\\)`));
  });

  it('fails a TEXT script whose textSha256 is wrong, without running it', async () => {
    const marker = path.join(tp.dataDir, 'sha-mismatch-ran');
    const done = await run(textSource(`touch ${marker}`, sha256('another script')));
    expect(done).toMatchObject({ lifecycleState: 'FAILED', content: { exitCode: null } });
    expect(done.content.message).toMatch(/does not match its textSha256/);
    expect(existsSync(marker)).toBe(false);
  });
});

/** stdout of `seq 1 SEQ_END`, made again in chunks: its byte length and sha256. */
function expectedSeq(): { bytes: number; sha256: string } {
  const hash = createHash('sha256');
  let bytes = 0;
  for (let start = 1; start <= SEQ_END; start += 100_000) {
    let chunk = '';
    for (let n = start; n < start + 100_000 && n <= SEQ_END; n += 1) chunk += `${n}\n`;
    hash.update(chunk);
    bytes += chunk.length;
  }
  return { bytes, sha256: hash.digest('hex') };
}

/** Streams the object: its metadata, the sha256 of its first `splitAt` bytes, and the rest as text. */
async function readOutputObject(bucketName: string, objectName: string): Promise<{ metadata: Record<string, string>; head: { bytes: number; sha256: string }; rest: string }> {
  const response = await objects.getObject({ namespaceName, bucketName, objectName });
  const metadata = response.opcMeta ?? {};
  const splitAt = Number(metadata['opc-meta-runcommand-stdout-bytes']);
  const hash = createHash('sha256');
  let seen = 0;
  const rest: Buffer[] = [];
  for await (const raw of Readable.fromWeb(response.value as WebReadableStream)) {
    const chunk = Buffer.from(raw as Uint8Array);
    const inHead = Math.max(0, Math.min(chunk.length, splitAt - seen));
    hash.update(chunk.subarray(0, inHead));
    if (inHead < chunk.length) rest.push(chunk.subarray(inHead));
    seen += chunk.length;
  }
  return { metadata, head: { bytes: Math.min(seen, splitAt), sha256: hash.digest('hex') }, rest: Buffer.concat(rest).toString('utf8') };
}

describe('outputs to Object Storage', () => {
  it('uploads 50 MB of output byte-exact, stdout then stderr, with the agent’s memory bounded', async () => {
    const objectName = 'runs/seq.out';
    const before = agentMemoryMb();
    const done = await run(textSource(`seq 1 ${SEQ_END}; echo "done on stderr" >&2`), { output: tupleOutput(OUTPUT_BUCKET, objectName) });
    expect(done).toMatchObject({
      lifecycleState: 'SUCCEEDED',
      content: { outputType: 'OBJECT_STORAGE_TUPLE', namespaceName, bucketName: OUTPUT_BUCKET, objectName, exitCode: 0 },
    });
    expect((done.content as { text?: string }).text).toBeUndefined();

    const expected = expectedSeq();
    expect(expected.bytes).toBeGreaterThan(50 * 1024 * 1024);
    const stored = await readOutputObject(OUTPUT_BUCKET, objectName);
    expect(stored.metadata).toMatchObject({
      'opc-meta-runcommand-stdout-bytes': String(expected.bytes),
      'opc-meta-runcommand-stderr-bytes': '15',
      'opc-meta-runcommand-exit-code': '0',
      'opc-meta-runcommand-command-id': done.instanceAgentCommandId,
      'opc-meta-runcommand-instance-id': tp.info.localInstanceId,
    });
    expect(stored.head).toEqual(expected);
    expect(stored.rest).toBe('done on stderr\n');

    // Spooling and uploading 50 MiB raised the agent's peak resident set (VmHWM) by less than the output's size, so
    // it never held the output. Not an absolute 100 MB: the idle agent already peaks near 99 MB while starting, and
    // V8 collects spent I/O buffers lazily (~30 MB of them here); an agent holding the output would grow by 50+.
    const after = agentMemoryMb();
    expect(before.rss).toBeGreaterThan(0);
    expect(after.peak - before.rss).toBeLessThan(48);
  }, 45_000);

  it('uploads to a PAR URI with a plain PUT', async () => {
    const par = await createPar(OUTPUT_BUCKET, 'runs/by-par.out', 'ObjectWrite');
    const done = await run(textSource('echo to the par; exit 5'), { output: { outputType: 'OBJECT_STORAGE_URI', outputUri: par.uri } as models.InstanceAgentCommandOutputViaObjectStorageUriDetails });
    expect(done).toMatchObject({ lifecycleState: 'FAILED', content: { outputType: 'OBJECT_STORAGE_URI', outputUri: par.uri, exitCode: 5 } });
    expect(done.content.message).toBeUndefined();
    const stored = await readOutputObject(OUTPUT_BUCKET, 'runs/by-par.out');
    expect(stored.metadata).toMatchObject({ 'opc-meta-runcommand-stdout-bytes': '11', 'opc-meta-runcommand-exit-code': '5' });
    expect(stored.head).toEqual({ bytes: 11, sha256: sha256('to the par\n') });
    expect(stored.rest).toBe('');
  });

  it('never reports SUCCEEDED when the instance may not write the output bucket: FAILED with the exit code and the cause', async () => {
    const done = await run(textSource('echo fine'), { output: tupleOutput(FOREIGN_BUCKET, 'runs/denied.out') });
    expect(done).toMatchObject({ lifecycleState: 'FAILED', content: { outputType: 'OBJECT_STORAGE_TUPLE', bucketName: FOREIGN_BUCKET, exitCode: 0 } });
    expect(done.content.message).toMatch(
      new RegExp(`^The script exited 0 but its output could not be uploaded to ${namespaceName}/${FOREIGN_BUCKET}/runs/denied.out: BucketNotFound \\(404\\)`),
    );
  });
});
