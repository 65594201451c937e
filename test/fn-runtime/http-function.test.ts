import { createHash } from 'crypto';
import http from 'http';
import type { FunctionPool } from '../../platform/function-pool';
import { buildFixtures, json, testPool, waitFor, type Fixtures } from './support';

let fixtures: Fixtures;
let pool: FunctionPool;
let logs: string[];

beforeAll(async () => {
  fixtures = buildFixtures();
  ({ pool, logs } = testPool(fixtures.entry('http-echo')));
  await pool.start();
});

afterAll(async () => {
  await pool.stop();
  fixtures.cleanup();
});

const get = (url: string) => pool.invokeHttp({ method: 'GET', url, headers: {}, body: Buffer.alloc(0) });
const pidNow = async () => (json((await get('/pid')).body) as { pid: number }).pid;

describe('httpFunction under the real FDK', () => {
  it('passes method, path+query, client headers and body in, and maps status, headers and JSON body out', async () => {
    const res = await pool.invokeHttp({
      method: 'PUT',
      url: '/echo?a=1&b=x%20y',
      headers: { Authorization: 'Bearer t0k', 'Content-Type': 'application/json', 'Opc-Request-Id': 'req-1' },
      body: Buffer.from('{"hello":"wörld"}'),
    });

    expect(res.status).toBe(201);
    expect(res.headers).toEqual({ location: '/things/1', 'x-call-id': 'call-1', 'content-type': 'application/json' });
    expect(json(res.body)).toEqual({
      method: 'PUT',
      url: '/echo?a=1&b=x%20y',
      headers: { authorization: 'Bearer t0k', 'content-type': 'application/json', 'opc-request-id': 'req-1' },
      body: '{"hello":"wörld"}',
      hasDeadline: true,
    });
  });

  it('answers a response without a body with an empty body', async () => {
    const res = await get('/empty');
    expect(res.status).toBe(204);
    expect(res.body.length).toBe(0);
  });

  it('maps a ServiceError to its status and OCI error body', async () => {
    const res = await get('/service-error');
    expect(res.status).toBe(404);
    expect(json(res.body)).toEqual({
      code: 'NotAuthorizedOrNotFound',
      message: 'Authorization failed or requested resource not found.',
    });
  });

  it('answers an unexpected error with 500 naming the call, logs the stack, and keeps serving', async () => {
    const pidBefore = await pidNow();

    const res = await get('/unexpected');

    expect(res.status).toBe(500);
    expect(res.body.toString('utf8')).not.toContain('secret');
    const callId = /\(call (call-\d+)\)/.exec(res.body.toString('utf8'))?.[1];
    expect(json(res.body)).toEqual({ code: 'InternalServerError', message: `Internal error (call ${callId})` });
    await waitFor(() => logs.some((l) => l.includes(`call ${callId} failed`) && l.includes('secret-database-password-42')));
    expect(logs.some((l) => /^\[http-echo \d+\]\s+at /.test(l))).toBe(true);
    expect(await pidNow()).toBe(pidBefore);
  });

  it('answers 500 instead of crashing when the handler returns undefined', async () => {
    const pidBefore = await pidNow();
    const res = await get('/undefined');
    expect(res.status).toBe(500);
    expect(json(res.body)).toMatchObject({ code: 'InternalServerError' });
    expect(await pidNow()).toBe(pidBefore);
  });

  it('answers 500 instead of crashing when the handler sets an invalid header', async () => {
    const pidBefore = await pidNow();
    expect((await get('/bad-header')).status).toBe(500);
    expect(await pidNow()).toBe(pidBefore);
  });

  it('answers malformed JSON with 400 CannotParseRequest', async () => {
    const res = await pool.invokeHttp({ method: 'POST', url: '/json', headers: {}, body: Buffer.from('{"a":') });
    expect(res.status).toBe(400);
    expect(json(res.body)).toMatchObject({ code: 'CannotParseRequest' });
  });

  it('answers an empty body where JSON is required with 400 CannotParseRequest', async () => {
    const res = await pool.invokeHttp({ method: 'POST', url: '/json', headers: {}, body: Buffer.alloc(0) });
    expect(res.status).toBe(400);
    expect(json(res.body)).toMatchObject({ code: 'CannotParseRequest' });
  });

  it('delivers multi-byte UTF-8 that straddles 64 KiB chunk boundaries intact', async () => {
    // '{"text":"' is 9 bytes; 65525 'a's put the 3-byte '€' across byte 65536, and the emoji repeat across later boundaries.
    const text = `${'a'.repeat(65525)}€${'😀é'.repeat(40_000)}`;
    const body = Buffer.from(JSON.stringify({ text }));
    expect(body.subarray(65535, 65536).equals(Buffer.from('€').subarray(1, 2))).toBe(true);

    const res = await pool.invokeHttp({ method: 'POST', url: '/utf8', headers: { 'Content-Type': 'application/json' }, body });

    expect(json(res.body)).toEqual({ chars: text.length, sha256: createHash('sha256').update(text).digest('hex'), replacement: false });
  });

  it('survives a request that is not POST /call on its socket', async () => {
    const [proc] = pool.processList();
    if (!proc) throw new Error('no process');
    const status = await new Promise<number | undefined>((resolve, reject) => {
      http
        .request({ socketPath: proc.socketPath, path: '/', method: 'GET' }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode));
        })
        .on('error', reject)
        .end();
    });
    expect(status).toBe(400);
    expect(await pidNow()).toBe(proc.pid);
  });
});
