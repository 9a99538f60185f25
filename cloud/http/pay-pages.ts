/**
 * The drivers' pages (a phone, from the pay link the lane shows): `GET /pay/:sessionId` (quote and
 * the way to pay), `POST /pay/:sessionId/start` and `/checkout` (to the card page: the emulator's,
 * Stripe Elements', or Stripe Checkout), `GET /pay/:sessionId/return` (back from paying); and
 * their JSON twin `GET /api/pay/:sessionId`, `POST /api/pay/:sessionId/intent` (kiosks, tests,
 * the benchmark). The pay token in the query is the only key; the amount comes from the server's
 * quote, never from the browser, and only the webhook or a server-side retrieve marks it paid.
 * `POST /pay/:sessionId/validate` applies a merchant's validation code (issue 18) and prices the
 * exit again: the page then shows the lower amount under a fresh pay link.
 */
import express, { type Request, type Response, type Router } from "express";
import { z } from "zod";
import { listPayments, type SessionRow } from "../db/index";
import { HttpError } from "../flows/errors";
import { PROVIDER_MISSING } from "../flows/payments";
import { localizedQuoteLines } from "../flows/quote-labels";
import type { StoredQuote } from "../flows/site-events";
import type { AppDeps } from "./deps";
import { formBody, parse, wrap } from "./input";
import { esc, messagePage, payPage, pickLang, texts, type Lang } from "./pages";
import { successPage, successViewOf } from "./pay-success";
import { whoAndWhere } from "../flows/driver-view";
import { REFUSAL_TEXT, validateAndReprice } from "../flows/validations";
import { validationCodeFromQr } from "../../contracts/ticket";
import { flowContextOf } from "./merchants";

const PayQuery = z.object({ t: z.string().min(1).max(128), lang: z.enum(["fr", "en"]).optional() });

/** The quote's lines in the page's language (labels stored per language at pricing). */
function quoteLines(s: SessionRow, lang: Lang): { label: string; amount: number }[] {
  return localizedQuoteLines(s.quoteBreakdown, lang);
}

type PayDeps = Pick<AppDeps, "db" | "logger" | "payments" | "stripeMode" | "publishableKey" | "publicBaseUrl" | "emulatorPayUrl" | "retrieveOnReturn" | "outage" | "src" | "wake" | "auditMode" | "billingEnabled">;

/** The pay page's validation-code form (its texts here: the page's own are cloud/http/pages.ts's). */
const VT = {
  fr: { title: "Code de validation", hint: "Un commerçant vous a remis un code ? Il réduit le montant.", label: "Code", apply: "Appliquer", bad: "code : un code de validation a 6 à 32 lettres et chiffres", applied: "Validation appliquée" },
  en: { title: "Validation code", hint: "Did a merchant give you a code? It lowers the amount.", label: "Code", apply: "Apply", bad: "code: a validation code is 6 to 32 letters and digits", applied: "Validation applied" },
} as const;
const ValidateForm = z.object({ code: z.string().max(64).optional() });

function validationForm(sessionId: string, token: string, lang: Lang, v: { error?: string; code?: string }): string {
  const t = VT[lang];
  const q = `t=${encodeURIComponent(token)}&lang=${lang}`;
  return `<div class="card" id="validation"><h2>${esc(t.title)}</h2><p class="muted">${esc(t.hint)}</p>
${v.error ? `<p class="err" id="validation-error" role="alert">${esc(v.error)}</p>` : ""}
<form method="post" action="/pay/${esc(sessionId)}/validate?${esc(q)}"><label for="code">${esc(t.label)}</label><input id="code" name="code" autocomplete="off" autocapitalize="characters" maxlength="64" value="${esc(v.code ?? "")}" required>
<button class="btn alt" id="apply-code" type="submit">${esc(t.apply)}</button></form></div>
`;
}

function payLink(d: PayDeps, sessionId: string, token: string, lang: Lang, sub = ""): string {
  return `${d.publicBaseUrl()}/pay/${encodeURIComponent(sessionId)}${sub}?t=${encodeURIComponent(token)}&lang=${lang}`;
}

/** The session a pay link names, or the "not found" page already sent (undefined). */
async function sessionOrPage(d: PayDeps, req: Request, res: Response): Promise<{ session: SessionRow; token: string; lang: Lang } | undefined> {
  const lang = pickLang(req.query.lang, req.headers["accept-language"]);
  const q = PayQuery.safeParse(req.query);
  const sessionId = String(req.params.sessionId);
  try {
    if (!q.success) throw new HttpError(404, "no token");
    const session = await d.payments.sessionForToken(sessionId, q.data.t);
    return { session, token: q.data.t, lang };
  } catch (err) {
    if (err instanceof HttpError && err.status === 404) {
      res.status(404).type("html").send(messagePage(lang, "notFound"));
      return undefined;
    }
    throw err;
  }
}

/**
 * Paid, or closed after paying (or with nothing due): the success page, for as long as the pay
 * link is valid — reopening it after the exit shows what was paid, never "Nothing to pay".
 */
async function sendSuccess(d: PayDeps, res: Response, session: SessionRow, token: string, lang: Lang): Promise<boolean> {
  if (session.status !== "paid" && session.status !== "closed") return false;
  const view = await successViewOf(d.db.sql, session, token, lang);
  // Closed without any payment while money was due (an operator override): not a success.
  if (view.amount === 0 && (session.amount ?? 0) > 0) return false;
  res.setHeader("Cache-Control", "no-store");
  res.type("html").send(successPage(view));
  return true;
}

/** The pay page for a session, or the page saying there is nothing (more) to pay. */
async function renderPay(d: PayDeps, res: Response, session: SessionRow, token: string, lang: Lang, error?: string, validation: { error?: string; code?: string; status?: number } = {}): Promise<void> {
  if (await sendSuccess(d, res, session, token, lang)) return;
  if (session.status === "closed" || session.status === "flagged") {
    res.type("html").send(messagePage(lang, "closed"));
    return;
  }
  if (session.status !== "pending_payment" || session.amount === null || session.currency === null) {
    res.type("html").send(messagePage(lang, "nothing"));
    return;
  }
  const where = await whoAndWhere(d.db.sql, session);
  const q = session.quoteBreakdown as unknown as StoredQuote | null;
  let lastError = error;
  if (!lastError) {
    const pays = await listPayments(d.db.sql, session.sessionId);
    const last = pays[pays.length - 1];
    // An attempt the provider lost is not the driver's failure: nothing to tell them.
    if (last && (last.state === "failed" || last.state === "canceled") && !(last.failureReason ?? "").startsWith(PROVIDER_MISSING)) lastError = `${texts(lang).failedTitle} — ${last.failureReason ?? last.state}`;
  }
  let element: { publishableKey: string; clientSecret: string; returnUrl: string } | undefined;
  if (d.stripeMode !== "emulator" && d.publishableKey) {
    const { pi } = await d.outage.guard(session, "pay_page", () => d.payments.intentFor(session));
    element = { publishableKey: d.publishableKey, clientSecret: pi.client_secret as string, returnUrl: payLink(d, session.sessionId, token, lang, "/return") };
  }
  res.setHeader("Cache-Control", "no-store");
  const page = payPage({
      lang,
      sessionId: session.sessionId,
      token,
      amount: session.amount,
      currency: session.currency,
      durationS: q?.price?.duration_s ?? Math.round(((session.pricedAt ?? new Date()).getTime() - session.entryTs.getTime()) / 1000),
      entryTs: session.entryTs,
      timeZone: where.timeZone,
      lines: quoteLines(session, lang),
      identity: where.identity,
      siteName: where.siteName,
      lane: where.lane,
      stripeMode: d.stripeMode,
      ...(element ? { element } : {}),
      ...(lastError ? { error: lastError } : {}),
    });
  // The validation form goes between the payment card and the details (payPage has no slot for it).
  const marker = '<details class="card" open>';
  res.status(validation.status ?? 200).type("html").send(page.replace(marker, validationForm(session.sessionId, token, lang, validation) + marker));
}

/** POST /pay/:sessionId/validate: a validation code (typed, or the QR's SPV1.<code>), applied once, then the new amount. */
async function applyCode(d: PayDeps, req: Request, res: Response): Promise<void> {
  const s = await sessionOrPage(d, req, res);
  if (!s) return;
  const raw = ValidateForm.safeParse(req.body ?? {});
  const typed = raw.success ? (raw.data.code ?? "").trim() : "";
  const code = validationCodeFromQr(typed) ?? typed.toUpperCase().replace(/[\s-]/g, "");
  if (!/^[A-Z0-9]{6,32}$/.test(code)) {
    await renderPay(d, res, s.session, s.token, s.lang, undefined, { error: VT[s.lang].bad, code: typed.slice(0, 64), status: 400 });
    return;
  }
  if (s.session.status !== "pending_payment") {
    await renderPay(d, res, s.session, s.token, s.lang);
    return;
  }
  const r = await validateAndReprice(flowContextOf(d), { siteId: s.session.siteId, sessionId: s.session.sessionId, code, via: "pay_page" });
  if (!r.outcome.ok) {
    const session = await d.payments.sessionForToken(s.session.sessionId, s.token);
    await renderPay(d, res, session, s.token, s.lang, undefined, { error: `code: ${REFUSAL_TEXT[r.outcome.reason][s.lang]} — ${r.outcome.message}`, code, status: 409 });
    return;
  }
  if (r.payUrl) {
    const next = new URL(r.payUrl);
    res.redirect(303, payLink(d, s.session.sessionId, next.searchParams.get("t") ?? "", s.lang));
    return;
  }
  // Nothing left to pay (or not asked at a lane yet): the stay is settled, the old link's token with it.
  res.type("html").send(messagePage(s.lang, r.priced === "zero_fee" ? "paid" : "nothing"));
}

/**
 * Back from paying (`GET /pay/:sessionId/return`): a server-side retrieve of the PaymentIntent or
 * Checkout Session the redirect names, then the page for where the payment stands.
 */
async function returnPage(d: PayDeps, req: Request, res: Response): Promise<void> {
  const s = await sessionOrPage(d, req, res);
  if (!s) return;
  res.setHeader("Cache-Control", "no-store");
  const ref = typeof req.query.payment_intent === "string" ? req.query.payment_intent : typeof req.query.checkout_session === "string" ? req.query.checkout_session : undefined;
  const retry = payLink(d, s.session.sessionId, s.token, s.lang);
  let session = s.session;
  if (ref && /^(pi|cs)_[A-Za-z0-9_]{1,200}$/.test(ref) && session.status === "pending_payment") {
    if (d.retrieveOnReturn) {
      try {
        await d.payments.confirmByRetrieve(session, ref);
      } catch (err) {
        d.logger.warn({ reqId: req.requestId, err: (err as Error).message }, "return page: server-side retrieve failed");
      }
    }
    session = await d.payments.sessionForToken(session.sessionId, s.token);
  }
  if (await sendSuccess(d, res, session, s.token, s.lang)) return;
  const pays = await listPayments(d.db.sql, session.sessionId);
  const mine = ref ? pays.find((p) => p.providerRef === ref) : pays[pays.length - 1];
  // The redirect's query string is never proof of payment; it only chooses between "still
  // being verified" (refresh until the webhook lands) and "failed" for the page shown.
  if (req.query.redirect_status === "succeeded" || req.query.redirect_status === "processing") {
    res.type("html").send(messagePage(s.lang, "processing", { refreshS: 2 }));
    return;
  }
  if (mine && mine.state === "failed" && (mine.failureReason ?? "").startsWith(PROVIDER_MISSING)) {
    // The provider lost that attempt (nothing was charged): straight back to the pay page.
    res.redirect(303, retry);
    return;
  }
  if (mine && (mine.state === "failed" || mine.state === "canceled")) {
    res.status(402).type("html").send(messagePage(s.lang, mine.state === "canceled" ? "canceled" : "failed", { retryHref: retry, reason: mine.failureReason ?? undefined }));
    return;
  }
  if (mine && req.query.redirect_status === "failed") {
    res.status(402).type("html").send(messagePage(s.lang, "failed", { retryHref: retry }));
    return;
  }
  // Not validated yet (webhook on its way): refresh.
  res.type("html").send(messagePage(s.lang, "processing", { refreshS: 2, retryHref: retry }));
}

/**
 * The pay page's buttons: off to the card page (`card`: the emulator's card page, or with real
 * Stripe without a publishable key the hosted Checkout page) or to the hosted Checkout page
 * (`checkout`). A session no longer waiting for its payment gets the pay page again.
 */
async function startPayment(d: PayDeps, req: Request, res: Response, via: "card" | "checkout"): Promise<void> {
  const s = await sessionOrPage(d, req, res);
  if (!s) return;
  if (s.session.status !== "pending_payment") {
    await renderPay(d, res, s.session, s.token, s.lang);
    return;
  }
  const returnUrl = payLink(d, s.session.sessionId, s.token, s.lang, "/return");
  if (via === "card" && d.stripeMode === "emulator" && d.emulatorPayUrl) {
    const { pi } = await d.outage.guard(s.session, "intent", () => d.payments.intentFor(s.session));
    res.redirect(303, d.emulatorPayUrl(pi.client_secret as string, returnUrl, s.lang));
    return;
  }
  const url = await d.outage.guard(s.session, "checkout", () => d.payments.checkoutFor(s.session, { success: `${returnUrl}&checkout_session={CHECKOUT_SESSION_ID}`, cancel: `${payLink(d, s.session.sessionId, s.token, s.lang)}&canceled=1` }, s.lang));
  res.redirect(303, url);
}

export function payPagesRouter(d: PayDeps): Router {
  const router = express.Router();
  const form = formBody();

  router.get(
    "/pay/:sessionId",
    wrap(async (req, res) => {
      const s = await sessionOrPage(d, req, res);
      if (!s) return;
      await renderPay(d, res, s.session, s.token, s.lang, req.query.canceled === "1" ? texts(s.lang).canceledText : undefined);
    }),
  );

  router.post("/pay/:sessionId/start", form, wrap((req, res) => startPayment(d, req, res, "card")));
  router.post("/pay/:sessionId/checkout", form, wrap((req, res) => startPayment(d, req, res, "checkout")));
  router.post("/pay/:sessionId/validate", form, wrap((req, res) => applyCode(d, req, res)));

  router.get("/pay/:sessionId/return", wrap((req, res) => returnPage(d, req, res)));

  // JSON twin of the page (kiosks, tests, the benchmark): quote, and the PaymentIntent to confirm.
  router.get(
    "/api/pay/:sessionId",
    wrap(async (req, res) => {
      const q = parse(PayQuery, req.query, "query");
      const s = await d.payments.sessionForToken(String(req.params.sessionId), q.t);
      const pays = await listPayments(d.db.sql, s.sessionId);
      const lang = pickLang(q.lang, req.headers["accept-language"]);
      const view = s.status === "paid" || s.status === "closed" ? await successViewOf(d.db.sql, s, q.t, lang) : null;
      const receipt = view?.receipt ?? null;
      res.json({ session_id: s.sessionId, status: s.status, amount: s.amount, currency: s.currency, entry_ts: s.entryTs, priced_at: s.pricedAt, breakdown: quoteLines(s, lang), payments: pays.map((p) => ({ state: p.state, provider_ref: p.providerRef, failure_reason: p.failureReason })), receipt: receipt ? { status: "issued", number: receipt.number, html_url: receipt.htmlHref, pdf_url: receipt.pdfHref } : view?.receiptPending ? { status: "pending" } : null });
    }),
  );
  router.post(
    "/api/pay/:sessionId/intent",
    wrap(async (req, res) => {
      const q = parse(PayQuery, req.query, "query");
      const s = await d.payments.sessionForToken(String(req.params.sessionId), q.t);
      const { pi, payment } = await d.outage.guard(s, "api_intent", () => d.payments.intentFor(s));
      res.json({ payment_intent: pi.id, client_secret: pi.client_secret, amount: payment.amount, currency: payment.currency });
    }),
  );
  return router;
}
