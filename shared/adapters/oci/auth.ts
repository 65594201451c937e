import { generateKeyPairSync } from 'node:crypto';
import * as common from 'oci-common';
import { fingerprintOf } from '../../api/signature';

/** How an adapter signs its requests; chosen by configuration. */
export type AuthConfig =
  /** An OCI CLI config file (`~/.oci/config` by default): users and the CLI. */
  | { type: 'config-file'; file?: string; profile?: string }
  /** Agents on OCI hosts: the instance's certificate from the metadata service. */
  | { type: 'instance-principal' }
  /** Inside OCI Functions: the `OCI_RESOURCE_PRINCIPAL_*` environment. */
  | { type: 'resource-principal' }
  /**
   * A key held in memory (tests, and principals registered with the platform). `userId` is whatever principal the key
   * belongs to: a user, or an instance registered with the platform (its keyId is `tenancy/instance/fingerprint`).
   */
  | {
      type: 'keys';
      tenancyId: string;
      userId: string;
      fingerprint: string;
      privateKeyPem: string;
      passphrase?: string;
      region?: string;
    };

export type KeysAuthConfig = Extract<AuthConfig, { type: 'keys' }>;

export type AuthProvider = common.AuthenticationDetailsProvider;

export async function makeAuthProvider(config: AuthConfig): Promise<AuthProvider> {
  switch (config.type) {
    case 'config-file':
      return new common.ConfigFileAuthenticationDetailsProvider(config.file, config.profile);
    case 'instance-principal':
      return new common.InstancePrincipalsAuthenticationDetailsProviderBuilder().build();
    case 'resource-principal':
      return common.ResourcePrincipalAuthenticationDetailsProvider.builder();
    case 'keys':
      return new common.SimpleAuthenticationDetailsProvider(
        config.tenancyId,
        config.userId,
        config.fingerprint,
        config.privateKeyPem,
        config.passphrase ?? null,
        config.region === undefined ? undefined : regionOf(config.region),
      );
  }
}

/** A region id the SDK does not know (a self-hosted platform's own name) is registered in the oc1 realm. */
export function regionOf(regionId: string): common.Region {
  return common.Region.fromRegionId(regionId) ?? common.Region.register(regionId, common.Realm.OC1);
}

/** A fresh RSA key pair as a `keys` config plus the public key to register with the server (tests, first start). */
export function generateKeysAuthConfig(principal: {
  tenancyId: string;
  userId: string;
  region?: string;
}): { auth: KeysAuthConfig; publicKeyPem: string } {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  return {
    auth: { type: 'keys', ...principal, fingerprint: fingerprintOf(publicKey), privateKeyPem: privateKey },
    publicKeyPem: publicKey,
  };
}
