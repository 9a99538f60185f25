/**
 * The success page (issue 16 item 1): what a driver checks and keeps after paying — amount,
 * duration, exit lane, when it was paid (site time), the card (brand and last 4, as the provider
 * reported them and frozen in the receipt), the provider's reference and the receipt (HTML and
 * PDF). The pay link shows it for as long as the link is valid once the session is paid or
 * closed, so reopening the link after the exit never says "Nothing to pay".
 */
import { listPayments, type Q, type SessionRow } from "../db/index";
import type { StoredQuote } from "../flows/site-events";
import { formatMoney } from "../tariffs/index";
import { receiptStateOf } from "../billing/receipt-queue";
import { brandName } from "../billing/identity";
import { esc, formatDuration, layout, type Lang } from "./pages";
import { whoAndWhere } from "../flows/driver-view";

const T = {
  fr: {
    title: "Paiement validé",
    text: "Merci ! Votre paiement est confirmé. La barrière s'ouvre : avancez vers la sortie.",
    closedText: "Votre stationnement est terminé. Voici le détail de votre paiement.",
    free: "Aucun montant n'était dû pour ce stationnement.",
    amount: "Montant payé",
    duration: "Durée",
    lane: "Voie de sortie",
    paidAt: "Payé le",
    card: "Carte",
    reference: "Référence du paiement",
    receipt: "Reçu",
    receiptHtml: "Voir le reçu",
    receiptPdf: "Télécharger le reçu (PDF)",
    keep: "Conservez ce lien : il affiche ce reçu tant qu'il est valable.",
    preparing: "Votre reçu est en cours de préparation. Cette page se met à jour d'elle-même dans quelques secondes.",
  },
  en: {
    title: "Payment confirmed",
    text: "Thank you! Your payment is confirmed. The barrier is opening: drive to the exit.",
    closedText: "Your stay is over. Here are the details of your payment.",
    free: "Nothing was due for this stay.",
    amount: "Amount paid",
    duration: "Duration",
    lane: "Exit lane",
    paidAt: "Paid on",
    card: "Card",
    reference: "Payment reference",
    receipt: "Receipt",
    receiptHtml: "View the receipt",
    receiptPdf: "Download the receipt (PDF)",
    keep: "Keep this link: it shows this receipt for as long as it is valid.",
    preparing: "Your receipt is being prepared. This page updates itself in a few seconds.",
  },
} as const;

export interface SuccessView {
  lang: Lang;
  closed: boolean;
  amount: number;
  currency: string;
  durationS: number;
  lane: string;
  siteName: string;
  paidAt: Date | null;
  timeZone: string;
  card: { brand: string; last4: string } | null;
  providerRef: string | null;
  receipt: { number: string; htmlHref: string; pdfHref: string } | null;
  /** Paid, receipt owed but not issued yet (the receipt worker issues it after the payment's commit). */
  receiptPending: boolean;
}

/** How long the "being prepared" page waits before it reloads itself (s). */
const PENDING_REFRESH_S = 3;

export function successPage(v: SuccessView): string {
  const t = T[v.lang];
  const money = formatMoney(v.amount, v.currency, v.lang);
  const when = v.paidAt ? new Intl.DateTimeFormat(v.lang === "fr" ? "fr-FR" : "en-GB", { timeZone: v.timeZone, dateStyle: "medium", timeStyle: "short" }).format(v.paidAt) : "";
  const row = (label: string, id: string, value: string) => `<tr><td>${esc(label)}</td><td class="r" id="${id}">${esc(value)}</td></tr>`;
  const rows = [
    row(t.amount, "paid-amount", money),
    row(t.duration, "paid-duration", formatDuration(v.durationS, v.lang)),
    row(t.lane, "paid-lane", `${v.lane} · ${v.siteName}`),
    when ? row(t.paidAt, "paid-at", when) : "",
    v.card ? row(t.card, "paid-card", `${brandName(v.card.brand)} •••• ${v.card.last4}`) : "",
    v.providerRef ? row(t.reference, "paid-reference", v.providerRef) : "",
  ].join("");
  const receipt = v.receipt
    ? `<div class="card" id="receipt"><h1>${esc(t.receipt)} ${esc(v.receipt.number)}</h1>
<a class="btn" id="receipt-html" href="${esc(v.receipt.htmlHref)}">${esc(t.receiptHtml)}</a>
<a class="btn alt" id="receipt-pdf" href="${esc(v.receipt.pdfHref)}" download>${esc(t.receiptPdf)}</a>
<p class="muted">${esc(t.keep)}</p></div>`
    : v.receiptPending
      ? `<div class="card" id="receipt-pending"><h1>${esc(t.receipt)}</h1><p class="muted">${esc(t.preparing)}</p></div>`
      : "";
  return layout(
    v.lang,
    t.title,
    `<div class="card" id="result" data-result="paid">
<h1 class="ok">${esc(t.title)}</h1>
<p>${esc(v.amount === 0 ? t.free : v.closed ? t.closedText : t.text)}</p>
<table id="success">${rows}</table>
</div>
${receipt}`,
    v.receiptPending ? { refreshS: PENDING_REFRESH_S } : {},
  );
}

/** The success view of a paid or closed session (amount: what was paid on it). */
export async function successViewOf(q: Q, s: SessionRow, token: string, lang: Lang): Promise<SuccessView> {
  const where = await whoAndWhere(q, s);
  const paid = (await listPayments(q, s.sessionId)).filter((p) => p.state === "paid");
  const last = paid[paid.length - 1];
  const { receipt, pending: receiptPending } = last ? await receiptStateOf(q, last.paymentId) : { receipt: undefined, pending: false };
  const quote = s.quoteBreakdown as unknown as StoredQuote | null;
  const end = s.exitTs ?? s.pricedAt ?? s.paidAt ?? new Date();
  const qs = `t=${encodeURIComponent(token)}&lang=${lang}`;
  return {
    lang,
    closed: s.status === "closed",
    amount: paid.reduce((sum, p) => sum + p.amount, 0),
    currency: last?.currency ?? s.currency ?? "EUR",
    durationS: quote?.price?.duration_s ?? Math.max(0, Math.round((end.getTime() - s.entryTs.getTime()) / 1000)),
    lane: where.lane,
    siteName: where.siteName,
    paidAt: last?.validatedTs ?? s.paidAt,
    timeZone: where.timeZone,
    card: receipt?.card ?? null,
    providerRef: last?.providerRef ?? null,
    receiptPending,
    receipt: receipt ? { number: receipt.number, htmlHref: `/receipts/${encodeURIComponent(receipt.documentId)}?${qs}`, pdfHref: `/receipts/${encodeURIComponent(receipt.documentId)}.pdf?${qs}` } : null,
  };
}
