/**
 * Refunds an operator starts (issue 16; user's doc 004 "REFUNDED"): `POST /api/operator/refunds`
 * and `syspark refund`. Three steps, so that a crash or the provider being down never loses or
 * doubles a refund:
 *  1. one transaction records the refund `requested` under the payment's row lock — never more
 *     than what is left of the payment (createRefund) — with the caller's idempotency key, and
 *     audits `refund.requested` (who, why);
 *  2. the provider is asked (stripe.refunds.create) with the refund row's idempotency key, so a
 *     retry after a timeout gets the same Stripe refund back, never a second one;
 *  3. its answer is applied (applyRefundEvent: succeeded / pending / failed) and audited; the
 *     provider out of reach leaves the refund `requested`, and the same request (same key)
 *     drives it again.
 * A payment has at most one refund `requested` without the provider's answer at a time: a
 * refund made in Stripe's dashboard meanwhile can then be reconciled exactly (recordProviderRefund).
 */
import type Stripe from "stripe";
import type { Logger } from "../../host/log";
import {
  IdempotencyConflictError,
  NotFoundError,
  ValidationError,
  applyRefundEvent,
  committedRefunds,
  createRefund,
  findRefund,
  findRefundByKey,
  getPayment,
  getSession,
  latePaymentsOf,
  linkPaymentIntent,
  listPayments,
  lockPaymentAndSession,
  requestedRefundsOlderThan,
  type Database,
  type PaymentRow,
  type RefundRow,
  type RefundSource,
} from "../db/index";
import { minorDigits } from "../tariffs/money";
import type { AuditMode } from "../server/audit-chain";
import { HttpError } from "./errors";
import { afterRefundChange, auditRefund, type RefundActor } from "./refund-effects";
import { refundStateOf } from "./refund-events";

export interface RefundContext {
  db: Database;
  stripe: Stripe;
  auditMode: AuditMode;
  logger: Logger;
  /** The receipt worker: a receipt still owed is issued before the refund, so the credit note names it. */
  receipts?: { issueOwed(paymentId: string): Promise<boolean> };
  /** SYSPARK_OPERATOR_REFUND_LIMIT (minor units): how far role `operator` may refund a payment; default DEFAULT_OPERATOR_REFUND_LIMIT. */
  operatorRefundLimit?: number;
}

/** What role `operator` may refund of one payment in all (minor units) unless SYSPARK_OPERATOR_REFUND_LIMIT says otherwise; admins are not limited. */
export const DEFAULT_OPERATOR_REFUND_LIMIT = 5000;

/** SYSPARK_OPERATOR_REFUND_LIMIT: a whole number of minor units (0 forbids operators any refund); absent → the default. */
export function operatorRefundLimitFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  const v = env.SYSPARK_OPERATOR_REFUND_LIMIT?.trim();
  if (v === undefined || v === "") return DEFAULT_OPERATOR_REFUND_LIMIT;
  if (!/^\d{1,9}$/.test(v)) throw new Error(`SYSPARK_OPERATOR_REFUND_LIMIT must be a whole number of minor units (e.g. 5000 for 50.00 EUR), got "${v.slice(0, 40)}"`);
  return Number(v);
}

export interface RefundRequest {
  paymentId?: string;
  sessionId?: string;
  /** Minor units (integer) or a decimal string in the payment's currency ("9.80"); absent: what is left. */
  amount?: number | string;
  reason: string;
  /** The caller's idempotency key (the API's Idempotency-Key header). */
  key: string;
}

export interface RefundResult {
  refund: RefundRow;
  payment: PaymentRow;
  /** The same key was already used: nothing new was recorded. */
  replayed: boolean;
  /** The provider could not be reached: the refund stays requested; the same request retries it. */
  providerUnavailable: boolean;
}

/** "9.80" in EUR → 980; an integer is taken as minor units. The field is named in every refusal. */
export function parseAmount(amount: number | string, currency: string, field = "body.amount"): number {
  if (typeof amount === "number") {
    if (!Number.isSafeInteger(amount) || amount <= 0) throw new HttpError(400, `${field}: must be a positive whole number of minor units (e.g. 980) or a decimal string (e.g. "9.80")`, "invalid_input");
    return amount;
  }
  const digits = minorDigits(currency);
  const m = /^(\d{1,9})(?:\.(\d+))?$/.exec(amount.trim());
  if (!m || (m[2] ?? "").length > digits) throw new HttpError(400, `${field}: "${amount}" is not an amount in ${currency} (at most ${digits} decimals, e.g. ${digits ? "9.80" : "980"})`, "invalid_input");
  const minor = Number(m[1]) * 10 ** digits + Number((m[2] ?? "").padEnd(digits, "0") || "0");
  if (minor <= 0) throw new HttpError(400, `${field}: must be more than zero`, "invalid_input");
  return minor;
}

/** A NotFoundError from the repository as a 404 naming the field; anything else (the database down…) passes through. */
export function notFoundAs(message: string): (err: unknown) => never {
  return (err) => {
    if (err instanceof NotFoundError) throw new HttpError(404, message, "not_found");
    throw err;
  };
}

/** The payment a request names: payment_id, or the session's one paid payment with something left to refund. */
async function targetPayment(ctx: RefundContext, r: { paymentId?: string; sessionId?: string }): Promise<PaymentRow> {
  if (r.paymentId) return getPayment(ctx.db.sql, r.paymentId).catch(notFoundAs(`body.payment_id: no payment ${r.paymentId}`));
  const sessionId = r.sessionId as string;
  await getSession(ctx.db.sql, sessionId).catch(notFoundAs(`body.session_id: no session ${sessionId}`));
  const paid = (await listPayments(ctx.db.sql, sessionId)).filter((p) => p.state === "paid");
  if (paid.length === 0) throw new HttpError(400, `body.session_id: session ${sessionId} has no paid payment to refund`, "invalid_input");
  const open: PaymentRow[] = [];
  for (const p of paid) if ((await committedRefunds(ctx.db.sql, p.paymentId)) < p.amount) open.push(p);
  if (open.length === 0) return paid[0]; // everything refunded: createRefund says so, naming the amount
  if (open.length > 1) throw new HttpError(400, `body.session_id: session ${sessionId} has ${open.length} paid payments with something left to refund (${open.map((p) => p.paymentId).join(", ")}): give body.payment_id`, "invalid_input");
  return open[0];
}

/** Step 1: the refund row (or the one this key already made), audited. */
async function recordRequest(ctx: RefundContext, r: RefundRequest, actor: RefundActor, source: RefundSource): Promise<{ refund: RefundRow; payment: PaymentRow; replayed: boolean }> {
  const prior = await findRefundByKey(ctx.db.sql, r.key);
  if (prior) {
    const payment = await getPayment(ctx.db.sql, prior.paymentId);
    if ((r.paymentId && r.paymentId !== prior.paymentId) || (r.sessionId && r.sessionId !== payment.sessionId)) throw new IdempotencyConflictError(`idempotency key ${r.key} was used for a refund of another payment`);
    if (r.amount !== undefined && parseAmount(r.amount, payment.currency) !== prior.amount) throw new IdempotencyConflictError(`idempotency key ${r.key} was used for a refund of another amount (${prior.amount})`);
    return { refund: prior, payment, replayed: true };
  }
  const payment = await targetPayment(ctx, r);
  return ctx.db.tx(async (tx) => {
    await lockPaymentAndSession(tx, { paymentId: payment.paymentId }); // what is left, read under the lock createRefund takes again
    const left = payment.amount - (await committedRefunds(tx, payment.paymentId));
    const amount = r.amount === undefined ? left : parseAmount(r.amount, payment.currency);
    if (payment.state !== "paid") throw new HttpError(400, `body.${r.paymentId ? "payment_id" : "session_id"}: payment ${payment.paymentId} is ${payment.state}: only a paid payment can be refunded`, "invalid_input");
    if (left <= 0) throw new HttpError(400, `body.amount: nothing is left to refund on payment ${payment.paymentId} (${payment.amount} ${payment.currency} already refunded or being refunded)`, "invalid_input");
    if (amount > left) throw new HttpError(400, `body.amount: ${amount} exceeds what is left to refund on payment ${payment.paymentId} (${left} ${payment.currency} of ${payment.amount})`, "invalid_input");
    // Role operator refunds a payment up to the limit in all (several small refunds cannot pass it); an admin has no limit.
    // The late-payment refunds (money taken after the car was let out) are owed whoever asks.
    const limit = ctx.operatorRefundLimit ?? DEFAULT_OPERATOR_REFUND_LIMIT;
    if (source === "operator" && actor.role === "operator" && payment.amount - left + amount > limit) {
      throw new HttpError(403, `body.amount: role operator may refund at most ${limit} ${payment.currency} of a payment in all (SYSPARK_OPERATOR_REFUND_LIMIT); ${payment.amount - left} already refunded, ${amount} asked: an admin must make this refund`, "refund_limit");
    }
    const [inFlight] = await tx<{ refundId: string }[]>`SELECT refund_id FROM refunds WHERE payment_id = ${payment.paymentId} AND state = 'requested' AND provider_ref IS NULL AND idempotency_key <> ${r.key} LIMIT 1`;
    if (inFlight) throw new HttpError(409, `refund ${inFlight.refundId} of payment ${payment.paymentId} is still waiting for the provider: repeat that request (same Idempotency-Key) first`, "refund_in_flight");
    const created = await createRefund(tx, { paymentId: payment.paymentId, amount, reason: r.reason, idempotencyKey: r.key, source, requestedBy: actor.username });
    const rec = { refund: created.refund, payment };
    if (created.created) await auditRefund(ctx.auditMode, tx, "refund.requested", rec, actor);
    return { ...rec, replayed: !created.created };
  });
}

/** The PaymentIntent to refund: the payment's own reference, or the one behind its Checkout Session. */
async function paymentIntentOf(ctx: RefundContext, payment: PaymentRow): Promise<string> {
  const ref = payment.providerRef as string;
  if (ref.startsWith("pi_")) return ref;
  if (payment.providerPaymentIntent) return payment.providerPaymentIntent;
  const cs = await ctx.stripe.checkout.sessions.retrieve(ref);
  const pi = typeof cs.payment_intent === "string" ? cs.payment_intent : cs.payment_intent?.id;
  if (!pi) throw new HttpError(409, `payment ${payment.paymentId}: its Checkout Session ${ref} has no PaymentIntent to refund`, "conflict");
  await linkPaymentIntent(ctx.db.sql, { paymentId: payment.paymentId }, pi);
  return pi;
}

const isUnavailable = (err: unknown): boolean => {
  const e = err as { type?: unknown; statusCode?: unknown } | null;
  if (!e || typeof e.type !== "string") return false;
  return e.type === "StripeConnectionError" || e.type === "StripeRateLimitError" || e.type === "StripeAPIError" || (typeof e.statusCode === "number" && e.statusCode >= 500);
};

/** Steps 2 and 3: ask the provider (idempotent by the row's key) and apply its answer. */
async function driveRefund(ctx: RefundContext, refund: RefundRow, payment: PaymentRow, actor: RefundActor): Promise<{ refund: RefundRow; payment: PaymentRow; providerUnavailable: boolean }> {
  if (refund.state !== "requested" || refund.providerRef !== null) return { refund, payment, providerUnavailable: false };
  const now = await findRefund(ctx.db.sql, refund.refundId); // a provider refund reported meanwhile may have superseded it
  if (!now || now.state !== "requested" || now.providerRef !== null) return { refund: now ?? refund, payment: await getPayment(ctx.db.sql, payment.paymentId), providerUnavailable: false };
  let answer: Stripe.Refund;
  try {
    const pi = await paymentIntentOf(ctx, payment);
    answer = await ctx.stripe.refunds.create(
      { payment_intent: pi, amount: refund.amount, metadata: { refund_id: refund.refundId, payment_id: payment.paymentId, session_id: payment.sessionId } },
      { idempotencyKey: refund.idempotencyKey },
    );
  } catch (err) {
    if (err instanceof HttpError) throw err;
    if (isUnavailable(err)) {
      ctx.logger.warn({ refundId: refund.refundId, err: (err as Error).message }, "refund: the provider is unavailable; the refund stays requested (retry with the same key)");
      return { refund, payment, providerUnavailable: true };
    }
    const message = `provider refused: ${(err as { code?: string }).code ?? "error"}: ${(err as Error).message}`.slice(0, 500);
    return ctx.db.tx(async (tx) => {
      const r = await applyRefundEvent(tx, refund.refundId, "failed", { failureReason: message });
      if (r.outcome === "applied") await afterRefundChange(ctx.auditMode, tx, r, actor);
      return { refund: r.refund, payment: r.payment, providerUnavailable: false };
    });
  }
  return ctx.db.tx(async (tx) => {
    const to = refundStateOf(answer.status);
    const r = await applyRefundEvent(tx, refund.refundId, to, { providerRef: answer.id, ...(to === "failed" ? { failureReason: `provider: ${answer.failure_reason ?? "failed"}` } : {}) });
    if (r.outcome === "applied") await afterRefundChange(ctx.auditMode, tx, r, actor, { provider_answer: answer.status ?? null });
    const [fresh] = await tx<RefundRow[]>`SELECT * FROM refunds WHERE refund_id = ${refund.refundId}`;
    return { refund: fresh, payment: r.payment, providerUnavailable: false };
  });
}

/** A refund for an operator: recorded once per key, sent to the provider, its answer applied. */
export async function requestRefund(ctx: RefundContext, r: RefundRequest, actor: RefundActor, source: RefundSource = "operator"): Promise<RefundResult> {
  if (!r.paymentId === !r.sessionId) throw new HttpError(400, "body: give exactly one of payment_id and session_id", "invalid_input");
  let rec: Awaited<ReturnType<typeof recordRequest>>;
  try {
    rec = await recordRequest(ctx, r, actor, source);
  } catch (err) {
    if (err instanceof ValidationError) throw new HttpError(400, `body.amount: ${err.message}`, "invalid_input");
    throw err;
  }
  // A refund right after the payment can come before the receipt worker's pass: the receipt is
  // issued first (its own transaction, outside the refund's locks), so the credit note names it.
  await ctx.receipts?.issueOwed(rec.payment.paymentId);
  const driven = await driveRefund(ctx, rec.refund, rec.payment, actor);
  return { ...driven, replayed: rec.replayed };
}

/**
 * The one-call refund of a session's late payments (`payment.late`: paid after an operator's
 * override let the car out, or after the session was already paid): each is refunded in full,
 * once (its key names the payment), whatever the number of calls.
 */
export async function refundLatePayments(ctx: RefundContext, sessionId: string, reason: string, actor: RefundActor): Promise<RefundResult[]> {
  const late = await latePaymentsOf(ctx.db.sql, sessionId);
  if (late.length === 0) throw new HttpError(404, `session ${sessionId} has no late payment (audited payment.late) to refund`, "not_found");
  const out: RefundResult[] = [];
  for (const p of late) {
    const key = `late:${p.paymentId}`;
    const prior = await findRefundByKey(ctx.db.sql, key);
    const left = p.amount - (await committedRefunds(ctx.db.sql, p.paymentId));
    if (!prior && left <= 0) continue; // already refunded another way
    out.push(await requestRefund(ctx, { paymentId: p.paymentId, ...(prior ? {} : { amount: left }), reason: `late payment: ${reason}`.slice(0, 500), key }, actor, "late_payment"));
  }
  return out;
}

/**
 * Drives again every refund still `requested` without the provider's answer for at least
 * `olderThanMs` (the provider was down when it was asked): each with its own idempotency key,
 * so a refund the provider did make meanwhile comes back as that refund, never a second one.
 * For a periodic sweep or an operator's "retry now"; returns what each became.
 */
export async function retryRequestedRefunds(ctx: RefundContext, olderThanMs = 60_000): Promise<RefundRow[]> {
  const stuck = await requestedRefundsOlderThan(ctx.db.sql, new Date(Date.now() - olderThanMs));
  const out: RefundRow[] = [];
  for (const r of stuck) {
    const actor: RefundActor = { username: r.requestedBy ?? "system", operatorId: null, role: null, via: "api" };
    out.push((await driveRefund(ctx, r, await getPayment(ctx.db.sql, r.paymentId), actor)).refund);
  }
  return out;
}
