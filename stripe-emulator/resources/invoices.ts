/**
 * Invoices of subscriptions (https://docs.stripe.com/api/invoices): the emulator makes one per
 * billing period (billing_reason `subscription_create`, then `subscription_cycle`) and charges the
 * customer's default card off-session through a PaymentIntent, the way Stripe's automatic
 * collection does. retrieve / list (customer, subscription, status).
 *
 *   draft ─finalize─▶ open ──charge succeeds──▶ paid           (invoice.paid + invoice.payment_succeeded)
 *                      └──charge fails──▶ open, attempt_count+1 (invoice.payment_failed) ─retry─▶ …
 *                      └──given up (subscription canceled)──▶ void
 *
 * A card that needs 3-D Secure cannot be charged off-session: it counts as a failed attempt
 * (`authentication_required`), as Stripe's off-session charge does without a customer present.
 */
import type Stripe from "stripe";
import { z } from "zod";
import { notFound, StripeApiError } from "../errors";
import { clone, newId } from "../ids";
import * as P from "../params";
import { ID, list, type Route } from "../route";
import type { EmulatorState, RequestContext } from "../state";
import { confirm } from "./payment-intents-confirm";
import { createPaymentIntent } from "./payment-intents";

const invoiceList = P.listParams.extend({ customer: z.string().optional(), subscription: z.string().optional(), status: z.enum(["draft", "open", "paid", "uncollectible", "void"]).optional() });

/** The subscription an invoice bills (Stripe's current API puts it under `parent`). */
export function subscriptionOfInvoice(inv: Stripe.Invoice): string | null {
  const sub = inv.parent?.subscription_details?.subscription;
  return typeof sub === "string" ? sub : (sub?.id ?? null);
}

/** A finalized (open) invoice for one period of the subscription: invoice.created + invoice.finalized. */
export function createSubscriptionInvoice(s: EmulatorState, sub: Stripe.Subscription, reason: "subscription_create" | "subscription_cycle", period: { start: number; end: number }, ctx: RequestContext): Stripe.Invoice {
  const item = sub.items.data[0];
  const price = item.price;
  const amount = (price.unit_amount ?? 0) * (item.quantity ?? 1);
  const customer = s.customers.get(String(sub.customer));
  const id = newId("in");
  const now = s.seconds();
  const count = [...s.invoices.values()].filter((i) => i.customer === sub.customer).length + 1;
  const inv = {
    id,
    object: "invoice",
    account_country: "FR",
    account_name: "SysPark (Stripe test emulator)",
    amount_due: amount,
    amount_overpaid: 0,
    amount_paid: 0,
    amount_remaining: amount,
    amount_shipping: 0,
    attempt_count: 0,
    attempted: false,
    auto_advance: true,
    billing_reason: reason,
    collection_method: "charge_automatically",
    created: now,
    currency: price.currency,
    customer: sub.customer,
    customer_email: customer?.email ?? null,
    customer_name: customer?.name ?? null,
    default_payment_method: null,
    description: null,
    discounts: [],
    due_date: null,
    effective_at: now,
    hosted_invoice_url: null, // no hosted invoice page in the emulator
    invoice_pdf: null,
    lines: { object: "list", data: [{ id: newId("il"), object: "line_item", amount, currency: price.currency, description: `1 × ${price.nickname ?? String(price.product)}`, period, quantity: item.quantity ?? 1, pricing: { type: "price_details", price_details: { price: price.id, product: String(price.product) }, unit_amount_decimal: String(price.unit_amount) } }], has_more: false, url: `/v1/invoices/${id}/lines` },
    livemode: false,
    metadata: {},
    next_payment_attempt: null,
    number: `${customer?.invoice_prefix ?? "SYSPARK"}-${String(count).padStart(4, "0")}`,
    parent: { type: "subscription_details", quote_details: null, subscription_details: { metadata: clone(sub.metadata), subscription: sub.id } },
    period_end: period.end,
    period_start: period.start,
    receipt_number: null,
    starting_balance: 0,
    status: "open",
    status_transitions: { finalized_at: now, marked_uncollectible_at: null, paid_at: null, voided_at: null },
    subtotal: amount,
    subtotal_excluding_tax: amount,
    test_clock: null,
    total: amount,
    total_excluding_tax: amount,
    webhooks_delivered_at: null,
  } as unknown as Stripe.Invoice;
  s.invoices.set(id, inv);
  s.emit("invoice.created", inv, sub.id, ctx);
  s.emit("invoice.finalized", inv, sub.id, ctx);
  return inv;
}

/**
 * One collection attempt: a PaymentIntent for amount_due on the customer's default card, confirmed
 * off-session. Returns whether the invoice is now paid; the events say so either way.
 */
export function chargeInvoice(s: EmulatorState, inv: Stripe.Invoice, ctx: RequestContext): boolean {
  const customer = s.customers.get(String(inv.customer));
  const sub = s.subscriptions.peek(subscriptionOfInvoice(inv) ?? "")?.sub;
  const pmId = (typeof sub?.default_payment_method === "string" ? sub.default_payment_method : null) ?? (customer?.invoice_settings.default_payment_method as string | null) ?? null;
  inv.attempt_count += 1;
  inv.attempted = true;
  let paid = false;
  if (pmId !== null && inv.amount_due > 0) {
    const pi = createPaymentIntent(s, { amount: inv.amount_due, currency: inv.currency, payment_method_types: ["card"], description: `Invoice ${inv.number ?? inv.id}`, metadata: { invoice: inv.id as string } }, ctx);
    const rec = s.piRecord(pi.id);
    rec.pi.customer = String(inv.customer);
    try {
      paid = confirm(s, pi.id, { payment_method: pmId, error_on_requires_action: true }, ctx).status === "succeeded";
    } catch (err) {
      if (!(err instanceof StripeApiError)) throw err; // a decline: a failed attempt
    }
    inv.payments = { object: "list", data: [{ id: newId("inpay"), object: "invoice_payment", amount_paid: paid ? inv.amount_due : null, amount_requested: inv.amount_due, created: s.seconds(), currency: inv.currency, invoice: inv.id as string, is_default: true, livemode: false, payment: { type: "payment_intent", payment_intent: pi.id }, status: paid ? "paid" : "open", status_transitions: { canceled_at: null, paid_at: paid ? s.seconds() : null } }], has_more: false, url: `/v1/invoice_payments?invoice=${inv.id as string}` } as unknown as Stripe.Invoice["payments"];
  } else if (inv.amount_due === 0) {
    paid = true;
  }
  if (paid) {
    inv.status = "paid";
    inv.amount_paid = inv.amount_due;
    inv.amount_remaining = 0;
    inv.next_payment_attempt = null;
    inv.status_transitions.paid_at = s.seconds();
    s.invoices.set(inv.id as string, inv);
    s.emit("invoice.paid", inv, String(subscriptionOfInvoice(inv)), ctx);
    s.emit("invoice.payment_succeeded", inv, String(subscriptionOfInvoice(inv)), ctx);
  } else {
    s.invoices.set(inv.id as string, inv);
    // next_payment_attempt is set by the caller (the retry policy) before the event is sent.
  }
  return paid;
}

/** The subscription was canceled with this invoice unpaid: Stripe voids it. */
export function voidInvoice(s: EmulatorState, inv: Stripe.Invoice, ctx: RequestContext): void {
  if (inv.status !== "open") return;
  inv.status = "void";
  inv.next_payment_attempt = null;
  inv.status_transitions.voided_at = s.seconds();
  s.invoices.set(inv.id as string, inv);
  s.emit("invoice.voided", inv, String(subscriptionOfInvoice(inv)), ctx);
}

export function invoiceRecord(s: EmulatorState, id: string, param = "invoice"): Stripe.Invoice {
  const inv = s.invoices.get(id);
  if (!inv) throw notFound("invoice", id, param);
  return inv;
}

export function invoiceRoutes(s: EmulatorState): Route[] {
  return [
    {
      method: "GET",
      pattern: /^\/v1\/invoices$/,
      handler: (p) =>
        list(s.invoices.values(), p, invoiceList, "/v1/invoices", (q, i) => (q.customer === undefined || i.customer === q.customer) && (q.subscription === undefined || subscriptionOfInvoice(i) === q.subscription) && (q.status === undefined || i.status === q.status)),
    },
    { method: "GET", pattern: new RegExp(`^/v1/invoices/${ID}$`), handler: (p, _ctx, [id]) => (P.parseParams(P.retrieveParams, p), clone(invoiceRecord(s, id, "id"))) },
  ];
}
