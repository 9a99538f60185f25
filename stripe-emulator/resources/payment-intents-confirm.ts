/**
 * Confirming a card PaymentIntent: the attempt and its outcomes, as Stripe documents them
 * (https://docs.stripe.com/payments/paymentintents/lifecycle):
 *
 *   requires_payment_method ──(payment_method)──▶ requires_confirmation ──confirm──▶
 *     ├─ card needs 3-D Secure ─▶ requires_action ─(authenticated)─▶ …succeeds below
 *     │                                           └(failed)─▶ requires_payment_method + last_payment_error
 *     ├─ card declined ─▶ requires_payment_method + last_payment_error (402 card_error)
 *     └─ card succeeds ─▶ [processing, only if processingMs > 0] ─▶ succeeded
 *                                                            (requires_capture with capture_method=manual → capture → succeeded)
 *
 * Shared by the API (confirm) and the emulator's pages (card page, 3-D Secure page).
 */
import type Stripe from "stripe";
import { luhnValid, type CardOutcome } from "../cards";
import { requestError, StripeApiError, unexpectedState, type StripeErrorBody } from "../errors";
import { clone } from "../ids";
import type { PaymentIntentConfirm } from "../params";
import { PAGE_CONTEXT, type CardInput, type EmulatorState, type PaymentIntentRecord, type PaymentMethodRecord, type PayOutcome, type RequestContext } from "../state";
import { newCharge } from "./charges";
import { completeSession } from "./checkout-completion";
import { attachPaymentMethod } from "./customers";
import { createCardPaymentMethod, resolvePaymentMethodId } from "./payment-methods";

type Attempt = { kind: "ok" } | { kind: "declined"; error: StripeApiError };

/**
 * Stripe refuses a server-side confirmation without return_url when automatic payment methods
 * may redirect (the default for a PaymentIntent created without payment_method_types).
 */
export function checkReturnUrl(automatic: Stripe.PaymentIntent.AutomaticPaymentMethods | null, returnUrl: string | null, checkoutSession: string | null): void {
  if (automatic?.enabled && automatic.allow_redirects !== "never" && !returnUrl && checkoutSession === null) {
    throw requestError(
      "parameter_missing",
      "This PaymentIntent is configured to accept payment methods enabled in your Dashboard, some of which may require a full page redirect to succeed. Provide a `return_url` when confirming, or create the PaymentIntent with `payment_method_types[]=card` or `automatic_payment_methods[allow_redirects]=never`.",
      { param: "return_url" },
    );
  }
}

/** POST /v1/payment_intents/:id/confirm. A decline throws a 402 card_error that carries the intent. */
export function confirm(s: EmulatorState, id: string, p: PaymentIntentConfirm, ctx: RequestContext): Stripe.PaymentIntent {
  const rec = s.piRecord(id);
  const pi = rec.pi;
  if (pi.status !== "requires_payment_method" && pi.status !== "requires_confirmation") {
    throw unexpectedState(
      `You cannot confirm this PaymentIntent because it has a status of ${pi.status}. Only a PaymentIntent with one of the following statuses may be confirmed: requires_confirmation, requires_payment_method.`,
      clone(pi),
    );
  }
  const pmId = p.payment_method !== undefined ? resolvePaymentMethodId(s, p.payment_method, "payment_method") : pi.payment_method;
  if (typeof pmId !== "string") {
    throw unexpectedState(
      "You cannot confirm this PaymentIntent because it's missing a payment method. You can either update the PaymentIntent with a payment method and then confirm it again, or confirm it again directly with a payment method.",
      clone(pi),
    );
  }
  checkReturnUrl(pi.automatic_payment_methods, p.return_url ?? rec.returnUrl, rec.checkoutSession);
  if (p.capture_method !== undefined) pi.capture_method = p.capture_method;
  if (p.receipt_email !== undefined) pi.receipt_email = p.receipt_email === "" ? null : p.receipt_email;
  if (p.return_url !== undefined) rec.returnUrl = p.return_url;
  if (p.setup_future_usage !== undefined) pi.setup_future_usage = p.setup_future_usage;
  checkSavedCardOwner(s, pi, pmId);
  rec.offSession = p.off_session === true;
  if (pi.payment_method !== pmId) rec.authenticatedPm = null;
  pi.payment_method = pmId;
  pi.status = "requires_confirmation";
  const outcome = attempt(s, rec, p.error_on_requires_action === true, ctx);
  if (outcome.kind === "declined") throw outcome.error;
  return clone(pi);
}

/** Run the card: the core of confirm, shared by the API and the emulator's pages. */
function attempt(s: EmulatorState, rec: PaymentIntentRecord, errorOnRequiresAction: boolean, ctx: RequestContext): Attempt {
  const pi = rec.pi;
  const pmRec = s.paymentMethods.get(pi.payment_method as string) as PaymentMethodRecord;
  const outcome = pmRec.outcome;
  pi.last_payment_error = null;
  // Off-session, a card set up for future use is exempt from 3-D Secure unless it asks every time (3184).
  const exempt = rec.offSession === true && outcome.kind === "authenticate" && outcome.always !== true && pmRec.setUp === true;
  if (outcome.kind === "authenticate" && rec.authenticatedPm !== pmRec.pm.id && !exempt) {
    if (errorOnRequiresAction || rec.offSession === true) {
      return decline(s, rec, pmRec, { kind: "decline", code: "authentication_required", declineCode: "authentication_required", message: "Your card was declined. This transaction requires authentication." }, ctx);
    }
    const url = `${s.opts.publicBaseUrl()}/emulator/3ds/${pi.id}?client_secret=${encodeURIComponent(pi.client_secret as string)}`;
    pi.status = "requires_action";
    pi.next_action = rec.returnUrl
      ? { type: "redirect_to_url", redirect_to_url: { url, return_url: rec.returnUrl } }
      : ({ type: "use_stripe_sdk", use_stripe_sdk: { type: "three_d_secure_redirect", stripe_js: url, source: pmRec.pm.id } } as unknown as Stripe.PaymentIntent.NextAction);
    s.emit("payment_intent.requires_action", pi, pi.id, ctx);
    return { kind: "ok" };
  }
  if (outcome.kind === "decline") return decline(s, rec, pmRec, outcome, ctx);
  if (s.opts.processingMs > 0) {
    pi.status = "processing";
    pi.next_action = null;
    pi.processing = { type: "card", card: { customer_notification: undefined } } as unknown as Stripe.PaymentIntent.Processing;
    s.emit("payment_intent.processing", pi, pi.id, ctx);
    s.later(s.opts.processingMs, () => {
      if (pi.status === "processing") succeed(s, rec, pmRec, PAGE_CONTEXT);
    });
    return { kind: "ok" };
  }
  succeed(s, rec, pmRec, ctx);
  return { kind: "ok" };
}

function decline(s: EmulatorState, rec: PaymentIntentRecord, pmRec: PaymentMethodRecord, outcome: Extract<CardOutcome, { kind: "decline" }>, ctx: RequestContext): Attempt {
  const pi = rec.pi;
  const charge = newCharge(s, rec, pmRec, "failed", outcome);
  const error: StripeErrorBody = {
    type: "card_error",
    code: outcome.code,
    decline_code: outcome.declineCode,
    message: outcome.message,
    charge: charge.id,
    doc_url: `https://docs.stripe.com/error-codes/${outcome.code.replace(/_/g, "-")}`,
    payment_method: clone(pmRec.pm),
  };
  pi.last_payment_error = { ...error, payment_method: clone(pmRec.pm) } as unknown as Stripe.PaymentIntent.LastPaymentError;
  pi.latest_charge = charge.id;
  pi.payment_method = null;
  pi.next_action = null;
  pi.status = "requires_payment_method";
  s.emit("charge.failed", charge, pi.id, ctx);
  s.emit("payment_intent.payment_failed", pi, pi.id, ctx);
  return { kind: "declined", error: new StripeApiError(402, { ...error, payment_intent: clone(pi) }) };
}

function succeed(s: EmulatorState, rec: PaymentIntentRecord, pmRec: PaymentMethodRecord, ctx: RequestContext): void {
  const pi = rec.pi;
  const charge = newCharge(s, rec, pmRec, "succeeded", null);
  pi.latest_charge = charge.id;
  pi.next_action = null;
  pi.processing = null;
  s.emit("charge.succeeded", charge, pi.id, ctx);
  saveCardForLater(s, pi, pmRec, ctx);
  if (pi.capture_method === "manual") {
    pi.status = "requires_capture";
    pi.amount_capturable = pi.amount;
    s.emit("payment_intent.amount_capturable_updated", pi, pi.id, ctx);
  } else {
    pi.status = "succeeded";
    pi.amount_received = pi.amount;
    s.emit("payment_intent.succeeded", pi, pi.id, ctx);
  }
  if (rec.checkoutSession) completeSession(s, rec.checkoutSession, ctx);
}

/**
 * A PaymentIntent for a customer's saved card must name that customer (Stripe refuses a card
 * attached to someone else, and a detached one).
 */
function checkSavedCardOwner(s: EmulatorState, pi: Stripe.PaymentIntent, pmId: string): void {
  const pmRec = s.paymentMethods.get(pmId);
  if (!pmRec) return;
  if (pmRec.detached) throw requestError("payment_method_unexpected_state", `The PaymentMethod ${pmId} was previously detached from a Customer and cannot be used again.`, { param: "payment_method" });
  if (pmRec.pm.customer !== null && pmRec.pm.customer !== pi.customer) {
    throw requestError("payment_method_unexpected_state", `The provided PaymentMethod ${pmId} belongs to a Customer: pass that customer (customer=${String(pmRec.pm.customer)}) to use it.`, { param: "customer" });
  }
}

/**
 * setup_future_usage with a customer: the card is attached to the customer and set up, so a
 * later off-session payment with it needs no 3-D Secure where the card allows (Stripe's docs).
 */
function saveCardForLater(s: EmulatorState, pi: Stripe.PaymentIntent, pmRec: PaymentMethodRecord, ctx: RequestContext): void {
  if (pi.setup_future_usage === null || typeof pi.customer !== "string") return;
  pmRec.setUp = true;
  s.paymentMethods.set(pmRec.pm.id, pmRec);
  if (pmRec.pm.customer === null) attachPaymentMethod(s, pmRec.pm.id, pi.customer, ctx);
}

/**
 * After a restart (the snapshot restored): a payment left in `processing` finishes as it would
 * have, `processingMs` later.
 */
export function resumeProcessing(s: EmulatorState): void {
  for (const rec of s.paymentIntents.values()) {
    const pmId = typeof rec.pi.payment_method === "string" ? rec.pi.payment_method : rec.pi.payment_method?.id;
    const pmRec = pmId ? s.paymentMethods.get(pmId) : undefined;
    if (rec.pi.status !== "processing" || !pmRec) continue;
    s.later(s.opts.processingMs, () => {
      if (rec.pi.status === "processing") succeed(s, rec, pmRec, PAGE_CONTEXT);
    });
  }
}

// ---------------------------------------------------------------- the emulator's pages


/**
 * Pay a PaymentIntent with a card typed on the emulator's page (what Stripe.js + the Payment
 * Element would do). Never throws for a decline: the page shows the message instead.
 */
export function payWithCard(s: EmulatorState, paymentIntentId: string, card: CardInput, returnUrl: string | null): PayOutcome {
  const rec = s.piRecord(paymentIntentId);
  const pi = rec.pi;
  if (pi.status !== "requires_payment_method" && pi.status !== "requires_confirmation") {
    throw unexpectedState(`This PaymentIntent has a status of ${pi.status} and cannot be paid again.`, clone(pi));
  }
  if (!luhnValid(card.number)) {
    return { kind: "declined", paymentIntent: clone(pi), code: "incorrect_number", message: "Your card number is incorrect." };
  }
  const pmRec = createCardPaymentMethod(s, card);
  if (returnUrl !== null) rec.returnUrl = returnUrl;
  pi.payment_method = pmRec.pm.id;
  rec.authenticatedPm = null;
  pi.status = "requires_confirmation";
  const result = attempt(s, rec, false, PAGE_CONTEXT);
  if (result.kind === "declined") {
    return { kind: "declined", paymentIntent: clone(pi), code: result.error.body.code ?? "card_declined", declineCode: result.error.body.decline_code, message: result.error.body.message };
  }
  return outcomeOf(rec);
}

function outcomeOf(rec: PaymentIntentRecord): PayOutcome {
  const pi = clone(rec.pi);
  if (pi.status === "requires_action") {
    const next = pi.next_action as unknown as { redirect_to_url?: { url: string }; use_stripe_sdk?: { stripe_js: string } };
    return { kind: "requires_action", paymentIntent: pi, redirectUrl: next.redirect_to_url?.url ?? next.use_stripe_sdk?.stripe_js ?? "" };
  }
  if (pi.status === "succeeded") return { kind: "succeeded", paymentIntent: pi };
  if (pi.status === "processing") return { kind: "processing", paymentIntent: pi };
  if (pi.status === "requires_capture") return { kind: "requires_capture", paymentIntent: pi };
  const err = pi.last_payment_error;
  return { kind: "declined", paymentIntent: pi, code: err?.code ?? "card_declined", declineCode: err?.decline_code, message: err?.message ?? "Payment failed." };
}

/** The emulator's 3-D Secure page: complete (the payment proceeds) or fail authentication. */
export function authenticate(s: EmulatorState, paymentIntentId: string, success: boolean): PayOutcome {
  const rec = s.piRecord(paymentIntentId);
  const pi = rec.pi;
  if (pi.status !== "requires_action") {
    throw unexpectedState(`This PaymentIntent has a status of ${pi.status}: there is no authentication to complete.`, clone(pi));
  }
  const pmRec = s.paymentMethods.get(pi.payment_method as string) as PaymentMethodRecord;
  if (success) {
    rec.authenticatedPm = pmRec.pm.id;
    attempt(s, rec, false, PAGE_CONTEXT);
  } else {
    pi.last_payment_error = {
      type: "invalid_request_error",
      code: "payment_intent_authentication_failure",
      message: "The provided PaymentMethod has failed authentication. You can provide payment_method_data or a new PaymentMethod to attempt to fulfill this PaymentIntent again.",
      doc_url: "https://docs.stripe.com/error-codes/payment-intent-authentication-failure",
      payment_method: clone(pmRec.pm),
    } as Stripe.PaymentIntent.LastPaymentError;
    pi.payment_method = null;
    pi.next_action = null;
    pi.status = "requires_payment_method";
    s.emit("payment_intent.payment_failed", pi, pi.id, PAGE_CONTEXT);
  }
  return outcomeOf(rec);
}
