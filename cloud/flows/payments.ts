/**
 * Payments (ARCHITECTURE §4 steps 4–6; user's docs 000 §6, 004): the server creates the
 * PaymentIntent (idempotency key, amount from the server's quote only), and ONLY a verified
 * webhook or a server-side retrieve of the PaymentIntent marks a payment paid — never the
 * browser. Webhook events are recorded once per Stripe event id (a replay acknowledges without a
 * second effect), out-of-order events never move a state backwards (cloud/domain state
 * machines), and everything the site must hear goes through the outbox in the same transaction.
 */
import type Stripe from "stripe";
import type { Logger } from "../../host/log";
import {
  applyPaymentEvent,
  attachProviderRefAlone,
  createPayment,
  findPaymentByProviderRef,
  findSessionByPayToken,
  flagSession,
  listOtherAttempts,
  listPayments,
  markWebhookEvent,
  recordWebhookEvent,
  recordWebhookFailure,
  NotFoundError,
  type Database,
  type Json,
  type PaymentRow,
  type SessionRow,
  type Tx,
} from "../db/index";
import { writeAudit, type AuditMode } from "../server/audit-chain";
import type { StripeMode } from "../server/config";
import { HttpError } from "./errors";
import { enqueueForSite } from "../db/site-outbox";
import { wireLaneOf } from "./site-events";
import { prepayWebhookEvent } from "./prepay";
import type { Payload } from "../../contracts/mqtt-topics";
import type { HoldWebhookHandler } from "./hold-types";
import { applyRefundWebhook, type RefundEventOutcome } from "./refund-events";
import { prepaymentRefundWebhook } from "./prepay-refunds";
import { linkPaymentIntent } from "../db/refunds";
import { applyPermitEvent, PERMIT_EVENT_TYPES } from "./permits";
import { queueReceipt } from "../billing/receipt-queue";

export interface PaymentServiceOptions {
  db: Database;
  stripe: Stripe;
  mode: StripeMode;
  webhookSecret: string;
  toleranceS: number;
  logger: Logger;
  src: string;
  wake(): void;
  auditMode: AuditMode;
  onWebhook?(type: string, outcome: string): void;
  /** SYSPARK_ACL_HMAC_KEY: permit changes are sent to the sites' access lists signed with it (flows/permits.ts). */
  aclHmacKey?: string;
}

type FailedReason = Payload<"paymentFailed">["reason"];

function failureReasonOf(pi: Stripe.PaymentIntent): { reason: FailedReason; message: string } {
  const e = pi.last_payment_error;
  const code = e?.decline_code ?? e?.code ?? "";
  const reason: FailedReason = code === "insufficient_funds" ? "insufficient_funds" : code === "authentication_required" || code === "payment_intent_authentication_failure" ? "authentication_required" : "declined";
  return { reason, message: (e?.message ?? "card declined").slice(0, 120) };
}

/**
 * An attempt whose PaymentIntent / Checkout Session the provider no longer knows (Stripe
 * `resource_missing`, HTTP 404: keys switched from test to live, an emulator whose state was
 * wiped). It is marked failed with this reason — failed, not canceled, so that should the old
 * object ever be paid after all, its webhook is still applied (failed → paid) and never lost —
 * and the session gets a fresh attempt (new idempotency key, new object).
 */
export const PROVIDER_MISSING = "provider_missing";

/** The provider answered "no such object" (never a network error or a 5xx). */
export function isProviderMissing(err: unknown): boolean {
  const e = err as { code?: unknown; statusCode?: unknown; type?: unknown } | null;
  if (!e || typeof e !== "object") return false;
  return e.code === "resource_missing" || (e.statusCode === 404 && e.type === "StripeInvalidRequestError");
}

const isDeadAttempt = (p: PaymentRow): boolean => p.state === "failed" && (p.failureReason ?? "").startsWith(PROVIDER_MISSING);

/** A provider event for a payment this cloud does not know (NotFoundError): undefined, any other error thrown. */
function unlessUnknown<T>(p: Promise<T>): Promise<T | undefined> {
  return p.catch((err: unknown) => {
    if (err instanceof NotFoundError) return undefined;
    throw err;
  });
}

/** What happened, for the page and the caller. */
export type ApplyOutcome = "paid" | "already_paid" | "failed" | "canceled" | "stale" | "unknown_payment" | "ignored" | "amount_mismatch" | HoldOutcome | RefundEventOutcome | "permit";
/** What a hold's webhook did (cloud/flows/holds.ts). */
type HoldOutcome = "authorized" | "captured" | "expired" | "saved";

export class PaymentService {
  /** releaseOtherAttempts runs after the commit, off the request: what is under way, for settle(). */
  private readonly releasing = new Set<Promise<void>>();
  /** Holds at entry (issue 16): their PaymentIntents' webhooks go there first. */
  private holdHandler: HoldWebhookHandler | undefined;

  constructor(private readonly o: PaymentServiceOptions) {}

  setHoldHandler(h: HoldWebhookHandler): void {
    this.holdHandler = h;
  }

  /** The session behind a pay link, or a 404 that reveals nothing. */
  async sessionForToken(sessionId: string, token: string): Promise<SessionRow> {
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(sessionId) || !/^[A-Za-z0-9_-]{10,128}$/.test(token)) throw new HttpError(404, "unknown or expired payment link");
    const s = await findSessionByPayToken(this.o.db.sql, sessionId, token);
    if (!s) throw new HttpError(404, "unknown or expired payment link");
    return s;
  }

  /**
   * The PaymentIntent for the session's current quote, created once (idempotency key names the
   * quote; a canceled one gets a successor). Amount and currency come from the locked session.
   */
  async intentFor(session: SessionRow): Promise<{ payment: PaymentRow; pi: Stripe.PaymentIntent }> {
    const { payment, object: pi } = await this.providerObjectFor(session, "pi", {
      retrieve: (ref) => this.o.stripe.paymentIntents.retrieve(ref),
      create: async (payment, key) => {
        const pi = await this.o.stripe.paymentIntents.create(
          {
            amount: payment.amount,
            currency: payment.currency.toLowerCase(),
            description: `Parking ${session.siteId} — ${session.identityMethod === "plate" ? session.identityValue : session.sessionId}`.slice(0, 200),
            metadata: { session_id: session.sessionId, payment_id: payment.paymentId, site_id: session.siteId },
            ...(this.o.mode === "emulator" ? { payment_method_types: ["card"] } : { automatic_payment_methods: { enabled: true } }),
          },
          { idempotencyKey: key },
        );
        if (pi.amount !== payment.amount || pi.currency.toUpperCase() !== payment.currency) throw new Error(`PaymentIntent ${pi.id} amount does not match the quote`);
        return pi;
      },
    });
    return { payment, pi };
  }

  /** Checkout Session alternative (hosted page): provider ref is the Checkout Session id. */
  async checkoutFor(session: SessionRow, urls: { success: string; cancel: string }, locale: "fr" | "en"): Promise<string> {
    const { object: cs } = await this.providerObjectFor(session, "cs", {
      retrieve: (ref) => this.o.stripe.checkout.sessions.retrieve(ref),
      create: (payment, key) =>
        this.o.stripe.checkout.sessions.create(
          {
            mode: "payment",
            line_items: [{ quantity: 1, price_data: { currency: payment.currency.toLowerCase(), unit_amount: payment.amount, product_data: { name: `Parking ${session.siteId}` } } }],
            success_url: urls.success,
            cancel_url: urls.cancel,
            client_reference_id: session.sessionId,
            locale,
            metadata: { session_id: session.sessionId, payment_id: payment.paymentId, site_id: session.siteId },
            payment_intent_data: { metadata: { session_id: session.sessionId, payment_id: payment.paymentId } },
          },
          { idempotencyKey: key },
        ),
    });
    if (!cs.url) throw new Error(`Checkout Session ${cs.id} has no URL`);
    return cs.url;
  }

  /**
   * The provider object (`pi:` PaymentIntent, `cs:` Checkout Session) of the session's current
   * attempt for its quote: retrieved when the attempt already has one, else created with the
   * attempt's idempotency key (a crash between create and attach gets the same object back) and
   * attached. An object the provider no longer knows abandons the attempt and starts a fresh one.
   */
  private async providerObjectFor<T extends { id: string }>(
    session: SessionRow,
    kind: "pi" | "cs",
    provider: { retrieve(ref: string): Promise<T>; create(payment: PaymentRow, key: string): Promise<T> },
  ): Promise<{ payment: PaymentRow; object: T }> {
    if (session.status !== "pending_payment" || session.pricedAt === null || session.amount === null || session.currency === null) throw new HttpError(409, `nothing to pay: the session is ${session.status}`, session.status);
    const { payment, key } = await this.attemptFor(session, `${kind}:${session.sessionId}:${session.pricedAt.getTime()}`);
    if (payment.providerRef) {
      try {
        return { payment, object: await provider.retrieve(payment.providerRef) };
      } catch (err) {
        if (!isProviderMissing(err)) throw err;
        await this.abandonAttempt(payment, (err as Error).message);
        return this.providerObjectFor(session, kind, provider); // the dead attempt no longer counts: a fresh one
      }
    }
    const object = await provider.create(payment, key);
    await attachProviderRefAlone(this.o.db.sql, payment.paymentId, object.id);
    return { payment, object };
  }

  /**
   * The session's current attempt for this quote and kind (`pi:` / `cs:`), created once. A
   * canceled attempt, or one the provider no longer knows, gets a successor with a new key.
   */
  private async attemptFor(session: SessionRow, base: string): Promise<{ payment: PaymentRow; key: string }> {
    const prior = (await listPayments(this.o.db.sql, session.sessionId)).filter((p) => p.idempotencyKey.startsWith(base));
    const live = prior.find((p) => p.state !== "canceled" && !isDeadAttempt(p));
    const key = live?.idempotencyKey ?? (prior.length === 0 ? base : `${base}:${prior.length}`);
    const { payment } = await this.o.db.tx((tx) => createPayment(tx, { sessionId: session.sessionId, provider: "stripe", idempotencyKey: key }));
    if (payment.state === "paid") throw new HttpError(409, "this payment has already been made", "paid");
    return { payment, key };
  }

  /**
   * The provider no longer knows this attempt's object: it is marked failed (PROVIDER_MISSING,
   * through the payment state machine) and audited. Nothing is published to the site: the
   * driver did nothing wrong and is paying again on the same page.
   */
  private async abandonAttempt(payment: PaymentRow, providerMessage: string): Promise<void> {
    const ref = payment.providerRef as string;
    this.o.logger.warn({ paymentId: payment.paymentId, providerRef: ref, err: providerMessage }, "payment: the provider no longer knows this attempt; starting a fresh one");
    const changed = await this.o.db.tx(async (tx) => {
      const r = await applyPaymentEvent(tx, ref, "failed", { failureReason: `${PROVIDER_MISSING}: ${providerMessage}`.slice(0, 200) });
      if (r.outcome !== "applied") return false;
      await writeAudit(this.o.auditMode, tx, {
        kind: "payment.abandoned",
        sessionId: r.session.sessionId,
        payload: { site_id: r.session.siteId, lane_id: wireLaneOf(r.session), payment_id: r.payment.paymentId, provider: "stripe", provider_ref: ref, amount: r.payment.amount, currency: r.payment.currency, reason: PROVIDER_MISSING, message: providerMessage.slice(0, 200), session_status: r.session.status },
      });
      return true;
    });
    if (!changed) throw new HttpError(409, "this payment changed meanwhile; open the payment link again", "conflict");
    this.o.wake();
  }

  /** Paid: payment → paid, session → paid, outbox payment/success, audit (one transaction). */
  private async applyPaid(tx: Tx, providerRef: string, amount: number, currency: string, validation: string, extra: Record<string, Json>): Promise<ApplyOutcome> {
    // The payment is found and locked, and the provider's figures checked, by the transition itself (one lookup).
    const r = await unlessUnknown(applyPaymentEvent(tx, providerRef, "paid", { validatedAt: new Date(), expect: { amount, currency } }));
    if (!r) return "unknown_payment";
    if (r.outcome === "mismatch") {
      const { payment } = r;
      await flagSession(tx, payment.sessionId, `provider reported ${amount} ${currency} for a quote of ${payment.amount} ${payment.currency}`).catch(() => undefined);
      await writeAudit(this.o.auditMode, tx, { kind: "payment.amount_mismatch", sessionId: payment.sessionId, payload: { provider_ref: providerRef, amount, currency, expected_amount: payment.amount, expected_currency: payment.currency, ...extra } });
      return "amount_mismatch";
    }
    if (r.outcome === "noop") return "already_paid";
    if (r.outcome === "stale") return "stale";
    const s = r.session;
    const validatedTs = r.payment.validatedTs ?? new Date();
    // Three independent inserts (the lane's success, the audit row, the receipt owed) sent
    // together: postgres.js pipelines them in one write, one round trip (issue 20).
    const success =
      r.sessionOutcome === "applied"
        ? enqueueForSite(
            tx,
            s.siteId,
            "paymentSuccess",
            { ts: Date.now(), src: this.o.src, session_id: s.sessionId, lane_id: wireLaneOf(s), provider_ref: providerRef, amount: r.payment.amount, currency: r.payment.currency },
            `payment_success:${s.sessionId}`,
          )
        : undefined;
    const audit = writeAudit(this.o.auditMode, tx, {
      // "underpaid": this payment covers part of the quote (a hold captured below the fee, the
      // rest charged next) — a part payment the stay owed, NOT a late one: only money that came
      // after the session was settled or closed is `payment.late` (and refundable in one call).
      kind: r.sessionOutcome === "applied" ? "payment.validated" : r.sessionOutcome === "underpaid" ? "payment.partial" : "payment.late",
      sessionId: s.sessionId,
      payload: {
        site_id: s.siteId,
        lane_id: wireLaneOf(s),
        payment_id: r.payment.paymentId,
        provider: "stripe",
        provider_ref: providerRef,
        amount: r.payment.amount,
        currency: r.payment.currency,
        payment_req_ts: s.pricedAt?.toISOString() ?? null,
        payment_validated_ts: validatedTs.toISOString(),
        validation_result: validation,
        session_status: s.status,
        ...extra,
      },
    });
    const receipt = queueReceipt(tx, r.payment.paymentId); // money taken: its receipt is owed, issued off the pay path (cloud/billing/receipt-worker.ts)
    await Promise.all([success, audit, receipt]);
    return "paid";
  }

  private async applyFailed(tx: Tx, providerRef: string, to: "failed" | "canceled", reason: FailedReason, message: string, extra: Record<string, Json>): Promise<ApplyOutcome> {
    const r = await unlessUnknown(applyPaymentEvent(tx, providerRef, to, { failureReason: `${reason}: ${message}` }));
    if (!r) return "unknown_payment";
    if (r.outcome !== "applied") return r.outcome === "noop" ? "ignored" : "stale";
    const s = r.session;
    if (s.status === "pending_payment") {
      await enqueueForSite(
        tx,
        s.siteId,
        "paymentFailed",
        { ts: Date.now(), src: this.o.src, session_id: s.sessionId, lane_id: wireLaneOf(s), reason, message },
        `payment_failed:${providerRef}:${String(extra.event_id ?? Date.now())}`,
      );
    }
    await writeAudit(this.o.auditMode, tx, {
      kind: to === "failed" ? "payment.failed" : "payment.canceled",
      sessionId: s.sessionId,
      payload: { site_id: s.siteId, lane_id: wireLaneOf(s), payment_id: r.payment.paymentId, provider: "stripe", provider_ref: providerRef, amount: r.payment.amount, currency: r.payment.currency, reason, message, session_status: s.status, ...extra },
    });
    return to;
  }

  /**
   * POST /webhooks/stripe. Returns the HTTP status and body. 400 on a bad or expired signature
   * (nothing written); 200 for a processed, ignored or replayed event; 500 when processing
   * failed (stored as failed with its error; Stripe retries).
   */
  async handleWebhook(raw: Buffer, signature: string | undefined): Promise<{ status: number; body: Record<string, unknown> }> {
    let event: Stripe.Event;
    try {
      if (!signature) throw new Error("missing Stripe-Signature header");
      event = this.o.stripe.webhooks.constructEvent(raw, signature, this.o.webhookSecret, this.o.toleranceS);
    } catch (err) {
      this.o.onWebhook?.("unverified", "bad_signature");
      return { status: 400, body: { error: `webhook signature verification failed: ${(err as Error).message}` } };
    }
    const payload = JSON.parse(raw.toString("utf8")) as Json;
    let outcome: string;
    try {
      outcome = await this.o.db.tx(async (tx) => {
        const rec = await recordWebhookEvent(tx, { provider: "stripe", eventId: event.id, type: event.type, payload });
        if (rec.duplicate && (rec.event.status === "processed" || rec.event.status === "ignored")) return "duplicate";
        const result = await this.dispatch(tx, event);
        const status = result === "unknown_payment" || result === "ignored" ? "ignored" : "processed";
        await markWebhookEvent(tx, "stripe", event.id, status, result === "unknown_payment" ? "no payment with this provider reference" : undefined);
        return result;
      });
    } catch (err) {
      const message = (err as Error).message;
      this.o.logger.error({ eventId: event.id, type: event.type, err: message }, "stripe webhook processing failed");
      await recordWebhookFailure(this.o.db.sql, { provider: "stripe", eventId: event.id, type: event.type, payload, error: message }).catch(() => undefined);
      this.o.onWebhook?.(event.type, "error");
      return { status: 500, body: { error: "processing failed; retry later" } };
    }
    this.o.onWebhook?.(event.type, outcome);
    if (outcome !== "duplicate") this.o.wake();
    if (outcome === "paid") this.releaseOtherAttempts(String((event.data.object as { id?: unknown }).id));
    this.o.logger.info({ eventId: event.id, type: event.type, outcome }, "stripe webhook");
    return { status: 200, body: { received: true, outcome } };
  }

  private async dispatch(tx: Tx, event: Stripe.Event): Promise<ApplyOutcome> {
    const extra = { event_id: event.id, event_type: event.type };
    // Permits (subscriptions): flows/permits.ts, in this transaction.
    const permitCtx = { stripe: this.o.stripe, auditMode: this.o.auditMode, src: this.o.src, ...(this.o.aclHmacKey ? { aclHmacKey: this.o.aclHmacKey } : {}) };
    if (PERMIT_EVENT_TYPES.has(event.type) || ((event.type === "checkout.session.completed" || event.type === "checkout.session.expired") && event.data.object.mode === "subscription")) return applyPermitEvent(permitCtx, tx, event);
    // A prepayment's PaymentIntent (metadata kind=prepay, or known in prepayments): cloud/flows/prepay.ts.
    const prepay = await prepayWebhookEvent(tx, this.o.auditMode, event);
    if (prepay) return prepay;
    const prepayRefund = await prepaymentRefundWebhook(tx, this.o.auditMode, event); // a prepayment's refund: cloud/flows/prepay-refunds.ts
    if (prepayRefund) return prepayRefund;
    const held = await this.holdHandler?.onEvent(tx, event); // metadata.kind=hold…: cloud/flows/holds.ts
    if (held !== undefined) return held as ApplyOutcome;
    switch (event.type) {
      case "payment_intent.succeeded": {
        const pi = event.data.object;
        return this.applyPaid(tx, pi.id, pi.amount_received || pi.amount, pi.currency, `stripe webhook ${event.id}: signature verified, payment_intent.succeeded`, extra);
      }
      case "payment_intent.payment_failed": {
        const pi = event.data.object;
        const f = failureReasonOf(pi);
        return this.applyFailed(tx, pi.id, "failed", f.reason, f.message, extra);
      }
      case "payment_intent.canceled": {
        const pi = event.data.object;
        return this.applyFailed(tx, pi.id, "canceled", "canceled", "payment canceled", extra);
      }
      case "checkout.session.completed":
      case "checkout.session.async_payment_succeeded": {
        const cs = event.data.object;
        if (cs.payment_status !== "paid") return "ignored";
        if (typeof cs.payment_intent === "string") await linkPaymentIntent(tx, { providerRef: cs.id }, cs.payment_intent); // refunds name the PaymentIntent
        return this.applyPaid(tx, cs.id, cs.amount_total ?? 0, cs.currency ?? "", `stripe webhook ${event.id}: signature verified, ${event.type}`, extra);
      }
      case "checkout.session.expired": {
        const cs = event.data.object;
        return this.applyFailed(tx, cs.id, "canceled", "expired", "checkout session expired", extra);
      }
      case "refund.created":
      case "refund.updated":
      case "refund.failed":
      case "charge.refund.updated":
      case "charge.refunded":
        return applyRefundWebhook(tx, event, this.o.auditMode);
      default:
        return "ignored";
    }
  }

  /**
   * After the driver comes back from the card page: ask Stripe server-side (never trust the
   * redirect's query string) and apply what it says.
   */
  async confirmByRetrieve(session: SessionRow, providerRef: string): Promise<ApplyOutcome | "processing" | "requires_payment"> {
    const payment = await findPaymentByProviderRef(this.o.db.sql, providerRef);
    if (!payment || payment.sessionId !== session.sessionId) throw new NotFoundError("payment", providerRef);
    if (payment.state === "paid") return "already_paid";
    let outcome: ApplyOutcome | "processing" | "requires_payment";
    try {
      outcome = await this.applyRetrieved(providerRef);
    } catch (err) {
      if (!isProviderMissing(err)) throw err;
      await this.abandonAttempt(payment, (err as Error).message);
      return "requires_payment";
    }
    if (outcome === "paid" || outcome === "canceled") this.o.wake();
    if (outcome === "paid") this.releaseOtherAttempts(providerRef);
    return outcome;
  }

  /**
   * Once a session is paid, its other attempts still open at the provider (a card page and a
   * Checkout page both opened, a card page kept from before a restart) are canceled / expired
   * there, so that none of them can take the money a second time. Best effort, after the
   * commit: an attempt that cannot be released (already final, unknown) is left as it is, and
   * should one be paid anyway its webhook is audited as `payment.late`.
   */
  private releaseOtherAttempts(paidRef: string): void {
    const run = async () => {
      const others = (await listOtherAttempts(this.o.db.sql, paidRef)).filter((p) => p.providerRef !== null && (p.state === "pending" || p.state === "failed" || p.state === "requested") && !isDeadAttempt(p));
      for (const p of others) {
        const ref = p.providerRef as string;
        try {
          if (ref.startsWith("cs_")) await this.o.stripe.checkout.sessions.expire(ref);
          else await this.o.stripe.paymentIntents.cancel(ref, { cancellation_reason: "duplicate" });
          this.o.logger.info({ sessionId: p.sessionId, providerRef: ref, paidBy: paidRef }, "payment: another attempt of a paid session released at the provider");
        } catch (err) {
          this.o.logger.info({ sessionId: p.sessionId, providerRef: ref, err: (err as Error).message }, "payment: another attempt of a paid session could not be released (already final?)");
        }
      }
    };
    const releasing: Promise<void> = run()
      .catch((err: Error) => this.o.logger.warn({ providerRef: paidRef, err: err.message }, "payment: releasing the other attempts failed"))
      .finally(() => this.releasing.delete(releasing));
    this.releasing.add(releasing);
  }

  /** Waits for the releases under way (the cloud's close, before its database closes). */
  async settle(): Promise<void> {
    await Promise.allSettled([...this.releasing]);
  }

  private async applyRetrieved(providerRef: string): Promise<ApplyOutcome | "processing" | "requires_payment"> {
    let outcome: ApplyOutcome | "processing" | "requires_payment";
    if (providerRef.startsWith("cs_")) {
      const cs = await this.o.stripe.checkout.sessions.retrieve(providerRef);
      if (cs.payment_status !== "paid") return "requires_payment";
      outcome = await this.o.db.tx(async (tx) => {
        if (typeof cs.payment_intent === "string") await linkPaymentIntent(tx, { providerRef: cs.id }, cs.payment_intent); // refunds name the PaymentIntent
        return this.applyPaid(tx, cs.id, cs.amount_total ?? 0, cs.currency ?? "", "server-side retrieve of the Checkout Session", { source: "return_page" });
      });
    } else {
      const pi = await this.o.stripe.paymentIntents.retrieve(providerRef);
      if (pi.status === "succeeded") {
        outcome = await this.o.db.tx((tx) => this.applyPaid(tx, pi.id, pi.amount_received || pi.amount, pi.currency, "server-side retrieve of the PaymentIntent", { source: "return_page" }));
      } else if (pi.status === "processing") return "processing";
      else if (pi.status === "canceled") outcome = await this.o.db.tx((tx) => this.applyFailed(tx, pi.id, "canceled", "canceled", "payment canceled", { source: "return_page" }));
      else return "requires_payment";
    }
    return outcome;
  }
}
