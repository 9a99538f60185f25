/**
 * An unused prepayment refunded in full (issue 16): the refund is recorded on the prepayment
 * row itself (migration 13, prepayments.refund_*), always locked FOR UPDATE. The prepayment moves
 * paid → refunded through PREPAYMENT_MACHINE once the provider took the refund (pending or
 * succeeded); refund_state only moves forward, so a replayed or out-of-order provider event
 * writes nothing. While a refund is requested the prepayment cannot be spent by an exit
 * (lockPrepaymentForSession skips it); a refund the provider refused leaves it paid and usable.
 */
import { sessionOfPrepaidReservation } from "./reservations";
import { PREPAYMENT_MACHINE, assertTransition } from "../domain/state-machines";
import { NotFoundError } from "./errors";
import type { PrepaymentRow } from "./prepayments";
import type { Tx } from "./types";

export type PrepaymentRefundState = "requested" | "pending" | "succeeded" | "failed" | "canceled";

export interface PrepaymentRefundRow extends PrepaymentRow {
  refundKey: string | null;
  refundState: PrepaymentRefundState | null;
  refundProviderRef: string | null;
  refundReason: string | null;
  refundRequestedBy: string | null;
  refundRequestedAt: Date | null;
  refundFailure: string | null;
  refundedAt: Date | null;
}

const RANK: Record<PrepaymentRefundState, number> = { requested: 0, pending: 1, succeeded: 2, failed: 2, canceled: 2 };
const settledFailed = (s: PrepaymentRefundState | null) => s === "failed" || s === "canceled";

async function lock(tx: Tx, prepaymentId: string): Promise<PrepaymentRefundRow> {
  const [p] = await tx<PrepaymentRefundRow[]>`SELECT * FROM prepayments WHERE prepayment_id = ${prepaymentId} FOR UPDATE`;
  if (!p) throw new NotFoundError("prepayment", prepaymentId);
  return p;
}

export type BeginRefund =
  /** fresh: recorded by this call (false: a request with the same key still under way, resumed). */
  | { kind: "start"; prepayment: PrepaymentRefundRow; fresh: boolean }
  | { kind: "replay"; prepayment: PrepaymentRefundRow }
  | { kind: "refused"; prepayment: PrepaymentRefundRow; why: string };

/**
 * The operator's request, before the provider is called: only a `paid` prepayment; the first
 * request records its key, reason and operator (refund_state requested). The same key again
 * answers the same refund (replay); a refund already under way with another key is refused, and
 * one the provider refused may be asked again.
 */
export async function beginPrepaymentRefund(tx: Tx, prepaymentId: string, r: { key: string; reason: string; requestedBy: string }): Promise<BeginRefund> {
  const p = await lock(tx, prepaymentId);
  if (p.refundKey === r.key && !settledFailed(p.refundState)) return p.refundState === "requested" ? { kind: "start", prepayment: p, fresh: false } : { kind: "replay", prepayment: p };
  if (p.state === "refunded") return { kind: "refused", prepayment: p, why: `prepayment ${prepaymentId} is already refunded (refund ${p.refundProviderRef ?? "?"}, ${p.refundState ?? "?"})` };
  if (p.state === "consumed") return { kind: "refused", prepayment: p, why: `prepayment ${prepaymentId} is consumed: session ${p.consumedSessionId ?? "?"} used it at its exit (refund that session's payment instead)` };
  if (p.state !== "paid") return { kind: "refused", prepayment: p, why: `prepayment ${prepaymentId} is ${p.state}, not paid: there is nothing to refund` };
  // A reservation's prepayment stays `paid` while its car is inside or after it left (the stay is priced from the window's end): it was used.
  const reservedSession = await sessionOfPrepaidReservation(tx, prepaymentId);
  if (reservedSession) return { kind: "refused", prepayment: p, why: `prepayment ${prepaymentId} paid a reservation that was used: session ${reservedSession} came in with it (refund that session's payment instead)` };
  if (p.refundState !== null && !settledFailed(p.refundState)) return { kind: "refused", prepayment: p, why: `prepayment ${prepaymentId} already has a refund ${p.refundState} (asked with another Idempotency-Key)` };
  const [row] = await tx<PrepaymentRefundRow[]>`
    UPDATE prepayments SET refund_key = ${r.key}, refund_state = 'requested', refund_reason = ${r.reason}, refund_requested_by = ${r.requestedBy},
      refund_requested_at = now(), refund_failure = NULL, refund_provider_ref = NULL, updated_at = now()
    WHERE prepayment_id = ${prepaymentId} RETURNING *`;
  return { kind: "start", prepayment: row, fresh: true };
}

export interface RefundOutcome {
  outcome: "applied" | "noop" | "stale";
  prepayment: PrepaymentRefundRow;
  /** The prepayment moved paid → refunded in this call. */
  refundedNow: boolean;
}

/**
 * What the provider says of the refund (its answer to refunds.create, or a verified webhook):
 * pending / succeeded → the prepayment is refunded; failed / canceled → it stays paid, usable.
 * A state behind the recorded one (pending after succeeded) is stale.
 */
export async function applyPrepaymentRefund(tx: Tx, prepaymentId: string, ev: { providerRef: string; state: Exclude<PrepaymentRefundState, "requested">; failure?: string }): Promise<RefundOutcome> {
  const p = await lock(tx, prepaymentId);
  if (p.refundProviderRef !== null && p.refundProviderRef !== ev.providerRef) return { outcome: "stale", prepayment: p, refundedNow: false };
  if (p.refundState === ev.state && p.refundProviderRef === ev.providerRef) return { outcome: "noop", prepayment: p, refundedNow: false };
  if (p.refundState !== null && RANK[ev.state] <= RANK[p.refundState] && p.refundProviderRef !== null) return { outcome: "stale", prepayment: p, refundedNow: false };
  const refundNow = (ev.state === "pending" || ev.state === "succeeded") && p.state === "paid";
  if (refundNow) assertTransition(PREPAYMENT_MACHINE, p.state, "refunded", prepaymentId);
  const [row] = await tx<PrepaymentRefundRow[]>`
    UPDATE prepayments SET refund_key = COALESCE(refund_key, ${`provider:${ev.providerRef}`}), refund_state = ${ev.state}, refund_provider_ref = ${ev.providerRef}, refund_failure = ${ev.failure ?? null},
      state = ${refundNow ? "refunded" : p.state}, refunded_at = ${refundNow ? new Date() : p.refundedAt}, updated_at = now()
    WHERE prepayment_id = ${prepaymentId} RETURNING *`;
  return { outcome: "applied", prepayment: row, refundedNow: refundNow };
}

/** The prepayment a provider refund belongs to: by the refund's own reference, else by the PaymentIntent it refunds. */
export async function findPrepaymentForRefund(tx: Tx, refs: { refund: string | null; paymentIntent: string | null }): Promise<PrepaymentRefundRow | undefined> {
  if (refs.refund) {
    const [byRefund] = await tx<PrepaymentRefundRow[]>`SELECT * FROM prepayments WHERE refund_provider_ref = ${refs.refund}`;
    if (byRefund) return byRefund;
  }
  if (!refs.paymentIntent) return undefined;
  const [byIntent] = await tx<PrepaymentRefundRow[]>`SELECT * FROM prepayments WHERE provider_ref = ${refs.paymentIntent}`;
  return byIntent;
}
