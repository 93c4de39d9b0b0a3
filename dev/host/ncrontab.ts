/**
 * NCRONTAB schedules as the Azure Functions timer trigger reads them: six fields
 * `{second} {minute} {hour} {day} {month} {day-of-week}`, each `*`, a value, a range `a-b`, a step
 * (`*\/n`, `a-b/n`, `a/n`) or a comma list of those; months and weekdays also by three-letter name.
 * Evaluated in UTC, which is what Azure uses unless WEBSITE_TIME_ZONE is set. As in NCrontab (and
 * unlike Vixie cron), a restricted day AND a restricted weekday must both match.
 */
export interface CronSchedule {
  readonly expression: string;
  /** The first occurrence strictly after `after` (whole seconds). */
  next(after: Date): Date;
}

export function nextOccurrence(expression: string, after: Date): Date {
  return parseNcrontab(expression).next(after);
}

interface FieldSpec {
  label: string;
  min: number;
  max: number;
  names?: readonly string[];
}

const SECOND: FieldSpec = { label: "second", min: 0, max: 59 };
const MINUTE: FieldSpec = { label: "minute", min: 0, max: 59 };
const HOUR: FieldSpec = { label: "hour", min: 0, max: 23 };
const DAY: FieldSpec = { label: "day", min: 1, max: 31 };
const MONTH: FieldSpec = {
  label: "month",
  min: 1,
  max: 12,
  names: ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"],
};
const WEEKDAY: FieldSpec = { label: "day-of-week", min: 0, max: 6, names: ["sun", "mon", "tue", "wed", "thu", "fri", "sat"] };

/** Far enough for the rarest valid schedule (Feb 29 on a given weekday recurs within 40 years). */
const SEARCH_YEARS = 100;

export function parseNcrontab(expression: string): CronSchedule {
  const fields = expression.trim().split(/\s+/);
  if (fields.length !== 6) {
    throw new Error(
      `invalid NCRONTAB expression "${expression}": expected 6 fields ` +
        `"{second} {minute} {hour} {day} {month} {day-of-week}", got ${fields.length}${hintFor(expression, fields.length)}`,
    );
  }
  const [sec, min, hour, day, month, weekday] = fields as [string, string, string, string, string, string];
  const seconds = nextTable(parseField(sec, SECOND, expression), SECOND.max);
  const minutes = nextTable(parseField(min, MINUTE, expression), MINUTE.max);
  const hours = nextTable(parseField(hour, HOUR, expression), HOUR.max);
  const days = parseField(day, DAY, expression);
  const months = nextTable(parseField(month, MONTH, expression), MONTH.max);
  const weekdays = parseField(weekday, WEEKDAY, expression);

  const schedule: CronSchedule = {
    expression,
    next(after: Date): Date {
      const from = Math.floor(after.getTime() / 1000) * 1000 + 1000;
      if (!Number.isFinite(from)) throw new Error(`invalid date for NCRONTAB "${expression}"`);
      const start = new Date(from);
      let y = start.getUTCFullYear();
      let mo = start.getUTCMonth() + 1;
      let d = start.getUTCDate();
      let h = start.getUTCHours();
      let mi = start.getUTCMinutes();
      let s = start.getUTCSeconds();
      const lastYear = y + SEARCH_YEARS;
      // Each step moves the first field that does not match to its next allowed value and resets
      // the smaller fields, so the search advances monotonically and never revisits a time.
      while (y <= lastYear) {
        const m2 = months[mo] ?? -1;
        if (m2 < 0) {
          y++;
          mo = 1;
          d = 1;
          h = mi = s = 0;
          continue;
        }
        if (m2 !== mo) {
          mo = m2;
          d = 1;
          h = mi = s = 0;
        }
        const dim = daysInMonth(y, mo);
        let d2 = d;
        while (d2 <= dim && !(days[d2] === true && weekdays[weekdayOf(y, mo, d2)] === true)) d2++;
        if (d2 > dim) {
          mo++;
          d = 1;
          h = mi = s = 0;
          continue;
        }
        if (d2 !== d) {
          d = d2;
          h = mi = s = 0;
        }
        const h2 = hours[h] ?? -1;
        if (h2 < 0) {
          d++;
          h = mi = s = 0;
          continue;
        }
        if (h2 !== h) {
          h = h2;
          mi = s = 0;
        }
        const mi2 = minutes[mi] ?? -1;
        if (mi2 < 0) {
          h++;
          mi = s = 0;
          continue;
        }
        if (mi2 !== mi) {
          mi = mi2;
          s = 0;
        }
        const s2 = seconds[s] ?? -1;
        if (s2 < 0) {
          mi++;
          s = 0;
          continue;
        }
        return new Date(Date.UTC(y, mo - 1, d, h, mi, s2));
      }
      throw new Error(`NCRONTAB expression "${expression}" has no occurrence within ${SEARCH_YEARS} years`);
    },
  };
  // A schedule that can never fire (e.g. "0 0 0 31 2 *") is a configuration error: fail at parse time.
  schedule.next(new Date(Date.UTC(2000, 0, 1)));
  return schedule;
}

/** Why a near miss is refused: forms Azure reads differently or not at all on the app's plan. */
function hintFor(expression: string, count: number): string {
  if (/^\s*(\d+\.)?\d{1,2}:\d{2}(:\d{2})?\s*$/.test(expression)) {
    return "; a TimeSpan schedule (hh:mm:ss) runs only on App Service plans, not on the Flex Consumption plan the app targets, and the local host does not emulate it";
  }
  if (count === 5) return "; a five-field Unix cron lacks the leading {second} field (prefix it with 0)";
  return "";
}

/** allowed[v] === true for every allowed value v. */
function parseField(text: string, spec: FieldSpec, expression: string): boolean[] {
  const allowed: boolean[] = [];
  const fail = (why: string): never => {
    throw new Error(`invalid NCRONTAB expression "${expression}": ${spec.label} field "${text}" ${why}`);
  };
  for (const item of text.split(",")) {
    const parts = item.split("/");
    if (parts.length > 2) fail("has more than one '/'");
    const [range = "", stepText] = parts;
    let step = 1;
    if (stepText !== undefined) {
      if (!/^\d+$/.test(stepText)) fail(`has a bad step "${stepText}"`);
      step = Number(stepText);
      if (step < 1 || step > spec.max - spec.min + 1) fail(`has a step out of range "${stepText}"`);
    }
    let from: number;
    let to: number;
    if (range === "*") {
      from = spec.min;
      to = spec.max;
    } else {
      const bounds = range.split("-");
      if (bounds.length > 2) fail(`has a bad range "${range}"`);
      from = value(bounds[0] ?? "", spec, fail);
      to = bounds[1] !== undefined ? value(bounds[1], spec, fail) : stepText !== undefined ? spec.max : from;
      if (from > to) fail(`has a descending range "${range}"`);
    }
    for (let v = from; v <= to; v += step) allowed[v] = true;
  }
  return allowed;
}

function value(text: string, spec: FieldSpec, fail: (why: string) => never): number {
  if (/^\d+$/.test(text)) {
    const n = Number(text);
    if (n < spec.min || n > spec.max) fail(`has ${n} outside ${spec.min}-${spec.max}`);
    return n;
  }
  const index = spec.names?.indexOf(text.toLowerCase()) ?? -1;
  if (index < 0) fail(`has an unknown value "${text}"`);
  return spec.names === MONTH.names ? index + 1 : index;
}

/** table[x] = the smallest allowed value >= x, or -1; computed once so matching is a lookup. */
function nextTable(allowed: boolean[], max: number): number[] {
  const table = new Array<number>(max + 2).fill(-1);
  for (let x = max; x >= 0; x--) table[x] = allowed[x] === true ? x : (table[x + 1] ?? -1);
  return table;
}

function daysInMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

function weekdayOf(year: number, month: number, day: number): number {
  return new Date(Date.UTC(year, month - 1, day)).getUTCDay();
}
