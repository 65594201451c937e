/**
 * Parses one HTTP/1.1 answer from the bytes of a connection, as they arrive: the status line and headers, then a body
 * framed by Content-Length, chunked encoding or the end of the connection. Shared by the agent's client
 * (`agent/http1.ts`) and the platform's calls into function processes (`platform/fdk-connection.ts`).
 */

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
