/**
 * The public pricing pages' HTML (issue 16 items 2 and 3): the list of sites, a site's tariff in
 * words with its price table, the estimate form and its answer, the prepay form, and the
 * prepayment's status page. Phone-first, fr/en, no JavaScript needed (plain forms) except Stripe.js
 * when paying on real Stripe. Every figure shown was computed by the server's pricing function.
 */
import { esc, layout, paymentElementForm, type Lang } from "./pages";

export const PT = {
  fr: {
    title: "Tarifs",
    sites: "Nos parkings",
    inForce: (v: number, from: string) => `Tarif en vigueur (version ${v}, depuis le ${from})`,
    table: "Prix d'un stationnement commençant maintenant",
    duration: "Durée",
    price: "Prix",
    dailyCap: "Plafond par 24 h",
    none: "aucun",
    estimate: "Combien pour…",
    hours: "Nombre d'heures",
    or: "ou jusqu'à (heure locale)",
    compute: "Calculer",
    estimateFor: (d: string, until: string) => `Pour ${d}, jusqu'à ${until}`,
    prepay: "Prépayer mon stationnement",
    prepayHelp: "Payez maintenant pour une durée ou un montant : à la sortie, la barrière s'ouvre sans autre paiement pendant la période payée. Un dépassement est facturé à la sortie (la différence).",
    plate: "Plaque d'immatriculation",
    byDuration: "Pour une durée (heures)",
    byAmount: "Pour un montant",
    start: "Début (facultatif, heure locale ; sinon maintenant)",
    prepayBtn: "Prépayer par carte",
    tz: (z: string) => `Heures affichées dans le fuseau du parking (${z}).`,
    ppTitle: "Prépaiement",
    ppPaid: "Prépaiement confirmé",
    ppPaidText: "Votre stationnement est payé. À la sortie, la barrière s'ouvrira sans autre paiement pendant la période ci-dessous.",
    ppPending: "Paiement en cours de vérification",
    ppPendingText: "Cette page se met à jour automatiquement.",
    ppFailed: "Prépaiement non abouti",
    ppFailedText: "Le paiement n'a pas abouti ; rien n'a été débité. Vous pouvez recommencer.",
    ppUsed: "Prépaiement utilisé",
    ppUsedText: "Ce prépaiement a servi à une sortie.",
    ppRefunded: "Prépaiement remboursé",
    window: "Période payée",
    amount: "Montant",
    reference: "Référence",
    back: "Retour aux tarifs",
    payNow: "Payer",
    notFound: "Parking inconnu",
    notFoundText: "Ce parking n'existe pas. Choisissez un parking dans la liste des tarifs.",
    badInput: "Demande invalide",
    emulator: "Mode test : paiement traité par l'émulateur de test Stripe (aucune carte réelle n'est débitée).",
  },
  en: {
    title: "Prices",
    sites: "Our car parks",
    inForce: (v: number, from: string) => `Tariff in force (version ${v}, since ${from})`,
    table: "Price of a stay starting now",
    duration: "Duration",
    price: "Price",
    dailyCap: "Cap per 24 h",
    none: "none",
    estimate: "How much for…",
    hours: "Number of hours",
    or: "or until (local time)",
    compute: "Compute",
    estimateFor: (d: string, until: string) => `For ${d}, until ${until}`,
    prepay: "Prepay my stay",
    prepayHelp: "Pay now for a duration or an amount: at the exit, the barrier opens with nothing more to pay within the paid window. An overstay is charged at the exit (the difference).",
    plate: "Number plate",
    byDuration: "For a duration (hours)",
    byAmount: "For an amount",
    start: "Start (optional, local time; otherwise now)",
    prepayBtn: "Prepay by card",
    tz: (z: string) => `Times shown in the car park's time zone (${z}).`,
    ppTitle: "Prepayment",
    ppPaid: "Prepayment confirmed",
    ppPaidText: "Your stay is paid. At the exit, the barrier opens with nothing more to pay within the window below.",
    ppPending: "Payment being verified",
    ppPendingText: "This page refreshes by itself.",
    ppFailed: "Prepayment not completed",
    ppFailedText: "The payment did not go through; nothing was charged. You can start again.",
    ppUsed: "Prepayment used",
    ppUsedText: "This prepayment paid for an exit.",
    ppRefunded: "Prepayment refunded",
    window: "Paid window",
    amount: "Amount",
    reference: "Reference",
    back: "Back to the prices",
    payNow: "Pay",
    notFound: "Unknown car park",
    notFoundText: "This car park does not exist. Choose one in the list of prices.",
    badInput: "Invalid request",
    emulator: "Test mode: payment handled by the Stripe test emulator (no real card is charged).",
  },
} as const;

export function sitesPage(lang: Lang, sites: { siteId: string; name: string }[]): string {
  const t = PT[lang];
  const items = sites.map((s) => `<li><a href="/pricing/${esc(s.siteId)}?lang=${lang}">${esc(s.name)}</a></li>`).join("");
  return layout(lang, t.title, `<div class="card"><h1>${esc(t.sites)}</h1><ul id="sites">${items}</ul></div>`);
}

export interface SiteView {
  lang: Lang;
  siteId: string;
  name: string;
  timeZone: string;
  tariffName: string;
  inForce: string;
  rules: string[];
  table: { label: string; price: string }[];
  dailyCap: string;
  estimate?: { title: string; amount: string; lines: { label: string; amount: string }[] };
  error?: string;
  form: { hours?: string; until?: string; plate?: string; amount?: string; start?: string };
  currencySymbol: string;
}

export function sitePage(v: SiteView): string {
  const t = PT[v.lang];
  const rules = v.rules.map((r) => `<li>${esc(r)}</li>`).join("");
  const rows = v.table.map((r) => `<tr><td>${esc(r.label)}</td><td class="r">${esc(r.price)}</td></tr>`).join("");
  const est = v.estimate
    ? `<div class="card" id="estimate"><h1>${esc(v.estimate.title)}</h1><div class="amount" id="estimate-amount">${esc(v.estimate.amount)}</div>
<table id="estimate-breakdown">${v.estimate.lines.map((l) => `<tr><td>${esc(l.label)}</td><td class="r">${esc(l.amount)}</td></tr>`).join("")}</table></div>`
    : "";
  const f = v.form;
  const action = `/pricing/${esc(v.siteId)}`;
  return layout(
    v.lang,
    `${t.title} — ${v.name}`,
    `<div class="card"><h1>${esc(v.name)}</h1><p class="muted" id="in-force">${esc(v.inForce)}</p><h2>${esc(v.tariffName)}</h2><ul id="rules">${rules}</ul></div>
<div class="card"><h1>${esc(t.table)}</h1><table id="price-table"><tr><th>${esc(t.duration)}</th><th class="r">${esc(t.price)}</th></tr>${rows}
<tr id="daily-cap"><td>${esc(t.dailyCap)}</td><td class="r">${esc(v.dailyCap)}</td></tr></table><p class="muted">${esc(t.tz(v.timeZone))}</p></div>
${v.error ? `<p class="err" id="error" role="alert">${esc(v.error)}</p>` : ""}
<div class="card"><h1>${esc(t.estimate)}</h1><form method="get" action="${action}" id="estimate-form"><input type="hidden" name="lang" value="${v.lang}">
<label for="hours">${esc(t.hours)}</label><input id="hours" name="hours" inputmode="decimal" value="${esc(f.hours ?? "")}">
<label for="until">${esc(t.or)}</label><input id="until" name="until" type="time" value="${esc(f.until ?? "")}">
<button class="btn" id="compute" type="submit">${esc(t.compute)}</button></form></div>
${est}
<div class="card"><h1>${esc(t.prepay)}</h1><p class="muted">${esc(t.prepayHelp)}</p>
<form method="post" action="${action}/prepay?lang=${v.lang}" id="prepay-form">
<label for="plate">${esc(t.plate)}</label><input id="plate" name="plate" required maxlength="20" autocapitalize="characters" value="${esc(f.plate ?? "")}">
<label for="pp-hours">${esc(t.byDuration)}</label><input id="pp-hours" name="hours" inputmode="decimal" value="${esc(f.hours ?? "")}">
<label for="pp-amount">${esc(t.byAmount)} (${esc(v.currencySymbol)})</label><input id="pp-amount" name="amount" inputmode="decimal" value="${esc(f.amount ?? "")}">
<label for="pp-start">${esc(t.start)}</label><input id="pp-start" name="start" type="datetime-local" value="${esc(f.start ?? "")}">
<button class="btn" id="prepay" type="submit">${esc(t.prepayBtn)}</button></form></div>
<p class="muted"><a href="/pricing?lang=${v.lang}">${esc(t.sites)}</a></p>`,
  );
}

export interface PrepaymentView {
  lang: Lang;
  siteId: string;
  siteName: string;
  state: string;
  plate: string;
  window: string;
  amount: string;
  reference: string;
  stripeMode: "emulator" | "test" | "live";
  /** Real Stripe with a publishable key, still to pay: the Payment Element. */
  element?: { publishableKey: string; clientSecret: string; returnUrl: string };
}

export function prepaymentPage(v: PrepaymentView): string {
  const t = PT[v.lang];
  const [title, text, cls] =
    v.state === "paid" ? [t.ppPaid, t.ppPaidText, "ok"]
    : v.state === "consumed" ? [t.ppUsed, t.ppUsedText, "ok"]
    : v.state === "refunded" ? [t.ppRefunded, "", ""]
    : v.state === "failed" || v.state === "canceled" ? [t.ppFailed, t.ppFailedText, "bad"]
    : [t.ppPending, t.ppPendingText, ""];
  const pay = v.element && (v.state === "pending" || v.state === "requested" || v.state === "failed")
    ? paymentElementForm(v.element, v.lang, { id: "pay", label: `${t.payNow} — ${v.amount}` })
    : "";
  const refresh = !v.element && (v.state === "pending" || v.state === "requested");
  return layout(
    v.lang,
    t.ppTitle,
    `<div class="card" id="result" data-result="prepay-${esc(v.state)}"><h1 class="${cls}">${esc(title)}</h1><p>${esc(text)}</p>
<table><tr><td>${esc(t.plate)}</td><td class="r" id="pp-plate">${esc(v.plate)}</td></tr>
<tr><td>${esc(v.siteName)}</td><td class="r"></td></tr>
<tr><td>${esc(t.window)}</td><td class="r" id="pp-window">${esc(v.window)}</td></tr>
<tr><td>${esc(t.amount)}</td><td class="r" id="pp-amount">${esc(v.amount)}</td></tr></table>
<p class="muted" id="reference">${esc(t.reference)}${v.lang === "fr" ? " : " : ": "}${esc(v.reference)}</p>
${pay}
${v.stripeMode === "emulator" ? `<p class="test">${esc(t.emulator)}</p>` : ""}
<a class="btn alt" href="/pricing/${esc(v.siteId)}?lang=${v.lang}">${esc(t.back)}</a></div>`,
    refresh ? { refreshS: 2 } : {},
  );
}

export function pricingMessage(lang: Lang, title: string, text: string, backHref?: string): string {
  return layout(lang, title, `<div class="card" id="result" data-result="error"><h1 class="bad">${esc(title)}</h1><p class="err" role="alert">${esc(text)}</p>${backHref ? `<a class="btn alt" href="${esc(backHref)}">${esc(PT[lang].back)}</a>` : ""}</div>`);
}
