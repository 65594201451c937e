import { generateKeyPairSync } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { describePollError } from '../../../agent/agent';
import {
  holdSignalsWhileStarting,
  instanceAuthProvider,
  instanceStream,
  readInstanceCredentials,
  startAgentFromConfigFile,
  startHoldingSignals,
  stopOnSignals,
} from '../../../agent/main';
import type { RunningAgent, StopOptions } from '../../../agent/agent';
import { nullLogger } from '../../../agent/log';
import { AgentConfigError, loadAgentConfig } from '../../../agent/config';
import { FakePlatform, INSTANCE_ID } from './support/fake-platform';
import { TestStream } from './support/memory-stream';
import { tempDir, waitFor } from './support/helpers';

function writeAgentFiles(dir: string, streamId: string): string {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  fs.writeFileSync(path.join(dir, 'key.pem'), privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), { mode: 0o600 });
  const file = path.join(dir, 'agent.yml');
  fs.writeFileSync(
    file,
    [
      '# as platform/agent-files.ts writes it',
      `instanceId: ${INSTANCE_ID}`,
      'tenancyId: ocid1.tenancy.oc1..t',
      'apiEndpoint: http://127.0.0.1:1',
      'streamingEndpoint: http://127.0.0.1:1',
      `streamId: ${streamId}`,
      'keyFile: key.pem',
      'fingerprint: 11:22:33',
      'commandExecutionMaxWorkers: 2',
      'logDir: log',
      'stateDir: state',
      'pollWaitMs: 500',
      '',
    ].join('\n'),
  );
  return file;
}

describe('startAgentFromConfigFile', () => {
  it('wires the config, the key, the injected stream and a file log, and runs commands', async () => {
    const dir = tempDir();
    const stream = new TestStream();
    const platform = new FakePlatform(stream);
    const file = writeAgentFiles(dir, stream.streamId);
    let keyIdSeen = '';
    const agent = await startAgentFromConfigFile(file, {
      reporter: platform,
      makeStream: (_config, credentials) => {
        keyIdSeen = credentials.keyId;
        return stream;
      },
    });
    try {
      const { instanceAgentCommandId: id } = platform.issue({ script: 'echo wired' });
      await waitFor(() => platform.finished(id) !== undefined, 10_000, 'FINISH');
      expect(platform.executions.get(id)?.text).toBe('wired\n');
      expect(keyIdSeen).toBe(`ocid1.tenancy.oc1..t/${INSTANCE_ID}/11:22:33`);
      expect(fs.existsSync(path.join(dir, 'state', 'agent-session-id'))).toBe(true);
    } finally {
      await agent.stop({ killRunning: true });
    }
    expect(fs.readFileSync(path.join(dir, 'log', 'runcommand.log'), 'utf8')).toMatch(/"msg":"agent started"/);
  });
});

describe('readInstanceCredentials', () => {
  it('refuses a key file that is not a PEM private key, naming keyFile', () => {
    const dir = tempDir();
    const { config } = loadAgentConfig(writeAgentFiles(dir, 's'));
    fs.writeFileSync(config.keyFile, 'hello');
    expect(() => readInstanceCredentials(config)).toThrow(AgentConfigError);
    expect(() => readInstanceCredentials(config)).toThrow(/keyFile .* is not a PEM private key/);
  });

  it('builds an oci-common auth provider whose key id is tenancy/instance/fingerprint', async () => {
    const dir = tempDir();
    const { config } = loadAgentConfig(writeAgentFiles(dir, 's'));
    const provider = instanceAuthProvider(config, readInstanceCredentials(config));
    await expect(provider.getKeyId()).resolves.toBe(`ocid1.tenancy.oc1..t/${INSTANCE_ID}/11:22:33`);
  });
});

describe('instanceStream', () => {
  it('reads the stream signed as the instance, and a 404 renders as OCI agent logs it', async () => {
    const seen: http.IncomingHttpHeaders[] = [];
    const server = http.createServer((req, res) => {
      seen.push(req.headers);
      res.writeHead(404, { 'content-type': 'application/json', 'opc-request-id': 'r1' });
      res.end(JSON.stringify({ code: 'NotAuthorizedOrNotFound', message: 'Authorization failed or requested resource not found.' }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const dir = tempDir();
      const { config } = loadAgentConfig(writeAgentFiles(dir, 'ocid1.stream.oc1..s'));
      const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const stream = instanceStream({ ...config, streamingEndpoint: endpoint }, readInstanceCredentials(config));
      const err = await stream.createGroupCursor('ocid1.stream.oc1..s', { groupName: INSTANCE_ID, instanceName: INSTANCE_ID, type: 'TRIM_HORIZON' }).catch((e: unknown) => e);
      expect(describePollError(err)).toBe('Service error:NotAuthorizedOrNotFound. Authorization failed or requested resource not found. http status code: 404.');
      expect(seen[0]?.authorization).toContain(`keyId="ocid1.tenancy.oc1..t/${INSTANCE_ID}/11:22:33"`);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });
});

describe('signals while the agent starts', () => {
  // process.emit calls the listeners as a delivered signal would, without signalling the test process.
  const listeners = () => process.listenerCount('SIGTERM') + process.listenerCount('SIGINT');
  const fakeAgent = (stops: Array<StopOptions | undefined>): RunningAgent => ({
    agentSessionId: 's',
    counts: () => ({ queued: 0, held: 0, canceling: 0, starting: 0, running: 0, finishing: 0, inFlight: 0, workers: 0 }),
    outboxSize: () => 0,
    stop: async (options?: StopOptions) => {
      stops.push(options);
    },
  });

  it('keeps a SIGTERM that came during start-up, and stops the agent with it once the agent runs', async () => {
    const before = listeners();
    const held = holdSignalsWhileStarting();
    process.emit('SIGTERM', 'SIGTERM');
    expect(held.received).toEqual(['SIGTERM']);
    const stops: Array<StopOptions | undefined> = [];
    await stopOnSignals(fakeAgent(stops), nullLogger, held);
    // One stop, the first signal's: waiting for running scripts, not killing them.
    expect(stops).toEqual([undefined]);
    expect(listeners()).toBe(before);
  });

  it('exits at once on a second signal during start-up, with 128 + the signal number', () => {
    const exit = jest.spyOn(process, 'exit').mockImplementation((() => undefined) as never);
    const held = holdSignalsWhileStarting();
    try {
      process.emit('SIGINT', 'SIGINT');
      expect(exit).not.toHaveBeenCalled();
      process.emit('SIGTERM', 'SIGTERM');
      expect(exit).toHaveBeenCalledWith(143);
    } finally {
      held.release();
      exit.mockRestore();
    }
  });

  it('holds signals while a start-up runs, and lets go of them when it fails', async () => {
    const before = listeners();
    let during = 0;
    await expect(
      startHoldingSignals(async () => {
        during = listeners();
        throw new Error('cannot start');
      }),
    ).rejects.toThrow('cannot start');
    expect(during).toBe(before + 2);
    expect(listeners()).toBe(before);
  });

  it('hands a start-up that succeeds its value and the hold, still listening', async () => {
    const before = listeners();
    const { started, held } = await startHoldingSignals(async () => 'up');
    expect(started).toBe('up');
    expect(listeners()).toBe(before + 2);
    held.release();
    expect(listeners()).toBe(before);
  });

  it('without a signal during start-up, listens from then on as before', async () => {
    const before = listeners();
    const held = holdSignalsWhileStarting();
    const stops: Array<StopOptions | undefined> = [];
    const stopped = stopOnSignals(fakeAgent(stops), nullLogger, held);
    expect(stops).toEqual([]);
    // The start-up listeners are gone; the agent's own are in place.
    expect(listeners()).toBe(before + 2);
    process.emit('SIGINT', 'SIGINT');
    await stopped;
    expect(stops).toEqual([undefined]);
    expect(listeners()).toBe(before);
  });
});
