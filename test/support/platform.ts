/**
 * Starting a real platform for end-to-end tests: the gateway in this process, every function as hot FDK processes
 * from the built bundles (`npm test` builds them first), SQLite in a temporary data dir.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import * as common from 'oci-common';
import { ComputeInstanceAgentClient } from 'oci-computeinstanceagent';
import { signRequest } from '../../shared/api/signature';
import { readOciConfigProfile } from '../../shared/api/oci-config';
import { jsonLogger } from '../../shared/app/log';
import { startPlatform, type PlatformInfo, type RunningPlatform } from '../../platform/platform';

export const REPO_ROOT = path.resolve(__dirname, '..', '..');
export const FUNCTIONS_DIR = path.join(REPO_ROOT, 'dist', 'functions');
export const CLI_BUNDLE = path.join(REPO_ROOT, 'dist', 'cli', 'runcommand.js');

export interface TestPlatform {
  info: PlatformInfo;
  platform: RunningPlatform;
  dataDir: string;
  stop(): Promise<void>;
}

const quietLog = jsonLogger('platform', () => undefined);

export async function startTestPlatform(options: { dataDir?: string; maxProcessesPerFunction?: number } = {}): Promise<TestPlatform> {
  const dataDir = options.dataDir ?? mkdtempSync(path.join(os.tmpdir(), 'rc-e2e-'));
  const platform = await startPlatform({
    dataDir,
    port: 0,
    functionsDir: FUNCTIONS_DIR,
    log: quietLog,
    ...(options.maxProcessesPerFunction ? { maxProcessesPerFunction: options.maxProcessesPerFunction } : {}),
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
  signedAtMs?: number;
  /** Change the request after signing (to show tampering is caught). */
  tamper?: (r: { headers: Record<string, string>; body: Buffer }) => void;
}

/** A hand-made HTTP request, for what Oracle's client never sends (bad JSON, bad signatures, odd headers). */
export function rawRequest(endpoint: string, r: RawRequest): Promise<RawResponse> {
  const url = new URL(r.path, endpoint);
  let body = typeof r.body === 'string' ? Buffer.from(r.body, 'utf8') : (r.body ?? Buffer.alloc(0));
  const headers: Record<string, string> = { ...(r.headers ?? {}) };
  if (r.body !== undefined && headers['content-type'] === undefined) headers['content-type'] = 'application/json';
  if (r.signWith) {
    const profile = readOciConfigProfile(r.signWith.configFile, r.signWith.profile ?? 'DEFAULT');
    const added = signRequest(
      { method: r.method, url, headers, ...(r.body !== undefined ? { body } : {}) },
      { keyId: `${profile.tenancy}/${profile.user}/${profile.fingerprint}`, privateKeyPem: readFileSync(profile.key_file, 'utf8') },
      r.signedAtMs ?? Date.now(),
    );
    Object.assign(headers, added);
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
