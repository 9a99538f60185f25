/**
 * Estimates before the stay (issue 16 item 2) and the windows a prepayment buys (item 3), all
 * from the ONE pricing function (priceStay): a quote is the price of a stay [from, until) under
 * the site's tariff in force at `from`. Nothing here computes a price of its own — the window a
 * sum of money buys is found by asking priceStay (the fee never decreases with a later exit,
 * docs/tariffs.md property 1, so a bisection finds it).
 */
import { getSite, tariffInForce, type Json, type Q, type SiteRow, type TariffRow } from "../db/index";
import { parseTariff, priceStay, type Locale, type PriceResult, type Tariff } from "../tariffs/index";
import { DAY_MS, instantOfLocal, localMs } from "../tariffs/tz";
import { HttpError } from "./errors";

/** The longest stay a quote or a prepayment covers: an estimate, not a lease (no 10-year quotes). */
export const MAX_QUOTE_MINUTES = 31 * 24 * 60;
/** How far ahead a quote may start (a trip planned next month, not next decade). */
export const MAX_QUOTE_AHEAD_MS = 366 * DAY_MS;
/** How far back a quote may start (a driver already parked asks from their entry). */
export const MAX_QUOTE_BEHIND_MS = DAY_MS;
/** The longest window a prepayment buys (a week: beyond, a permit is the product). */
export const MAX_PREPAY_MINUTES = 7 * 24 * 60;

/** Tariff versions are immutable: parse (validate) each once. */
const parsed = new Map<number, Tariff>();
export function tariffDocument(row: TariffRow): Tariff {
  let t = parsed.get(row.tariffId);
  if (!t) {
    t = parseTariff(row.document as Json);
    if (parsed.size > 200) parsed.clear();
    parsed.set(row.tariffId, t);
  }
  return t;
}

export interface SiteTariff {
  site: SiteRow;
  row: TariffRow;
  tariff: Tariff;
}

/** The site and its tariff in force at `at`; 404 for an unknown site, 409 when no tariff is in force yet. */
export async function siteTariff(q: Q, siteId: string, at: Date): Promise<SiteTariff> {
  if (!/^[a-z0-9][a-z0-9_-]{0,62}$/.test(siteId)) throw new HttpError(404, `unknown site ${JSON.stringify(siteId.slice(0, 64))}`, "not_found");
  const site = await getSite(q, siteId).catch(() => undefined);
  if (!site) throw new HttpError(404, `unknown site ${siteId}`, "not_found");
  const row = await tariffInForce(q, siteId, at);
  if (!row) throw new HttpError(409, `site ${siteId} has no tariff in force at ${at.toISOString()}`, "no_tariff");
  return { site, row, tariff: tariffDocument(row) };
}

/** Where a quote ends: after a number of minutes, at the next local HH:MM, or at an instant. */
export type QuoteEnd = { durationMin: number } | { untilLocal: string } | { until: Date };

/** The next instant after `from` at which the site's wall clock reads HH:MM (a time already past today means tomorrow). */
export function nextLocalTime(zone: string, from: Date, hhmm: string): Date {
  const local = localMs(zone, from.getTime());
  const day = Math.floor(local / DAY_MS);
  const wall = (Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5))) * 60_000;
  let at = instantOfLocal(zone, day * DAY_MS + wall);
  if (at <= from.getTime()) at = instantOfLocal(zone, (day + 1) * DAY_MS + wall);
  return new Date(at);
}

/** The instant a quote ends at; refuses (400, naming the field) an end before `from` or too far. */
export function quoteUntil(zone: string, from: Date, end: QuoteEnd, maxMinutes = MAX_QUOTE_MINUTES): Date {
  let until: Date;
  let field: string;
  if ("durationMin" in end) {
    until = new Date(from.getTime() + end.durationMin * 60_000);
    field = "duration_min";
  } else if ("untilLocal" in end) {
    until = nextLocalTime(zone, from, end.untilLocal);
    field = "until";
  } else {
    until = end.until;
    field = "until";
  }
  if (until.getTime() <= from.getTime()) throw new HttpError(400, `query.${field}: must be after the start (${from.toISOString()})`, "invalid_input");
  if (until.getTime() - from.getTime() > maxMinutes * 60_000) throw new HttpError(400, `query.${field}: at most ${maxMinutes} minutes (${maxMinutes / 1440} days) after the start`, "invalid_input");
  return until;
}

/** A quote's start: now, or a chosen instant not too far from now (400 naming `from` otherwise). */
export function quoteFrom(from: Date | undefined, now: Date): Date {
  if (!from) return now;
  if (from.getTime() < now.getTime() - MAX_QUOTE_BEHIND_MS) throw new HttpError(400, "query.from: at most 24 hours in the past", "invalid_input");
  if (from.getTime() > now.getTime() + MAX_QUOTE_AHEAD_MS) throw new HttpError(400, "query.from: at most 366 days ahead", "invalid_input");
  return from;
}

export interface Quote {
  st: SiteTariff;
  price: PriceResult;
  from: Date;
  until: Date;
}

/** The price of a stay [from, until) at the site, from the pricing function. */
export async function quoteStay(q: Q, siteId: string, input: { from?: Date; end: QuoteEnd; locale: Locale; now?: Date; maxMinutes?: number }): Promise<Quote> {
  const from = quoteFrom(input.from, input.now ?? new Date());
  const st = await siteTariff(q, siteId, from);
  const until = quoteUntil(st.site.timeZone, from, input.end, input.maxMinutes);
  const price = priceStay({ tariff: st.tariff, entry: from, exit: until, locale: input.locale });
  return { st, price, from, until };
}

/**
 * The longest window from `from` whose price is at most `amount` (whole minutes, at most
 * `maxMinutes`), and that price — what a prepaid sum buys. Undefined when even the first paying
 * minute costs more (or the tariff asks nothing of the whole window: nothing to prepay).
 */
export function windowForAmount(tariff: Tariff, from: Date, amount: number, locale: Locale, maxMinutes = MAX_PREPAY_MINUTES): PriceResult | undefined {
  const price = (min: number) => priceStay({ tariff, entry: from, exit: new Date(from.getTime() + min * 60_000), locale });
  let lo = 0;
  let hi = maxMinutes;
  if (price(hi).amount <= amount) lo = hi;
  else {
    // Invariant: price(lo) ≤ amount < price(hi).
    while (hi - lo > 1) {
      const mid = Math.floor((lo + hi) / 2);
      if (price(mid).amount <= amount) lo = mid;
      else hi = mid;
    }
  }
  if (lo === 0) return undefined;
  const best = price(lo);
  return best.amount > 0 ? best : undefined;
}

/** A quote's breakdown as the API shows it (labels in the asked language). */
export function breakdownJson(p: PriceResult): { kind: string; label: string; amount: number }[] {
  return p.breakdown.map((l) => ({ kind: l.kind, label: l.label, amount: l.amount }));
}
