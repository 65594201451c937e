/**
 * Starting a real platform for end-to-end tests: the gateway in this process, every function as hot FDK processes
 * from the built bundles (`npm test` builds them first), SQLite in a temporary data dir.
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import * as common from 'oci-common';
import { ComputeInstanceAgentClient } from 'oci-computeinstanceagent';
import { fastSigningClientParams } from '../../shared/adapters/oci/key-signer';
import { signRequest } from '../../shared/api/signature';
import { readOciConfigProfile, writeOciConfigFile } from '../../shared/api/oci-config';
import { jsonLogger } from '../../shared/app/log';
import type { Backend } from '../../shared/config/service-config';
import type { Clock } from '../../shared/ports/clock';
import { startPlatform, type PlatformInfo, type RunningPlatform } from '../../platform/platform';

export const REPO_ROOT = path.resolve(__dirname, '..', '..');
export const FUNCTIONS_DIR = path.join(REPO_ROOT, 'dist', 'functions');
export const CLI_BUNDLE = path.join(REPO_ROOT, 'dist', 'cli', 'runcommand.js');
/** The executable users run (`npx runcommand`); `agent` goes to the agent's own bundle. */
export const CLI_BIN = path.join(REPO_ROOT, 'bin', 'runcommand.js');
/** `runcommand-agent`: the agent alone, run as an executable so its shebang's Node flags apply. */
export const AGENT_BIN = path.join(REPO_ROOT, 'bin', 'runcommand-agent.js');

export interface TestPlatform {
  info: PlatformInfo;
  platform: RunningPlatform;
  dataDir: string;
  stop(): Promise<void>;
}

const quietLog = jsonLogger('platform', () => undefined);

export interface TestPlatformOptions {
  dataDir?: string;
  maxProcessesPerFunction?: number;
  /** Default: `RUNCOMMAND_TEST_BACKEND` (embedded | oci), else embedded. */
  functionsBackend?: Backend;
  clock?: Clock;
  maxObjectBytes?: number;
}

/** The backend CI chose for this run of the end-to-end tests. */
export function testFunctionsBackend(): Backend {
  const value = process.env.RUNCOMMAND_TEST_BACKEND ?? 'embedded';
  if (value !== 'embedded' && value !== 'oci') throw new Error(`RUNCOMMAND_TEST_BACKEND must be embedded or oci, not ${value}`);
  return value;
}

export async function startTestPlatform(options: TestPlatformOptions = {}): Promise<TestPlatform> {
  const dataDir = options.dataDir ?? mkdtempSync(path.join(os.tmpdir(), 'rc-e2e-'));
  const platform = await startPlatform({
    dataDir,
    port: 0,
    functionsDir: FUNCTIONS_DIR,
    log: quietLog,
    functionsBackend: options.functionsBackend ?? testFunctionsBackend(),
    ...(options.maxProcessesPerFunction ? { maxProcessesPerFunction: options.maxProcessesPerFunction } : {}),
    ...(options.clock ? { clock: options.clock } : {}),
    ...(options.maxObjectBytes !== undefined ? { maxObjectBytes: options.maxObjectBytes } : {}),
  });
  return {
    info: platform.info,
    platform,
    dataDir,
    stop: async () => {
      await platform.stop();
      if (!options.dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Oracle's own client, authenticated from an OCI config file, pointed at the platform. */
export function agentCommandClient(endpoint: string, configFile: string, profile = 'DEFAULT'): ComputeInstanceAgentClient {
  const provider = new common.ConfigFileAuthenticationDetailsProvider(configFile, profile);
  const client = new ComputeInstanceAgentClient({ authenticationDetailsProvider: provider });
  client.endpoint = endpoint;
  return client;
}

/** An OCI config file that signs as the platform's local instance (its key, written at registration). */
export function instanceOciConfigFile(tp: TestPlatform, name: string): string {
  const instanceId = tp.info.localInstanceId;
  const dir = path.join(tp.dataDir, 'instances', instanceId);
  const configFile = path.join(dir, name);
  writeOciConfigFile(configFile, {
    DEFAULT: {
      user: instanceId,
      tenancy: tp.info.tenancyId,
      fingerprint: readFileSync(path.join(dir, 'fingerprint'), 'utf8').trim(),
      region: 'us-ashburn-1',
      key_file: path.join(dir, 'key.pem'),
    },
  });
  return configFile;
}

/**
 * Client parameters for Oracle's SDK signing as the platform's local instance. Its key is Ed25519, which the SDK's own
 * signer cannot use, so requests are signed by the platform's signer plugged into the SDK, as the agent does.
 */
export function instanceClientParams(tp: TestPlatform, name: string): { httpClient: common.HttpClient } {
  return fastSigningClientParams(new common.ConfigFileAuthenticationDetailsProvider(instanceOciConfigFile(tp, name), 'DEFAULT'));
}

/** An OCI config file with the admin's keyId but a key the platform never saw (its signatures must fail). */
export function forgedAdminConfigFile(tp: TestPlatform, name: string): string {
  const { privateKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  const keyFile = path.join(tp.dataDir, `${name}.pem`);
  writeFileSync(keyFile, privateKey);
  const configFile = path.join(tp.dataDir, name);
  writeOciConfigFile(configFile, { DEFAULT: { ...readOciConfigProfile(tp.info.ociConfigFile), key_file: keyFile } });
  return configFile;
}

export interface OciErrorLike {
  statusCode: number;
  serviceCode: string;
  message: string;
}

/** Expects an OCI SDK call to fail with this status and service code; resolves with the error for more checks. */
export async function expectOciError(call: Promise<unknown>, statusCode: number, serviceCode: string): Promise<OciErrorLike> {
  const e = (await call.then(
    () => {
      throw new Error(`expected ${statusCode} ${serviceCode}, the call succeeded`);
    },
    (err: unknown) => err,
  )) as OciErrorLike;
  expect({ statusCode: e.statusCode, serviceCode: e.serviceCode }).toEqual({ statusCode, serviceCode });
  return e;
}

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  json: unknown;
}

export interface RawRequest {
  method: string;
  path: string;
  body?: string | Buffer;
  headers?: Record<string, string>;
  /** Sign with this config file's key; omit to send unsigned. */
  signWith?: { configFile: string; profile?: string };
  /** Sign with this key (e.g. an instance's). */
  signWithKey?: { keyId: string; privateKeyPem: string };
  signedAtMs?: number;
  /** Change the request after signing (to show tampering is caught). */
  tamper?: (r: { headers: Record<string, string>; body: Buffer }) => void;
}

function keyOfConfig(configFile: string, profileName = 'DEFAULT'): { keyId: string; privateKeyPem: string } {
  const profile = readOciConfigProfile(configFile, profileName);
  return { keyId: `${profile.tenancy}/${profile.user}/${profile.fingerprint}`, privateKeyPem: readFileSync(profile.key_file, 'utf8') };
}

/** A hand-made HTTP request, for what Oracle's client never sends (bad JSON, bad signatures, odd headers). */
export function rawRequest(endpoint: string, r: RawRequest): Promise<RawResponse> {
  const url = new URL(r.path, endpoint);
  let body = typeof r.body === 'string' ? Buffer.from(r.body, 'utf8') : (r.body ?? Buffer.alloc(0));
  const headers: Record<string, string> = { ...(r.headers ?? {}) };
  if (r.body !== undefined && headers['content-type'] === undefined) headers['content-type'] = 'application/json';
  const key = r.signWithKey ?? (r.signWith ? keyOfConfig(r.signWith.configFile, r.signWith.profile) : undefined);
  if (key) {
    Object.assign(headers, signRequest({ method: r.method, url, headers, ...(r.body !== undefined ? { body } : {}) }, key, r.signedAtMs ?? Date.now()));
  }
  if (r.tamper) {
    const box = { headers, body };
    r.tamper(box);
    body = box.body;
  }
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: url.hostname, port: url.port, method: r.method, path: url.pathname + url.search, headers: { ...headers, 'content-length': String(body.length) } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown;
          try {
            json = text ? JSON.parse(text) : undefined;
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text, json });
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}
