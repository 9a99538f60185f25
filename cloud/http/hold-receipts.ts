/**
 * The receipts of a stay paid by a card held at entry (issue 16 item 4). The driver never opened
 * a pay link — the exit took the fee from the hold with no phone — so the pay link's success page
 * is not theirs to find: the hold's own page (`/hold/:site/:hold/return`, reached when the card
 * was authorised) lists the stay's receipts once the exit has captured it, and opens them at
 * `/hold/:site/:hold/receipts/:doc(.pdf)`. The hold id is the capability, as for the hold page
 * itself; a document of another stay is the same 404 as an unknown one.
 */
import type { Request, Response, Router } from "express";
import { ensurePdf, getDocument } from "../billing/documents";
import { receiptStateOf } from "../billing/receipt-queue";
import { documentPage } from "../billing/render-html";
import { getHold, type HoldRow } from "../db/holds";
import { listPayments, type Q } from "../db/index";
import { sendDocumentPdf } from "./documents";
import { wrap } from "./input";
import { esc, messagePage, pickLang, type Lang } from "./pages";

const T = {
  fr: { title: "Reçus de la sortie", open: "Voir le reçu", pdf: "PDF", preparing: "Votre reçu est en préparation. Cette page se met à jour d'elle-même." },
  en: { title: "Receipts for the exit", open: "View the receipt", pdf: "PDF", preparing: "Your receipt is being prepared. This page updates by itself." },
} as const;

/** The stay's receipts as a card for the hold page, and whether one is still being issued (the page then reloads). */
export async function holdReceiptsCard(q: Q, hold: HoldRow, lang: Lang): Promise<{ html: string; pending: boolean }> {
  if (!hold.exitSessionId) return { html: "", pending: false };
  const t = T[lang];
  const paid = (await listPayments(q, hold.exitSessionId)).filter((p) => p.state === "paid");
  const rows: string[] = [];
  let pending = false;
  for (const p of paid) {
    const { receipt: r, pending: owed } = await receiptStateOf(q, p.paymentId);
    pending ||= owed;
    if (!r) continue;
    const href = `/hold/${encodeURIComponent(hold.siteId)}/${encodeURIComponent(hold.holdId)}/receipts/${r.documentId}`;
    rows.push(`<li><a class="receipt-link" href="${esc(href)}?lang=${lang}">${esc(t.open)} ${esc(r.number)}</a> — <a href="${esc(href)}.pdf" download>${esc(t.pdf)}</a></li>`);
  }
  if (rows.length === 0 && !pending) return { html: "", pending: false };
  return { html: `<div class="card" id="hold-receipts"><h1>${esc(t.title)}</h1><ul>${rows.join("")}</ul>${pending ? `<p class="muted" id="receipt-pending">${esc(t.preparing)}</p>` : ""}</div>`, pending };
}

async function holdReceipt(q: Q, req: Request, res: Response): Promise<void> {
  const lang = pickLang(req.query.lang, req.headers["accept-language"]);
  const m = /^(doc_[a-f0-9]{32})(\.pdf)?$/.exec(String(req.params.documentId));
  const holdId = String(req.params.holdId);
  const hold = m && /^hold_[A-Za-z0-9_-]{16,64}$/.test(holdId) ? await getHold(q, holdId).catch(() => undefined) : undefined;
  const doc = m && hold?.exitSessionId && hold.siteId === String(req.params.siteId) ? await getDocument(q, m[1]) : undefined;
  if (!m || !hold || !doc || doc.kind !== "receipt" || doc.sessionId !== hold.exitSessionId) {
    res.status(404).type("html").send(messagePage(lang, "notFound"));
    return;
  }
  if (m[2]) return sendDocumentPdf(q, res, doc);
  const { sha256 } = await ensurePdf(q, doc);
  res.setHeader("Cache-Control", "private, no-store");
  res.type("html").send(documentPage({ ...doc, pdfSha256: sha256 }, lang, `/hold/${encodeURIComponent(hold.siteId)}/${encodeURIComponent(hold.holdId)}/receipts/${doc.documentId}.pdf`));
}

export function registerHoldReceiptRoutes(router: Router, q: () => Q): void {
  router.get("/hold/:siteId/:holdId/receipts/:documentId", wrap((req, res) => holdReceipt(q(), req, res)));
}
