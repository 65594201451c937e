/**
 * The agent's HTTP: signed JSON requests over node:http(s) with keep-alive connections, a per-request idle timeout,
 * an abort signal and a cap on the answer size. The reporter and the stream reader both use it; neither needs the
 * OCI SDK for it (the signature is `shared/api/signature.ts`'s, the same OCI HTTP Signature v1 the SDK sends).
 */
import http from 'node:http';
import https from 'node:https';
import { BODY_METHODS, type RequestToSign } from '../shared/api/signature';

/** `shared/api/signature.ts`'s `signRequest` with the key bound: returns the headers to add. */
export type RequestSigner = (req: RequestToSign) => Record<string, string>;

export interface HttpAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
}

/** The request never got an answer: refused or dropped connection, idle timeout, oversized answer, abort. */
export class HttpTransportError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'HttpTransportError';
  }
}

export interface SignedHttpClientOptions {
  sign: RequestSigner;
  userAgent?: string;
  /** A request whose socket is idle this long fails. */
  timeoutMs?: number;
  /** Largest answer body read. */
  maxAnswerBytes?: number;
}

export interface SignedRequestOptions {
  /** Sent as JSON (`content-type: application/json`); a POST without one sends an empty, signed body. */
  body?: string;
  headers?: Record<string, string>;
  signal?: AbortSignal;
  /** Overrides the client's idle timeout (a long poll adds its wait). */
  timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_MAX_ANSWER_BYTES = 64 * 1024;

export class SignedHttpClient {
  /** Keep-alive pools: a long poll's connection is reused by the next call instead of a new TCP (and TLS) handshake. */
  private readonly agents = {
    http: new http.Agent({ keepAlive: true, maxSockets: 16 }),
    https: new https.Agent({ keepAlive: true, maxSockets: 16 }),
  };

  constructor(private readonly options: SignedHttpClientOptions) {}

  async request(method: string, url: URL, options: SignedRequestOptions = {}): Promise<HttpAnswer> {
    const body = options.body ?? (BODY_METHODS.has(method) ? '' : undefined);
    const headers: Record<string, string> = {
      host: url.host,
      'user-agent': this.options.userAgent ?? 'runcommand-agent',
      accept: 'application/json',
      ...options.headers,
    };
    if (body !== undefined) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = String(Buffer.byteLength(body, 'utf8'));
    }
    Object.assign(headers, this.options.sign({ method, url, headers: { ...headers }, ...(body !== undefined ? { body } : {}) }));
    return this.send(method, url, headers, body, options);
  }

  /** Closes idle keep-alive connections. */
  close(): void {
    this.agents.http.destroy();
    this.agents.https.destroy();
  }

  private send(method: string, url: URL, headers: Record<string, string>, body: string | undefined, options: SignedRequestOptions): Promise<HttpAnswer> {
    const secure = url.protocol === 'https:';
    const maxBytes = this.options.maxAnswerBytes ?? DEFAULT_MAX_ANSWER_BYTES;
    const timeoutMs = options.timeoutMs ?? this.options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    return new Promise((resolve, reject) => {
      const requestOptions: https.RequestOptions = {
        method,
        headers,
        timeout: timeoutMs,
        agent: secure ? this.agents.https : this.agents.http,
        ...(options.signal !== undefined ? { signal: options.signal } : {}),
      };
      const req = (secure ? https : http).request(url, requestOptions, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > maxBytes) {
            res.destroy(new Error(`the answer is larger than ${maxBytes} bytes`));
            return;
          }
          chunks.push(chunk);
        });
        res.on('error', (err) => reject(new HttpTransportError(`${method} ${url.pathname}: reading the answer failed: ${err.message}`, { cause: err })));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
      });
      req.on('timeout', () => req.destroy(new Error(`no answer from ${url.host} within ${timeoutMs} ms`)));
      req.on('error', (err) => reject(new HttpTransportError(`${method} ${url.pathname}: ${err.message}`, { cause: err })));
      req.end(body);
    });
  }
}

/** `{ code, message }` from an OCI error body, whichever of them is there. */
export function parseErrorBody(body: string): { code?: string; message?: string } {
  try {
    const parsed = JSON.parse(body) as unknown;
    if (parsed !== null && typeof parsed === 'object') {
      const { code, message } = parsed as { code?: unknown; message?: unknown };
      return { ...(typeof code === 'string' ? { code } : {}), ...(typeof message === 'string' ? { message } : {}) };
    }
  } catch {
    // not JSON: fall through
  }
  return {};
}
