/** Time is injected everywhere (tests move a fake clock across days). */
export interface Clock {
  nowMs(): number;
}

export const systemClock: Clock = { nowMs: () => Date.now() };
