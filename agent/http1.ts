/**
 * A small HTTP/1.1 client for the agent's signed JSON requests: keep-alive connections per origin (plain TCP or TLS),
 * one request at a time on each, answers framed by Content-Length, chunked encoding or the end of the connection.
 *
 * Why not node:http: an agent sees a few commands a second, so between two of them its code and data leave the CPU's
 * caches, and what a request touches is what it costs. node:http builds a request, an agent entry, a response stream
 * and their event emitters for every request; this writes one buffer and parses the answer in place. In the
 * throughput bench (50 agents, about 3 commands a second each) an agent's CPU per command went from 6.1 to 5.1 ms.
 *
 * Deliberately small: no proxies, no upgrades, no request pipelining, no automatic retry (as node:http: a request
 * that fails on a reused connection fails; the callers retry idempotently).
 */
import net from 'node:net';
import tls from 'node:tls';
import { AnswerError, AnswerParser } from '../shared/http1-answer';

export { AnswerError, AnswerParser };

export interface Http1Request {
  method: string;
  url: URL;
  /** Sent as given, in order; must include `host`. */
  headers: Record<string, string>;
  body?: string;
  /** The request fails when its connection is idle this long (connecting, sending or waiting for the answer). */
  timeoutMs: number;
  /** Largest answer body read; a larger one fails the request. */
  maxAnswerBytes: number;
  signal?: AbortSignal;
}

export interface Http1Answer {
  status: number;
  /** Lower-case names; repeated headers joined with ", ". */
  headers: Record<string, string>;
  body: Buffer;
}

const CRLF = '\r\n';
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
// Header values are written as ASCII: nothing this client sends needs more.
const HEADER_VALUE = /^[\t\x20-\x7e]*$/;

/** The request line, the headers and the body, as one string to write. Throws on a header that would break framing. */
export function requestText(method: string, url: URL, headers: Record<string, string>, body: string | undefined): string {
  if (!TOKEN.test(method)) throw new TypeError(`Invalid HTTP method ${JSON.stringify(method)}`);
  let text = `${method} ${url.pathname}${url.search} HTTP/1.1${CRLF}`;
  for (const [name, value] of Object.entries(headers)) {
    if (!TOKEN.test(name)) throw new TypeError(`Invalid header name ${JSON.stringify(name)}`);
    if (!HEADER_VALUE.test(value)) throw new TypeError(`Invalid value for header ${name}`);
    text += `${name}: ${value}${CRLF}`;
  }
  return `${text}${CRLF}${body ?? ''}`;
}

interface Exchange {
  request: Http1Request;
  parser: AnswerParser;
  settle: (error: Error | undefined, answer?: Http1Answer) => void;
}

/** One connection to an origin; `onFree` hands it back to its pool after each answer, `onGone` when it closes. */
class Connection {
  readonly socket: net.Socket;
  private exchange: Exchange | undefined;
  private ended = false;
  gone = false;

  constructor(
    origin: Origin,
    ca: string | Buffer | undefined,
    private readonly onFree: (c: Connection) => void,
    private readonly onGone: (c: Connection) => void,
  ) {
    this.socket = origin.secure
      ? tls.connect({
          host: origin.host,
          port: origin.port,
          ALPNProtocols: ['http/1.1'],
          ...(net.isIP(origin.host) === 0 ? { servername: origin.host } : {}),
          ...(ca !== undefined ? { ca } : {}),
        })
      : net.connect({ host: origin.host, port: origin.port });
    this.socket.setNoDelay(true);
    // As node:http's keep-alive agent: TCP probes find a peer that vanished (a NAT that forgot the connection).
    this.socket.setKeepAlive(true, 1000);
    this.socket.on('data', (chunk: Buffer) => this.onData(chunk));
    this.socket.on('end', () => this.onEnd());
    this.socket.on('timeout', () => {
      const request = this.exchange?.request;
      this.fail(new Error(request === undefined ? 'idle timeout' : `no answer from ${request.url.host} within ${request.timeoutMs} ms`));
    });
    this.socket.on('error', (err) => this.fail(err));
    this.socket.on('close', () => {
      this.fail(new Error('socket hang up'));
      this.gone = true;
      this.onGone(this);
    });
  }

  send(request: Http1Request, text: string): Promise<Http1Answer> {
    return new Promise((resolve, reject) => {
      const signal = request.signal;
      const onAbort = (): void => this.fail(abortError(signal));
      const exchange: Exchange = {
        request,
        parser: new AnswerParser(request.method, request.maxAnswerBytes),
        settle: (error, answer) => {
          this.exchange = undefined;
          signal?.removeEventListener('abort', onAbort);
          this.socket.setTimeout(0);
          if (error !== undefined) reject(error);
          else resolve(answer as Http1Answer);
        },
      };
      this.exchange = exchange;
      signal?.addEventListener('abort', onAbort, { once: true });
      this.socket.ref();
      this.socket.setTimeout(request.timeoutMs);
      this.socket.write(text);
    });
  }

  destroy(): void {
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    const exchange = this.exchange;
    if (exchange === undefined) {
      // Bytes nobody asked for: the connection's framing can no longer be trusted.
      this.destroy();
      return;
    }
    let complete: boolean;
    try {
      complete = exchange.parser.push(chunk);
    } catch (err) {
      this.fail(err as Error);
      return;
    }
    if (complete) this.complete(exchange);
  }

  private onEnd(): void {
    this.ended = true;
    const exchange = this.exchange;
    if (exchange === undefined) {
      // The server closed an idle connection: destroyed now, so the pool never hands it out before its 'close'.
      this.destroy();
      return;
    }
    if (exchange.parser.end()) this.complete(exchange);
    else this.fail(new Error('the connection closed before the answer was complete'));
  }

  private complete(exchange: Exchange): void {
    const { parser } = exchange;
    const reusable = parser.keepAlive && parser.leftover === 0 && !this.ended && !this.gone;
    exchange.settle(undefined, { status: parser.status, headers: parser.headers, body: parser.body() });
    if (reusable) {
      this.socket.unref();
      this.onFree(this);
    } else {
      this.destroy();
    }
  }

  /** Fails the request under way, if any, and closes the connection. */
  private fail(error: Error): void {
    const exchange = this.exchange;
    this.destroy();
    exchange?.settle(error);
  }
}

interface Origin {
  secure: boolean;
  host: string;
  port: number;
}

function abortError(signal: AbortSignal | undefined): Error {
  const reason: unknown = signal?.reason;
  return reason instanceof Error ? reason : Object.assign(new Error('The operation was aborted'), { name: 'AbortError', cause: reason });
}

export interface Http1PoolOptions {
  /** Further requests to an origin wait for one of its connections. */
  maxConnectionsPerOrigin: number;
  /** For https: trust these CAs instead of Node's (a private CA; tests). */
  ca?: string | Buffer;
}

/** Keep-alive connections by origin, at most `maxConnectionsPerOrigin` each; further requests wait for one. */
export class Http1Pool {
  private readonly idle = new Map<string, Connection[]>();
  private readonly counts = new Map<string, number>();
  private readonly waiters = new Map<string, Array<() => void>>();
  private readonly all = new Set<Connection>();

  constructor(private readonly options: Http1PoolOptions) {}

  async request(request: Http1Request): Promise<Http1Answer> {
    const text = requestText(request.method, request.url, request.headers, request.body);
    const origin = originOf(request.url);
    const key = `${origin.secure ? 's' : ''}${origin.host}:${origin.port}`;
    for (;;) {
      if (request.signal?.aborted) throw abortError(request.signal);
      const connection = this.take(key, origin);
      if (connection !== undefined) return connection.send(request, text);
      await this.slotFreed(key, request.signal);
    }
  }

  /** Closes every connection, idle or in use (a request under way fails). */
  close(): void {
    for (const connection of this.all) connection.destroy();
  }

  private take(key: string, origin: Origin): Connection | undefined {
    const idle = this.idle.get(key);
    while (idle !== undefined && idle.length > 0) {
      const connection = idle.pop() as Connection;
      if (!connection.gone && !connection.socket.destroyed) return connection;
    }
    const count = this.counts.get(key) ?? 0;
    if (count >= this.options.maxConnectionsPerOrigin) return undefined;
    this.counts.set(key, count + 1);
    const connection = new Connection(
      origin,
      this.options.ca,
      (c) => {
        const list = this.idle.get(key) ?? [];
        list.push(c);
        this.idle.set(key, list);
        this.wakeOne(key);
      },
      (c) => {
        this.all.delete(c);
        this.counts.set(key, (this.counts.get(key) ?? 1) - 1);
        const list = this.idle.get(key);
        const at = list?.indexOf(c) ?? -1;
        if (list !== undefined && at >= 0) list.splice(at, 1);
        this.wakeOne(key);
      },
    );
    this.all.add(connection);
    return connection;
  }

  private slotFreed(key: string, signal: AbortSignal | undefined): Promise<void> {
    return new Promise((resolve) => {
      const list = this.waiters.get(key) ?? [];
      const wake = (): void => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      const onAbort = (): void => {
        const at = list.indexOf(wake);
        if (at >= 0) list.splice(at, 1);
        resolve();
      };
      list.push(wake);
      this.waiters.set(key, list);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  private wakeOne(key: string): void {
    this.waiters.get(key)?.shift()?.();
  }
}

function originOf(url: URL): Origin {
  const secure = url.protocol === 'https:';
  if (!secure && url.protocol !== 'http:') throw new TypeError(`Unsupported protocol ${url.protocol}`);
  // An IPv6 literal keeps its brackets in URL.hostname.
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  return { secure, host, port: url.port === '' ? (secure ? 443 : 80) : Number(url.port) };
}
