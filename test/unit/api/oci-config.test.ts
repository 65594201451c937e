import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigFileAuthenticationDetailsProvider, ConfigFileReader } from 'oci-common';
import { OciConfigError, readOciConfigProfile, writeOciConfigFile, type OciConfigProfile } from '../../../shared/api/oci-config';

let dir = '';
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'oci-config-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const { privateKey } = generateKeyPairSync('rsa', {
  modulusLength: 2048,
  publicKeyEncoding: { type: 'spki', format: 'pem' },
  privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
});

function admin(keyFile: string): OciConfigProfile {
  return {
    user: 'ocid1.user.oc1..aaaaadmin',
    fingerprint: '56:89:f1:05:f7:d9:76:e1:8c:d1:3a:7f:9c:95:9b:6d',
    tenancy: 'ocid1.tenancy.oc1..aaaatenancy',
    region: 'us-ashburn-1',
    key_file: keyFile,
  };
}

describe('writeOciConfigFile / readOciConfigProfile', () => {
  it('writes an owner-only file that reads back the same', () => {
    const path = join(dir, 'config');
    const profiles = { DEFAULT: admin(join(dir, 'key.pem')), agent: { ...admin(join(dir, 'agent.pem')), pass_phrase: 's3cret' } };
    writeOciConfigFile(path, profiles);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(readOciConfigProfile(path)).toEqual(profiles.DEFAULT);
    expect(readOciConfigProfile(path, 'agent')).toEqual(profiles.agent);
  });

  it('tightens the mode when it replaces an existing file', () => {
    const path = join(dir, 'config');
    writeFileSync(path, 'old', { mode: 0o644 });
    writeOciConfigFile(path, { DEFAULT: admin('/k.pem') });
    expect(statSync(path).mode & 0o777).toBe(0o600);
  });

  it('gives the OCI SDK the same values from the file it writes', async () => {
    const path = join(dir, 'config');
    const keyFile = join(dir, 'key.pem');
    writeFileSync(keyFile, privateKey, { mode: 0o600 });
    writeOciConfigFile(path, { DEFAULT: admin(keyFile), other: { ...admin(keyFile), user: 'ocid1.user.oc1..aaaaother' } });

    for (const profile of ['DEFAULT', 'other']) {
      const ours = readOciConfigProfile(path, profile);
      const file = ConfigFileReader.parseFileFromPath(path, profile);
      expect({
        user: file.get('user'),
        fingerprint: file.get('fingerprint'),
        tenancy: file.get('tenancy'),
        region: file.get('region'),
        key_file: file.get('key_file'),
      }).toEqual(ours);
      const provider = new ConfigFileAuthenticationDetailsProvider(path, profile);
      expect(await provider.getKeyId()).toBe(`${ours.tenancy}/${ours.user}/${ours.fingerprint}`);
      expect(provider.getRegion().regionId).toBe(ours.region);
      expect(provider.getPrivateKey()).toBe(privateKey);
    }
  });

  it('parses a hand-written file as the CLI does: comments, DEFAULT inheritance, ~ expansion', () => {
    const path = join(dir, 'config');
    writeFileSync(
      path,
      [
        '# written by hand',
        '[DEFAULT]',
        'user = ocid1.user.oc1..aaaadefault',
        'fingerprint=aa:bb',
        'tenancy=ocid1.tenancy.oc1..aaaatenancy',
        'region=us-phoenix-1',
        'key_file=~/.oci/oci_api_key.pem',
        '',
        '; another comment style',
        '[dev]',
        '  user=ocid1.user.oc1..aaaadev  ',
        'region=eu-frankfurt-1',
        '',
      ].join('\r\n'),
    );
    expect(readOciConfigProfile(path, 'dev')).toEqual({
      user: 'ocid1.user.oc1..aaaadev',
      fingerprint: 'aa:bb',
      tenancy: 'ocid1.tenancy.oc1..aaaatenancy',
      region: 'eu-frankfurt-1',
      key_file: join(homedir(), '.oci/oci_api_key.pem'),
    });
    expect(readOciConfigProfile(path).user).toBe('ocid1.user.oc1..aaaadefault');
  });

  it('fails clearly on a missing profile, a missing key or a malformed line', () => {
    const path = join(dir, 'config');
    writeOciConfigFile(path, { DEFAULT: admin('/k.pem') });
    expect(() => readOciConfigProfile(path, 'nope')).toThrow(/No profile named nope/);
    writeFileSync(path, '[DEFAULT]\nuser=u\n');
    expect(() => readOciConfigProfile(path)).toThrow(/has no fingerprint/);
    writeFileSync(path, '[DEFAULT]\nthis is not a pair\n');
    expect(() => readOciConfigProfile(path)).toThrow(OciConfigError);
    expect(() => readOciConfigProfile(join(dir, 'absent'))).toThrow(OciConfigError);
  });

  it('refuses values that would break the file', () => {
    const path = join(dir, 'config');
    expect(() => writeOciConfigFile(path, { DEFAULT: { ...admin('/k.pem'), region: 'us-ashburn-1\n[evil]' } })).toThrow(OciConfigError);
    expect(() => readFileSync(path)).toThrow();
  });
});
