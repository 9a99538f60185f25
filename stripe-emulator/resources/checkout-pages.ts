/**
 * The hosted Checkout page of a Checkout Session (/emulator/checkout/<cs>, its /return after
 * 3-D Secure and its /cancel link): what Stripe Checkout shows the driver.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type Stripe from "stripe";
import { localeOf, pageForm, parseCardForm, redirect, sendHtml, type HttpEnv } from "../http";
import { checkoutPage, localizedDecline, messagePage, type CardFormValues } from "../pages";
import { checkoutLineItems, checkoutSession, payCheckoutSession, setUpCheckoutSession } from "./checkout-sessions";
import { paySubscriptionCheckout } from "./subscription-checkout";

export async function handleCheckoutPage({ state, now, log, commit }: HttpEnv, req: IncomingMessage, res: ServerResponse, url: URL, sessionId: string, sub: string | undefined): Promise<void> {
  const form = await pageForm(req, url);
  const locale = localeOf(req, form.get("locale") ?? url.searchParams.get("locale"));
  let s: Stripe.Checkout.Session;
  try {
    s = checkoutSession(state, sessionId);
  } catch {
    sendHtml(res, 404, messagePage("Not found", "No such Checkout Session.", locale));
    return;
  }
  const successUrl = (s.success_url ?? "").replace(/\{CHECKOUT_SESSION_ID\}/g, s.id);
  const action = `/emulator/checkout/${s.id}`;
  const render = (status: number, error?: string, values?: CardFormValues) =>
    sendHtml(res, status, checkoutPage({ session: s, lineItems: checkoutLineItems(state, s.id), action, locale, error, values }));
  if (sub === "cancel") {
    if (s.cancel_url) redirect(res, s.cancel_url.replace(/\{CHECKOUT_SESSION_ID\}/g, s.id));
    else render(200);
    return;
  }
  if (s.status === "complete") {
    redirect(res, successUrl);
    return;
  }
  if (s.status === "expired") {
    sendHtml(res, 410, messagePage("Expired", "This Checkout Session has expired.", locale));
    return;
  }
  if (sub === "return") {
    // Back from the 3-D Secure page with the session still open: the authentication failed.
    const pi = typeof s.payment_intent === "string" ? state.paymentIntent(s.payment_intent) : null;
    const seti = typeof s.setup_intent === "string" ? state.setupIntents.get(s.setup_intent)?.si : undefined;
    const err = pi?.last_payment_error ?? seti?.last_setup_error;
    render(402, err ? localizedDecline(locale, err.code ?? "card_declined", err.decline_code, err.message ?? "") : undefined);
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
  if (s.mode === "subscription") {
    const sub = paySubscriptionCheckout(state, s.id, parsed.card);
    await commit();
    log.info({ checkoutSession: s.id, outcome: sub.kind }, "test emulator: subscription checkout page payment");
    if (sub.kind === "declined") render(402, localizedDecline(locale, sub.code, sub.declineCode, sub.message), { ...parsed.values, number: "" });
    else redirect(res, successUrl);
    return;
  }
  const outcome = s.mode === "setup" ? setUpCheckoutSession(state, s.id, parsed.card) : payCheckoutSession(state, s.id, parsed.card);
  await commit();
  log.info({ checkoutSession: s.id, outcome: outcome.kind }, "test emulator: checkout page payment");
  if (outcome.kind === "declined") {
    render(402, localizedDecline(locale, outcome.code, outcome.declineCode, outcome.message), { ...parsed.values, number: "" });
  } else if (outcome.kind === "requires_action") {
    const u = new URL(outcome.redirectUrl);
    u.searchParams.set("locale", locale);
    redirect(res, u.pathname + u.search);
  } else {
    redirect(res, successUrl);
  }
}
