/**
 * The billing documents repository (issue 16): insert once, read. There is no update path —
 * a document is immutable once issued, and the database refuses UPDATE / DELETE / TRUNCATE on
 * billing_documents by trigger (migration 6) should anything try.
 */
import { createHash, randomUUID } from "node:crypto";
import type { Json, Q, Tx } from "../db/index";
import type { DocumentContent } from "./content";
import { nextNumber, yearIn, type DocumentKind } from "./numbering";
import { renderPdf } from "./render-pdf";

export interface DocumentRow {
  documentId: string;
  siteId: string;
  kind: DocumentKind;
  year: number;
  seq: number;
  number: string;
  issuedAt: Date;
  sessionId: string | null;
  paymentId: string | null;
  refundId: string | null;
  currency: string;
  totalTtc: number;
  totalHt: number;
  totalVat: number;
  vatRateBp: number;
  content: DocumentContent;
  pdfSha256: string;
}

/** Every column but the PDF bytes (read them with documentPdf). */
const COLUMNS = "document_id, site_id, kind, year, seq, number, issued_at, session_id, payment_id, refund_id, currency, total_ttc, total_ht, total_vat, vat_rate_bp, content, pdf_sha256";

export const sha256Hex = (b: Uint8Array): string => createHash("sha256").update(b).digest("hex");

export interface NewDocument {
  siteId: string;
  timeZone: string;
  kind: DocumentKind;
  issuedAt: Date;
  links: { sessionId?: string; paymentId?: string; refundId?: string };
  /** The content without its number and issue date (filled in here, under the counter's lock). */
  content: Omit<DocumentContent, "number" | "issued_at" | "kind">;
}

/**
 * Issues a document in the caller's transaction: takes the next gapless number, freezes the
 * content, renders the PDF and stores it with its SHA-256. Rolled back with the transaction.
 */
export async function insertDocument(tx: Tx, d: NewDocument): Promise<DocumentRow> {
  // Whole seconds: the PDF's info dates have second precision, the content must match them.
  const issuedAt = new Date(Math.floor(d.issuedAt.getTime() / 1000) * 1000);
  const year = yearIn(issuedAt, d.timeZone);
  const { seq, number } = await nextNumber(tx, d.siteId, d.kind, year);
  const content: DocumentContent = { ...d.content, kind: d.kind, number, issued_at: issuedAt.toISOString() };
  const pdf = await renderPdf(content);
  const documentId = `doc_${randomUUID().replace(/-/g, "")}`;
  const [row] = await tx<DocumentRow[]>`
    INSERT INTO billing_documents (document_id, site_id, kind, year, seq, number, issued_at, session_id, payment_id, refund_id,
      currency, total_ttc, total_ht, total_vat, vat_rate_bp, content, pdf, pdf_sha256)
    VALUES (${documentId}, ${d.siteId}, ${d.kind}, ${year}, ${seq}, ${number}, ${issuedAt}, ${d.links.sessionId ?? null}, ${d.links.paymentId ?? null}, ${d.links.refundId ?? null},
      ${content.currency}, ${content.totals.ttc}, ${content.totals.ht}, ${content.totals.vat}, ${content.vat_rate_bp}, ${tx.json(content as unknown as Json)}, ${pdf}, ${sha256Hex(pdf)})
    RETURNING ${tx.unsafe(COLUMNS)}`;
  return row;
}

export async function getDocument(q: Q, documentId: string): Promise<DocumentRow | undefined> {
  if (!/^doc_[a-f0-9]{32}$/.test(documentId)) return undefined;
  const [row] = await q<DocumentRow[]>`SELECT ${q.unsafe(COLUMNS)} FROM billing_documents WHERE document_id = ${documentId}`;
  return row;
}

export async function documentPdf(q: Q, documentId: string): Promise<Buffer | undefined> {
  const [row] = await q<{ pdf: Buffer }[]>`SELECT pdf FROM billing_documents WHERE document_id = ${documentId}`;
  return row ? Buffer.from(row.pdf) : undefined;
}

export async function findReceiptOfPayment(q: Q, paymentId: string): Promise<DocumentRow | undefined> {
  const [row] = await q<DocumentRow[]>`SELECT ${q.unsafe(COLUMNS)} FROM billing_documents WHERE kind = 'receipt' AND payment_id = ${paymentId}`;
  return row;
}

export async function findCreditNoteOfRefund(q: Q, refundId: string): Promise<DocumentRow | undefined> {
  const [row] = await q<DocumentRow[]>`SELECT ${q.unsafe(COLUMNS)} FROM billing_documents WHERE kind = 'credit_note' AND refund_id = ${refundId}`;
  return row;
}

/** What the success page needs of a payment's receipt. */
export async function receiptOfPayment(q: Q, paymentId: string): Promise<{ documentId: string; number: string; card: { brand: string; last4: string } | null } | undefined> {
  const r = await findReceiptOfPayment(q, paymentId);
  return r ? { documentId: r.documentId, number: r.number, card: r.content.payment?.card ?? null } : undefined;
}

export async function listDocumentsOfSite(q: Q, siteId: string, kind: DocumentKind, year: number): Promise<DocumentRow[]> {
  return [...(await q<DocumentRow[]>`SELECT ${q.unsafe(COLUMNS)} FROM billing_documents WHERE site_id = ${siteId} AND kind = ${kind} AND year = ${year} ORDER BY seq`)];
}
