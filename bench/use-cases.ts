/**
 * The platform's floor: the use cases each command goes through while its agent is active (create-command, which
 * reserves it for the agent's session, then the agent's FINISH through agent-callback, which claims it), called in
 * this process on the embedded store, without HTTP, signatures or function processes; and the ACK that a command
 * not reserved adds. The throughput run's gateway and function CPU per command, set against this, is what the process
 * hops cost.
 */
import { applyAgentReport } from '../shared/app/agent-report';
import { createCommand } from '../shared/app/create-command';
import type { AgentReport } from '../shared/domain/agent-report';
import { systemClock } from '../shared/ports/clock';
import { openEmbeddedWorld } from './embedded-world';

export interface BenchUseCasesResult {
  commands: number;
  /** Milliseconds of this process's CPU per command, by use case; `total` is the reserved path (create, FINISH). */
  cpuMsPerCommand: { create: number; finish: number; total: number; ack: number };
}

const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

/** CPU (user + system) of this process spent in `work`, in ms. */
async function cpuMs(work: () => Promise<void>): Promise<number> {
  const before = process.cpuUsage();
  await work();
  const used = process.cpuUsage(before);
  return (used.user + used.system) / 1000;
}

/**
 * After a warm-up of `warmup` commands (whose reports make the session active), runs `commands` commands through
 * create and FINISH, and `commands` more through create and ACK, and measures each step.
 */
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
    const finishMs = await cpuMs(finish);
    await create(options.commands);
    const ackMs = await cpuMs(ack);
    const per = (ms: number) => ms / options.commands;
    return {
      commands: options.commands,
      cpuMsPerCommand: { create: per(createMs), finish: per(finishMs), total: per(createMs + finishMs), ack: per(ackMs) },
    };
  } finally {
    world.close();
  }
}
