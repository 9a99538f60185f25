/**
 * Payments and refunds (user's docs 000 §2, 004). The amount of a payment is taken from the
 * session's quote in the database, never from the caller (the browser never sets a price).
 * Every state change locks the session row, then the payment row (the global lock order), and
 * is checked against PAYMENT_MACHINE; webhooks go through `applyPaymentEvent`, which ignores
 * stale events instead of moving a state backwards.
 */
import { randomUUID } from "node:crypto";
import {
  PAYMENT_MACHINE,
  PAYMENT_REFUND_MACHINE,
  REFUND_MACHINE,
  assertTransition,
  classify,
  type PaymentRefundStatus,
  type PaymentState,
  type RefundState,
  type TransitionVerdict,
} from "../domain/state-machines";
import { IdempotencyConflictError, NotFoundError, ValidationError } from "./errors";
import { lockSession, settleLockedSession, type SessionRow } from "./sessions";
import type { Q, Tx } from "./types";

export interface PaymentRow {
  paymentId: string;
  sessionId: string;
  provider: string;
  providerRef: string | null;
  amount: number;
  currency: string;
  state: PaymentState;
  idempotencyKey: string;
  validatedTs: Date | null;
  failureReason: string | null;
  createdAt: Date;
  updatedAt: Date;
  /** Sum of the payment's succeeded refunds (minor units); state stays 'paid' (see PAYMENT_REFUND_MACHINE). */
  refundedAmount: number;
  refundStatus: PaymentRefundStatus;
  /** The PaymentIntent behind a Checkout Session payment (provider_ref is the cs_ id), once known. */
  providerPaymentIntent: string | null;
}

export type RefundSource = "operator" | "provider" | "late_payment";

export interface RefundRow {
  refundId: string;
  paymentId: string;
  providerRef: string | null;
  amount: number;
  currency: string;
  state: RefundState;
  reason: string;
  idempotencyKey: string;
  failureReason: string | null;
  createdAt: Date;
  updatedAt: Date;
  source: RefundSource;
  /** Who started it: an operator's username, `cli:<user>`, or null for the provider's dashboard. */
  requestedBy: string | null;
}

export async function getPayment(q: Q, paymentId: string): Promise<PaymentRow> {
  const [row] = await q<PaymentRow[]>`SELECT * FROM payments WHERE payment_id = ${paymentId}`;
  if (!row) throw new NotFoundError("payment", paymentId);
  return row;
}

export async function findPaymentByProviderRef(q: Q, providerRef: string): Promise<PaymentRow | undefined> {
  const [row] = await q<PaymentRow[]>`SELECT * FROM payments WHERE provider_ref = ${providerRef}`;
  return row;
}

export async function listPayments(q: Q, sessionId: string): Promise<PaymentRow[]> {
  return [...(await q<PaymentRow[]>`SELECT * FROM payments WHERE session_id = ${sessionId} ORDER BY created_at, payment_id`)];
}

/** The other payments of the session that `paidRef` paid (its other attempts), in one round trip. */
export async function listOtherAttempts(q: Q, paidRef: string): Promise<PaymentRow[]> {
  return [
    ...(await q<PaymentRow[]>`
      SELECT o.* FROM payments p JOIN payments o ON o.session_id = p.session_id AND o.payment_id <> p.payment_id
      WHERE p.provider_ref = ${paidRef} ORDER BY o.created_at, o.payment_id`),
  ];
}

/** Sum of the session's paid payments, in its currency. */
async function paidTotal(tx: Q, sessionId: string, currency: string | null): Promise<number> {
  const [{ total }] = await tx<{ total: number }[]>`
    SELECT COALESCE(sum(amount), 0)::int8 AS total FROM payments WHERE session_id = ${sessionId} AND state = 'paid' AND currency = ${currency}`;
  return total;
}

/** What is left to pay on the session's current quote (quote − paid total), never negative. */
async function amountDue(tx: Q, session: SessionRow): Promise<number> {
  if (session.amount === null) return 0;
  return Math.max(session.amount - (await paidTotal(tx, session.sessionId, session.currency)), 0);
}

/**
 * Creates the payment for a session's current quote, idempotently: the same `idempotencyKey`
 * returns the same payment (created: false); reusing a key for another session or amount throws
 * IdempotencyConflictError. The session must be pending_payment. The amount is what is left to
 * pay on the quote (quote − payments already paid: normally the whole quote). Use a key that names the quote,
 * e.g. `pay:<session_id>:<priced_at ms>` — the same key must be passed to the provider.
 */
export async function createPayment(
  tx: Tx,
  input: { sessionId: string; provider: string; idempotencyKey: string; paymentId?: string },
): Promise<{ payment: PaymentRow; created: boolean; session: SessionRow }> {
  const session = await lockSession(tx, input.sessionId);
  const [existing] = await tx<PaymentRow[]>`SELECT * FROM payments WHERE idempotency_key = ${input.idempotencyKey} FOR UPDATE`;
  if (existing) {
    if (existing.sessionId !== session.sessionId || existing.provider !== input.provider) {
      throw new IdempotencyConflictError(`idempotency key ${input.idempotencyKey} was used for another payment`);
    }
    return { payment: existing, created: false, session };
  }
  if (session.status !== "pending_payment") {
    throw new ValidationError(`session ${session.sessionId} is ${session.status}: a payment can only be created while pending_payment`);
  }
  const due = await amountDue(tx, session);
  if (session.currency === null || due <= 0) {
    throw new ValidationError(`session ${session.sessionId} has nothing left to pay`);
  }
  const [payment] = await tx<PaymentRow[]>`
    INSERT INTO payments (payment_id, session_id, provider, amount, currency, state, idempotency_key)
    VALUES (${input.paymentId ?? `pay_${randomUUID()}`}, ${session.sessionId}, ${input.provider}, ${due}, ${session.currency}, 'requested', ${input.idempotencyKey})
    RETURNING *`;
  return { payment, created: true, session };
}

/**
 * Records the provider's reference (PaymentIntent id) once the provider has created it, and
 * moves requested → pending. Idempotent for the same reference; another reference on the
 * same payment throws IdempotencyConflictError. In the caller's transaction: the session is
 * locked first (the global lock order), then the payment by its guarded update.
 */
export async function attachProviderRef(tx: Tx, paymentId: string, providerRef: string): Promise<PaymentRow> {
  await lockSessionOfPayment(tx, { paymentId });
  return writeProviderRef(tx, paymentId, providerRef);
}

/**
 * attachProviderRef as a statement of its own, outside any transaction (the pay page, right after
 * the provider created the PaymentIntent): the guarded update locks the payment row only while it
 * runs and holds no other lock meanwhile, so it cannot break the session → payment order — and
 * it is one round trip where a transaction took four (the pay-at-exit path: `bench cloud`).
 */
export async function attachProviderRefAlone(q: Q, paymentId: string, providerRef: string): Promise<PaymentRow> {
  return writeProviderRef(q, paymentId, providerRef);
}

// The guarded update below moves requested → pending in SQL: the machine must allow it.
assertTransition(PAYMENT_MACHINE, "requested", "pending", "attachProviderRef");

async function writeProviderRef(q: Q, paymentId: string, providerRef: string): Promise<PaymentRow> {
  const [row] = await q<PaymentRow[]>`
    UPDATE payments SET provider_ref = ${providerRef}, state = CASE WHEN state = 'requested' THEN 'pending' ELSE state END, updated_at = now()
    WHERE payment_id = ${paymentId} AND provider_ref IS NULL RETURNING *`;
  if (row) return row;
  const current = await getPayment(q, paymentId); // NotFoundError when there is no such payment
  if (current.providerRef === providerRef) return current;
  throw new IdempotencyConflictError(`payment ${paymentId} already has provider reference ${current.providerRef}`);
}

export interface PaymentEventResult {
  /**
   * "applied": state changed; "noop": already in that state (replay); "stale": out-of-order,
   * ignored; "mismatch": the provider's amount or currency is not the payment's (opts.expect),
   * nothing written.
   */
  outcome: "applied" | "noop" | "stale" | "mismatch";
  payment: PaymentRow;
  session: SessionRow;
  /**
   * When the payment became paid: what happened to the session. "applied": it is now paid;
   * "noop": it already was; "stale": it is closed or flagged (money arrived late: refund or
   * resolve); "underpaid": the paid total does not cover the session's current quote (it was
   * re-quoted higher), the session stays pending_payment and `amountDue` is left to pay.
   */
  sessionOutcome?: "applied" | "noop" | "stale" | "underpaid";
  amountDue?: number;
}

type PaymentTarget = Exclude<PaymentState, "requested">;

/** Locks the payment's session, then the payment (the global lock order), in two round trips. */
export async function lockPaymentAndSession(tx: Tx, where: { paymentId: string } | { providerRef: string }): Promise<{ payment: PaymentRow; session: SessionRow }> {
  const session = await lockSessionOfPayment(tx, where);
  const [payment] =
    "paymentId" in where
      ? await tx<PaymentRow[]>`SELECT * FROM payments WHERE payment_id = ${where.paymentId} FOR UPDATE`
      : await tx<PaymentRow[]>`SELECT * FROM payments WHERE provider_ref = ${where.providerRef} FOR UPDATE`;
  return { payment, session };
}

/** Locks the payment's session (the first lock of the global order); NotFoundError when there is no such payment. */
async function lockSessionOfPayment(tx: Tx, where: { paymentId: string } | { providerRef: string }): Promise<SessionRow> {
  const [session] =
    "paymentId" in where
      ? await tx<SessionRow[]>`SELECT * FROM sessions WHERE session_id = (SELECT session_id FROM payments WHERE payment_id = ${where.paymentId}) FOR UPDATE`
      : await tx<SessionRow[]>`SELECT * FROM sessions WHERE session_id = (SELECT session_id FROM payments WHERE provider_ref = ${where.providerRef}) FOR UPDATE`;
  if (!session) throw new NotFoundError("payment", "paymentId" in where ? where.paymentId : `with provider reference ${where.providerRef}`);
  return session;
}

async function writePayment(tx: Tx, payment: PaymentRow, to: PaymentTarget, opts: { failureReason?: string; validatedAt?: Date }): Promise<PaymentRow> {
  const failure = to === "failed" || to === "canceled" ? (opts.failureReason ?? null) : null;
  const validated = to === "paid" ? (opts.validatedAt ?? new Date()) : null;
  const [row] = await tx<PaymentRow[]>`
    UPDATE payments SET state = ${to}, failure_reason = ${failure}, validated_ts = ${validated}, updated_at = now()
    WHERE payment_id = ${payment.paymentId} RETURNING *`;
  return row;
}

interface TransitionOptions {
  failureReason?: string;
  validatedAt?: Date;
  /** What the provider reports (amount in minor units, currency): checked under the lock, before any change. */
  expect?: { amount: number; currency: string };
}

async function transition(
  tx: Tx,
  where: { paymentId: string } | { providerRef: string },
  to: PaymentTarget,
  opts: TransitionOptions,
  strict: boolean,
): Promise<PaymentEventResult> {
  const { payment, session } = await lockPaymentAndSession(tx, where);
  if (opts.expect && (opts.expect.amount !== payment.amount || opts.expect.currency.toUpperCase() !== payment.currency)) return { outcome: "mismatch", payment, session };
  const verdict: TransitionVerdict = classify(PAYMENT_MACHINE, payment.state, to);
  if (strict && verdict === "stale") assertTransition(PAYMENT_MACHINE, payment.state, to, payment.paymentId);
  if (to === "pending" && payment.providerRef === null) throw new ValidationError(`payment ${payment.paymentId} has no provider reference yet (attachProviderRef first)`);
  if (verdict !== "apply") return { outcome: verdict === "noop" ? "noop" : "stale", payment, session };
  const updated = await writePayment(tx, payment, to, opts);
  if (to !== "paid") return { outcome: "applied", payment: updated, session };
  const due = await amountDue(tx, session);
  if (due > 0 && (session.status === "active" || session.status === "pending_payment")) {
    return { outcome: "applied", payment: updated, session, sessionOutcome: "underpaid", amountDue: due };
  }
  const settled = await settleLockedSession(tx, session, updated.validatedTs ?? new Date());
  return { outcome: "applied", payment: updated, session: settled.session, sessionOutcome: settled.outcome };
}

/**
 * Applies a provider event (verified webhook, or a server-side retrieve) to the payment with
 * that provider reference. Out-of-order and replayed events never move a state backwards:
 * they come back as "stale" / "noop" with nothing written. Becoming paid also settles the
 * session (pending_payment → paid) in the same transaction.
 */
export async function applyPaymentEvent(
  tx: Tx,
  providerRef: string,
  to: PaymentTarget,
  opts: TransitionOptions = {},
): Promise<PaymentEventResult> {
  return transition(tx, { providerRef }, to, opts, false);
}

/**
 * Same as applyPaymentEvent but by payment id and strict: a transition the table forbids throws
 * IllegalTransitionError (for the server's own commands, e.g. a retry: failed → pending).
 */
export async function transitionPayment(
  tx: Tx,
  paymentId: string,
  to: PaymentTarget,
  opts: { failureReason?: string; validatedAt?: Date } = {},
): Promise<PaymentEventResult> {
  return transition(tx, { paymentId }, to, opts, true);
}

/**
 * Creates a refund of a paid payment, idempotently by key. The total of refunds that are not
 * failed or canceled never exceeds the payment's amount (checked under the payment's row lock).
 */
export async function createRefund(
  tx: Tx,
  input: { paymentId: string; amount: number; reason: string; idempotencyKey: string; refundId?: string; source?: RefundSource; requestedBy?: string | null },
): Promise<{ refund: RefundRow; created: boolean }> {
  if (!Number.isInteger(input.amount) || input.amount <= 0) throw new ValidationError("refund amount must be a positive integer (minor units)");
  const { payment } = await lockPaymentAndSession(tx, { paymentId: input.paymentId });
  const [existing] = await tx<RefundRow[]>`SELECT * FROM refunds WHERE idempotency_key = ${input.idempotencyKey}`;
  if (existing) {
    if (existing.paymentId !== payment.paymentId || existing.amount !== input.amount) throw new IdempotencyConflictError(`idempotency key ${input.idempotencyKey} was used for another refund`);
    return { refund: existing, created: false };
  }
  if (payment.state !== "paid") throw new ValidationError(`payment ${payment.paymentId} is ${payment.state}: only a paid payment can be refunded`);
  const [{ refunded }] = await tx<{ refunded: number }[]>`
    SELECT COALESCE(sum(amount), 0)::int4 AS refunded FROM refunds WHERE payment_id = ${payment.paymentId} AND state NOT IN ('failed', 'canceled')`;
  if (refunded + input.amount > payment.amount) {
    throw new ValidationError(`refund of ${input.amount} exceeds what is left to refund (${payment.amount - refunded} ${payment.currency})`);
  }
  const [refund] = await tx<RefundRow[]>`
    INSERT INTO refunds (refund_id, payment_id, amount, currency, state, reason, idempotency_key, source, requested_by)
    VALUES (${input.refundId ?? `re_${randomUUID()}`}, ${payment.paymentId}, ${input.amount}, ${payment.currency}, 'requested', ${input.reason}, ${input.idempotencyKey},
      ${input.source ?? "operator"}, ${input.requestedBy ?? null})
    RETURNING *`;
  return { refund, created: true };
}

/**
 * Moves a refund (by id; sets the provider reference when given). Stale events are ignored.
 * Locks the session, the payment, then the refund (the global lock order); a refund that
 * becomes succeeded updates the payment's refunded_amount / refund_status in the same
 * transaction (refreshRefundSummary).
 */
export async function applyRefundEvent(
  tx: Tx,
  refundId: string,
  to: Exclude<RefundState, "requested">,
  opts: { providerRef?: string; failureReason?: string } = {},
): Promise<{ outcome: "applied" | "noop" | "stale"; refund: RefundRow; payment: PaymentRow }> {
  const [owner] = await tx<{ paymentId: string }[]>`SELECT payment_id FROM refunds WHERE refund_id = ${refundId}`;
  if (!owner) throw new NotFoundError("refund", refundId);
  const { payment } = await lockPaymentAndSession(tx, { paymentId: owner.paymentId });
  const [r] = await tx<RefundRow[]>`SELECT * FROM refunds WHERE refund_id = ${refundId} FOR UPDATE`;
  const verdict = classify(REFUND_MACHINE, r.state, to);
  if (verdict !== "apply") {
    if (opts.providerRef && r.providerRef === null) await tx`UPDATE refunds SET provider_ref = ${opts.providerRef}, updated_at = now() WHERE refund_id = ${refundId}`;
    return { outcome: verdict === "noop" ? "noop" : "stale", refund: r, payment };
  }
  const failure = to === "failed" || to === "canceled" ? (opts.failureReason ?? null) : null;
  const [refund] = await tx<RefundRow[]>`
    UPDATE refunds SET state = ${to}, provider_ref = COALESCE(provider_ref, ${opts.providerRef ?? null}),
      failure_reason = ${failure}, updated_at = now()
    WHERE refund_id = ${refundId} RETURNING *`;
  const updated = to === "succeeded" ? await refreshRefundSummary(tx, payment) : payment;
  return { outcome: "applied", refund, payment: updated };
}

/**
 * Recomputes the payment's refunded_amount (sum of its succeeded refunds) and refund_status,
 * checked against PAYMENT_REFUND_MACHINE. The caller holds the payment's row lock.
 */
export async function refreshRefundSummary(tx: Tx, payment: PaymentRow): Promise<PaymentRow> {
  const [{ refunded }] = await tx<{ refunded: number }[]>`
    SELECT COALESCE(sum(amount), 0)::int4 AS refunded FROM refunds WHERE payment_id = ${payment.paymentId} AND state = 'succeeded'`;
  const status: PaymentRefundStatus = refunded === 0 ? "none" : refunded >= payment.amount ? "full" : "partial";
  if (status === payment.refundStatus && refunded === payment.refundedAmount) return payment;
  if (status !== payment.refundStatus || status === "partial") assertTransition(PAYMENT_REFUND_MACHINE, payment.refundStatus, status, payment.paymentId);
  const [row] = await tx<PaymentRow[]>`
    UPDATE payments SET refunded_amount = ${refunded}, refund_status = ${status}, updated_at = now()
    WHERE payment_id = ${payment.paymentId} RETURNING *`;
  return row;
}
