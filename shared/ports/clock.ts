/** Time is injected everywhere (tests move a fake clock across days). */
export interface Clock {
  nowMs(): number;
}

export const systemClock: Clock = { nowMs: () => Date.now() };

export function isoAt(clock: Clock): string {
  return new Date(clock.nowMs()).toISOString();
}
