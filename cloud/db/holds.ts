/**
 * Holds at entry (issue 16 item 4), the repository: every state change locks the hold row and
 * asks HOLD_MACHINE (cloud/domain/state-machines.ts); a replayed or out-of-order provider event
 * comes back "noop" / "stale" with nothing written. The exit claims an authorised hold for a
 * session (exit_* columns) inside the exit request's transaction; the capture itself is an
 * ordinary payments row (provider_ref = the hold's PaymentIntent) so receipts and refunds see it.
 */
import { randomUUID } from "node:crypto";
import { HOLD_MACHINE, classify, type HoldState } from "../domain/state-machines";
import { NotFoundError, ValidationError } from "./errors";
import { attachProviderRef, type PaymentRow } from "./payments";
import { lockSession } from "./sessions";
import type { Json, Q, Tx } from "./types";

export interface HoldRow {
  holdId: string;
  siteId: string;
  identityMethod: "plate" | "badge" | "ticket";
  identityValue: string;
  state: HoldState;
  amount: number;
  currency: string;
  providerRef: string | null;
  customerRef: string | null;
  paymentMethodRef: string | null;
  failureReason: string | null;
  exitSessionId: string | null;
  exitPaymentId: string | null;
  exitState: "pending" | "done" | "fell_back" | null;
  exitFallback: Json | null;
  authorizedAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

export async function getHold(q: Q, holdId: string): Promise<HoldRow> {
  const [row] = await q<HoldRow[]>`SELECT * FROM hold_authorizations WHERE hold_id = ${holdId}`;
  if (!row) throw new NotFoundError("hold", holdId);
  return row;
}

export async function findHoldByProviderRef(q: Q, providerRef: string): Promise<HoldRow | undefined> {
  const [row] = await q<HoldRow[]>`SELECT * FROM hold_authorizations WHERE provider_ref = ${providerRef}`;
  return row;
}

export async function createHold(tx: Tx, input: { holdId: string; siteId: string; identity: { method: "plate" | "badge" | "ticket"; value: string }; amount: number; currency: string }): Promise<HoldRow> {
  const [row] = await tx<HoldRow[]>`
    INSERT INTO hold_authorizations (hold_id, site_id, identity_method, identity_value, amount, currency)
    VALUES (${input.holdId}, ${input.siteId}, ${input.identity.method}, ${input.identity.value}, ${input.amount}, ${input.currency})
    RETURNING *`;
  return row;
}

/** Records the provider objects once created (idempotent for the same values). */
export async function attachHoldRefs(tx: Tx, holdId: string, refs: { providerRef: string; customerRef: string }): Promise<HoldRow> {
  const [row] = await tx<HoldRow[]>`
    UPDATE hold_authorizations SET provider_ref = ${refs.providerRef}, customer_ref = ${refs.customerRef}, updated_at = now()
    WHERE hold_id = ${holdId} AND (provider_ref IS NULL OR provider_ref = ${refs.providerRef}) RETURNING *`;
  if (!row) throw new ValidationError(`hold ${holdId} already has another PaymentIntent`);
  return row;
}

export async function lockHold(tx: Tx, where: { holdId: string } | { providerRef: string }): Promise<HoldRow | undefined> {
  const [row] =
    "holdId" in where
      ? await tx<HoldRow[]>`SELECT * FROM hold_authorizations WHERE hold_id = ${where.holdId} FOR UPDATE`
      : await tx<HoldRow[]>`SELECT * FROM hold_authorizations WHERE provider_ref = ${where.providerRef} FOR UPDATE`;
  return row;
}

/**
 * Moves a hold through HOLD_MACHINE. "noop": already there (a replay); "stale": the table forbids
 * it (an out-of-order event) — nothing written in both cases.
 */
export async function transitionHold(
  tx: Tx,
  hold: HoldRow,
  to: Exclude<HoldState, "requested">,
  patch: { paymentMethodRef?: string | null; customerRef?: string | null; failureReason?: string | null } = {},
): Promise<{ outcome: "applied" | "noop" | "stale"; hold: HoldRow }> {
  const verdict = classify(HOLD_MACHINE, hold.state, to);
  if (verdict !== "apply") return { outcome: verdict === "noop" ? "noop" : "stale", hold };
  const [row] = await tx<HoldRow[]>`
    UPDATE hold_authorizations SET state = ${to},
      payment_method_ref = COALESCE(${patch.paymentMethodRef ?? null}, payment_method_ref),
      customer_ref = COALESCE(${patch.customerRef ?? null}, customer_ref),
      failure_reason = ${to === "authorized" || to === "captured" || to === "saved" ? null : (patch.failureReason ?? null)},
      authorized_at = CASE WHEN ${to} = 'authorized' THEN now() ELSE authorized_at END,
      updated_at = now()
    WHERE hold_id = ${hold.holdId} RETURNING *`;
  return { outcome: "applied", hold: row };
}

/**
 * The hold an exit can use for this identity: the newest one authorised and not yet claimed, or
 * (a stay longer than the hold's life) the newest expired one with a saved card. Locked.
 */
export async function findUsableHold(tx: Tx, siteId: string, identity: { method: string; value: string }): Promise<HoldRow | undefined> {
  const [row] = await tx<HoldRow[]>`
    SELECT * FROM hold_authorizations
    WHERE site_id = ${siteId} AND identity_method = ${identity.method} AND identity_value = ${identity.value}
      AND exit_session_id IS NULL
      AND (state = 'authorized' OR (state IN ('expired', 'saved') AND payment_method_ref IS NOT NULL AND customer_ref IS NOT NULL))
    ORDER BY created_at DESC LIMIT 1 FOR UPDATE`;
  return row;
}

/**
 * The exit claims the hold for its session: a payments row for what the hold can cover
 * (min(fee, hold), provider_ref = the hold's PaymentIntent, idempotency key naming hold and
 * quote) when it is still authorised, and the paymentReq to fall back to. In the exit request's
 * transaction, after the session was priced (pending_payment).
 */
export async function claimHoldForExit(tx: Tx, hold: HoldRow, input: { sessionId: string; fee: number; currency: string; fallback: Json }): Promise<{ hold: HoldRow; payment: PaymentRow | null }> {
  const session = await lockSession(tx, input.sessionId);
  let payment: PaymentRow | null = null;
  if (input.fee > 0 && hold.state === "authorized" && hold.providerRef !== null && input.currency === hold.currency) {
    const amount = Math.min(input.fee, hold.amount);
    const [row] = await tx<PaymentRow[]>`
      INSERT INTO payments (payment_id, session_id, provider, amount, currency, state, idempotency_key)
      VALUES (${`pay_${randomUUID()}`}, ${session.sessionId}, 'stripe', ${amount}, ${hold.currency}, 'requested', ${`hold-capture:${hold.holdId}:${session.sessionId}`})
      RETURNING *`;
    payment = await attachProviderRef(tx, row.paymentId, hold.providerRef);
  }
  const [claimed] = await tx<HoldRow[]>`
    UPDATE hold_authorizations SET exit_session_id = ${session.sessionId}, exit_payment_id = ${payment?.paymentId ?? null},
      exit_state = 'pending', exit_fallback = ${input.fallback === null ? null : tx.json(input.fallback as never)}, updated_at = now()
    WHERE hold_id = ${hold.holdId} RETURNING *`;
  return { hold: claimed, payment };
}

/**
 * A repeated exit request while this session's hold is still being settled: the new quote's
 * paymentReq (a re-quote issues a new pay token) replaces the one to fall back to. Returns
 * whether there was such a claim.
 */
export async function refreshPendingClaim(tx: Tx, sessionId: string, fallback: Json): Promise<boolean> {
  const rows = await tx`
    UPDATE hold_authorizations SET exit_fallback = ${tx.json(fallback as never)}, updated_at = now()
    WHERE exit_session_id = ${sessionId} AND exit_state = 'pending' AND exit_fallback IS NOT NULL RETURNING hold_id`;
  return rows.length > 0;
}

/** Holds whose exit is not settled yet (the capture worker's queue; a restart picks them up). */
export async function listPendingExitHolds(q: Q, limit = 20): Promise<HoldRow[]> {
  return [...(await q<HoldRow[]>`SELECT * FROM hold_authorizations WHERE exit_state = 'pending' ORDER BY updated_at LIMIT ${limit}`)];
}

export async function finishHoldExit(tx: Tx, holdId: string, exitState: "done" | "fell_back"): Promise<void> {
  await tx`UPDATE hold_authorizations SET exit_state = ${exitState}, updated_at = now() WHERE hold_id = ${holdId} AND exit_state = 'pending'`;
}
