/**
 * Checkout Sessions (https://docs.stripe.com/api/checkout/sessions), mode=payment only: create,
 * retrieve, list, line items, expire, and the hosted page's payment (through a PaymentIntent it
 * makes once). Completion when that PaymentIntent is paid: checkout-completion.ts.
 *
 *   open ──paid on the hosted page──▶ complete      open ──expire / expires_at passed──▶ expired
 */
import type Stripe from "stripe";
import { notFound, paramError, requestError } from "../errors";
import { clone, newId, randomToken } from "../ids";
import { checkAmount } from "../money";
import * as P from "../params";
import { applyMetadata, throwMissing, type CheckoutSessionCreate } from "../params";
import { ID, list, type Route } from "../route";
import { PAGE_CONTEXT, type CardInput, type EmulatorState, type PayOutcome, type RequestContext, type SessionRecord } from "../state";
import { CANCELABLE, cancel, createPaymentIntent } from "./payment-intents";
import { payWithCard } from "./payment-intents-confirm";
import { customerRecord } from "./customers";
import { createCardPaymentMethod } from "./payment-methods";
import { createSetupIntent, setUpWithPaymentMethod, setupIntentRecord } from "./setup-intents";

type LineItemParam = NonNullable<CheckoutSessionCreate["line_items"]>[number];

/** One `line_items[i]` with inline `price_data` (the emulator keeps no Prices or Products). */
function lineItemOf(st: EmulatorState, li: LineItemParam, i: number): Stripe.LineItem {
  if (li.price !== undefined) throw notFound("price", li.price, `line_items[${i}][price]`);
  if (!li.price_data) throwMissing(`line_items[${i}][price_data]`);
  const pd = li.price_data;
  if (!pd.product_data) {
    if (pd.product !== undefined) throw notFound("product", pd.product, `line_items[${i}][price_data][product]`);
    throwMissing(`line_items[${i}][price_data][product_data]`);
  }
  const unit = pd.unit_amount ?? (pd.unit_amount_decimal !== undefined ? Number.parseInt(pd.unit_amount_decimal, 10) : undefined);
  if (unit === undefined) throwMissing(`line_items[${i}][price_data][unit_amount]`);
  if (li.quantity === undefined) throwMissing(`line_items[${i}][quantity]`);
  const quantity = li.quantity;
  const productId = newId("prod", 14);
  const price = {
    id: newId("price"),
    object: "price",
    active: false,
    billing_scheme: "per_unit",
    created: st.seconds(),
    currency: pd.currency,
    custom_unit_amount: null,
    livemode: false,
    lookup_key: null,
    metadata: {},
    nickname: null,
    product: productId,
    recurring: null,
    tax_behavior: pd.tax_behavior ?? "unspecified",
    tiers_mode: null,
    transform_quantity: null,
    type: "one_time",
    unit_amount: unit,
    unit_amount_decimal: String(unit) as unknown as Stripe.Price["unit_amount_decimal"], // a decimal string on the wire; stripe-node turns it into a Decimal
  };
  return {
    id: newId("li"),
    object: "item",
    adjustable_quantity: null,
    amount_discount: 0,
    amount_subtotal: unit * quantity,
    amount_tax: 0,
    amount_total: unit * quantity,
    currency: pd.currency,
    description: pd.product_data.name,
    metadata: {},
    price,
    quantity,
  } as Stripe.LineItem;
}

export function createCheckoutSession(st: EmulatorState, p: CheckoutSessionCreate, _ctx: RequestContext): Stripe.Checkout.Session {
  if (p.mode === "setup") return createSetupSession(st, p);
  if (p.mode !== "payment") {
    throw paramError("parameter_invalid_string", "mode", `mode=${p.mode} is not implemented by this Stripe TEST EMULATOR (only mode=payment and mode=setup are).`);
  }
  if (p.customer !== undefined || p.setup_intent_data !== undefined) {
    throw paramError("parameter_unknown", p.customer !== undefined ? "customer" : "setup_intent_data", "This Stripe TEST EMULATOR accepts customer and setup_intent_data only with mode=setup.");
  }
  if (!p.line_items) throwMissing("line_items");
  if (!p.success_url) throwMissing("success_url");
  const lineItems = p.line_items.map((li, i) => lineItemOf(st, li, i));
  const currency = lineItems[0].currency;
  if (lineItems.some((li) => li.currency !== currency)) {
    throw paramError("parameter_invalid_string", "line_items", "All line_items must use the same currency.");
  }
  const total = lineItems.reduce((s, li) => s + li.amount_total, 0);
  checkAmount(total, currency);
  const now = st.seconds();
  const expiresAt = p.expires_at ?? now + 24 * 3600;
  if (expiresAt < now + 30 * 60 || expiresAt > now + 24 * 3600) {
    throw paramError("parameter_invalid_integer", "expires_at", "The `expires_at` timestamp must be between 30 minutes and 24 hours from Checkout Session creation.");
  }
  const session = sessionObject(st, p, { id: `cs_test_${randomToken(40)}`, successUrl: p.success_url, total, currency, now, expiresAt });
  st.sessions.set(session.id, { session, lineItems, paymentIntentData: p.payment_intent_data ?? {} });
  // Stripe sends no event when a Checkout Session is created.
  return clone(session);
}

/**
 * mode=setup: no line items and no charge; the hosted page saves the card through a SetupIntent
 * (for `customer` when given) and the session completes with `setup_intent` set.
 */
function createSetupSession(st: EmulatorState, p: CheckoutSessionCreate): Stripe.Checkout.Session {
  if (p.line_items) throw paramError("parameter_invalid_string", "line_items", "line_items cannot be used with mode=setup.");
  if (p.payment_intent_data) throw paramError("parameter_invalid_string", "payment_intent_data", "payment_intent_data cannot be used with mode=setup; use setup_intent_data.");
  if (!p.success_url) throwMissing("success_url");
  if (p.customer !== undefined) customerRecord(st, p.customer, "customer");
  const now = st.seconds();
  const expiresAt = p.expires_at ?? now + 24 * 3600;
  const session = sessionObject(st, p, { id: `cs_test_${randomToken(40)}`, successUrl: p.success_url, total: 0, currency: p.currency ?? "eur", now, expiresAt });
  Object.assign(session, { mode: "setup", amount_subtotal: null, amount_total: null, currency: p.currency ?? null, payment_status: "no_payment_required", customer: p.customer ?? null });
  st.sessions.set(session.id, { session, lineItems: [], paymentIntentData: {}, setupIntentData: p.setup_intent_data ?? {} });
  return clone(session);
}

/** The hosted page of a setup-mode session: saves the card through the session's SetupIntent (made once). */
export function setUpCheckoutSession(st: EmulatorState, id: string, card: CardInput): PayOutcome | { kind: "saved" } {
  const rec = st.sessions.get(id);
  if (!rec) throw notFound("checkout.session", id, "session");
  expireIfDue(st, rec);
  const s = rec.session;
  if (s.status !== "open") throw requestError("checkout_session_unexpected_state", `This Checkout Session is ${s.status}.`);
  let setiId = typeof s.setup_intent === "string" ? s.setup_intent : null;
  if (setiId === null) {
    const d = rec.setupIntentData ?? {};
    setiId = createSetupIntent(st, { customer: typeof s.customer === "string" ? s.customer : undefined, usage: "off_session", metadata: d.metadata, description: d.description }, PAGE_CONTEXT, id).id;
    s.setup_intent = setiId;
    setupIntentRecord(st, setiId).returnUrl = `${st.opts.publicBaseUrl()}/emulator/checkout/${id}/return`;
  }
  const pmRec = createCardPaymentMethod(st, card);
  const si = setUpWithPaymentMethod(st, setiId, pmRec.pm.id);
  if (si.status === "succeeded") return { kind: "saved" };
  if (si.status === "requires_action") {
    const next = si.next_action as unknown as { redirect_to_url?: { url: string } };
    return { kind: "requires_action", paymentIntent: null as unknown as Stripe.PaymentIntent, redirectUrl: next.redirect_to_url?.url ?? "" };
  }
  const err = si.last_setup_error;
  return { kind: "declined", paymentIntent: null as unknown as Stripe.PaymentIntent, code: err?.code ?? "card_declined", declineCode: err?.decline_code, message: err?.message ?? "Card declined." };
}

export function sessionObject(st: EmulatorState, p: CheckoutSessionCreate, o: { id: string; successUrl: string; total: number; currency: string; now: number; expiresAt: number }): Stripe.Checkout.Session {
  const { id, total, currency, now, expiresAt } = o;
  return {
    id,
    object: "checkout.session",
    adaptive_pricing: null,
    after_expiration: null,
    allow_promotion_codes: null,
    allowed_payment_method_types: null,
    amount_subtotal: total,
    amount_total: total,
    automatic_tax: { enabled: false, liability: null, provider: null, status: null },
    billing_address_collection: null,
    cancel_url: p.cancel_url ?? null,
    client_reference_id: p.client_reference_id ?? null,
    client_secret: null,
    collected_information: null,
    consent: null,
    consent_collection: null,
    created: now,
    currency,
    currency_conversion: null,
    custom_fields: [],
    custom_text: { after_submit: null, shipping_address: null, submit: null, terms_of_service_acceptance: null },
    customer: null,
    customer_account: null,
    customer_creation: "if_required",
    customer_details: null,
    customer_email: p.customer_email ?? null,
    discounts: [],
    expires_at: expiresAt,
    integration_identifier: null,
    invoice: null,
    invoice_creation: null,
    livemode: false,
    locale: p.locale ?? null,
    managed_payments: null,
    metadata: applyMetadata({}, p.metadata),
    mode: "payment",
    origin_context: null,
    payment_intent: null,
    payment_link: null,
    payment_method_collection: "if_required",
    payment_method_configuration_details: null,
    payment_method_options: { card: { request_three_d_secure: "automatic" } },
    payment_method_types: p.payment_method_types ?? ["card"],
    payment_status: "unpaid",
    permissions: null,
    recovered_from: null,
    saved_payment_method_options: null,
    setup_intent: null,
    shipping_address_collection: null,
    shipping_cost: null,
    shipping_options: [],
    status: "open",
    submit_type: p.submit_type ?? null,
    subscription: null,
    success_url: o.successUrl,
    total_details: { amount_discount: 0, amount_shipping: 0, amount_tax: 0 },
    ui_mode: "hosted",
    url: `${st.opts.publicBaseUrl()}/emulator/checkout/${id}`,
    wallet_options: null,
  };
}

export function expireIfDue(st: EmulatorState, rec: SessionRecord): void {
  if (rec.session.status === "open" && st.seconds() >= rec.session.expires_at) expireSession(st, rec, PAGE_CONTEXT);
}

function expireSession(st: EmulatorState, rec: SessionRecord, ctx: RequestContext): void {
  const s = rec.session;
  s.status = "expired";
  s.url = null;
  if (typeof s.payment_intent === "string") {
    const piRec = st.paymentIntents.get(s.payment_intent);
    if (piRec && CANCELABLE.includes(piRec.pi.status) && piRec.pi.status !== "requires_capture") cancel(st, piRec.pi.id, "abandoned", ctx);
  }
  st.emit("checkout.session.expired", s, s.id, ctx);
}

export function expireCheckoutSession(st: EmulatorState, id: string, ctx: RequestContext): Stripe.Checkout.Session {
  const rec = st.sessions.get(id);
  if (!rec) throw notFound("checkout.session", id, "session");
  expireIfDue(st, rec);
  if (rec.session.status !== "open") {
    throw requestError("checkout_session_unexpected_state", `This Checkout Session has a status of ${rec.session.status}: only an open session can be expired.`);
  }
  expireSession(st, rec, ctx);
  return clone(rec.session);
}

/** The hosted checkout page's payment: makes (once) the session's PaymentIntent and pays it. */
export function payCheckoutSession(st: EmulatorState, id: string, card: CardInput): PayOutcome {
  const rec = st.sessions.get(id);
  if (!rec) throw notFound("checkout.session", id, "session");
  expireIfDue(st, rec);
  const s = rec.session;
  if (s.status !== "open") throw requestError("checkout_session_unexpected_state", `This Checkout Session is ${s.status}.`);
  let piId = typeof s.payment_intent === "string" ? s.payment_intent : null;
  if (piId === null) {
    const d = rec.paymentIntentData;
    const pi = createPaymentIntent(
      st,
      {
        amount: s.amount_total as number,
        currency: s.currency as string,
        payment_method_types: ["card"],
        capture_method: d.capture_method,
        description: d.description,
        metadata: d.metadata,
        receipt_email: d.receipt_email ?? s.customer_email ?? undefined,
        statement_descriptor: d.statement_descriptor,
        statement_descriptor_suffix: d.statement_descriptor_suffix,
      },
      PAGE_CONTEXT,
      id,
    );
    piId = pi.id;
    s.payment_intent = piId;
  }
  return payWithCard(st, piId, card, `${st.opts.publicBaseUrl()}/emulator/checkout/${id}/return`);
}

export function checkoutSession(st: EmulatorState, id: string): Stripe.Checkout.Session {
  const rec = st.sessions.get(id);
  if (!rec) throw notFound("checkout.session", id, "session");
  expireIfDue(st, rec);
  return clone(rec.session);
}

export function checkoutLineItems(st: EmulatorState, id: string): Stripe.LineItem[] {
  const rec = st.sessions.get(id);
  if (!rec) throw notFound("checkout.session", id, "session");
  return clone(rec.lineItems);
}

function listCheckoutSessions(st: EmulatorState): Stripe.Checkout.Session[] {
  return [...st.sessions.values()].map((r) => {
    expireIfDue(st, r);
    return clone(r.session);
  });
}

export function checkoutSessionRoutes(st: EmulatorState): Route[] {
  const path = (tail = "") => new RegExp(`^/v1/checkout/sessions/${ID}${tail}$`);
  return [
    { method: "POST", pattern: /^\/v1\/checkout\/sessions$/, handler: (p, ctx) => createCheckoutSession(st, P.parseParams(P.checkoutSessionCreate, p), ctx) },
    {
      method: "GET",
      pattern: /^\/v1\/checkout\/sessions$/,
      handler: (p) =>
        list(listCheckoutSessions(st), p, P.checkoutSessionList, "/v1/checkout/sessions", (q, s) => (q.payment_intent === undefined || s.payment_intent === q.payment_intent) && (q.status === undefined || s.status === q.status)),
    },
    { method: "GET", pattern: path(), handler: (p, _ctx, [id]) => (P.parseParams(P.retrieveParams, p), checkoutSession(st, id)) },
    { method: "GET", pattern: path("/line_items"), handler: (p, _ctx, [id]) => list(checkoutLineItems(st, id).reverse(), p, P.listParams, `/v1/checkout/sessions/${id}/line_items`) },
    { method: "POST", pattern: path("/expire"), handler: (p, ctx, [id]) => (P.parseParams(P.checkoutSessionExpire, p), expireCheckoutSession(st, id, ctx)) },
  ];
}
