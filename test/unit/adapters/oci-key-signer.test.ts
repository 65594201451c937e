import { createHash, generateKeyPairSync } from 'node:crypto';
import { Readable } from 'node:stream';
import * as common from 'oci-common';
import { ApiKeyRequestSigner, requestSignerFor } from '../../../shared/adapters/oci/key-signer';
import { fingerprintOf, verifySignedRequest } from '../../../shared/api/signature';
import type { ApiKeyRecord, KeyRegistry } from '../../../shared/ports/identity';

const { privateKey, publicKey } = generateKeyPairSync('rsa', {
  modulusLength: 2048,
  privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  publicKeyEncoding: { type: 'spki', format: 'pem' },
});
const tenancyId = 'ocid1.tenancy.oc1..t';
const instanceId = 'ocid1.instance.oc1..i';
const fingerprint = fingerprintOf(publicKey);
const ed = generateKeyPairSync('ed25519', { privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } });
const edFingerprint = fingerprintOf(ed.publicKey);
const registry: KeyRegistry = {
  findKey: async (t, p, f): Promise<ApiKeyRecord | undefined> => {
    if (t !== tenancyId || p !== instanceId) return undefined;
    if (f === fingerprint) return { tenancyId, principalId: instanceId, principalType: 'instance', fingerprint, publicKeyPem: publicKey };
    if (f === edFingerprint) return { tenancyId, principalId: instanceId, principalType: 'instance', fingerprint: edFingerprint, publicKeyPem: ed.publicKey };
    return undefined;
  },
};
const provider = new common.SimpleAuthenticationDetailsProvider(tenancyId, instanceId, fingerprint, privateKey, null);

function sdkRequest(method: string, uri: string, body?: string): common.HttpRequest {
  return { method, uri, headers: new Headers({ 'content-type': 'application/json' }), ...(body !== undefined ? { body } : {}) } as common.HttpRequest;
}

async function verify(req: common.HttpRequest, requireBodyHeaders: boolean, body = '') {
  const url = new URL(req.uri);
  const headers: Record<string, string> = {};
  req.headers.forEach((v, k) => (headers[k] = v));
  return verifySignedRequest(
    {
      method: req.method,
      rawUrl: url.pathname + url.search,
      headers,
      bodySha256Base64: createHash('sha256').update(body).digest('base64'),
      bodyLength: Buffer.byteLength(body),
    },
    registry,
    Date.now(),
    { requireBodyHeaders },
  );
}

describe('ApiKeyRequestSigner', () => {
  it('signs a POST with its body the way the server verifies it', async () => {
    const body = '{"groupName":"g","type":"TRIM_HORIZON"}';
    const req = sdkRequest('POST', 'http://127.0.0.1:8530/20180418/streams/s/groupCursors', body);
    await new ApiKeyRequestSigner(provider).signHttpRequest(req);
    expect(req.headers.get('x-content-sha256')).toBe(createHash('sha256').update(body).digest('base64'));
    await expect(verify(req, true, body)).resolves.toMatchObject({ principal: { type: 'instance', instanceId } });
  });

  it('signs a GET with a query, and a body-less POST when the SDK excludes the body', async () => {
    const get = sdkRequest('GET', 'http://127.0.0.1:8530/20180418/streams/s/messages?cursor=abc&limit=10');
    await new ApiKeyRequestSigner(provider).signHttpRequest(get);
    await expect(verify(get, true)).resolves.toBeTruthy();
    const put = sdkRequest('POST', 'http://127.0.0.1:8530/20180418/streams/s/messages', '{"messages":[]}');
    await new ApiKeyRequestSigner(provider).signHttpRequest(put, true);
    expect(put.headers.get('x-content-sha256')).toBeNull();
    await expect(verify(put, false)).resolves.toBeTruthy();
  });

  it('fails verification when the signed request is changed', async () => {
    const req = sdkRequest('GET', 'http://127.0.0.1:8530/20180418/streams/s/messages?cursor=abc');
    await new ApiKeyRequestSigner(provider).signHttpRequest(req);
    const tampered = { ...req, uri: 'http://127.0.0.1:8530/20180418/streams/other/messages?cursor=abc' } as common.HttpRequest;
    await expect(verify(tampered, true)).rejects.toMatchObject({ code: 'NotAuthenticated' });
  });

  it('signs with an Ed25519 key, and refuses a streamed signed body with one (the SDK signer knows only RSA)', async () => {
    const edProvider = new common.SimpleAuthenticationDetailsProvider(tenancyId, instanceId, edFingerprint, ed.privateKey, null);
    const body = '{"groupName":"g","type":"TRIM_HORIZON"}';
    const req = sdkRequest('POST', 'http://127.0.0.1:8530/20180418/streams/s/groupCursors', body);
    await new ApiKeyRequestSigner(edProvider).signHttpRequest(req);
    expect(req.headers.get('authorization')).toContain('algorithm="ed25519"');
    await expect(verify(req, true, body)).resolves.toMatchObject({ principal: { type: 'instance', instanceId } });
    const streamed = { ...sdkRequest('POST', 'http://127.0.0.1:8530/x'), body: Readable.from(['{}']) } as unknown as common.HttpRequest;
    await expect(new ApiKeyRequestSigner(edProvider).signHttpRequest(streamed)).rejects.toThrow(/streamed body .* only be signed with an RSA key/);
  });

  it('is used for API-key providers only; principals with session tokens keep the SDK signer', () => {
    expect(requestSignerFor(provider)).toBeInstanceOf(ApiKeyRequestSigner);
    const tokenProvider = Object.assign(Object.create(provider) as common.AuthenticationDetailsProvider, { getAuthType: () => 'instance_principal' });
    expect(requestSignerFor(tokenProvider)).toBeInstanceOf(common.DefaultRequestSigner);
  });
});
