/**
 * Server-rendered HTML: the drivers' payment page (phone-first, French and English), its
 * result pages, the operators' login page and a console shell (console/). No external resource except
 * Stripe.js when talking to real Stripe. Everything interpolated is escaped.
 */
import type { IdentityMethod } from "../db/sessions";
import { formatMoney } from "../tariffs/index";

export type Lang = "fr" | "en";

/** ?lang= wins, then Accept-Language (first of fr / en that appears), default French. */
export function pickLang(query: unknown, acceptLanguage: string | undefined): Lang {
  if (query === "fr" || query === "en") return query;
  const al = (acceptLanguage ?? "").toLowerCase();
  const fr = al.search(/\bfr\b/);
  const en = al.search(/\ben\b/);
  if (en !== -1 && (fr === -1 || en < fr)) return "en";
  return "fr";
}

export function esc(s: unknown): string {
  return String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c] as string);
}

/**
 * Stripe's Payment Element (real Stripe, with a publishable key): the form, its script, and the
 * confirmation that returns to `returnUrl` — the one copy the pay, prepay and hold pages share.
 */
export function paymentElementForm(e: { publishableKey: string; clientSecret: string; returnUrl: string }, lang: Lang, button: { id: string; label: string }): string {
  return `<form id="payment-form"><div id="payment-element"></div><button class="btn" id="${esc(button.id)}" type="submit">${esc(button.label)}</button><div id="pe-error" class="err" hidden></div></form>
<script src="https://js.stripe.com/v3/"></script>
<script>
const stripe=Stripe(${JSON.stringify(e.publishableKey)});const elements=stripe.elements({clientSecret:${JSON.stringify(e.clientSecret)},locale:${JSON.stringify(lang)}});
elements.create("payment").mount("#payment-element");
document.getElementById("payment-form").addEventListener("submit",async(e)=>{e.preventDefault();const{error}=await stripe.confirmPayment({elements,confirmParams:{return_url:${JSON.stringify(e.returnUrl)}}});if(error){const d=document.getElementById("pe-error");d.textContent=error.message;d.hidden=false;}});
</script>`;
}

const T = {
  fr: {
    title: "Paiement du stationnement",
    due: "Montant à payer",
    duration: "Durée",
    entry: "Entrée",
    details: "Détail",
    payCard: "Payer par carte",
    payCheckout: "Payer sur la page sécurisée Stripe",
    paidTitle: "Paiement validé",
    paidText: "Merci ! Votre paiement est confirmé. La barrière va s'ouvrir : avancez vers la sortie.",
    processingTitle: "Paiement en cours de vérification",
    processingText: "Votre banque traite le paiement. Cette page se met à jour automatiquement.",
    failedTitle: "Paiement refusé",
    failedText: "Votre paiement n'a pas abouti. La sortie reste bloquée tant que le paiement n'est pas validé.",
    canceledTitle: "Paiement annulé",
    canceledText: "Vous avez annulé le paiement. Vous pouvez réessayer quand vous voulez.",
    retry: "Réessayer le paiement",
    notFoundTitle: "Lien de paiement invalide",
    notFoundText: "Ce lien de paiement est inconnu ou a expiré. Demandez un nouveau code à la borne de sortie ou appelez l'opérateur.",
    nothingTitle: "Rien à payer",
    nothingText: "Cette session n'attend pas de paiement.",
    closedText: "Cette session est terminée.",
    secure: "Paiement sécurisé. La sortie n'est autorisée qu'après validation par nos serveurs.",
    help: "Besoin d'aide ? Appuyez sur le bouton d'appel de la borne.",
    emulator: "Mode test : paiement traité par l'émulateur de test Stripe (aucune carte réelle n'est débitée).",
    reason: "Motif",
    errorTitle: "Le paiement est momentanément indisponible",
    errorText: "Nous n'avons pas pu préparer votre paiement. Rien n'a été débité. Réessayez dans un instant ; si cela persiste, appuyez sur le bouton d'appel de la borne.",
    badRequestTitle: "Demande invalide",
    badRequestText: "Cette demande n'a pas pu être traitée. Rouvrez le lien de paiement pour réessayer.",
    reference: "Référence",
    plate: "Plaque",
    badge: "Badge",
    ticket: "Ticket",
    pin: "Code PIN",
    reservation: "Réservation",
    operator: "Opérateur",
    site: "Parking",
    lane: "Voie de sortie",
  },
  en: {
    title: "Parking payment",
    due: "Amount due",
    duration: "Duration",
    entry: "Entry",
    details: "Details",
    payCard: "Pay by card",
    payCheckout: "Pay on Stripe's secure page",
    paidTitle: "Payment confirmed",
    paidText: "Thank you! Your payment is confirmed. The barrier will open: drive to the exit.",
    processingTitle: "Payment being verified",
    processingText: "Your bank is processing the payment. This page refreshes by itself.",
    failedTitle: "Payment declined",
    failedText: "Your payment did not go through. The exit stays closed until a payment is validated.",
    canceledTitle: "Payment canceled",
    canceledText: "You canceled the payment. You can try again whenever you like.",
    retry: "Try the payment again",
    notFoundTitle: "Invalid payment link",
    notFoundText: "This payment link is unknown or has expired. Ask the exit terminal for a new code or call the operator.",
    nothingTitle: "Nothing to pay",
    nothingText: "This session is not waiting for a payment.",
    closedText: "This session is over.",
    secure: "Secure payment. The exit opens only once our servers have validated the payment.",
    help: "Need help? Press the call button on the terminal.",
    emulator: "Test mode: payment handled by the Stripe test emulator (no real card is charged).",
    reason: "Reason",
    errorTitle: "Payment temporarily unavailable",
    errorText: "We could not prepare your payment. Nothing was charged. Try again in a moment; if it keeps happening, press the call button on the terminal.",
    badRequestTitle: "Invalid request",
    badRequestText: "This request could not be handled. Open the payment link again to retry.",
    reference: "Reference",
    plate: "Plate",
    badge: "Badge",
    ticket: "Ticket",
    pin: "PIN",
    reservation: "Reservation",
    operator: "Operator",
    site: "Car park",
    lane: "Exit lane",
  },
} as const;

export function texts(lang: Lang): (typeof T)[Lang] {
  return T[lang];
}

const CSS = `*{box-sizing:border-box}body{margin:0;font:17px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:#f3f5f8;color:#17202e}
header{background:#12355b;color:#fff;padding:12px 16px;font-weight:600}main{max-width:460px;margin:0 auto;padding:14px}
.card{background:#fff;border-radius:12px;padding:18px;box-shadow:0 1px 3px rgba(0,0,0,.12);margin-bottom:14px}
h1{font-size:21px;margin:0 0 8px}.amount{font-size:34px;font-weight:700;margin:6px 0 12px}
table{width:100%;border-collapse:collapse;font-size:15px}td{padding:5px 0;vertical-align:top}td.r{text-align:right;white-space:nowrap}
.btn{display:block;width:100%;text-align:center;font-size:19px;padding:14px;margin-top:12px;border:0;border-radius:8px;background:#0a7d3b;color:#fff;font-weight:600;text-decoration:none;cursor:pointer}
.btn.alt{background:#e4e9f0;color:#17202e}.muted{color:#5d6b7e;font-size:14px}.test{background:#fff4d6;border:1px solid #e0b000;border-radius:8px;padding:8px;font-size:14px}
.ok{color:#0a7d3b}.bad{color:#b00020}.err{background:#fde8ea;border:1px solid #b00020;color:#8a0018;border-radius:8px;padding:10px}
input,select,textarea{width:100%;font-size:16px;padding:9px;border:1px solid #b9c3cf;border-radius:6px;margin:4px 0 10px}label{font-size:14px;color:#3c4a5c}
input.inline{width:auto}.wide{max-width:1100px}.grid{font-size:13px}.grid td,.grid th{border-bottom:1px solid #e3e7ec;padding:4px 6px;text-align:left}`;

export function layout(lang: Lang, title: string, body: string, opts: { refreshS?: number; wide?: boolean; head?: string } = {}): string {
  return `<!doctype html>
<html lang="${lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
${opts.refreshS ? `<meta http-equiv="refresh" content="${opts.refreshS}">` : ""}
<title>${esc(title)} — SysPark</title>
<style>${CSS}</style>
${opts.head ?? ""}
</head>
<body>
<header>SysPark</header>
<main${opts.wide ? ' class="wide"' : ""}>
${body}
</main>
</body>
</html>`;
}

export function formatDuration(seconds: number, lang: Lang): string {
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  if (h === 0) return `${m} min`;
  return lang === "fr" ? `${h} h ${String(m).padStart(2, "0")}` : `${h} h ${m} min`;
}

export interface PayView {
  lang: Lang;
  sessionId: string;
  token: string;
  amount: number;
  currency: string;
  durationS: number;
  entryTs: Date;
  timeZone: string;
  lines: { label: string; amount: number }[];
  /** Who and where, so the driver can tell it is their car: identity (../flows/driver-view.ts masks badges and tickets), site name, exit lane. */
  identity: { method: IdentityMethod; shown: string };
  siteName: string;
  lane: string;
  stripeMode: "emulator" | "test" | "live";
  /** Real Stripe with a publishable key: Payment Element. */
  element?: { publishableKey: string; clientSecret: string; returnUrl: string };
  error?: string;
}

export function payPage(v: PayView): string {
  const t = texts(v.lang);
  const money = (n: number) => formatMoney(n, v.currency, v.lang);
  const rows = v.lines.map((l) => `<tr><td>${esc(l.label)}</td><td class="r">${esc(money(l.amount))}</td></tr>`).join("");
  const entry = new Intl.DateTimeFormat(v.lang === "fr" ? "fr-FR" : "en-GB", { timeZone: v.timeZone, dateStyle: "short", timeStyle: "short" }).format(v.entryTs);
  const q = `t=${encodeURIComponent(v.token)}&lang=${v.lang}`;
  const action = v.element
    ? paymentElementForm(v.element, v.lang, { id: "pay", label: `${t.payCard} — ${money(v.amount)}` })
    : `<form method="post" action="/pay/${esc(v.sessionId)}/start?${esc(q)}"><button class="btn" id="pay" type="submit">${esc(t.payCard)} — ${esc(money(v.amount))}</button></form>`;
  const checkout = `<form method="post" action="/pay/${esc(v.sessionId)}/checkout?${esc(q)}"><button class="btn alt" id="checkout" type="submit">${esc(t.payCheckout)}</button></form>`;
  return layout(
    v.lang,
    t.title,
    `<div class="card">
<h1>${esc(t.title)}</h1>
<div class="muted">${esc(t.due)}</div>
<div class="amount" id="amount">${esc(money(v.amount))}</div>
<table><tr><td>${esc(t[v.identity.method])}</td><td class="r" id="identity">${esc(v.identity.shown)}</td></tr><tr><td>${esc(t.site)}</td><td class="r" id="site">${esc(v.siteName)}</td></tr><tr><td>${esc(t.lane)}</td><td class="r" id="lane">${esc(v.lane)}</td></tr>
<tr><td>${esc(t.duration)}</td><td class="r" id="duration">${esc(formatDuration(v.durationS, v.lang))}</td></tr><tr><td>${esc(t.entry)}</td><td class="r">${esc(entry)}</td></tr></table>
${v.error ? `<p class="err" id="error" role="alert">${esc(v.error)}</p>` : ""}
${action}
${checkout}
<p class="muted">${esc(t.secure)}</p>
${v.stripeMode === "emulator" ? `<p class="test">${esc(t.emulator)}</p>` : ""}
</div>
<details class="card" open><summary>${esc(t.details)}</summary><table id="breakdown">${rows}</table></details>
<p class="muted">${esc(t.help)}</p>`,
  );
}

export type MessageKind = "paid" | "processing" | "failed" | "canceled" | "notFound" | "nothing" | "closed" | "error" | "badRequest";

export function messagePage(lang: Lang, kind: MessageKind, opts: { retryHref?: string; reason?: string; refreshS?: number; reference?: string } = {}): string {
  const t = texts(lang);
  const m = {
    paid: [t.paidTitle, t.paidText, "ok"],
    processing: [t.processingTitle, t.processingText, ""],
    failed: [t.failedTitle, t.failedText, "bad"],
    canceled: [t.canceledTitle, t.canceledText, "bad"],
    notFound: [t.notFoundTitle, t.notFoundText, "bad"],
    nothing: [t.nothingTitle, t.nothingText, ""],
    closed: [t.nothingTitle, t.closedText, ""],
    error: [t.errorTitle, t.errorText, "bad"],
    badRequest: [t.badRequestTitle, t.badRequestText, "bad"],
  }[kind];
  return layout(
    lang,
    m[0],
    `<div class="card" id="result" data-result="${kind}">
<h1 class="${m[2]}">${esc(m[0])}</h1>
<p>${esc(m[1])}</p>
${opts.reason ? `<p class="err" id="reason">${esc(t.reason)} : ${esc(opts.reason)}</p>` : ""}
${opts.retryHref ? `<a class="btn" id="retry" href="${esc(opts.retryHref)}">${esc(t.retry)}</a>` : ""}
${opts.reference ? `<p class="muted" id="reference">${esc(t.reference)} : ${esc(opts.reference)}</p>` : ""}
</div>`,
    opts.refreshS ? { refreshS: opts.refreshS } : {},
  );
}

export function loginPage(next: string, error?: string): string {
  return layout(
    "en",
    "Operator login",
    `<div class="card"><h1>Operator login</h1>${error ? `<p class="err" role="alert">${esc(error)}</p>` : ""}
<form method="post" action="/login"><input type="hidden" name="next" value="${esc(next)}">
<label for="username">Username</label><input id="username" name="username" autocomplete="username" required>
<label for="password">Password</label><input id="password" name="password" type="password" autocomplete="current-password" required>
<button class="btn" type="submit">Log in</button></form></div>`,
  );
}

/** An error on an operator's page (dashboard, login): HTML, never raw JSON. */
export function operatorErrorPage(title: string, message: string, reference?: string): string {
  return layout(
    "en",
    title,
    `<div class="card" id="result" data-result="error"><h1 class="bad">${esc(title)}</h1><p class="err" role="alert">${esc(message)}</p>
${reference ? `<p class="muted" id="reference">Reference: ${esc(reference)}</p>` : ""}<a class="btn" href="/console">Back to the console</a></div>`,
  );
}
