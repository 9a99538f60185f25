/**
 * Gapless document numbers per site, kind and year ("R-2026-000042"). The counter row is
 * incremented by an UPDATE in the issuing transaction: the UPDATE takes the row's lock (as
 * SELECT … FOR UPDATE would) and holds it until commit, so concurrent issues queue one behind
 * the other, and a transaction that rolls back takes its increment with it — no gap, no
 * duplicate. A sequence would be faster but leaves gaps on rollback, which invoices may not have.
 */
import type { Tx } from "../db/index";

export const DOCUMENT_KINDS = ["receipt", "invoice", "credit_note"] as const;
export type DocumentKind = (typeof DOCUMENT_KINDS)[number];

const PREFIX: Record<DocumentKind, string> = { receipt: "R", invoice: "F", credit_note: "A" };

export function formatNumber(kind: DocumentKind, year: number, seq: number): string {
  return `${PREFIX[kind]}-${year}-${String(seq).padStart(6, "0")}`;
}

/** The calendar year of `at` on the site's clock (a receipt at 00:30 on 1 January Paris time is of the new year). */
export function yearIn(at: Date, timeZone: string): number {
  return Number(new Intl.DateTimeFormat("en", { timeZone, year: "numeric" }).format(at));
}

/** The next number of (site, kind, year), taken under the counter row's lock until commit. */
export async function nextNumber(tx: Tx, siteId: string, kind: DocumentKind, year: number): Promise<{ seq: number; number: string }> {
  await tx`INSERT INTO billing_counters (site_id, kind, year) VALUES (${siteId}, ${kind}, ${year}) ON CONFLICT DO NOTHING`;
  const [row] = await tx<{ lastNumber: number }[]>`
    UPDATE billing_counters SET last_number = last_number + 1
    WHERE site_id = ${siteId} AND kind = ${kind} AND year = ${year}
    RETURNING last_number`;
  return { seq: row.lastNumber, number: formatNumber(kind, year, row.lastNumber) };
}
