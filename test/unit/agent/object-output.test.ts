import fs from 'node:fs';
import type { ExecutionResult } from '../../../agent/executor';
import { ObjectOutputSink, withUploadFailure, type ObjectOutputSinkOptions } from '../../../agent/object-output';
import { ObjectTransferError, type ObjectLocation } from '../../../agent/object-storage';
import { FakeObjectStorage } from './support/fake-object-storage';
import { tempDir } from './support/helpers';

const location: ObjectLocation = { kind: 'native', namespaceName: 'ns', bucketName: 'out', objectName: 'runs/1.log' };
const succeeded: ExecutionResult = { outcome: 'SUCCEEDED', exitCode: 0, text: '', textSha256: '' };

function sinkOptions(storage: FakeObjectStorage, overrides: Partial<ObjectOutputSinkOptions> = {}): ObjectOutputSinkOptions {
  return {
    transfer: storage,
    location,
    workDir: tempDir('spool-'),
    maxOutputBytes: 1024 * 1024,
    commandId: 'ocid1.instanceagentcommand.oc1..c1',
    instanceId: 'ocid1.instance.oc1..i1',
    signal: new AbortController().signal,
    ...overrides,
  };
}

describe('ObjectOutputSink', () => {
  it('spools interleaved stdout and stderr, then uploads stdout followed by stderr with their sizes and the exit code', async () => {
    const storage = new FakeObjectStorage();
    const sink = await ObjectOutputSink.open(sinkOptions(storage));
    await sink.write('stdout', Buffer.from('out-1\n'));
    await sink.write('stderr', Buffer.from('err-1\n'));
    await sink.write('stdout', Buffer.from('out-2\n'));
    await expect(sink.finish({ ...succeeded, outcome: 'FAILED', exitCode: 3 })).resolves.toEqual({ ...succeeded, outcome: 'FAILED', exitCode: 3 });
    const stored = storage.get('ns/out/runs/1.log');
    expect(stored?.body.toString()).toBe('out-1\nout-2\nerr-1\n');
    expect(stored?.metadata).toEqual({
      'runcommand-stdout-bytes': '12',
      'runcommand-stderr-bytes': '6',
      'runcommand-dropped-bytes': '0',
      'runcommand-command-id': 'ocid1.instanceagentcommand.oc1..c1',
      'runcommand-instance-id': 'ocid1.instance.oc1..i1',
      'runcommand-exit-code': '3',
    });
  });

  it('waits for writes still in flight before uploading (the pipes can close before the last chunk is on disk)', async () => {
    const storage = new FakeObjectStorage();
    const sink = await ObjectOutputSink.open(sinkOptions(storage));
    for (let i = 0; i < 50; i += 1) {
      void sink.write('stdout', Buffer.from(`o${i};`));
      void sink.write('stderr', Buffer.from(`e${i};`));
    }
    await sink.finish(succeeded);
    const numbered = (p: string) => Array.from({ length: 50 }, (_, i) => `${p}${i};`).join('');
    expect(storage.get('ns/out/runs/1.log')?.body.toString()).toBe(numbered('o') + numbered('e'));
  });

  it('keeps its spool files out of the working directory the script sees', async () => {
    const options = sinkOptions(new FakeObjectStorage());
    const sink = await ObjectOutputSink.open(options);
    await sink.write('stdout', Buffer.from('x'));
    expect(fs.readdirSync(options.workDir)).toEqual([]);
    await sink.dispose();
  });

  it('uploads an empty object for a script that printed nothing, and `none` as the exit code of a stopped one', async () => {
    const storage = new FakeObjectStorage();
    const sink = await ObjectOutputSink.open(sinkOptions(storage));
    await sink.finish({ ...succeeded, outcome: 'TIMED_OUT', exitCode: null, message: 'timed out' });
    expect(storage.get('ns/out/runs/1.log')).toMatchObject({ body: Buffer.alloc(0), metadata: { 'runcommand-exit-code': 'none', 'runcommand-stdout-bytes': '0' } });
  });

  it('keeps the first maxOutputBytes of both streams together, drops the rest and says so', async () => {
    const storage = new FakeObjectStorage();
    const sink = await ObjectOutputSink.open(sinkOptions(storage, { maxOutputBytes: 10 }));
    await sink.write('stdout', Buffer.from('123456'));
    await sink.write('stderr', Buffer.from('abcdef'));
    await sink.write('stdout', Buffer.from('789'));
    const result = await sink.finish(succeeded);
    expect(result).toMatchObject({ outcome: 'SUCCEEDED', exitCode: 0, message: "The output was larger than the agent's limit of 10 bytes (maxOutputBytes); the last 5 bytes were dropped." });
    expect(storage.get('ns/out/runs/1.log')).toMatchObject({
      body: Buffer.from('123456abcd'),
      metadata: { 'runcommand-stdout-bytes': '6', 'runcommand-stderr-bytes': '4', 'runcommand-dropped-bytes': '5' },
    });
  });

  it('turns SUCCEEDED into FAILED, keeping exit code 0, when the upload fails', async () => {
    const storage = new FakeObjectStorage();
    storage.uploadFailure = new ObjectTransferError('BucketNotFound (404)', 404);
    const sink = await ObjectOutputSink.open(sinkOptions(storage));
    await sink.write('stdout', Buffer.from('done\n'));
    await expect(sink.finish(succeeded)).resolves.toEqual({
      ...succeeded,
      outcome: 'FAILED',
      exitCode: 0,
      message: 'The script exited 0 but its output could not be uploaded to ns/out/runs/1.log: BucketNotFound (404)',
    });
  });

  it('fails the upload when a spool write failed, instead of uploading a hole', async () => {
    const storage = new FakeObjectStorage();
    const sink = await ObjectOutputSink.open(sinkOptions(storage));
    // Fault injection: the spool file's handle goes away under the sink (as a failing disk would make writes fail).
    await (sink as unknown as { spools: { stdout: { handle: fs.promises.FileHandle } } }).spools.stdout.handle.close();
    await expect(sink.write('stdout', Buffer.from('x'))).resolves.toBeUndefined();
    await expect(sink.finish(succeeded)).resolves.toMatchObject({
      outcome: 'FAILED',
      exitCode: 0,
      message: expect.stringMatching(/^The script exited 0 but its output could not be uploaded to ns\/out\/runs\/1.log: saving it to disk failed: /),
    });
    expect(storage.get('ns/out/runs/1.log')).toBeUndefined();
  });
});

describe('withUploadFailure', () => {
  const reason = 'connection failed: socket hang up';

  it('keeps a non-zero exit code FAILED and puts the upload error first', () => {
    expect(withUploadFailure({ ...succeeded, outcome: 'FAILED', exitCode: 137, message: 'The script was killed by signal SIGKILL.' }, location, reason)).toMatchObject({
      outcome: 'FAILED',
      exitCode: 137,
      message: `The script exited 137 but its output could not be uploaded to ns/out/runs/1.log: ${reason} The script was killed by signal SIGKILL.`,
    });
  });

  it('keeps TIMED_OUT and CANCELED (no exit code) and adds the upload error to their message', () => {
    expect(withUploadFailure({ ...succeeded, outcome: 'TIMED_OUT', exitCode: null, message: 'Timed out.' }, location, reason)).toMatchObject({
      outcome: 'TIMED_OUT',
      exitCode: null,
      message: `Timed out. Its output could not be uploaded to ns/out/runs/1.log: ${reason}`,
    });
  });
});
