// Money for the tariff engine: integer minor units of an ISO 4217 currency, never floats
// (docs/tariffs.md, "Money and rounding").

/** Upper bound on any single amount in a tariff document (minor units). */
export const MAX_AMOUNT = 100_000_000;

const digitsCache = new Map<string, number>();

let currencies: Set<string> | undefined;

/** Why `code` is not a usable ISO 4217 currency, or undefined. */
export function currencyProblem(code: string): string | undefined {
  if (!/^[A-Z]{3}$/.test(code)) return `"${code}" is not an ISO 4217 currency code (three capital letters, e.g. "EUR")`;
  currencies ??= new Set(Intl.supportedValuesOf("currency"));
  if (!currencies.has(code)) return `unknown ISO 4217 currency "${code}"`;
  return undefined;
}

/** Number of minor-unit digits of a currency (EUR 2, JPY 0, TND 3), from ICU's ISO 4217 data. */
export function minorDigits(currency: string): number {
  let d = digitsCache.get(currency);
  if (d === undefined) {
    d = new Intl.NumberFormat("en", { style: "currency", currency }).resolvedOptions().maximumFractionDigits ?? 2;
    digitsCache.set(currency, d);
  }
  return d;
}

/** 250 EUR-cents → "2.50" (exact decimal string, no float arithmetic). */
export function toDecimalString(amount: number, digits: number): string {
  if (!Number.isSafeInteger(amount)) throw new RangeError(`amount ${amount} is not an integer number of minor units`);
  const sign = amount < 0 ? "-" : "";
  const abs = String(Math.abs(amount)).padStart(digits + 1, "0");
  if (digits === 0) return sign + abs;
  return `${sign}${abs.slice(0, abs.length - digits)}.${abs.slice(abs.length - digits)}`;
}

export type Locale = "en" | "fr";

const moneyFormats = new Map<string, Intl.NumberFormat>();

/** 250, "EUR", "fr" → "2,50 €"; 250, "EUR", "en" → "€2.50". Formats an exact decimal string. */
export function formatMoney(amount: number, currency: string, locale: Locale = "en"): string {
  const key = `${locale}:${currency}`;
  let f = moneyFormats.get(key);
  if (!f) {
    f = new Intl.NumberFormat(locale === "fr" ? "fr-FR" : "en-GB", { style: "currency", currency });
    moneyFormats.set(key, f);
  }
  return f.format(toDecimalString(amount, minorDigits(currency)) as `${number}`);
}

/**
 * `percent` % of `amount`, rounded half up to the minor unit. Used only for percentage
 * discounts, so a half-unit tie goes to the driver. Exact integer arithmetic.
 */
export function percentOf(amount: number, percent: number): number {
  return Math.floor((amount * percent + 50) / 100);
}
