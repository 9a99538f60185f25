// Static analysis of a tariff document: the checks zod's shape cannot express (ambiguous or
// missing elements, overlapping flat windows, inverted ranges), and the compiled lookup tables
// the pricing function uses. Both work on the same "week-minute" model: restrictions on local
// time of day and weekday are a set of the 7 × 1440 minutes of a local week; restrictions on
// elapsed time are a half-open interval [min_duration, max_duration).
import type { FlatRate, LocalizedText, Restrictions, Tariff, TariffElement } from "./schema";
import { DAYS, WEEK_MINUTES, instantOfLocal, timeZoneProblem } from "./tz";
import type { DayOfWeek } from "./tz";

import { MAX_ELEMENTS, MAX_STAY_DAYS } from "./limits";

export { MAX_ELEMENTS, MAX_STAY_DAYS };

export interface AnalysisIssue {
  path: (string | number)[];
  message: string;
}

export function textOf(t: LocalizedText, locale: "en" | "fr" = "en"): string {
  if (typeof t === "string") return t;
  return (locale === "fr" ? t.fr : undefined) ?? t.en;
}

export function minuteOfTime(hhmm: string): number {
  return Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));
}

function dayIndexes(days: readonly DayOfWeek[] | undefined): number[] {
  return days ? [...new Set(days.map((d) => DAYS.indexOf(d)))] : [0, 1, 2, 3, 4, 5, 6];
}

/** Half-open interval [lo, hi) of week-minutes (0 = Monday 00:00 local, 10080 = next Monday). */
export type Interval = [number, number];

function normalize(ivs: Interval[]): Interval[] {
  const sorted = ivs.filter(([a, b]) => a < b).sort((x, y) => x[0] - y[0]);
  const out: Interval[] = [];
  for (const [a, b] of sorted) {
    const last = out[out.length - 1];
    if (last && a <= last[1]) last[1] = Math.max(last[1], b);
    else out.push([a, b]);
  }
  return out;
}

/** Week-minutes at which an element's time-of-day / weekday restrictions hold (OCPI: per instant). */
export function elementIntervals(r: Restrictions | undefined): Interval[] {
  const start = r?.start_time !== undefined ? minuteOfTime(r.start_time) : 0;
  const end = r?.end_time !== undefined ? minuteOfTime(r.end_time) : 1440;
  const out: Interval[] = [];
  for (const d of dayIndexes(r?.day_of_week)) {
    const base = d * 1440;
    if (start < end) out.push([base + start, base + end]);
    else out.push([base + start, base + 1440], [base, base + end]); // wraps: both ends of the SAME local day
  }
  return normalize(out);
}

/** Lookup table for the pricing loop: for each week-minute, bit i set when elements[i]'s time restrictions hold. */
export function elementMasks(elements: readonly TariffElement[]): Uint32Array {
  const masks = new Uint32Array(WEEK_MINUTES);
  elements.forEach((el, i) => {
    const bit = (1 << i) >>> 0;
    for (const [a, b] of elementIntervals(el.restrictions)) for (let m = a; m < b; m++) masks[m] |= bit;
  });
  return masks;
}

/** Week-minutes covered by the occurrences of a daily flat window (an occurrence runs from its start day). */
export function dailyFlatIntervals(w: { start_time: string; end_time: string; day_of_week?: DayOfWeek[] }): Interval[] {
  const start = minuteOfTime(w.start_time);
  let end = minuteOfTime(w.end_time);
  if (end <= start) end += 1440;
  const out: Interval[] = [];
  for (const d of dayIndexes(w.day_of_week)) {
    const lo = d * 1440 + start, hi = d * 1440 + end;
    if (hi <= WEEK_MINUTES) out.push([lo, hi]);
    else out.push([lo, WEEK_MINUTES], [0, hi - WEEK_MINUTES]); // Sunday night runs into Monday
  }
  return normalize(out);
}

export function describeWeekMinute(m: number): string {
  const d = Math.floor(m / 1440);
  const mm = m % 1440;
  return `${DAYS[d]} ${String(Math.floor(mm / 60)).padStart(2, "0")}:${String(mm % 60).padStart(2, "0")}`;
}

export function describeSeconds(s: number): string {
  if (!Number.isFinite(s)) return "∞";
  if (s === 0) return "0";
  const d = Math.floor(s / 86_400), h = Math.floor((s % 86_400) / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
  return [d && `${d} d`, h && `${h} h`, m && `${m} min`, sec && `${sec} s`].filter(Boolean).join(" ");
}

function describeElapsed(from: number, to: number): string {
  return `[${describeSeconds(from)}, ${describeSeconds(to)})`;
}

/** Smallest week-minute in both (normalized) sets, or -1. */
function firstCommon(a: Interval[], b: Interval[]): number {
  let i = 0, j = 0;
  while (i < a.length && j < b.length) {
    const lo = Math.max(a[i][0], b[j][0]);
    if (lo < Math.min(a[i][1], b[j][1])) return lo;
    if (a[i][1] <= b[j][1]) i++;
    else j++;
  }
  return -1;
}

/** Smallest week-minute in no interval, or -1. */
function firstMissing(ivs: Interval[]): number {
  let cursor = 0;
  for (const [a, b] of normalize(ivs)) {
    if (a > cursor) return cursor;
    cursor = Math.max(cursor, b);
  }
  return cursor < WEEK_MINUTES ? cursor : -1;
}

function durationRange(r: Restrictions | undefined): [number, number] {
  return [r?.min_duration ?? 0, r?.max_duration ?? Number.POSITIVE_INFINITY];
}

function name(el: TariffElement, i: number): string {
  return `elements[${i}] ("${textOf(el.label)}")`;
}

function flatName(f: FlatRate, i: number): string {
  return `flat_rates[${i}] ("${textOf(f.label)}")`;
}

function localDateTimeMs(s: string): number {
  return Date.UTC(Number(s.slice(0, 4)), Number(s.slice(5, 7)) - 1, Number(s.slice(8, 10)), Number(s.slice(11, 13)), Number(s.slice(14, 16)));
}

/** Instants [from, to) of a "dates" flat window, resolved in the site's zone. */
export function eventInstants(zone: string, w: { from: string; to: string }): [number, number] {
  return [instantOfLocal(zone, localDateTimeMs(w.from)), instantOfLocal(zone, localDateTimeMs(w.to))];
}

function duplicates<T>(xs: readonly T[] | undefined): T[] {
  if (!xs) return [];
  return [...new Set(xs.filter((x, i) => xs.indexOf(x) !== i))];
}

/** Every semantic problem of a structurally valid tariff, each with a path and a precise message. */
export function analyseTariff(t: Tariff): AnalysisIssue[] {
  const issues: AnalysisIssue[] = [];
  const add = (path: (string | number)[], message: string) => issues.push({ path, message });

  t.elements.forEach((el, i) => {
    const p = ["elements", i];
    const r = el.restrictions;
    if (r) {
      if ((r.start_time === undefined) !== (r.end_time === undefined)) {
        add([...p, "restrictions"], "start_time and end_time go together: give both (a window, end exclusive, wrapping past midnight if end ≤ start) or neither (all day)");
      } else if (r.start_time !== undefined && r.start_time === r.end_time) {
        add([...p, "restrictions", "end_time"], `end_time equals start_time (${r.start_time}): the window would be ambiguous (empty or all day) — omit both for all day`);
      }
      if (r.min_duration !== undefined && r.max_duration !== undefined && r.max_duration <= r.min_duration) {
        add([...p, "restrictions", "max_duration"], `max_duration (${r.max_duration} s) must be greater than min_duration (${r.min_duration} s)`);
      }
      for (const d of duplicates(r.day_of_week)) add([...p, "restrictions", "day_of_week"], `${d} is listed twice`);
    }
    const meters = el.price_components.filter((c) => c.type === "PARKING_TIME").length;
    const flats = el.price_components.filter((c) => c.type === "FLAT").length;
    if (meters !== 1) add([...p, "price_components"], `needs exactly one PARKING_TIME component (the meter; its price_per_step may be 0), found ${meters}`);
    if (flats > 1) add([...p, "price_components"], `has ${flats} FLAT components: at most one per element`);
  });

  const flatRates = t.flat_rates ?? [];
  const zoneOk = timeZoneProblem(t.time_zone) === undefined;
  flatRates.forEach((f, i) => {
    const w = f.window;
    const p = ["flat_rates", i, "window"];
    if (w.kind === "daily") {
      if (w.start_time === w.end_time) add([...p, "end_time"], `end_time equals start_time (${w.start_time}): a flat window must not be empty or a whole day`);
      for (const d of duplicates(w.day_of_week)) add([...p, "day_of_week"], `${d} is listed twice`);
    } else {
      const from = localDateTimeMs(w.from), to = localDateTimeMs(w.to);
      if (to <= from) add([...p, "to"], `to (${w.to}) must be after from (${w.from})`);
      else if (to - from > 31 * 86_400_000) add([...p, "to"], "an event window must not last more than 31 days (use a new tariff version for a lasting change)");
    }
  });

  if (issues.length > 0) return issues; // the overlap analysis needs well-formed windows

  // Elements: at every (week-minute, elapsed time) exactly one element must apply.
  const sets = t.elements.map((el) => elementIntervals(el.restrictions));
  const ranges = t.elements.map((el) => durationRange(el.restrictions));
  for (let i = 0; i < t.elements.length; i++) {
    for (let j = i + 1; j < t.elements.length; j++) {
      const lo = Math.max(ranges[i][0], ranges[j][0]);
      const hi = Math.min(ranges[i][1], ranges[j][1]);
      if (lo >= hi) continue;
      const m = firstCommon(sets[i], sets[j]);
      if (m < 0) continue;
      add(["elements", j, "restrictions"],
        `${name(t.elements[i], i)} and ${name(t.elements[j], j)} both apply on ${describeWeekMinute(m)} (local time) for elapsed times in ${describeElapsed(lo, hi)}: the price would be ambiguous — make their restrictions disjoint`);
    }
  }
  const points = [...new Set([0, ...ranges.flatMap(([a, b]) => [a, b]).filter(Number.isFinite)])].sort((a, b) => a - b);
  points.forEach((from, k) => {
    const to = k + 1 < points.length ? points[k + 1] : Number.POSITIVE_INFINITY;
    const union: Interval[] = [];
    ranges.forEach(([a, b], i) => {
      if (a <= from && to <= b) union.push(...sets[i].map(([x, y]): Interval => [x, y]));
    });
    const gap = firstMissing(union);
    if (gap >= 0) {
      add(["elements"], `no element applies on ${describeWeekMinute(gap)} (local time) when the elapsed time is in ${describeElapsed(from, to)}: every instant of a stay needs exactly one element (add one, with price_per_step 0 if that time is free)`);
    }
  });

  // Flat windows: daily ones must not overlap each other, nor event ones each other
  // (an event window takes precedence over a daily window, by definition).
  const daily = flatRates.map((f, i) => ({ f, i })).filter(({ f }) => f.window.kind === "daily");
  const dailySets = daily.map(({ f }) => dailyFlatIntervals(f.window as Extract<FlatRate["window"], { kind: "daily" }>));
  for (let a = 0; a < daily.length; a++) {
    for (let b = a + 1; b < daily.length; b++) {
      const m = firstCommon(dailySets[a], dailySets[b]);
      if (m >= 0) add(["flat_rates", daily[b].i, "window"], `${flatName(daily[a].f, daily[a].i)} and ${flatName(daily[b].f, daily[b].i)} both cover ${describeWeekMinute(m)} (local time): overlapping flat rates make the price ambiguous`);
    }
  }
  if (zoneOk) {
    const events = flatRates.map((f, i) => ({ f, i })).filter(({ f }) => f.window.kind === "dates");
    const spans = events.map(({ f }) => eventInstants(t.time_zone, f.window as Extract<FlatRate["window"], { kind: "dates" }>));
    for (let a = 0; a < events.length; a++) {
      for (let b = a + 1; b < events.length; b++) {
        if (spans[a][0] < spans[b][1] && spans[b][0] < spans[a][1]) {
          add(["flat_rates", events[b].i, "window"], `${flatName(events[a].f, events[a].i)} and ${flatName(events[b].f, events[b].i)} overlap in time: overlapping event rates make the price ambiguous`);
        }
      }
    }
  }
  return issues;
}
