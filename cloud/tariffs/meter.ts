// Steps 3 and 4 of pricing (./price.ts, docs/tariffs.md): the meter, which turns the priced
// part of a stay into time lines, element flat fees and flat-rate occurrences, and the flat
// rates, which put one line in place of an occurrence's steps when it is fixed or caps them.
import { textOf } from "./analysis";
import { findElement, sameAttributesUntil, type CDaily, type CElement, type CEvent, type Compiled } from "./compile";
import { fmtLocal, fmtLocalDateTimeString, type Labels } from "./labels";
import type { Locale } from "./money";
import type { FlatRate } from "./schema";
import { DAY_MS, localParts, type LocalParts } from "./tz";

/** One stay being priced: what every step after the compiled tariff needs. */
export interface Stay {
  c: Compiled;
  zone: string;
  locale: Locale;
  L: Labels;
  money: (minor: number) => string;
  entry: number;
  exit: number;
  /** End of the priced stay: exit minus any free-time validation. */
  pricedEnd: number;
}

export interface Item {
  kind: "time" | "element_flat" | "flat_rate";
  label: string;
  amount: number;
  from: number;
  to: number;
  capKey: number;
  /** Flat-rate occurrence: -1 - index for an event window, index × 10⁶ + start day for a daily one. */
  flatKey: number | undefined;
  el?: CElement;
  count?: number;
}

interface Occurrence {
  key: number;
  rate: FlatRate;
  span: string;
  capKey: number;
  metered: number;
}

/**
 * 3. The meter: consecutive steps from `meterStart`; each started step is due at the price of
 * the element in force at its start (local wall time, real elapsed time since entry). Runs of
 * steps with the same element, occurrence and cap window are taken in one jump unless `stepwise`.
 */
export function meterStay(s: Stay, meterStart: number, stepwise: boolean): { items: Item[]; occurrences: Map<number, Occurrence> } {
  const { c, zone, entry, pricedEnd, L, locale } = s;
  const cap = c.tariff.daily_cap;
  const items: Item[] = [];
  const occurrences = new Map<number, Occurrence>();
  const flatElementSeen = new Set<number>();
  let cur: Item | undefined;
  for (let b = meterStart; b < pricedEnd;) {
    const lp = localParts(zone, b);
    const elapsed = b - entry;
    const e = findElement(c, lp.weekday * 1440 + lp.minuteOfDay, elapsed);
    let capKey = 0;
    if (cap) capKey = cap.window === "rolling_24h" ? Math.floor(elapsed / DAY_MS) : lp.dayNumber;
    const occ = flatOccurrence(c, occurrences, b, lp, capKey, locale);
    const key = occ?.key;
    if (occ) capKey = occ.capKey; // an occurrence belongs to the cap window where it was entered

    // Steps starting before `until` all have this element, occurrence and cap window.
    const until = stepwise ? b + 1 : sameAttributesUntil(c, zone, entry, b, pricedEnd);
    const n = Math.max(1, Math.ceil((until - b) / e.stepMs));
    const stepEnd = Math.min(b + n * e.stepMs, pricedEnd);
    if (e.flat !== undefined && !flatElementSeen.has(e.index)) {
      flatElementSeen.add(e.index);
      items.push({ kind: "element_flat", label: L.elementFlat(textOf(e.el.label, locale)), amount: e.flat, from: b, to: b, capKey, flatKey: key, el: e });
      if (occ) occ.metered += e.flat;
      cur = undefined;
    }
    if (cur && cur.el === e && cur.capKey === capKey && cur.flatKey === key) {
      cur.count = (cur.count ?? 0) + n;
      cur.amount += n * e.price;
      cur.to = stepEnd;
    } else {
      cur = { kind: "time", label: "", amount: n * e.price, from: b, to: stepEnd, capKey, flatKey: key, el: e, count: n };
      items.push(cur);
    }
    if (occ) occ.metered += n * e.price;
    b += n * e.stepMs;
  }
  return { items, occurrences };
}

/**
 * The flat-rate occurrence of a step starting at `b`: an event window first, else a daily
 * window (an overnight one belongs to the day it started). Created, in the step's cap window,
 * by its first step.
 */
function flatOccurrence(c: Compiled, occurrences: Map<number, Occurrence>, b: number, lp: LocalParts, capKey: number, locale: Locale): Occurrence | undefined {
  let key: number | undefined;
  let event: CEvent | undefined;
  let daily: CDaily | undefined;
  let startDay = 0;
  for (const ev of c.events) {
    if (b >= ev.from && b < ev.to) {
      event = ev;
      key = -1 - ev.index;
      break;
    }
  }
  if (!event) {
    for (const dl of c.daily) {
      if (lp.minuteOfDay >= dl.start && lp.minuteOfDay < Math.min(dl.end, 1440) && dl.days[lp.weekday]) startDay = lp.dayNumber;
      else if (dl.end > 1440 && lp.minuteOfDay < dl.end - 1440 && dl.days[(lp.weekday + 6) % 7]) startDay = lp.dayNumber - 1;
      else continue;
      daily = dl;
      key = dl.index * 1_000_000 + startDay;
      break;
    }
  }
  if (key === undefined) return undefined;
  let occ = occurrences.get(key);
  if (!occ) {
    let span: string;
    let rate: FlatRate;
    if (event) {
      const w = event.rate.window as Extract<FlatRate["window"], { kind: "dates" }>;
      span = `${fmtLocalDateTimeString(w.from, locale)} → ${fmtLocalDateTimeString(w.to, locale)}`;
      rate = event.rate;
    } else {
      const dl = daily as CDaily;
      span = `${fmtLocal(startDay * DAY_MS + dl.start * 60_000, locale)} → ${fmtLocal(startDay * DAY_MS + dl.end * 60_000, locale)}`;
      rate = dl.rate;
    }
    occ = { key, rate, span, capKey, metered: 0 };
    occurrences.set(key, occ);
  }
  return occ;
}

/** 4. Flat rates: a capped or fixed occurrence becomes one line in place of its steps. */
export function applyFlatRates(items: Item[], occurrences: Map<number, Occurrence>, L: Labels, locale: Locale): Item[] {
  const occLine = new Map<number, Item>();
  for (const occ of occurrences.values()) {
    const charge = occ.rate.mode === "fixed" ? occ.rate.price : Math.min(occ.rate.price, occ.metered);
    if (occ.rate.mode === "fixed" || charge < occ.metered) {
      const mine = items.filter((it) => it.flatKey === occ.key);
      occLine.set(occ.key, {
        kind: "flat_rate", label: L.flat(textOf(occ.rate.label, locale), occ.span), amount: charge,
        from: mine[0].from, to: mine[mine.length - 1].to, capKey: occ.capKey, flatKey: occ.key,
      });
    }
  }
  const merged: Item[] = [];
  const placed = new Set<number>();
  for (const it of items) {
    const repl = it.flatKey !== undefined ? occLine.get(it.flatKey) : undefined;
    if (!repl) merged.push(it);
    else if (!placed.has(repl.flatKey as number)) {
      placed.add(repl.flatKey as number);
      merged.push(repl);
    }
  }
  return merged;
}
