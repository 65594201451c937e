/**
 * The OCI config file (`~/.oci/config`) the SDKs and the CLI read. The platform writes the admin's profile so users
 * can point Oracle's own tools at it; the agent and our CLI read it back with the same rules as the CLI:
 * `#`/`;` comment lines, `key=value`, every profile inheriting what it does not set from `[DEFAULT]`.
 */
import { chmodSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, dirname, join } from 'node:path';

export interface OciConfigProfile {
  user: string;
  fingerprint: string;
  tenancy: string;
  region: string;
  key_file: string;
  pass_phrase?: string;
}

export class OciConfigError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'OciConfigError';
  }
}

const DEFAULT_PROFILE = 'DEFAULT';
const REQUIRED_KEYS = ['user', 'fingerprint', 'tenancy', 'region', 'key_file'] as const;
const PROFILE_KEYS: ReadonlyArray<keyof OciConfigProfile> = [...REQUIRED_KEYS, 'pass_phrase'];
/** Config files are a few hundred bytes; this guards against pointing the reader at something else. */
const MAX_CONFIG_BYTES = 1024 * 1024;

function checkValue(profile: string, key: string, value: string): void {
  if (/[\r\n]/.test(value) || value !== value.trim()) {
    throw new OciConfigError(`The ${key} of profile [${profile}] cannot contain line breaks or surrounding spaces.`);
  }
}

/** Renders profiles in INI form, DEFAULT first. */
export function formatOciConfig(profiles: Record<string, OciConfigProfile>): string {
  const names = Object.keys(profiles).sort((a, b) => (a === DEFAULT_PROFILE ? -1 : b === DEFAULT_PROFILE ? 1 : 0));
  const sections = names.map((name) => {
    if (!/^[^\][\r\n]+$/.test(name) || name !== name.trim()) throw new OciConfigError(`Invalid profile name: ${JSON.stringify(name)}`);
    const profile = profiles[name] as OciConfigProfile;
    const lines = [`[${name}]`];
    for (const key of PROFILE_KEYS) {
      const value = profile[key];
      if (value === undefined) continue;
      checkValue(name, key, value);
      lines.push(`${key}=${value}`);
    }
    return lines.join('\n');
  });
  return sections.join('\n\n') + '\n';
}

/** Writes the config file readable only by its owner (it names the key file and may hold its pass phrase). */
export function writeOciConfigFile(path: string, profiles: Record<string, OciConfigProfile>): void {
  const text = formatOciConfig(profiles);
  // Write aside then rename, so a reader never sees half a file.
  const temp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  writeFileSync(temp, text, { mode: 0o600 });
  chmodSync(temp, 0o600);
  renameSync(temp, path);
}

/** Parses INI text into profile → (key → value). Keys are lower-cased, as the Python CLI's configparser does. */
export function parseOciConfig(text: string): Map<string, Map<string, string>> {
  const profiles = new Map<string, Map<string, string>>();
  let current: Map<string, string> | undefined;
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) return;
    if (line.startsWith('[') && line.endsWith(']')) {
      const name = line.slice(1, -1).trim();
      if (!name) throw new OciConfigError(`Line ${index + 1}: empty profile name`);
      current = profiles.get(name) ?? new Map<string, string>();
      profiles.set(name, current);
      return;
    }
    const eq = line.indexOf('=');
    if (eq <= 0) throw new OciConfigError(`Line ${index + 1}: expected key=value`);
    if (!current) throw new OciConfigError(`Line ${index + 1}: a key appears before any [profile]`);
    current.set(line.slice(0, eq).trim().toLowerCase(), line.slice(eq + 1).trim());
  });
  return profiles;
}

/** `~/…` means the user's home directory, as in the SDKs. */
export function expandHome(path: string, home: string = homedir()): string {
  return path === '~' ? home : path.startsWith('~/') || path.startsWith('~\\') ? join(home, path.slice(2)) : path;
}

/** One profile, with DEFAULT filling the keys it does not set, and `key_file` expanded. */
export function readOciConfigProfile(path: string, profile: string = DEFAULT_PROFILE): OciConfigProfile {
  let text: string;
  try {
    const bytes = readFileSync(path);
    if (bytes.length > MAX_CONFIG_BYTES) throw new OciConfigError(`${path} is too large to be an OCI config file`);
    text = bytes.toString('utf8');
  } catch (e) {
    if (e instanceof OciConfigError) throw e;
    throw new OciConfigError(`Cannot read the OCI config file ${path}`, { cause: e });
  }
  const profiles = parseOciConfig(text);
  const own = profiles.get(profile);
  if (!own) throw new OciConfigError(`No profile named ${profile} in ${path}`);
  const merged = new Map([...(profiles.get(DEFAULT_PROFILE) ?? []), ...own]);
  const get = (key: (typeof REQUIRED_KEYS)[number]): string => {
    const value = merged.get(key);
    if (!value) throw new OciConfigError(`Profile ${profile} in ${path} has no ${key}`);
    return value;
  };
  const passPhrase = merged.get('pass_phrase');
  return {
    user: get('user'),
    fingerprint: get('fingerprint'),
    tenancy: get('tenancy'),
    region: get('region'),
    key_file: expandHome(get('key_file')),
    ...(passPhrase ? { pass_phrase: passPhrase } : {}),
  };
}
