// The ONE pricing function: the quote shown to the driver and the amount charged both come
// from priceStay (ARCHITECTURE §4 step 3, issue 4 "Tariffs"). Pure: no I/O, no clock — the
// caller passes entry and exit instants. Semantics, step by step, in docs/tariffs.md.
import { MAX_STAY_DAYS, dailyFlatIntervals, describeSeconds, elementIntervals, elementMasks, eventInstants, minuteOfTime, textOf } from "./analysis";
import { formatMoney, percentOf } from "./money";
import type { Locale } from "./money";
import type { Discount, FlatRate, Tariff, TariffElement } from "./schema";
import { DAYS, DAY_MS, MINUTE_MS, WEEK_MINUTES, instantOfLocal, localMs, localParts, offsetAt, weekdayOfDayNumber } from "./tz";
import { PricingError, TariffValidationError, isValidated, validateTariff } from "./validate";

export type Instant = Date | string | number;

export interface PriceStayInput {
  tariff: Tariff;
  entry: Instant;
  /** The exit instant (for a quote: "now"). */
  exit: Instant;
  /** Validation codes presented (shop, cinema…), keys of tariff.discounts.validations. Duplicates count once. */
  discounts?: readonly string[];
  lostTicket?: boolean;
  /** The identity holds a subscription on this site: tariff.discounts.subscriber applies. */
  subscriber?: boolean;
  /** Language of labels and human lines (default "en"). */
  locale?: Locale;
}

export type BreakdownKind =
  | "grace" | "time" | "element_flat" | "flat_rate" | "daily_cap" | "max_per_stay" | "discount" | "lost_ticket";

export interface BreakdownLine {
  kind: BreakdownKind;
  label: string;
  /** Signed minor units: charges are ≥ 0, adjustments (cap, maximum, discount) may be < 0. Lines sum to the amount. */
  amount: number;
  /** time lines: number of started steps, their unit price and size. */
  quantity?: number;
  unit_amount?: number;
  step_size?: number;
  /** Real time covered (ISO instants, UTC) for time, flat-rate and cap lines. */
  from?: string;
  to?: string;
}

export interface PriceResult {
  amount: number;
  currency: string;
  tariff_id: string;
  tariff_version: number;
  entry: string;
  exit: string;
  /** Real elapsed seconds between entry and exit (floored). */
  duration_s: number;
  /** End of the priced stay: exit minus any free-time validation. */
  priced_until: string;
  breakdown: BreakdownLine[];
  human: string[];
}

const MAX_STAY_MS = MAX_STAY_DAYS * DAY_MS;

interface CElement {
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

interface CDaily {
  index: number;
  rate: FlatRate;
  start: number;
  /** Minutes after the start day's midnight; > 1440 when the window wraps. */
  end: number;
  days: boolean[];
}

interface CEvent {
  index: number;
  rate: FlatRate;
  from: number;
  to: number;
}

interface Compiled {
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

function compile(input: Tariff): Compiled {
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

const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/;

function toMs(v: Instant, what: string): number {
  let ms: number;
  if (v instanceof Date) ms = v.getTime();
  else if (typeof v === "number") ms = v;
  else if (typeof v === "string") {
    if (!ISO_INSTANT.test(v)) {
      throw new PricingError(`${what} "${v}" must be an ISO 8601 instant with an offset or Z (e.g. "2025-07-14T09:00:00+02:00"): a local time alone is ambiguous`);
    }
    ms = Date.parse(v);
  } else throw new PricingError(`${what} must be a Date, an ISO 8601 string or epoch milliseconds`);
  if (!Number.isFinite(ms)) throw new PricingError(`${what} is not a valid instant`);
  if (ms < 0 || ms > Date.UTC(2200, 0, 1)) throw new PricingError(`${what} must be between 1970 and 2200`);
  return Math.floor(ms);
}

// ---- labels --------------------------------------------------------------------------

const WEEKDAY_SHORT: Record<Locale, string[]> = {
  en: ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"],
  fr: ["lun.", "mar.", "mer.", "jeu.", "ven.", "sam.", "dim."],
};

function pad2(n: number): string {
  return String(n).padStart(2, "0");
}

/** "Sat 29/03" (+ " 20:00") from local milliseconds. */
function fmtLocal(local: number, locale: Locale, withTime = true): string {
  const d = new Date(local);
  const wd = WEEKDAY_SHORT[locale][(d.getUTCDay() + 6) % 7];
  const date = `${wd} ${pad2(d.getUTCDate())}/${pad2(d.getUTCMonth() + 1)}`;
  return withTime ? `${date} ${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}` : date;
}

function fmtLocalDateTimeString(s: string, locale: Locale): string {
  return fmtLocal(Date.UTC(Number(s.slice(0, 4)), Number(s.slice(5, 7)) - 1, Number(s.slice(8, 10)), Number(s.slice(11, 13)), Number(s.slice(14, 16))), locale);
}

function fmtStep(s: number, locale: Locale): string {
  const txt = describeSeconds(s);
  return locale === "fr" ? txt.replace(" d", " j") : txt;
}

const T = {
  en: {
    grace: (d: string) => `Grace period (${d}): free`,
    graceDeducted: (d: string) => `First ${d} free (grace period)`,
    steps: (label: string, n: number, step: string, unit: string) => `${label} — ${n} × ${step} at ${unit}`,
    elementFlat: (label: string) => `${label} — flat fee`,
    flat: (label: string, span: string) => `${label} (${span})`,
    cap: (span: string, metered: string) => `Daily cap applied — ${span} (metered ${metered})`,
    rolling: (start: string) => `24 h from ${start}`,
    max: (m: string) => `Maximum per stay applied (${m})`,
    freeTime: (label: string, d: string, until: string) => `${label}: ${d} free (stay priced until ${until})`,
    lostAtLeast: (fee: string) => `Lost ticket: minimum charge ${fee}`,
    lostAdd: () => "Lost-ticket fee",
    lostReplace: (fee: string) => `Lost ticket: flat fee ${fee} replaces the price of the stay`,
    total: "Total",
    free: "free",
  },
  fr: {
    grace: (d: string) => `Période de grâce (${d}) : gratuit`,
    graceDeducted: (d: string) => `${d} offertes (période de grâce)`,
    steps: (label: string, n: number, step: string, unit: string) => `${label} — ${n} × ${step} à ${unit}`,
    elementFlat: (label: string) => `${label} — forfait`,
    flat: (label: string, span: string) => `${label} (${span})`,
    cap: (span: string, metered: string) => `Plafond journalier appliqué — ${span} (au compteur ${metered})`,
    rolling: (start: string) => `24 h à partir du ${start}`,
    max: (m: string) => `Montant maximum par séjour appliqué (${m})`,
    freeTime: (label: string, d: string, until: string) => `${label} : ${d} offertes (séjour compté jusqu'au ${until})`,
    lostAtLeast: (fee: string) => `Ticket perdu : minimum ${fee}`,
    lostAdd: () => "Frais de ticket perdu",
    lostReplace: (fee: string) => `Ticket perdu : forfait ${fee} au lieu du prix du séjour`,
    total: "Total",
    free: "gratuit",
  },
} as const;

// ---- metering ------------------------------------------------------------------------

interface Item {
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

function findElement(c: Compiled, weekMinute: number, elapsed: number): CElement {
  const mask = c.masks[weekMinute];
  for (const e of c.elements) {
    if ((mask & e.bit) !== 0 && elapsed >= e.minMs && elapsed < e.maxMs) return e;
  }
  throw new Error(`unreachable: no element at week-minute ${weekMinute}, elapsed ${elapsed} ms (validated tariffs cover every instant)`);
}

function resolveDiscounts(t: Tariff, input: PriceStayInput): { code: string; d: Discount }[] {
  const out: { code: string; d: Discount }[] = [];
  if (input.subscriber && t.discounts?.subscriber) out.push({ code: "subscriber", d: t.discounts.subscriber });
  const known = t.discounts?.validations ?? {};
  for (const code of new Set(input.discounts ?? [])) {
    const d = Object.hasOwn(known, code) ? known[code] : undefined;
    if (!d) {
      const list = Object.keys(known);
      throw new PricingError(`unknown validation code "${code}" for tariff ${t.id} v${t.version}; known codes: ${list.length ? list.join(", ") : "(none)"}`);
    }
    out.push({ code, d });
  }
  return out;
}

/**
 * The first instant after `b` at which the element, the flat occurrence or the cap window of a
 * step could differ from those of a step starting at `b` (capped at `end`): the next week-minute
 * where a restriction or window changes, the next elapsed-time breakpoint, rolling window or
 * event bound — or `b + 1` (one step) when a DST transition lies before that instant.
 */
function sameAttributesUntil(c: Compiled, zone: string, entry: number, b: number, end: number): number {
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

/** Price a stay: the quote shown to the driver and the charge. Throws PricingError on bad arguments. */
export function priceStay(input: PriceStayInput): PriceResult {
  return priceStayImpl(input, false);
}

/**
 * Test hook: `stepwise` evaluates every step on its own instead of jumping over runs of
 * identical steps; both must give the same result.
 */
export function priceStayImpl(input: PriceStayInput, stepwise: boolean): PriceResult {
  const c = compile(input.tariff);
  const t = c.tariff;
  const zone = t.time_zone;
  const locale: Locale = input.locale ?? "en";
  const L = T[locale];
  const money = (a: number) => formatMoney(a, t.currency, locale);

  const entry = toMs(input.entry, "entry");
  const exit = toMs(input.exit, "exit");
  if (exit < entry) throw new PricingError(`exit (${new Date(exit).toISOString()}) is before entry (${new Date(entry).toISOString()})`);
  if (exit - entry > MAX_STAY_MS) throw new PricingError(`stay of more than ${MAX_STAY_DAYS} days: price it manually`);

  const discounts = resolveDiscounts(t, input);
  const lines: BreakdownLine[] = [];

  // 1. Free-time validations: the stay is priced as if it had ended earlier.
  let freeMs = 0;
  for (const { d } of discounts) if (d.kind === "free_time") freeMs += d.duration * 1000;
  const pricedEnd = Math.max(entry, exit - freeMs);
  for (const { d } of discounts) {
    if (d.kind === "free_time") {
      lines.push({ kind: "discount", label: L.freeTime(textOf(d.label, locale), fmtStep(d.duration, locale), fmtLocal(localMs(zone, pricedEnd), locale)), amount: 0 });
    }
  }

  // 2. Grace period.
  const duration = pricedEnd - entry;
  let meterStart = entry;
  const grace = t.grace_period;
  if (grace && grace.duration > 0) {
    const graceMs = grace.duration * 1000;
    if (duration <= graceMs) {
      lines.push({ kind: "grace", label: L.grace(fmtStep(grace.duration, locale)), amount: 0 });
      meterStart = pricedEnd; // nothing is metered
    } else if (grace.mode === "deducted") {
      lines.push({ kind: "grace", label: L.graceDeducted(fmtStep(grace.duration, locale)), amount: 0 });
      meterStart = entry + graceMs;
    }
  }

  // 3. The meter: consecutive steps; each started step is due at the price of the element in
  // force at its start (local wall time, real elapsed time since entry).
  const cap = t.daily_cap;
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

    // Flat-rate occurrence of this step: an event window first, else a daily window.
    let occ: Occurrence | undefined;
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
    if (key !== undefined) {
      occ = occurrences.get(key);
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
      capKey = occ.capKey; // an occurrence belongs to the cap window where it was entered
    }

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

  // 4. Flat rates: a capped or fixed occurrence becomes one line in place of its steps.
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

  // 5. Cap per 24 h window (not per stay): a window's charges never exceed the cap.
  const windows = new Map<number, Item[]>();
  for (const it of merged) {
    const w = windows.get(it.capKey);
    if (w) w.push(it);
    else windows.set(it.capKey, [it]);
  }
  let subtotal = 0;
  for (const [capKey, its] of windows) {
    const sum = its.reduce((s, it) => s + it.amount, 0);
    if (cap && sum > cap.price) {
      const start = cap.window === "rolling_24h" ? entry + capKey * DAY_MS : instantOfLocal(zone, capKey * DAY_MS);
      const end = cap.window === "rolling_24h" ? start + DAY_MS : instantOfLocal(zone, (capKey + 1) * DAY_MS);
      const spanTxt = cap.window === "rolling_24h" ? L.rolling(fmtLocal(localMs(zone, start), locale)) : fmtLocal(capKey * DAY_MS, locale, false);
      lines.push({
        kind: "daily_cap", label: L.cap(spanTxt, money(sum)), amount: cap.price,
        from: new Date(Math.max(start, its[0].from)).toISOString(), to: new Date(Math.min(end, pricedEnd)).toISOString(),
      });
      subtotal += cap.price;
      continue;
    }
    for (const it of its) {
      subtotal += it.amount;
      const line: BreakdownLine = { kind: it.kind, label: it.label, amount: it.amount, from: new Date(it.from).toISOString(), to: new Date(it.to).toISOString() };
      if (it.kind === "time" && it.el) {
        line.label = L.steps(textOf(it.el.el.label, locale), it.count ?? 0, fmtStep(it.el.stepS, locale), money(it.el.price));
        line.quantity = it.count;
        line.unit_amount = it.el.price;
        line.step_size = it.el.stepS;
      }
      lines.push(line);
    }
  }

  // 6. Maximum per stay.
  let amount = subtotal;
  if (t.max_per_stay !== undefined && amount > t.max_per_stay) {
    lines.push({ kind: "max_per_stay", label: L.max(money(t.max_per_stay)), amount: t.max_per_stay - amount });
    amount = t.max_per_stay;
  }

  // 7. Percentage then fixed discounts (subscriber first, then validations in the order given).
  for (const kind of ["percent", "fixed"] as const) {
    for (const { d } of discounts) {
      if (d.kind !== kind || amount === 0) continue;
      const off = d.kind === "percent" ? percentOf(amount, d.percent) : d.kind === "fixed" ? Math.min(amount, d.amount) : 0;
      if (off > 0) {
        lines.push({ kind: "discount", label: textOf(d.label, locale), amount: -off });
        amount -= off;
      }
    }
  }

  // 8. Lost ticket (after discounts: a validation does not waive the fee).
  if (input.lostTicket && t.lost_ticket) {
    const fee = t.lost_ticket.price;
    const target = t.lost_ticket.mode === "add" ? amount + fee : t.lost_ticket.mode === "replace" ? fee : Math.max(amount, fee);
    const label = t.lost_ticket.mode === "add" ? L.lostAdd() : t.lost_ticket.mode === "replace" ? L.lostReplace(money(fee)) : L.lostAtLeast(money(fee));
    lines.push({ kind: "lost_ticket", label, amount: target - amount });
    amount = target;
  } // a tariff without lost_ticket prices a lost-ticket stay like any other (entry known from the plate)

  const sep = locale === "fr" ? " : " : ": ";
  const human = lines.map((l) => (l.kind === "grace" || (l.amount === 0 && l.kind === "discount") ? l.label : `${l.label}${sep}${money(l.amount)}`));
  human.push(`${L.total}${sep}${amount === 0 ? `${money(0)} (${L.free})` : money(amount)}`);

  return {
    amount,
    currency: t.currency,
    tariff_id: t.id,
    tariff_version: t.version,
    entry: new Date(entry).toISOString(),
    exit: new Date(exit).toISOString(),
    duration_s: Math.floor((exit - entry) / 1000),
    priced_until: new Date(pricedEnd).toISOString(),
    breakdown: lines,
    human,
  };
}
