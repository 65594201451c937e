/**
 * The instance stream for agent tests: the shared in-memory `MemoryStream` (group cursors, commits, long polls), plus
 * what these tests need on top: an instance that is not registered yet (every call answers 404), injected failures,
 * call counts, and a view of what the agent's group has committed.
 */
import { MemoryStream } from '../../../../shared/adapters/memory/stream';
import {
  StreamNotFoundError,
  type GetMessagesOptions,
  type GetMessagesResult,
  type GroupCursorOptions,
} from '../../../../shared/ports/stream';
import type { InstanceStreamReader } from '../../../../agent/agent';

export class TestStream implements InstanceStreamReader {
  readonly inner = new MemoryStream();
  /** Errors thrown by the next calls, in order. */
  readonly failures: Error[] = [];
  /** While set, every call answers 404 as for an instance whose stream or policy does not exist yet. */
  unregistered = false;
  getMessagesCalls = 0;
  createGroupCursorCalls = 0;
  commitCalls = 0;

  constructor(readonly streamId = 'ocid1.stream.oc1..instance') {
    this.inner.createStream(streamId);
  }

  private check(): void {
    if (this.unregistered) throw new StreamNotFoundError(this.streamId);
    const failure = this.failures.shift();
    if (failure !== undefined) throw failure;
  }

  publishJson(value: unknown): void {
    void this.inner.publish(this.streamId, [{ value: typeof value === 'string' ? value : JSON.stringify(value) }]);
  }

  /** How many messages the group has committed (read through a fresh group cursor, which starts at the commit). */
  async uncommittedCount(groupName: string): Promise<number> {
    const cursor = await this.inner.createGroupCursor(this.streamId, { groupName, instanceName: 'observer', type: 'TRIM_HORIZON' });
    return (await this.inner.getMessages(this.streamId, cursor, { limit: 1000, waitMs: 0 })).messages.length;
  }

  async createGroupCursor(streamId: string, options: GroupCursorOptions): Promise<string> {
    this.createGroupCursorCalls += 1;
    this.check();
    return this.inner.createGroupCursor(streamId, options);
  }

  async getMessages(streamId: string, cursor: string, options: GetMessagesOptions): Promise<GetMessagesResult> {
    this.getMessagesCalls += 1;
    this.check();
    return this.inner.getMessages(streamId, cursor, options);
  }

  async commit(streamId: string, cursor: string): Promise<string> {
    this.commitCalls += 1;
    this.check();
    return this.inner.commit(streamId, cursor);
  }

  close(): void {
    this.inner.close();
  }
}
