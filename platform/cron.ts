/**
 * Cron expressions for the platform's scheduler, in UTC (as OCI Resource Scheduler's CRON recurrence):
 *
 *   minute hour day-of-month month day-of-week      e.g. `* * * * *`, `0 * * * *`, `0,30 8-18 * * 1-5`
 *
 * Each field takes `*`, a number, a range `a-b`, either of the first two followed by a step `/n` (every n-th value),
 * or a comma list of those. Day of week is 0-7 (0 and 7 are Sunday). As in Vixie cron, when both day fields are
 * restricted a day matching either one runs.
 * For development and tests, `@every <n>s|m|h` runs every n seconds, minutes or hours after the previous run.
 */

export interface CronSchedule {
  readonly expression: string;
  /** The first run time strictly after `afterMs` (ms since the epoch). */
  nextRun(afterMs: number): number;
}

export class CronSyntaxError extends Error {
  constructor(expression: string, reason: string) {
    super(`Invalid cron expression "${expression}": ${reason}`);
    this.name = 'CronSyntaxError';
  }
}

interface FieldSpec {
  name: string;
  min: number;
  max: number;
}

const FIELDS: readonly FieldSpec[] = [
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day of month', min: 1, max: 31 },
  { name: 'month', min: 1, max: 12 },
  { name: 'day of week', min: 0, max: 7 },
];

const MINUTE_MS = 60_000;
const EVERY = /^@every\s+(\d{1,9})([smh])$/;
const UNIT_MS = { s: 1000, m: MINUTE_MS, h: 3_600_000 } as const;
/** Every valid pattern matches within 8 years (Feb 29 on a given weekday takes the longest); stop looking after that. */
const MAX_SEARCH_DAYS = 8 * 366;

export function parseCron(expression: string): CronSchedule {
  const text = expression.trim();
  const every = EVERY.exec(text);
  if (every) {
    const intervalMs = Number(every[1]) * UNIT_MS[every[2] as keyof typeof UNIT_MS];
    if (intervalMs <= 0) throw new CronSyntaxError(expression, 'the interval must be positive');
    return { expression, nextRun: (afterMs) => afterMs + intervalMs };
  }
  if (text.startsWith('@')) throw new CronSyntaxError(expression, 'the only @ form is "@every <n>s|m|h"');
  const parts = text.split(/\s+/);
  if (parts.length !== 5) throw new CronSyntaxError(expression, `expected 5 fields, found ${parts.length}`);
  const [minutes, hours, days, months, weekdays] = FIELDS.map((spec, i) => parseField(expression, parts[i] ?? '', spec)) as [
    Field,
    Field,
    Field,
    Field,
    Field,
  ];
  // Sunday is both 0 and 7.
  if (weekdays.values.has(7)) weekdays.values.add(0);

  const dayMatches = (d: Date): boolean => {
    const dom = days.values.has(d.getUTCDate());
    const dow = weekdays.values.has(d.getUTCDay());
    if (days.restricted && weekdays.restricted) return dom || dow;
    return dom && dow;
  };

  const schedule: CronSchedule = {
    expression,
    nextRun(afterMs) {
      const t = new Date(Math.floor(afterMs / MINUTE_MS) * MINUTE_MS + MINUTE_MS);
      for (let daysSearched = 0; daysSearched <= MAX_SEARCH_DAYS; ) {
        if (!months.values.has(t.getUTCMonth() + 1) || !dayMatches(t)) {
          t.setUTCHours(0, 0, 0, 0);
          t.setUTCDate(t.getUTCDate() + 1);
          daysSearched++;
          continue;
        }
        const hour = nextIn(hours.values, t.getUTCHours(), 23);
        if (hour === undefined) {
          t.setUTCHours(24, 0, 0, 0);
          daysSearched++;
          continue;
        }
        if (hour !== t.getUTCHours()) t.setUTCHours(hour, 0, 0, 0);
        const minute = nextIn(minutes.values, t.getUTCMinutes(), 59);
        if (minute === undefined) {
          t.setUTCHours(t.getUTCHours() + 1, 0, 0, 0);
          continue;
        }
        t.setUTCMinutes(minute, 0, 0);
        return t.getTime();
      }
      throw new CronSyntaxError(expression, 'it never matches a date');
    },
  };
  // A pattern such as `0 0 30 2 *` is well-formed but never runs: refuse it up front, not at the first tick.
  schedule.nextRun(0);
  return schedule;
}

interface Field {
  values: Set<number>;
  /** False for a bare `*`: matters only for the day fields' either-or rule. */
  restricted: boolean;
}

function parseField(expression: string, text: string, spec: FieldSpec): Field {
  const values = new Set<number>();
  const fail = (reason: string) => new CronSyntaxError(expression, `${spec.name} field "${text}": ${reason}`);
  const number = (s: string): number => {
    if (!/^\d{1,2}$/.test(s)) throw fail(`"${s}" is not a number`);
    const n = Number(s);
    if (n < spec.min || n > spec.max) throw fail(`${n} is outside ${spec.min}-${spec.max}`);
    return n;
  };
  let restricted = false;
  for (const item of text.split(',')) {
    const [range = '', stepText, extra] = item.split('/');
    if (extra !== undefined) throw fail('more than one "/"');
    const step = stepText === undefined ? 1 : Number(stepText);
    if (stepText !== undefined && (!/^\d{1,2}$/.test(stepText) || step < 1)) throw fail(`step "${stepText}" must be a positive number`);
    let low: number;
    let high: number;
    if (range === '*') {
      [low, high] = [spec.min, spec.max];
      if (step > 1) restricted = true;
    } else {
      restricted = true;
      const [a = '', b, more] = range.split('-');
      if (more !== undefined) throw fail(`"${range}" is not a range`);
      low = number(a);
      high = b === undefined ? (stepText === undefined ? low : spec.max) : number(b);
      if (high < low) throw fail(`${low}-${high} is an empty range`);
    }
    for (let v = low; v <= high; v += step) values.add(v);
  }
  return { values, restricted };
}

/** The smallest value in `values` from `from` to `max`, if any. */
function nextIn(values: Set<number>, from: number, max: number): number | undefined {
  for (let v = from; v <= max; v++) if (values.has(v)) return v;
  return undefined;
}
