/**
 * The emulator's HTML pages: the card confirmation page that stands in for Stripe.js when no
 * network is available, its 3-D Secure challenge, the hosted Checkout page, and an index.
 * Plain server-rendered HTML (no script, no external resource), readable on a phone, and
 * marked on every page as a Stripe TEST EMULATOR. Everything interpolated is escaped.
 */
import type Stripe from "stripe";
import { TEST_CARDS } from "./cards";
import { formatLocalizedAmount } from "./money";

export type Locale = "en" | "fr";

const T = {
  en: {
    banner: "Stripe TEST EMULATOR — a SysPark test tool, not Stripe. No real card is charged.",
    pay: "Pay",
    cardNumber: "Card number",
    expiry: "Expiry (MM/YY)",
    cvc: "CVC",
    amountDue: "Amount due",
    testCards: "Test cards",
    tryAnother: "Try again with another card.",
    authTitle: "3-D Secure authentication (test)",
    authText: "This test card requires authentication. Choose the outcome of the bank's challenge.",
    complete: "Complete authentication",
    fail: "Fail authentication",
    paid: "This payment has already been made.",
    canceled: "This payment was canceled.",
    processing: "This payment is being processed.",
    done: "Payment accepted. You can close this page.",
    back: "Continue",
    cancel: "Cancel and go back",
    checkoutTitle: "Checkout (test)",
    total: "Total",
  },
  fr: {
    banner: "ÉMULATEUR DE TEST Stripe — outil de test SysPark, pas Stripe. Aucune vraie carte n'est débitée.",
    pay: "Payer",
    cardNumber: "Numéro de carte",
    expiry: "Expiration (MM/AA)",
    cvc: "Cryptogramme",
    amountDue: "Montant à payer",
    testCards: "Cartes de test",
    tryAnother: "Réessayez avec une autre carte.",
    authTitle: "Authentification 3-D Secure (test)",
    authText: "Cette carte de test exige une authentification. Choisissez le résultat du contrôle de la banque.",
    complete: "Valider l'authentification",
    fail: "Échouer l'authentification",
    paid: "Ce paiement a déjà été effectué.",
    canceled: "Ce paiement a été annulé.",
    processing: "Ce paiement est en cours de traitement.",
    done: "Paiement accepté. Vous pouvez fermer cette page.",
    back: "Continuer",
    cancel: "Annuler et revenir",
    checkoutTitle: "Paiement (test)",
    total: "Total",
  },
} as const;

export type Texts = (typeof T)[Locale];

export function texts(locale: Locale): Texts {
  return T[locale];
}

/** Decline messages in French (Stripe.js localises them the same way). */
const FR_DECLINES: Readonly<Record<string, string>> = {
  generic_decline: "Votre carte a été refusée.",
  insufficient_funds: "Votre carte ne dispose pas de fonds suffisants.",
  lost_card: "Votre carte a été refusée.",
  stolen_card: "Votre carte a été refusée.",
  expired_card: "Votre carte a expiré.",
  incorrect_cvc: "Le cryptogramme de votre carte est incorrect.",
  processing_error: "Une erreur s'est produite lors du traitement de votre carte. Réessayez dans un instant.",
  incorrect_number: "Le numéro de votre carte est incorrect.",
  test_mode_live_card: "Votre carte a été refusée : ceci est un environnement de test, utilisez une carte de test.",
  payment_intent_authentication_failure: "L'authentification de votre carte a échoué.",
  authentication_required: "Votre carte a été refusée : cette opération exige une authentification.",
};

export function localizedDecline(locale: Locale, code: string, declineCode: string | undefined, message: string): string {
  if (locale === "en") return message;
  return FR_DECLINES[declineCode ?? code] ?? FR_DECLINES[code] ?? message;
}

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c] as string);
}

const CSS = `
*{box-sizing:border-box}body{margin:0;font:16px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:#f4f5f7;color:#1a1f36}
.banner{background:#b00020;color:#fff;font-weight:700;padding:10px 14px;text-align:center;font-size:14px}
main{max-width:440px;margin:0 auto;padding:16px}
.card{background:#fff;border-radius:10px;padding:18px;box-shadow:0 1px 3px rgba(0,0,0,.15);margin-bottom:14px}
h1{font-size:20px;margin:0 0 10px}.amount{font-size:30px;font-weight:700;margin:4px 0 10px}
label{display:block;font-size:14px;margin:10px 0 4px;color:#3c4257}
input{width:100%;font-size:18px;padding:10px;border:1px solid #c1c9d2;border-radius:6px}
.row{display:flex;gap:10px}.row>div{flex:1}
button{width:100%;font-size:18px;padding:12px;margin-top:16px;border:0;border-radius:6px;background:#635bff;color:#fff;font-weight:600}
button.secondary{background:#e3e8ee;color:#1a1f36}
.error{background:#fde8ea;border:1px solid #b00020;color:#b00020;border-radius:6px;padding:10px;margin-bottom:10px}
.muted{color:#697386;font-size:13px}table{width:100%;border-collapse:collapse;font-size:14px}td{padding:4px 0}td.r{text-align:right}
code{font-size:13px}a{color:#635bff}
`;

export function layout(title: string, locale: Locale, body: string): string {
  return `<!doctype html>
<html lang="${locale}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>${escapeHtml(title)} — Stripe TEST EMULATOR</title>
<style>${CSS}</style>
</head>
<body>
<div class="banner" role="alert">⚠ ${escapeHtml(texts(locale).banner)}</div>
<main>
${body}
</main>
</body>
</html>`;
}

function testCardTable(locale: Locale): string {
  const rows = TEST_CARDS.map((c) => `<tr><td><code>${c.number.replace(/(\d{4})(?=\d)/g, "$1 ")}</code></td><td>${escapeHtml(c.label)}</td></tr>`).join("");
  return `<details class="card"><summary>${escapeHtml(texts(locale).testCards)}</summary><table>${rows}</table><p class="muted">Any future expiry date, any 3-digit CVC.</p></details>`;
}

export interface CardFormValues {
  number: string;
  exp: string;
  cvc: string;
}

export function cardForm(action: string, locale: Locale, hidden: Record<string, string>, values: CardFormValues | undefined, buttonText: string): string {
  const t = texts(locale);
  const hiddenInputs = Object.entries(hidden)
    .map(([k, v]) => `<input type="hidden" name="${escapeHtml(k)}" value="${escapeHtml(v)}">`)
    .join("");
  return `<form method="post" action="${escapeHtml(action)}">
${hiddenInputs}
<label for="card_number">${escapeHtml(t.cardNumber)}</label>
<input id="card_number" name="card_number" inputmode="numeric" autocomplete="cc-number" placeholder="4242 4242 4242 4242" value="${escapeHtml(values?.number ?? "")}" required>
<div class="row">
<div><label for="exp">${escapeHtml(t.expiry)}</label><input id="exp" name="exp" inputmode="numeric" autocomplete="cc-exp" placeholder="12/34" value="${escapeHtml(values?.exp ?? "")}" required></div>
<div><label for="cvc">${escapeHtml(t.cvc)}</label><input id="cvc" name="cvc" inputmode="numeric" autocomplete="cc-csc" placeholder="123" value="${escapeHtml(values?.cvc ?? "")}" required></div>
</div>
<button type="submit" id="pay">${escapeHtml(buttonText)}</button>
</form>`;
}

export function payPage(opts: {
  pi: Stripe.PaymentIntent;
  action: string;
  returnUrl: string | null;
  locale: Locale;
  error?: string;
  values?: CardFormValues;
}): string {
  const t = texts(opts.locale);
  const amount = formatLocalizedAmount(opts.pi.amount, opts.pi.currency, opts.locale);
  const hidden: Record<string, string> = { locale: opts.locale };
  if (opts.returnUrl !== null) hidden.return_url = opts.returnUrl;
  const error = opts.error ? `<div class="error" id="error" role="alert">${escapeHtml(opts.error)}<br>${escapeHtml(t.tryAnother)}</div>` : "";
  return layout(
    `${t.pay} ${amount}`,
    opts.locale,
    `<div class="card">
<h1>${escapeHtml(opts.pi.description ?? t.amountDue)}</h1>
<div class="amount" id="amount">${escapeHtml(amount)}</div>
${error}
${cardForm(opts.action, opts.locale, hidden, opts.values, `${t.pay} ${amount}`)}
<p class="muted">PaymentIntent <code>${escapeHtml(opts.pi.id)}</code></p>
</div>
${testCardTable(opts.locale)}`,
  );
}

export function threeDsPage(opts: { pi: Stripe.PaymentIntent; action: string; locale: Locale }): string {
  const t = texts(opts.locale);
  return layout(
    t.authTitle,
    opts.locale,
    `<div class="card">
<h1>${escapeHtml(t.authTitle)}</h1>
<div class="amount">${escapeHtml(formatLocalizedAmount(opts.pi.amount, opts.pi.currency, opts.locale))}</div>
<p>${escapeHtml(t.authText)}</p>
<form method="post" action="${escapeHtml(opts.action)}"><input type="hidden" name="locale" value="${opts.locale}"><input type="hidden" name="outcome" value="complete"><button type="submit" id="complete">${escapeHtml(t.complete)}</button></form>
<form method="post" action="${escapeHtml(opts.action)}"><input type="hidden" name="locale" value="${opts.locale}"><input type="hidden" name="outcome" value="fail"><button type="submit" class="secondary" id="fail">${escapeHtml(t.fail)}</button></form>
</div>`,
  );
}

export function checkoutPage(opts: { session: Stripe.Checkout.Session; lineItems: Stripe.LineItem[]; action: string; locale: Locale; error?: string; values?: CardFormValues }): string {
  const t = texts(opts.locale);
  const s = opts.session;
  const currency = s.currency ?? "eur";
  const total = s.mode === "setup" ? (opts.locale === "fr" ? "Carte enregistrée pour plus tard, aucun débit maintenant" : "Card saved for later, nothing charged now") : formatLocalizedAmount(s.amount_total ?? 0, currency, opts.locale);
  const rows = opts.lineItems
    .map((li) => `<tr><td>${escapeHtml(li.description ?? "")} × ${li.quantity ?? 1}</td><td class="r">${escapeHtml(formatLocalizedAmount(li.amount_total, currency, opts.locale))}</td></tr>`)
    .join("");
  const error = opts.error ? `<div class="error" id="error" role="alert">${escapeHtml(opts.error)}<br>${escapeHtml(t.tryAnother)}</div>` : "";
  const cancel = s.cancel_url ? `<p><a href="${escapeHtml(`/emulator/checkout/${s.id}/cancel`)}" id="cancel">${escapeHtml(t.cancel)}</a></p>` : "";
  return layout(
    t.checkoutTitle,
    opts.locale,
    `<div class="card">
<h1>${escapeHtml(t.checkoutTitle)}</h1>
<table>${rows}<tr><td><b>${escapeHtml(t.total)}</b></td><td class="r"><b id="amount">${escapeHtml(total)}</b></td></tr></table>
</div>
<div class="card">
${error}
${cardForm(opts.action, opts.locale, { locale: opts.locale }, opts.values, `${t.pay} ${total}`)}
${cancel}
<p class="muted">Checkout Session <code>${escapeHtml(s.id)}</code></p>
</div>
${testCardTable(opts.locale)}`,
  );
}

export function messagePage(title: string, message: string, locale: Locale, link?: { href: string; text: string }): string {
  const a = link ? `<p><a href="${escapeHtml(link.href)}" id="continue">${escapeHtml(link.text)}</a></p>` : "";
  return layout(title, locale, `<div class="card"><h1>${escapeHtml(title)}</h1><p id="message">${escapeHtml(message)}</p>${a}</div>`);
}

export function indexPage(baseUrl: string, webhookUrl: string | null): string {
  return layout(
    "SysPark Stripe test emulator",
    "en",
    `<div class="card"><h1>SysPark — Stripe TEST EMULATOR</h1>
<p>This server imitates the part of the Stripe API that SysPark uses, for tests and offline demos. It is <b>not Stripe</b>: no money moves, only <code>sk_test_</code> keys are accepted, live keys are refused.</p>
<p>Point the <code>stripe</code> client at it:</p>
<pre><code>new Stripe("sk_test_…", { host: "${escapeHtml(new URL(baseUrl).hostname)}", port: ${escapeHtml(new URL(baseUrl).port || "80")}, protocol: "http" })</code></pre>
<p>Webhook endpoint: <code>${escapeHtml(webhookUrl ?? "(none configured)")}</code></p>
<p>Card page for a PaymentIntent: <code>GET /emulator/pay/&lt;client_secret&gt;?return_url=…</code></p>
</div>
${testCardTable("en")}`,
  );
}
