import { generateKeyPairSync } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignedHttpClient, type RequestSigner } from '../../../agent/http';
import { nullLogger } from '../../../agent/log';
import { AgentSessionSigner } from '../../../agent/session';
import { AGENT_SESSIONS_PATH, AgentSessions } from '../../../shared/api/agent-session';
import { bodySha256Base64, fingerprintOf, signRequest, verifySignedRequest } from '../../../shared/api/signature';
import type { ApiKeyRecord, KeyRegistry } from '../../../shared/ports/identity';

const TENANCY = 'ocid1.tenancy.oc1..t';
const INSTANCE = 'ocid1.instance.oc1..i';
const key = generateKeyPairSync('ed25519', { privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } });
const fingerprint = fingerprintOf(key.publicKey);
const registry: KeyRegistry = {
  findKey: async (t, p, f): Promise<ApiKeyRecord | undefined> =>
    t === TENANCY && p === INSTANCE && f === fingerprint ? { tenancyId: t, principalId: p, principalType: 'instance', fingerprint, publicKeyPem: key.publicKey } : undefined,
};
const keySigner: RequestSigner = (req) => signRequest(req, { keyId: `${TENANCY}/${INSTANCE}/${fingerprint}`, privateKeyPem: key.privateKey });

interface Seen {
  path: string;
  /** How the request was signed, or 'refused' when it was answered 401. */
  signedWith: 'key' | 'session' | 'refused';
}

/** A platform's signature check and session endpoint; `sessions` can be replaced (a restart) or withdrawn (404). */
class TestPlatform {
  sessions = new AgentSessions();
  offersSessions = true;
  readonly seen: Seen[] = [];
  private readonly server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => void this.answer(req, Buffer.concat(chunks), res));
  });
  endpoint = '';

  async start(): Promise<this> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.endpoint = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((r) => this.server.close(r));
  }

  sessionRequests(): number {
    return this.seen.filter((s) => s.path === AGENT_SESSIONS_PATH).length;
  }

  private async answer(req: http.IncomingMessage, body: Buffer, res: http.ServerResponse): Promise<void> {
    const path = req.url ?? '/';
    const reply = (status: number, json: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(json));
    };
    let session: boolean;
    try {
      const signed = { method: req.method ?? 'GET', rawUrl: path, headers: req.headers, bodySha256Base64: bodySha256Base64(body), bodyLength: body.length };
      session = (await verifySignedRequest(signed, registry, Date.now(), { sessions: this.sessions })).session;
    } catch (e) {
      this.seen.push({ path, signedWith: 'refused' });
      reply(401, { code: 'NotAuthenticated', message: (e as Error).message });
      return;
    }
    this.seen.push({ path, signedWith: session ? 'session' : 'key' });
    if (path !== AGENT_SESSIONS_PATH) return reply(200, { ok: true });
    if (!this.offersSessions) return reply(404, { code: 'NotFound', message: 'No route.' });
    const publicKey = (JSON.parse(body.toString()) as { publicKey: string }).publicKey;
    reply(200, this.sessions.issue({ tenancyId: TENANCY, instanceId: INSTANCE, fingerprint }, publicKey, Date.now()));
  }
}

let platform: TestPlatform;
const owned: Array<{ close(): void }> = [];
beforeEach(async () => {
  platform = await new TestPlatform().start();
});
afterEach(async () => {
  for (const o of owned.splice(0)) o.close();
  await platform.stop();
});

function agentSide(clock?: { nowMs(): number }): { signer: AgentSessionSigner; client: SignedHttpClient } {
  const signer = new AgentSessionSigner({ apiEndpoint: platform.endpoint, keySigner, log: nullLogger, ...(clock ? { clock } : {}) });
  const client = new SignedHttpClient({ sign: signer.sign, onUnauthorized: signer.rejected });
  owned.push(signer, client);
  return { signer, client };
}

const report = (client: SignedHttpClient) => client.request('POST', new URL('/20180530/agent/reports', platform.endpoint), { body: '{"event":{"type":"ACK"}}' });

describe('AgentSessionSigner', () => {
  it('signs with the key until a session is open, then with the session, and with the key for other origins', async () => {
    const { signer, client } = agentSide();
    expect((await report(client)).status).toBe(200);
    await signer.settled();
    expect(signer.active).toBe(true);
    expect((await report(client)).status).toBe(200);
    // The session request goes out while the first report does, so either may arrive first.
    expect(platform.seen.filter((s) => s.path === AGENT_SESSIONS_PATH)).toEqual([{ path: AGENT_SESSIONS_PATH, signedWith: 'key' }]);
    expect(platform.seen.filter((s) => s.path !== AGENT_SESSIONS_PATH).map((s) => s.signedWith)).toEqual(['key', 'session']);
    const elsewhere = signer.sign({ method: 'GET', url: new URL('https://cell-1.streaming.example.com/20180418/streams/s/messages'), headers: {} });
    expect(elsewhere.authorization).toContain('algorithm="ed25519"');
  });

  it('when the platform no longer knows the session (a restart), sends the request again at once with the key and opens a new one', async () => {
    const { signer, client } = agentSide();
    signer.open();
    await signer.settled();
    platform.sessions = new AgentSessions();
    platform.seen.length = 0;
    expect((await report(client)).status).toBe(200);
    expect(platform.seen.filter((s) => s.path !== AGENT_SESSIONS_PATH).map((s) => s.signedWith)).toEqual(['refused', 'key']);
    await signer.settled();
    expect(signer.active).toBe(true);
    expect((await report(client)).status).toBe(200);
    expect(platform.seen.at(-1)).toEqual({ path: '/20180530/agent/reports', signedWith: 'session' });
  });

  it('a 401 to a key-signed request is answered as it is, without a second try', async () => {
    const { signer } = agentSide();
    const unknownKey = new SignedHttpClient({
      sign: (req) => signRequest(req, { keyId: `${TENANCY}/${INSTANCE}/00:00`, privateKeyPem: key.privateKey }),
      onUnauthorized: signer.rejected,
    });
    owned.push(unknownKey);
    expect((await report(unknownKey)).status).toBe(401);
    expect(platform.seen).toEqual([{ path: '/20180530/agent/reports', signedWith: 'refused' }]);
  });

  it('keeps signing with the key on a platform without sessions, and asks again only an hour later', async () => {
    platform.offersSessions = false;
    let nowMs = Date.now();
    const { signer, client } = agentSide({ nowMs: () => nowMs });
    await report(client);
    await signer.settled();
    await report(client);
    await signer.settled();
    expect(signer.active).toBe(false);
    expect(platform.sessionRequests()).toBe(1);
    expect(platform.seen.filter((s) => s.path !== AGENT_SESSIONS_PATH).map((s) => s.signedWith)).toEqual(['key', 'key']);
    nowMs += 60 * 60 * 1000;
    await report(client);
    await signer.settled();
    expect(platform.sessionRequests()).toBe(2);
  });

  it('renews a session once two thirds of its life have passed, and stops using one near its expiry', async () => {
    let nowMs = Date.now();
    const { signer } = agentSide({ nowMs: () => nowMs });
    signer.open();
    await signer.settled();
    const req = { method: 'GET', url: new URL('/20180418/streams/s/messages', platform.endpoint), headers: {} };
    const first = signer.sign(req).authorization;
    expect(first).toMatch(/algorithm="hmac-sha256"/);
    nowMs += 39 * 60 * 1000;
    expect(signer.sign(req).authorization).toMatch(/algorithm="hmac-sha256"/);
    await signer.settled();
    expect(platform.sessionRequests()).toBe(1);
    nowMs += 2 * 60 * 1000;
    const renewing = signer.sign(req).authorization;
    expect(renewing).toMatch(/algorithm="hmac-sha256"/);
    await signer.settled();
    expect(platform.sessionRequests()).toBe(2);
    const renewed = signer.sign(req).authorization;
    expect(/keyId="([^"]+)"/.exec(renewed ?? '')?.[1]).not.toBe(/keyId="([^"]+)"/.exec(first ?? '')?.[1]);
    // Within five minutes of its expiry a session is not used: the key signs (and a new session is asked for).
    nowMs += 56 * 60 * 1000;
    expect(signer.sign(req).authorization).toMatch(/algorithm="ed25519"/);
  });
});
