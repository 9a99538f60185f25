/**
 * What follows a refund's change of state, in the transaction that makes it (issue 16): the
 * hash-chained audit (`refund.requested` / `refund.succeeded` / `refund.failed`, who and why)
 * and, when a refund becomes succeeded, onRefundSucceeded — where billing issues the credit note.
 * Shared by the operator's refunds (refunds.ts) and the provider's webhooks (refund-events.ts).
 */
import type { Json, PaymentRow, RefundRow, Tx } from "../db/index";
import { writeAudit, type AuditMode } from "../server/audit-chain";
import { issueCreditNote } from "../billing/issue";

/** Who caused a refund change: an operator (API or CLI), or the provider (webhook, dashboard). */
export interface RefundActor {
  username: string;
  operatorId: number | null;
  role: string | null;
  via: "api" | "cli" | "webhook" | "console";
}

export const PROVIDER_ACTOR: RefundActor = { username: "stripe", operatorId: null, role: null, via: "webhook" };

function refundPayload(refund: RefundRow, payment: PaymentRow, actor: RefundActor, extra: Record<string, Json>): Record<string, Json> {
  return {
    refund_id: refund.refundId,
    payment_id: payment.paymentId,
    provider_ref: refund.providerRef,
    payment_provider_ref: payment.providerRef,
    amount: refund.amount,
    currency: refund.currency,
    state: refund.state,
    source: refund.source,
    reason: refund.reason,
    failure_reason: refund.failureReason,
    payment_amount: payment.amount,
    payment_refunded_amount: payment.refundedAmount,
    payment_refund_status: payment.refundStatus,
    operator: actor.username,
    operator_id: actor.operatorId,
    role: actor.role,
    via: actor.via,
    ...extra,
  };
}

export async function auditRefund(
  mode: AuditMode,
  tx: Tx,
  kind: "refund.requested" | "refund.succeeded" | "refund.failed",
  r: { refund: RefundRow; payment: PaymentRow },
  actor: RefundActor,
  extra: Record<string, Json> = {},
): Promise<void> {
  await writeAudit(mode, tx, { kind, sessionId: r.payment.sessionId, payload: refundPayload(r.refund, r.payment, actor, extra) });
}

/**
 * Called inside the transaction in which a refund becomes succeeded (the operator's refund
 * answered by the provider, or a webhook), exactly once per refund: the refund credit note is
 * issued here (billing's issueCreditNote, cloud/billing/), in the same transaction, so that a
 * succeeded refund and its credit note are committed together or not at all.
 */
export async function onRefundSucceeded(tx: Tx, refund: RefundRow, payment: PaymentRow): Promise<void> {
  // Idempotent by refund id (a replayed webhook gets the existing note back): one note per refund.
  await issueCreditNote(tx, { refundId: refund.refundId, paymentId: payment.paymentId, amount: refund.amount, currency: refund.currency, reason: refund.reason });
}

/** After applyRefundEvent / recordProviderRefund: the audit row and the credit-note hook for what changed. */
export async function afterRefundChange(mode: AuditMode, tx: Tx, r: { refund: RefundRow; payment: PaymentRow }, actor: RefundActor, extra: Record<string, Json> = {}): Promise<void> {
  if (r.refund.state === "succeeded") {
    await auditRefund(mode, tx, "refund.succeeded", r, actor, extra);
    await onRefundSucceeded(tx, r.refund, r.payment);
  } else if (r.refund.state === "failed" || r.refund.state === "canceled") {
    await auditRefund(mode, tx, "refund.failed", r, actor, extra);
  }
}
