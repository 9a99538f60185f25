/**
 * Checkout in `subscription` mode (https://docs.stripe.com/payments/checkout/build-subscriptions):
 * one line item with a recurring Price (by id). Paying on the hosted page creates the Customer (or
 * uses `customer`), attaches the card as its default, creates the Subscription and charges its
 * first invoice; the session completes with `subscription`, `customer` and `invoice` set.
 * Events, in this order (Stripe does not guarantee an order): customer.created,
 * payment_method.attached, customer.updated, invoice.created, invoice.finalized, invoice.paid,
 * invoice.payment_succeeded, customer.subscription.created, checkout.session.completed.
 *
 * A card that would decline (or needs 3-D Secure, not emulated here) is refused on the page and
 * nothing is created but the card: the driver tries another.
 */
import type Stripe from "stripe";
import { luhnValid } from "../cards";
import { notFound, paramError, requestError } from "../errors";
import { clone, newId, randomToken } from "../ids";
import { checkAmount } from "../money";
import * as P from "../params";
import { throwMissing, type CheckoutSessionCreate } from "../params";
import type { Route } from "../route";
import { PAGE_CONTEXT, type CardInput, type EmulatorState, type RequestContext } from "../state";
import { checkoutSession, createCheckoutSession, sessionObject } from "./checkout-sessions";
import { attachPaymentMethod, createCustomer, customerRecord, updateCustomer } from "./customers";
import { createCardPaymentMethod } from "./payment-methods";
import { priceRecord } from "./prices";
import { createSubscription } from "./subscriptions";

export type SubscriptionPayOutcome = { kind: "succeeded"; subscription: string } | { kind: "declined"; code: string; declineCode?: string; message: string };

function subscriptionLineItem(st: EmulatorState, li: NonNullable<CheckoutSessionCreate["line_items"]>[number]): Stripe.LineItem {
  if (li.price === undefined) throwMissing("line_items[0][price]");
  const price = priceRecord(st, li.price, "line_items[0][price]");
  if (price.type !== "recurring") throw paramError("parameter_invalid_string", "line_items[0][price]", `You must provide at least one recurring price in \`subscription\` mode when using prices; ${price.id} is one_time.`);
  const quantity = li.quantity ?? 1;
  const amount = (price.unit_amount ?? 0) * quantity;
  const product = st.products.peek(String(price.product));
  return { id: newId("li"), object: "item", adjustable_quantity: null, amount_discount: 0, amount_subtotal: amount, amount_tax: 0, amount_total: amount, currency: price.currency, description: product?.name ?? price.nickname ?? price.id, metadata: {}, price: clone(price), quantity } as Stripe.LineItem;
}

export function createSubscriptionCheckout(st: EmulatorState, p: CheckoutSessionCreate): Stripe.Checkout.Session {
  if (!p.line_items) throwMissing("line_items");
  if (!p.success_url) throwMissing("success_url");
  if (p.line_items.length !== 1) throw paramError("parameter_invalid_string", "line_items", "This Stripe TEST EMULATOR supports one recurring line item per subscription Checkout Session.");
  if (p.payment_intent_data) throw paramError("parameter_unknown", "payment_intent_data", "payment_intent_data cannot be used in subscription mode (use subscription_data).");
  if (p.customer !== undefined) customerRecord(st, p.customer, "customer");
  if (p.customer !== undefined && p.customer_email !== undefined) throw paramError("parameter_invalid_string", "customer_email", "You may only specify one of these parameters: customer, customer_email.");
  const li = subscriptionLineItem(st, p.line_items[0]);
  checkAmount(li.amount_total, li.currency);
  const now = st.seconds();
  const expiresAt = p.expires_at ?? now + 24 * 3600;
  if (expiresAt < now + 30 * 60 || expiresAt > now + 24 * 3600) {
    throw paramError("parameter_invalid_integer", "expires_at", "The `expires_at` timestamp must be between 30 minutes and 24 hours from Checkout Session creation.");
  }
  const session = sessionObject(st, p, { id: `cs_test_${randomToken(40)}`, successUrl: p.success_url, total: li.amount_total, currency: li.currency, now, expiresAt });
  session.mode = "subscription";
  session.customer = p.customer ?? null;
  session.customer_creation = null;
  session.payment_method_collection = "always";
  st.sessions.set(session.id, { session, lineItems: [li], paymentIntentData: {}, subscriptionData: p.subscription_data ?? {} });
  return clone(session);
}

/** The hosted page's payment of a subscription session (never throws for a decline). */
export function paySubscriptionCheckout(st: EmulatorState, id: string, card: CardInput): SubscriptionPayOutcome {
  const s = checkoutSession(st, id); // lazily expires
  const rec = st.sessions.get(id);
  if (!rec) throw notFound("checkout.session", id, "session");
  if (s.status !== "open") throw requestError("checkout_session_unexpected_state", `This Checkout Session is ${s.status}.`);
  if (!luhnValid(card.number)) return { kind: "declined", code: "incorrect_number", message: "Your card number is incorrect." };
  const pmRec = createCardPaymentMethod(st, card);
  if (pmRec.outcome.kind === "decline") return { kind: "declined", code: pmRec.outcome.code, declineCode: pmRec.outcome.declineCode, message: pmRec.outcome.message };
  if (pmRec.outcome.kind === "authenticate") return { kind: "declined", code: "authentication_required", declineCode: "authentication_required", message: "This card needs 3-D Secure, which this emulator does not run for subscriptions: use another test card." };
  const ctx = PAGE_CONTEXT;
  const customerId = typeof rec.session.customer === "string" ? rec.session.customer : createCustomer(st, { ...(rec.session.customer_email ? { email: rec.session.customer_email } : {}) }, ctx).id;
  attachPaymentMethod(st, pmRec.pm.id, customerId, ctx);
  updateCustomer(st, customerId, { invoice_settings: { default_payment_method: pmRec.pm.id } }, ctx);
  const li = rec.lineItems[0];
  const sub = createSubscription(st, { customer: customerId, price: (li.price as Stripe.Price).id, quantity: li.quantity ?? 1, metadata: rec.subscriptionData?.metadata, description: rec.subscriptionData?.description }, ctx);
  const session = rec.session;
  session.status = "complete";
  session.payment_status = sub.status === "active" ? "paid" : "unpaid";
  session.url = null;
  session.customer = customerId;
  session.subscription = sub.id;
  session.invoice = typeof sub.latest_invoice === "string" ? sub.latest_invoice : null;
  const customer = customerRecord(st, customerId);
  session.customer_details = { address: null, business_name: null, email: customer.email, individual_name: null, name: customer.name, phone: null, tax_exempt: "none", tax_ids: [] } as unknown as Stripe.Checkout.Session.CustomerDetails;
  st.sessions.set(id, rec);
  st.emit("checkout.session.completed", session, session.id, ctx);
  return { kind: "succeeded", subscription: sub.id };
}

/**
 * POST /v1/checkout/sessions, placed before checkout-sessions.ts's own route: mode=subscription is
 * handled here, every other mode goes on to createCheckoutSession (one module per mode, no cycle).
 */
export function subscriptionCheckoutRoutes(st: EmulatorState): Route[] {
  return [
    {
      method: "POST",
      pattern: /^\/v1\/checkout\/sessions$/,
      handler: (raw, ctx: RequestContext) => {
        const p = P.parseParams(P.checkoutSessionCreate, raw);
        return p.mode === "subscription" ? createSubscriptionCheckout(st, p) : createCheckoutSession(st, p, ctx);
      },
    },
  ];
}
