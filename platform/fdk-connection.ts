/**
 * The platform's side of the FDK contract's transport: one keep-alive HTTP/1.1 connection to a function process's
 * Unix socket, carrying one call at a time (the pool gives a hot process one call at a time, as Fn does).
 *
 * Why not node:http: the gateway makes two or three of these calls for every command, and node:http's request,
 * agent and response objects were about a third of the gateway's CPU in the throughput bench. This writes the request
 * as one buffer and parses the answer in place (`shared/http1-answer.ts`, the agent's parser).
 */
import net from 'node:net';
import { AnswerParser } from '../shared/http1-answer';

export interface FdkAnswer {
  status: number;
  /** Lower-case names; repeated headers joined with ", ". */
  headers: Record<string, string>;
  body: Buffer;
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
// What node:http accepts in a header value (obs-text included), written as latin1 as node:http does.
const HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

/** The request head, or throws on a header that would break the framing. */
export function callHead(path: string, headers: Record<string, string>, bodyLength: number): Buffer {
  let head = `POST ${path} HTTP/1.1\r\nHost: localhost\r\n`;
  for (const [name, value] of Object.entries(headers)) {
    if (!TOKEN.test(name)) throw new TypeError(`Invalid header name ${JSON.stringify(name)}`);
    if (!HEADER_VALUE.test(value)) throw new TypeError(`Invalid character in the value of header ${name}`);
    head += `${name}: ${value}\r\n`;
  }
  head += `Content-Length: ${bodyLength}\r\n\r\n`;
  return Buffer.from(head, 'latin1');
}

interface Exchange {
  /** The connection the call went out on: events of an earlier, closed one never touch it. */
  socket: net.Socket;
  parser: AnswerParser;
  settle(error: Error | undefined, answer?: FdkAnswer): void;
}

export class FdkConnection {
  private socket: net.Socket | undefined;
  private exchange: Exchange | undefined;

  constructor(private readonly socketPath: string) {}

  /**
   * Sends one call and resolves with the answer; rejects when the connection fails or closes first, or the answer is
   * malformed or larger than `maxBodyBytes`. One call at a time.
   */
  call(path: string, headers: Record<string, string>, body: Buffer, maxBodyBytes: number): Promise<FdkAnswer> {
    if (this.exchange !== undefined) return Promise.reject(new Error('A call is already in progress on this connection'));
    let head: Buffer;
    try {
      head = callHead(path, headers, body.length);
    } catch (err) {
      return Promise.reject(err as Error);
    }
    return new Promise<FdkAnswer>((resolve, reject) => {
      const socket = this.socket ?? this.connect();
      const exchange: Exchange = {
        socket,
        parser: new AnswerParser('POST', maxBodyBytes),
        settle: (error, answer) => {
          if (this.exchange !== exchange) return;
          this.exchange = undefined;
          if (error !== undefined) reject(error);
          else resolve(answer as FdkAnswer);
        },
      };
      this.exchange = exchange;
      socket.write(body.length > 0 ? Buffer.concat([head, body]) : head);
    });
  }

  /** Closes the connection; a call in progress fails. */
  destroy(): void {
    this.socket?.destroy();
    this.socket = undefined;
    this.exchange?.settle(new Error('The connection to the function process was closed'));
  }

  /** The call in progress on `socket`, if any. */
  private exchangeOn(socket: net.Socket): Exchange | undefined {
    return this.exchange?.socket === socket ? this.exchange : undefined;
  }

  private connect(): net.Socket {
    const socket = net.connect({ path: this.socketPath });
    this.socket = socket;
    const fail = (error: Error) => {
      if (this.socket === socket) this.socket = undefined;
      socket.destroy();
      this.exchangeOn(socket)?.settle(error);
    };
    socket.on('data', (chunk: Buffer) => {
      const exchange = this.exchangeOn(socket);
      if (exchange === undefined) {
        fail(new Error('The function process sent bytes no call asked for'));
        return;
      }
      let complete: boolean;
      try {
        complete = exchange.parser.push(chunk);
      } catch (err) {
        fail(err as Error);
        return;
      }
      if (!complete) return;
      const { parser } = exchange;
      if (!parser.keepAlive || parser.leftover > 0) {
        if (this.socket === socket) this.socket = undefined;
        socket.destroy();
      }
      exchange.settle(undefined, { status: parser.status, headers: parser.headers, body: parser.body() });
    });
    socket.on('error', (err) => fail(err));
    socket.on('close', () => {
      if (this.socket === socket) this.socket = undefined;
      const exchange = this.exchangeOn(socket);
      if (exchange === undefined) return;
      if (exchange.parser.end()) {
        exchange.settle(undefined, { status: exchange.parser.status, headers: exchange.parser.headers, body: exchange.parser.body() });
      } else {
        exchange.settle(new Error('The function process closed the connection before it answered'));
      }
    });
    return socket;
  }
}
