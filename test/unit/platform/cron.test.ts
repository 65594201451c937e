import { CronSyntaxError, parseCron } from '../../../platform/cron';

const at = (iso: string) => Date.parse(iso);
const next = (expression: string, afterIso: string) => new Date(parseCron(expression).nextRun(at(afterIso))).toISOString();

describe('parseCron', () => {
  describe('nextRun', () => {
    it('runs every minute on the minute, strictly after the given time', () => {
      expect(next('* * * * *', '2025-03-01T10:00:30.000Z')).toBe('2025-03-01T10:01:00.000Z');
      expect(next('* * * * *', '2025-03-01T10:01:00.000Z')).toBe('2025-03-01T10:02:00.000Z');
    });

    it('runs hourly at minute 0, across midnight and the new year', () => {
      expect(next('0 * * * *', '2025-03-01T10:00:00.000Z')).toBe('2025-03-01T11:00:00.000Z');
      expect(next('0 * * * *', '2025-12-31T23:59:59.000Z')).toBe('2026-01-01T00:00:00.000Z');
    });

    it('takes steps, ranges and lists', () => {
      expect(next('*/15 * * * *', '2025-03-01T10:16:00.000Z')).toBe('2025-03-01T10:30:00.000Z');
      expect(next('5,10,50 * * * *', '2025-03-01T10:10:00.000Z')).toBe('2025-03-01T10:50:00.000Z');
      expect(next('10-20/5 3 * * *', '2025-03-01T03:16:00.000Z')).toBe('2025-03-01T03:20:00.000Z');
      expect(next('10-20/5 3 * * *', '2025-03-01T03:21:00.000Z')).toBe('2025-03-02T03:10:00.000Z');
      expect(next('0 */6 * * *', '2025-03-01T07:00:00.000Z')).toBe('2025-03-01T12:00:00.000Z');
    });

    it('skips the weekend for a weekday schedule', () => {
      // 2025-03-07 is a Friday.
      expect(next('0 9 * * 1-5', '2025-03-07T09:00:00.000Z')).toBe('2025-03-10T09:00:00.000Z');
    });

    it('accepts 7 for Sunday', () => {
      expect(next('0 0 * * 7', '2025-03-01T00:00:00.000Z')).toBe('2025-03-02T00:00:00.000Z');
      expect(next('0 0 * * 0', '2025-03-01T00:00:00.000Z')).toBe('2025-03-02T00:00:00.000Z');
    });

    it('runs on either day field when both are restricted', () => {
      // The 13th, or any Friday: from Saturday 2025-03-08 the 13th (a Thursday) comes before Friday the 14th.
      expect(next('0 0 13 * 5', '2025-03-08T00:00:00.000Z')).toBe('2025-03-13T00:00:00.000Z');
      expect(next('0 0 13 * 5', '2025-03-13T00:00:00.000Z')).toBe('2025-03-14T00:00:00.000Z');
    });

    it('finds the next 29 February', () => {
      expect(next('30 12 29 2 *', '2025-03-01T00:00:00.000Z')).toBe('2028-02-29T12:30:00.000Z');
    });

    it('finds a month-restricted date across the year end', () => {
      expect(next('0 0 1 1 *', '2025-01-01T00:00:00.000Z')).toBe('2026-01-01T00:00:00.000Z');
    });
  });

  describe('@every', () => {
    it.each([
      ['@every 1s', 1000],
      ['@every 2m', 120_000],
      ['@every 3h', 3 * 3_600_000],
    ])('%s runs that long after the given time', (expression, intervalMs) => {
      expect(parseCron(expression).nextRun(12_345)).toBe(12_345 + intervalMs);
    });
  });

  describe('errors', () => {
    it.each([
      ['* * * *', /expected 5 fields/],
      ['60 * * * *', /minute field "60": 60 is outside 0-59/],
      ['* 24 * * *', /hour field/],
      ['* * 0 * *', /day of month field/],
      ['* * * 13 *', /month field/],
      ['* * * * 8', /day of week field/],
      ['*/0 * * * *', /step "0"/],
      ['5-1 * * * *', /empty range/],
      ['a * * * *', /"a" is not a number/],
      ['1/2/3 * * * *', /more than one "\/"/],
      ['0 0 30 2 *', /never matches/],
      ['@every 0s', /positive/],
      ['@hourly', /only @ form/],
    ])('refuses %j', (expression, message) => {
      expect(() => parseCron(expression)).toThrow(CronSyntaxError);
      expect(() => parseCron(expression)).toThrow(message);
    });
  });
});
