import { AdmissionPool } from '../../../agent/pool';

function fill(pool: AdmissionPool, n: number): string[] {
  const ids = Array.from({ length: n }, (_, i) => `c${i + 1}`);
  for (const id of ids) pool.add(id);
  return ids;
}

describe('AdmissionPool', () => {
  it('starts at most maxWorkers and holds the rest up to maxInFlight, first come first served', () => {
    const pool = new AdmissionPool({ maxWorkers: 2, maxInFlight: 5 });
    fill(pool, 8);
    expect(pool.schedule()).toEqual({ start: ['c1', 'c2'], hold: ['c3', 'c4', 'c5'] });
    expect(pool.counts()).toMatchObject({ queued: 3, held: 3, starting: 2, inFlight: 5, workers: 2 });
    expect(pool.schedule()).toEqual({ start: [], hold: [] });
  });

  it('gives a freed worker to the oldest held command, and its in-flight slot only once FINISH is delivered', () => {
    const pool = new AdmissionPool({ maxWorkers: 2, maxInFlight: 5 });
    fill(pool, 8);
    pool.schedule();
    pool.set('c1', 'running');
    pool.set('c2', 'running');
    pool.set('c1', 'finishing');
    expect(pool.schedule()).toEqual({ start: ['c3'], hold: [] });
    pool.delete('c1');
    expect(pool.schedule()).toEqual({ start: [], hold: ['c6'] });
    expect(pool.counts()).toMatchObject({ inFlight: 5, workers: 2, queued: 2 });
  });

  it('keeps a canceling command in flight but off the workers', () => {
    const pool = new AdmissionPool({ maxWorkers: 1, maxInFlight: 2 });
    fill(pool, 3);
    expect(pool.schedule()).toEqual({ start: ['c1'], hold: ['c2'] });
    pool.set('c2', 'canceling');
    expect(pool.schedule()).toEqual({ start: [], hold: [] });
    pool.delete('c2');
    expect(pool.schedule()).toEqual({ start: [], hold: ['c3'] });
  });

  it('never uses more workers than in-flight slots', () => {
    const pool = new AdmissionPool({ maxWorkers: 10, maxInFlight: 3 });
    fill(pool, 6);
    expect(pool.schedule()).toEqual({ start: ['c1', 'c2', 'c3'], hold: [] });
    expect(pool.maxWorkers).toBe(3);
  });

  it('restores held commands as held (they count in flight)', () => {
    const pool = new AdmissionPool({ maxWorkers: 1, maxInFlight: 2 });
    pool.add('a', 'held');
    pool.add('b', 'held');
    pool.add('c');
    expect(pool.schedule()).toEqual({ start: ['a'], hold: [] });
    expect(pool.counts()).toMatchObject({ inFlight: 2, queued: 1 });
  });
});
