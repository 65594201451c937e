import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { FdkConnection, callHead } from '../../../platform/fdk-connection';
import { AnswerError } from '../../../shared/http1-answer';

/** A Unix-socket server that calls `answer` once per complete request (head and Content-Length body). */
async function withServer(
  answer: (request: { head: string; body: Buffer }, socket: net.Socket) => void,
  run: (socketPath: string, connections: () => number) => Promise<void>,
): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fdk-conn-'));
  const socketPath = path.join(dir, 'lsnr.sock');
  let connections = 0;
  const server = net.createServer((socket) => {
    connections += 1;
    let pending = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      for (;;) {
        const end = pending.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = pending.subarray(0, end).toString('latin1');
        const length = Number(/content-length: (\d+)/i.exec(head)?.[1] ?? 0);
        if (pending.length < end + 4 + length) return;
        const body = pending.subarray(end + 4, end + 4 + length);
        pending = pending.subarray(end + 4 + length);
        answer({ head, body }, socket);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  try {
    await run(socketPath, () => connections);
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const ok = (body: string) => `HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nFn-Http-Status: 201\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;

describe('callHead', () => {
  it('writes the request line, the headers as given, Host and Content-Length, in latin1', () => {
    expect(callHead('/call', { 'Fn-Call-Id': 'c1', 'Fn-Http-H-X-Name': 'caf\u00e9' }, 5).toString('latin1')).toBe(
      'POST /call HTTP/1.1\r\nHost: localhost\r\nFn-Call-Id: c1\r\nFn-Http-H-X-Name: caf\u00e9\r\nContent-Length: 5\r\n\r\n',
    );
  });

  it('refuses a header value that would break the framing, and a name that is not a token', () => {
    expect(() => callHead('/call', { 'Fn-Http-H-X': 'a\r\nInjected: yes' }, 0)).toThrow(/Invalid character/);
    expect(() => callHead('/call', { 'Bad Name': 'x' }, 0)).toThrow(/Invalid header name/);
  });
});

describe('FdkConnection', () => {
  it('sends calls over one kept-alive connection and returns status, lower-case headers and body', async () => {
    const seen: Array<{ head: string; body: string }> = [];
    await withServer(
      (request, socket) => {
        seen.push({ head: request.head, body: request.body.toString() });
        socket.write(ok(`{"n":${seen.length}}`));
      },
      async (socketPath, connections) => {
        const connection = new FdkConnection(socketPath);
        const first = await connection.call('/call', { 'Fn-Call-Id': 'a' }, Buffer.from('{"x":1}'), 1024);
        const second = await connection.call('/call', { 'Fn-Call-Id': 'b' }, Buffer.alloc(0), 1024);
        expect(first).toEqual({ status: 200, headers: { 'content-type': 'application/json', 'fn-http-status': '201', 'content-length': '7' }, body: Buffer.from('{"n":1}') });
        expect(second.body.toString()).toBe('{"n":2}');
        expect(seen.map((r) => r.body)).toEqual(['{"x":1}', '']);
        expect(seen[0]?.head).toContain('Fn-Call-Id: a');
        expect(connections()).toBe(1);
        connection.destroy();
      },
    );
  });

  it('reads a chunked answer, and one that runs to the end of the connection, then connects again', async () => {
    let n = 0;
    await withServer(
      (_request, socket) => {
        n += 1;
        if (n === 1) socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n');
        else socket.end('HTTP/1.1 502 Bad Gateway\r\nConnection: close\r\n\r\nbye');
      },
      async (socketPath, connections) => {
        const connection = new FdkConnection(socketPath);
        expect((await connection.call('/call', {}, Buffer.alloc(0), 1024)).body.toString()).toBe('abcde');
        expect(await connection.call('/call', {}, Buffer.alloc(0), 1024)).toMatchObject({ status: 502, body: Buffer.from('bye') });
        // The closed connection is replaced by a new one for the next call.
        expect((await connection.call('/call', {}, Buffer.alloc(0), 1024)).status).toBe(502);
        expect(connections()).toBe(2);
        connection.destroy();
      },
    );
  });

  it('fails a call whose process closes the connection before answering, and one whose answer is too large', async () => {
    let n = 0;
    await withServer(
      (_request, socket) => {
        n += 1;
        if (n === 1) socket.destroy();
        else socket.write(ok('x'.repeat(2048)));
      },
      async (socketPath) => {
        const connection = new FdkConnection(socketPath);
        await expect(connection.call('/call', {}, Buffer.alloc(0), 1024)).rejects.toThrow(/closed the connection before it answered/);
        await expect(connection.call('/call', {}, Buffer.alloc(0), 1024)).rejects.toBeInstanceOf(AnswerError);
        connection.destroy();
      },
    );
  });

  it('starts the next call on a new connection right after an answer that closed the old one, untouched by its close', async () => {
    await withServer(
      (_request, socket) => socket.write('HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok'),
      async (socketPath, connections) => {
        const connection = new FdkConnection(socketPath);
        for (let i = 0; i < 3; i++) {
          // Each call starts in the continuation of the previous one, before the old socket's close event.
          expect((await connection.call('/call', {}, Buffer.alloc(0), 1024)).body.toString()).toBe('ok');
        }
        expect(connections()).toBe(3);
        connection.destroy();
      },
    );
  });

  it('fails the call in progress when the connection is destroyed', async () => {
    await withServer(
      () => undefined, // never answers
      async (socketPath) => {
        const connection = new FdkConnection(socketPath);
        const pending = connection.call('/call', {}, Buffer.alloc(0), 1024);
        await new Promise((resolve) => setTimeout(resolve, 20));
        connection.destroy();
        await expect(pending).rejects.toThrow(/was closed/);
      },
    );
  });

  it('fails a call when nothing listens on the socket', async () => {
    const connection = new FdkConnection(path.join(os.tmpdir(), `no-such-${process.pid}.sock`));
    await expect(connection.call('/call', {}, Buffer.alloc(0), 1024)).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
