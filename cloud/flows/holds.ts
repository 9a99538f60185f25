/**
 * Holds at entry (issue 16 item 4, seed 002 "paiement dynamique", the way CitrineOS takes EV
 * payments): before the stay the driver authorises a card for the tariff's authorisation amount
 * — a PaymentIntent with capture_method=manual, setup_future_usage=off_session and a Customer, so
 * the card can also be charged off-session once the hold has lapsed. The hold is authorised
 * ONLY by a verified webhook (payment_intent.amount_capturable_updated) or a server-side
 * retrieve showing requires_capture — never by the browser. Every change goes through
 * HOLD_MACHINE in cloud/db/holds.ts and is audited. The exit side is hold-exit.ts.
 */
import { randomBytes } from "node:crypto";
import type Stripe from "stripe";
import type { Logger } from "../../host/log";
import { applyPaymentEvent, normalizeIdentity, tariffInForce, type Database, type Tx } from "../db/index";
import { attachHoldRefs, createHold, getHold, lockHold, transitionHold, type HoldRow } from "../db/holds";
import { writeAudit, type AuditMode } from "../server/audit-chain";
import { parseTariff, priceStay } from "../tariffs/index";
import { HttpError } from "./errors";
import type { HoldWebhookHandler } from "./hold-types";

export interface HoldServiceOptions {
  db: Database;
  stripe: Stripe;
  logger: Logger;
  auditMode: AuditMode;
  wake(): void;
}

/** metadata.kind of the PaymentIntents this module makes. */
export const HOLD_KIND = "hold";
export const HOLD_OFF_SESSION_KIND = "hold_offsession";
/** metadata.kind of the SetupIntent of a Checkout Session in setup mode (a card saved, no authorisation). */
export const HOLD_SETUP_KIND = "hold_setup";

/**
 * The authorisation amount of a site's tariff in force: its daily cap when it has one (the most
 * a day of parking can cost); otherwise what 24 hours cost by the ONE pricing function (already
 * bounded by max_per_stay). Zero: the car park is free, no hold is needed.
 */
export async function authorisationAmount(db: Database, siteId: string, now = new Date()): Promise<{ amount: number; currency: string; tariffId: number; tariffVersion: number }> {
  const row = await tariffInForce(db.sql, siteId, now);
  if (!row) throw new HttpError(409, `site ${siteId} has no tariff in force: a card cannot be authorised`, "no_tariff");
  const tariff = parseTariff(row.document);
  const amount = tariff.daily_cap?.price ?? priceStay({ tariff, entry: now, exit: new Date(now.getTime() + 24 * 3600_000), locale: "en" }).amount;
  return { amount, currency: tariff.currency, tariffId: row.tariffId, tariffVersion: row.version };
}

export class HoldService implements HoldWebhookHandler {
  constructor(private readonly o: HoldServiceOptions) {}

  /**
   * A hold for a plate at a site: the row (requested), a Customer and the manual-capture
   * PaymentIntent, each created with an idempotency key naming the hold (a retry after a crash
   * gets the same objects back).
   */
  async start(siteId: string, plate: string): Promise<{ hold: HoldRow; clientSecret: string }> {
    const identity = normalizeIdentity({ method: "plate", value: plate }) as { method: "plate"; value: string };
    const auth = await authorisationAmount(this.o.db, siteId);
    if (auth.amount <= 0) throw new HttpError(409, "parking is free at this site: no card authorisation is needed", "free");
    const holdId = `hold_${randomBytes(18).toString("base64url")}`;
    await this.o.db.tx((tx) => createHold(tx, { holdId, siteId, identity, amount: auth.amount, currency: auth.currency }));
    const customer = await this.o.stripe.customers.create({ metadata: { hold_id: holdId, site_id: siteId } }, { idempotencyKey: `hold-customer:${holdId}` });
    const pi = await this.o.stripe.paymentIntents.create(
      {
        amount: auth.amount,
        currency: auth.currency.toLowerCase(),
        capture_method: "manual",
        customer: customer.id,
        setup_future_usage: "off_session",
        // no redirect-based method: the card is confirmed on a page, and charged later with nobody there
        automatic_payment_methods: { enabled: true, allow_redirects: "never" },
        description: `Parking ${siteId} — hold ${identity.value}`.slice(0, 200),
        metadata: { kind: HOLD_KIND, hold_id: holdId, site_id: siteId },
      },
      { idempotencyKey: `hold-intent:${holdId}` },
    );
    const hold = await this.o.db.tx(async (tx) => {
      const h = await attachHoldRefs(tx, holdId, { providerRef: pi.id, customerRef: customer.id });
      await writeAudit(this.o.auditMode, tx, { kind: "hold.requested", payload: { hold_id: holdId, site_id: siteId, identity_method: "plate", identity_value: identity.value, amount: auth.amount, currency: auth.currency, tariff_id: auth.tariffId, tariff_version: auth.tariffVersion, provider_ref: pi.id } });
      return h;
    });
    this.o.wake();
    return { hold, clientSecret: pi.client_secret as string };
  }

  /**
   * The other way (a stay longer than a hold lives): save the card for the plate with Stripe
   * Checkout in setup mode — nothing authorised, the exit charges it off-session. The hold row
   * records it (provider_ref = the Checkout Session); setup_intent.succeeded makes it `saved`.
   */
  async startSavedCard(siteId: string, plate: string, returnUrl: (holdId: string) => string): Promise<{ hold: HoldRow; url: string }> {
    const identity = normalizeIdentity({ method: "plate", value: plate }) as { method: "plate"; value: string };
    const auth = await authorisationAmount(this.o.db, siteId);
    const holdId = `hold_${randomBytes(18).toString("base64url")}`;
    await this.o.db.tx((tx) => createHold(tx, { holdId, siteId, identity, amount: Math.max(auth.amount, 1), currency: auth.currency }));
    const customer = await this.o.stripe.customers.create({ metadata: { hold_id: holdId, site_id: siteId } }, { idempotencyKey: `hold-customer:${holdId}` });
    const cs = await this.o.stripe.checkout.sessions.create(
      { mode: "setup", customer: customer.id, currency: auth.currency.toLowerCase(), success_url: returnUrl(holdId), setup_intent_data: { metadata: { kind: HOLD_SETUP_KIND, hold_id: holdId, site_id: siteId } }, metadata: { kind: HOLD_SETUP_KIND, hold_id: holdId } },
      { idempotencyKey: `hold-setup:${holdId}` },
    );
    const hold = await this.o.db.tx(async (tx) => {
      const h = await attachHoldRefs(tx, holdId, { providerRef: cs.id, customerRef: customer.id });
      await writeAudit(this.o.auditMode, tx, { kind: "hold.setup_requested", payload: { hold_id: holdId, site_id: siteId, identity_method: "plate", identity_value: identity.value, provider: "stripe", provider_ref: cs.id } });
      return h;
    });
    this.o.wake();
    return { hold, url: cs.url as string };
  }

  /** The hold after the driver's return: a server-side retrieve (never the redirect) and what it proves. */
  async reconcile(holdId: string): Promise<HoldRow> {
    const hold = await getHold(this.o.db.sql, holdId);
    if (hold.state !== "requested" && hold.state !== "failed") return hold;
    if (!hold.providerRef) return hold;
    if (hold.providerRef.startsWith("cs_")) {
      const cs = await this.o.stripe.checkout.sessions.retrieve(hold.providerRef);
      if (typeof cs.setup_intent !== "string") return hold;
      const si = await this.o.stripe.setupIntents.retrieve(cs.setup_intent);
      await this.o.db.tx(async (tx) => {
        const h = await lockHold(tx, { holdId });
        if (h) await this.applySetup(tx, h, si, "server-side retrieve");
      });
      return getHold(this.o.db.sql, holdId);
    }
    const pi = await this.o.stripe.paymentIntents.retrieve(hold.providerRef);
    await this.o.db.tx(async (tx) => {
      const h = await lockHold(tx, { holdId });
      if (h) await this.applyIntent(tx, h, pi, "server-side retrieve");
    });
    this.o.wake();
    return getHold(this.o.db.sql, holdId);
  }

  /** Webhooks of the PaymentIntents this module made (metadata.kind); others: undefined. */
  async onEvent(tx: Tx, event: Stripe.Event): Promise<string | undefined> {
    if (event.type === "setup_intent.succeeded") {
      const si = event.data.object;
      if (si.metadata?.kind !== HOLD_SETUP_KIND || !si.metadata.hold_id) return undefined;
      const hold = await lockHold(tx, { holdId: si.metadata.hold_id });
      return hold ? this.applySetup(tx, hold, si, `stripe webhook ${event.id}: ${event.type}`) : "unknown_payment";
    }
    if (!event.type.startsWith("payment_intent.")) return undefined;
    const pi = event.data.object as Stripe.PaymentIntent;
    const kind = pi.metadata?.kind;
    if (kind === HOLD_OFF_SESSION_KIND && (event.type === "payment_intent.payment_failed" || event.type === "payment_intent.canceled")) {
      // The exit worker falls back to pay-at-exit itself: record the failure without telling the lane twice.
      const r = await applyPaymentEvent(tx, pi.id, event.type === "payment_intent.canceled" ? "canceled" : "failed", { failureReason: (pi.last_payment_error?.code ?? "canceled").slice(0, 100) }).catch(() => undefined);
      return r?.outcome === "applied" ? "failed" : "ignored";
    }
    if (kind !== HOLD_KIND) return undefined;
    const hold = await lockHold(tx, { providerRef: pi.id });
    if (!hold) return "unknown_payment";
    const outcome = await this.applyIntent(tx, hold, pi, `stripe webhook ${event.id}: ${event.type}`);
    // A captured hold is also the exit's payment: the normal payment_intent.succeeded path applies it.
    return event.type === "payment_intent.succeeded" ? undefined : outcome;
  }

  /** A card saved by Checkout in setup mode: the hold becomes `saved` (its card and customer recorded). */
  private async applySetup(tx: Tx, hold: HoldRow, si: Stripe.SetupIntent, source: string): Promise<string> {
    if (si.status !== "succeeded") return "ignored";
    const pm = typeof si.payment_method === "string" ? si.payment_method : (si.payment_method?.id ?? null);
    const customer = typeof si.customer === "string" ? si.customer : (si.customer?.id ?? null);
    const r = await transitionHold(tx, hold, "saved", { paymentMethodRef: pm, customerRef: customer });
    if (r.outcome !== "applied") return r.outcome === "noop" ? "ignored" : "stale";
    await writeAudit(this.o.auditMode, tx, { kind: "hold.saved", payload: { hold_id: hold.holdId, site_id: hold.siteId, identity_value: hold.identityValue, provider: "stripe", setup_intent: si.id, validation_result: source } });
    return "saved";
  }

  /**
   * What a PaymentIntent's state says about its hold, through HOLD_MACHINE (replays: noop,
   * out-of-order: stale, nothing written). A canceled hold's exit payment, if any, is canceled
   * with it (quietly: the exit worker decides what the lane hears).
   */
  private async applyIntent(tx: Tx, hold: HoldRow, pi: Stripe.PaymentIntent, source: string): Promise<string> {
    const pm = typeof pi.payment_method === "string" ? pi.payment_method : (pi.payment_method?.id ?? null);
    let to: "authorized" | "captured" | "canceled" | "expired" | "failed";
    if (pi.status === "requires_capture") to = "authorized";
    else if (pi.status === "succeeded") to = "captured";
    else if (pi.status === "canceled") to = pi.cancellation_reason === "automatic" ? "expired" : "canceled";
    else if (pi.last_payment_error) to = "failed";
    else return "ignored";
    const r = await transitionHold(tx, hold, to, { paymentMethodRef: pm, failureReason: (pi.last_payment_error?.message ?? pi.cancellation_reason ?? null)?.slice(0, 200) ?? null });
    if (r.outcome !== "applied") return r.outcome === "noop" ? "ignored" : "stale";
    if ((to === "canceled" || to === "expired") && hold.exitPaymentId) {
      await applyPaymentEvent(tx, pi.id, "canceled", { failureReason: `hold ${to}` });
    }
    await writeAudit(this.o.auditMode, tx, {
      kind: `hold.${to}`,
      sessionId: hold.exitSessionId,
      payload: { hold_id: hold.holdId, site_id: hold.siteId, identity_value: hold.identityValue, provider: "stripe", provider_ref: pi.id, amount: hold.amount, currency: hold.currency, amount_capturable: pi.amount_capturable, amount_received: pi.amount_received, validation_result: source, from: hold.state },
    });
    return to;
  }
}
