/**
 * PaymentIntents (https://docs.stripe.com/api/payment_intents): create, retrieve, update, list,
 * cancel and capture, and their routes; confirming one is payment-intents-confirm.ts.
 *
 *   cancel: from requires_payment_method | requires_confirmation | requires_action | requires_capture | processing → canceled
 *   capture (capture_method=manual): requires_capture → succeeded
 *
 * Every state change records an Event (what Stripe would send to a webhook endpoint).
 */
import type Stripe from "stripe";
import { notFound, paramError, requestError, unexpectedState } from "../errors";
import { clone, newId, randomToken } from "../ids";
import { checkAmount, formatAmount } from "../money";
import * as P from "../params";
import { applyMetadata, type MetadataParam, type PaymentIntentCreate, type PaymentIntentUpdate } from "../params";
import { ID, list, type Route } from "../route";
import type { EmulatorState, PaymentIntentRecord, RequestContext } from "../state";
import { markSessionPaid } from "./checkout-completion";
import { customerRecord } from "./customers";
import { checkReturnUrl, confirm } from "./payment-intents-confirm";
import { resolvePaymentMethodId } from "./payment-methods";
import { refundCharge } from "./refunds";

export const CANCELABLE: ReadonlyArray<Stripe.PaymentIntent.Status> = ["requires_payment_method", "requires_capture", "requires_confirmation", "requires_action", "processing"];
const UPDATABLE: ReadonlyArray<Stripe.PaymentIntent.Status> = ["requires_payment_method", "requires_confirmation", "requires_action", "requires_capture"];

export function createPaymentIntent(s: EmulatorState, p: PaymentIntentCreate, ctx: RequestContext, checkoutSession: string | null = null): Stripe.PaymentIntent {
  checkAmount(p.amount, p.currency);
  if (p.payment_method_types && p.automatic_payment_methods?.enabled) {
    throw paramError("parameter_invalid_string", "automatic_payment_methods", "You may only specify one of these parameters: automatic_payment_methods, payment_method_types.");
  }
  const automatic = p.payment_method_types ? null : { enabled: p.automatic_payment_methods?.enabled ?? true, ...(p.automatic_payment_methods?.allow_redirects ? { allow_redirects: p.automatic_payment_methods.allow_redirects } : {}) };
  if (p.confirm) checkReturnUrl(automatic, p.return_url ?? null, checkoutSession);
  if (p.off_session !== undefined && !p.confirm) throw paramError("parameter_invalid_string", "off_session", "off_session can only be used when confirm=true.");
  if (p.customer !== undefined) customerRecord(s, p.customer, "customer");
  // Resolved before anything is created, so an unknown id is a plain 404.
  const pmId = p.payment_method !== undefined ? resolvePaymentMethodId(s, p.payment_method, "payment_method") : undefined;
  const id = newId("pi");
  const pi: Stripe.PaymentIntent = {
    id,
    object: "payment_intent",
    allowed_payment_method_types: null,
    amount: p.amount,
    amount_capturable: 0,
    amount_details: { tip: {} },
    amount_received: 0,
    application: null,
    application_fee_amount: null,
    automatic_payment_methods: automatic,
    canceled_at: null,
    cancellation_reason: null,
    capture_method: p.capture_method ?? "automatic_async",
    client_secret: `${id}_secret_${randomToken(25)}`,
    confirmation_method: p.confirmation_method ?? "automatic",
    created: s.seconds(),
    currency: p.currency,
    customer: p.customer ?? null,
    customer_account: null,
    description: p.description ?? null,
    excluded_payment_method_types: null,
    last_payment_error: null,
    latest_charge: null,
    livemode: false,
    managed_payments: null,
    metadata: applyMetadata({}, p.metadata),
    next_action: null,
    on_behalf_of: null,
    payment_method: null,
    payment_method_configuration_details: null,
    payment_method_options: { card: { installments: null, mandate_options: null, network: null, request_three_d_secure: "automatic" } },
    payment_method_types: p.payment_method_types ?? ["card"],
    payment_record: null,
    processing: null,
    receipt_email: p.receipt_email ?? null,
    review: null,
    setup_future_usage: p.setup_future_usage ?? null,
    shipping: null,
    source: null,
    statement_descriptor: p.statement_descriptor ?? null,
    statement_descriptor_suffix: p.statement_descriptor_suffix ?? null,
    status: "requires_payment_method",
    transfer_data: null,
    transfer_group: null,
  };
  const rec: PaymentIntentRecord = { pi, returnUrl: p.return_url ?? null, checkoutSession, authenticatedPm: null };
  s.paymentIntents.set(id, rec);
  s.byClientSecret.set(pi.client_secret as string, id);
  if (pmId !== undefined) {
    pi.payment_method = pmId;
    pi.status = "requires_confirmation";
  }
  s.emit("payment_intent.created", pi, id, ctx);
  if (p.confirm) {
    confirm(s, id, { payment_method: undefined, return_url: p.return_url, error_on_requires_action: p.error_on_requires_action, off_session: p.off_session }, ctx);
  }
  return clone(pi);
}

export function updatePaymentIntent(s: EmulatorState, id: string, p: PaymentIntentUpdate, _ctx: RequestContext): Stripe.PaymentIntent {
  const rec = s.piRecord(id);
  const pi = rec.pi;
  if (!UPDATABLE.includes(pi.status)) {
    throw unexpectedState(
      `You cannot update this PaymentIntent because it has a status of ${pi.status}. You may only update a PaymentIntent with one of the following statuses: ${UPDATABLE.join(", ")}.`,
      clone(pi),
    );
  }
  const moneyChange = p.amount !== undefined || p.currency !== undefined;
  if (pi.status === "requires_capture" && (moneyChange || p.payment_method !== undefined)) {
    throw unexpectedState(`You cannot change the amount, currency or payment method of this PaymentIntent because it has a status of requires_capture.`, clone(pi));
  }
  const amount = p.amount ?? pi.amount;
  const currency = p.currency ?? pi.currency;
  if (moneyChange) checkAmount(amount, currency);
  const pmId = p.payment_method !== undefined ? resolvePaymentMethodId(s, p.payment_method, "payment_method") : undefined;
  pi.amount = amount;
  pi.currency = currency;
  if (p.capture_method !== undefined) pi.capture_method = p.capture_method;
  if (p.description !== undefined) pi.description = p.description;
  if (p.receipt_email !== undefined) pi.receipt_email = p.receipt_email === "" ? null : p.receipt_email;
  if (p.statement_descriptor !== undefined) pi.statement_descriptor = p.statement_descriptor;
  if (p.statement_descriptor_suffix !== undefined) pi.statement_descriptor_suffix = p.statement_descriptor_suffix;
  if (p.payment_method_types !== undefined) {
    pi.payment_method_types = p.payment_method_types;
    pi.automatic_payment_methods = null;
  }
  pi.metadata = applyMetadata(pi.metadata, p.metadata);
  if (pmId !== undefined) {
    pi.payment_method = pmId;
    rec.authenticatedPm = null;
  }
  if (pi.status !== "requires_capture" && (pmId !== undefined || (pi.status === "requires_action" && moneyChange))) {
    pi.next_action = null;
    pi.status = pi.payment_method ? "requires_confirmation" : "requires_payment_method";
  }
  return clone(pi);
}

export function cancel(s: EmulatorState, id: string, reason: Stripe.PaymentIntent.CancellationReason | undefined, ctx: RequestContext): Stripe.PaymentIntent {
  const rec = s.piRecord(id);
  const pi = rec.pi;
  if (!CANCELABLE.includes(pi.status)) {
    throw unexpectedState(
      `You cannot cancel this PaymentIntent because it has a status of ${pi.status}. Only a PaymentIntent with one of the following statuses may be canceled: ${CANCELABLE.join(", ")}.`,
      clone(pi),
    );
  }
  if (pi.status === "requires_capture" && typeof pi.latest_charge === "string") {
    // The uncaptured authorisation is released: Stripe refunds it.
    refundCharge(s, s.charges.get(pi.latest_charge) as Stripe.Charge, pi.amount_capturable, "requested_by_customer", {}, ctx);
  }
  pi.status = "canceled";
  pi.canceled_at = s.seconds();
  pi.cancellation_reason = reason ?? null;
  pi.amount_capturable = 0;
  pi.next_action = null;
  s.emit("payment_intent.canceled", pi, pi.id, ctx);
  return clone(pi);
}

export function capture(s: EmulatorState, id: string, amountToCapture: number | undefined, metadata: MetadataParam | undefined, ctx: RequestContext): Stripe.PaymentIntent {
  const rec = s.piRecord(id);
  const pi = rec.pi;
  if (pi.status !== "requires_capture") {
    throw unexpectedState(
      `This PaymentIntent could not be captured because it has a status of ${pi.status}. Only a PaymentIntent with one of the following statuses may be captured: requires_capture.`,
      clone(pi),
    );
  }
  const amount = amountToCapture ?? pi.amount_capturable;
  if (amount > pi.amount_capturable) {
    throw requestError("amount_too_large", `The amount to capture (${formatAmount(amount, pi.currency)}) is greater than the amount capturable (${formatAmount(pi.amount_capturable, pi.currency)}).`, { param: "amount_to_capture" });
  }
  const charge = s.charges.get(pi.latest_charge as string) as Stripe.Charge;
  charge.captured = true;
  charge.amount_captured = amount;
  charge.amount_refunded = charge.amount - amount; // the uncaptured rest is released, reported as refunded like Stripe
  pi.metadata = applyMetadata(pi.metadata, metadata);
  pi.amount_received = amount;
  pi.amount_capturable = 0;
  pi.status = "succeeded";
  s.emit("charge.captured", charge, pi.id, ctx);
  s.emit("payment_intent.succeeded", pi, pi.id, ctx);
  if (rec.checkoutSession) markSessionPaid(s, rec.checkoutSession);
  return clone(pi);
}

export function paymentIntentByClientSecret(s: EmulatorState, clientSecret: string): Stripe.PaymentIntent | undefined {
  const id = s.byClientSecret.get(clientSecret);
  return id ? s.paymentIntent(id) : undefined;
}

/** The return_url given at create/confirm time (Stripe keeps it; the object does not show it). */
export function returnUrlOf(s: EmulatorState, paymentIntentId: string): string | null {
  return s.paymentIntents.get(paymentIntentId)?.returnUrl ?? null;
}

export function paymentIntentRoutes(s: EmulatorState): Route[] {
  const path = (tail = "") => new RegExp(`^/v1/payment_intents/${ID}${tail}$`);
  return [
    { method: "POST", pattern: /^\/v1\/payment_intents$/, handler: (p, ctx) => createPaymentIntent(s, P.parseParams(P.paymentIntentCreate, p), ctx) },
    {
      method: "GET",
      pattern: /^\/v1\/payment_intents$/,
      handler: (p) => list([...s.paymentIntents.values()].map((r) => r.pi), p, P.paymentIntentList, "/v1/payment_intents", (q, pi) => q.customer === undefined || pi.customer === q.customer),
    },
    {
      method: "GET",
      pattern: path(),
      handler: (p, _ctx, [id]) => {
        const q = P.parseParams(P.retrieveParams, p);
        const pi = s.paymentIntent(id);
        if (q.client_secret !== undefined && q.client_secret !== pi.client_secret) throw notFound("payment_intent", id, "intent");
        return pi;
      },
    },
    { method: "POST", pattern: path(), handler: (p, ctx, [id]) => updatePaymentIntent(s, id, P.parseParams(P.paymentIntentUpdate, p), ctx) },
    { method: "POST", pattern: path("/confirm"), handler: (p, ctx, [id]) => confirm(s, id, P.parseParams(P.paymentIntentConfirm, p), ctx) },
    { method: "POST", pattern: path("/cancel"), handler: (p, ctx, [id]) => cancel(s, id, P.parseParams(P.paymentIntentCancel, p).cancellation_reason, ctx) },
    {
      method: "POST",
      pattern: path("/capture"),
      handler: (p, ctx, [id]) => {
        const q = P.parseParams(P.paymentIntentCapture, p);
        return capture(s, id, q.amount_to_capture, q.metadata, ctx);
      },
    },
  ];
}
