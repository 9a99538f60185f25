/**
 * An unused prepayment given back (issue 16): `POST /api/operator/prepayments/:id/refund` and
 * `syspark refund --prepayment`. Only a `paid` prepayment (never a consumed one), always its
 * full amount, through stripe.refunds.create with an idempotency key per attempt; audited with
 * the operator and the reason. The prepayment's own refund_* columns carry it (db/prepayment-
 * refunds.ts), not the `refunds` table (which belongs to session payments: a prepayment's
 * PaymentIntent is not in `payments`). Its refund.* / charge.refunded webhooks come here from
 * PaymentService.dispatch (prepaymentRefundWebhook) and act once.
 */
import { createHash } from "node:crypto";
import type Stripe from "stripe";
import type { Database, Json, Tx } from "../db/index";
import { applyPrepaymentRefund, beginPrepaymentRefund, findPrepaymentForRefund, type PrepaymentRefundRow, type PrepaymentRefundState } from "../db/prepayment-refunds";
import { writeAudit, type AuditMode } from "../server/audit-chain";
import { HttpError } from "./errors";
import { isProviderUnavailable } from "./provider-outage";
import type { RefundActor } from "./refund-effects";
import { refundStateOf, type RefundEventOutcome } from "./refund-events";

export interface PrepayRefundDeps {
  db: Database;
  stripe: Stripe;
  auditMode: AuditMode;
}

export interface PrepayRefundResult {
  prepayment: PrepaymentRefundRow;
  replayed: boolean;
  providerUnavailable?: boolean;
}

function auditPayload(p: PrepaymentRefundRow, actor: RefundActor | null, extra: Record<string, Json> = {}): Json {
  return {
    prepayment_id: p.prepaymentId, site_id: p.siteId, plate: p.plate, amount: p.amount, currency: p.currency, provider_ref: p.providerRef,
    state: p.state, refund_state: p.refundState, refund_provider_ref: p.refundProviderRef, reason: p.refundReason, requested_by: p.refundRequestedBy,
    // The operator who asked, also when the provider's webhook lands before the API records its answer.
    operator: actor?.username ?? p.refundRequestedBy, ...(actor ? { operator_id: actor.operatorId, role: actor.role, via: actor.via } : { via: "webhook" }), ...extra,
  };
}

/** Stripe's idempotency key for one attempt: the same operator key → the same refund at the provider. */
const providerKey = (prepaymentId: string, refundKey: string) => `prepay-refund:${prepaymentId}:${createHash("sha256").update(refundKey).digest("hex").slice(0, 32)}`;

/** Applies what the provider said, with its audit, in one transaction. */
async function record(auditMode: AuditMode, tx: Tx, prepaymentId: string, ev: { providerRef: string; state: Exclude<PrepaymentRefundState, "requested">; failure?: string }, actor: RefundActor | null, extra: Record<string, Json>) {
  const r = await applyPrepaymentRefund(tx, prepaymentId, ev);
  if (r.outcome === "applied") {
    const kind = r.refundedNow ? "prepayment.refunded" : ev.state === "failed" || ev.state === "canceled" ? "prepayment.refund_failed" : "prepayment.refund_updated";
    await writeAudit(auditMode, tx, { kind, payload: auditPayload(r.prepayment, actor, extra) });
  }
  return r;
}

/** The operator's full refund of an unused prepayment (see the module comment). */
export async function refundPrepayment(d: PrepayRefundDeps, prepaymentId: string, req: { key: string; reason: string }, actor: RefundActor): Promise<PrepayRefundResult> {
  const begun = await d.db.tx(async (tx) => {
    const b = await beginPrepaymentRefund(tx, prepaymentId, { key: req.key, reason: req.reason, requestedBy: actor.username });
    if (b.kind === "start" && b.fresh) await writeAudit(d.auditMode, tx, { kind: "prepayment.refund_requested", payload: auditPayload(b.prepayment, actor) });
    return b;
  });
  if (begun.kind === "refused") throw new HttpError(409, begun.why, "not_refundable");
  if (begun.kind === "replay") return { prepayment: begun.prepayment, replayed: true };
  const p = begun.prepayment;
  let re: Stripe.Refund;
  try {
    re = await d.stripe.refunds.create(
      { payment_intent: p.providerRef as string, amount: p.amount, metadata: { kind: "prepay_refund", prepayment_id: p.prepaymentId, prepayment_refund_key: providerKey(p.prepaymentId, p.refundKey as string) } },
      { idempotencyKey: providerKey(p.prepaymentId, p.refundKey as string) },
    );
  } catch (err) {
    // Recorded as requested: the same request again (same Idempotency-Key) finishes it.
    if (isProviderUnavailable(err)) return { prepayment: p, replayed: false, providerUnavailable: true };
    const failed = await d.db.tx((tx) => record(d.auditMode, tx, prepaymentId, { providerRef: `refused:${providerKey(p.prepaymentId, p.refundKey as string)}`, state: "failed", failure: `provider: ${(err as Error).message}`.slice(0, 300) }, actor, {}));
    throw new HttpError(409, `the provider refused the refund of prepayment ${prepaymentId}: ${failed.prepayment.refundFailure ?? (err as Error).message}`, "refund_refused");
  }
  const to = refundStateOf(re.status);
  const r = await d.db.tx((tx) => record(d.auditMode, tx, prepaymentId, { providerRef: re.id, state: to, ...(to === "failed" || to === "canceled" ? { failure: `provider: ${re.failure_reason ?? re.status}` } : {}) }, actor, { amount_refunded: re.amount }));
  // The first request is never a replay, even when the provider's webhook applied its answer first.
  return { prepayment: r.prepayment, replayed: !begun.fresh && r.outcome !== "applied" };
}

const idOf = (v: string | { id: string } | null | undefined): string | null => (v == null ? null : typeof v === "string" ? v : v.id);

/** One provider refund of a prepayment's PaymentIntent (a refund.* event, or listed on charge.refunded). */
async function applyOne(d: Pick<PrepayRefundDeps, "auditMode">, tx: Tx, p: PrepaymentRefundRow, re: Stripe.Refund, extra: Record<string, Json>): Promise<RefundEventOutcome> {
  // A refund of an earlier attempt (another Idempotency-Key) never speaks for the current one.
  const attempt = re.metadata?.prepayment_refund_key;
  if (p.refundKey && !p.refundKey.startsWith("provider:") && attempt && attempt !== providerKey(p.prepaymentId, p.refundKey)) return "stale";
  // A partial refund made in the dashboard does not give the prepayment back: audited only.
  if (p.refundProviderRef !== re.id && re.amount < p.amount) {
    await writeAudit(d.auditMode, tx, { kind: "prepayment.partial_refund_at_provider", payload: auditPayload(p, null, { ...extra, refund_provider_ref: re.id, amount_refunded: re.amount }) });
    return "refund_noop";
  }
  const to = refundStateOf(re.status);
  const r = await record(d.auditMode, tx, p.prepaymentId, { providerRef: re.id, state: to, ...(to === "failed" || to === "canceled" ? { failure: `provider: ${re.failure_reason ?? re.status}` } : {}) }, null, { ...extra, via: "webhook" });
  return r.outcome === "applied" ? "refund_applied" : r.outcome === "noop" ? "refund_noop" : "stale";
}

/**
 * PaymentService.dispatch's prepayment-refund path: a refund.* or charge.refunded event whose
 * refund or PaymentIntent is a prepayment's. Undefined for any other event (session payments'
 * refunds go on to refund-events.ts untouched).
 */
export async function prepaymentRefundWebhook(tx: Tx, auditMode: AuditMode, event: Stripe.Event): Promise<RefundEventOutcome | undefined> {
  const extra = { event_id: event.id, event_type: event.type };
  if (event.type === "refund.created" || event.type === "refund.updated" || event.type === "refund.failed" || event.type === "charge.refund.updated") {
    const re = event.data.object;
    const p = await findPrepaymentForRefund(tx, { refund: re.id, paymentIntent: idOf(re.payment_intent) });
    return p ? applyOne({ auditMode }, tx, p, re, extra) : undefined;
  }
  if (event.type === "charge.refunded") {
    const charge = event.data.object;
    const p = await findPrepaymentForRefund(tx, { refund: null, paymentIntent: idOf(charge.payment_intent) });
    if (!p) return undefined;
    let outcome: RefundEventOutcome = "refund_noop";
    for (const re of charge.refunds?.data ?? []) if ((await applyOne({ auditMode }, tx, p, re, extra)) === "refund_applied") outcome = "refund_applied";
    return outcome;
  }
  return undefined;
}
