/**
 * A permit holder's invoices (issue 16): `GET /permit-invoices/:documentId?permit=…&t=…` (the
 * invoice's page, in the holder's language) and `/permit-invoices/:documentId.pdf?…`, authorised
 * by the permit's manage token — the same token as the permit's page, which lists them. A wrong
 * id, permit or token is the same 404 page, which reveals nothing. Operators read any document
 * through `/api/operator/documents/:id` (./documents.ts).
 */
import express, { type Request, type Response, type Router } from "express";
import { ensurePdf, getDocument } from "../billing/documents";
import { isInvoiceOfPermit } from "../billing/permit-invoices";
import { documentPage } from "../billing/render-html";
import { getPermit } from "../db/index";
import type { AppDeps } from "./deps";
import { wrap } from "./input";
import { messagePage, pickLang } from "./pages";

type Deps = Pick<AppDeps, "db">;

/** The holder's link to an invoice (page or PDF) of their permit. */
export function permitInvoiceHref(documentId: string, permit: { permitId: string; manageToken: string }, lang: string, pdf = false): string {
  return `/permit-invoices/${documentId}${pdf ? ".pdf" : ""}?permit=${encodeURIComponent(permit.permitId)}&t=${encodeURIComponent(permit.manageToken)}&lang=${lang}`;
}

async function holderInvoice(d: Deps, req: Request, res: Response): Promise<void> {
  const lang = pickLang(req.query.lang, req.headers["accept-language"]);
  const m = /^(doc_[a-f0-9]{32})(\.pdf)?$/.exec(String(req.params.documentId));
  const permitId = typeof req.query.permit === "string" && /^pmt_[A-Za-z0-9]{8,40}$/.test(req.query.permit) ? req.query.permit : undefined;
  const token = typeof req.query.t === "string" ? req.query.t : "";
  const permit = m && permitId && token ? await getPermit(d.db.sql, permitId).catch(() => undefined) : undefined;
  const ok = m && permit && permit.manageToken === token && (await isInvoiceOfPermit(d.db.sql, permit.permitId, m[1]));
  const doc = ok && m ? await getDocument(d.db.sql, m[1]) : undefined;
  if (!m || !permit || !doc) {
    res.status(404).type("html").send(messagePage(lang, "notFound"));
    return;
  }
  const { pdf, sha256 } = await ensurePdf(d.db.sql, doc);
  res.setHeader("Cache-Control", "private, no-store");
  if (m[2]) {
    res.setHeader("Content-Type", "application/pdf");
    res.setHeader("Content-Disposition", `attachment; filename="${doc.number}.pdf"`);
    res.setHeader("X-Content-SHA256", sha256);
    res.send(pdf);
    return;
  }
  res.type("html").send(documentPage({ ...doc, pdfSha256: sha256 }, lang, permitInvoiceHref(doc.documentId, permit, lang, true)));
}

export function permitInvoicesRouter(d: Deps): Router {
  const router = express.Router();
  router.get("/permit-invoices/:documentId", wrap((req, res) => holderInvoice(d, req, res)));
  return router;
}
