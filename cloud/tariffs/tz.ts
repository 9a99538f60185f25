// Site time-zone arithmetic for the tariff engine (docs/tariffs.md, "Time and DST").
//
// Rule: all arithmetic is on UTC instants (epoch milliseconds); a local wall time is only ever
// *read* from an instant, through Intl.DateTimeFormat (full ICU on Node 20), to evaluate
// time-of-day / day-of-week restrictions and calendar-day windows. Durations are real elapsed
// time and never depend on the zone.

export const MINUTE_MS = 60_000;
export const HOUR_MS = 3_600_000;
export const DAY_MS = 86_400_000;
export const WEEK_MINUTES = 7 * 1440;

export const DAYS = ["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY"] as const;
export type DayOfWeek = (typeof DAYS)[number];

/** Monday = 0 … Sunday = 6 (the index in DAYS). */
export type Weekday = 0 | 1 | 2 | 3 | 4 | 5 | 6;

const IANA_SHAPE = /^[A-Za-z][A-Za-z0-9_+-]*(\/[A-Za-z0-9_+-]+)*$/;

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(zone: string): Intl.DateTimeFormat {
  let f = formatters.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat("en-US", {
      timeZone: zone, hourCycle: "h23", era: "short",
      year: "numeric", month: "numeric", day: "numeric", hour: "numeric", minute: "numeric", second: "numeric",
    });
    formatters.set(zone, f);
  }
  return f;
}

/**
 * Why `zone` is not a usable IANA time zone, or undefined when it is. Accepts what ICU accepts
 * (canonical names and their aliases), but refuses a case-mangled spelling and raw offsets.
 */
export function timeZoneProblem(zone: string): string | undefined {
  if (zoneProblems.has(zone)) return zoneProblems.get(zone);
  const p = checkTimeZone(zone);
  if (zoneProblems.size > 1000) zoneProblems.clear();
  zoneProblems.set(zone, p);
  return p;
}

const zoneProblems = new Map<string, string | undefined>();

function checkTimeZone(zone: string): string | undefined {
  if (!IANA_SHAPE.test(zone)) return `"${zone}" is not an IANA time zone name (expected e.g. "Europe/Paris")`;
  let resolved: string;
  try {
    resolved = new Intl.DateTimeFormat("en-US", { timeZone: zone }).resolvedOptions().timeZone;
  } catch {
    return `unknown time zone "${zone}" (expected an IANA name such as "Europe/Paris")`;
  }
  if (resolved !== zone && resolved.toLowerCase() === zone.toLowerCase()) {
    return `time zone "${zone}" must be spelled "${resolved}"`;
  }
  return undefined;
}

function floorMod(a: number, n: number): number {
  return ((a % n) + n) % n;
}

/** UTC offset (ms, local − UTC) at instant t, straight from ICU. */
export function icuOffset(zone: string, t: number): number {
  const secondStart = t - floorMod(t, 1000);
  let year = 0, month = 1, day = 1, hour = 0, minute = 0, second = 0, bc = false;
  for (const p of formatter(zone).formatToParts(secondStart)) {
    switch (p.type) {
      case "year": year = Number(p.value); break;
      case "month": month = Number(p.value); break;
      case "day": day = Number(p.value); break;
      case "hour": hour = Number(p.value); break;
      case "minute": minute = Number(p.value); break;
      case "second": second = Number(p.value); break;
      case "era": bc = p.value === "BC" || p.value === "B"; break;
    }
  }
  const d = new Date(0);
  d.setUTCFullYear(bc ? 1 - year : year, month - 1, day);
  d.setUTCHours(hour, minute, second, 0);
  return d.getTime() - secondStart;
}

// Offsets only change at a zone's transitions, and no zone has two transitions within an hour:
// cache the offset per UTC hour when it is the same at both ends of that hour; an hour that
// contains a transition is marked NaN and resolved per instant.
const offsetCaches = new Map<string, Map<number, number>>();
const OFFSET_CACHE_LIMIT = 200_000;

export function offsetAt(zone: string, t: number): number {
  let cache = offsetCaches.get(zone);
  if (!cache) {
    cache = new Map();
    offsetCaches.set(zone, cache);
  }
  const hour = Math.floor(t / HOUR_MS);
  let v = cache.get(hour);
  if (v === undefined) {
    const start = hour * HOUR_MS;
    const a = icuOffset(zone, start);
    const b = icuOffset(zone, start + HOUR_MS - 1000);
    v = a === b ? a : Number.NaN;
    if (cache.size >= OFFSET_CACHE_LIMIT) cache.clear();
    cache.set(hour, v);
  }
  return Number.isNaN(v) ? icuOffset(zone, t) : v;
}

/** The local wall clock at instant t, as "local milliseconds" (read with getUTC*). */
export function localMs(zone: string, t: number): number {
  return t + offsetAt(zone, t);
}

export interface LocalParts {
  /** Days since 1970-01-01 of the local calendar date. */
  dayNumber: number;
  /** Minutes since local midnight, 0–1439 (wall clock). */
  minuteOfDay: number;
  weekday: Weekday;
}

export function localParts(zone: string, t: number): LocalParts {
  const l = localMs(zone, t);
  const dayNumber = Math.floor(l / DAY_MS);
  return {
    dayNumber,
    minuteOfDay: Math.floor((l - dayNumber * DAY_MS) / MINUTE_MS),
    weekday: weekdayOfDayNumber(dayNumber),
  };
}

export function weekdayOfDayNumber(dayNumber: number): Weekday {
  // 1970-01-01 was a Thursday (Monday = 0 → Thursday = 3).
  return floorMod(dayNumber + 3, 7) as Weekday;
}

/**
 * The instant at which the local wall clock reads `local` (local milliseconds). Disambiguation
 * is Temporal's "compatible": a repeated wall time (fall back) gives the EARLIER instant, a
 * skipped wall time (spring forward) is moved forward by the gap (02:30 → 03:30 in Paris).
 */
export function instantOfLocal(zone: string, local: number): number {
  const before = offsetAt(zone, local - DAY_MS);
  const after = offsetAt(zone, local + DAY_MS);
  const t1 = local - before;
  const t2 = local - after;
  const ok1 = localMs(zone, t1) === local;
  const ok2 = localMs(zone, t2) === local;
  if (ok1 && ok2) return Math.min(t1, t2);
  if (ok1) return t1;
  if (ok2) return t2;
  return local - before; // in a gap: keep the pre-transition offset, i.e. shift forward
}

/** Local midnight starting the calendar day `dayNumber`, as an instant. */
export function startOfLocalDay(zone: string, dayNumber: number): number {
  return instantOfLocal(zone, dayNumber * DAY_MS);
}
