/** Currency facts the emulator needs: zero-decimal currencies, minimum charge amounts, display. */
import { paramError, StripeApiError } from "./errors";

const ZERO_DECIMAL = new Set(["bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv", "xaf", "xof", "xpf"]);

/** Stripe's minimum charge amounts (https://docs.stripe.com/currencies#minimum-and-maximum-charge-amounts), minor units. */
const MINIMUM: Readonly<Record<string, number>> = {
  usd: 50, eur: 50, gbp: 30, chf: 50, cad: 50, aud: 50, nzd: 50, sgd: 50, hkd: 400, jpy: 50,
  dkk: 250, nok: 300, sek: 300, pln: 200, czk: 1500, huf: 17500, ron: 200, bgn: 100, mxn: 1000, brl: 50, inr: 50,
};

/** The currencies this emulator accepts (Stripe accepts more; add here if SysPark needs one). */
export const SUPPORTED_CURRENCIES: ReadonlySet<string> = new Set([...Object.keys(MINIMUM), "krw", "clp"]);

const SYMBOL: Readonly<Record<string, string>> = { usd: "$", eur: "€", gbp: "£", jpy: "¥" };

export function isZeroDecimal(currency: string): boolean {
  return ZERO_DECIMAL.has(currency);
}

export function minimumAmount(currency: string): number {
  return MINIMUM[currency] ?? 50;
}

/** 1050, "eur" → "€10.50"; 500, "jpy" → "¥500"; 1050, "chf" → "CHF 10.50". */
export function formatAmount(amount: number, currency: string): string {
  const major = isZeroDecimal(currency) ? String(amount) : (amount / 100).toFixed(2);
  const symbol = SYMBOL[currency];
  return symbol ? `${symbol}${major}` : `${currency.toUpperCase()} ${major}`;
}

/** A currency this emulator accepts and an amount at least Stripe's minimum, or a Stripe-shaped 400. */
export function checkAmount(amount: number, currency: string): void {
  if (!SUPPORTED_CURRENCIES.has(currency)) {
    throw paramError("parameter_invalid_string", "currency", `Invalid currency: ${currency}. This Stripe TEST EMULATOR supports: ${[...SUPPORTED_CURRENCIES].join(", ")}.`);
  }
  const min = minimumAmount(currency);
  if (amount < min) {
    throw new StripeApiError(
      400,
      { type: "invalid_request_error", code: "amount_too_small", param: "amount", message: `Amount must be at least ${formatAmount(min, currency)} ${currency}`, doc_url: "https://docs.stripe.com/error-codes/amount-too-small" },
      true,
    );
  }
}

const pageFormats = new Map<string, Intl.NumberFormat>();

/**
 * For the emulator's pages (what Stripe.js and Checkout show): the amount in the page's locale,
 * 980 "eur" → "9,80 €" in French, "€9.80" in English. Formats the exact decimal string, no floats.
 */
export function formatLocalizedAmount(amount: number, currency: string, locale: "en" | "fr"): string {
  const key = `${locale}:${currency}`;
  let f = pageFormats.get(key);
  if (!f) {
    f = new Intl.NumberFormat(locale === "fr" ? "fr-FR" : "en-GB", { style: "currency", currency: currency.toUpperCase(), minimumFractionDigits: isZeroDecimal(currency) ? 0 : 2, maximumFractionDigits: isZeroDecimal(currency) ? 0 : 2 });
    pageFormats.set(key, f);
  }
  const digits = isZeroDecimal(currency) ? 0 : 2;
  const abs = String(Math.abs(amount)).padStart(digits + 1, "0");
  const decimal = digits === 0 ? abs : `${abs.slice(0, abs.length - digits)}.${abs.slice(abs.length - digits)}`;
  return f.format(`${amount < 0 ? "-" : ""}${decimal}` as `${number}`);
}
