// A tariff compiled for pricing (./price.ts): its elements with their restrictions in
// milliseconds, its flat-rate windows, a per-week-minute element mask and the instants at which
// a step's attributes may change, so that the meter can jump over runs of identical steps.
// Compiled once per tariff object (validated first when it was not).
import { dailyFlatIntervals, elementIntervals, elementMasks, eventInstants, minuteOfTime, textOf } from "./analysis";
import type { FlatRate, Tariff, TariffElement } from "./schema";
import { DAYS, DAY_MS, MINUTE_MS, WEEK_MINUTES, offsetAt, weekdayOfDayNumber } from "./tz";
import { TariffValidationError, isValidated, validateTariff } from "./validate";

export interface CElement {
  index: number;
  el: TariffElement;
  label: string;
  bit: number;
  minMs: number;
  maxMs: number;
  stepMs: number;
  stepS: number;
  price: number;
  flat: number | undefined;
}

export interface CDaily {
  index: number;
  rate: FlatRate;
  start: number;
  /** Minutes after the start day's midnight; > 1440 when the window wraps. */
  end: number;
  days: boolean[];
}

export interface CEvent {
  index: number;
  rate: FlatRate;
  from: number;
  to: number;
}

export interface Compiled {
  tariff: Tariff;
  elements: CElement[];
  masks: Uint32Array;
  /** Sorted week-minutes at which an element's or a daily flat window's membership may change, plus midnights. */
  changeMinutes: number[];
  /** Sorted elapsed times (ms) at which an element's duration restriction starts or stops holding. */
  durationPoints: number[];
  daily: CDaily[];
  events: CEvent[];
}

const compiledCache = new WeakMap<Tariff, Compiled>();

export function compile(input: Tariff): Compiled {
  const hit = compiledCache.get(input);
  if (hit) return hit;
  let t = input;
  if (!isValidated(input)) {
    const v = validateTariff(input);
    if (!v.ok) throw new TariffValidationError(v.errors);
    t = v.tariff;
  }
  const elements = t.elements.map((el, index): CElement => {
    const meter = el.price_components.find((c) => c.type === "PARKING_TIME");
    const flat = el.price_components.find((c) => c.type === "FLAT");
    if (!meter || meter.type !== "PARKING_TIME") throw new Error("unreachable: validated element without meter");
    return {
      index, el, label: textOf(el.label),
      bit: (1 << index) >>> 0,
      minMs: (el.restrictions?.min_duration ?? 0) * 1000,
      maxMs: el.restrictions?.max_duration !== undefined ? el.restrictions.max_duration * 1000 : Number.POSITIVE_INFINITY,
      stepMs: meter.step_size * 1000, stepS: meter.step_size, price: meter.price_per_step,
      flat: flat && flat.type === "FLAT" ? flat.price : undefined,
    };
  });
  const daily: CDaily[] = [];
  const events: CEvent[] = [];
  (t.flat_rates ?? []).forEach((rate, index) => {
    const w = rate.window;
    if (w.kind === "daily") {
      const start = minuteOfTime(w.start_time);
      let end = minuteOfTime(w.end_time);
      if (end <= start) end += 1440;
      const days = DAYS.map((d) => !w.day_of_week || w.day_of_week.includes(d));
      daily.push({ index, rate, start, end, days });
    } else {
      const [from, to] = eventInstants(t.time_zone, w);
      events.push({ index, rate, from, to });
    }
  });
  const change = new Set<number>([0, 1, 2, 3, 4, 5, 6].map((d) => d * 1440));
  for (const el of t.elements) for (const [a, b] of elementIntervals(el.restrictions)) change.add(a).add(b % WEEK_MINUTES);
  for (const f of t.flat_rates ?? []) {
    if (f.window.kind === "daily") for (const [a, b] of dailyFlatIntervals(f.window)) change.add(a).add(b % WEEK_MINUTES);
  }
  const points = new Set<number>();
  for (const e of elements) {
    if (e.minMs > 0) points.add(e.minMs);
    if (Number.isFinite(e.maxMs)) points.add(e.maxMs);
  }
  const c: Compiled = {
    tariff: t, elements, masks: elementMasks(t.elements), daily, events,
    changeMinutes: [...change].sort((a, b) => a - b),
    durationPoints: [...points].sort((a, b) => a - b),
  };
  compiledCache.set(input, c);
  return c;
}

/** The element in force at this week-minute after this much real time since entry. */
export function findElement(c: Compiled, weekMinute: number, elapsed: number): CElement {
  const mask = c.masks[weekMinute];
  for (const e of c.elements) {
    if ((mask & e.bit) !== 0 && elapsed >= e.minMs && elapsed < e.maxMs) return e;
  }
  throw new Error(`unreachable: no element at week-minute ${weekMinute}, elapsed ${elapsed} ms (validated tariffs cover every instant)`);
}

/**
 * The first instant after `b` at which the element, the flat occurrence or the cap window of a
 * step could differ from those of a step starting at `b` (capped at `end`): the next week-minute
 * where a restriction or window changes, the next elapsed-time breakpoint, rolling window or
 * event bound — or `b + 1` (one step) when a DST transition lies before that instant.
 */
export function sameAttributesUntil(c: Compiled, zone: string, entry: number, b: number, end: number): number {
  let until = end;
  const elapsed = b - entry;
  for (const p of c.durationPoints) {
    if (p > elapsed) {
      until = Math.min(until, entry + p);
      break;
    }
  }
  if (c.tariff.daily_cap?.window === "rolling_24h") until = Math.min(until, entry + (Math.floor(elapsed / DAY_MS) + 1) * DAY_MS);
  for (const ev of c.events) {
    if (ev.from > b) until = Math.min(until, ev.from);
    if (ev.to > b) until = Math.min(until, ev.to);
  }
  const off = offsetAt(zone, b);
  const local = b + off;
  const day = Math.floor(local / DAY_MS);
  const inWeek = local - (day - weekdayOfDayNumber(day)) * DAY_MS; // ms since local Monday 00:00
  let next = WEEK_MINUTES * MINUTE_MS + c.changeMinutes[0] * MINUTE_MS; // wraps to next week
  for (const m of c.changeMinutes) {
    if (m * MINUTE_MS > inWeek) {
      next = m * MINUTE_MS;
      break;
    }
  }
  until = Math.min(until, b + (next - inWeek));
  // Jump only when the whole run [b, until) has one UTC offset (no DST transition inside).
  return offsetAt(zone, until - 1) === off ? until : b + 1;
}
