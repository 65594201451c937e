/**
 * A request signer for the OCI SDK clients that keeps the parsed private key. The SDK's own DefaultRequestSigner
 * parses the PEM key for every request, which costs more CPU than the RSA signature itself and sits on every call an
 * agent makes. The signature is the same OCI HTTP Signature v1 (`shared/api/signature.ts`); providers that do not
 * sign with an API key (instance and resource principals, with their session tokens) keep the SDK's signer.
 */
import * as common from 'oci-common';
import { signRequest, signingAlgorithmOf, type SigningKey } from '../../api/signature';

export class ApiKeyRequestSigner implements common.RequestSigner {
  private key: Promise<SigningKey> | undefined;
  private readonly fallback: common.RequestSigner;

  constructor(private readonly provider: common.AuthenticationDetailsProvider) {
    this.fallback = new common.DefaultRequestSigner(provider);
  }

  async signHttpRequest(request: common.HttpRequest, forceExcludeBody = false): Promise<void> {
    const body: unknown = request.body;
    const signsBody = !forceExcludeBody && body !== undefined && body !== null && body !== '';
    if (signsBody && typeof body !== 'string' && !Buffer.isBuffer(body)) {
      // A streamed body must be read to be hashed; the SDK's signer already handles that, with RSA keys only.
      if (signingAlgorithmOf(this.provider.getPrivateKey()) !== 'rsa-sha256') {
        throw new Error('A request with a streamed body that the signature covers can only be signed with an RSA key.');
      }
      await this.fallback.signHttpRequest(request, forceExcludeBody);
      return;
    }
    this.key ??= this.provider.getKeyId().then((keyId) => ({ keyId, privateKeyPem: this.provider.getPrivateKey() }));
    const headers: Record<string, string> = {};
    request.headers.forEach((value, name) => {
      headers[name] = value;
    });
    const added = signRequest(
      {
        method: request.method,
        url: new URL(request.uri),
        headers,
        ...(signsBody ? { body: body as string | Buffer } : {}),
        excludeBody: forceExcludeBody,
      },
      await this.key,
    );
    for (const [name, value] of Object.entries(added)) request.headers.set(name, value);
  }
}

/** The fastest correct signer for this provider. */
export function requestSignerFor(provider: common.AuthenticationDetailsProvider): common.RequestSigner {
  const authType = (provider as { getAuthType?: () => string | undefined }).getAuthType?.();
  return authType ? new common.DefaultRequestSigner(provider) : new ApiKeyRequestSigner(provider);
}

/** Client parameters for an OCI SDK service client that signs with `requestSignerFor(provider)`. */
export function fastSigningClientParams(provider: common.AuthenticationDetailsProvider): { httpClient: common.HttpClient } {
  return { httpClient: new common.FetchHttpClient(requestSignerFor(provider)) };
}
