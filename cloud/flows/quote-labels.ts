/**
 * The breakdown of a stored quote in the driver's language (issue 16 item 1). The quote is priced
 * once, in French, at the exit request; the SAME pricing call is made again in every other locale
 * there (same tariff, instants and discounts: the amounts cannot differ, only the words) and its
 * labels are stored with the quote, so a page in English shows English lines without ever
 * re-pricing from the page.
 */
import { priceStay, type Locale, type PriceResult, type PriceStayInput } from "../tariffs/index";

export const LOCALES: readonly Locale[] = ["fr", "en"];

/** The breakdown labels in every locale, line for line with `priced` (priced in one of them). */
export function labelsInEveryLocale(input: Omit<PriceStayInput, "locale">, priced: PriceResult, pricedIn: Locale): Record<Locale, string[]> {
  const out = {} as Record<Locale, string[]>;
  for (const locale of LOCALES) {
    const r = locale === pricedIn ? priced : priceStay({ ...input, locale });
    // Same inputs, same function: any difference but the words would be a pricing bug; then the
    // priced labels are kept rather than lines that do not add up to the amount.
    const same = r.amount === priced.amount && r.breakdown.length === priced.breakdown.length && r.breakdown.every((l, i) => l.amount === priced.breakdown[i].amount);
    out[locale] = (same ? r : priced).breakdown.map((l) => l.label);
  }
  return out;
}

interface QuoteLike {
  price?: { breakdown?: { label: string; amount: number }[] };
  labels?: Partial<Record<Locale, string[]>>;
}

/** The quote's lines with their labels in `lang` (quotes stored before the labels: as priced). */
export function localizedQuoteLines(stored: unknown, lang: Locale): { label: string; amount: number }[] {
  const q = stored as QuoteLike | null;
  const lines = q?.price?.breakdown ?? [];
  const labels = q?.labels?.[lang];
  const usable = Array.isArray(labels) && labels.length === lines.length;
  return lines.map((l, i) => ({ label: usable ? String(labels[i]) : l.label, amount: l.amount }));
}
