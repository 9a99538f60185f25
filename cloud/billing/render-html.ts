/**
 * A billing document as an HTML page in the reader's language, from its frozen content, with the
 * SHA-256 of its stored PDF (the PDF cannot carry its own checksum: the page and the API show it).
 */
import { esc, layout, type Lang } from "../http/pages";
import { formatMoney } from "../tariffs/index";
import { KIND_TITLE } from "./content";
import { brandName } from "./identity";
import type { DocumentRow } from "./documents";
import { formatRate } from "./vat";

const T = {
  fr: { issued: "Émis le", site: "Parking", vehicle: "Véhicule", lane: "Voie", customer: "Client", plan: "Abonnement", refund: "Remboursement", of: "sur", ht: "Total HT", vat: "TVA", ttc: "Total TTC", paid: "Payé", card: "Carte", pdf: "Télécharger le PDF", checksum: "Empreinte SHA-256 du PDF", seller: "Émetteur" },
  en: { issued: "Issued on", site: "Car park", vehicle: "Vehicle", lane: "Lane", customer: "Customer", plan: "Plan", refund: "Refund", of: "of", ht: "Net (excl. VAT)", vat: "VAT", ttc: "Total incl. VAT", paid: "Paid", card: "Card", pdf: "Download the PDF", checksum: "SHA-256 of the PDF", seller: "Seller" },
} as const;

export function documentPage(doc: DocumentRow, lang: Lang, pdfHref: string): string {
  const t = T[lang];
  const c = doc.content;
  const money = (n: number) => formatMoney(n, c.currency, lang);
  const date = (iso: string) => new Intl.DateTimeFormat(lang === "fr" ? "fr-FR" : "en-GB", { timeZone: c.site.time_zone, dateStyle: "medium", timeStyle: "short" }).format(new Date(iso));
  const row = (label: string, value: string, id = "") => `<tr><td>${esc(label)}</td><td class="r"${id ? ` id="${id}"` : ""}>${esc(value)}</td></tr>`;
  const title = `${KIND_TITLE[c.kind][lang]} ${c.number}`;
  const facts = [
    row(t.issued, date(c.issued_at), "doc-date"),
    row(t.site, c.site.name),
    c.stay ? row(t.vehicle, c.stay.identity) : "",
    c.stay ? row(t.lane, c.stay.lane) : "",
    c.customer ? row(t.customer, c.customer.name) : "",
    c.plan ? row(t.plan, `${c.plan.name} (${c.plan.period_from} → ${c.plan.period_to})`) : "",
    c.refund ? row(t.refund, `${c.refund.reason}${c.refund.original_number ? ` — ${t.of} ${c.refund.original_number}` : ""}`) : "",
    c.payment?.validated_at ? row(t.paid, `${date(c.payment.validated_at)} — ${c.payment.provider_ref ?? ""}`) : "",
    c.payment?.card ? row(t.card, `${brandName(c.payment.card.brand)} •••• ${c.payment.card.last4}`, "doc-card") : "",
  ].join("");
  const lines = c.lines.map((l) => row(l.label[lang], money(l.amount))).join("");
  return layout(
    lang,
    title,
    `<div class="card" id="document" data-number="${esc(c.number)}">
<h1 id="doc-number">${esc(title)}</h1>
<p class="muted">${esc(t.seller)} : ${esc(c.issuer.company)} — ${esc(c.issuer.address)} — SIRET ${esc(c.issuer.siret)} — TVA ${esc(c.issuer.vatId)}</p>
<table>${facts}</table>
</div>
<div class="card"><table id="doc-lines">${lines}
${row(t.ht, money(c.totals.ht), "doc-ht")}${row(`${t.vat} ${formatRate(c.vat_rate_bp, lang)}`, money(c.totals.vat), "doc-vat")}${row(t.ttc, money(c.totals.ttc), "doc-ttc")}</table>
<a class="btn" id="doc-pdf" href="${esc(pdfHref)}" download>${esc(t.pdf)}</a>
<p class="muted">${esc(t.checksum)} : <code id="doc-sha256">${esc(doc.pdfSha256 ?? "")}</code></p></div>`,
  );
}
