/**
 * The agent's reader of its instance stream: the consumer side of the OCI Streaming data plane (API 20180418:
 * CreateGroupCursor, CreateCursor, GetMessages, ConsumerCommit, ConsumerHeartbeat), signed as the instance and sent
 * over `SignedHttpClient`. The agent itself uses the group cursor, GetMessages and the commit.
 *
 * The same requests go to OCI Streaming and to the platform's endpoint; only the endpoint changes. The agent does
 * not load the OCI SDK for them: oci-common and oci-streaming add about 16 MB to an idle agent (215 modules, measured
 * with `require` and VmRSS), where an agent on every host should cost close to a bare Node process. `OciStream` (the
 * SDK adapter the functions use) and this reader pass the same contract suite.
 *
 * GetMessages carries the long-poll header (`LONG_POLL_HEADER`), which OCI ignores (it answers at once, so the
 * agent paces its own polls) and the platform honours.
 */
import { streamErrorOf } from '../shared/adapters/oci/sdk-errors';
import { LONG_POLL_HEADER, MAX_GET_LIMIT, MAX_LONG_POLL_MS } from '../shared/api/streaming';
import { HttpTransportError, SignedHttpClient, parseErrorBody, type HttpAnswer, type RequestSigner } from './http';
import {
  StreamError,
  type GetMessagesOptions,
  type GetMessagesResult,
  type CursorOptions,
  type GroupCursorOptions,
  type StreamConsumer,
  type StreamMessage,
} from '../shared/ports/stream';

/** A GetMessages answer holds at most `limit` messages of ≤ 1 MB each, base64 encoded; this caps what is buffered. */
const MAX_MESSAGES_ANSWER_BYTES = 64 * 1024 * 1024;
const DEFAULT_REQUEST_TIMEOUT_MS = 60_000;

export interface AgentStreamClientOptions {
  /** The stream's messages endpoint, e.g. `https://cell-1.streaming.<region>.oci.oraclecloud.com`. */
  endpoint: string;
  sign: RequestSigner;
  /** Per request; a long poll adds its wait on top. */
  requestTimeoutMs?: number;
  userAgent?: string;
}

interface WireMessage {
  stream?: unknown;
  partition?: unknown;
  key?: unknown;
  value?: unknown;
  offset?: unknown;
  timestamp?: unknown;
}

export class AgentStreamClient implements StreamConsumer {
  private readonly base: string;
  private readonly http: SignedHttpClient;
  private readonly requestTimeoutMs: number;

  constructor(options: AgentStreamClientOptions) {
    this.base = `${options.endpoint.replace(/\/+$/, '').replace(/\/20180418$/, '')}/20180418/streams/`;
    this.requestTimeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.http = new SignedHttpClient({
      sign: options.sign,
      timeoutMs: this.requestTimeoutMs,
      maxAnswerBytes: MAX_MESSAGES_ANSWER_BYTES,
      ...(options.userAgent !== undefined ? { userAgent: options.userAgent } : {}),
    });
  }

  async createGroupCursor(streamId: string, options: GroupCursorOptions): Promise<string> {
    const body = JSON.stringify({
      groupName: options.groupName,
      instanceName: options.instanceName,
      type: options.type,
      commitOnGet: false,
      ...(options.timeoutMs !== undefined ? { timeoutInMs: options.timeoutMs } : {}),
    });
    const answer = await this.call(streamId, 'POST', 'groupCursors', { body });
    return cursorValue(streamId, answer);
  }

  async createCursor(streamId: string, options: CursorOptions): Promise<string> {
    const body = JSON.stringify({
      partition: options.partition,
      type: options.type,
      ...(options.offset !== undefined ? { offset: options.offset } : {}),
      ...(options.timeMs !== undefined ? { time: new Date(options.timeMs).toISOString() } : {}),
    });
    const answer = await this.call(streamId, 'POST', 'cursors', { body });
    return cursorValue(streamId, answer);
  }

  async getMessages(streamId: string, cursor: string, options: GetMessagesOptions): Promise<GetMessagesResult> {
    options.signal?.throwIfAborted();
    const longPollMs = Math.max(0, Math.min(Math.floor(options.waitMs ?? 0), MAX_LONG_POLL_MS));
    const limit = Math.max(1, Math.min(Math.floor(options.limit), MAX_GET_LIMIT));
    const answer = await this.call(streamId, 'GET', `messages?cursor=${encodeURIComponent(cursor)}&limit=${limit}`, {
      ...(longPollMs > 0 ? { headers: { [LONG_POLL_HEADER]: String(longPollMs) } } : {}),
      ...(options.signal !== undefined ? { signal: options.signal } : {}),
      timeoutMs: this.requestTimeoutMs + longPollMs,
    });
    const next = answer.headers['opc-next-cursor'];
    if (typeof next !== 'string' || next === '') throw new StreamError(`Stream ${streamId}: getMessages answered without opc-next-cursor`);
    const items = parseJson(streamId, answer.text);
    if (!Array.isArray(items)) throw new StreamError(`Stream ${streamId}: getMessages answered something other than a list`);
    return { messages: items.map((item) => fromWireMessage(streamId, item as WireMessage)), nextCursor: next };
  }

  async commit(streamId: string, cursor: string): Promise<string> {
    const answer = await this.call(streamId, 'POST', `commit?cursor=${encodeURIComponent(cursor)}`, {});
    return cursorValue(streamId, answer);
  }

  async heartbeat(streamId: string, cursor: string): Promise<string> {
    const answer = await this.call(streamId, 'POST', `heartbeat?cursor=${encodeURIComponent(cursor)}`, {});
    return cursorValue(streamId, answer);
  }

  /** Closes idle connections. */
  close(): void {
    this.http.close();
  }

  /** One request; a non-2xx answer or a transport failure becomes the `Stream` port's error. */
  private async call(
    streamId: string,
    method: string,
    tail: string,
    options: { body?: string; headers?: Record<string, string>; signal?: AbortSignal; timeoutMs?: number },
  ): Promise<HttpAnswer> {
    let answer: HttpAnswer;
    try {
      answer = await this.http.request(method, new URL(`${this.base}${encodeURIComponent(streamId)}/${tail}`), options);
    } catch (err) {
      if (options.signal?.aborted) throw options.signal.reason;
      if (err instanceof HttpTransportError) throw streamErrorOf(streamId, { kind: 'transport', message: err.message }, err);
      throw err;
    }
    if (answer.status >= 200 && answer.status < 300) return answer;
    throw streamErrorFor(streamId, answer);
  }
}

/** A non-2xx answer, with the fields OCI's error bodies carry (the `cause` of the `Stream` error thrown for it). */
export class StreamServiceError extends Error {
  constructor(
    readonly statusCode: number,
    readonly serviceCode: string,
    message: string,
  ) {
    super(message);
    this.name = 'StreamServiceError';
  }
}

/** The SDK adapter's mapping (`streamErrorOf`), from the answer itself. */
export function streamErrorFor(streamId: string, answer: HttpAnswer): StreamError {
  const { code = 'None', message = '' } = parseErrorBody(answer.text);
  const failure = { kind: 'service', statusCode: answer.status, serviceCode: code, message } as const;
  return streamErrorOf(streamId, failure, new StreamServiceError(answer.status, code, message));
}

function parseJson(streamId: string, text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new StreamError(`Stream ${streamId}: the answer is not JSON`);
  }
}

function cursorValue(streamId: string, answer: HttpAnswer): string {
  const parsed = parseJson(streamId, answer.text) as { value?: unknown } | null;
  if (parsed === null || typeof parsed !== 'object' || typeof parsed.value !== 'string' || parsed.value === '') {
    throw new StreamError(`Stream ${streamId}: the answer holds no cursor`);
  }
  return parsed.value;
}

function fromWireMessage(streamId: string, m: WireMessage): StreamMessage {
  if (m === null || typeof m !== 'object' || typeof m.partition !== 'string' || typeof m.offset !== 'number') {
    throw new StreamError(`Stream ${streamId}: getMessages answered a message without partition or offset`);
  }
  return {
    stream: typeof m.stream === 'string' ? m.stream : streamId,
    partition: m.partition,
    key: typeof m.key === 'string' ? Buffer.from(m.key, 'base64').toString('utf8') : null,
    value: Buffer.from(typeof m.value === 'string' ? m.value : '', 'base64'),
    offset: m.offset,
    timestamp: typeof m.timestamp === 'string' ? m.timestamp : '',
  };
}
