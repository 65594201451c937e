import { settlesWithin } from '../../../agent/timers';
import { FakeTimers } from './support/helpers';

describe('settlesWithin', () => {
  it('answers true as soon as the promise settles, and clears its timer', async () => {
    const timers = new FakeTimers();
    let resolve: () => void = () => undefined;
    const waited = settlesWithin(timers, 100, new Promise<void>((r) => (resolve = r)));
    await timers.advance(40);
    expect(timers.scheduled).toEqual([60]);
    resolve();
    await expect(waited).resolves.toBe(true);
    expect(timers.scheduled).toEqual([]);
  });

  it('counts a rejection as settling', async () => {
    const timers = new FakeTimers();
    await expect(settlesWithin(timers, 100, Promise.reject(new Error('gone')))).resolves.toBe(true);
    expect(timers.scheduled).toEqual([]);
  });

  it('answers false when the time runs out first, and a later settle changes nothing', async () => {
    const timers = new FakeTimers();
    let resolve: () => void = () => undefined;
    let answer: boolean | undefined;
    void settlesWithin(timers, 100, new Promise<void>((r) => (resolve = r))).then((a) => (answer = a));
    await timers.advance(99);
    expect(answer).toBeUndefined();
    await timers.advance(1);
    expect(answer).toBe(false);
    resolve();
    await timers.advance(0);
    expect(answer).toBe(false);
  });
});
