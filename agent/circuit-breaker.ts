/**
 * A circuit breaker around the stream poll, named like OCI's (`pollCommand`): after `failureThreshold` failures in a
 * row it opens and allows one trial every `openMs`; a success closes it.
 */
import type { Clock } from '../shared/ports/clock';

export type CircuitState = 'closed' | 'open' | 'half-open';

export interface CircuitBreakerOptions {
  failureThreshold: number;
  openMs: number;
}

export class CircuitBreaker {
  private failures = 0;
  private openedAtMs: number | undefined;

  constructor(
    readonly name: string,
    private readonly options: CircuitBreakerOptions,
    private readonly clock: Clock,
  ) {}

  get state(): CircuitState {
    if (this.openedAtMs === undefined) return 'closed';
    return this.clock.nowMs() - this.openedAtMs >= this.options.openMs ? 'half-open' : 'open';
  }

  /** How long to wait before the next attempt is allowed (0: go ahead). */
  waitMs(): number {
    if (this.openedAtMs === undefined) return 0;
    return Math.max(0, this.openedAtMs + this.options.openMs - this.clock.nowMs());
  }

  recordSuccess(): void {
    this.failures = 0;
    this.openedAtMs = undefined;
  }

  /** Returns true when the breaker is open after this failure. */
  recordFailure(): boolean {
    this.failures += 1;
    if (this.openedAtMs !== undefined || this.failures >= this.options.failureThreshold) this.openedAtMs = this.clock.nowMs();
    return this.openedAtMs !== undefined;
  }
}
