/**
 * `runcommand agent --config F`: this host's agent in the foreground, until SIGINT or SIGTERM. Bundled on its own
 * (dist/cli/runcommand-agent.js) so a host's agent loads only the agent and the Streaming SDK, not the platform.
 */
import { startAgentFromConfigFile, stopOnSignals } from '../agent/main';
import { UsageError, optionString, parseArgs } from './args';

export async function agent(argv: readonly string[]): Promise<number> {
  const args = parseArgs(argv, { values: ['config'] });
  const configFile = optionString(args, 'config');
  if (!configFile) throw new UsageError('--config is required');
  const running = await startAgentFromConfigFile(configFile, { stderrLogs: true });
  await stopOnSignals(running, running.log);
  return 0;
}
