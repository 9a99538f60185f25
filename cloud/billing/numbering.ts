/**
 * Gapless document numbers per site, kind and year ("R-2026-000042"). The number is taken in the
 * issuing transaction by incrementing a counter row (billing_counters), which locks that row until
 * commit (as SELECT … FOR UPDATE would): concurrent issues queue one behind the other, and a
 * transaction that rolls back takes its increment with it — no gap, no duplicate. A sequence
 * would be faster but leaves gaps on rollback, which invoices may not have. The statement itself
 * is in ./documents.ts (insertDocument: increment and insert in one round trip).
 */

export const DOCUMENT_KINDS = ["receipt", "invoice", "credit_note"] as const;
export type DocumentKind = (typeof DOCUMENT_KINDS)[number];

export const NUMBER_PREFIX: Record<DocumentKind, string> = { receipt: "R", invoice: "F", credit_note: "A" };
export const NUMBER_DIGITS = 6;

/** The number the database formats for (kind, year, seq): "R-2026-000042". */
export function formatNumber(kind: DocumentKind, year: number, seq: number): string {
  return `${NUMBER_PREFIX[kind]}-${year}-${String(seq).padStart(NUMBER_DIGITS, "0")}`;
}

/** The calendar year of `at` on the site's clock (a receipt at 00:30 on 1 January Paris time is of the new year). */
export function yearIn(at: Date, timeZone: string): number {
  return Number(yearFormat(timeZone).format(at));
}

/** One formatter per zone: building an Intl.DateTimeFormat costs more than formatting with it, and every document asks. */
const yearFormats = new Map<string, Intl.DateTimeFormat>();
function yearFormat(timeZone: string): Intl.DateTimeFormat {
  let f = yearFormats.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat("en", { timeZone, year: "numeric" });
    yearFormats.set(timeZone, f);
  }
  return f;
}
