/**
 * Issuing billing documents, each inside the caller's transaction (issue 16):
 * - issueReceipt: for every payment that took money, by the receipt worker (./receipt-worker.ts)
 *   after the payment's commit — the payment's transaction queues it (./receipt-queue.ts), so no
 *   paid payment is left without its receipt and no receipt outlives a payment that rolled back;
 * - issueCreditNote: for a refund (flows/refund-effects.ts onRefundSucceeded, when it succeeds);
 * - issueInvoice: for a permit period (./permit-invoices.ts, on invoice.paid).
 * Receipts and credit notes are idempotent (one per payment / refund: a replayed webhook gets the
 * existing document back). VAT is the site's rate at issue; the operator's legal details come
 * from the environment (./legal.ts) unless the caller passes them.
 */
import { getPayment, getSession, type Json, type PaymentRow, type Q, type SessionRow, type Tx } from "../db/index";
import { localizedQuoteLines } from "../flows/quote-labels";
import type { Bilingual, DocumentContent } from "./content";
import { findCreditNoteOfRefund, findReceiptOfPayment, findReceiptsOfPayments, insertDocument, insertDocuments, type DocumentRow, type NewDocument } from "./documents";
import { legalDetailsFromEnv, type LegalDetails } from "./legal";
import { siteLegalDetails } from "../db/site-admin";
import { vatSplit } from "./vat";
import { shownIdentity } from "./identity";

/**
 * What a receipt reads of the session's stored quote (flows/site-events' StoredQuote), declared
 * here so that billing does not depend on the site-events flow (which reaches the permits flow,
 * which issues permit invoices: a cycle).
 */
interface QuoteFacts {
  lane_id?: string;
  price?: { exit?: string; duration_s?: number };
}

export interface CardSummary {
  brand: string;
  last4: string;
}

interface SiteBilling {
  siteId: string;
  name: string;
  timeZone: string;
  vatRateBp: number;
  /** The site's legal details set in the console (sites.legal); a field left empty falls back to the environment's. */
  legal: Json;
}

async function siteBilling(q: Q, siteId: string): Promise<SiteBilling> {
  return (await sitesBilling(q, [siteId])).get(siteId) as SiteBilling;
}

/** The sites' billing details, in one round trip; a site that does not exist is an error. */
async function sitesBilling(q: Q, siteIds: readonly string[]): Promise<Map<string, SiteBilling>> {
  if (siteIds.length === 0) return new Map();
  const rows = await q<SiteBilling[]>`SELECT site_id, name, time_zone, billing_vat_rate_bp AS vat_rate_bp, legal FROM sites WHERE site_id IN ${q(siteIds as string[])}`;
  const byId = new Map(rows.map((r) => [r.siteId, r]));
  for (const id of siteIds) if (!byId.has(id)) throw new Error(`site ${id} not found`);
  return byId;
}

function common(site: SiteBilling, currency: string, ttc: number, legal: LegalDetails | undefined): Pick<DocumentContent, "format" | "issuer" | "site" | "currency" | "vat_rate_bp" | "totals"> {
  const { ht, vat } = vatSplit(ttc, site.vatRateBp);
  return {
    format: 1,
    issuer: legal ?? siteLegalDetails(site.legal, legalDetailsFromEnv()),
    site: { site_id: site.siteId, name: site.name, time_zone: site.timeZone },
    currency,
    vat_rate_bp: site.vatRateBp,
    totals: { ttc, ht, vat },
  };
}

/** The stay's priced lines in both languages, when they add up to what was paid; else one line. */
function stayLines(session: SessionRow, paid: number): { label: Bilingual; amount: number }[] {
  const fr = localizedQuoteLines(session.quoteBreakdown, "fr");
  const en = localizedQuoteLines(session.quoteBreakdown, "en");
  if (fr.length > 0 && fr.reduce((s, l) => s + l.amount, 0) === paid) return fr.map((l, i) => ({ label: { fr: l.label, en: en[i]?.label ?? l.label }, amount: l.amount }));
  return [{ label: { fr: "Stationnement", en: "Parking" }, amount: paid }];
}

export interface ReceiptInput {
  payment: PaymentRow;
  session: SessionRow;
  card: CardSummary | null;
  legal?: LegalDetails;
  at?: Date;
}

/** The receipt of a paid payment (existing one returned: a replay issues nothing). */
export async function issueReceipt(tx: Tx, input: ReceiptInput): Promise<DocumentRow> {
  const [receipt] = await issueReceipts(tx, [input]);
  return receipt;
}

/**
 * The receipts of paid payments, in order (the receipt worker's batch): a payment that already has
 * its receipt gets it back, the others are numbered and inserted together — a constant number of
 * round trips for the batch (receipts already issued, the sites, then one insert per site), not
 * four per receipt.
 */
export async function issueReceipts(tx: Tx, inputs: readonly ReceiptInput[]): Promise<DocumentRow[]> {
  const existing = await findReceiptsOfPayments(tx, inputs.map((i) => i.payment.paymentId));
  const owed = inputs.filter((i) => !existing.has(i.payment.paymentId));
  const sites = await sitesBilling(tx, [...new Set(owed.map((i) => i.session.siteId))]);
  const issued = await insertDocuments(tx, owed.map((i) => receiptDocument(i, sites.get(i.session.siteId) as SiteBilling)));
  const byPayment = new Map(owed.map((i, n) => [i.payment.paymentId, issued[n]]));
  return inputs.map((i) => existing.get(i.payment.paymentId) ?? (byPayment.get(i.payment.paymentId) as DocumentRow));
}

function receiptDocument(input: ReceiptInput, site: SiteBilling): NewDocument {
  const { payment: p, session: s } = input;
  const quote = s.quoteBreakdown as unknown as QuoteFacts | null;
  return {
    siteId: s.siteId,
    timeZone: site.timeZone,
    kind: "receipt",
    issuedAt: input.at ?? new Date(),
    pdf: "first_read", // issued in the receipt worker's batches: see ./documents.ts
    links: { sessionId: s.sessionId, paymentId: p.paymentId },
    content: {
      ...common(site, p.currency, p.amount, input.legal),
      lines: stayLines(s, p.amount),
      payment: { payment_id: p.paymentId, provider: p.provider, provider_ref: p.providerRef, validated_at: p.validatedTs?.toISOString() ?? null, card: input.card },
      stay: {
        session_id: s.sessionId,
        identity: shownIdentity(s.identityMethod, s.identityValue),
        lane: quote?.lane_id ?? s.exitLaneId ?? "",
        entry: s.entryTs.toISOString(),
        exit: quote?.price?.exit ?? s.exitTs?.toISOString() ?? null,
        duration_s: quote?.price?.duration_s ?? 0,
      },
    },
  };
}

export interface CreditNoteInput {
  refundId: string;
  paymentId: string;
  /** Minor units refunded (positive), in the payment's currency. */
  amount: number;
  currency: string;
  reason: string;
  legal?: LegalDetails;
  at?: Date;
}

/** The credit note of a refund (one per refund; the receipt it credits is named on it). */
export async function issueCreditNote(tx: Tx, input: CreditNoteInput): Promise<DocumentRow> {
  if (!Number.isSafeInteger(input.amount) || input.amount <= 0) throw new RangeError("credit note amount must be a positive integer (minor units)");
  const existing = await findCreditNoteOfRefund(tx, input.refundId);
  if (existing) return existing;
  const payment = await getPayment(tx, input.paymentId);
  if (payment.currency !== input.currency.toUpperCase()) throw new RangeError(`credit note currency ${input.currency} differs from the payment's ${payment.currency}`);
  if (input.amount > payment.amount) throw new RangeError(`credit note of ${input.amount} exceeds the payment's ${payment.amount}`);
  const session = await getSession(tx, payment.sessionId);
  const site = await siteBilling(tx, session.siteId);
  const receipt = await findReceiptOfPayment(tx, payment.paymentId);
  return insertDocument(tx, {
    siteId: session.siteId,
    timeZone: site.timeZone,
    kind: "credit_note",
    issuedAt: input.at ?? new Date(),
    pdf: "now",
    links: { sessionId: session.sessionId, paymentId: payment.paymentId, refundId: input.refundId },
    content: {
      ...common(site, payment.currency, input.amount, input.legal),
      lines: [{ label: { fr: "Remboursement du stationnement", en: "Parking refund" }, amount: input.amount }],
      payment: { payment_id: payment.paymentId, provider: payment.provider, provider_ref: payment.providerRef, validated_at: payment.validatedTs?.toISOString() ?? null, card: receipt?.content.payment?.card ?? null },
      refund: { refund_id: input.refundId, reason: input.reason.slice(0, 500), ...(receipt ? { original_number: receipt.number } : {}) },
    },
  });
}

export interface InvoiceInput {
  siteId: string;
  customer: { name: string; email?: string; reference?: string };
  plan: { name: string; periodFrom: string; periodTo: string };
  /** Minor units, tax inclusive. */
  amount: number;
  currency: string;
  /** The provider's payment / invoice reference, printed on the invoice. */
  providerRef?: string;
  legal?: LegalDetails;
  at?: Date;
}

/** A permit-period invoice (subscription: customer, plan, period, amount). Not idempotent by itself: call it once per paid period. */
export async function issueInvoice(tx: Tx, input: InvoiceInput): Promise<DocumentRow> {
  if (!Number.isSafeInteger(input.amount) || input.amount <= 0) throw new RangeError("invoice amount must be a positive integer (minor units)");
  const site = await siteBilling(tx, input.siteId);
  const currency = input.currency.toUpperCase();
  return insertDocument(tx, {
    siteId: input.siteId,
    timeZone: site.timeZone,
    kind: "invoice",
    issuedAt: input.at ?? new Date(),
    pdf: "now",
    links: {},
    content: {
      ...common(site, currency, input.amount, input.legal),
      lines: [{ label: { fr: `Abonnement ${input.plan.name} du ${input.plan.periodFrom} au ${input.plan.periodTo}`, en: `Permit ${input.plan.name} from ${input.plan.periodFrom} to ${input.plan.periodTo}` }, amount: input.amount }],
      customer: input.customer,
      plan: { name: input.plan.name, period_from: input.plan.periodFrom, period_to: input.plan.periodTo },
      ...(input.providerRef ? { payment: { payment_id: "", provider: "stripe", provider_ref: input.providerRef, validated_at: null, card: null } } : {}),
    },
  });
}
