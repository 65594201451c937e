/**
 * `runcommand agent --config F` (and `runcommand-agent --config F`): this host's agent in the foreground, until SIGINT
 * or SIGTERM. Bundled on its own (dist/cli/runcommand-agent.js) so a host's agent loads only the agent, not the
 * platform, the CLI or the OCI SDK.
 */
import { startAgentFromConfigFile, startHoldingSignals, stopOnSignals } from '../agent/main';
import { AGENT_HELP } from './agent-help';
import { UsageError, optionString, parseArgs } from './args';

export async function agent(argv: readonly string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(AGENT_HELP);
    return 0;
  }
  const args = parseArgs(argv, { values: ['config'] });
  const configFile = optionString(args, 'config');
  if (!configFile) throw new UsageError('--config is required');
  const { started: running, held } = await startHoldingSignals(() => startAgentFromConfigFile(configFile, { stderrLogs: true }));
  await stopOnSignals(running, running.log, held);
  return 0;
}
