/**
 * Wiring for `runcommand agent --config <file>`: reads the config and the instance key, builds the signed reporter,
 * the file logger, the stream reader (`AgentStreamClient` unless `makeStream` is injected) and Object Storage access
 * (the OCI SDK, signed as the instance, loaded on first use), then starts the agent. Process concerns (signals) are
 * opt-in via `stopOnSignals`.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import type { SimpleAuthenticationDetailsProvider } from 'oci-common';
import { signRequest } from '../shared/api/signature';
import { systemClock, type Clock } from '../shared/ports/clock';
import { startAgent, type InstanceStreamReader, type RunningAgent, type StopOptions } from './agent';
import { AgentConfigError, loadAgentConfig, type AgentConfig } from './config';
import { FileLogger, type Logger } from './log';
import { AgentObjectStorage, type ObjectTransfer } from './object-storage';
import type { RequestSigner } from './http';
import { HttpReporter, type Reporter } from './reporter';
import { AgentStreamClient } from './stream-client';

export interface InstanceCredentials {
  /** `<tenancyId>/<instanceId>/<fingerprint>` (docs/agent-protocol.md, Identity). */
  keyId: string;
  privateKeyPem: string;
}

export interface AgentMainDeps {
  /** Builds the instance stream reader; `instanceStream` (OCI Streaming or the platform's endpoint) by default. */
  makeStream?(config: AgentConfig, credentials: InstanceCredentials): InstanceStreamReader;
  clock?: Clock;
  /** Also write log lines to stderr. */
  stderrLogs?: boolean;
  /** Replaces the HTTP reporter (tests). */
  reporter?: Reporter;
  /** Replaces Object Storage access (`instanceObjectStorage`). */
  objectStorage?: ObjectTransfer;
}

export interface MainAgent extends RunningAgent {
  readonly config: AgentConfig;
  readonly log: Logger;
}

const MAX_KEY_FILE_BYTES = 16 * 1024;

export function readInstanceCredentials(config: AgentConfig): InstanceCredentials {
  let privateKeyPem: string;
  try {
    if (fs.statSync(config.keyFile).size > MAX_KEY_FILE_BYTES) throw new Error(`larger than ${MAX_KEY_FILE_BYTES} bytes`);
    privateKeyPem = fs.readFileSync(config.keyFile, 'utf8');
  } catch (err) {
    throw new AgentConfigError(`keyFile ${config.keyFile} cannot be read: ${(err as Error).message}`, 'keyFile', { cause: err });
  }
  if (!privateKeyPem.includes('PRIVATE KEY-----')) throw new AgentConfigError(`keyFile ${config.keyFile} is not a PEM private key`, 'keyFile');
  return { keyId: `${config.tenancyId}/${config.instanceId}/${config.fingerprint}`, privateKeyPem };
}

/** Signs requests as the instance (`shared/api/signature.ts`), with the key parsed once. */
export function instanceSigner(credentials: InstanceCredentials, clock: Clock = systemClock): RequestSigner {
  return (req) => signRequest(req, credentials, clock.nowMs());
}

/** The oci-common auth provider for the instance's key, for the SDK's clients (it loads oci-common). */
export function instanceAuthProvider(config: AgentConfig, credentials: InstanceCredentials): SimpleAuthenticationDetailsProvider {
  const common = require('oci-common') as typeof import('oci-common');
  return new common.SimpleAuthenticationDetailsProvider(config.tenancyId, config.instanceId, config.fingerprint, credentials.privateKeyPem, null);
}

/** The instance stream, signed as the instance: the same requests to OCI Streaming and to the platform. */
export function instanceStream(config: AgentConfig, credentials: InstanceCredentials): AgentStreamClient {
  return new AgentStreamClient({ endpoint: config.streamingEndpoint, sign: instanceSigner(credentials) });
}

/** Object Storage sources and outputs, signed as the instance (a PAR unsigned), tuples on `objectStorageEndpoint`. */
export function instanceObjectStorage(config: AgentConfig, credentials: InstanceCredentials): ObjectTransfer {
  return new AgentObjectStorage({ endpoint: config.objectStorageEndpoint, authProvider: () => instanceAuthProvider(config, credentials) });
}

export async function startAgentFromConfigFile(configFile: string, deps: AgentMainDeps = {}): Promise<MainAgent> {
  const { config, unknownKeys } = loadAgentConfig(configFile);
  const clock = deps.clock ?? systemClock;
  const log = new FileLogger({ logDir: config.logDir, stderr: deps.stderrLogs ?? false, clock });
  if (unknownKeys.length > 0) log.warn('ignoring unknown agent config keys', { configFile, unknownKeys });
  const credentials = readInstanceCredentials(config);
  // What is built here is closed on stop (keep-alive connections); injected parts belong to the caller.
  const owned: Array<{ close(): void }> = [];
  const own = <T extends { close(): void }>(part: T): T => {
    owned.push(part);
    return part;
  };
  const agent = await startAgent(config, {
    stream: deps.makeStream?.(config, credentials) ?? own(instanceStream(config, credentials)),
    reporter: deps.reporter ?? own(new HttpReporter({ apiEndpoint: config.apiEndpoint, sign: instanceSigner(credentials, clock) })),
    clock,
    ids: { token: () => randomBytes(16).toString('hex') },
    log,
    objectStorage: deps.objectStorage ?? instanceObjectStorage(config, credentials),
  });
  return {
    config,
    log,
    agentSessionId: agent.agentSessionId,
    counts: () => agent.counts(),
    outboxSize: () => agent.outboxSize(),
    stop: async (options?: StopOptions) => {
      await agent.stop(options);
      for (const part of owned) part.close();
      log.close();
    },
  };
}

/** Signals that came while the agent was starting (`holdSignalsWhileStarting`). */
export interface HeldSignals {
  readonly received: readonly NodeJS.Signals[];
  /** Stops listening; call it once `stopOnSignals` listens, so no signal meets the default action in between. */
  release(): void;
}

/**
 * Listens for SIGTERM/SIGINT while the agent starts, so that a supervisor's signal is not met by the default action
 * (death mid-start, or right after the agent logged that it started): the first is kept for `stopOnSignals` to act on
 * once the agent runs; a second one exits at once, as a start-up that hangs must still be stoppable.
 */
export function holdSignalsWhileStarting(): HeldSignals {
  const received: NodeJS.Signals[] = [];
  const onSignal = (signal: NodeJS.Signals): void => {
    received.push(signal);
    if (received.length > 1) process.exit(128 + (os.constants.signals[signal] ?? 0));
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  return {
    received,
    release: () => {
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
    },
  };
}

/**
 * Runs `start` under `holdSignalsWhileStarting`. If `start` fails, the hold is released before the error goes on, so
 * the process meets signals with their default action again; otherwise the caller hands `held` to its stop handler.
 */
export async function startHoldingSignals<T>(start: () => Promise<T>): Promise<{ started: T; held: HeldSignals }> {
  const held = holdSignalsWhileStarting();
  try {
    return { started: await start(), held };
  } catch (err) {
    held.release();
    throw err;
  }
}

/**
 * Stops the agent on SIGTERM/SIGINT: the first signal waits for running scripts, a second one kills them. Resolves
 * once the agent has stopped (the handlers are removed then). `held`'s signals, which came while the agent started,
 * count as received now.
 */
export function stopOnSignals(agent: RunningAgent, log: Logger, held?: HeldSignals): Promise<void> {
  return new Promise((resolve) => {
    let stopping = false;
    const handler = (signal: NodeJS.Signals): void => {
      if (stopping) {
        log.warn('stopping now; killing running commands', { signal });
        void agent.stop({ killRunning: true });
        return;
      }
      stopping = true;
      log.info('stopping on signal; waiting for running commands (send it again to kill them)', { signal });
      void agent.stop().finally(() => {
        process.off('SIGTERM', handler);
        process.off('SIGINT', handler);
        resolve();
      });
    };
    process.on('SIGTERM', handler);
    process.on('SIGINT', handler);
    if (held !== undefined) {
      held.release();
      for (const signal of held.received) handler(signal);
    }
  });
}
