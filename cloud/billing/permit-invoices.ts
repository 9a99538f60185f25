/**
 * Permit invoices (issue 16): every paid permit period gets exactly one invoice. Stripe reports
 * each paid period with `invoice.paid` — the first one when the Checkout completes (billing_reason
 * subscription_create), then each renewal — so the provider's invoice id names the period: the
 * link row (billing_permit_invoices, migration 12) is keyed by it, and a replayed or redelivered
 * event issues nothing more. Called in the permit webhook's transaction, under the permit's row
 * lock (cloud/flows/permits.ts locks it first), which serialises every event of one permit: the
 * check-then-issue below cannot race with itself.
 */
import type Stripe from "stripe";
import { getPermitPlan, type PermitRow, type Q, type Tx } from "../db/index";
import { getDocument, type DocumentRow } from "./documents";
import { issueInvoice } from "./issue";

const day = (epochS: number, timeZone: string): string => new Intl.DateTimeFormat("en-CA", { timeZone, year: "numeric", month: "2-digit", day: "2-digit" }).format(new Date(epochS * 1000));

/** The invoice of the paid period `inv` of `permit` (existing one returned; none for a period that took no money). */
export async function invoicePaidPeriod(tx: Tx, permit: PermitRow, inv: Stripe.Invoice): Promise<DocumentRow | undefined> {
  if (!inv.id || !Number.isSafeInteger(inv.amount_paid) || inv.amount_paid <= 0) return undefined;
  const [known] = await tx<{ documentId: string }[]>`SELECT document_id FROM billing_permit_invoices WHERE period_key = ${inv.id}`;
  if (known) return getDocument(tx, known.documentId);
  const plan = await getPermitPlan(tx, permit.planId);
  const [site] = await tx<{ timeZone: string }[]>`SELECT time_zone FROM sites WHERE site_id = ${permit.siteId}`;
  const tz = site?.timeZone ?? "UTC";
  const period = inv.lines?.data?.[0]?.period ?? { start: inv.period_start, end: inv.period_end };
  // Stripe's period end is the first instant of the next period: the last day covered is the day before.
  const doc = await issueInvoice(tx, {
    siteId: permit.siteId,
    customer: { name: inv.customer_name ?? permit.holderEmail, email: permit.holderEmail, reference: permit.permitId },
    plan: { name: plan.name, periodFrom: day(period.start, tz), periodTo: day(Math.max(period.start, period.end - 1), tz) },
    amount: inv.amount_paid,
    currency: inv.currency,
    providerRef: inv.id,
  });
  await tx`INSERT INTO billing_permit_invoices (period_key, permit_id, document_id) VALUES (${inv.id}, ${permit.permitId}, ${doc.documentId})`;
  return doc;
}

/** A permit's invoices, oldest first (the holder's page and the operators). */
export async function invoicesOfPermit(q: Q, permitId: string): Promise<DocumentRow[]> {
  const rows = await q<{ documentId: string }[]>`SELECT b.document_id FROM billing_permit_invoices b JOIN billing_documents d ON d.document_id = b.document_id WHERE b.permit_id = ${permitId} ORDER BY d.issued_at, d.seq`;
  const docs = await Promise.all(rows.map((r) => getDocument(q, r.documentId)));
  return docs.filter((d): d is DocumentRow => d !== undefined);
}

/** Whether `documentId` is one of `permitId`'s invoices (the holder's links are authorised by the permit's token). */
export async function isInvoiceOfPermit(q: Q, permitId: string, documentId: string): Promise<boolean> {
  const rows = await q`SELECT 1 FROM billing_permit_invoices WHERE permit_id = ${permitId} AND document_id = ${documentId}`;
  return rows.length > 0;
}
