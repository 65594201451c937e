/**
 * Agent sessions against the running platform (docs/agent-protocol.md, "Sessions"): opening one with the instance
 * key, using it on the API and the Streaming endpoint, what is refused, and an agent that runs on one.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { models } from 'oci-computeinstanceagent';
import { loadAgentConfig } from '../../agent/config';
import { readInstanceCredentials, startAgentFromConfigFile } from '../../agent/main';
import { registerInstance } from '../../platform/admin';
import { AGENT_SESSIONS_PATH, newSessionRequest, openSessionGrant, type AgentSession } from '../../shared/api/agent-session';
import { signRequestWithSession } from '../../shared/api/signature';
import { agentCommandClient, rawRequest, startTestPlatform, type RawResponse, type TestPlatform } from '../support/platform';
import { waitFor } from '../support/processes';

let tp: TestPlatform;

beforeAll(async () => {
  tp = await startTestPlatform();
}, 60_000);

afterAll(async () => {
  await tp?.stop();
});

async function newInstance(name: string) {
  const added = await registerInstance(tp.dataDir, { displayName: name, endpoint: tp.info.endpoint });
  const config = loadAgentConfig(added.agentConfigFile).config;
  return { instanceId: added.instance.instanceId, streamId: added.instance.streamId, configFile: added.agentConfigFile, config, key: readInstanceCredentials(config) };
}

async function openSession(key: { keyId: string; privateKeyPem: string }): Promise<AgentSession> {
  const { body, privateKey } = newSessionRequest();
  const res = await rawRequest(tp.info.endpoint, { method: 'POST', path: AGENT_SESSIONS_PATH, body: JSON.stringify(body), signWithKey: key });
  expect(res.status).toBe(200);
  return openSessionGrant(res.json, privateKey);
}

function withSession(session: AgentSession, method: string, requestPath: string, body?: string): Promise<RawResponse> {
  const url = new URL(requestPath, tp.info.endpoint);
  const headers: Record<string, string> = body !== undefined ? { 'content-type': 'application/json' } : {};
  Object.assign(headers, signRequestWithSession({ method, url, headers, ...(body !== undefined ? { body } : {}) }, session));
  return rawRequest(tp.info.endpoint, { method, path: requestPath, headers, ...(body !== undefined ? { body } : {}) });
}

describe('agent sessions on the platform', () => {
  it('an instance opens one with its key and signs API and Streaming requests with it', async () => {
    const { instanceId, streamId, key } = await newInstance('session-user');
    const session = await openSession(key);
    expect(session.expiresAtMs - Date.now()).toBeGreaterThan(55 * 60 * 1000);
    // A report on an unknown command: authenticated as the instance, then not found (not 401).
    const report = JSON.stringify({ callbackId: 'cb-1', sequence: 1, agentSessionId: 'a', instanceAgentCommandId: 'ocid1.instanceagentcommand.oc1..none', event: { type: 'ACK', at: new Date().toISOString() } });
    const reported = await withSession(session, 'POST', '/20180530/agent/reports', report);
    expect({ status: reported.status, code: (reported.json as { code?: string }).code }).toEqual({ status: 404, code: 'NotAuthorizedOrNotFound' });
    // Its own stream, through the platform's Streaming endpoint.
    const cursor = await withSession(session, 'POST', `/20180418/streams/${streamId}/groupCursors`, JSON.stringify({ groupName: instanceId, type: 'TRIM_HORIZON', commitOnGet: false }));
    expect(cursor.status).toBe(200);
    const read = await withSession(session, 'GET', `/20180418/streams/${streamId}/messages?cursor=${encodeURIComponent((cursor.json as { value: string }).value)}`);
    expect(read.status).toBe(200);
    expect(Array.isArray(read.json)).toBe(true);
    // Another instance's stream stays out of reach.
    const other = await newInstance('session-neighbour');
    const foreign = await withSession(session, 'POST', `/20180418/streams/${other.streamId}/groupCursors`, JSON.stringify({ groupName: instanceId, type: 'TRIM_HORIZON' }));
    expect(foreign.status).toBe(404);
  });

  it('refuses a session opened by a session, a user, a bad public key, a changed signature, and other methods', async () => {
    const { key } = await newInstance('session-refusals');
    const session = await openSession(key);
    const again = await withSession(session, 'POST', AGENT_SESSIONS_PATH, JSON.stringify(newSessionRequest().body));
    expect({ status: again.status, code: (again.json as { code?: string }).code }).toEqual({ status: 401, code: 'NotAuthenticated' });
    const asUser = await rawRequest(tp.info.endpoint, { method: 'POST', path: AGENT_SESSIONS_PATH, body: JSON.stringify(newSessionRequest().body), signWith: { configFile: tp.info.ociConfigFile } });
    expect({ status: asUser.status, code: (asUser.json as { code?: string }).code }).toEqual({ status: 404, code: 'NotAuthorizedOrNotFound' });
    const badKey = await rawRequest(tp.info.endpoint, { method: 'POST', path: AGENT_SESSIONS_PATH, body: JSON.stringify({ publicKey: 'nope' }), signWithKey: key });
    expect({ status: badKey.status, code: (badKey.json as { code?: string }).code }).toEqual({ status: 400, code: 'InvalidParameter' });
    const unsigned = await rawRequest(tp.info.endpoint, { method: 'POST', path: AGENT_SESSIONS_PATH, body: JSON.stringify(newSessionRequest().body) });
    expect(unsigned.status).toBe(401);
    const forged = await withSession({ ...session, secret: Buffer.alloc(32, 7) }, 'GET', '/20180530/instanceAgentCommands?compartmentId=x');
    expect(forged.status).toBe(401);
    const get = await rawRequest(tp.info.endpoint, { method: 'GET', path: AGENT_SESSIONS_PATH, signWithKey: key });
    expect(get.status).toBe(405);
  });

  it('an agent opens a session at start and runs commands on it', async () => {
    const { instanceId, configFile, config } = await newInstance('session-agent');
    const agent = await startAgentFromConfigFile(configFile);
    try {
      const client = agentCommandClient(tp.info.endpoint, tp.info.ociConfigFile);
      const created = await client.createInstanceAgentCommand({
        createInstanceAgentCommandDetails: {
          compartmentId: tp.info.compartmentId,
          executionTimeOutInSeconds: 30,
          target: { instanceId },
          content: { source: { sourceType: 'TEXT', text: 'echo on a session' } as models.InstanceAgentCommandSourceViaTextDetails },
        },
      });
      const id = created.instanceAgentCommand.id;
      const done = await waitFor(
        'the command to succeed',
        async () => {
          const e = (await client.getInstanceAgentCommandExecution({ instanceAgentCommandId: id, instanceId })).instanceAgentCommandExecution;
          return e.lifecycleState === 'SUCCEEDED' ? e : undefined;
        },
        15_000,
        25,
      );
      expect(done.content).toMatchObject({ exitCode: 0, text: 'on a session\n' });
      const log = readFileSync(path.join(config.logDir, 'runcommand.log'), 'utf8');
      expect(log).toContain('"msg":"agent session opened"');
      expect(log).not.toContain('could not open an agent session');
    } finally {
      await agent.stop();
    }
  }, 30_000);
});
