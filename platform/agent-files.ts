/** The files an agent needs on its host: its key (written at registration) and its config (`agent.yml`). */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export interface AgentConfigInput {
  instancesDir: string;
  tenancyId: string;
  instanceId: string;
  /** The platform's endpoint: API, Streaming and Object Storage are served together. */
  endpoint: string;
  streamId: string;
  maxWorkers?: number;
}

/** Writes `<instancesDir>/<instanceId>/agent.yml` (beside `key.pem`) and returns its path. */
export function writeAgentConfig(input: AgentConfigInput): string {
  const dir = path.join(input.instancesDir, input.instanceId);
  const fingerprint = readFileSync(path.join(dir, 'fingerprint'), 'utf8').trim();
  const file = path.join(dir, 'agent.yml');
  const lines = [
    '# runcommand agent configuration (the keys mirror OCI runcommand config.yml where they exist)',
    `instanceId: ${input.instanceId}`,
    `tenancyId: ${input.tenancyId}`,
    `apiEndpoint: ${input.endpoint}`,
    `streamingEndpoint: ${input.endpoint}`,
    `objectStorageEndpoint: ${input.endpoint}`,
    `streamId: ${input.streamId}`,
    'keyFile: key.pem',
    `fingerprint: ${fingerprint}`,
    `commandExecutionMaxWorkers: ${input.maxWorkers ?? 2}`,
    'logDir: log',
    'stateDir: state',
    '',
  ];
  writeFileSync(file, lines.join('\n'), { mode: 0o600 });
  return file;
}
