/**
 * Benchmark helper: many agents in one process (`node dist/bench/agent-host.js <agent.yml>...`), for the idle-fleet
 * measurement. 500 agents as 500 Node processes would need tens of GB on a benchmark machine; sharing a process
 * shows what each additional agent costs. Prints `ready <n>` once every agent has started; stops on SIGTERM.
 */
import { startAgentFromConfigFile } from '../agent/main';

async function main(configFiles: string[]): Promise<void> {
  const agents = [];
  for (const file of configFiles) agents.push(await startAgentFromConfigFile(file));
  process.stdout.write(`ready ${agents.length}\n`);
  await new Promise<void>((resolve) => process.once('SIGTERM', () => resolve()));
  await Promise.all(agents.map((a) => a.stop({ killRunning: true })));
  process.exit(0);
}

main(process.argv.slice(2)).catch((e: unknown) => {
  process.stderr.write(`agent-host: ${e instanceof Error ? e.stack : String(e)}\n`);
  process.exit(1);
});
