/**
 * VAT split of a tax-inclusive (TTC) amount, in integer minor units (issue 16): the price a
 * driver pays is TTC; the document shows HT and TVA. HT is rounded half up at the minor unit and
 * TVA is what is left, so HT + TVA = TTC exactly, whatever the rate.
 */

/** Rate in basis points: 2000 = 20 %, 550 = 5.5 %. */
export function vatSplit(ttc: number, rateBp: number): { ttc: number; ht: number; vat: number } {
  if (!Number.isSafeInteger(ttc)) throw new RangeError(`amount ${ttc} is not an integer number of minor units`);
  if (!Number.isInteger(rateBp) || rateBp < 0 || rateBp > 10_000) throw new RangeError(`VAT rate ${rateBp} bp must be an integer between 0 and 10000`);
  const sign = ttc < 0 ? -1 : 1;
  const abs = Math.abs(ttc);
  // round(abs × 10000 / (10000 + rate)) half up, in integers (abs ≤ 2^53 / 10^4 in practice).
  const den = 10_000 + rateBp;
  const ht = Math.floor((abs * 10_000 * 2 + den) / (2 * den));
  return { ttc, ht: sign * ht, vat: sign * (abs - ht) };
}

/** 2000 → "20 %", 550 → "5,5 %" (fr) / "5.5%" (en). */
export function formatRate(rateBp: number, lang: "fr" | "en"): string {
  const pct = new Intl.NumberFormat(lang === "fr" ? "fr-FR" : "en-GB", { maximumFractionDigits: 2 }).format(rateBp / 100);
  return lang === "fr" ? `${pct} %` : `${pct}%`;
}
