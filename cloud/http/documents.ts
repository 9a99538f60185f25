/**
 * Billing documents over HTTP (issue 16): the driver's receipt from the success page,
 * `GET /receipts/:documentId` (HTML) and `GET /receipts/:documentId.pdf`, authorised by the pay
 * token of the document's session (`?t=`) — a wrong id or token is the same 404 page, which
 * reveals nothing; and the operators' `GET /api/operator/documents/:id` (JSON, with the PDF's
 * SHA-256), `/api/operator/documents/:id.pdf` and `/api/operator/documents/:id.html` (the page).
 */
import express, { type Request, type Response, type Router } from "express";
import { ensurePdf, getDocument, type DocumentRow } from "../billing/documents";
import { documentPage } from "../billing/render-html";
import { findSessionByPayToken, type Q } from "../db/index";
import { HttpError } from "../flows/errors";
import type { AppDeps } from "./deps";
import { wrap } from "./input";
import { messagePage, pickLang } from "./pages";

type DocDeps = Pick<AppDeps, "db" | "auth">;

/** "doc_….pdf" → { id, pdf: true }; "doc_….html" → { id, html: true }; anything else that is not a document id → undefined. */
function parseDocParam(raw: string): { id: string; pdf: boolean; html: boolean } | undefined {
  const m = /^(doc_[a-f0-9]{32})(\.pdf|\.html)?$/.exec(raw);
  return m ? { id: m[1], pdf: m[2] === ".pdf", html: m[2] === ".html" } : undefined;
}

/** The document's PDF as a download, with its SHA-256 (also used by the hold page's receipts). */
export async function sendDocumentPdf(q: Q, res: Response, doc: DocumentRow): Promise<void> {
  const { pdf, sha256 } = await ensurePdf(q, doc);
  res.setHeader("Content-Type", "application/pdf");
  res.setHeader("Content-Disposition", `attachment; filename="${doc.number}.pdf"`);
  res.setHeader("X-Content-SHA256", sha256);
  res.setHeader("Cache-Control", "private, no-store");
  res.send(pdf);
}

async function driverDocument(d: DocDeps, req: Request, res: Response): Promise<void> {
  const lang = pickLang(req.query.lang, req.headers["accept-language"]);
  const p = parseDocParam(String(req.params.documentId));
  const token = typeof req.query.t === "string" && /^[A-Za-z0-9_-]{10,128}$/.test(req.query.t) ? req.query.t : undefined;
  const doc = p && token ? await getDocument(d.db.sql, p.id) : undefined;
  const session = doc?.sessionId && token ? await findSessionByPayToken(d.db.sql, doc.sessionId, token) : undefined;
  if (!p || p.html || !doc || !session) {
    res.status(404).type("html").send(messagePage(lang, "notFound"));
    return;
  }
  if (p.pdf) {
    await sendDocumentPdf(d.db.sql, res, doc);
    return;
  }
  const { sha256 } = await ensurePdf(d.db.sql, doc);
  res.setHeader("Cache-Control", "private, no-store");
  res.type("html").send(documentPage({ ...doc, pdfSha256: sha256 }, lang, `/receipts/${doc.documentId}.pdf?t=${encodeURIComponent(token as string)}&lang=${lang}`));
}

function operatorView(doc: DocumentRow, sha256: string): Record<string, unknown> {
  return {
    document_id: doc.documentId,
    kind: doc.kind,
    number: doc.number,
    site_id: doc.siteId,
    issued_at: doc.issuedAt.toISOString(),
    session_id: doc.sessionId,
    payment_id: doc.paymentId,
    refund_id: doc.refundId,
    currency: doc.currency,
    total_ttc: doc.totalTtc,
    total_ht: doc.totalHt,
    total_vat: doc.totalVat,
    vat_rate_bp: doc.vatRateBp,
    pdf_sha256: sha256,
    pdf_url: `/api/operator/documents/${doc.documentId}.pdf`,
    content: doc.content,
  };
}

/** The operators' HTML view of any document (a refund's credit note from the refunds API), in their language. */
async function operatorPage(d: DocDeps, req: Request, res: Response, doc: DocumentRow): Promise<void> {
  const lang = pickLang(req.query.lang, req.headers["accept-language"]);
  const { sha256 } = await ensurePdf(d.db.sql, doc);
  res.setHeader("Cache-Control", "private, no-store");
  res.type("html").send(documentPage({ ...doc, pdfSha256: sha256 }, lang, `/api/operator/documents/${doc.documentId}.pdf`));
}

export function documentsRouter(d: DocDeps): Router {
  const router = express.Router();
  router.get("/receipts/:documentId", wrap((req, res) => driverDocument(d, req, res)));
  router.get(
    "/api/operator/documents/:documentId",
    d.auth.require(),
    wrap(async (req, res) => {
      const p = parseDocParam(String(req.params.documentId));
      const doc = p ? await getDocument(d.db.sql, p.id) : undefined;
      if (!p || !doc) throw new HttpError(404, "no such document (documentId: doc_ followed by 32 hex digits)");
      if (p.pdf) await sendDocumentPdf(d.db.sql, res, doc);
      else if (p.html) await operatorPage(d, req, res, doc);
      else res.json(operatorView(doc, (await ensurePdf(d.db.sql, doc)).sha256));
    }),
  );
  return router;
}
