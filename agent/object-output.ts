/**
 * An Object Storage output (agent/README.md, "Object Storage outputs"): stdout and stderr are spooled to two files in
 * the execution's working directory as they arrive, and once the script has ended they are uploaded as ONE object,
 * streamed from disk with its length known: the stdout bytes, then the stderr bytes, with `opc-meta-runcommand-*`
 * metadata saying where one ends. Memory stays bounded whatever the output size; past `maxOutputBytes` (both streams
 * together) output is dropped and the result's message says so.
 *
 * An output that could not be uploaded never lets the execution report SUCCEEDED: it is FAILED with the script's exit
 * code and a message naming the upload error.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import type { ExecutionResult } from './executor';
import { describeLocation, type ObjectLocation, type ObjectTransfer } from './object-storage';
import type { OutputSink, OutputStreamName } from './output';

/** The `opc-meta-` names (without the prefix) of an output object's metadata. */
export const OutputMetadata = {
  stdoutBytes: 'runcommand-stdout-bytes',
  stderrBytes: 'runcommand-stderr-bytes',
  droppedBytes: 'runcommand-dropped-bytes',
  commandId: 'runcommand-command-id',
  instanceId: 'runcommand-instance-id',
  /** `none` when the agent stopped the script (timeout, cancel) and it chose no exit code. */
  exitCode: 'runcommand-exit-code',
} as const;

const SPOOL_FILES: Record<OutputStreamName, string> = { stdout: '.runcommand-stdout', stderr: '.runcommand-stderr' };

export interface ObjectOutputSinkOptions {
  transfer: Pick<ObjectTransfer, 'upload'>;
  location: ObjectLocation;
  /** The execution's working directory (it exists; the spool files are made in it). */
  workDir: string;
  /** Cap on stdout + stderr kept; 0 uploads an empty object. */
  maxOutputBytes: number;
  commandId: string;
  instanceId: string;
  /** Aborts the upload (the agent is stopping and killing what runs). */
  signal: AbortSignal;
}

interface Spool {
  handle: fs.promises.FileHandle;
  bytes: number;
}

/** `message` and `addition`, as one message. */
function appendMessage(message: string | undefined, addition: string): string {
  return message === undefined || message === '' ? addition : `${message} ${addition}`;
}

/** The result once its output could not be uploaded: never SUCCEEDED, the exit code kept, the error named. */
export function withUploadFailure(result: ExecutionResult, location: ObjectLocation, reason: string): ExecutionResult {
  const where = describeLocation(location);
  if (result.exitCode === null) {
    return { ...result, message: appendMessage(result.message, `Its output could not be uploaded to ${where}: ${reason}`) };
  }
  const failure = `The script exited ${result.exitCode} but its output could not be uploaded to ${where}: ${reason}`;
  return {
    ...result,
    outcome: result.outcome === 'SUCCEEDED' ? 'FAILED' : result.outcome,
    message: result.message === undefined || result.message === '' ? failure : `${failure} ${result.message}`,
  };
}

export class ObjectOutputSink implements OutputSink {
  private spoolError: string | undefined;
  /** Bytes taken for spooling so far (both streams), counted when a write is accepted, not when it lands. */
  private accepted = 0;
  private dropped = 0;
  private disposed = false;
  /**
   * Each stream's last write: writes to one file go in order, and `finish` waits for them (the script's pipes can
   * end while the last chunk is still being written).
   */
  private readonly queues: Record<OutputStreamName, Promise<void>> = { stdout: Promise.resolve(), stderr: Promise.resolve() };

  private constructor(
    private readonly options: ObjectOutputSinkOptions,
    private readonly spools: Record<OutputStreamName, Spool>,
  ) {}

  /**
   * Creates the two spool files and unlinks them at once: the open handles keep them, the script (which runs in the
   * same directory, maybe as another user) can neither see nor swap them, and the space is freed however the agent ends.
   */
  static async open(options: ObjectOutputSinkOptions): Promise<ObjectOutputSink> {
    const opened: fs.promises.FileHandle[] = [];
    try {
      for (const name of ['stdout', 'stderr'] as const) {
        const file = path.join(options.workDir, SPOOL_FILES[name]);
        opened.push(await fs.promises.open(file, 'wx+', 0o600));
        await fs.promises.unlink(file);
      }
    } catch (err) {
      await Promise.all(opened.map((h) => h.close()));
      throw err;
    }
    const [stdout, stderr] = opened as [fs.promises.FileHandle, fs.promises.FileHandle];
    return new ObjectOutputSink(options, { stdout: { handle: stdout, bytes: 0 }, stderr: { handle: stderr, bytes: 0 } });
  }

  get stdoutBytes(): number {
    return this.spools.stdout.bytes;
  }

  get stderrBytes(): number {
    return this.spools.stderr.bytes;
  }

  /** Never rejects: a failed spool write is remembered and fails the upload instead. */
  write(stream: OutputStreamName, chunk: Buffer): Promise<void> {
    const room = Math.max(0, this.options.maxOutputBytes - this.accepted);
    const kept = chunk.length <= room ? chunk : chunk.subarray(0, room);
    this.accepted += kept.length;
    this.dropped += chunk.length - kept.length;
    const written = this.queues[stream].then(() => this.spool(stream, kept));
    this.queues[stream] = written;
    return written;
  }

  private async spool(stream: OutputStreamName, kept: Buffer): Promise<void> {
    if (this.spoolError !== undefined || this.disposed || kept.length === 0) return;
    const spool = this.spools[stream];
    try {
      for (let offset = 0; offset < kept.length; ) {
        const { bytesWritten } = await spool.handle.write(kept, offset, kept.length - offset, spool.bytes);
        offset += bytesWritten;
        spool.bytes += bytesWritten;
      }
    } catch (err) {
      this.spoolError = (err as Error).message;
    }
  }

  async finish(result: ExecutionResult): Promise<ExecutionResult> {
    await Promise.all([this.queues.stdout, this.queues.stderr]);
    let final = result;
    if (this.dropped > 0) {
      final = {
        ...final,
        message: appendMessage(
          final.message,
          `The output was larger than the agent's limit of ${this.options.maxOutputBytes} bytes (maxOutputBytes); the last ${this.dropped} bytes were dropped.`,
        ),
      };
    }
    try {
      if (this.spoolError !== undefined) return withUploadFailure(final, this.options.location, `saving it to disk failed: ${this.spoolError}`);
      await this.options.transfer.upload(
        this.options.location,
        { body: this.body(), contentLength: this.stdoutBytes + this.stderrBytes, metadata: this.metadata(result.exitCode) },
        this.options.signal,
      );
      return final;
    } catch (err) {
      return withUploadFailure(final, this.options.location, (err as Error).message);
    } finally {
      await this.dispose();
    }
  }

  /** Closes the spool files without uploading (the script never got to run). Idempotent. */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await Promise.allSettled([this.spools.stdout.handle.close(), this.spools.stderr.handle.close()]);
  }

  private metadata(exitCode: number | null): Record<string, string> {
    return {
      [OutputMetadata.stdoutBytes]: String(this.stdoutBytes),
      [OutputMetadata.stderrBytes]: String(this.stderrBytes),
      [OutputMetadata.droppedBytes]: String(this.dropped),
      [OutputMetadata.commandId]: this.options.commandId,
      [OutputMetadata.instanceId]: this.options.instanceId,
      [OutputMetadata.exitCode]: exitCode === null ? 'none' : String(exitCode),
    };
  }

  /** stdout then stderr, read back from the spool files by position. */
  private body(): Readable {
    const parts = [this.spools.stdout, this.spools.stderr];
    async function* chunks(): AsyncGenerator<Buffer> {
      for (const { handle, bytes } of parts) {
        if (bytes === 0) continue;
        for await (const chunk of handle.createReadStream({ start: 0, end: bytes - 1, autoClose: false })) yield chunk as Buffer;
      }
    }
    return Readable.from(chunks(), { objectMode: false });
  }
}
