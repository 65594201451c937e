/**
 * `run`'s progress on stderr: on a terminal, one line rewritten in place with the state and the elapsed time; with
 * `--progress` elsewhere, a line per state change; otherwise nothing (stdout carries only the script's output).
 */
import type { Execution } from './wait';

export type ProgressMode = 'live' | 'lines' | 'off';

interface ProgressStream {
  write(text: string): unknown;
}

const TICK_MS = 1000;
/** How long a command may sit undelivered before the hint about a missing agent. */
const NO_AGENT_HINT_AFTER_MS = 10_000;

export class Progress {
  private state = '';
  private lastUpdated = '';
  private timer: NodeJS.Timeout | undefined;
  private hinted = false;

  constructor(
    private readonly err: ProgressStream,
    private readonly mode: ProgressMode,
    private readonly startedMs: number,
    private readonly nowMs: () => number = Date.now,
  ) {
    if (mode === 'live') {
      this.timer = setInterval(() => this.render(), TICK_MS);
      this.timer.unref();
    }
  }

  /** A state seen on the stream or by a GET; older or repeated states change nothing. */
  update(execution: Execution): void {
    const updated = String(execution.timeUpdated ?? '');
    if (updated && this.lastUpdated && updated < this.lastUpdated) return;
    this.lastUpdated = updated || this.lastUpdated;
    const state = `${execution.lifecycleState} (${execution.deliveryState})`;
    if (state === this.state) return;
    this.state = state;
    if (this.mode === 'lines') this.err.write(`[${this.elapsed()}] ${state}\n`);
    this.render();
  }

  note(text: string): void {
    if (this.mode === 'off') return;
    this.clearLine();
    this.err.write(`${text}\n`);
    this.render();
  }

  /** Stops the ticking and prints the final state (always, when progress is on). */
  finish(summary: string): void {
    this.stop();
    if (this.mode === 'off') return;
    this.clearLine();
    this.err.write(`${summary} after ${this.elapsed()}\n`);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private render(): void {
    if (this.mode === 'off') return;
    const waitingForAgent = this.state.startsWith('ACCEPTED (VISIBLE)') || this.state === '';
    if (!this.hinted && waitingForAgent && this.nowMs() - this.startedMs > NO_AGENT_HINT_AFTER_MS) {
      this.hinted = true;
      this.clearLine();
      this.err.write('no agent has picked the command up yet: is `runcommand up` (or `runcommand agent`) running for that instance?\n');
    }
    if (this.mode === 'live') this.err.write(`\r\x1b[K${this.state || 'creating'}  ${this.elapsed()}`);
  }

  private clearLine(): void {
    if (this.mode === 'live') this.err.write('\r\x1b[K');
  }

  private elapsed(): string {
    return `${((this.nowMs() - this.startedMs) / 1000).toFixed(1)}s`;
  }
}
