/**
 * The OCI SDK's HTTP transport (`common.HttpClient`, the SDK's own extension point) over node:http instead of fetch.
 * Everything else stays the SDK's: request composition, the signer, retries, error parsing.
 *
 * Why: Node 20's fetch (undici) reads a streamed request body ahead of the socket. Measured on loopback, a 50 MiB
 * PutObject from a file stream kept about 55 MiB of it in memory (VmHWM, with GC forced every 20 ms), where node:http,
 * which waits for the socket to drain, kept under 10 MiB. The agent uploads outputs of up to 10 GiB. And an agent that
 * never opens a fetch connection never compiles undici's HTTP parser, which is most of its idle memory above Node's.
 */
import http from 'node:http';
import https from 'node:https';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import type * as common from 'oci-common';

/** Statuses whose `Response` must have no body. */
const NULL_BODY_STATUSES: ReadonlySet<number> = new Set([101, 103, 204, 205, 304]);
const DEFAULT_IDLE_TIMEOUT_MS = 60_000;

export interface NodeHttpClientOptions {
  /** Signs each request (`new common.DefaultRequestSigner(authProvider)`). */
  signer: common.RequestSigner;
  /** A request whose socket is idle this long fails. */
  idleTimeoutMs?: number;
  /** Aborts the request (the SDK's calls take no signal, so a client is made per call where one is needed). */
  signal?: AbortSignal;
  /** Keep-alive connections (one agent per client family keeps a long poll's socket warm for the next call). */
  agent?: http.Agent;
}

function responseHeaders(res: http.IncomingMessage): Headers {
  const headers = new Headers();
  for (const [name, value] of Object.entries(res.headers)) {
    if (value === undefined) continue;
    for (const v of Array.isArray(value) ? value : [value]) headers.append(name, v);
  }
  return headers;
}

export class NodeHttpClient implements common.HttpClient {
  constructor(private readonly options: NodeHttpClientOptions) {}

  async send(req: common.HttpRequest, forceExcludeBody = false): Promise<Response> {
    const body: unknown = req.body;
    if (body !== undefined && body !== null && !forceExcludeBody && typeof body !== 'string') {
      // Only text bodies can be hashed for the signature here; object PUTs (streams) are signed without the body.
      throw new Error('NodeHttpClient signs only string bodies');
    }
    await this.options.signer.signHttpRequest({ method: req.method, headers: req.headers, uri: req.uri, body }, forceExcludeBody);
    const url = new URL(req.uri);
    const client = url.protocol === 'https:' ? https : http;
    const headers = Object.fromEntries(req.headers.entries());
    return new Promise<Response>((resolve, reject) => {
      const request = client.request(
        url,
        {
          method: req.method,
          headers,
          timeout: this.options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS,
          ...(this.options.signal ? { signal: this.options.signal } : {}),
          ...(this.options.agent && url.protocol === 'http:' ? { agent: this.options.agent } : {}),
        },
        (res) => {
        const status = res.statusCode ?? 0;
        const responseBody = NULL_BODY_STATUSES.has(status) ? null : (Readable.toWeb(res) as unknown as ReadableStream<Uint8Array>);
        if (responseBody === null) res.resume();
        resolve(new Response(responseBody, { status, statusText: res.statusMessage ?? '', headers: responseHeaders(res) }));
        },
      );
      request.on('timeout', () => request.destroy(new Error(`no answer from ${url.host} within ${this.options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS} ms`)));
      // The SDK's retrier turns a rejection into its `{ code, message, requestEndpoint }` transport failure.
      request.on('error', reject);
      if (body instanceof Readable) {
        pipeline(body, request).catch((err: unknown) => request.destroy(err as Error));
      } else if (isWebStream(body)) {
        pipeline(Readable.fromWeb(body), request).catch((err: unknown) => request.destroy(err as Error));
      } else {
        request.end(body as string | Buffer | undefined);
      }
    });
  }
}

function isWebStream(body: unknown): body is WebReadableStream {
  return typeof body === 'object' && body !== null && typeof (body as { getReader?: unknown }).getReader === 'function';
}
