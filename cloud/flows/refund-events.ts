/**
 * Refund webhooks (issue 16): `refund.created`, `refund.updated`, `refund.failed` and
 * `charge.refunded`, dispatched by PaymentService.handleWebhook inside its transaction (the
 * webhook table makes a replayed event act once). A refund the cloud started is found by its
 * provider reference or the refund_id it put in the metadata; one made in Stripe's dashboard
 * gets its row from the event (the payment found by payment_intent, or the charge's metadata).
 * States only move forward (REFUND_MACHINE): a `refund.created` saying pending that arrives
 * after `refund.updated` said succeeded is stale and changes nothing.
 */
import type Stripe from "stripe";
import { applyRefundEvent, findPaymentForProvider, findRefund, findRefundByProviderRef, linkPaymentIntent, recordProviderRefund, type Json, type RefundRow, type Tx } from "../db/index";
import type { RefundState } from "../domain/state-machines";
import type { AuditMode } from "../server/audit-chain";
import { PROVIDER_ACTOR, afterRefundChange, auditRefund } from "./refund-effects";

/** What a refund event did, as the webhook table records it. */
export type RefundEventOutcome = "refund_applied" | "refund_noop" | "stale" | "unknown_payment" | "ignored";

/** Stripe's refund status → ours (requires_action is still under way). */
export function refundStateOf(status: string | null): Exclude<RefundState, "requested"> {
  switch (status) {
    case "succeeded":
      return "succeeded";
    case "failed":
      return "failed";
    case "canceled":
      return "canceled";
    default:
      return "pending";
  }
}

const idOf = (v: string | { id: string } | null | undefined): string | null => (v == null ? null : typeof v === "string" ? v : v.id);

/** The cloud's own row for a provider refund: by provider reference, else by the refund_id in its metadata. */
async function ownRow(tx: Tx, re: Stripe.Refund): Promise<RefundRow | undefined> {
  const byRef = await findRefundByProviderRef(tx, re.id);
  if (byRef) return byRef;
  const id = re.metadata?.refund_id;
  if (typeof id !== "string") return undefined;
  const row = await findRefund(tx, id);
  return row && row.providerRef === null ? row : undefined;
}

/** One refund object (from a refund.* event, or listed on a charge.refunded). */
export async function applyProviderRefund(tx: Tx, re: Stripe.Refund, mode: AuditMode, extra: Record<string, Json>): Promise<RefundEventOutcome> {
  const to = refundStateOf(re.status);
  const failureReason = to === "failed" || to === "canceled" ? `provider: ${re.failure_reason ?? re.status ?? "failed"}` : undefined;
  const own = await ownRow(tx, re);
  if (own) {
    const r = await applyRefundEvent(tx, own.refundId, to, { providerRef: re.id, ...(failureReason ? { failureReason } : {}) });
    if (r.outcome !== "applied") return r.outcome === "noop" ? "refund_noop" : "stale";
    await afterRefundChange(mode, tx, r, PROVIDER_ACTOR, extra);
    return "refund_applied";
  }
  const payment = await findPaymentForProvider(tx, { paymentIntent: idOf(re.payment_intent), paymentId: re.metadata?.payment_id ?? null });
  if (!payment) return "unknown_payment";
  const rec = await recordProviderRefund(tx, {
    paymentId: payment.paymentId,
    providerRef: re.id,
    amount: re.amount,
    currency: re.currency,
    state: to,
    reason: `refunded at the provider${re.reason ? ` (${re.reason})` : ""}`,
    ...(failureReason ? { failureReason } : {}),
  });
  if (!rec.created) return "refund_noop";
  for (const c of rec.canceled) await auditRefund(mode, tx, "refund.failed", { refund: c, payment: rec.payment }, PROVIDER_ACTOR, { ...extra, superseded_by: re.id });
  await auditRefund(mode, tx, "refund.requested", rec, PROVIDER_ACTOR, extra);
  await afterRefundChange(mode, tx, rec, PROVIDER_ACTOR, extra);
  return "refund_applied";
}

/**
 * charge.refunded: remembers the charge's PaymentIntent for its payment (a Checkout payment is
 * known by its cs_ id), then applies the refunds the charge lists, when it lists them (Stripe
 * only does when `refunds` is expanded; otherwise each refund has its own refund.* event).
 */
async function applyChargeRefunded(tx: Tx, charge: Stripe.Charge, mode: AuditMode, extra: Record<string, Json>): Promise<RefundEventOutcome> {
  const pi = idOf(charge.payment_intent);
  const payment = await findPaymentForProvider(tx, { paymentIntent: pi, paymentId: charge.metadata?.payment_id ?? null });
  if (!payment) return "unknown_payment";
  if (pi) await linkPaymentIntent(tx, { paymentId: payment.paymentId }, pi);
  let outcome: RefundEventOutcome = "refund_noop";
  for (const re of charge.refunds?.data ?? []) {
    if ((await applyProviderRefund(tx, re, mode, extra)) === "refund_applied") outcome = "refund_applied";
  }
  return outcome;
}

/** The refund cases of the webhook dispatch; anything else is "ignored". */
export async function applyRefundWebhook(tx: Tx, event: Stripe.Event, mode: AuditMode): Promise<RefundEventOutcome> {
  const extra = { event_id: event.id, event_type: event.type };
  switch (event.type) {
    case "refund.created":
    case "refund.updated":
    case "refund.failed":
    case "charge.refund.updated":
      return applyProviderRefund(tx, event.data.object, mode, extra);
    case "charge.refunded":
      return applyChargeRefunded(tx, event.data.object, mode, extra);
    default:
      return "ignored";
  }
}
