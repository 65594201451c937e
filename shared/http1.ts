/**
 * A small HTTP/1.1 client for the agent's signed JSON requests: keep-alive connections per origin (plain TCP or TLS),
 * one request at a time on each, answers framed by Content-Length, chunked encoding or the end of the connection.
 * The platform's function pool uses it too, over a function process's Unix socket (`socketPath`).
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

/** The answer broke HTTP/1.1 framing, or was too large: the connection is closed. */
export class AnswerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AnswerError';
  }
}

const MAX_HEAD_BYTES = 64 * 1024;
const MAX_CHUNK_SIZE_LINE = 1024;
const CRLF = '\r\n';
const EMPTY = Buffer.alloc(0);
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const STATUS_LINE = /^HTTP\/1\.([01]) (\d{3})(?: .*)?$/;

type Phase = 'head' | 'length' | 'chunk-size' | 'chunk-data' | 'chunk-end' | 'trailers' | 'until-close' | 'done';

/** Parses one answer from the bytes of a connection, fed as they arrive. */
export class AnswerParser {
  status = 0;
  headers: Record<string, string> = {};
  /** False when the server asked to close, or the body runs to the end of the connection. */
  keepAlive = true;
  private phase: Phase = 'head';
  private pending: Buffer = EMPTY;
  private remaining = 0;
  private readonly parts: Buffer[] = [];
  private size = 0;

  constructor(
    private readonly method: string,
    private readonly maxBodyBytes: number,
  ) {}

  /** Feeds bytes; true once the answer is complete. Throws `AnswerError` on a malformed or oversized answer. */
  push(chunk: Buffer): boolean {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    for (;;) {
      switch (this.phase) {
        case 'head': {
          const end = this.pending.indexOf('\r\n\r\n');
          if (end < 0) {
            if (this.pending.length > MAX_HEAD_BYTES) throw new AnswerError(`the answer's headers are larger than ${MAX_HEAD_BYTES} bytes`);
            return false;
          }
          const head = this.pending.toString('latin1', 0, end);
          this.pending = this.pending.subarray(end + 4);
          this.readHead(head);
          break;
        }
        case 'length':
        case 'chunk-data': {
          const take = Math.min(this.remaining, this.pending.length);
          if (take > 0) {
            this.addBody(this.pending.subarray(0, take));
            this.pending = this.pending.subarray(take);
            this.remaining -= take;
          }
          if (this.remaining > 0) return false;
          this.phase = this.phase === 'length' ? 'done' : 'chunk-end';
          break;
        }
        case 'chunk-size': {
          const line = this.takeLine(MAX_CHUNK_SIZE_LINE, 'a chunk size line');
          if (line === undefined) return false;
          const sizeText = (line.split(';', 1)[0] ?? '').trim();
          // More than 12 hex digits is far beyond any answer this client accepts.
          if (!/^[0-9a-fA-F]{1,12}$/.test(sizeText)) throw new AnswerError(`the answer has an invalid chunk size ${JSON.stringify(sizeText)}`);
          this.remaining = parseInt(sizeText, 16);
          this.phase = this.remaining === 0 ? 'trailers' : 'chunk-data';
          break;
        }
        case 'chunk-end': {
          if (this.pending.length < 2) return false;
          if (this.pending[0] !== 0x0d || this.pending[1] !== 0x0a) throw new AnswerError('the answer has a chunk without its closing CRLF');
          this.pending = this.pending.subarray(2);
          this.phase = 'chunk-size';
          break;
        }
        case 'trailers': {
          const line = this.takeLine(MAX_HEAD_BYTES, 'its trailers');
          if (line === undefined) return false;
          if (line === '') this.phase = 'done';
          break;
        }
        case 'until-close':
          if (this.pending.length > 0) this.addBody(this.pending);
          this.pending = EMPTY;
          return false;
        case 'done':
          return true;
      }
    }
  }

  /** The connection ended: true when that completes the answer (a body that runs to the end of the connection). */
  end(): boolean {
    if (this.phase === 'until-close') this.phase = 'done';
    return this.phase === 'done';
  }

  /** Bytes received past the answer: a server that sends them cannot have its connection reused. */
  get leftover(): number {
    return this.pending.length;
  }

  body(): Buffer {
    return this.parts.length === 1 ? (this.parts[0] as Buffer) : Buffer.concat(this.parts, this.size);
  }

  private readHead(head: string): void {
    const lines = head.split(CRLF);
    const status = STATUS_LINE.exec(lines[0] ?? '');
    if (status === null) throw new AnswerError(`the answer does not start with an HTTP/1.x status line: ${JSON.stringify((lines[0] ?? '').slice(0, 80))}`);
    const code = Number(status[2]);
    const headers: Record<string, string> = {};
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i] as string;
      const colon = line.indexOf(':');
      const name = colon > 0 ? line.slice(0, colon) : '';
      if (!TOKEN.test(name)) throw new AnswerError(`the answer has a malformed header line: ${JSON.stringify(line.slice(0, 80))}`);
      const key = name.toLowerCase();
      const value = line.slice(colon + 1).trim();
      headers[key] = headers[key] === undefined ? value : `${headers[key]}, ${value}`;
    }
    // 1xx answers come before the real one (100 Continue, 103 Early Hints); this client asks for no upgrade.
    if (code >= 100 && code < 200) {
      if (code === 101) throw new AnswerError('the server switched protocols, which this client never asks for');
      return;
    }
    this.status = code;
    this.headers = headers;
    const connection = (headers.connection ?? '').toLowerCase().split(',').map((t) => t.trim());
    this.keepAlive = status[1] === '1' ? !connection.includes('close') : connection.includes('keep-alive');
    if (this.method === 'HEAD' || code === 204 || code === 304) {
      this.phase = 'done';
      return;
    }
    const transferEncoding = headers['transfer-encoding'];
    if (transferEncoding !== undefined) {
      const codings = transferEncoding.toLowerCase().split(',').map((t) => t.trim());
      if (codings[codings.length - 1] === 'chunked') {
        this.phase = 'chunk-size';
      } else {
        this.phase = 'until-close';
        this.keepAlive = false;
      }
      return;
    }
    const contentLength = headers['content-length'];
    if (contentLength !== undefined) {
      // A repeated Content-Length is joined above; it is valid only if every copy says the same.
      const values = new Set(contentLength.split(',').map((v) => v.trim()));
      const [only] = values;
      if (values.size !== 1 || only === undefined || !/^\d{1,15}$/.test(only)) throw new AnswerError(`the answer has an invalid Content-Length ${JSON.stringify(contentLength)}`);
      this.remaining = Number(only);
      if (this.remaining > this.maxBodyBytes) throw new AnswerError(`the answer is larger than ${this.maxBodyBytes} bytes`);
      this.phase = this.remaining === 0 ? 'done' : 'length';
      return;
    }
    this.phase = 'until-close';
    this.keepAlive = false;
  }

  private takeLine(maxBytes: number, what: string): string | undefined {
    const eol = this.pending.indexOf(CRLF);
    if (eol < 0) {
      if (this.pending.length > maxBytes) throw new AnswerError(`the answer has ${what} longer than ${maxBytes} bytes`);
      return undefined;
    }
    const line = this.pending.toString('latin1', 0, eol);
    this.pending = this.pending.subarray(eol + 2);
    return line;
  }

  private addBody(part: Buffer): void {
    this.size += part.length;
    if (this.size > this.maxBodyBytes) throw new AnswerError(`the answer is larger than ${this.maxBodyBytes} bytes`);
    this.parts.push(part);
  }
}

export interface Http1Request {
  method: string;
  url: URL;
  /** Sent as given, in order; must include `host`. */
  headers: Record<string, string>;
  /** A string is sent as UTF-8. */
  body?: string | Buffer;
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

// Header values are written as ASCII: nothing the agent sends needs more.
const HEADER_VALUE = /^[\t\x20-\x7e]*$/;
// What node:http also accepts (obs-text), for a caller that forwards header values it received; written as latin1.
const LATIN1_HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

/**
 * The request line and the headers, ending in the blank line. Throws on a header that would break the framing, and
 * on a value outside ASCII unless `latin1` (then the head must be written as latin1).
 */
export function requestHead(method: string, url: URL, headers: Record<string, string>, latin1 = false): string {
  if (!TOKEN.test(method)) throw new TypeError(`Invalid HTTP method ${JSON.stringify(method)}`);
  const valuePattern = latin1 ? LATIN1_HEADER_VALUE : HEADER_VALUE;
  let text = `${method} ${url.pathname}${url.search} HTTP/1.1${CRLF}`;
  for (const [name, value] of Object.entries(headers)) {
    if (!TOKEN.test(name)) throw new TypeError(`Invalid header name ${JSON.stringify(name)}`);
    if (!valuePattern.test(value)) throw new TypeError(`Invalid value for header ${name}`);
    text += `${name}: ${value}${CRLF}`;
  }
  return `${text}${CRLF}`;
}

/** The whole request as written: one string (ASCII head, UTF-8 body) when it can be, else bytes. */
function requestBytes(request: Http1Request, latin1: boolean): string | Buffer {
  const head = requestHead(request.method, request.url, request.headers, latin1);
  const body = request.body ?? '';
  if (typeof body === 'string' && !latin1) return head + body;
  return Buffer.concat([Buffer.from(head, 'latin1'), typeof body === 'string' ? Buffer.from(body, 'utf8') : body]);
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
    options: Http1PoolOptions,
    private readonly onFree: (c: Connection) => void,
    private readonly onGone: (c: Connection) => void,
  ) {
    this.socket = connect(origin, options);
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

  send(request: Http1Request, bytes: string | Buffer): Promise<Http1Answer> {
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
      this.socket.write(bytes);
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
  /** Connect to this Unix socket instead of the URL's host and port (which still name the Host and the path). */
  socketPath?: string;
  /** Header values may hold obs-text bytes (\x80-\xff), written as latin1, as node:http allows. */
  latin1HeaderValues?: boolean;
}

/** Keep-alive connections by origin, at most `maxConnectionsPerOrigin` each; further requests wait for one. */
export class Http1Pool {
  private readonly idle = new Map<string, Connection[]>();
  private readonly counts = new Map<string, number>();
  private readonly waiters = new Map<string, Array<() => void>>();
  private readonly all = new Set<Connection>();

  constructor(private readonly options: Http1PoolOptions) {}

  async request(request: Http1Request): Promise<Http1Answer> {
    const bytes = requestBytes(request, this.options.latin1HeaderValues === true);
    const origin = originOf(request.url);
    const key = `${origin.secure ? 's' : ''}${origin.host}:${origin.port}`;
    for (;;) {
      if (request.signal?.aborted) throw abortError(request.signal);
      const connection = this.take(key, origin);
      if (connection !== undefined) return connection.send(request, bytes);
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
      this.options,
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

/** A new socket to `origin`, or to the pool's Unix socket when it has one. */
function connect(origin: Origin, options: Http1PoolOptions): net.Socket {
  if (options.socketPath !== undefined) return net.connect({ path: options.socketPath });
  if (!origin.secure) return net.connect({ host: origin.host, port: origin.port });
  return tls.connect({
    host: origin.host,
    port: origin.port,
    ALPNProtocols: ['http/1.1'],
    ...(net.isIP(origin.host) === 0 ? { servername: origin.host } : {}),
    ...(options.ca !== undefined ? { ca: options.ca } : {}),
  });
}

function originOf(url: URL): Origin {
  const secure = url.protocol === 'https:';
  if (!secure && url.protocol !== 'http:') throw new TypeError(`Unsupported protocol ${url.protocol}`);
  // An IPv6 literal keeps its brackets in URL.hostname.
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  return { secure, host, port: url.port === '' ? (secure ? 443 : 80) : Number(url.port) };
}
