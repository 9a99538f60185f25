/**
 * Refund lookups and the rows the provider reports (issue 16). Creating a refund the cloud
 * starts and moving a refund's state live in payments.ts (createRefund, applyRefundEvent); this
 * module finds the payment a provider event is about, records a refund made elsewhere (Stripe's
 * dashboard) under the payment's row lock, and reads refunds back for the operator's views.
 */
import { randomUUID } from "node:crypto";
import type { RefundState } from "../domain/state-machines";
import { findAuditEntries } from "./audit";
import { ValidationError } from "./errors";
import { lockPaymentAndSession, refreshRefundSummary, type PaymentRow, type RefundRow } from "./payments";
import type { Q, Tx } from "./types";

export async function findRefundByKey(q: Q, idempotencyKey: string): Promise<RefundRow | undefined> {
  const [row] = await q<RefundRow[]>`SELECT * FROM refunds WHERE idempotency_key = ${idempotencyKey}`;
  return row;
}

export async function findRefundByProviderRef(q: Q, providerRef: string): Promise<RefundRow | undefined> {
  const [row] = await q<RefundRow[]>`SELECT * FROM refunds WHERE provider_ref = ${providerRef}`;
  return row;
}

export async function findRefund(q: Q, refundId: string): Promise<RefundRow | undefined> {
  const [row] = await q<RefundRow[]>`SELECT * FROM refunds WHERE refund_id = ${refundId}`;
  return row;
}

export async function listRefundsOfSession(q: Q, sessionId: string): Promise<RefundRow[]> {
  return [
    ...(await q<RefundRow[]>`
      SELECT r.* FROM refunds r JOIN payments p ON p.payment_id = r.payment_id
      WHERE p.session_id = ${sessionId} ORDER BY r.created_at, r.refund_id`),
  ];
}

/** Refunds still waiting for the provider's answer (requested, no provider reference) since before `before`. */
export async function requestedRefundsOlderThan(q: Q, before: Date, limit = 100): Promise<RefundRow[]> {
  return [...(await q<RefundRow[]>`SELECT * FROM refunds WHERE state = 'requested' AND provider_ref IS NULL AND created_at < ${before} ORDER BY created_at LIMIT ${limit}`)];
}

/** For /billing/health: refunds waiting for the provider (requested) or under way there (pending), and the oldest waiting. */
export async function refundBacklog(q: Q): Promise<{ requested: number; pending: number; oldestRequestedAt: Date | null }> {
  const [row] = await q<{ requested: number; pending: number; oldestRequestedAt: Date | null }[]>`
    SELECT count(*) FILTER (WHERE state = 'requested')::int4 AS requested, count(*) FILTER (WHERE state = 'pending')::int4 AS pending,
      min(created_at) FILTER (WHERE state = 'requested') AS oldest_requested_at
    FROM refunds WHERE state IN ('requested', 'pending')`;
  return row;
}

/** Sum of the payment's refunds that are not failed or canceled (what counts against its amount). */
export async function committedRefunds(q: Q, paymentId: string): Promise<number> {
  const [{ total }] = await q<{ total: number }[]>`
    SELECT COALESCE(sum(amount), 0)::int4 AS total FROM refunds WHERE payment_id = ${paymentId} AND state NOT IN ('failed', 'canceled')`;
  return total;
}

/**
 * The payment a provider event is about: by its PaymentIntent (payments.provider_ref for a card
 * page payment, provider_payment_intent for a Checkout one), else by the payment_id the cloud
 * wrote in the metadata.
 */
export async function findPaymentForProvider(q: Q, ref: { paymentIntent?: string | null; paymentId?: string | null }): Promise<PaymentRow | undefined> {
  if (ref.paymentIntent) {
    const [row] = await q<PaymentRow[]>`SELECT * FROM payments WHERE provider_ref = ${ref.paymentIntent} OR provider_payment_intent = ${ref.paymentIntent} LIMIT 1`;
    if (row) return row;
  }
  if (ref.paymentId) {
    const [row] = await q<PaymentRow[]>`SELECT * FROM payments WHERE payment_id = ${ref.paymentId}`;
    return row;
  }
  return undefined;
}

/**
 * Remembers the PaymentIntent behind a payment whose provider_ref is something else (a Checkout
 * Session), once: refunds are reported by payment_intent. A PaymentIntent already known is kept.
 */
export async function linkPaymentIntent(q: Q, where: { paymentId: string } | { providerRef: string }, paymentIntent: string): Promise<void> {
  if (!/^pi_[A-Za-z0-9_]{1,250}$/.test(paymentIntent)) return;
  if ("paymentId" in where) {
    await q`UPDATE payments SET provider_payment_intent = ${paymentIntent}
      WHERE payment_id = ${where.paymentId} AND provider_payment_intent IS NULL AND provider_ref IS DISTINCT FROM ${paymentIntent}`;
  } else {
    await q`UPDATE payments SET provider_payment_intent = ${paymentIntent}
      WHERE provider_ref = ${where.providerRef} AND provider_payment_intent IS NULL AND provider_ref <> ${paymentIntent}`;
  }
}

export interface ProviderRefundInput {
  paymentId: string;
  providerRef: string;
  amount: number;
  currency: string;
  state: Exclude<RefundState, "requested">;
  reason: string;
  failureReason?: string;
}

/**
 * Records a refund the provider reports and the cloud did not start (made in Stripe's
 * dashboard), once per provider reference, under the payment's row lock. The provider has
 * already checked it against what is left on the charge, so it is the truth: a refund the cloud
 * requested but has not had accepted yet (state requested, no provider reference) that no
 * longer fits beside it can only be refused by the provider, and is canceled here ("superseded")
 * so that the refunds that count never exceed the payment. The cloud keeps at most one such
 * in-flight request per payment (see RefundService), which makes that conclusion exact.
 */
export async function recordProviderRefund(tx: Tx, input: ProviderRefundInput): Promise<{ refund: RefundRow; created: boolean; canceled: RefundRow[]; payment: PaymentRow }> {
  const { payment } = await lockPaymentAndSession(tx, { paymentId: input.paymentId });
  const [existing] = await tx<RefundRow[]>`SELECT * FROM refunds WHERE provider_ref = ${input.providerRef} FOR UPDATE`;
  if (existing) return { refund: existing, created: false, canceled: [], payment };
  if (input.currency.toUpperCase() !== payment.currency) throw new ValidationError(`provider refund ${input.providerRef} is in ${input.currency}, payment ${payment.paymentId} in ${payment.currency}`);
  const counts = input.state !== "failed" && input.state !== "canceled";
  const canceled: RefundRow[] = [];
  if (counts) {
    let committed = await committedRefunds(tx, payment.paymentId);
    const inFlight = await tx<RefundRow[]>`
      SELECT * FROM refunds WHERE payment_id = ${payment.paymentId} AND state = 'requested' AND provider_ref IS NULL
      ORDER BY created_at DESC, refund_id DESC FOR UPDATE`;
    for (const r of inFlight) {
      if (committed + input.amount <= payment.amount) break;
      const [c] = await tx<RefundRow[]>`
        UPDATE refunds SET state = 'canceled', failure_reason = ${`superseded: the provider refunded ${input.amount} ${payment.currency} meanwhile (${input.providerRef}), nothing is left for this request`.slice(0, 500)}, updated_at = now()
        WHERE refund_id = ${r.refundId} RETURNING *`;
      canceled.push(c);
      committed -= r.amount;
    }
    if (committed + input.amount > payment.amount) {
      throw new ValidationError(`provider refund ${input.providerRef} of ${input.amount} ${payment.currency} exceeds what is left on payment ${payment.paymentId} (${payment.amount - committed}): the records disagree with the provider`);
    }
  }
  const [refund] = await tx<RefundRow[]>`
    INSERT INTO refunds (refund_id, payment_id, provider_ref, amount, currency, state, reason, idempotency_key, failure_reason, source)
    VALUES (${`re_${randomUUID()}`}, ${payment.paymentId}, ${input.providerRef}, ${input.amount}, ${payment.currency}, ${input.state},
      ${input.reason.slice(0, 500) || "refunded at the provider"}, ${`provider:${input.providerRef}`}, ${input.failureReason ?? null}, 'provider')
    RETURNING *`;
  const updated = input.state === "succeeded" ? await refreshRefundSummary(tx, payment) : payment;
  return { refund, created: true, canceled, payment: updated };
}

/** The session's payments audited as `payment.late` (paid after the session was settled or closed by an override). */
export async function latePaymentsOf(q: Q, sessionId: string): Promise<PaymentRow[]> {
  const entries = await findAuditEntries(q, { sessionId, kind: "payment.late" });
  const ids = [...new Set(entries.map((e) => (e.payload as { payment_id?: unknown }).payment_id).filter((id): id is string => typeof id === "string"))];
  if (ids.length === 0) return [];
  return [...(await q<PaymentRow[]>`SELECT * FROM payments WHERE payment_id = any(${ids}::text[]) AND state = 'paid' ORDER BY created_at, payment_id`)];
}
