import { createSign, generateKeyPairSync } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { SimpleAuthenticationDetailsProvider } from 'oci-common';
import { ComputeInstanceAgentClient, requests } from 'oci-computeinstanceagent';
import { bodySha256Base64, fingerprintOf, signRequest, verifySignedRequest, type VerifiedCaller } from '../../../shared/api/signature';
import { readBody, sendJson } from '../../../shared/api/http';
import { isServiceError, ServiceError } from '../../../shared/domain/errors';
import { Limits } from '../../../shared/domain/limits';
import type { ApiKeyRecord, KeyRegistry } from '../../../shared/ports/identity';

const TENANCY = 'ocid1.tenancy.oc1..aaaatenancy';
const USER = 'ocid1.user.oc1..aaaauser';
const INSTANCE = 'ocid1.instance.oc1.iad.aaaainstance';
const COMPARTMENT = 'ocid1.compartment.oc1..aaaacompartment';
const COMMAND_ID = 'ocid1.instanceagentcommand.oc1.iad.aaaacommand';

function rsaKeyPair(type: 'pkcs1' | 'pkcs8'): { publicKeyPem: string; privateKeyPem: string } {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type, format: 'pem' },
  });
  return { publicKeyPem: publicKey, privateKeyPem: privateKey };
}

class MemoryKeyRegistry implements KeyRegistry {
  private readonly keys = new Map<string, ApiKeyRecord>();

  add(record: ApiKeyRecord): void {
    this.keys.set(`${record.tenancyId}/${record.principalId}/${record.fingerprint}`, record);
  }

  async findKey(tenancyId: string, principalId: string, fingerprint: string): Promise<ApiKeyRecord | undefined> {
    return this.keys.get(`${tenancyId}/${principalId}/${fingerprint}`);
  }
}

const pkcs1 = rsaKeyPair('pkcs1');
const pkcs8 = rsaKeyPair('pkcs8');
const unregistered = rsaKeyPair('pkcs8');
const instanceKey = rsaKeyPair('pkcs8');
const registry = new MemoryKeyRegistry();
for (const pair of [pkcs1, pkcs8]) {
  registry.add({ tenancyId: TENANCY, principalId: USER, principalType: 'user', fingerprint: fingerprintOf(pair.publicKeyPem), publicKeyPem: pair.publicKeyPem });
}
registry.add({
  tenancyId: TENANCY,
  principalId: INSTANCE,
  principalType: 'instance',
  fingerprint: fingerprintOf(instanceKey.publicKeyPem),
  publicKeyPem: instanceKey.publicKeyPem,
});
const keyIdOf = (pair: { publicKeyPem: string }, principal = USER): string => `${TENANCY}/${principal}/${fingerprintOf(pair.publicKeyPem)}`;

const commandJson = {
  id: COMMAND_ID,
  compartmentId: COMPARTMENT,
  displayName: 'uptime',
  timeCreated: '2024-05-01T10:00:00.000Z',
  timeUpdated: '2024-05-01T10:00:00.000Z',
  isCanceled: false,
  executionTimeOutInSeconds: 60,
  target: { instanceId: INSTANCE },
  content: { source: { sourceType: 'TEXT', text: 'uptime' }, output: { outputType: 'TEXT' } },
};

interface Seen {
  method: string;
  url: string;
  caller: VerifiedCaller;
  body: string;
  signedHeaders: string;
}

/** Verifies every request; `/n/...` stands for the Object Storage routes the SDK signs without the body. */
let seen: Seen[] = [];
const server = http.createServer((req, res) => {
  void (async () => {
    try {
      const body = await readBody(req, Limits.maxRequestBodyBytes);
      const rawUrl = req.url ?? '';
      const caller = await verifySignedRequest(
        { method: req.method ?? '', rawUrl, headers: req.headers, bodySha256Base64: bodySha256Base64(body), bodyLength: body.length },
        registry,
        Date.now(),
        { requireBodyHeaders: !rawUrl.startsWith('/n/') },
      );
      const signedHeaders = /headers="([^"]*)"/.exec(req.headers.authorization ?? '')?.[1] ?? '';
      seen.push({ method: req.method ?? '', url: rawUrl, caller, body: body.toString('utf8'), signedHeaders });
      const path = rawUrl.split('?')[0] ?? '';
      if (req.method === 'DELETE') sendJson(res, 204, undefined);
      else if (path === '/20180530/instanceAgentCommands' && req.method === 'GET') sendJson(res, 200, []);
      else sendJson(res, 200, commandJson);
    } catch (e) {
      const error = isServiceError(e) ? e : new ServiceError('InternalServerError', String(e));
      sendJson(res, error.status, error.toBody());
    }
  })();
});
let baseUrl = '';

beforeAll(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
});
beforeEach(() => {
  seen = [];
});

function sdkClient(pair: { publicKeyPem: string; privateKeyPem: string }): ComputeInstanceAgentClient {
  const provider = new SimpleAuthenticationDetailsProvider(TENANCY, USER, fingerprintOf(pair.publicKeyPem), pair.privateKeyPem, null, undefined);
  const client = new ComputeInstanceAgentClient({ authenticationDetailsProvider: provider });
  client.endpoint = baseUrl;
  return client;
}

describe('verifySignedRequest with the real OCI TypeScript SDK', () => {
  describe.each([
    ['PKCS#1', pkcs1],
    ['PKCS#8', pkcs8],
  ])('a %s private key', (_label, pair) => {
    const client = (): ComputeInstanceAgentClient => sdkClient(pair);
    const expectedCaller = { principal: { type: 'user', tenancyId: TENANCY, userId: USER }, keyId: keyIdOf(pair) };

    it('accepts a signed POST, checking the body against x-content-sha256', async () => {
      const response = await client().createInstanceAgentCommand({
        createInstanceAgentCommandDetails: {
          compartmentId: COMPARTMENT,
          executionTimeOutInSeconds: 60,
          displayName: 'uptime ✓',
          target: { instanceId: INSTANCE },
          content: { source: { sourceType: 'TEXT', text: 'uptime # ünïcödé' }, output: { outputType: 'TEXT' } },
        },
      });
      expect(response.instanceAgentCommand.id).toBe(COMMAND_ID);
      expect(seen).toHaveLength(1);
      expect(seen[0]).toMatchObject({
        method: 'POST',
        url: '/20180530/instanceAgentCommands',
        caller: { ...expectedCaller, signedHeaders: ['x-date', '(request-target)', 'host', 'content-type', 'content-length', 'x-content-sha256'] },
        signedHeaders: 'x-date (request-target) host Content-Type Content-Length x-content-sha256',
      });
      expect(JSON.parse(seen[0]?.body ?? '')).toMatchObject({ displayName: 'uptime ✓' });
    });

    it('accepts signed GETs with and without a query string', async () => {
      await client().getInstanceAgentCommand({ instanceAgentCommandId: COMMAND_ID });
      const list = await client().listInstanceAgentCommands({ compartmentId: COMPARTMENT, limit: 10, sortBy: requests.ListInstanceAgentCommandsRequest.SortBy.Timecreated });
      expect(list.items).toEqual([]);
      expect(seen.map((s) => `${s.method} ${s.url}`)).toEqual([
        `GET /20180530/instanceAgentCommands/${COMMAND_ID}`,
        `GET /20180530/instanceAgentCommands?compartmentId=${COMPARTMENT}&limit=10&sortBy=TIMECREATED`,
      ]);
      expect(seen.every((s) => s.caller.keyId === expectedCaller.keyId)).toBe(true);
    });

    it('accepts a signed DELETE', async () => {
      await client().cancelInstanceAgentCommand({ instanceAgentCommandId: COMMAND_ID });
      expect(seen).toEqual([
        expect.objectContaining({
          method: 'DELETE',
          url: `/20180530/instanceAgentCommands/${COMMAND_ID}`,
          caller: { ...expectedCaller, signedHeaders: ['x-date', '(request-target)', 'host'] },
        }),
      ]);
    });
  });
});

interface RawResponse {
  status: number;
  body: { code?: string; message?: string };
}

function send(method: string, path: string, headers: Record<string, string>, body?: string): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${baseUrl}${path}`, { method, headers }, (res) => {
      const chunks: string[] = [];
      res.setEncoding('utf8');
      res.on('data', (c: string) => chunks.push(c));
      res.on('end', () => {
        const text = chunks.join('');
        resolve({ status: res.statusCode ?? 0, body: text ? (JSON.parse(text) as RawResponse['body']) : {} });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Sends a request signed by `signRequest` (the agent's own signer). */
function sendSigned(
  method: string,
  path: string,
  body?: string,
  opts: { key?: { keyId: string; privateKeyPem: string }; nowMs?: number } = {},
): Promise<RawResponse> {
  const key = opts.key ?? { keyId: keyIdOf(pkcs8), privateKeyPem: pkcs8.privateKeyPem };
  const headers = signRequest({ method, url: new URL(path, baseUrl), headers: {}, body }, key, opts.nowMs ?? Date.now());
  return send(method, path, headers, body);
}

/**
 * Builds an Authorization header by hand, independently of `signRequest`, so parameter order, the date header and the
 * algorithm can be varied the way other SDKs do.
 */
function handSigned(
  method: string,
  path: string,
  headers: Record<string, string>,
  names: string[],
  opts: { order?: 'typescript' | 'python'; algorithm?: string; version?: string } = {},
): Record<string, string> {
  const lower = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
  const text = names
    .map((n) => (n === '(request-target)' ? `(request-target): ${method.toLowerCase()} ${path}` : `${n.toLowerCase()}: ${lower[n.toLowerCase()]}`))
    .join('\n');
  const signature = createSign('RSA-SHA256').update(text).sign(pkcs1.privateKeyPem, 'base64');
  const p = {
    version: opts.version ?? '1',
    keyId: keyIdOf(pkcs1),
    algorithm: opts.algorithm ?? 'rsa-sha256',
    headers: names.join(' '),
    signature,
  };
  const order: Array<keyof typeof p> =
    opts.order === 'python' ? ['algorithm', 'headers', 'keyId', 'signature', 'version'] : ['version', 'keyId', 'algorithm', 'headers', 'signature'];
  return { ...headers, authorization: `Signature ${order.map((k) => `${k}="${p[k]}"`).join(',')}` };
}

const host = (): string => new URL(baseUrl).host;
const listPath = `/20180530/instanceAgentCommands?compartmentId=${COMPARTMENT}`;
const postBody = JSON.stringify({ compartmentId: COMPARTMENT, executionTimeOutInSeconds: 60 });

function bodyHeaders(body: string, dateHeader = 'x-date'): Record<string, string> {
  return {
    [dateHeader]: new Date().toUTCString(),
    host: host(),
    'content-type': 'application/json',
    'content-length': String(Buffer.byteLength(body)),
    'x-content-sha256': bodySha256Base64(body),
  };
}

function expectNotAuthenticated(r: RawResponse, messagePart: string | RegExp): void {
  expect(r.status).toBe(401);
  expect(r.body.code).toBe('NotAuthenticated');
  expect(r.body.message).toMatch(messagePart);
}

describe('verifySignedRequest on raw requests', () => {
  it('accepts what signRequest signs: GET, POST with a body, DELETE', async () => {
    expect((await sendSigned('GET', listPath)).status).toBe(200);
    expect((await sendSigned('POST', '/20180530/instanceAgentCommands', postBody)).status).toBe(200);
    expect((await sendSigned('DELETE', `/20180530/instanceAgentCommands/${COMMAND_ID}`)).status).toBe(204);
    expect(seen.map((s) => s.method)).toEqual(['GET', 'POST', 'DELETE']);
  });

  it('names an instance key as an instance principal', async () => {
    const r = await sendSigned('GET', listPath, undefined, { key: { keyId: keyIdOf(instanceKey, INSTANCE), privateKeyPem: instanceKey.privateKeyPem } });
    expect(r.status).toBe(200);
    expect(seen[0]?.caller.principal).toEqual({ type: 'instance', tenancyId: TENANCY, instanceId: INSTANCE });
  });

  it('rejects a request without Authorization', async () => {
    expectNotAuthenticated(await send('GET', listPath, { 'x-date': new Date().toUTCString() }), /Authorization header is missing/);
  });

  it('rejects an unknown key', async () => {
    const r = await sendSigned('GET', listPath, undefined, { key: { keyId: keyIdOf(unregistered), privateKeyPem: unregistered.privateKeyPem } });
    expectNotAuthenticated(r, 'Unknown key');
  });

  it('rejects a registered keyId signed with another private key', async () => {
    const r = await sendSigned('GET', listPath, undefined, { key: { keyId: keyIdOf(pkcs8), privateKeyPem: unregistered.privateKeyPem } });
    expectNotAuthenticated(r, /signature does not match/);
  });

  it('rejects a body that differs from the signed one', async () => {
    const path = '/20180530/instanceAgentCommands';
    const headers = signRequest({ method: 'POST', url: new URL(path, baseUrl), headers: {}, body: postBody }, { keyId: keyIdOf(pkcs8), privateKeyPem: pkcs8.privateKeyPem });
    const tampered = postBody.replace('60', '61');
    expectNotAuthenticated(await send('POST', path, headers, tampered), /x-content-sha256/);
  });

  it('rejects a tampered query or path', async () => {
    const headers = signRequest({ method: 'GET', url: new URL(listPath, baseUrl), headers: {} }, { keyId: keyIdOf(pkcs8), privateKeyPem: pkcs8.privateKeyPem });
    expectNotAuthenticated(await send('GET', `${listPath}x`, headers), /signature does not match/);
    expectNotAuthenticated(await send('GET', listPath.replace('instanceAgentCommands', 'instanceAgentCommandExecutions'), headers), /signature does not match/);
  });

  it('rejects a signature dated 10 minutes before or after the server time', async () => {
    const tenMinutesMs = 10 * 60 * 1000;
    expectNotAuthenticated(await sendSigned('GET', listPath, undefined, { nowMs: Date.now() - tenMinutesMs }), /more than 5 minutes/);
    expectNotAuthenticated(await sendSigned('GET', listPath, undefined, { nowMs: Date.now() + tenMinutesMs }), /more than 5 minutes/);
  });

  it('accepts a signed date header instead of x-date (Python, Go)', async () => {
    const headers = handSigned('GET', listPath, { date: new Date().toUTCString(), host: host() }, ['date', '(request-target)', 'host']);
    expect((await send('GET', listPath, headers)).status).toBe(200);
  });

  it('accepts the parameters in the Python SDK order, with lower-case body header names', async () => {
    const path = '/20180530/instanceAgentCommands';
    const headers = handSigned('POST', path, bodyHeaders(postBody, 'date'), ['date', '(request-target)', 'host', 'content-length', 'content-type', 'x-content-sha256'], { order: 'python' });
    expect(headers.authorization).toMatch(/^Signature algorithm="rsa-sha256",headers=".*",keyId=".*",signature=".*",version="1"$/);
    const r = await send('POST', path, headers, postBody);
    expect(r.status).toBe(200);
  });

  it('rejects an algorithm other than rsa-sha256, and a version other than 1', async () => {
    const names = ['x-date', '(request-target)', 'host'];
    const plain = { 'x-date': new Date().toUTCString(), host: host() };
    expectNotAuthenticated(await send('GET', listPath, handSigned('GET', listPath, plain, names, { algorithm: 'hmac-sha256' })), /algorithm hmac-sha256/);
    expectNotAuthenticated(await send('GET', listPath, handSigned('GET', listPath, plain, names, { version: '2' })), /version 2/);
  });

  it('rejects a POST whose signature leaves out a body header', async () => {
    const path = '/20180530/instanceAgentCommands';
    const headers = handSigned('POST', path, bodyHeaders(postBody), ['x-date', '(request-target)', 'host', 'content-type', 'content-length']);
    expectNotAuthenticated(await send('POST', path, headers, postBody), 'The required header x-content-sha256 is not signed.');
  });

  it('rejects a signature that leaves out host', async () => {
    const headers = handSigned('GET', listPath, { 'x-date': new Date().toUTCString(), host: host() }, ['x-date', '(request-target)']);
    expectNotAuthenticated(await send('GET', listPath, headers), 'The required header host is not signed.');
  });

  it('accepts a PUT signed without the body where the route allows it (Object Storage putObject)', async () => {
    const path = '/n/ns/b/bucket/o/object.txt';
    const headers = handSigned('PUT', path, { 'x-date': new Date().toUTCString(), host: host(), 'content-length': '5' }, ['x-date', '(request-target)', 'host']);
    expect((await send('PUT', path, headers, 'hello')).status).toBe(200);
    expectNotAuthenticated(await send('PUT', '/20180530/x', handSigned('PUT', '/20180530/x', { 'x-date': new Date().toUTCString(), host: host() }, ['x-date', '(request-target)', 'host']), 'hello'), /content-length is not signed/);
  });
});

describe('verifySignedRequest directly', () => {
  const nowMs = Date.parse('2024-05-01T10:00:00.000Z');
  const key = { keyId: keyIdOf(pkcs8), privateKeyPem: pkcs8.privateKeyPem };

  function request(method: string, body?: string, at = nowMs): { method: string; rawUrl: string; headers: http.IncomingHttpHeaders } {
    const url = new URL('http://127.0.0.1:9/20180530/instanceAgentCommands');
    const added = signRequest({ method, url, headers: {}, body }, key, at);
    return { method, rawUrl: '/20180530/instanceAgentCommands', headers: Object.fromEntries(Object.entries(added).map(([k, v]) => [k.toLowerCase(), v])) };
  }

  async function reason(p: Promise<unknown>): Promise<string> {
    const e: unknown = await p.then(
      () => undefined,
      (err: unknown) => err,
    );
    if (!(e instanceof ServiceError)) throw new Error(`expected a ServiceError, got ${String(e)}`);
    expect(e.code).toBe('NotAuthenticated');
    return e.message;
  }

  it('accepts a skew of exactly 5 minutes and rejects one millisecond more', async () => {
    const fiveMinutesMs = 5 * 60 * 1000;
    await expect(verifySignedRequest(request('GET'), registry, nowMs + fiveMinutesMs)).resolves.toMatchObject({ keyId: key.keyId });
    expect(await reason(verifySignedRequest(request('GET'), registry, nowMs + fiveMinutesMs + 1))).toMatch(/more than 5 minutes/);
  });

  it('checks the signed content-length against the body length', async () => {
    const body = '{"a":1}';
    const req = request('POST', body);
    await expect(verifySignedRequest({ ...req, bodySha256Base64: bodySha256Base64(body), bodyLength: 7 }, registry, nowMs)).resolves.toBeDefined();
    expect(await reason(verifySignedRequest({ ...req, bodySha256Base64: bodySha256Base64(body), bodyLength: 8 }, registry, nowMs))).toMatch(/content-length/);
  });

  it('signs an empty POST body with the well-known empty hash', () => {
    const headers = signRequest({ method: 'POST', url: new URL('http://h/x'), headers: {} }, key, nowMs);
    expect(headers).toMatchObject({ 'x-content-sha256': '47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=', 'content-length': '0', 'content-type': 'application/json', host: 'h' });
    expect(headers.authorization).toContain('headers="x-date (request-target) host Content-Type Content-Length x-content-sha256"');
  });

  it('rejects malformed Authorization headers', async () => {
    const base = request('GET');
    const auth = String(base.headers.authorization);
    const variants: Array<[string, RegExp]> = [
      [auth.replace('Signature ', 'Bearer '), /Signature scheme/],
      [auth.replace(/keyId="[^"]*",/, ''), /no keyId/],
      [auth.replace(/,headers="[^"]*"/, ''), /no headers list/],
      [auth.replace(/signature="[^"]*"/, 'signature="not base64!"'), /no valid signature/],
      [auth.replace(/keyId="[^"]*"/, `keyId="${TENANCY}/${USER}"`), /keyId must be/],
      [`${auth},keyId="x"`, /more than once/],
      [auth.replace('version="1",', 'version=1,'), /malformed/],
    ];
    for (const [authorization, expected] of variants) {
      expect(await reason(verifySignedRequest({ ...base, headers: { ...base.headers, authorization } }, registry, nowMs))).toMatch(expected);
    }
  });

  it('rejects a signed header that is absent from the request', async () => {
    const base = request('GET');
    const { host: _host, ...withoutHost } = base.headers;
    expect(await reason(verifySignedRequest({ ...base, headers: withoutHost }, registry, nowMs))).toMatch(/signed header host is missing/);
  });
});

describe('Ed25519 keys', () => {
  const nowMs = Date.parse('2024-05-01T10:00:00.000Z');
  const url = new URL('http://127.0.0.1:9/20180530/agent/reports');
  const ed = generateKeyPairSync('ed25519', { publicKeyEncoding: { type: 'spki', format: 'pem' }, privateKeyEncoding: { type: 'pkcs8', format: 'pem' } });
  const edKeyId = `${TENANCY}/${INSTANCE}/${fingerprintOf(ed.publicKey)}`;
  const edRegistry = new MemoryKeyRegistry();
  edRegistry.add({ tenancyId: TENANCY, principalId: INSTANCE, principalType: 'instance', fingerprint: fingerprintOf(ed.publicKey), publicKeyPem: ed.publicKey });
  edRegistry.add({ tenancyId: TENANCY, principalId: USER, principalType: 'user', fingerprint: fingerprintOf(pkcs8.publicKeyPem), publicKeyPem: pkcs8.publicKeyPem });
  const body = '{"event":{"type":"ACK"}}';

  function signed(privateKeyPem: string, keyId: string): { method: string; rawUrl: string; headers: http.IncomingHttpHeaders; bodySha256Base64: string; bodyLength: number } {
    const added = signRequest({ method: 'POST', url, headers: {}, body }, { keyId, privateKeyPem }, nowMs);
    const headers = Object.fromEntries(Object.entries(added).map(([k, v]) => [k.toLowerCase(), v]));
    return { method: 'POST', rawUrl: url.pathname, headers, bodySha256Base64: bodySha256Base64(body), bodyLength: Buffer.byteLength(body) };
  }

  async function refusal(p: Promise<unknown>): Promise<string> {
    const e: unknown = await p.then(
      () => new Error('verified'),
      (err: unknown) => err,
    );
    if (!(e instanceof ServiceError)) throw new Error(`expected a ServiceError, got ${String(e)}`);
    expect(e.code).toBe('NotAuthenticated');
    return e.message;
  }

  it('signs with algorithm ed25519 and verifies against the registered Ed25519 key', async () => {
    const req = signed(ed.privateKey, edKeyId);
    expect(String(req.headers.authorization)).toContain('algorithm="ed25519"');
    await expect(verifySignedRequest(req, edRegistry, nowMs)).resolves.toMatchObject({ principal: { type: 'instance', instanceId: INSTANCE }, keyId: edKeyId });
  });

  it('rejects a changed request, and an algorithm that is not the key\'s', async () => {
    const req = signed(ed.privateKey, edKeyId);
    expect(await refusal(verifySignedRequest({ ...req, rawUrl: '/20180530/agent/other' }, edRegistry, nowMs))).toMatch(/does not match the request/);
    const claimsRsa = String(req.headers.authorization).replace('algorithm="ed25519"', 'algorithm="rsa-sha256"');
    expect(await refusal(verifySignedRequest({ ...req, headers: { ...req.headers, authorization: claimsRsa } }, edRegistry, nowMs))).toMatch(
      /algorithm rsa-sha256 does not match the key, which signs with ed25519/,
    );
    // Without an algorithm parameter rsa-sha256 is meant, which an Ed25519 key does not sign with either.
    const noAlgorithm = String(req.headers.authorization).replace('algorithm="ed25519",', '');
    expect(await refusal(verifySignedRequest({ ...req, headers: { ...req.headers, authorization: noAlgorithm } }, edRegistry, nowMs))).toMatch(/rsa-sha256 does not match/);
    // An RSA key's request relabelled ed25519 is refused before any verification.
    const rsaReq = signed(pkcs8.privateKeyPem, keyIdOf(pkcs8));
    expect(String(rsaReq.headers.authorization)).toContain('algorithm="rsa-sha256"');
    await expect(verifySignedRequest(rsaReq, edRegistry, nowMs)).resolves.toMatchObject({ principal: { type: 'user' } });
    const claimsEd = String(rsaReq.headers.authorization).replace('algorithm="rsa-sha256"', 'algorithm="ed25519"');
    expect(await refusal(verifySignedRequest({ ...rsaReq, headers: { ...rsaReq.headers, authorization: claimsEd } }, edRegistry, nowMs))).toMatch(
      /algorithm ed25519 does not match the key, which signs with rsa-sha256/,
    );
  });

  it('refuses other algorithms and key types', async () => {
    const req = signed(ed.privateKey, edKeyId);
    const hmac = String(req.headers.authorization).replace('algorithm="ed25519"', 'algorithm="hmac-sha256"');
    expect(await refusal(verifySignedRequest({ ...req, headers: { ...req.headers, authorization: hmac } }, edRegistry, nowMs))).toMatch(/hmac-sha256 is not supported/);
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256', publicKeyEncoding: { type: 'spki', format: 'pem' }, privateKeyEncoding: { type: 'pkcs8', format: 'pem' } });
    expect(() => signRequest({ method: 'GET', url, headers: {} }, { keyId: 'k', privateKeyPem: ec.privateKey }, nowMs)).toThrow(/ec key cannot sign requests/);
    const ecRegistry = new MemoryKeyRegistry();
    ecRegistry.add({ tenancyId: TENANCY, principalId: INSTANCE, principalType: 'instance', fingerprint: fingerprintOf(ec.publicKey), publicKeyPem: ec.publicKey });
    const ecKeyId = `${TENANCY}/${INSTANCE}/${fingerprintOf(ec.publicKey)}`;
    const asEc = String(req.headers.authorization).replace(edKeyId, ecKeyId);
    expect(await refusal(verifySignedRequest({ ...req, headers: { ...req.headers, authorization: asEc } }, ecRegistry, nowMs))).toMatch(/which signs with an unsupported algorithm/);
  });
});

describe('fingerprintOf', () => {
  it('matches `openssl rsa -pubout -outform DER | openssl md5 -c`', () => {
    const pem = [
      '-----BEGIN PUBLIC KEY-----',
      'MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA0XTEWlEV1AC2ntHJs1gA',
      'spmc0ImfnGqJvPT+hnP/780uqUbALbuIZQLVQUi0ce3D4hqyQsQXIWhowFGltJi5',
      'mBN6fnpVPACIemJIws3eHjdj5n7y9YYkXIAtUIRVo4J0x8dTWhX/GO/qwYXpx6mO',
      'YHS8xfTjI8YyFWNbXtAFEf98xKF+xhsX4BuPLE4fx5tpsXu5dm+3nEqFERpsUs1u',
      'A6QD84yylyu26FytCYoy47EGvFtjcfRpa/XokXEDTi9PDOpIKtjE971D21cLCYLt',
      'dVSqtTelv8kFzAfCYy2W/ctfPwiNv50Vwun/4HF3YqO+yXeJlChNRPRo4xqg3ZF9',
      'bwIDAQAB',
      '-----END PUBLIC KEY-----',
    ].join('\n');
    expect(fingerprintOf(pem)).toBe('56:89:f1:05:f7:d9:76:e1:8c:d1:3a:7f:9c:95:9b:6d');
  });
});
