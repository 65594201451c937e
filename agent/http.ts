/**
 * The agent's HTTP: signed JSON requests over keep-alive connections (`shared/http1.ts`), with a per-request idle
 * timeout, an abort signal and a cap on the answer size. The reporter and the stream reader both use it; neither needs the
 * OCI SDK for it (the signature is `shared/api/signature.ts`'s, the same OCI HTTP Signature v1 the SDK sends).
 */
import { BODY_METHODS, type RequestToSign } from '../shared/api/signature';
import { Http1Pool } from '../shared/http1';

/** `shared/api/signature.ts`'s `signRequest` with the key bound: returns the headers to add. */
export type RequestSigner = (req: RequestToSign) => Record<string, string>;

export interface HttpAnswer {
  status: number;
  /** Lower-case names. */
  headers: Record<string, string>;
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
  /** Keep-alive connections: a long poll's connection is reused by the next call instead of a new TCP (and TLS) handshake. */
  private readonly pool = new Http1Pool({ maxConnectionsPerOrigin: 16 });

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
    try {
      const answer = await this.pool.request({
        method,
        url,
        headers,
        ...(body !== undefined ? { body } : {}),
        timeoutMs: options.timeoutMs ?? this.options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
        maxAnswerBytes: this.options.maxAnswerBytes ?? DEFAULT_MAX_ANSWER_BYTES,
        ...(options.signal !== undefined ? { signal: options.signal } : {}),
      });
      return { status: answer.status, headers: answer.headers, text: answer.body.toString('utf8') };
    } catch (err) {
      if (err instanceof TypeError) throw err;
      throw new HttpTransportError(`${method} ${url.pathname}: ${(err as Error).message}`, { cause: err });
    }
  }

  /** Closes its connections. */
  close(): void {
    this.pool.close();
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
