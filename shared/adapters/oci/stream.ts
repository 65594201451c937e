import { AsyncLocalStorage } from 'node:async_hooks';
import * as common from 'oci-common';
import httpModule from 'node:http';
import { requestSignerFor } from './key-signer';
import { NodeHttpClient } from './node-http-client';
import { StreamClient, models } from 'oci-streaming';
import {
  PublishFailedError,
  StreamError,
  type CursorOptions,
  type GetMessagesOptions,
  type GetMessagesResult,
  type GroupCursorOptions,
  type PublishInput,
  type PublishedEntry,
  type Stream,
  type StreamMessage,
} from '../../ports/stream';
import type { AuthProvider } from './auth';
import { LONG_POLL_HEADER, MAX_GET_LIMIT, MAX_LONG_POLL_MS } from '../../api/streaming';
import { classifySdkFailure, queryValue, streamErrorOf } from './sdk-errors';

/** Per attempt, when the configuration names none. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 60_000;

interface RequestContext {
  longPollMs: number;
  signal?: AbortSignal;
}

/** Carries the current getMessages call's wait and signal down to the HTTP layer, past the SDK's request models. */
const requestContext = new AsyncLocalStorage<RequestContext>();

/**
 * Signs and sends like the SDK's `FetchHttpClient` (over node:http, `node-http-client.ts`), plus: the long-poll header
 * on GET .../messages, the caller's abort signal and a per-attempt timeout; a short-lived client is made per attempt
 * to carry them. No circuit breaker, as oci-streaming uses none on the data plane by default either.
 */
export class LongPollHttpClient implements common.HttpClient {
  /** One keep-alive pool for this client's calls: a long poll's connection is reused by the next call. */
  private readonly agent = new httpModule.Agent({ keepAlive: true, maxSockets: 16 });

  constructor(
    private readonly signer: common.RequestSigner,
    private readonly requestTimeoutMs: number = DEFAULT_REQUEST_TIMEOUT_MS,
  ) {}

  async send(request: common.HttpRequest, ...rest: SendRest): Promise<Response> {
    const context = requestContext.getStore();
    const longPollMs = context !== undefined && isGetMessages(request) ? context.longPollMs : 0;
    if (longPollMs > 0) request.headers.set(LONG_POLL_HEADER, String(longPollMs));
    else request.headers.delete(LONG_POLL_HEADER);
    const timeout = AbortSignal.timeout(this.requestTimeoutMs + longPollMs);
    const signal = context?.signal ? AbortSignal.any([context.signal, timeout]) : timeout;
    const http = new NodeHttpClient({ signer: this.signer, signal, agent: this.agent, idleTimeoutMs: this.requestTimeoutMs + longPollMs });
    try {
      return await http.send(request, rest[0]);
    } catch (err) {
      // The SDK retries client-side errors unless told otherwise; a caller's abort must end the call.
      if (context?.signal?.aborted && typeof err === 'object' && err !== null) {
        Object.assign(err, { shouldBeRetried: false });
      }
      throw err;
    }
  }
}

type SendRest = Parameters<common.HttpClient['send']> extends [unknown, ...infer R] ? R : never;

function isGetMessages(request: common.HttpRequest): boolean {
  return request.method === 'GET' && /\/streams\/[^/]+\/messages$/.test(new URL(request.uri).pathname);
}

export interface StreamClientConfig {
  /** The stream's messages endpoint, e.g. `http://127.0.0.1:PORT`; the SDK appends `/20180418`. */
  endpoint: string;
  authProvider: AuthProvider;
  /** Retries (other than putMessages'); a `circuitBreaker` here is not used. */
  clientConfiguration?: common.ClientConfiguration;
  /** Per attempt; a long poll adds its wait on top. */
  requestTimeoutMs?: number;
}

/** A `StreamClient` whose requests go through `LongPollHttpClient`; clients made otherwise never send the header. */
export function createStreamClient(config: StreamClientConfig): StreamClient {
  const httpClient = new LongPollHttpClient(
    requestSignerFor(config.authProvider),
    config.requestTimeoutMs,
  );
  const client = new StreamClient({ httpClient }, config.clientConfiguration);
  client.endpoint = bareEndpoint(config.endpoint);
  return client;
}

/** Tolerates a trailing slash or an already appended API version. */
function bareEndpoint(endpoint: string): string {
  return endpoint.replace(/\/+$/, '').replace(/\/20180418$/, '');
}

export interface OciStreamOptions extends StreamClientConfig {
  /** Cap on the wait requested with the long-poll header; 0 never sends it. */
  longPollHeaderMs?: number;
  /** Built by `createStreamClient` unless given (give one made by it to keep the long poll). */
  client?: StreamClient;
}

/**
 * `Stream` on OCI Streaming's data plane (or the platform's endpoint).
 *
 * `waitMs` becomes the long-poll header; OCI answers at once regardless, so callers must pace their own polling.
 * `putMessages` is never retried by the adapter (pinned to no retries even when the client retries other calls): a
 * retried publish whose first attempt landed would duplicate messages.
 */
export class OciStream implements Stream {
  private readonly client: StreamClient;
  private readonly longPollHeaderMs: number;

  constructor(options: OciStreamOptions) {
    this.client = options.client ?? createStreamClient(options);
    if (options.client) this.client.endpoint = bareEndpoint(options.endpoint);
    this.longPollHeaderMs = options.longPollHeaderMs ?? MAX_LONG_POLL_MS;
  }

  async publish(streamId: string, messages: PublishInput[]): Promise<PublishedEntry[]> {
    const response = await withStreamErrors(streamId, () =>
      this.client.putMessages({
        streamId,
        putMessagesDetails: { messages: messages.map(toWireMessage) },
        retryConfiguration: common.NoRetryConfigurationDetails,
      }),
    );
    const entries = response.putMessagesResult.entries;
    if (entries.length !== messages.length) {
      throw new StreamError(`putMessages answered ${entries.length} entries for ${messages.length} messages`);
    }
    const failures: Array<{ index: number; error: string }> = [];
    const stored = entries.map((entry, index): PublishedEntry | undefined => {
      if (entry.error !== undefined && entry.error !== null) {
        failures.push({ index, error: entry.errorMessage ? `${entry.error}: ${entry.errorMessage}` : entry.error });
        return undefined;
      }
      return { partition: entry.partition ?? '', offset: entry.offset ?? 0, timestamp: toIsoString(entry.timestamp) };
    });
    if (failures.length > 0) throw new PublishFailedError(failures, stored);
    return stored as PublishedEntry[];
  }

  async createGroupCursor(streamId: string, options: GroupCursorOptions): Promise<string> {
    const response = await withStreamErrors(streamId, () =>
      this.client.createGroupCursor({
        streamId,
        createGroupCursorDetails: {
          groupName: options.groupName,
          instanceName: options.instanceName,
          type: options.type as models.CreateGroupCursorDetails.Type,
          commitOnGet: false,
          timeoutInMs: options.timeoutMs,
        },
      }),
    );
    return response.cursor.value;
  }

  async createCursor(streamId: string, options: CursorOptions): Promise<string> {
    const response = await withStreamErrors(streamId, () =>
      this.client.createCursor({
        streamId,
        createCursorDetails: {
          partition: options.partition,
          type: options.type as models.CreateCursorDetails.Type,
          ...(options.offset !== undefined ? { offset: options.offset } : {}),
          ...(options.timeMs !== undefined ? { time: new Date(options.timeMs) } : {}),
        },
      }),
    );
    return response.cursor.value;
  }

  async getMessages(streamId: string, cursor: string, options: GetMessagesOptions): Promise<GetMessagesResult> {
    const { signal } = options;
    signal?.throwIfAborted();
    const context: RequestContext = {
      longPollMs: Math.max(0, Math.min(options.waitMs ?? 0, this.longPollHeaderMs)),
      ...(signal ? { signal } : {}),
    };
    const request = requestContext.run(context, () =>
      withStreamErrors(streamId, () =>
        this.client.getMessages({
          streamId,
          cursor: queryValue(cursor),
          limit: Math.max(1, Math.min(Math.floor(options.limit), MAX_GET_LIMIT)),
        }),
      ),
    );
    const response = await (signal ? raceAbort(request, signal) : request);
    if (!response.opcNextCursor) throw new StreamError(`Stream ${streamId}: getMessages answered without opc-next-cursor`);
    return { messages: response.items.map(fromWireMessage), nextCursor: response.opcNextCursor };
  }

  async commit(streamId: string, cursor: string): Promise<string> {
    const response = await withStreamErrors(streamId, () => this.client.consumerCommit({ streamId, cursor: queryValue(cursor) }));
    return response.cursor.value;
  }

  async heartbeat(streamId: string, cursor: string): Promise<string> {
    const response = await withStreamErrors(streamId, () =>
      this.client.consumerHeartbeat({ streamId, cursor: queryValue(cursor) }),
    );
    return response.cursor.value;
  }
}

function toWireMessage(message: PublishInput): models.PutMessagesDetailsEntry {
  const value = (typeof message.value === 'string' ? Buffer.from(message.value, 'utf8') : message.value).toString('base64');
  return message.key === undefined || message.key === null
    ? { value }
    : { key: Buffer.from(message.key, 'utf8').toString('base64'), value };
}

function fromWireMessage(message: models.Message): StreamMessage {
  const key = message.key as string | null | undefined;
  return {
    stream: message.stream,
    partition: message.partition,
    key: key === null || key === undefined ? null : Buffer.from(key, 'base64').toString('utf8'),
    value: Buffer.from(message.value ?? '', 'base64'),
    offset: message.offset,
    timestamp: toIsoString(message.timestamp),
  };
}

/** The SDK types JSON dates as `Date` but hands over the server's RFC 3339 strings unchanged. */
function toIsoString(value: Date | string | undefined): string {
  if (value === undefined) return '';
  return value instanceof Date ? value.toISOString() : value;
}

/** The SDK call cannot be cancelled from outside; the caller gets its answer when the signal fires. */
function raceAbort<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}

/** Runs one SDK call and translates its failure into the `Stream` port's errors. */
export async function withStreamErrors<T>(streamId: string, operation: () => Promise<T>): Promise<T> {
  try {
    return await operation();
  } catch (err) {
    const failure = classifySdkFailure(err);
    if (failure === undefined) throw err;
    throw streamErrorOf(streamId, failure, err);
  }
}
