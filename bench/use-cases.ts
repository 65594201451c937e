/**
 * The platform's floor: the three use cases each command goes through (create-command, then the agent's ACK and
 * FINISH through agent-callback), called in this process on the embedded store, without HTTP, signatures or function
 * processes. The throughput run's gateway and function CPU per command, set against this, is what the process hops
 * cost.
 */
import { applyAgentReport } from '../shared/app/agent-report';
import { createCommand } from '../shared/app/create-command';
import type { AgentReport } from '../shared/domain/agent-report';
import { systemClock } from '../shared/ports/clock';
import { openEmbeddedWorld } from './embedded-world';

export interface BenchUseCasesResult {
  commands: number;
  /** Milliseconds of this process's CPU per command, by use case. */
  cpuMsPerCommand: { create: number; ack: number; finish: number; total: number };
}

const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

/** CPU (user + system) of this process spent in `work`, in ms. */
async function cpuMs(work: () => Promise<void>): Promise<number> {
  const before = process.cpuUsage();
  await work();
  const used = process.cpuUsage(before);
  return (used.user + used.system) / 1000;
}

/** Runs `commands` commands through create, ACK and FINISH after a warm-up of `warmup` more, and measures each step. */
export async function benchUseCases(options: { commands: number; warmup: number }): Promise<BenchUseCasesResult> {
  const world = await openEmbeddedWorld(systemClock, 'rc-bench-use-cases-');
  try {
    let sequence = 0;
    const report = (id: string, event: AgentReport['event']) =>
      applyAgentReport(world.deps, world.instance, { callbackId: `cb-${++sequence}`, sequence, agentSessionId: 'bench', instanceAgentCommandId: id, event });
    const ids: string[] = [];
    const create = async (n: number) => {
      ids.length = 0;
      for (let i = 0; i < n; i++) ids.push((await createCommand(world.deps, { principal: world.user, spec: world.spec('true') })).doc.id);
    };
    const ack = async () => {
      for (const id of ids) await report(id, { type: 'ACK' });
    };
    const finish = async () => {
      for (const id of ids) {
        await report(id, { type: 'FINISH', outcome: 'SUCCEEDED', exitCode: 0, text: '', textSha256: EMPTY_SHA256 });
      }
    };
    await create(options.warmup);
    await ack();
    await finish();

    const createMs = await cpuMs(() => create(options.commands));
    const ackMs = await cpuMs(ack);
    const finishMs = await cpuMs(finish);
    const per = (ms: number) => ms / options.commands;
    return {
      commands: options.commands,
      cpuMsPerCommand: { create: per(createMs), ack: per(ackMs), finish: per(finishMs), total: per(createMs + ackMs + finishMs) },
    };
  } finally {
    world.close();
  }
}
