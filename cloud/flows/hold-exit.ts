/**
 * The exit of a driver who authorised a card at entry (issue 16 item 4): the barrier opens with
 * no phone.
 *
 * In the exit request's transaction (site-events.ts calls `atExit`, no network): the session is
 * priced by the ONE pricing function; a usable hold for its identity is CLAIMED — a payments row
 * for what the hold covers (provider_ref = the hold's PaymentIntent) and the paymentReq to fall
 * back to are written with the claim, and the lane hears nothing yet.
 *
 * After the commit, off the MQTT handler (`settle`, by `kick()` and a periodic sweep): capture
 * `amount_to_capture` = the fee, apply the result, then charge what the hold did not cover (fee
 * above the hold, or a hold that lapsed) off-session with the saved card, and if anything is
 * still due, send the claimed paymentReq: pay-at-exit, never a stuck lane.
 *
 * Why a crash cannot lose or double the money: every provider call carries an idempotency key
 * naming the hold and the payment, and the claim stays `pending` until its outcome is committed.
 * A crash between the capture and the commit leaves the claim pending: the next sweep repeats
 * the capture with the same key — Stripe answers with the first result instead of capturing
 * again — or, if the key is gone, the capture is refused (the intent is no longer
 * requires_capture) and a reconciling retrieve shows `succeeded`: the same payment is applied
 * once (applyPaymentEvent is idempotent, the webhook may even have applied it already). A
 * PaymentIntent can be captured only once, so there is never a second capture.
 */
import type Stripe from "stripe";
import type { Payload } from "../../contracts/mqtt-topics";
import type { Logger } from "../../host/log";
import { applyPaymentEvent, attachProviderRef, createPayment, getPayment, getSession, listPayments, type Database, type SessionRow, type Tx } from "../db/index";
import { claimHoldForExit, findUsableHold, refreshPendingClaim, finishHoldExit, getHold, listPendingExitHolds, lockHold, transitionHold, type HoldRow } from "../db/holds";
import { enqueueForSite } from "../db/site-outbox";
import { writeAudit, type AuditMode } from "../server/audit-chain";
import type { HoldExitHook } from "./hold-types";
import { HOLD_OFF_SESSION_KIND } from "./holds";
import type { PaymentService } from "./payments";

export interface HoldExitOptions {
  db: Database;
  stripe: Stripe;
  payments: PaymentService;
  logger: Logger;
  auditMode: AuditMode;
  src: string;
  wake(): void;
  /** Sweep for unsettled claims this often (a crash, a provider that was unreachable). Default 5 s. */
  sweepMs?: number;
}

/** The provider answered (a refusal), as opposed to a network error or a 5xx worth retrying. */
function isProviderAnswer(err: unknown): boolean {
  const e = err as { statusCode?: unknown } | null;
  return typeof e?.statusCode === "number" && e.statusCode >= 400 && e.statusCode < 500;
}

export class HoldExits implements HoldExitHook {
  private dirty = false;
  private running: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly o: HoldExitOptions) {}

  async atExit(tx: Tx, session: SessionRow, paymentReq: Payload<"paymentReq"> | null): Promise<boolean> {
    if (paymentReq !== null && (await refreshPendingClaim(tx, session.sessionId, paymentReq as never))) {
      this.dirty = true; // the lane asked again while the capture is under way: it hears the outcome
      return true;
    }
    const hold = await findUsableHold(tx, session.siteId, { method: session.identityMethod, value: session.identityValue });
    if (!hold) return false;
    if (paymentReq === null) {
      // Free stay: claimed only to be released (after the commit).
      if (hold.state !== "authorized") return false;
      await claimHoldForExit(tx, hold, { sessionId: session.sessionId, fee: 0, currency: hold.currency, fallback: null });
      this.dirty = true;
      return false;
    }
    const { payment } = await claimHoldForExit(tx, hold, { sessionId: session.sessionId, fee: paymentReq.amount, currency: paymentReq.currency, fallback: paymentReq as never });
    await writeAudit(this.o.auditMode, tx, {
      kind: "hold.claimed",
      sessionId: session.sessionId,
      payload: { hold_id: hold.holdId, site_id: session.siteId, lane_id: paymentReq.lane_id, hold_state: hold.state, fee: paymentReq.amount, currency: paymentReq.currency, hold_amount: hold.amount, capture_amount: payment?.amount ?? 0, payment_id: payment?.paymentId ?? null, provider_ref: hold.providerRef },
    });
    this.dirty = true;
    return true;
  }

  /** After a commit (the cloud's wake): settle the claims just made, off the caller's path. */
  kick(): void {
    if (!this.dirty) return;
    this.dirty = false;
    void this.sweep();
  }

  start(): void {
    this.timer = setInterval(() => void this.sweep(), this.o.sweepMs ?? 5000);
    this.timer.unref();
    void this.sweep(); // what a previous run left pending
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running;
  }

  /** Settles every pending claim, one sweep at a time (a call during a sweep runs after it). */
  sweep(): Promise<void> {
    const run = (this.running ?? Promise.resolve())
      .then(async () => {
        for (const hold of await listPendingExitHolds(this.o.db.sql)) {
          try {
            await this.settle(hold);
          } catch (err) {
            this.o.logger.warn({ holdId: hold.holdId, err: (err as Error).message }, "hold exit: not settled yet, retried on the next sweep");
          }
        }
      })
      .catch((err: Error) => this.o.logger.warn({ err: err.message }, "hold exit: sweep failed"));
    this.running = run;
    void run.finally(() => {
      if (this.running === run) this.running = null;
    });
    return run;
  }

  private async settle(claim: HoldRow): Promise<void> {
    let session = await getSession(this.o.db.sql, claim.exitSessionId as string);
    if (session.status !== "pending_payment") {
      await this.release(claim, session); // free stay, or paid by other means: the hold is not needed
      return;
    }
    await this.capture(claim, session);
    session = await getSession(this.o.db.sql, session.sessionId);
    const hold = await getHold(this.o.db.sql, claim.holdId);
    if (session.status === "pending_payment" && hold.customerRef && hold.paymentMethodRef) await this.chargeSavedCard(hold, session);
    session = await getSession(this.o.db.sql, session.sessionId);
    if (session.status === "pending_payment") await this.fallBack(hold, session);
    else await this.o.db.tx((tx) => finishHoldExit(tx, hold.holdId, "done"));
    this.o.wake();
  }

  /** Captures the fee (≤ the hold) from the hold; applies what the provider says. */
  private async capture(hold: HoldRow, session: SessionRow): Promise<void> {
    if (!hold.exitPaymentId || !hold.providerRef) return;
    const payment = await getPayment(this.o.db.sql, hold.exitPaymentId);
    if (payment.state === "paid" || payment.state === "canceled") return;
    let pi: Stripe.PaymentIntent;
    try {
      pi = await this.o.stripe.paymentIntents.capture(hold.providerRef, { amount_to_capture: payment.amount }, { idempotencyKey: `hold-capture:${hold.holdId}:${payment.paymentId}` });
    } catch (err) {
      if (!isProviderAnswer(err)) throw err; // unreachable / 5xx: the claim stays pending, retried
      this.o.logger.info({ holdId: hold.holdId, err: (err as Error).message }, "hold exit: capture refused; reconciling with a retrieve");
      pi = await this.o.stripe.paymentIntents.retrieve(hold.providerRef);
    }
    if (pi.status === "succeeded") {
      await this.o.payments.confirmByRetrieve(session, pi.id);
      await this.o.db.tx(async (tx) => {
        const h = await lockHold(tx, { holdId: hold.holdId });
        if (h) await transitionHold(tx, h, "captured");
      });
      return;
    }
    // Canceled (lapsed, released) or still not capturable: this payment will not happen.
    await this.o.db.tx(async (tx) => {
      const h = await lockHold(tx, { holdId: hold.holdId });
      if (h && pi.status === "canceled") await transitionHold(tx, h, pi.cancellation_reason === "automatic" ? "expired" : "canceled", { failureReason: `canceled: ${pi.cancellation_reason ?? "unknown"}` });
      const r = await applyPaymentEvent(tx, pi.id, "canceled", { failureReason: `hold capture impossible: ${pi.status}` });
      if (r.outcome === "applied") {
        await writeAudit(this.o.auditMode, tx, { kind: "hold.capture_failed", sessionId: session.sessionId, payload: { hold_id: hold.holdId, site_id: session.siteId, provider: "stripe", provider_ref: pi.id, payment_id: payment.paymentId, amount: payment.amount, currency: payment.currency, provider_status: pi.status, cancellation_reason: pi.cancellation_reason ?? null } });
      }
    });
  }

  /**
   * What is still due (fee above the hold, or the whole fee once the hold lapsed) from the card
   * saved with the hold, off-session. A decline or a 3-D Secure request (nobody is there to
   * answer it) leaves it due: the caller falls back to pay-at-exit.
   */
  private async chargeSavedCard(hold: HoldRow, session: SessionRow): Promise<void> {
    const key = `hold-offsession:${hold.holdId}:${session.sessionId}:${session.pricedAt?.getTime() ?? 0}`;
    const { payment } = await this.o.db.tx((tx) => createPayment(tx, { sessionId: session.sessionId, provider: "stripe", idempotencyKey: key }));
    if (payment.state === "paid" || payment.state === "failed" || payment.state === "canceled") return;
    let pi: Stripe.PaymentIntent;
    try {
      pi = await this.o.stripe.paymentIntents.create(
        {
          amount: payment.amount,
          currency: payment.currency.toLowerCase(),
          customer: hold.customerRef as string,
          payment_method: hold.paymentMethodRef as string,
          off_session: true,
          confirm: true,
          automatic_payment_methods: { enabled: true, allow_redirects: "never" },
          description: `Parking ${session.siteId} — saved card`,
          metadata: { kind: HOLD_OFF_SESSION_KIND, hold_id: hold.holdId, session_id: session.sessionId, payment_id: payment.paymentId, site_id: session.siteId },
        },
        { idempotencyKey: key },
      );
    } catch (err) {
      if (!isProviderAnswer(err)) throw err;
      const declined = (err as { raw?: { payment_intent?: Stripe.PaymentIntent } }).raw?.payment_intent;
      await this.o.db.tx(async (tx) => {
        if (declined) await attachProviderRef(tx, payment.paymentId, declined.id);
        const code = (err as { code?: string }).code ?? "declined";
        if (declined) await applyPaymentEvent(tx, declined.id, "failed", { failureReason: `off-session: ${code}` });
        await writeAudit(this.o.auditMode, tx, { kind: "hold.offsession_failed", sessionId: session.sessionId, payload: { hold_id: hold.holdId, site_id: session.siteId, provider: "stripe", provider_ref: declined?.id ?? null, payment_id: payment.paymentId, amount: payment.amount, currency: payment.currency, code } });
      });
      return;
    }
    await this.o.db.tx((tx) => attachProviderRef(tx, payment.paymentId, pi.id));
    if (pi.status === "succeeded") await this.o.payments.confirmByRetrieve(session, pi.id);
  }

  /** Nothing more can be taken without the driver: the lane gets the pay link (the claimed paymentReq, for what is still due). */
  private async fallBack(hold: HoldRow, session: SessionRow): Promise<void> {
    await this.o.db.tx(async (tx) => {
      const req = hold.exitFallback as unknown as Payload<"paymentReq"> | null;
      const paid = (await listPayments(tx, session.sessionId)).filter((p) => p.state === "paid").reduce((s, p) => s + p.amount, 0);
      const due = Math.max((session.amount ?? 0) - paid, 0);
      if (req && due > 0) {
        await enqueueForSite(tx, session.siteId, "paymentReq", { ...req, ts: Date.now(), amount: due }, `hold_fallback:${hold.holdId}`);
      }
      await writeAudit(this.o.auditMode, tx, { kind: "hold.fell_back", sessionId: session.sessionId, payload: { hold_id: hold.holdId, site_id: session.siteId, lane_id: req?.lane_id ?? null, hold_state: hold.state, amount_due: due, currency: session.currency } });
      await finishHoldExit(tx, hold.holdId, "fell_back");
    });
  }

  /** The stay needs nothing from the hold: cancel it at the provider (idempotent), then record it. */
  private async release(hold: HoldRow, session: SessionRow): Promise<void> {
    const current = await getHold(this.o.db.sql, hold.holdId);
    if (current.state === "authorized" && current.providerRef) {
      let pi: Stripe.PaymentIntent;
      try {
        pi = await this.o.stripe.paymentIntents.cancel(current.providerRef, { cancellation_reason: "abandoned" }, { idempotencyKey: `hold-release:${hold.holdId}` });
      } catch (err) {
        if (!isProviderAnswer(err)) throw err;
        pi = await this.o.stripe.paymentIntents.retrieve(current.providerRef);
      }
      await this.o.db.tx(async (tx) => {
        const h = await lockHold(tx, { holdId: hold.holdId });
        if (!h || pi.status !== "canceled") return;
        const r = await transitionHold(tx, h, "canceled", { failureReason: "released: nothing to capture" });
        if (r.outcome === "applied") await writeAudit(this.o.auditMode, tx, { kind: "hold.released", sessionId: session.sessionId, payload: { hold_id: h.holdId, site_id: h.siteId, provider: "stripe", provider_ref: pi.id, amount: h.amount, currency: h.currency, session_status: session.status } });
      });
    }
    await this.o.db.tx((tx) => finishHoldExit(tx, hold.holdId, "done"));
  }
}
