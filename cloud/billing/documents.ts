/**
 * The billing documents repository (issue 16): insert once, read. There is no update path —
 * a document is immutable once issued, and the database refuses UPDATE / DELETE / TRUNCATE on
 * billing_documents and billing_document_pdfs by trigger (migration 6) should anything try.
 *
 * The PDF: rendering is deterministic (./render-pdf.ts: the same frozen content always gives the
 * same bytes), so WHEN the bytes are rendered does not change them. Invoices and credit notes
 * store them in their issuing transaction. Receipts are issued in batches by the receipt worker
 * (./receipt-worker.ts), where rendering (~10–20 ms of CPU each) under the site's counter lock
 * would hold up the batch: their number and content are frozen there, and their bytes are
 * rendered and stored once at the first reading (success page, receipt link, operator API) —
 * insert-once, a concurrent reader gets the same stored row.
 */
import { createHash, randomUUID } from "node:crypto";
import type { Json, Q, Tx } from "../db/index";
import type { DocumentContent } from "./content";
import { NUMBER_DIGITS, NUMBER_PREFIX, yearIn, type DocumentKind } from "./numbering";
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
  /** SHA-256 of the stored PDF; null until a receipt's PDF is first read (ensurePdf). */
  pdfSha256: string | null;
}

/** Every column but the PDF bytes (read them with ensurePdf). */
const SELECT_DOC = `SELECT d.document_id, d.site_id, d.kind, d.year, d.seq, d.number, d.issued_at, d.session_id, d.payment_id, d.refund_id,
  d.currency, d.total_ttc, d.total_ht, d.total_vat, d.vat_rate_bp, d.content, p.pdf_sha256
  FROM billing_documents d LEFT JOIN billing_document_pdfs p ON p.document_id = d.document_id`;

export const sha256Hex = (b: Uint8Array): string => createHash("sha256").update(b).digest("hex");

export interface NewDocument {
  siteId: string;
  timeZone: string;
  kind: DocumentKind;
  issuedAt: Date;
  links: { sessionId?: string; paymentId?: string; refundId?: string };
  /** The content without its number and issue date (filled in here, under the counter's lock). */
  content: Omit<DocumentContent, "number" | "issued_at" | "kind">;
  /** "now": render and store the PDF in this transaction; "first_read": see the module comment. */
  pdf: "now" | "first_read";
}

async function storePdf(q: Q, documentId: string, content: DocumentContent): Promise<{ pdf: Buffer; sha256: string }> {
  const pdf = await renderPdf(content);
  const sha256 = sha256Hex(pdf);
  await q`INSERT INTO billing_document_pdfs (document_id, pdf, pdf_sha256) VALUES (${documentId}, ${pdf}, ${sha256}) ON CONFLICT (document_id) DO NOTHING`;
  return { pdf, sha256 };
}

/**
 * Issues a document in the caller's transaction (insertDocuments with one document).
 */
export async function insertDocument(tx: Tx, d: NewDocument): Promise<DocumentRow> {
  const [row] = await insertDocuments(tx, [d]);
  return row;
}

/** The documents' frozen fields, for jsonb_to_recordset (one statement whatever their number). */
interface PendingDocument {
  ord: number;
  document_id: string;
  issued_at: string;
  session_id: string | null;
  payment_id: string | null;
  refund_id: string | null;
  currency: string;
  total_ttc: number;
  total_ht: number;
  total_vat: number;
  vat_rate_bp: number;
  content: Json;
}

/**
 * Issues documents in the caller's transaction, in order, with ONE statement per (site, kind,
 * year): the counter row is raised by the group's size (its row lock is held until commit:
 * concurrent issues queue, a rollback takes the increment with it — no gap, no duplicate), and
 * the group's documents are inserted with their consecutive numbers and frozen content in the
 * same statement. One round trip under the lock for a whole receipt worker's batch, because every
 * issue for a site (a batch, a refund, a permit period) queues on that row: call it as late as
 * possible in the transaction. The PDF is stored now or at first reading (module comment).
 */
export async function insertDocuments(tx: Tx, docs: readonly NewDocument[]): Promise<DocumentRow[]> {
  const groups = new Map<string, { siteId: string; kind: DocumentKind; year: number; items: { at: number; pending: PendingDocument }[] }>();
  docs.forEach((d, at) => {
    // Whole seconds: the PDF's info dates have second precision, the content must match them.
    const issuedAt = new Date(Math.floor(d.issuedAt.getTime() / 1000) * 1000);
    const year = yearIn(issuedAt, d.timeZone);
    const key = JSON.stringify([d.siteId, d.kind, year]);
    const group = groups.get(key) ?? { siteId: d.siteId, kind: d.kind, year, items: [] };
    groups.set(key, group);
    const content = { ...d.content, kind: d.kind, issued_at: issuedAt.toISOString() };
    group.items.push({
      at,
      pending: {
        ord: group.items.length + 1,
        document_id: `doc_${randomUUID().replace(/-/g, "")}`,
        issued_at: content.issued_at,
        session_id: d.links.sessionId ?? null,
        payment_id: d.links.paymentId ?? null,
        refund_id: d.links.refundId ?? null,
        currency: content.currency,
        total_ttc: content.totals.ttc,
        total_ht: content.totals.ht,
        total_vat: content.totals.vat,
        vat_rate_bp: content.vat_rate_bp,
        content: content as unknown as Json,
      },
    });
  });
  const out: DocumentRow[] = new Array<DocumentRow>(docs.length);
  for (const g of groups.values()) {
    const k = g.items.length;
    const prefix = `${NUMBER_PREFIX[g.kind]}-${g.year}-`;
    const rows = await tx<Omit<DocumentRow, "pdfSha256">[]>`
      WITH n AS (
        INSERT INTO billing_counters AS c (site_id, kind, year, last_number) VALUES (${g.siteId}, ${g.kind}, ${g.year}, ${k})
        ON CONFLICT (site_id, kind, year) DO UPDATE SET last_number = c.last_number + ${k}
        RETURNING last_number - ${k} AS base
      ), d AS (
        SELECT x.*, n.base + x.ord AS seq, ${prefix}::text || lpad((n.base + x.ord)::text, greatest(${NUMBER_DIGITS}, length((n.base + x.ord)::text)), '0') AS number
        FROM n, jsonb_to_recordset(${tx.json(g.items.map((i) => i.pending) as unknown as Json)}::jsonb) AS x(ord int, document_id text, issued_at timestamptz, session_id text,
          payment_id text, refund_id text, currency text, total_ttc bigint, total_ht bigint, total_vat bigint, vat_rate_bp int, content jsonb)
      )
      INSERT INTO billing_documents (document_id, site_id, kind, year, seq, number, issued_at, session_id, payment_id, refund_id,
        currency, total_ttc, total_ht, total_vat, vat_rate_bp, content)
      SELECT d.document_id, ${g.siteId}, ${g.kind}, ${g.year}, d.seq, d.number, d.issued_at, d.session_id, d.payment_id, d.refund_id,
        d.currency, d.total_ttc, d.total_ht, d.total_vat, d.vat_rate_bp, d.content || jsonb_build_object('number', d.number)
      FROM d ORDER BY d.ord
      RETURNING document_id, site_id, kind, year, seq, number, issued_at, session_id, payment_id, refund_id, currency, total_ttc, total_ht, total_vat, vat_rate_bp, content`;
    const byId = new Map(rows.map((r) => [r.documentId, r]));
    for (const item of g.items) {
      const row = byId.get(item.pending.document_id);
      if (!row) throw new Error(`document ${item.pending.document_id} was not inserted`);
      const pdfSha256 = docs[item.at].pdf === "now" ? (await storePdf(tx, row.documentId, row.content)).sha256 : null;
      out[item.at] = { ...row, pdfSha256 };
    }
  }
  return out;
}

export async function getDocument(q: Q, documentId: string): Promise<DocumentRow | undefined> {
  if (!/^doc_[a-f0-9]{32}$/.test(documentId)) return undefined;
  const [row] = await q<DocumentRow[]>`${q.unsafe(SELECT_DOC)} WHERE d.document_id = ${documentId}`;
  return row;
}

/** The document's stored PDF, rendered and stored first if it never was (a receipt's first reading). */
export async function ensurePdf(q: Q, doc: DocumentRow): Promise<{ pdf: Buffer; sha256: string }> {
  const read = async () => (await q<{ pdf: Buffer; pdfSha256: string }[]>`SELECT pdf, pdf_sha256 FROM billing_document_pdfs WHERE document_id = ${doc.documentId}`)[0];
  let row = await read();
  if (!row) {
    await storePdf(q, doc.documentId, doc.content);
    row = await read(); // a concurrent first reading may have stored first: the stored row is the one
  }
  return { pdf: Buffer.from(row.pdf), sha256: row.pdfSha256 };
}

export async function findReceiptOfPayment(q: Q, paymentId: string): Promise<DocumentRow | undefined> {
  const [row] = await q<DocumentRow[]>`${q.unsafe(SELECT_DOC)} WHERE d.kind = 'receipt' AND d.payment_id = ${paymentId}`;
  return row;
}

/** The receipts of these payments (those that have one), by payment, in one round trip. */
export async function findReceiptsOfPayments(q: Q, paymentIds: readonly string[]): Promise<Map<string, DocumentRow>> {
  if (paymentIds.length === 0) return new Map();
  const rows = await q<DocumentRow[]>`${q.unsafe(SELECT_DOC)} WHERE d.kind = 'receipt' AND d.payment_id IN ${q(paymentIds as string[])}`;
  return new Map(rows.map((r) => [r.paymentId as string, r]));
}

export async function findCreditNoteOfRefund(q: Q, refundId: string): Promise<DocumentRow | undefined> {
  const [row] = await q<DocumentRow[]>`${q.unsafe(SELECT_DOC)} WHERE d.kind = 'credit_note' AND d.refund_id = ${refundId}`;
  return row;
}

/** The credit notes of a session's refunds, oldest first (the operators' refunds API links them). */
export async function listCreditNotesOfSession(q: Q, sessionId: string): Promise<DocumentRow[]> {
  return [...(await q<DocumentRow[]>`${q.unsafe(SELECT_DOC)} WHERE d.kind = 'credit_note' AND d.session_id = ${sessionId} ORDER BY d.issued_at, d.seq`)];
}

/** What the success page needs of a payment's receipt. */
export async function receiptOfPayment(q: Q, paymentId: string): Promise<{ documentId: string; number: string; card: { brand: string; last4: string } | null } | undefined> {
  const r = await findReceiptOfPayment(q, paymentId);
  return r ? { documentId: r.documentId, number: r.number, card: r.content.payment?.card ?? null } : undefined;
}

export async function listDocumentsOfSite(q: Q, siteId: string, kind: DocumentKind, year: number): Promise<DocumentRow[]> {
  return [...(await q<DocumentRow[]>`${q.unsafe(SELECT_DOC)} WHERE d.site_id = ${siteId} AND d.kind = ${kind} AND d.year = ${year} ORDER BY d.seq`)];
}
