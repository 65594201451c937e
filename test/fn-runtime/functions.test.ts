/**
 * Each real function bundle (dist/, built by `npm test` before jest) under the real FDK on a unix socket, started
 * through the function image's entrypoint (dist/fn.js picks the handler by FN_FN_NAME, as func.yaml says): success,
 * a domain error, malformed input. None of them may crash or answer without a body.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FunctionPool } from '../../platform/function-pool';
import { embeddedFunctionEnv } from '../../platform/admin';
import type { BootstrapRecord } from '../../platform/platform';
import { PRINCIPAL_HEADER } from '../../shared/api/routes';
import { REPO_ROOT } from '../support/platform';

const IMAGE_ENTRY = path.join(REPO_ROOT, 'dist', 'fn.js');

let dataDir: string;
let record: BootstrapRecord;
let env: Record<string, string>;
const pools: FunctionPool[] = [];

beforeAll(async () => {
  dataDir = mkdtempSync(path.join(os.tmpdir(), 'rc-fnrt-'));
  ({ record, env } = await embeddedFunctionEnv(dataDir));
});

afterAll(async () => {
  await Promise.all(pools.map((p) => p.stop()));
  rmSync(dataDir, { recursive: true, force: true });
});

async function startFunction(name: string): Promise<FunctionPool> {
  const pool = new FunctionPool({ name, entry: IMAGE_ENTRY, env, maxProcesses: 1, callTimeoutMs: 10_000, log: () => undefined });
  pools.push(pool);
  await pool.start();
  return pool;
}

const admin = () => ({ [PRINCIPAL_HEADER]: JSON.stringify({ type: 'user', tenancyId: record.tenancyId, userId: record.adminUserId }) });
const instance = () => ({
  [PRINCIPAL_HEADER]: JSON.stringify({ type: 'instance', tenancyId: record.tenancyId, instanceId: record.localInstanceId }),
});

async function call(pool: FunctionPool, method: string, url: string, headers: Record<string, string>, body = '') {
  const res = await pool.invokeHttp({ method, url, headers: { 'content-type': 'application/json', ...headers }, body: Buffer.from(body) });
  return { status: res.status, headers: res.headers, json: res.body.length > 0 ? (JSON.parse(res.body.toString('utf8')) as Record<string, unknown>) : undefined };
}

const createBody = () =>
  JSON.stringify({
    compartmentId: record.compartmentId,
    executionTimeOutInSeconds: 30,
    target: { instanceId: record.localInstanceId },
    content: { source: { sourceType: 'TEXT', text: 'true' } },
  });

describe('function bundles under the real FDK', () => {
  let commandId: string;

  it('create-command: creates (200 + etag), refuses bad input (400) and a missing principal (401)', async () => {
    const pool = await startFunction('create-command');
    const ok = await call(pool, 'POST', '/20180530/instanceAgentCommands', admin(), createBody());
    expect(ok.status).toBe(200);
    expect(ok.headers.etag).toBeTruthy();
    commandId = ok.json?.id as string;
    expect(commandId).toMatch(/^ocid1\.instanceagentcommand\./);
    expect(await call(pool, 'POST', '/20180530/instanceAgentCommands', admin(), '{"compartmentId":')).toMatchObject({
      status: 400,
      json: { code: 'CannotParseRequest' },
    });
    expect(await call(pool, 'POST', '/20180530/instanceAgentCommands', admin(), '{}')).toMatchObject({ status: 400, json: { code: 'MissingParameter' } });
    expect(await call(pool, 'POST', '/20180530/instanceAgentCommands', {}, createBody())).toMatchObject({ status: 401, json: { code: 'NotAuthenticated' } });
    expect(pool.stats().crashed).toBe(0);
  });

  it('query-commands: gets and lists (200), 404 for an unknown id, 400 for a bad query', async () => {
    const pool = await startFunction('query-commands');
    const got = await call(pool, 'GET', `/20180530/instanceAgentCommands/${commandId}`, admin());
    expect(got).toMatchObject({ status: 200, json: { id: commandId } });
    const listed = await call(pool, 'GET', `/20180530/instanceAgentCommands?compartmentId=${record.compartmentId}`, admin());
    expect(listed.status).toBe(200);
    expect(listed.json).toEqual([expect.objectContaining({ instanceAgentCommandId: commandId })]);
    expect(await call(pool, 'GET', '/20180530/instanceAgentCommands/ocid1.instanceagentcommand.oc1..none', admin())).toMatchObject({
      status: 404,
      json: { code: 'NotAuthorizedOrNotFound' },
    });
    expect(await call(pool, 'GET', `/20180530/instanceAgentCommands?compartmentId=${record.compartmentId}&limit=x`, admin())).toMatchObject({
      status: 400,
      json: { code: 'InvalidParameter' },
    });
    expect(await call(pool, 'POST', '/20180530/instanceAgentCommands', admin(), createBody())).toMatchObject({ status: 404, json: { code: 'NotFound' } });
    expect(pool.stats().crashed).toBe(0);
  });

  it('agent-callback: acks for the target instance (run: true), 404 for a user, 400 for a bad report', async () => {
    const pool = await startFunction('agent-callback');
    const report = (type: string) =>
      JSON.stringify({ callbackId: `cb-${type}`, agentSessionId: 'session-1', instanceAgentCommandId: commandId, event: { type } });
    expect(await call(pool, 'POST', '/20180530/agent/reports', instance(), report('ACK'))).toMatchObject({
      status: 200,
      json: { deliveryState: 'ACKED', lifecycleState: 'ACCEPTED', run: true, changed: true },
    });
    expect(await call(pool, 'POST', '/20180530/agent/reports', admin(), report('START'))).toMatchObject({ status: 404 });
    expect(await call(pool, 'POST', '/20180530/agent/reports', instance(), '{"event":{"type":"NAP"}}')).toMatchObject({ status: 400 });
    expect(pool.stats().crashed).toBe(0);
  });

  it('cancel-command: 204 for a running command, 404 for an unknown one, 412 for a stale if-match', async () => {
    const pool = await startFunction('cancel-command');
    expect(await call(pool, 'DELETE', `/20180530/instanceAgentCommands/${commandId}`, { ...admin(), 'if-match': 'stale' })).toMatchObject({
      status: 412,
      json: { code: 'NoEtagMatch' },
    });
    const ok = await call(pool, 'DELETE', `/20180530/instanceAgentCommands/${commandId}`, admin());
    expect(ok.status).toBe(204);
    expect(ok.json).toBeUndefined();
    expect(await call(pool, 'DELETE', '/20180530/instanceAgentCommands/ocid1.instanceagentcommand.oc1..none', admin())).toMatchObject({ status: 404 });
    expect(pool.stats().crashed).toBe(0);
  });

  it('refuses to start an image process for an unknown FN_FN_NAME', async () => {
    const pool = new FunctionPool({ name: 'no-such-function', entry: IMAGE_ENTRY, env, maxProcesses: 1, callTimeoutMs: 5_000, log: () => undefined });
    await expect(pool.start()).rejects.toThrow();
    await pool.stop();
  });
});
