/**
 * Registering principals: the local tenancy, compartments, users with API keys, and instances with their own key
 * and stream. Used by the first-start bootstrap and by `runcommand instance add` / `user add`.
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { writeOciConfigFile } from '../shared/api/oci-config';
import type { StoredIdentityDirectory } from '../shared/app/identity-directory';
import { fingerprintOf } from '../shared/api/signature';
import type { Ids } from '../shared/ports/ids';
import type { InstanceRecord, UserRecord } from '../shared/ports/identity';

export interface KeyPair {
  privateKeyPem: string;
  publicKeyPem: string;
  fingerprint: string;
}

/**
 * The kinds of key the platform generates: RSA-2048, the only kind OCI's SDKs, CLI and services sign with (users'
 * keys), or Ed25519, which only this platform accepts and which costs an agent a tenth of the CPU per signature
 * (instances' keys by default).
 */
export type ApiKeyType = 'rsa' | 'ed25519';
export const API_KEY_TYPES: readonly ApiKeyType[] = ['ed25519', 'rsa'];
export const DEFAULT_INSTANCE_KEY_TYPE: ApiKeyType = 'ed25519';

export function generateApiKey(type: ApiKeyType = 'rsa'): KeyPair {
  const privateKeyEncoding = { type: 'pkcs8', format: 'pem' } as const;
  const publicKeyEncoding = { type: 'spki', format: 'pem' } as const;
  const { privateKey, publicKey } =
    type === 'rsa'
      ? generateKeyPairSync('rsa', { modulusLength: 2048, privateKeyEncoding, publicKeyEncoding })
      : generateKeyPairSync('ed25519', { privateKeyEncoding, publicKeyEncoding });
  return { privateKeyPem: privateKey, publicKeyPem: publicKey, fingerprint: fingerprintOf(publicKey) };
}

/** The region written into the platform's OCI config files (the SDK needs one; the endpoint is what counts). */
export const CONFIG_REGION = 'us-ashburn-1';

/** Writes a user's private key (0600, in a 0700 directory) and an OCI config file naming it under `profile`. */
export function writeUserCredentials(
  files: { configFile: string; keyFile: string },
  profile: string,
  user: { tenancyId: string; userId: string },
  key: Pick<KeyPair, 'privateKeyPem' | 'fingerprint'>,
): void {
  mkdirSync(path.dirname(files.keyFile), { recursive: true, mode: 0o700 });
  writeFileSync(files.keyFile, key.privateKeyPem, { mode: 0o600 });
  writeOciConfigFile(files.configFile, {
    [profile]: { user: user.userId, fingerprint: key.fingerprint, tenancy: user.tenancyId, region: CONFIG_REGION, key_file: files.keyFile },
  });
}

/** Creates instance streams; the embedded store and OCI Streaming admin both fit. */
export interface StreamCreator {
  createStream(options: { name: string; compartmentId: string }): Promise<{ id: string }> | { id: string };
}

export async function addUser(
  directory: StoredIdentityDirectory,
  ids: Ids,
  input: { tenancyId: string; name: string; compartments: string[] | '*' },
): Promise<{ user: UserRecord; key: KeyPair }> {
  const user: UserRecord = { tenancyId: input.tenancyId, userId: ids.ocid('user'), name: input.name, compartments: input.compartments };
  const key = generateApiKey();
  await directory.putUser(user);
  await directory.putKey({
    tenancyId: user.tenancyId,
    principalId: user.userId,
    principalType: 'user',
    fingerprint: key.fingerprint,
    publicKeyPem: key.publicKeyPem,
  });
  return { user, key };
}

export async function addInstance(
  directory: StoredIdentityDirectory,
  streams: StreamCreator,
  ids: Ids,
  input: { tenancyId: string; compartmentId: string; displayName: string; nowIso: string; keyType?: ApiKeyType },
): Promise<{ instance: InstanceRecord; key: KeyPair }> {
  const instanceId = ids.ocid('instance');
  const stream = await streams.createStream({ name: `instance-${instanceId}`, compartmentId: input.compartmentId });
  const instance: InstanceRecord = {
    tenancyId: input.tenancyId,
    instanceId,
    compartmentId: input.compartmentId,
    displayName: input.displayName,
    streamId: stream.id,
    timeCreated: input.nowIso,
  };
  const key = generateApiKey(input.keyType ?? DEFAULT_INSTANCE_KEY_TYPE);
  // The key first: an instance is usable (its agent can sign) as soon as its record appears.
  await directory.putKey({
    tenancyId: instance.tenancyId,
    principalId: instanceId,
    principalType: 'instance',
    fingerprint: key.fingerprint,
    publicKeyPem: key.publicKeyPem,
  });
  await directory.putInstance(instance);
  return { instance, key };
}
