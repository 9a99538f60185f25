/**
 * Customers (https://docs.stripe.com/api/customers) and the PaymentMethods attached to them
 * (https://docs.stripe.com/api/payment_methods/attach): what a saved card and a subscription
 * hang on. create / retrieve / update / list, attach / detach, and the customer's cards.
 *
 * As on Stripe: a PaymentMethod belongs to at most one Customer (attaching it to another is
 * refused); `invoice_settings.default_payment_method` must be attached to the customer; a
 * detached PaymentMethod cannot be used again; the events are `customer.created`,
 * `customer.updated`, `payment_method.attached`, `payment_method.detached`.
 */
import type Stripe from "stripe";
import { z } from "zod";
import { notFound, paramError } from "../errors";
import { clone, newId } from "../ids";
import * as P from "../params";
import { ID, list, type Route } from "../route";
import type { EmulatorState, RequestContext } from "../state";
import { resolvePaymentMethodId } from "./payment-methods";

const text = (max: number) => z.string().max(max, { error: `This value must be at most ${max} characters long.` });
const invoiceSettings = z.strictObject({ default_payment_method: z.string().optional() });

export const customerCreate = z.strictObject({
  email: text(512).optional(),
  name: text(256).optional(),
  phone: text(20).optional(),
  description: text(350).optional(),
  metadata: P.metadataParam.optional(),
  payment_method: z.string().optional(),
  invoice_settings: invoiceSettings.optional(),
  expand: z.array(z.string().max(200)).max(20).optional(),
});
export const customerUpdate = customerCreate.omit({ payment_method: true });
const customerList = P.listParams.extend({ email: z.string().optional() });
const attachParams = z.strictObject({ customer: z.string(), expand: z.array(z.string()).max(20).optional() });
const customerPmList = P.listParams.extend({ type: z.enum(["card"]).optional() });

export function customerRecord(s: EmulatorState, id: string, param = "customer"): Stripe.Customer {
  const c = s.customers.get(id);
  if (!c) throw notFound("customer", id, param);
  return c;
}

export function createCustomer(s: EmulatorState, p: z.infer<typeof customerCreate>, ctx: RequestContext): Stripe.Customer {
  const id = newId("cus");
  const c = {
    id,
    object: "customer",
    address: null,
    balance: 0,
    created: s.seconds(),
    currency: null,
    default_source: null,
    delinquent: false,
    description: p.description ?? null,
    discount: null,
    email: p.email ?? null,
    invoice_prefix: id.slice(4, 12).toUpperCase(),
    invoice_settings: { custom_fields: null, default_payment_method: null, footer: null, rendering_options: null },
    livemode: false,
    metadata: P.applyMetadata({}, p.metadata),
    name: p.name ?? null,
    phone: p.phone ?? null,
    preferred_locales: [],
    shipping: null,
    tax_exempt: "none",
    test_clock: null,
  } as Stripe.Customer;
  s.customers.set(id, c);
  if (p.payment_method !== undefined) attachPaymentMethod(s, p.payment_method, id, ctx, "payment_method");
  if (p.invoice_settings?.default_payment_method !== undefined) setDefaultPaymentMethod(s, c, p.invoice_settings.default_payment_method);
  s.emit("customer.created", c, id, ctx);
  return clone(c);
}

function setDefaultPaymentMethod(s: EmulatorState, c: Stripe.Customer, pmId: string): void {
  if (pmId === "") {
    c.invoice_settings.default_payment_method = null;
    return;
  }
  const pm = s.paymentMethods.get(pmId)?.pm;
  if (!pm) throw notFound("payment_method", pmId, "invoice_settings[default_payment_method]");
  if (pm.customer !== c.id) {
    throw paramError("resource_missing", "invoice_settings[default_payment_method]", `The PaymentMethod ${pmId} is not attached to customer ${c.id}; attach it first.`);
  }
  c.invoice_settings.default_payment_method = pmId;
}

export function updateCustomer(s: EmulatorState, id: string, p: z.infer<typeof customerUpdate>, ctx: RequestContext): Stripe.Customer {
  const c = customerRecord(s, id, "id");
  if (p.email !== undefined) c.email = p.email === "" ? null : p.email;
  if (p.name !== undefined) c.name = p.name === "" ? null : p.name;
  if (p.phone !== undefined) c.phone = p.phone === "" ? null : p.phone;
  if (p.description !== undefined) c.description = p.description === "" ? null : p.description;
  c.metadata = P.applyMetadata(c.metadata, p.metadata);
  if (p.invoice_settings?.default_payment_method !== undefined) setDefaultPaymentMethod(s, c, p.invoice_settings.default_payment_method);
  s.customers.set(id, c);
  s.emit("customer.updated", c, id, ctx);
  return clone(c);
}

/** Attaches a card to a customer (a magic test id makes a fresh PaymentMethod first, like Stripe). */
export function attachPaymentMethod(s: EmulatorState, pmRef: string, customerId: string, ctx: RequestContext, param = "payment_method"): Stripe.PaymentMethod {
  customerRecord(s, customerId);
  const rec = s.paymentMethods.get(resolvePaymentMethodId(s, pmRef, param));
  if (!rec) throw notFound("payment_method", pmRef, param);
  if (rec.detached) throw paramError("payment_method_unexpected_state", param, `The PaymentMethod ${rec.pm.id} was previously detached from a Customer and cannot be used again.`);
  if (rec.pm.customer === customerId) return clone(rec.pm);
  if (rec.pm.customer !== null) throw paramError("payment_method_unexpected_state", param, `The PaymentMethod ${rec.pm.id} is already attached to customer ${String(rec.pm.customer)}.`);
  rec.pm.customer = customerId;
  s.paymentMethods.set(rec.pm.id, rec);
  s.emit("payment_method.attached", rec.pm, rec.pm.id, ctx);
  return clone(rec.pm);
}

export function detachPaymentMethod(s: EmulatorState, pmId: string, ctx: RequestContext): Stripe.PaymentMethod {
  const rec = s.paymentMethods.get(pmId);
  if (!rec) throw notFound("payment_method", pmId, "payment_method");
  const owner = rec.pm.customer;
  if (owner === null) throw paramError("payment_method_unexpected_state", "payment_method", `The PaymentMethod ${pmId} is not attached to a customer.`);
  rec.pm.customer = null;
  rec.detached = true;
  s.paymentMethods.set(pmId, rec);
  const c = s.customers.get(String(owner));
  if (c && c.invoice_settings.default_payment_method === pmId) {
    c.invoice_settings.default_payment_method = null;
    s.customers.set(c.id, c);
  }
  s.emit("payment_method.detached", rec.pm, pmId, ctx);
  return clone(rec.pm);
}

export function customerRoutes(s: EmulatorState): Route[] {
  return [
    { method: "POST", pattern: /^\/v1\/customers$/, handler: (p, ctx) => createCustomer(s, P.parseParams(customerCreate, p), ctx) },
    { method: "GET", pattern: /^\/v1\/customers$/, handler: (p) => list(s.customers.values(), p, customerList, "/v1/customers", (q, c) => q.email === undefined || c.email === q.email) },
    { method: "GET", pattern: new RegExp(`^/v1/customers/${ID}$`), handler: (p, _ctx, [id]) => (P.parseParams(P.retrieveParams, p), clone(customerRecord(s, id, "id"))) },
    { method: "POST", pattern: new RegExp(`^/v1/customers/${ID}$`), handler: (p, ctx, [id]) => updateCustomer(s, id, P.parseParams(customerUpdate, p), ctx) },
    {
      method: "GET",
      pattern: new RegExp(`^/v1/customers/${ID}/payment_methods$`),
      handler: (p, _ctx, [id]) => {
        customerRecord(s, id, "id");
        const cards = [...s.paymentMethods.values()].filter((r) => r.pm.customer === id).map((r) => clone(r.pm));
        return list(cards, p, customerPmList, `/v1/customers/${id}/payment_methods`);
      },
    },
    { method: "POST", pattern: new RegExp(`^/v1/payment_methods/${ID}/attach$`), handler: (p, ctx, [id]) => attachPaymentMethod(s, id, P.parseParams(attachParams, p).customer, ctx, "payment_method") },
    { method: "POST", pattern: new RegExp(`^/v1/payment_methods/${ID}/detach$`), handler: (p, ctx, [id]) => (P.parseParams(P.retrieveParams, p), detachPaymentMethod(s, id, ctx)) },
  ];
}
