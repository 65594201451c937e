import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fingerprintOf } from '../../../shared/api/signature';
import {
  generateKeysAuthConfig,
  makeAuthProvider,
  regionOf,
} from '../../../shared/adapters/oci/auth';

// Fingerprint computed independently: openssl rsa -pubout -outform DER | openssl md5 -c
const FIXTURE_PUBLIC_KEY = `-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA4JVSSzZh1HJaq+jfZ1eI
d62Vu7/clhpKn3AV1urNZhBzffHrwz+K8VcDC5VIXU3CoKsqa9GuHPUKZTZmuMfP
sfe5xyv7pPJvHNlORe/TI7l0ZjdLIuufbiFTiY6aJjUWIQSNNrS85ZIdtl5rp1mb
LkK50XKItpkR24tuCCZ5raACLaTWexFtCJtsEXhlGW0NsyS6N5n7n27AqMG4azOS
a9BcjxC/2PV6ixGnOMUprXh2qxVKXNEz8oE5DAxV/5EuXs8w/c4LtTrQ1gBTGj3z
sCcOVasGz5PRfo/jNsPpa5/l23SIAEZpNFbfvca1rkPII6kd3TxXTwVH5ScTht3j
rQIDAQAB
-----END PUBLIC KEY-----
`;
const FIXTURE_FINGERPRINT = 'c8:b4:79:b1:ad:57:53:a1:21:9e:bd:dc:09:83:45:7f';

const principal = { tenancyId: 'ocid1.tenancy.oc1..t', userId: 'ocid1.user.oc1..u' };

describe('fingerprintOf', () => {
  it('matches the fingerprint openssl gives for the same public key', () => {
    expect(fingerprintOf(FIXTURE_PUBLIC_KEY)).toBe(FIXTURE_FINGERPRINT);
  });
});

describe('makeAuthProvider', () => {
  it('signs in-memory keys as tenancy/principal/fingerprint', async () => {
    const { auth, publicKeyPem } = generateKeysAuthConfig({ ...principal, region: 'us-ashburn-1' });

    const provider = await makeAuthProvider(auth);

    await expect(provider.getKeyId()).resolves.toBe(`${principal.tenancyId}/${principal.userId}/${fingerprintOf(publicKeyPem)}`);
    expect(provider.getPrivateKey()).toBe(auth.privateKeyPem);
  });

  it('reads an OCI config file profile and its key file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'oci-auth-'));
    try {
      const { auth } = generateKeysAuthConfig(principal);
      writeFileSync(join(dir, 'key.pem'), auth.privateKeyPem);
      writeFileSync(
        join(dir, 'config'),
        [
          '[DEFAULT]',
          'user=ocid1.user.oc1..other',
          'fingerprint=00:00',
          `key_file=${join(dir, 'key.pem')}`,
          'tenancy=ocid1.tenancy.oc1..other',
          'region=us-phoenix-1',
          '[RUNCOMMAND]',
          `user=${principal.userId}`,
          `fingerprint=${auth.fingerprint}`,
          `key_file=${join(dir, 'key.pem')}`,
          `tenancy=${principal.tenancyId}`,
          'region=us-ashburn-1',
          '',
        ].join('\n'),
      );

      const provider = await makeAuthProvider({ type: 'config-file', file: join(dir, 'config'), profile: 'RUNCOMMAND' });

      await expect(provider.getKeyId()).resolves.toBe(`${principal.tenancyId}/${principal.userId}/${auth.fingerprint}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('regionOf', () => {
  it('knows OCI regions and registers a platform region it does not know', () => {
    expect(regionOf('us-ashburn-1').regionId).toBe('us-ashburn-1');
    expect(regionOf('runcommand-local-1').regionId).toBe('runcommand-local-1');
  });
});
