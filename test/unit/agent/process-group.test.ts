import { spawn } from 'node:child_process';
import { isGroupAlive, isRecordedGroupOurs, killProcessGroup, readProcStartTime } from '../../../agent/process-group';
import { CircuitBreaker } from '../../../agent/circuit-breaker';

function spawnGroup(script: string): number {
  const child = spawn('bash', ['-c', script], { detached: true, stdio: 'ignore' });
  return child.pid as number;
}

describe('killProcessGroup', () => {
  it('SIGTERMs the whole group and resolves once it is gone', async () => {
    const pgid = spawnGroup('sleep 30 & sleep 30');
    expect(isGroupAlive(pgid)).toBe(true);
    await expect(killProcessGroup(pgid, { graceMs: 2000 })).resolves.toBe(true);
    expect(isGroupAlive(pgid)).toBe(false);
  });

  it('SIGKILLs a group that ignores SIGTERM after the grace period', async () => {
    const pgid = spawnGroup("trap '' TERM; sleep 30 & wait");
    await new Promise((r) => setTimeout(r, 100));
    await expect(killProcessGroup(pgid, { graceMs: 100 })).resolves.toBe(true);
    expect(isGroupAlive(pgid)).toBe(false);
  });

  it('answers true at once for a group that no longer exists', async () => {
    const pgid = spawnGroup('exit 0');
    await new Promise((r) => setTimeout(r, 100));
    await expect(killProcessGroup(pgid, { graceMs: 10_000 })).resolves.toBe(true);
  });
});

describe('isRecordedGroupOurs', () => {
  it('accepts the recorded process, refuses a recycled pid, and accepts a vanished leader', async () => {
    const pgid = spawnGroup('sleep 30');
    const startTime = readProcStartTime(pgid);
    expect(startTime).toMatch(/^\d+$/);
    expect(isRecordedGroupOurs(pgid, startTime)).toBe(true);
    expect(isRecordedGroupOurs(pgid, '1')).toBe(false);
    expect(isRecordedGroupOurs(pgid, undefined)).toBe(false);
    process.kill(-pgid, 'SIGKILL');
    expect(isRecordedGroupOurs(2 ** 22 + 12345, '1')).toBe(true);
  });
});

describe('CircuitBreaker', () => {
  it('opens after the threshold, allows a trial after openMs, and closes on success', () => {
    let now = 0;
    const breaker = new CircuitBreaker('pollCommand', { failureThreshold: 3, openMs: 1000 }, { nowMs: () => now });
    expect([breaker.recordFailure(), breaker.recordFailure()]).toEqual([false, false]);
    expect(breaker.state).toBe('closed');
    expect(breaker.recordFailure()).toBe(true);
    expect(breaker.waitMs()).toBe(1000);
    now = 1000;
    expect(breaker.state).toBe('half-open');
    expect(breaker.recordFailure()).toBe(true);
    expect(breaker.waitMs()).toBe(1000);
    breaker.recordSuccess();
    expect(breaker.state).toBe('closed');
    expect(breaker.waitMs()).toBe(0);
  });
});
