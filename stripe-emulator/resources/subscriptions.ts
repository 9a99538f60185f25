/**
 * Subscriptions (https://docs.stripe.com/api/subscriptions): one recurring Price per
 * subscription, charged automatically on the customer's default card. create / retrieve / list /
 * update (cancel_at_period_end, metadata, default_payment_method) / cancel (DELETE).
 *
 *   incomplete ─first invoice paid─▶ active ─renewal fails─▶ past_due ─retry paid─▶ active
 *                                      │                        └─retries exhausted─▶ canceled
 *                                      └─cancel / period end with cancel_at_period_end─▶ canceled
 *
 * The periods (items.data[0].current_period_start/end, as in Stripe's current API) and the
 * renewals run on the emulator clock: renewals.ts.
 * Events: customer.subscription.created / updated (with previous_attributes) / deleted.
 */
import type Stripe from "stripe";
import { z } from "zod";
import { notFound, paramError, requestError } from "../errors";
import { clone, newId } from "../ids";
import * as P from "../params";
import { ID, list, type Route } from "../route";
import type { EmulatorState, RequestContext, SubscriptionRecord } from "../state";
import { customerRecord } from "./customers";
import { chargeInvoice, createSubscriptionInvoice, voidInvoice } from "./invoices";
import { resolvePaymentMethodId } from "./payment-methods";
import { priceRecord } from "./prices";

const boolStr = z.enum(["true", "false"], { error: (iss) => `Invalid boolean: ${String(iss.input)}` }).transform((v) => v === "true");
const expand = z.array(z.string().max(200)).max(20).optional();
const subscriptionCreate = z.strictObject({
  customer: z.string(),
  items: z.array(z.strictObject({ price: z.string(), quantity: z.string().regex(/^\d+$/).transform(Number).optional() })).min(1).max(1, { error: "This Stripe TEST EMULATOR supports one item per subscription." }),
  default_payment_method: z.string().optional(),
  metadata: P.metadataParam.optional(),
  description: z.string().max(500).optional(),
  cancel_at_period_end: boolStr.optional(),
  expand,
});
const subscriptionUpdate = z.strictObject({ cancel_at_period_end: boolStr.optional(), metadata: P.metadataParam.optional(), default_payment_method: z.string().optional(), description: z.string().max(500).optional(), expand });
const subscriptionCancel = z.strictObject({ invoice_now: boolStr.optional(), prorate: boolStr.optional(), cancellation_details: z.strictObject({ comment: z.string().max(5000).optional(), feedback: z.string().optional() }).optional(), expand });
const subscriptionList = P.listParams.extend({ customer: z.string().optional(), price: z.string().optional(), status: z.enum(["active", "past_due", "unpaid", "canceled", "incomplete", "incomplete_expired", "trialing", "all", "ended"]).optional() });

/** `ts` moved on by `n` intervals, month ends clamped the way Stripe anchors billing (Jan 31 → Feb 28). */
export function addInterval(ts: number, interval: Stripe.Price.Recurring.Interval, n: number): number {
  if (interval === "day") return ts + n * 86_400;
  if (interval === "week") return ts + n * 7 * 86_400;
  const d = new Date(ts * 1000);
  const months = interval === "month" ? n : 12 * n;
  const target = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + months, 1, d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds()));
  const lastDay = new Date(Date.UTC(target.getUTCFullYear(), target.getUTCMonth() + 1, 0)).getUTCDate();
  target.setUTCDate(Math.min(d.getUTCDate(), lastDay));
  return Math.floor(target.getTime() / 1000);
}

/** The end of the period that starts at `start` (counted from the billing anchor, so no drift). */
export function periodEndAfter(sub: Stripe.Subscription, start: number): number {
  const r = sub.items.data[0].price.recurring as Stripe.Price.Recurring;
  for (let n = 1; ; n++) {
    const end = addInterval(sub.billing_cycle_anchor, r.interval, n * r.interval_count);
    if (end > start) return end;
  }
}

export function subscriptionRecord(s: EmulatorState, id: string, param = "subscription_exposed_id"): SubscriptionRecord {
  const r = s.subscriptions.get(id);
  if (!r) throw notFound("subscription", id, param);
  return r;
}

export function currentPeriod(sub: Stripe.Subscription): { start: number; end: number } {
  return { start: sub.items.data[0].current_period_start, end: sub.items.data[0].current_period_end };
}

export function setPeriod(sub: Stripe.Subscription, start: number, end: number): void {
  sub.items.data[0].current_period_start = start;
  sub.items.data[0].current_period_end = end;
}

function subscriptionObject(s: EmulatorState, o: { customer: string; price: Stripe.Price; quantity: number; metadata: Record<string, string>; defaultPm: string | null; description: string | null; cancelAtPeriodEnd: boolean }): Stripe.Subscription {
  const id = newId("sub");
  const now = s.seconds();
  const sub = {
    id,
    object: "subscription",
    application: null,
    application_fee_percent: null,
    automatic_tax: { disabled_reason: null, enabled: false, liability: null },
    billing_cycle_anchor: now,
    billing_cycle_anchor_config: null,
    billing_thresholds: null,
    cancel_at: null,
    cancel_at_period_end: o.cancelAtPeriodEnd,
    canceled_at: null,
    cancellation_details: { comment: null, feedback: null, reason: null },
    collection_method: "charge_automatically",
    created: now,
    currency: o.price.currency,
    customer: o.customer,
    customer_account: null,
    days_until_due: null,
    default_payment_method: o.defaultPm,
    default_source: null,
    description: o.description,
    discounts: [],
    ended_at: null,
    invoice_settings: { account_tax_ids: null, issuer: { type: "self" } },
    items: { object: "list", data: [{ id: newId("si", 14), object: "subscription_item", created: now, current_period_start: now, current_period_end: now, discounts: [], metadata: {}, price: clone(o.price), quantity: o.quantity, subscription: id, tax_rates: [] }], has_more: false, url: `/v1/subscription_items?subscription=${id}` },
    latest_invoice: null,
    livemode: false,
    metadata: o.metadata,
    next_pending_invoice_item_invoice: null,
    on_behalf_of: null,
    pause_collection: null,
    payment_settings: { payment_method_options: null, payment_method_types: null, save_default_payment_method: "off" },
    pending_invoice_item_interval: null,
    pending_setup_intent: null,
    pending_update: null,
    schedule: null,
    start_date: now,
    status: "incomplete",
    test_clock: null,
    transfer_data: null,
    trial_end: null,
    trial_settings: { end_behavior: { missing_payment_method: "create_invoice" } },
    trial_start: null,
  } as unknown as Stripe.Subscription;
  setPeriod(sub, now, periodEndAfter(sub, now));
  return sub;
}

/**
 * A new subscription and its first invoice, charged at once: `active` when paid, else
 * `incomplete` (Stripe's default payment_behavior, allow_incomplete).
 */
export function createSubscription(s: EmulatorState, o: { customer: string; price: string; quantity?: number; metadata?: P.MetadataParam; defaultPm?: string; description?: string; cancelAtPeriodEnd?: boolean; priceParam?: string }, ctx: RequestContext): Stripe.Subscription {
  const customer = customerRecord(s, o.customer);
  const price = priceRecord(s, o.price, o.priceParam ?? "items[0][price]");
  if (price.type !== "recurring" || !price.recurring) throw paramError("parameter_invalid_string", o.priceParam ?? "items[0][price]", `The price specified (${price.id}) is not a recurring price; a subscription needs one.`);
  if (!price.active) throw paramError("parameter_invalid_string", o.priceParam ?? "items[0][price]", `The price specified (${price.id}) is inactive.`);
  let defaultPm: string | null = null;
  if (o.defaultPm !== undefined) {
    defaultPm = resolvePaymentMethodId(s, o.defaultPm, "default_payment_method");
    if (s.paymentMethods.get(defaultPm)?.pm.customer !== customer.id) throw paramError("resource_missing", "default_payment_method", `The PaymentMethod ${defaultPm} is not attached to customer ${customer.id}.`);
  }
  if (defaultPm === null && customer.invoice_settings.default_payment_method === null) {
    throw requestError("resource_missing", "This customer has no attached payment source or default payment method. Please consider adding a default payment method.", { param: "default_payment_method" });
  }
  const sub = subscriptionObject(s, { customer: customer.id, price, quantity: o.quantity ?? 1, metadata: P.applyMetadata({}, o.metadata), defaultPm, description: o.description ?? null, cancelAtPeriodEnd: o.cancelAtPeriodEnd ?? false });
  const rec: SubscriptionRecord = { sub, retryInvoice: null };
  s.subscriptions.set(sub.id, rec);
  const inv = createSubscriptionInvoice(s, sub, "subscription_create", currentPeriod(sub), ctx);
  sub.latest_invoice = inv.id as string;
  const paid = chargeInvoice(s, inv, ctx);
  sub.status = paid ? "active" : "incomplete";
  s.subscriptions.set(sub.id, rec);
  s.emit("customer.subscription.created", sub, sub.id, ctx);
  return clone(sub);
}

/** Ends the subscription now: canceled, its open invoice voided, customer.subscription.deleted. */
export function cancelSubscription(s: EmulatorState, rec: SubscriptionRecord, reason: Stripe.Subscription.CancellationDetails.Reason, ctx: RequestContext, comment?: string): Stripe.Subscription {
  const sub = rec.sub;
  if (sub.status === "canceled" || sub.status === "incomplete_expired") {
    throw requestError("resource_missing", `No such subscription: '${sub.id}' — it is already canceled.`, { param: "id" });
  }
  const now = s.seconds();
  sub.status = "canceled";
  sub.canceled_at = now;
  sub.ended_at = now;
  sub.cancellation_details = { comment: comment ?? null, feedback: null, reason } as Stripe.Subscription.CancellationDetails;
  if (rec.retryInvoice) {
    const inv = s.invoices.get(rec.retryInvoice);
    if (inv) voidInvoice(s, inv, ctx);
    rec.retryInvoice = null;
  }
  s.subscriptions.set(sub.id, rec);
  s.emit("customer.subscription.deleted", sub, sub.id, ctx);
  return clone(sub);
}

/** Changes the status (or period) and sends customer.subscription.updated with what it was. */
export function emitUpdated(s: EmulatorState, rec: SubscriptionRecord, previous: Record<string, unknown>, ctx: RequestContext): void {
  s.subscriptions.set(rec.sub.id, rec);
  s.emit("customer.subscription.updated", rec.sub, rec.sub.id, ctx, previous);
}

function updateSubscription(s: EmulatorState, id: string, p: z.infer<typeof subscriptionUpdate>, ctx: RequestContext): Stripe.Subscription {
  const rec = subscriptionRecord(s, id, "id");
  const sub = rec.sub;
  if (sub.status === "canceled") throw requestError("resource_missing", "A canceled subscription can only update its cancellation_details and metadata.");
  const previous: Record<string, unknown> = {};
  if (p.cancel_at_period_end !== undefined && p.cancel_at_period_end !== sub.cancel_at_period_end) {
    previous.cancel_at_period_end = sub.cancel_at_period_end;
    previous.cancel_at = sub.cancel_at;
    sub.cancel_at_period_end = p.cancel_at_period_end;
    sub.cancel_at = p.cancel_at_period_end ? currentPeriod(sub).end : null;
  }
  if (p.metadata !== undefined) {
    previous.metadata = sub.metadata;
    sub.metadata = P.applyMetadata(sub.metadata, p.metadata);
  }
  if (p.description !== undefined) sub.description = p.description === "" ? null : p.description;
  if (p.default_payment_method !== undefined) {
    const pm = resolvePaymentMethodId(s, p.default_payment_method, "default_payment_method");
    if (s.paymentMethods.get(pm)?.pm.customer !== sub.customer) throw paramError("resource_missing", "default_payment_method", `The PaymentMethod ${pm} is not attached to customer ${String(sub.customer)}.`);
    previous.default_payment_method = sub.default_payment_method;
    sub.default_payment_method = pm;
  }
  emitUpdated(s, rec, previous, ctx);
  return clone(sub);
}

function matchesStatus(q: string | undefined, sub: Stripe.Subscription): boolean {
  if (q === "all") return true;
  if (q === undefined) return sub.status !== "canceled" && sub.status !== "incomplete_expired"; // Stripe's default: not canceled
  if (q === "ended") return sub.status === "canceled" || sub.status === "incomplete_expired";
  return sub.status === q;
}

export function subscriptionRoutes(s: EmulatorState): Route[] {
  const one = new RegExp(`^/v1/subscriptions/${ID}$`);
  return [
    {
      method: "POST",
      pattern: /^\/v1\/subscriptions$/,
      handler: (raw, ctx) => {
        const p = P.parseParams(subscriptionCreate, raw);
        return createSubscription(s, { customer: p.customer, price: p.items[0].price, quantity: p.items[0].quantity, metadata: p.metadata, defaultPm: p.default_payment_method, description: p.description, cancelAtPeriodEnd: p.cancel_at_period_end }, ctx);
      },
    },
    {
      method: "GET",
      pattern: /^\/v1\/subscriptions$/,
      handler: (p) =>
        list([...s.subscriptions.values()].map((r) => r.sub), p, subscriptionList, "/v1/subscriptions", (q, sub) => (q.customer === undefined || sub.customer === q.customer) && (q.price === undefined || sub.items.data[0].price.id === q.price) && matchesStatus(q.status as string | undefined, sub)),
    },
    { method: "GET", pattern: one, handler: (p, _ctx, [id]) => (P.parseParams(P.retrieveParams, p), clone(subscriptionRecord(s, id, "id").sub)) },
    { method: "POST", pattern: one, handler: (p, ctx, [id]) => updateSubscription(s, id, P.parseParams(subscriptionUpdate, p), ctx) },
    {
      method: "DELETE",
      pattern: one,
      handler: (raw, ctx, [id]) => {
        const p = P.parseParams(subscriptionCancel, raw);
        return cancelSubscription(s, subscriptionRecord(s, id, "id"), "cancellation_requested", ctx, p.cancellation_details?.comment);
      },
    },
  ];
}
