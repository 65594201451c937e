/**
 * The agent config. It mirrors OCI's runcommand `config.yml` (`commandExecutionMaxWorkers`, `logDir`, ...): a flat
 * `key: value` YAML subset (comments, quoted or bare strings, integers, booleans), or JSON when the file starts with
 * `{`. Relative paths are resolved against the config file's directory. Unknown keys are reported, not fatal, so a
 * real OCI `config.yml` with extra settings still loads.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Limits } from '../shared/domain/limits';

export interface AgentConfig {
  instanceId: string;
  tenancyId: string;
  /** The platform base URL (e.g. `http://127.0.0.1:8530`), without a trailing slash. */
  apiEndpoint: string;
  streamingEndpoint: string;
  /** Where tuple sources and outputs are read and written (native URIs and PARs name their own); `apiEndpoint` by default. */
  objectStorageEndpoint: string;
  streamId: string;
  /** PEM private key of the instance's API key. */
  keyFile: string;
  fingerprint: string;
  commandExecutionMaxWorkers: number;
  /** Received and not finished; never more than the documented 5. */
  maxInFlight: number;
  logDir: string;
  stateDir: string;
  runAsUser?: string;
  killGraceMs: number;
  /** How long one stream poll may be held open waiting for a message. */
  pollWaitMs: number;
  /** Largest script object downloaded; a larger one fails the command without running it. */
  maxScriptBytes: number;
  /** Largest output (stdout + stderr) spooled and uploaded to an Object Storage output; the rest is dropped. */
  maxOutputBytes: number;
  /** fsync every state and outbox write, so records also survive a power loss (see agent/files.ts). */
  syncWrites: boolean;
}

export class AgentConfigError extends Error {
  constructor(
    message: string,
    /** The offending key, when the error is about one. */
    readonly key?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'AgentConfigError';
  }
}

export interface LoadedAgentConfig {
  config: AgentConfig;
  /** Keys present in the file that the agent does not use (typos show up here). */
  unknownKeys: string[];
}

type Scalar = string | number | boolean;

const DEFAULT_KILL_GRACE_MS = 5000;
const DEFAULT_POLL_WAIT_MS = 20_000;
const MAX_POLL_WAIT_MS = 60_000;
const MAX_KILL_GRACE_MS = 600_000;
const MAX_CONFIG_BYTES = 64 * 1024;
export const DEFAULT_MAX_SCRIPT_BYTES = 100 * 1024 ** 2;
export const DEFAULT_MAX_OUTPUT_BYTES = 10 * 1024 ** 3;
/** OCI's largest single PutObject. */
const MAX_OUTPUT_BYTES = 50 * 1024 ** 3;
/** A script is one file in a working directory, not a data set. */
const MAX_SCRIPT_BYTES = 2 * 1024 ** 3;
const KEY = /^[A-Za-z_][A-Za-z0-9_.-]*$/;

const KNOWN_KEYS: ReadonlySet<string> = new Set([
  'instanceId', 'tenancyId', 'apiEndpoint', 'streamingEndpoint', 'streamId', 'keyFile', 'fingerprint',
  'commandExecutionMaxWorkers', 'maxInFlight', 'logDir', 'stateDir', 'runAsUser', 'killGraceMs', 'pollWaitMs',
  'objectStorageEndpoint', 'maxScriptBytes', 'maxOutputBytes', 'syncWrites',
]);

/** Removes a `#` comment that is outside quotes and starts the line or follows whitespace (YAML's rule). */
function stripComment(line: string): string {
  let quote: string | undefined;
  for (let i = 0; i < line.length; i += 1) {
    const c = line[i];
    if (quote !== undefined) {
      if (c === '\\' && quote === '"') i += 1;
      else if (c === quote) quote = undefined;
    } else if (c === '"' || c === "'") {
      quote = c;
    } else if (c === '#' && (i === 0 || /\s/.test(line[i - 1] ?? ''))) {
      return line.slice(0, i);
    }
  }
  return line;
}

function parseQuoted(raw: string, lineNo: number): string {
  const quote = raw[0];
  if (raw.length < 2 || raw[raw.length - 1] !== quote) throw new AgentConfigError(`line ${lineNo}: unterminated quoted string`);
  const inner = raw.slice(1, -1);
  if (quote === "'") {
    if (/'(?!')/.test(inner.replace(/''/g, ''))) throw new AgentConfigError(`line ${lineNo}: a single quote inside '...' must be doubled`);
    return inner.replace(/''/g, "'");
  }
  let out = '';
  for (let i = 0; i < inner.length; i += 1) {
    const c = inner[i];
    if (c === '"') throw new AgentConfigError(`line ${lineNo}: unescaped " inside "..."`);
    if (c !== '\\') {
      out += c;
      continue;
    }
    i += 1;
    const e = inner[i];
    const escapes: Record<string, string> = { n: '\n', t: '\t', r: '\r', '"': '"', '\\': '\\', '/': '/', '0': '\0' };
    const mapped = e === undefined ? undefined : escapes[e];
    if (mapped === undefined) throw new AgentConfigError(`line ${lineNo}: unsupported escape \\${e ?? ''}`);
    out += mapped;
  }
  return out;
}

function parseScalar(raw: string, lineNo: number): Scalar | null {
  if (raw.startsWith('"') || raw.startsWith("'")) return parseQuoted(raw, lineNo);
  if (raw === '~' || raw === 'null') return null;
  if (raw === 'true') return true;
  if (raw === 'false') return false;
  // Digits beyond 2^53 stay text (an id), rather than silently losing precision.
  if (/^[-+]?\d+$/.test(raw) && Number.isSafeInteger(Number(raw))) return Number(raw);
  if (/^[[{|>&*!]/.test(raw)) throw new AgentConfigError(`line ${lineNo}: only plain scalar values are supported (found "${raw}")`);
  return raw;
}

/** Parses the flat `key: value` YAML subset. */
export function parseFlatYaml(text: string): Map<string, Scalar> {
  const values = new Map<string, Scalar>();
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  lines.forEach((rawLine, index) => {
    const lineNo = index + 1;
    const line = stripComment(rawLine).trimEnd();
    if (line.trim() === '' || line === '---') return;
    if (/^\s/.test(line)) throw new AgentConfigError(`line ${lineNo}: nested values are not supported; use flat "key: value" lines`);
    const colon = line.indexOf(':');
    if (colon < 0) throw new AgentConfigError(`line ${lineNo}: expected "key: value"`);
    const key = line.slice(0, colon).trim();
    if (!KEY.test(key)) throw new AgentConfigError(`line ${lineNo}: invalid key "${key}"`);
    const rest = line.slice(colon + 1);
    if (rest !== '' && !/^\s/.test(rest)) throw new AgentConfigError(`line ${lineNo}: expected a space after "${key}:"`, key);
    if (values.has(key)) throw new AgentConfigError(`line ${lineNo}: ${key} appears twice`, key);
    const raw = rest.trim();
    if (raw === '') throw new AgentConfigError(`line ${lineNo}: ${key} has no value`, key);
    const value = parseScalar(raw, lineNo);
    if (value !== null) values.set(key, value);
  });
  return values;
}

function parseJsonConfig(text: string): Map<string, Scalar> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new AgentConfigError(`invalid JSON: ${(err as Error).message}`, undefined, { cause: err });
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new AgentConfigError('the JSON config must be an object');
  const values = new Map<string, Scalar>();
  for (const [key, value] of Object.entries(parsed)) {
    if (value === null) continue;
    if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') {
      throw new AgentConfigError(`${key} must be a string, a number or a boolean`, key);
    }
    values.set(key, value);
  }
  return values;
}

class Reader {
  constructor(
    private readonly values: Map<string, Scalar>,
    private readonly baseDir: string,
  ) {}

  optionalString(key: string): string | undefined {
    const value = this.values.get(key);
    if (value === undefined) return undefined;
    // Bare numbers are fine for ids (`streamId: 12345`); booleans never are.
    if (typeof value === 'boolean') throw new AgentConfigError(`${key} must be a string (got ${String(value)})`, key);
    const text = String(value).trim();
    if (text === '') throw new AgentConfigError(`${key} must not be empty`, key);
    return text;
  }

  string(key: string): string {
    const value = this.optionalString(key);
    if (value === undefined) throw new AgentConfigError(`${key} is required`, key);
    return value;
  }

  path(key: string): string {
    return path.resolve(this.baseDir, this.string(key));
  }

  url(key: string, defaultValue?: string): string {
    if (defaultValue !== undefined && this.optionalString(key) === undefined) return defaultValue;
    const value = this.string(key);
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      throw new AgentConfigError(`${key} must be an http(s) URL (got "${value}")`, key);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new AgentConfigError(`${key} must be an http(s) URL (got "${value}")`, key);
    return value.replace(/\/+$/, '');
  }

  boolean(key: string, defaultValue: boolean): boolean {
    const value = this.values.get(key);
    if (value === undefined) return defaultValue;
    if (typeof value !== 'boolean') throw new AgentConfigError(`${key} must be true or false (got ${JSON.stringify(value)})`, key);
    return value;
  }

  integer(key: string, defaultValue: number, min: number, max: number): number {
    const value = this.values.get(key);
    if (value === undefined) return defaultValue;
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
      throw new AgentConfigError(`${key} must be an integer from ${min} to ${max} (got ${JSON.stringify(value)})`, key);
    }
    return value;
  }
}

/** Builds the config from already-parsed values; `baseDir` anchors relative paths. */
export function agentConfigFromValues(values: Map<string, Scalar>, baseDir: string): LoadedAgentConfig {
  const r = new Reader(values, baseDir);
  const runAsUser = r.optionalString('runAsUser');
  const maxInFlightRaw = r.integer('maxInFlight', Limits.maxInFlightPerInstance, 1, Number.MAX_SAFE_INTEGER);
  const apiEndpoint = r.url('apiEndpoint');
  const config: AgentConfig = {
    instanceId: r.string('instanceId'),
    tenancyId: r.string('tenancyId'),
    apiEndpoint,
    streamingEndpoint: r.url('streamingEndpoint'),
    objectStorageEndpoint: r.url('objectStorageEndpoint', apiEndpoint),
    streamId: r.string('streamId'),
    keyFile: r.path('keyFile'),
    fingerprint: r.string('fingerprint'),
    commandExecutionMaxWorkers: r.integer('commandExecutionMaxWorkers', Limits.defaultMaxWorkers, 1, 1000),
    // The documented limit is 5 in flight; a larger value would only let the agent take work the server refuses.
    maxInFlight: Math.min(maxInFlightRaw, Limits.maxInFlightPerInstance),
    logDir: r.path('logDir'),
    stateDir: r.path('stateDir'),
    ...(runAsUser !== undefined ? { runAsUser } : {}),
    killGraceMs: r.integer('killGraceMs', DEFAULT_KILL_GRACE_MS, 0, MAX_KILL_GRACE_MS),
    pollWaitMs: r.integer('pollWaitMs', DEFAULT_POLL_WAIT_MS, 0, MAX_POLL_WAIT_MS),
    maxScriptBytes: r.integer('maxScriptBytes', DEFAULT_MAX_SCRIPT_BYTES, 1, MAX_SCRIPT_BYTES),
    maxOutputBytes: r.integer('maxOutputBytes', DEFAULT_MAX_OUTPUT_BYTES, 0, MAX_OUTPUT_BYTES),
    syncWrites: r.boolean('syncWrites', false),
  };
  const unknownKeys = [...values.keys()].filter((k) => !KNOWN_KEYS.has(k));
  return { config, unknownKeys };
}

/** Parses config text (YAML subset, or JSON when it starts with `{`). */
export function parseAgentConfig(text: string, baseDir: string): LoadedAgentConfig {
  const values = text.trimStart().startsWith('{') ? parseJsonConfig(text) : parseFlatYaml(text);
  return agentConfigFromValues(values, baseDir);
}

export function loadAgentConfig(file: string): LoadedAgentConfig {
  let text: string;
  try {
    const stat = fs.statSync(file);
    if (stat.size > MAX_CONFIG_BYTES) throw new AgentConfigError(`agent config ${file}: larger than ${MAX_CONFIG_BYTES} bytes`);
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if (err instanceof AgentConfigError) throw err;
    throw new AgentConfigError(`agent config ${file}: cannot read it: ${(err as Error).message}`, undefined, { cause: err });
  }
  try {
    return parseAgentConfig(text, path.dirname(path.resolve(file)));
  } catch (err) {
    if (err instanceof AgentConfigError) throw new AgentConfigError(`agent config ${file}: ${err.message}`, err.key, { cause: err });
    throw err;
  }
}
