/**
 * The emulator's own pages for a PaymentIntent (what Stripe.js and the Payment Element do in a
 * browser): the card page (/emulator/pay/<client_secret>) and the 3-D Secure page
 * (/emulator/3ds/<pi>). The contract is in docs/stripe-emulator.md.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type Stripe from "stripe";
import { localeOf, pageForm, parseCardForm, redirect, returnRedirect, sendHtml, httpUrl, type HttpEnv } from "../http";
import { localizedDecline, messagePage, payPage, texts, threeDsPage, type CardFormValues, type Locale } from "../pages";
import type { PayOutcome } from "../state";
import { paymentIntentByClientSecret, returnUrlOf } from "./payment-intents";
import { authenticate, payWithCard } from "./payment-intents-confirm";

/** After a page-driven payment step: redirect (Stripe.js style) or show the outcome. */
function afterPayment(res: ServerResponse, outcome: PayOutcome, returnUrl: string | null, locale: Locale, rerender: (error: string) => void): void {
  if (outcome.kind === "declined") {
    rerender(localizedDecline(locale, outcome.code, outcome.declineCode, outcome.message));
    return;
  }
  if (outcome.kind === "requires_action") {
    const u = new URL(outcome.redirectUrl);
    u.searchParams.set("locale", locale);
    redirect(res, u.pathname + u.search);
    return;
  }
  if (returnUrl) {
    redirect(res, returnRedirect(returnUrl, outcome.paymentIntent));
    return;
  }
  sendHtml(res, 200, messagePage(texts(locale).done, texts(locale).done, locale));
}

/** The card page: GET shows the form, POST pays with the card typed. */
export async function handlePayPage({ state, now, log, commit }: HttpEnv, req: IncomingMessage, res: ServerResponse, url: URL, clientSecret: string): Promise<void> {
  const pi = paymentIntentByClientSecret(state, clientSecret);
  const form = await pageForm(req, url);
  const locale = localeOf(req, form.get("locale") ?? url.searchParams.get("locale"));
  const t = texts(locale);
  if (!pi) {
    sendHtml(res, 404, messagePage("Not found", "No PaymentIntent has this client secret.", locale));
    return;
  }
  const rawReturn = form.get("return_url") ?? url.searchParams.get("return_url");
  const returnUrl = httpUrl(rawReturn) ?? returnUrlOf(state, pi.id);
  if (rawReturn && !httpUrl(rawReturn)) {
    sendHtml(res, 400, messagePage("Bad return_url", "return_url must be an absolute http(s) URL.", locale));
    return;
  }
  const action = `/emulator/pay/${encodeURIComponent(clientSecret)}`;
  const render = (status: number, error?: string, values?: CardFormValues) => sendHtml(res, status, payPage({ pi: state.paymentIntent(pi.id), action, returnUrl, locale, error, values }));
  if (pi.status === "requires_action") {
    const next = pi.next_action as unknown as { redirect_to_url?: { url: string }; use_stripe_sdk?: { stripe_js: string } };
    const target = new URL(next.redirect_to_url?.url ?? next.use_stripe_sdk?.stripe_js ?? "/", "http://x");
    target.searchParams.set("locale", locale);
    redirect(res, target.pathname + target.search);
    return;
  }
  if (pi.status !== "requires_payment_method" && pi.status !== "requires_confirmation") {
    if (pi.status !== "canceled" && returnUrl && req.method === "GET") {
      redirect(res, returnRedirect(returnUrl, pi));
      return;
    }
    const msg = pi.status === "canceled" ? t.canceled : pi.status === "processing" ? t.processing : t.paid;
    sendHtml(res, pi.status === "canceled" ? 410 : 409, messagePage(msg, msg, locale, returnUrl ? { href: returnRedirect(returnUrl, pi), text: t.back } : undefined));
    return;
  }
  if (req.method === "GET") {
    render(200);
    return;
  }
  const parsed = parseCardForm(form, now());
  if ("error" in parsed) {
    render(400, parsed.error, parsed.values);
    return;
  }
  const outcome = payWithCard(state, pi.id, parsed.card, returnUrl);
  await commit();
  log.info({ paymentIntent: pi.id, outcome: outcome.kind }, "test emulator: card page payment");
  afterPayment(res, outcome, returnUrl, locale, (error) => render(402, error, { ...parsed.values, number: "" }));
}

/** The 3-D Secure page: complete or fail the authentication a card asked for. */
export async function handleThreeDsPage({ state, log, commit }: HttpEnv, req: IncomingMessage, res: ServerResponse, url: URL, piId: string): Promise<void> {
  const form = await pageForm(req, url);
  const locale = localeOf(req, form.get("locale") ?? url.searchParams.get("locale"));
  let pi: Stripe.PaymentIntent;
  try {
    pi = state.paymentIntent(piId);
  } catch {
    sendHtml(res, 404, messagePage("Not found", "No such PaymentIntent.", locale));
    return;
  }
  if (url.searchParams.get("client_secret") !== pi.client_secret) {
    sendHtml(res, 404, messagePage("Not found", "No such PaymentIntent (wrong client secret).", locale));
    return;
  }
  const returnUrl = returnUrlOf(state, pi.id);
  if (pi.status !== "requires_action") {
    if (returnUrl) redirect(res, returnRedirect(returnUrl, pi));
    else sendHtml(res, 409, messagePage("Nothing to authenticate", `This PaymentIntent has a status of ${pi.status}.`, locale));
    return;
  }
  const action = `/emulator/3ds/${pi.id}?client_secret=${encodeURIComponent(pi.client_secret as string)}`;
  if (req.method === "GET") {
    sendHtml(res, 200, threeDsPage({ pi, action, locale }));
    return;
  }
  const outcome = authenticate(state, pi.id, form.get("outcome") === "complete");
  await commit();
  log.info({ paymentIntent: pi.id, outcome: outcome.kind }, "test emulator: 3-D Secure page");
  if (returnUrl) {
    redirect(res, returnRedirect(returnUrl, outcome.paymentIntent));
    return;
  }
  const msg = outcome.kind === "declined" ? localizedDecline(locale, outcome.code, outcome.declineCode, outcome.message) : texts(locale).done;
  sendHtml(res, outcome.kind === "declined" ? 402 : 200, messagePage(msg, msg, locale));
}
