import { generateKeyPairSync } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { AgentStreamClient, StreamServiceError } from '../../../agent/stream-client';
import { describePollError } from '../../../agent/agent';
import { bodySha256Base64, signRequest, verifySignedRequest } from '../../../shared/api/signature';
import { LONG_POLL_HEADER } from '../../../shared/api/streaming';
import { CursorExpiredError, StreamError, StreamNotFoundError, StreamUnavailableError } from '../../../shared/ports/stream';
import type { ApiKeyRecord } from '../../../shared/ports/identity';

const STREAM = 'ocid1.stream.oc1..s';
const KEY_ID = 'ocid1.tenancy.oc1..t/ocid1.instance.oc1..i/aa:bb';
const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const privateKeyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
const registry = {
  findKey: async (tenancyId: string, principalId: string, fingerprint: string): Promise<ApiKeyRecord | undefined> => ({
    tenancyId,
    principalId,
    principalType: 'instance',
    fingerprint,
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  }),
};

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

type Answer = (req: Seen, res: http.ServerResponse) => void;

async function withServer(answer: Answer, test: (client: AgentStreamClient, seen: Seen[]) => Promise<void>): Promise<void> {
  const seen: Seen[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const s = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body };
      seen.push(s);
      answer(s, res);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const client = new AgentStreamClient({
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    sign: (req) => signRequest(req, { keyId: KEY_ID, privateKeyPem }),
    requestTimeoutMs: 2000,
  });
  try {
    await test(client, seen);
  } finally {
    client.close();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
}

function json(status: number, body: unknown, headers: Record<string, string> = {}): Answer {
  return (_req, res) => {
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(JSON.stringify(body));
  };
}

async function verified(s: Seen): Promise<string> {
  // With the received body's hash and length, so a POST's signed body headers are checked against what arrived.
  const body = { bodySha256Base64: bodySha256Base64(s.body), bodyLength: Buffer.byteLength(s.body) };
  const caller = await verifySignedRequest({ method: s.method, rawUrl: s.url, headers: s.headers, ...body }, registry, Date.now());
  return caller.keyId;
}

describe('AgentStreamClient', () => {
  it('opens a group cursor with a signed POST carrying the OCI CreateGroupCursorDetails', async () => {
    await withServer(json(200, { value: 'c1' }), async (client, seen) => {
      await expect(client.createGroupCursor(STREAM, { groupName: 'g', instanceName: 'i', type: 'TRIM_HORIZON', timeoutMs: 30_000 })).resolves.toBe('c1');
      expect(seen[0]?.method).toBe('POST');
      expect(seen[0]?.url).toBe(`/20180418/streams/${STREAM}/groupCursors`);
      expect(JSON.parse(seen[0]?.body ?? '')).toEqual({ groupName: 'g', instanceName: 'i', type: 'TRIM_HORIZON', commitOnGet: false, timeoutInMs: 30_000 });
      expect(seen[0]?.headers.authorization).toContain('headers="x-date (request-target) host Content-Type Content-Length x-content-sha256"');
      await expect(verified(seen[0] as Seen)).resolves.toBe(KEY_ID);
    });
  });

  it('reads messages: base64 keys and values decoded, the next cursor taken from opc-next-cursor', async () => {
    const messages = [
      { stream: STREAM, partition: '0', key: Buffer.from('k').toString('base64'), value: Buffer.from('hello').toString('base64'), offset: 7, timestamp: '2026-11-28T00:00:00.000Z' },
      { stream: STREAM, partition: '0', key: null, value: Buffer.from([0, 255]).toString('base64'), offset: 8, timestamp: '2026-11-28T00:00:01.000Z' },
    ];
    await withServer(json(200, messages, { 'opc-next-cursor': 'next' }), async (client, seen) => {
      const result = await client.getMessages(STREAM, 'a+b/c=', { limit: 20_000, waitMs: 1500 });
      expect(result.nextCursor).toBe('next');
      expect(result.messages).toEqual([
        { stream: STREAM, partition: '0', key: 'k', value: Buffer.from('hello'), offset: 7, timestamp: '2026-11-28T00:00:00.000Z' },
        { stream: STREAM, partition: '0', key: null, value: Buffer.from([0, 255]), offset: 8, timestamp: '2026-11-28T00:00:01.000Z' },
      ]);
      // The cursor is percent-encoded and the limit capped at OCI's 10,000; the wait rides in the long-poll header.
      expect(seen[0]?.url).toBe(`/20180418/streams/${STREAM}/messages?cursor=a%2Bb%2Fc%3D&limit=10000`);
      expect(seen[0]?.headers[LONG_POLL_HEADER]).toBe('1500');
      expect(seen[0]?.headers.authorization).toContain('headers="x-date (request-target) host"');
      await expect(verified(seen[0] as Seen)).resolves.toBe(KEY_ID);
    });
  });

  it('asks for at most 20 s of long poll, and sends no header for a read that must not wait', async () => {
    await withServer(json(200, [], { 'opc-next-cursor': 'n' }), async (client, seen) => {
      await client.getMessages(STREAM, 'c', { limit: 1, waitMs: 600_000 });
      await client.getMessages(STREAM, 'c', { limit: 1 });
      expect(seen.map((s) => s.headers[LONG_POLL_HEADER])).toEqual(['20000', undefined]);
    });
  });

  it('commits and heartbeats with a signed, empty POST and returns the new cursor', async () => {
    await withServer(json(200, { value: 'after' }), async (client, seen) => {
      await expect(client.commit(STREAM, 'x y')).resolves.toBe('after');
      await expect(client.heartbeat(STREAM, 'x')).resolves.toBe('after');
      expect(seen.map((s) => `${s.method} ${s.url} ${s.body.length}`)).toEqual([
        `POST /20180418/streams/${STREAM}/commit?cursor=x%20y 0`,
        `POST /20180418/streams/${STREAM}/heartbeat?cursor=x 0`,
      ]);
      await expect(verified(seen[0] as Seen)).resolves.toBe(KEY_ID);
    });
  });

  it('creates a plain cursor with the OCI CreateCursorDetails (AT_TIME as RFC 3339)', async () => {
    await withServer(json(200, { value: 'p' }), async (client, seen) => {
      await client.createCursor(STREAM, { partition: '0', type: 'AT_TIME', timeMs: Date.UTC(2026, 10, 28) });
      expect(JSON.parse(seen[0]?.body ?? '')).toEqual({ partition: '0', type: 'AT_TIME', time: '2026-11-28T00:00:00.000Z' });
    });
  });

  it('maps answers to the Stream port errors the way the SDK adapter does', async () => {
    const cases: Array<[number, unknown, new (...args: never[]) => Error]> = [
      [404, { code: 'NotAuthorizedOrNotFound', message: 'Authorization failed or requested resource not found.' }, StreamNotFoundError],
      [400, { code: 'InvalidParameter', message: 'Cursor has expired' }, CursorExpiredError],
      [400, { code: 'CursorExpired', message: 'gone' }, CursorExpiredError],
      [429, { code: 'TooManyRequests', message: 'slow down' }, StreamUnavailableError],
      [503, { code: 'ServiceUnavailable', message: 'later' }, StreamUnavailableError],
      [401, { code: 'NotAuthenticated', message: 'no' }, StreamError],
    ];
    for (const [status, body, type] of cases) {
      await withServer(json(status, body), async (client) => {
        const err = await client.commit(STREAM, 'c').catch((e: unknown) => e);
        expect(err).toBeInstanceOf(type);
        expect((err as Error).cause).toBeInstanceOf(StreamServiceError);
        expect((err as Error).cause).toMatchObject({ statusCode: status, serviceCode: (body as { code: string }).code });
      });
    }
    await withServer(json(401, { code: 'NotAuthenticated', message: 'no' }), async (client) => {
      const err = await client.commit(STREAM, 'c').catch((e: unknown) => e);
      // Not transient, and logged the way OCI's agent logs a service error.
      expect(err).not.toBeInstanceOf(StreamUnavailableError);
      expect(describePollError(err)).toBe('Service error:NotAuthenticated. no. http status code: 401.');
    });
  });

  it('refuses an answer without opc-next-cursor, a non-list, and a cursor answer without a value', async () => {
    await withServer(json(200, []), async (client) => {
      await expect(client.getMessages(STREAM, 'c', { limit: 1 })).rejects.toThrow(/without opc-next-cursor/);
    });
    await withServer(json(200, { not: 'a list' }, { 'opc-next-cursor': 'n' }), async (client) => {
      await expect(client.getMessages(STREAM, 'c', { limit: 1 })).rejects.toThrow(/other than a list/);
    });
    await withServer(json(200, {}), async (client) => {
      await expect(client.commit(STREAM, 'c')).rejects.toThrow(/holds no cursor/);
    });
  });

  it('turns a dropped connection and a silent server into StreamUnavailableError', async () => {
    await withServer((_req, res) => res.socket?.destroy(), async (client) => {
      await expect(client.commit(STREAM, 'c')).rejects.toBeInstanceOf(StreamUnavailableError);
    });
    await withServer(() => undefined, async (client) => {
      await expect(client.commit(STREAM, 'c')).rejects.toThrow(/no answer from .* within 2000 ms/);
    });
  });

  it('ends a waiting read when the caller aborts, with the abort reason', async () => {
    await withServer(() => undefined, async (client) => {
      const controller = new AbortController();
      const read = client.getMessages(STREAM, 'c', { limit: 1, waitMs: 20_000, signal: controller.signal });
      setTimeout(() => controller.abort(new Error('stopping')), 50);
      await expect(read).rejects.toThrow('stopping');
    });
  });
});
