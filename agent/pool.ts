/**
 * Admission control for commands on this host (spec §5 "Concurrency on the instance"): at most `maxInFlight`
 * received and not finished, at most `maxWorkers` being acked or running. Pure bookkeeping (no I/O), so the limits
 * are tested on their own; agent.ts acts on the decisions.
 *
 * Phases, and what each costs:
 * - queued: recorded on disk, not reported (the server still sees VISIBLE)          no slot
 * - held: RECEIVE reported, waiting for a worker (server: PENDING)                  in flight
 * - canceling: acked out of band because a cancel arrived while it waited          in flight
 * - starting: being acked, then spawned                                             in flight + worker
 * - running: its process group runs                                                 in flight + worker
 * - finishing: done; its FINISH report is not delivered yet                         in flight
 */

export type PoolPhase = 'queued' | 'held' | 'canceling' | 'starting' | 'running' | 'finishing';

export interface PoolLimits {
  maxWorkers: number;
  maxInFlight: number;
}

export interface PoolCounts {
  queued: number;
  held: number;
  canceling: number;
  starting: number;
  running: number;
  finishing: number;
  inFlight: number;
  workers: number;
}

export interface ScheduleDecision {
  /** Now `starting`: ack them and run them. */
  start: string[];
  /** Now `held`: report RECEIVE for them. */
  hold: string[];
}

const IN_FLIGHT: ReadonlySet<PoolPhase> = new Set<PoolPhase>(['held', 'canceling', 'starting', 'running', 'finishing']);
const WORKER: ReadonlySet<PoolPhase> = new Set<PoolPhase>(['starting', 'running']);

export class AdmissionPool {
  /** Insertion order is receive order: first come, first served. */
  private readonly phases = new Map<string, PoolPhase>();
  readonly maxWorkers: number;
  readonly maxInFlight: number;

  constructor(limits: PoolLimits) {
    if (limits.maxWorkers < 1 || limits.maxInFlight < 1) throw new RangeError('pool limits must be at least 1');
    this.maxInFlight = limits.maxInFlight;
    // A worker always holds an in-flight slot, so more workers than in-flight slots could never be used.
    this.maxWorkers = Math.min(limits.maxWorkers, limits.maxInFlight);
  }

  has(id: string): boolean {
    return this.phases.has(id);
  }

  phaseOf(id: string): PoolPhase | undefined {
    return this.phases.get(id);
  }

  add(id: string, phase: 'queued' | 'held' = 'queued'): void {
    if (this.phases.has(id)) throw new Error(`${id} is already in the pool`);
    this.phases.set(id, phase);
  }

  set(id: string, phase: PoolPhase): void {
    if (!this.phases.has(id)) throw new Error(`${id} is not in the pool`);
    this.phases.set(id, phase);
  }

  delete(id: string): void {
    this.phases.delete(id);
  }

  counts(): PoolCounts {
    const c: PoolCounts = { queued: 0, held: 0, canceling: 0, starting: 0, running: 0, finishing: 0, inFlight: 0, workers: 0 };
    for (const phase of this.phases.values()) {
      c[phase] += 1;
      if (IN_FLIGHT.has(phase)) c.inFlight += 1;
      if (WORKER.has(phase)) c.workers += 1;
    }
    return c;
  }

  /** Fills free workers with the oldest waiting commands, then free in-flight slots with RECEIVEs; applies both. */
  schedule(): ScheduleDecision {
    const counts = this.counts();
    let workers = counts.workers;
    let inFlight = counts.inFlight;
    const start: string[] = [];
    const hold: string[] = [];
    for (const [id, phase] of this.phases) {
      if (workers >= this.maxWorkers) break;
      if (phase === 'held' || (phase === 'queued' && inFlight < this.maxInFlight)) {
        if (phase === 'queued') inFlight += 1;
        this.phases.set(id, 'starting');
        workers += 1;
        start.push(id);
      }
    }
    for (const [id, phase] of this.phases) {
      if (inFlight >= this.maxInFlight) break;
      if (phase === 'queued') {
        this.phases.set(id, 'held');
        inFlight += 1;
        hold.push(id);
      }
    }
    return { start, hold };
  }
}
