/**
 * Refunds (https://docs.stripe.com/api/refunds) of a succeeded, captured charge — in full or in
 * part — and the release of an uncaptured authorisation when its PaymentIntent is canceled.
 */
import type Stripe from "stripe";
import { notFound, paramError, requestError } from "../errors";
import { clone, newId } from "../ids";
import { formatAmount } from "../money";
import * as P from "../params";
import { applyMetadata, type MetadataParam, type RefundCreate } from "../params";
import { ID, list, type Route } from "../route";
import type { EmulatorState, RequestContext } from "../state";

export function createRefund(s: EmulatorState, p: RefundCreate, ctx: RequestContext): Stripe.Refund {
  if (p.payment_intent === undefined && p.charge === undefined) {
    throw paramError("parameter_missing", "payment_intent", "One of the following params should be provided for this request: payment_intent or charge.");
  }
  let charge: Stripe.Charge | undefined;
  if (p.payment_intent !== undefined) {
    const rec = s.piRecord(p.payment_intent, "payment_intent");
    if (p.charge !== undefined && rec.pi.latest_charge !== p.charge) {
      throw paramError("parameter_invalid_string", "charge", `Charge ${p.charge} does not belong to PaymentIntent ${p.payment_intent}.`);
    }
    if (rec.pi.status !== "succeeded") {
      throw requestError("charge_not_refundable", `This PaymentIntent (${rec.pi.id}) does not have a successful charge to refund (its status is ${rec.pi.status}).`, { param: "payment_intent" });
    }
    charge = s.charges.get(rec.pi.latest_charge as string);
  } else {
    charge = s.charges.get(p.charge as string);
    if (!charge) throw notFound("charge", p.charge as string, "charge");
    if (charge.status !== "succeeded" || !charge.captured) {
      throw requestError("charge_not_refundable", `Charge ${charge.id} has not been captured and cannot be refunded.`, { param: "charge" });
    }
  }
  const c = charge as Stripe.Charge;
  const remaining = c.amount - c.amount_refunded; // amount_refunded includes any uncaptured rest released at capture
  if (remaining <= 0) throw requestError("charge_already_refunded", `Charge ${c.id} has already been refunded.`);
  const amount = p.amount ?? remaining;
  if (amount > remaining) {
    throw requestError("amount_too_large", `Refund amount (${formatAmount(amount, c.currency)}) is greater than unrefunded amount on charge (${formatAmount(remaining, c.currency)})`, { param: "amount" });
  }
  return clone(refundCharge(s, c, amount, p.reason ?? null, applyMetadata({}, p.metadata), ctx));
}

export function refundCharge(s: EmulatorState, charge: Stripe.Charge, amount: number, reason: Stripe.Refund.Reason | null, metadata: Record<string, string>, ctx: RequestContext): Stripe.Refund {
  const refund: Stripe.Refund = {
    id: newId("re"),
    object: "refund",
    amount,
    balance_transaction: null,
    charge: charge.id,
    created: s.seconds(),
    currency: charge.currency,
    customer: null,
    customer_account: null,
    destination_details: { type: "card", card: { reference_status: "pending", reference_type: "acquirer_reference_number", type: "refund" } },
    metadata,
    payment_intent: charge.payment_intent,
    payment_method: charge.payment_method,
    reason,
    receipt_number: null,
    source_transfer_reversal: null,
    status: "succeeded",
    transfer_reversal: null,
  };
  s.refunds.set(refund.id, refund);
  charge.amount_refunded += amount;
  charge.refunded = charge.amount_refunded >= charge.amount;
  const key = typeof charge.payment_intent === "string" ? charge.payment_intent : charge.id;
  s.emit("refund.created", refund, key, ctx);
  s.emit("charge.refunded", charge, key, ctx);
  return refund;
}

/** POST /v1/refunds/:id (metadata only, as Stripe allows): Stripe sends `refund.updated` for it. */
export function updateRefundMetadata(s: EmulatorState, id: string, metadata: MetadataParam | undefined, ctx: RequestContext): Stripe.Refund {
  const r = s.refunds.get(id);
  if (!r) throw notFound("refund", id);
  r.metadata = applyMetadata(r.metadata ?? {}, metadata);
  s.emit("refund.updated", r, typeof r.payment_intent === "string" ? r.payment_intent : (r.charge as string), ctx);
  return clone(r);
}

export function refund(s: EmulatorState, id: string): Stripe.Refund {
  const r = s.refunds.get(id);
  if (!r) throw notFound("refund", id);
  return clone(r);
}

export function refundRoutes(s: EmulatorState): Route[] {
  return [
    { method: "POST", pattern: /^\/v1\/refunds$/, handler: (p, ctx) => createRefund(s, P.parseParams(P.refundCreate, p), ctx) },
    {
      method: "GET",
      pattern: /^\/v1\/refunds$/,
      handler: (p) =>
        list(s.refunds.values(), p, P.refundList, "/v1/refunds", (q, r) => (q.payment_intent === undefined || r.payment_intent === q.payment_intent) && (q.charge === undefined || r.charge === q.charge)),
    },
    { method: "GET", pattern: new RegExp(`^/v1/refunds/${ID}$`), handler: (p, _ctx, [id]) => (P.parseParams(P.retrieveParams, p), refund(s, id)) },
    { method: "POST", pattern: new RegExp(`^/v1/refunds/${ID}$`), handler: (p, ctx, [id]) => updateRefundMetadata(s, id, P.parseParams(P.metadataUpdate, p).metadata, ctx) },
  ];
}
