// The ONE pricing function: the quote shown to the driver and the amount charged both come
// from priceStay (ARCHITECTURE §4 step 3, issue 4 "Tariffs"). Pure: no I/O, no clock — the
// caller passes entry and exit instants. Semantics, step by step, in docs/tariffs.md.
import { MAX_STAY_DAYS, textOf } from "./analysis";
import { compile } from "./compile";
import { fmtLocal, fmtStep, T } from "./labels";
import { applyFlatRates, meterStay, type Item, type Stay } from "./meter";
import { formatMoney, percentOf } from "./money";
import type { Locale } from "./money";
import type { BreakdownLine, Instant, PriceResult, PriceStayInput } from "./price-types";
import type { Discount, Tariff } from "./schema";
import { DAY_MS, instantOfLocal, localMs } from "./tz";
import { PricingError } from "./validate";

// The step modules: ./compile.ts (the tariff made ready to meter), ./meter.ts (steps 3-4),
// ./labels.ts (the texts); the types are in ./price-types.ts, re-exported here as before.
export type { BreakdownKind, BreakdownLine, Instant, PriceResult, PriceStayInput } from "./price-types";

const MAX_STAY_MS = MAX_STAY_DAYS * DAY_MS;

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

function resolveDiscounts(t: Tariff, input: PriceStayInput): { code: string; d: Discount }[] {
  const out: { code: string; d: Discount }[] = [];
  const subscriber = input.subscriber ? (input.subscriberDiscount ?? t.discounts?.subscriber) : undefined;
  if (subscriber) out.push({ code: "subscriber", d: subscriber });
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
  const locale: Locale = input.locale ?? "en";
  const entry = toMs(input.entry, "entry");
  const exit = toMs(input.exit, "exit");
  if (exit < entry) throw new PricingError(`exit (${new Date(exit).toISOString()}) is before entry (${new Date(entry).toISOString()})`);
  if (exit - entry > MAX_STAY_MS) throw new PricingError(`stay of more than ${MAX_STAY_DAYS} days: price it manually`);

  const discounts = resolveDiscounts(t, input);
  const lines: BreakdownLine[] = [];
  const s: Stay = {
    c, zone: t.time_zone, locale, L: T[locale], money: (a: number) => formatMoney(a, t.currency, locale),
    entry, exit, pricedEnd: freeTime(discounts, entry, exit, t.time_zone, locale, lines),
  };
  const meterStart = gracePeriod(s, lines);
  const { items, occurrences } = meterStay(s, meterStart, stepwise);
  const merged = applyFlatRates(items, occurrences, s.L, locale);
  let amount = dailyCaps(s, merged, lines);
  amount = maxPerStay(s, amount, lines);
  amount = applyDiscounts(discounts, amount, locale, lines);
  amount = lostTicket(s, input, amount, lines);

  return {
    amount,
    currency: t.currency,
    tariff_id: t.id,
    tariff_version: t.version,
    entry: new Date(entry).toISOString(),
    exit: new Date(exit).toISOString(),
    duration_s: Math.floor((exit - entry) / 1000),
    priced_until: new Date(s.pricedEnd).toISOString(),
    breakdown: lines,
    human: humanLines(s, lines, amount),
  };
}

/** 1. Free-time validations: the stay is priced as if it had ended earlier. Returns that end. */
function freeTime(discounts: { d: Discount }[], entry: number, exit: number, zone: string, locale: Locale, lines: BreakdownLine[]): number {
  let freeMs = 0;
  for (const { d } of discounts) if (d.kind === "free_time") freeMs += d.duration * 1000;
  const pricedEnd = Math.max(entry, exit - freeMs);
  for (const { d } of discounts) {
    if (d.kind === "free_time") {
      lines.push({ kind: "discount", label: T[locale].freeTime(textOf(d.label, locale), fmtStep(d.duration, locale), fmtLocal(localMs(zone, pricedEnd), locale)), amount: 0 });
    }
  }
  return pricedEnd;
}

/** 2. Grace period: a stay within it is free; "deducted" mode meters only what follows it. Returns where the meter starts. */
function gracePeriod(s: Stay, lines: BreakdownLine[]): number {
  const { entry, pricedEnd, L, locale } = s;
  const duration = pricedEnd - entry;
  let meterStart = entry;
  const grace = s.c.tariff.grace_period;
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
  return meterStart;
}

/**
 * 5. Cap per 24 h window (not per stay): a window's charges never exceed the cap. A capped
 * window is one line, any other window its items' lines. Returns the subtotal.
 */
function dailyCaps(s: Stay, merged: Item[], lines: BreakdownLine[]): number {
  const { zone, entry, pricedEnd, L, locale, money } = s;
  const cap = s.c.tariff.daily_cap;
  const windows = new Map<number, Item[]>();
  for (const it of merged) {
    const w = windows.get(it.capKey);
    if (w) w.push(it);
    else windows.set(it.capKey, [it]);
  }
  let subtotal = 0;
  for (const [capKey, its] of windows) {
    const sum = its.reduce((acc, it) => acc + it.amount, 0);
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
      lines.push(itemLine(s, it));
    }
  }
  return subtotal;
}

/** The breakdown line of one metered item (a time line says how many steps, of what, at what price). */
function itemLine(s: Stay, it: Item): BreakdownLine {
  const line: BreakdownLine = { kind: it.kind, label: it.label, amount: it.amount, from: new Date(it.from).toISOString(), to: new Date(it.to).toISOString() };
  if (it.kind === "time" && it.el) {
    line.label = s.L.steps(textOf(it.el.el.label, s.locale), it.count ?? 0, fmtStep(it.el.stepS, s.locale), s.money(it.el.price));
    line.quantity = it.count;
    line.unit_amount = it.el.price;
    line.step_size = it.el.stepS;
  }
  return line;
}

/** 6. Maximum per stay. */
function maxPerStay(s: Stay, amount: number, lines: BreakdownLine[]): number {
  const max = s.c.tariff.max_per_stay;
  if (max !== undefined && amount > max) {
    lines.push({ kind: "max_per_stay", label: s.L.max(s.money(max)), amount: max - amount });
    return max;
  }
  return amount;
}

/** 7. Percentage then fixed discounts (subscriber first, then validations in the order given). */
function applyDiscounts(discounts: { d: Discount }[], amount: number, locale: Locale, lines: BreakdownLine[]): number {
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
  return amount;
}

/**
 * 8. Lost ticket (after discounts: a validation does not waive the fee). A tariff without
 * lost_ticket prices a lost-ticket stay like any other (entry known from the plate).
 */
function lostTicket(s: Stay, input: PriceStayInput, amount: number, lines: BreakdownLine[]): number {
  const lost = s.c.tariff.lost_ticket;
  if (!input.lostTicket || !lost) return amount;
  const { L, money } = s;
  const fee = lost.price;
  const target = lost.mode === "add" ? amount + fee : lost.mode === "replace" ? fee : Math.max(amount, fee);
  const label = lost.mode === "add" ? L.lostAdd() : lost.mode === "replace" ? L.lostReplace(money(fee)) : L.lostAtLeast(money(fee));
  lines.push({ kind: "lost_ticket", label, amount: target - amount });
  return target;
}

/** The breakdown as sentences, and the total. */
function humanLines(s: Stay, lines: BreakdownLine[], amount: number): string[] {
  const { L, money } = s;
  const sep = s.locale === "fr" ? " : " : ": ";
  const human = lines.map((l) => (l.kind === "grace" || (l.amount === 0 && l.kind === "discount") ? l.label : `${l.label}${sep}${money(l.amount)}`));
  human.push(`${L.total}${sep}${amount === 0 ? `${money(0)} (${L.free})` : money(amount)}`);
  return human;
}
