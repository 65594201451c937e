import fs, { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { AnswerError, AnswerParser, Http1Pool, requestHead, type Http1Request } from '../../../shared/http1';

const MAX = 64 * 1024;

/** Feeds `text` in pieces of `step` bytes; resolves whether the answer completed, and where. */
function feed(parser: AnswerParser, text: string | Buffer, step: number): { complete: boolean; afterBytes: number } {
  const bytes = typeof text === 'string' ? Buffer.from(text, 'latin1') : text;
  for (let at = 0; at < bytes.length; at += step) {
    if (parser.push(bytes.subarray(at, at + step))) return { complete: true, afterBytes: Math.min(at + step, bytes.length) };
  }
  return { complete: false, afterBytes: bytes.length };
}

const CHUNKED = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\n' + '4;ext=1\r\n{"a"\r\n' + '9\r\n:"hello"}\r\n' + '0\r\nX-Trailer: t\r\n\r\n';

describe('AnswerParser', () => {
  it.each([1, 2, 7, 1000])('reads a Content-Length answer fed %i bytes at a time', (step) => {
    const parser = new AnswerParser('GET', MAX);
    const body = '{"ok":true,"text":"é"}';
    const text = `HTTP/1.1 200 OK\r\nContent-Length: ${Buffer.byteLength(body)}\r\nOPC-Next-Cursor: c2\r\nX-Dup: a\r\nX-Dup: b\r\n\r\n`;
    expect(feed(parser, Buffer.concat([Buffer.from(text, 'latin1'), Buffer.from(body, 'utf8')]), step).complete).toBe(true);
    expect(parser.status).toBe(200);
    expect(parser.headers).toEqual({ 'content-length': String(Buffer.byteLength(body)), 'opc-next-cursor': 'c2', 'x-dup': 'a, b' });
    expect(parser.body().toString('utf8')).toBe(body);
    expect(parser.keepAlive).toBe(true);
    expect(parser.leftover).toBe(0);
  });

  it.each([1, 3, 1000])('reads a chunked answer with extensions and trailers, fed %i bytes at a time', (step) => {
    const parser = new AnswerParser('GET', MAX);
    expect(feed(parser, CHUNKED, step)).toEqual({ complete: true, afterBytes: CHUNKED.length });
    expect(parser.body().toString()).toBe('{"a":"hello"}');
  });

  it('is not complete until the last byte of the answer', () => {
    const parser = new AnswerParser('GET', MAX);
    expect(parser.push(Buffer.from(CHUNKED.slice(0, -1), 'latin1'))).toBe(false);
    expect(parser.push(Buffer.from(CHUNKED.slice(-1), 'latin1'))).toBe(true);
  });

  it('reads no body for a 204, a 304 and a HEAD', () => {
    expect(new AnswerParser('POST', MAX).push(Buffer.from('HTTP/1.1 204 No Content\r\n\r\n'))).toBe(true);
    expect(new AnswerParser('GET', MAX).push(Buffer.from('HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n'))).toBe(true);
    const head = new AnswerParser('HEAD', MAX);
    expect(head.push(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n'))).toBe(true);
    expect(head.body()).toEqual(Buffer.alloc(0));
  });

  it('reads a body without length to the end of the connection, and never reuses that connection', () => {
    const parser = new AnswerParser('GET', MAX);
    expect(parser.push(Buffer.from('HTTP/1.1 200 OK\r\n\r\nabc'))).toBe(false);
    expect(parser.push(Buffer.from('def'))).toBe(false);
    expect(parser.end()).toBe(true);
    expect(parser.body().toString()).toBe('abcdef');
    expect(parser.keepAlive).toBe(false);
  });

  it('fails an answer cut short: end() is false unless the body runs to the end of the connection', () => {
    const parser = new AnswerParser('GET', MAX);
    parser.push(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc'));
    expect(parser.end()).toBe(false);
  });

  it('skips 1xx answers before the real one', () => {
    const parser = new AnswerParser('POST', MAX);
    expect(feed(parser, 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: x\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok', 5).complete).toBe(true);
    expect(parser.status).toBe(201);
    expect(parser.headers).toEqual({ 'content-length': '2' });
  });

  it.each([
    ['HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n', false],
    ['HTTP/1.1 200 OK\r\nConnection: Keep-Alive, Close\r\nContent-Length: 0\r\n\r\n', false],
    ['HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n', false],
    ['HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n', true],
    ['HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n', true],
  ])('decides whether the connection may be reused: %j', (text, keepAlive) => {
    const parser = new AnswerParser('GET', MAX);
    expect(parser.push(Buffer.from(text))).toBe(true);
    expect(parser.keepAlive).toBe(keepAlive);
  });

  it('counts bytes past the answer, so that connection is not reused', () => {
    const parser = new AnswerParser('GET', MAX);
    expect(parser.push(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nxHTTP/1.1'))).toBe(true);
    expect(parser.leftover).toBe(8);
  });

  it('accepts a repeated Content-Length that agrees and refuses one that does not', () => {
    expect(new AnswerParser('GET', MAX).push(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx'))).toBe(true);
    expect(() => new AnswerParser('GET', MAX).push(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nx'))).toThrow(AnswerError);
  });

  it.each([
    ['a Content-Length over the limit, before reading the body', 'HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n'],
    ['a chunked body over the limit', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nabcdef\r\n6\r\nabcdef\r\n0\r\n\r\n'],
    ['a body without length over the limit', 'HTTP/1.1 200 OK\r\n\r\nabcdefabcdef'],
  ])('refuses %s', (_name, text) => {
    expect(() => new AnswerParser('GET', 10).push(Buffer.from(text))).toThrow('the answer is larger than 10 bytes');
  });

  it.each([
    ['a status line that is not HTTP/1.x', 'HTTP/2 200\r\n\r\n', /status line/],
    ['garbage', 'hello\r\n\r\n', /status line/],
    ['a header line without a colon', 'HTTP/1.1 200 OK\r\nbroken\r\n\r\n', /malformed header/],
    ['a folded header line', 'HTTP/1.1 200 OK\r\nA: b\r\n c\r\n\r\n', /malformed header/],
    ['a chunk size that is not hex', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n', /invalid chunk size/],
    ['a chunk without its CRLF', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\naXX', /closing CRLF/],
    ['a negative Content-Length', 'HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n', /invalid Content-Length/],
    ['a switch of protocols', 'HTTP/1.1 101 Switching Protocols\r\n\r\n', /switched protocols/],
  ])('refuses %s', (_name, text, message) => {
    expect(() => new AnswerParser('GET', MAX).push(Buffer.from(text))).toThrow(message);
  });

  it('refuses headers larger than 64 KiB without waiting for their end', () => {
    const parser = new AnswerParser('GET', MAX);
    expect(() => parser.push(Buffer.from(`HTTP/1.1 200 OK\r\nX: ${'a'.repeat(70 * 1024)}`))).toThrow(/headers are larger/);
  });
});

describe('requestHead', () => {
  it('writes the request line with path and query, and the headers in order', () => {
    expect(requestHead('POST', new URL('http://h:1/a/b?c=d%20e'), { host: 'h:1', 'content-length': '2' })).toBe(
      'POST /a/b?c=d%20e HTTP/1.1\r\nhost: h:1\r\ncontent-length: 2\r\n\r\n',
    );
  });

  it('refuses a header that would break the framing', () => {
    expect(() => requestHead('GET', new URL('http://h/'), { 'x-a': 'b\r\nx-injected: 1' })).toThrow(TypeError);
    expect(() => requestHead('GET', new URL('http://h/'), { 'x a': 'b' })).toThrow(TypeError);
    expect(() => requestHead('GET', new URL('http://h/'), { 'x-a': 'é' })).toThrow(TypeError);
    expect(() => requestHead('GET /x', new URL('http://h/'), {})).toThrow(TypeError);
  });

  it('takes obs-text values (for a caller forwarding headers it received) only when asked, and never CR or LF', () => {
    expect(requestHead('POST', new URL('http://localhost/call'), { 'Fn-Http-H-X-Name': 'caf\u00e9' }, true)).toBe(
      'POST /call HTTP/1.1\r\nFn-Http-H-X-Name: caf\u00e9\r\n\r\n',
    );
    expect(() => requestHead('POST', new URL('http://localhost/call'), { 'x-a': 'a\r\nInjected: yes' }, true)).toThrow(TypeError);
  });
});

/**
 * A raw TCP server: `onRequest` gets the socket and the text of each request once its head is complete, and answers
 * however it likes; `run` gets a pool (closed afterwards) and the server's URL and connection count.
 */
async function withRawServer(
  onRequest: (socket: net.Socket, request: string) => void,
  run: (pool: Http1Pool, url: URL, connections: () => number) => Promise<void>,
  maxConnectionsPerOrigin = 4,
): Promise<void> {
  let connections = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    connections++;
    sockets.add(socket);
    let received = '';
    socket.on('data', (chunk) => {
      received += chunk.toString('latin1');
      if (!received.includes('\r\n\r\n')) return;
      onRequest(socket, received);
      received = '';
    });
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const pool = new Http1Pool({ maxConnectionsPerOrigin });
  try {
    await run(pool, new URL(`http://127.0.0.1:${(server.address() as net.AddressInfo).port}/p?q=1`), () => connections);
  } finally {
    pool.close();
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => server.close(resolve));
  }
}

function get(url: URL, over: Partial<Http1Request> = {}): Http1Request {
  return { method: 'GET', url, headers: { host: url.host }, timeoutMs: 2000, maxAnswerBytes: MAX, ...over };
}

const OK = 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok';

describe('Http1Pool', () => {
  it('sends one request at a time on a kept-alive connection and reuses it', async () => {
    const seen: string[] = [];
    await withRawServer(
      (socket, request) => {
        seen.push(request);
        socket.write(OK);
      },
      async (pool, url, connections) => {
        for (let i = 0; i < 3; i++) {
          const answer = await pool.request(get(url));
          expect(answer).toEqual({ status: 200, headers: { 'content-length': '2' }, body: Buffer.from('ok') });
        }
        expect(connections()).toBe(1);
        expect(seen).toEqual(Array(3).fill(`GET /p?q=1 HTTP/1.1\r\nhost: ${url.host}\r\n\r\n`));
      },
    );
  });

  it('opens at most maxConnectionsPerOrigin connections; further requests wait for one', async () => {
    const held: net.Socket[] = [];
    await withRawServer(
      (socket) => held.push(socket),
      async (pool, url, connections) => {
        const answers = Promise.all([1, 2, 3, 4].map(() => pool.request(get(url))));
        await waitUntil(() => held.length === 2);
        expect(connections()).toBe(2);
        // Each answer frees a connection for a waiting request, until all four are answered on the same two.
        while (held.length > 0) (held.shift() as net.Socket).write(OK);
        await waitUntil(() => held.length === 2);
        while (held.length > 0) (held.shift() as net.Socket).write(OK);
        expect((await answers).map((a) => a.status)).toEqual([200, 200, 200, 200]);
        expect(connections()).toBe(2);
      },
      2,
    );
  });

  it('opens a new connection after an answer with Connection: close', async () => {
    await withRawServer(
      (socket) => socket.write('HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok'),
      async (pool, url, connections) => {
        await pool.request(get(url));
        await pool.request(get(url));
        expect(connections()).toBe(2);
      },
    );
  });

  it('reads a chunked answer written a few bytes at a time', async () => {
    await withRawServer(
      (socket) => {
        let at = 0;
        const next = (): void => {
          if (at >= CHUNKED.length) return;
          socket.write(CHUNKED.slice(at, at + 5));
          at += 5;
          setImmediate(next);
        };
        next();
      },
      async (pool, url) => {
        expect((await pool.request(get(url))).body.toString()).toBe('{"a":"hello"}');
      },
    );
  });

  it('fails a request whose server stays silent past the timeout, and closes that connection', async () => {
    await withRawServer(
      () => undefined,
      async (pool, url) => {
        await expect(pool.request(get(url, { timeoutMs: 100 }))).rejects.toThrow(`no answer from ${url.host} within 100 ms`);
      },
    );
  });

  it('fails a request whose connection closes before the answer is complete', async () => {
    await withRawServer(
      (socket) => socket.end('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc'),
      async (pool, url) => {
        await expect(pool.request(get(url))).rejects.toThrow('the connection closed before the answer was complete');
      },
    );
  });

  it('refuses a refused connection with its error', async () => {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as net.AddressInfo).port;
    await new Promise((resolve) => server.close(resolve));
    const pool = new Http1Pool({ maxConnectionsPerOrigin: 4 });
    await expect(pool.request(get(new URL(`http://127.0.0.1:${port}/`)))).rejects.toThrow(/ECONNREFUSED/);
  });

  it('fails an oversized answer and then serves the next request on a new connection', async () => {
    let n = 0;
    await withRawServer(
      (socket) => {
        n++;
        socket.write(n === 1 ? 'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n' : OK);
      },
      async (pool, url, connections) => {
        await expect(pool.request(get(url, { maxAnswerBytes: 10 }))).rejects.toThrow('the answer is larger than 10 bytes');
        await expect(pool.request(get(url))).resolves.toMatchObject({ status: 200 });
        expect(connections()).toBe(2);
      },
    );
  });

  it('drops a connection that sends bytes nobody asked for, and a connection the server closed while idle', async () => {
    const sockets: net.Socket[] = [];
    await withRawServer(
      (socket) => {
        sockets.push(socket);
        socket.write(OK);
      },
      async (pool, url, connections) => {
        await pool.request(get(url));
        (sockets[0] as net.Socket).write('HTTP/1.1 408 Request Timeout\r\n\r\n');
        await waitUntil(() => (sockets[0] as net.Socket).destroyed || (sockets[0] as net.Socket).readableEnded);
        await pool.request(get(url));
        expect(connections()).toBe(2);
        (sockets[1] as net.Socket).end();
        await waitUntil(() => (sockets[1] as net.Socket).closed);
        await new Promise((r) => setTimeout(r, 20));
        await pool.request(get(url));
        expect(connections()).toBe(3);
      },
    );
  });

  it('ends a request when its signal aborts, with the reason, and releases a request waiting for a connection', async () => {
    await withRawServer(
      () => undefined,
      async (pool, url) => {
        const controller = new AbortController();
        const sent = pool.request(get(url, { signal: controller.signal, timeoutMs: 10_000 }));
        const waiting = pool.request(get(url, { signal: controller.signal, timeoutMs: 10_000 }));
        setTimeout(() => controller.abort(new Error('stopping')), 50);
        await expect(sent).rejects.toThrow('stopping');
        await expect(waiting).rejects.toThrow('stopping');
        await expect(pool.request(get(url, { signal: controller.signal }))).rejects.toThrow('stopping');
      },
      1,
    );
  });

  it('fails requests under way when closed', async () => {
    await withRawServer(
      () => undefined,
      async (pool, url) => {
        const sent = pool.request(get(url, { timeoutMs: 10_000 }));
        await new Promise((r) => setTimeout(r, 50));
        pool.close();
        await expect(sent).rejects.toThrow('socket hang up');
      },
    );
  });

  it('talks to node:http, POSTing a body and reading its answer', async () => {
    const server = http.createServer((req, res) => {
      const parts: Buffer[] = [];
      req.on('data', (c: Buffer) => parts.push(c));
      req.on('end', () => {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ method: req.method, url: req.url, body: Buffer.concat(parts).toString('utf8') }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = new URL(`http://127.0.0.1:${(server.address() as net.AddressInfo).port}/r?x=1`);
    const pool = new Http1Pool({ maxConnectionsPerOrigin: 4 });
    try {
      const body = '{"é":1}';
      const answer = await pool.request({ ...get(url), method: 'POST', body, headers: { host: url.host, 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) } });
      expect(JSON.parse(answer.body.toString('utf8'))).toEqual({ method: 'POST', url: '/r?x=1', body });
      expect(answer.headers['content-type']).toBe('application/json');
    } finally {
      pool.close();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  describe('over TLS (test certificate for localhost and 127.0.0.1)', () => {
    const tlsDir = path.join(__dirname, '..', '..', 'support', 'tls');
    const cert = readFileSync(path.join(tlsDir, 'localhost.crt'));
    const key = readFileSync(path.join(tlsDir, 'localhost.key'));

    async function withTlsServer(run: (port: number) => Promise<void>): Promise<void> {
      const server = https.createServer({ cert, key }, (_req, res) => res.end('secure'));
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      try {
        await run((server.address() as net.AddressInfo).port);
      } finally {
        server.closeAllConnections();
        await new Promise((resolve) => server.close(resolve));
      }
    }

    it('verifies the server against the given CA, by host name and by IP address', async () => {
      await withTlsServer(async (port) => {
        const pool = new Http1Pool({ maxConnectionsPerOrigin: 4, ca: cert });
        for (const host of ['localhost', '127.0.0.1']) {
          const url = new URL(`https://${host}:${port}/`);
          expect((await pool.request(get(url))).body.toString()).toBe('secure');
        }
        pool.close();
      });
    });

    it('refuses a server its CAs do not trust', async () => {
      await withTlsServer(async (port) => {
        const pool = new Http1Pool({ maxConnectionsPerOrigin: 4 });
        await expect(pool.request(get(new URL(`https://127.0.0.1:${port}/`)))).rejects.toThrow(/self[- ]signed/);
        pool.close();
      });
    });
  });
});

async function waitUntil(check: () => boolean, timeoutMs = 2000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > until) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('Http1Pool over a Unix socket (the function pool)', () => {
  type Answer = (request: { head: string; body: Buffer }, socket: net.Socket) => void;

  /** Answers the first request with the first handler, the second with the second, and so on (the last repeats). */
  const inTurn = (...answers: Answer[]): Answer => {
    let n = 0;
    return (request, socket) => (answers[Math.min(n++, answers.length - 1)] as Answer)(request, socket);
  };

  /** A Unix-socket server that calls `answer` once per complete request (head and Content-Length body). */
  async function withUnixServer(answer: Answer, run: (pool: Http1Pool, connections: () => number) => Promise<void>): Promise<void> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'http1-unix-'));
    const socketPath = path.join(dir, 'lsnr.sock');
    let connections = 0;
    const sockets = new Set<net.Socket>();
    const server = net.createServer((socket) => {
      connections += 1;
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => undefined);
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
    const pool = new Http1Pool({ maxConnectionsPerOrigin: 1, socketPath, latin1HeaderValues: true });
    try {
      await run(pool, () => connections);
    } finally {
      pool.close();
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }

  const CALL = new URL('http://localhost/call');
  const call = (body: Buffer = Buffer.alloc(0), headers: Record<string, string> = {}): Http1Request => ({
    method: 'POST',
    url: CALL,
    headers: { host: 'localhost', ...headers, 'Content-Length': String(body.length) },
    body,
    timeoutMs: 2000,
    maxAnswerBytes: 1024,
  });
  const ok = (body: string) => `HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nFn-Http-Status: 201\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;

  it('sends calls with bytes bodies over one kept-alive connection, header values as latin1, and returns the answers', async () => {
    const seen: Array<{ head: string; body: string }> = [];
    await withUnixServer(
      (request, socket) => {
        seen.push({ head: request.head, body: request.body.toString() });
        socket.write(ok(`{"n":${seen.length}}`));
      },
      async (pool, connections) => {
        const first = await pool.request(call(Buffer.from('{"x":1}'), { 'Fn-Call-Id': 'a', 'Fn-Http-H-X-Name': 'caf\u00e9' }));
        const second = await pool.request(call());
        expect(first).toEqual({ status: 200, headers: { 'content-type': 'application/json', 'fn-http-status': '201', 'content-length': '7' }, body: Buffer.from('{"n":1}') });
        expect(second.body.toString()).toBe('{"n":2}');
        expect(seen.map((r) => r.body)).toEqual(['{"x":1}', '']);
        expect(seen[0]?.head).toContain('POST /call HTTP/1.1\r\nhost: localhost\r\nFn-Call-Id: a\r\nFn-Http-H-X-Name: caf\u00e9\r\n');
        expect(connections()).toBe(1);
      },
    );
  });

  it('reads a chunked answer, and one that runs to the end of the connection, then connects again', async () => {
    await withUnixServer(
      inTurn(
        (_r, socket) => socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n'),
        (_r, socket) => socket.end('HTTP/1.1 502 Bad Gateway\r\nConnection: close\r\n\r\nbye'),
      ),
      async (pool, connections) => {
        expect((await pool.request(call())).body.toString()).toBe('abcde');
        expect(await pool.request(call())).toMatchObject({ status: 502, body: Buffer.from('bye') });
        // The closed connection is replaced by a new one for the next call.
        expect((await pool.request(call())).status).toBe(502);
        expect(connections()).toBe(2);
      },
    );
  });

  it('fails a call whose server closes the connection before answering, and one whose answer is too large', async () => {
    await withUnixServer(
      inTurn(
        (_r, socket) => socket.destroy(),
        (_r, socket) => socket.write(ok('x'.repeat(2048))),
      ),
      async (pool) => {
        await expect(pool.request(call())).rejects.toThrow(/before the answer was complete|socket hang up/);
        await expect(pool.request(call())).rejects.toBeInstanceOf(AnswerError);
      },
    );
  });

  it('starts each call right after an answer that closed its connection on a new one', async () => {
    await withUnixServer(
      (_r, socket) => socket.write('HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok'),
      async (pool, connections) => {
        for (let i = 0; i < 3; i++) {
          // Each call starts in the continuation of the previous one, before the old socket's close event.
          expect((await pool.request(call())).body.toString()).toBe('ok');
        }
        expect(connections()).toBe(3);
      },
    );
  });

  it('fails the call in progress when the pool is closed', async () => {
    await withUnixServer(
      () => undefined, // never answers
      async (pool) => {
        const pending = pool.request(call());
        await new Promise((resolve) => setTimeout(resolve, 20));
        pool.close();
        await expect(pending).rejects.toThrow(/socket hang up/);
      },
    );
  });

  it('fails a call when nothing listens on the socket', async () => {
    const pool = new Http1Pool({ maxConnectionsPerOrigin: 1, socketPath: path.join(os.tmpdir(), `no-such-${process.pid}.sock`) });
    await expect(pool.request(call())).rejects.toMatchObject({ code: 'ENOENT' });
    pool.close();
  });
});
