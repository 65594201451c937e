/** `runcommand up` (what `npm start` runs): the embedded platform plus an agent for this host, in the foreground. */
import os from 'node:os';
import path from 'node:path';
import { jsonLogger } from '../shared/app/log';
import { startPlatform, DEFAULT_PORT } from '../platform/platform';
import { startAgentFromConfigFile, startHoldingSignals } from '../agent/main';
import { optionInt, optionString, parseArgs } from './args';

export const UP_HELP = `Usage: runcommand up [--port P] [--data-dir DIR] [--no-agent]

Runs the embedded platform (the instanceagent 20180530 API, Object Storage and Streaming endpoints) on 127.0.0.1 and
an agent for this host, in the foreground. Ctrl-C (SIGINT) or SIGTERM stops everything (one that comes while it
starts, once it is up; a second one during start-up exits at once).

Options:
  --port P        listen port (env RUNCOMMAND_PORT, default ${DEFAULT_PORT}; 0 picks a free one)
  --data-dir DIR  state, keys and config (env RUNCOMMAND_DATA_DIR, default ~/.runcommand)
  --no-agent      run the platform only

When ready it prints the endpoint and writes DIR/platform.json (endpoint, tenancyId, compartmentId,
localInstanceId, ociConfigFile, ociProfile, namespace, ...).

Example:
  npm start -- --port 8530 --data-dir /tmp/rc
`;

export function defaultDataDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.RUNCOMMAND_DATA_DIR ?? path.join(os.homedir(), '.runcommand');
}

export async function up(argv: readonly string[]): Promise<number> {
  const args = parseArgs(argv, { booleans: ['no-agent'], values: ['port', 'data-dir'] });
  const port = optionInt(args, 'port', { min: 0, max: 65535 }) ?? Number(process.env.RUNCOMMAND_PORT ?? DEFAULT_PORT);
  const dataDir = path.resolve(optionString(args, 'data-dir') ?? defaultDataDir());
  const log = jsonLogger('platform');
  // A signal while the platform starts stops it once it is up (a second one exits at once).
  const { started, held } = await startHoldingSignals(async () => {
    const platform = await startPlatform({ dataDir, port, functionsDir: path.join(__dirname, '..', 'functions'), log });
    try {
      const agent = args.options.has('no-agent') ? undefined : await startAgentFromConfigFile(platform.info.localAgentConfigFile);
      return { platform, agent };
    } catch (e) {
      await platform.stop();
      throw e;
    }
  });
  const { platform, agent } = started;

  // Listening before the ready line: whoever sees it may signal at once, and must get a clean stop, not a kill.
  let stopping = false;
  const stopped = new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      process.stdout.write(`\n${signal}: stopping\n`);
      void (async () => {
        // Scripts still running are stopped (their executions end FAILED, saying so): nothing outlives `up`.
        await agent?.stop({ killRunning: true }).catch((e: unknown) => log.error('agent stop failed', { error: String(e) }));
        await platform.stop();
        resolve();
      })();
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
    held.release();
    for (const signal of held.received) stop(signal);
  });
  if (!stopping) {
    process.stdout.write(
      [
        `runcommand platform ready at ${platform.info.endpoint}`,
        `  data dir:        ${dataDir}`,
        `  OCI config:      ${platform.info.ociConfigFile} [${platform.info.ociProfile}]`,
        `  function logs:   ${platform.info.functionsLogFile}`,
        `  compartment:     ${platform.info.compartmentId}`,
        `  local instance:  ${platform.info.localInstanceId}${agent ? ' (agent running)' : ''}`,
        `Try: npx runcommand run -- uname -a`,
        '',
      ].join('\n'),
    );
  }

  await stopped;
  return 0;
}
