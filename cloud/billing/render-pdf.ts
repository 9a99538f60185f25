/**
 * A billing document as PDF, with pdfkit. Deterministic: the info dates are the issue date and
 * nothing else varies (no clock, no random id), so the same content always gives the same bytes
 * — the SHA-256 stored at issue can be checked by rendering again. The standard Helvetica font
 * (WinAnsi) covers French and "€"; the narrow no-break spaces Intl puts in French amounts are
 * printed as plain spaces.
 */
import PDFDocument from "pdfkit";
import { formatMoney } from "../tariffs/index";
import { KIND_TITLE, type DocumentContent } from "./content";
import { brandName } from "./identity";
import { formatRate } from "./vat";

// What the standard fonts' WinAnsi encoding has beyond Latin-1 (Windows-1252's 0x80–0x9F).
const CP1252_EXTRA = new Set("€‚ƒ„…†‡ˆ‰Š‹ŒŽ‘’“”•–—˜™š›œžŸ");
const REPLACEMENTS: Record<string, string> = { "→": "->", "←": "<-", "≥": ">=", "≤": "<=", "\u2212": "-" };

/** Text the standard fonts can print: no-break spaces as spaces, arrows spelled out, anything else outside WinAnsi as "?". */
export function pdfText(s: string): string {
  let out = "";
  for (const ch of s.replace(/[\u202f\u00a0\u2009]/g, " ")) {
    const code = ch.codePointAt(0) as number;
    if ((code >= 0x20 && code <= 0x7e) || (code >= 0xa0 && code <= 0xff) || CP1252_EXTRA.has(ch)) out += ch;
    else out += REPLACEMENTS[ch] ?? "?";
  }
  return out;
}

function dateIn(iso: string, timeZone: string): string {
  return new Intl.DateTimeFormat("fr-FR", { timeZone, dateStyle: "short", timeStyle: "short" }).format(new Date(iso));
}

export async function renderPdf(c: DocumentContent): Promise<Buffer> {
  const issued = new Date(c.issued_at);
  const title = `${KIND_TITLE[c.kind].fr} / ${KIND_TITLE[c.kind].en} ${c.number}`;
  const doc = new PDFDocument({ size: "A4", margin: 50, compress: true, info: { Title: title, Author: c.issuer.company, Subject: c.number, Producer: "SysPark", Creator: "SysPark", CreationDate: issued, ModDate: issued } });
  const chunks: Buffer[] = [];
  doc.on("data", (b: Buffer) => chunks.push(b));
  const done = new Promise<Buffer>((resolve, reject) => {
    doc.on("end", () => resolve(Buffer.concat(chunks)));
    doc.on("error", reject);
  });
  const money = (n: number) => pdfText(formatMoney(n, c.currency, "fr"));
  const line = (label: string, value: string, bold = false) => {
    const y = doc.y;
    doc.font(bold ? "Helvetica-Bold" : "Helvetica").fontSize(10).text(pdfText(label), 50, y, { width: 360 });
    const after = doc.y;
    doc.text(pdfText(value), 410, y, { width: 135, align: "right" });
    doc.y = Math.max(after, doc.y);
  };
  doc.font("Helvetica-Bold").fontSize(16).text(pdfText(title));
  doc.moveDown(0.5).font("Helvetica").fontSize(9);
  doc.text(pdfText(c.issuer.company)).text(pdfText(c.issuer.address)).text(pdfText(`SIRET ${c.issuer.siret} — TVA intracom. / VAT ${c.issuer.vatId}`));
  doc.moveDown(0.5).fontSize(10);
  doc.text(pdfText(`Date d'émission / Issued: ${dateIn(c.issued_at, c.site.time_zone)}`));
  doc.text(pdfText(`Parking / Car park: ${c.site.name} (${c.site.site_id})`));
  if (c.stay) doc.text(pdfText(`Véhicule / Vehicle: ${c.stay.identity} — voie / lane ${c.stay.lane} — entrée / entry ${dateIn(c.stay.entry, c.site.time_zone)}${c.stay.exit ? ` — sortie / exit ${dateIn(c.stay.exit, c.site.time_zone)}` : ""}`));
  if (c.customer) doc.text(pdfText(`Client / Customer: ${c.customer.name}${c.customer.email ? ` <${c.customer.email}>` : ""}${c.customer.reference ? ` (${c.customer.reference})` : ""}`));
  if (c.plan) doc.text(pdfText(`Abonnement / Plan: ${c.plan.name}, du / from ${c.plan.period_from} au / to ${c.plan.period_to}`));
  if (c.refund) doc.text(pdfText(`Remboursement / Refund ${c.refund.refund_id}${c.refund.original_number ? ` — sur / of ${c.refund.original_number}` : ""} — motif / reason: ${c.refund.reason}`));
  doc.moveDown();
  for (const l of c.lines) line(`${l.label.fr}${l.label.en !== l.label.fr ? ` / ${l.label.en}` : ""}`, money(l.amount));
  doc.moveDown(0.5);
  line("Total HT / Net", money(c.totals.ht));
  line(`TVA / VAT ${formatRate(c.vat_rate_bp, "fr")}`, money(c.totals.vat));
  line("Total TTC / Total incl. VAT", money(c.totals.ttc), true);
  if (c.payment) {
    doc.moveDown().font("Helvetica").fontSize(9);
    if (c.payment.validated_at) doc.text(pdfText(`Payé le / Paid on: ${dateIn(c.payment.validated_at, c.site.time_zone)}`));
    if (c.payment.provider_ref) doc.text(pdfText(`Référence / Reference: ${c.payment.provider_ref}`));
    if (c.payment.card) doc.text(pdfText(`Carte / Card: ${brandName(c.payment.card.brand)} •••• ${c.payment.card.last4}`));
  }
  doc.moveDown(2).font("Helvetica").fontSize(8).text(pdfText(`${c.number} — document émis par SysPark, non modifiable / issued by SysPark, immutable`), { align: "center" });
  doc.end();
  return done;
}
