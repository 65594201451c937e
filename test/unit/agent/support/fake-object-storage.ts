/** Object Storage in memory for agent tests: objects by `<ns>/<bucket>/<object>`, injected failures, every upload. */
import { Readable } from 'node:stream';
import { describeLocation, ObjectTransferError, type ObjectLocation, type ObjectTransfer, type OpenedObject, type UploadRequest } from '../../../../agent/object-storage';

export interface StoredTestObject {
  body: Buffer;
  metadata: Record<string, string>;
}

export class FakeObjectStorage implements ObjectTransfer {
  readonly objects = new Map<string, StoredTestObject>();
  readonly opened: ObjectLocation[] = [];
  /** Thrown by every upload while set. */
  uploadFailure: ObjectTransferError | undefined;
  /** Send the content length up front (a server may not). */
  announceLength = true;

  put(key: string, body: Buffer | string): void {
    this.objects.set(key, { body: Buffer.from(body), metadata: {} });
  }

  get(key: string): StoredTestObject | undefined {
    return this.objects.get(key);
  }

  async open(location: ObjectLocation, signal: AbortSignal): Promise<OpenedObject> {
    signal.throwIfAborted();
    this.opened.push(location);
    const found = this.objects.get(describeLocation(location));
    if (found === undefined) throw new ObjectTransferError('ObjectNotFound (404)', 404);
    // Small chunks, so a size limit is met mid-stream.
    const chunks: Buffer[] = [];
    for (let offset = 0; offset < found.body.length; offset += 1024) chunks.push(found.body.subarray(offset, offset + 1024));
    return { body: Readable.from(chunks), ...(this.announceLength ? { contentLength: found.body.length } : {}) };
  }

  async upload(location: ObjectLocation, request: UploadRequest, signal: AbortSignal): Promise<void> {
    signal.throwIfAborted();
    const chunks: Buffer[] = [];
    for await (const chunk of request.body) chunks.push(chunk as Buffer);
    if (this.uploadFailure !== undefined) throw this.uploadFailure;
    const body = Buffer.concat(chunks);
    if (body.length !== request.contentLength) throw new Error(`content-length ${request.contentLength} but ${body.length} bytes were sent`);
    this.objects.set(describeLocation(location), { body, metadata: request.metadata });
  }
}
