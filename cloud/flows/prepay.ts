/**
 * Prepay (issue 16 item 3, seed 002 "paiement fixe"): a driver pays now for a plate's stay at a
 * site — a chosen duration, priced by the server, or a chosen sum, turned into the window it
 * buys (cloud/flows/quotes.ts: both from the ONE pricing function). The PaymentIntent is created
 * server-side (idempotency key, metadata kind=prepay) and paid on the same card page as an exit
 * payment; ONLY the verified webhook (prepayWebhookEvent, called from PaymentService.dispatch) or
 * a server-side retrieve marks it paid. At the exit, prepaidCreditFor (called once from the exit
 * request's transaction) locks and consumes it: free within its window, the difference beyond.
 */
import type Stripe from "stripe";
import type { Logger } from "../../host/log";
import type { Database, Json, SessionRow, Tx } from "../db/index";
import {
  applyPrepaymentEvent,
  attachPrepaymentRef,
  consumePrepayment,
  createPrepayment,
  getPrepayment,
  lockPrepaymentForSession,
  newPrepaymentId,
  type PrepaymentRow,
} from "../db/prepayments";
import { writeAudit, type AuditMode } from "../server/audit-chain";
import type { StripeMode } from "../server/config";
import { formatMoney, type Locale, type PriceResult } from "../tariffs/index";
import { HttpError } from "./errors";
import { MAX_PREPAY_MINUTES, quoteStay, siteTariff, quoteFrom, windowForAmount } from "./quotes";
import { canonicalPlate } from "../domain/plates";

/** A car may enter a little before its prepaid window starts (prepaid in the lane, on the phone) and still be "within". */
export const PREPAY_EARLY_ENTRY_MS = 15 * 60_000;
export const PREPAID_LABEL: Record<Locale, string> = { fr: "Prépayé", en: "Prepaid" };

export interface PrepayServiceOptions {
  db: Database;
  stripe: Stripe;
  stripeMode: StripeMode;
  logger: Logger;
  auditMode: AuditMode;
  wake(): void;
}

export type PrepayRequest = { siteId: string; plate: string; from?: Date; locale: Locale; now?: Date } & ({ durationMin: number } | { amount: number });

export class PrepayService {
  constructor(private readonly o: PrepayServiceOptions) {}

  /** Prices the request (server side), records the prepayment and creates its PaymentIntent. */
  async create(r: PrepayRequest): Promise<{ prepayment: PrepaymentRow; pi: Stripe.PaymentIntent }> {
    const plate = canonicalPlate(r.plate);
    if (!/^[A-Z0-9]{2,16}$/.test(plate)) throw new HttpError(400, "body.plate: a plate is 2 to 16 letters and digits", "invalid_input");
    const { price, st, from, until } = await this.price(r);
    const prepaymentId = newPrepaymentId();
    const prepayment = await this.o.db.tx(async (tx) => {
      const p = await createPrepayment(tx, {
        prepaymentId, siteId: st.site.siteId, plate, windowFrom: from, windowUntil: until, amount: price.amount, currency: price.currency,
        tariffId: st.row.tariffId, tariffVersion: st.row.version, boughtBy: "amount" in r ? "amount" : "duration",
        quote: price as unknown as Json, provider: "stripe", idempotencyKey: `prepay:${prepaymentId}`,
      });
      await writeAudit(this.o.auditMode, tx, { kind: "prepayment.requested", payload: auditFields(p, { bought_by: p.boughtBy, ...("amount" in r ? { asked_amount: r.amount } : { asked_minutes: r.durationMin }) }) });
      return p;
    });
    const pi = await this.intentFor(prepayment);
    return { prepayment: await getPrepayment(this.o.db.sql, prepayment.prepaymentId), pi };
  }

  /** The window and its price, from the pricing function: a duration's price, or what a sum buys. */
  private async price(r: PrepayRequest): Promise<{ price: PriceResult; st: Awaited<ReturnType<typeof siteTariff>>; from: Date; until: Date }> {
    if ("durationMin" in r) {
      const q = await quoteStay(this.o.db.sql, r.siteId, { ...(r.from ? { from: r.from } : {}), end: { durationMin: r.durationMin }, locale: r.locale, maxMinutes: MAX_PREPAY_MINUTES, ...(r.now ? { now: r.now } : {}) });
      if (q.price.amount <= 0) throw new HttpError(400, "body.duration_min: this stay is free, there is nothing to prepay", "invalid_input");
      return { price: q.price, st: q.st, from: q.from, until: q.until };
    }
    const from = quoteFrom(r.from, r.now ?? new Date());
    const st = await siteTariff(this.o.db.sql, r.siteId, from);
    const price = windowForAmount(st.tariff, from, r.amount, r.locale);
    if (!price) throw new HttpError(400, `body.amount: ${formatMoney(r.amount, st.tariff.currency, r.locale)} does not buy any paying time at this site`, "invalid_input");
    return { price, st, from, until: new Date(price.exit) };
  }

  /** The prepayment's PaymentIntent: retrieved when it has one, else created with its idempotency key and attached. */
  async intentFor(p: PrepaymentRow): Promise<Stripe.PaymentIntent> {
    if (p.providerRef) return this.o.stripe.paymentIntents.retrieve(p.providerRef);
    if (p.state !== "requested") throw new HttpError(409, `prepayment ${p.prepaymentId} is ${p.state}`, p.state);
    const pi = await this.o.stripe.paymentIntents.create(
      {
        amount: p.amount,
        currency: p.currency.toLowerCase(),
        description: `Prepaid parking ${p.siteId} — ${p.plate}`.slice(0, 200),
        metadata: { kind: "prepay", prepayment_id: p.prepaymentId, site_id: p.siteId, plate: p.plate },
        ...(this.o.stripeMode === "emulator" ? { payment_method_types: ["card"] } : { automatic_payment_methods: { enabled: true } }),
      },
      { idempotencyKey: p.idempotencyKey },
    );
    if (pi.amount !== p.amount || pi.currency.toUpperCase() !== p.currency) throw new Error(`PaymentIntent ${pi.id} amount does not match the prepayment`);
    await this.o.db.tx((tx) => attachPrepaymentRef(tx, p.prepaymentId, pi.id));
    return pi;
  }

  /** Back from the card page: ask the provider server-side (never trust the redirect) and apply what it says. */
  async confirmByRetrieve(p: PrepaymentRow): Promise<PrepaymentRow> {
    if (!p.providerRef || p.state === "paid" || p.state === "consumed" || p.state === "refunded") return p;
    const pi = await this.o.stripe.paymentIntents.retrieve(p.providerRef);
    const to = pi.status === "succeeded" ? "succeeded" : pi.status === "canceled" ? "canceled" : undefined;
    if (to) {
      const outcome = await this.o.db.tx((tx) => applyPrepayIntent(tx, this.o.auditMode, pi, to, { source: "return_page", validation: "server-side retrieve of the PaymentIntent" }));
      if (outcome === "paid" || outcome === "canceled") this.o.wake();
    }
    return getPrepayment(this.o.db.sql, p.prepaymentId);
  }
}

function auditFields(p: PrepaymentRow, extra: Record<string, Json> = {}): Json {
  return {
    prepayment_id: p.prepaymentId, site_id: p.siteId, plate: p.plate, amount: p.amount, currency: p.currency,
    window_from: p.windowFrom.toISOString(), window_until: p.windowUntil.toISOString(), tariff_id: p.tariffId, tariff_version: p.tariffVersion,
    provider: p.provider, provider_ref: p.providerRef, state: p.state, ...extra,
  };
}

/** What a prepay provider event did (the subset of PaymentService's ApplyOutcome it can be). */
export type PrepayOutcome = "paid" | "already_paid" | "failed" | "canceled" | "stale" | "ignored" | "unknown_payment" | "amount_mismatch";

/** Applies a PaymentIntent's outcome to its prepayment (row locked, state machine, audit), in the caller's transaction. */
export async function applyPrepayIntent(tx: Tx, auditMode: AuditMode, pi: Stripe.PaymentIntent, what: "succeeded" | "failed" | "canceled", extra: { validation: string } & Record<string, Json>): Promise<PrepayOutcome> {
  const [current] = await tx<PrepaymentRow[]>`SELECT * FROM prepayments WHERE provider_ref = ${pi.id}`;
  if (!current) return "unknown_payment";
  if (what === "succeeded") {
    const amount = pi.amount_received || pi.amount;
    if (amount !== current.amount || pi.currency.toUpperCase() !== current.currency) {
      await writeAudit(auditMode, tx, { kind: "prepayment.amount_mismatch", payload: auditFields(current, { reported_amount: amount, reported_currency: pi.currency, ...extra }) });
      return "amount_mismatch";
    }
  }
  const to = what === "succeeded" ? "paid" : what;
  const message = what === "failed" ? (pi.last_payment_error?.message ?? "card declined").slice(0, 120) : what === "canceled" ? "payment canceled" : undefined;
  const r = await applyPrepaymentEvent(tx, pi.id, to, message ? { failureReason: message } : {});
  if (!r) return "unknown_payment";
  if (r.outcome === "noop") return to === "paid" ? "already_paid" : "ignored";
  if (r.outcome === "stale") {
    await writeAudit(auditMode, tx, { kind: "prepayment.stale_event", payload: auditFields(r.prepayment, { asked: to, ...extra }) });
    return "stale";
  }
  await writeAudit(auditMode, tx, { kind: `prepayment.${to}`, payload: auditFields(r.prepayment, { ...(message ? { reason: message } : {}), ...extra }) });
  return to;
}

/**
 * PaymentService.dispatch's prepay path: a payment_intent.* event whose PaymentIntent is a
 * prepayment's (metadata kind=prepay, or its id found in prepayments). Undefined for any other event.
 */
export async function prepayWebhookEvent(tx: Tx, auditMode: AuditMode, event: Stripe.Event): Promise<PrepayOutcome | undefined> {
  const what = event.type === "payment_intent.succeeded" ? "succeeded" : event.type === "payment_intent.payment_failed" ? "failed" : event.type === "payment_intent.canceled" ? "canceled" : undefined;
  if (!what) return undefined;
  const pi = event.data.object as Stripe.PaymentIntent;
  // An exit payment's PaymentIntent names its session: no lookup on the pay-at-exit path.
  if (pi.metadata?.kind !== "prepay" && pi.metadata?.session_id) return undefined;
  if (pi.metadata?.kind !== "prepay") {
    const [known] = await tx`SELECT 1 FROM prepayments WHERE provider_ref = ${pi.id}`;
    if (!known) return undefined;
  }
  return applyPrepayIntent(tx, auditMode, pi, what, { validation: `stripe webhook ${event.id}: signature verified, ${event.type}`, event_id: event.id, event_type: event.type });
}

/**
 * The exit request's ONE call (cloud/flows/site-events.ts handleExitRequest): the stay's price
 * less the plate's prepayment, which is locked and consumed here, once, in the exit's
 * transaction. Within its window the stay is free; beyond, the driver pays the difference (never
 * negative). The prepayment shows as a "Prépayé" / "Prepaid" line of the breakdown. A free stay
 * (grace period) does not use it up.
 */
export async function prepaidCreditFor(tx: Tx, auditMode: AuditMode, session: SessionRow, price: PriceResult, exitAt: Date, locale: Locale = "fr"): Promise<PriceResult> {
  if (session.identityMethod !== "plate" || price.amount <= 0) return price;
  const p = await lockPrepaymentForSession(tx, { siteId: session.siteId, plate: session.identityValue, sessionId: session.sessionId, entry: session.entryTs, exit: exitAt });
  if (!p || p.currency !== price.currency) return price;
  const within = exitAt.getTime() <= p.windowUntil.getTime() && session.entryTs.getTime() >= p.windowFrom.getTime() - PREPAY_EARLY_ENTRY_MS;
  const credit = within ? price.amount : Math.min(p.amount, price.amount);
  if (p.state !== "consumed") {
    const used = await consumePrepayment(tx, p, session.sessionId, exitAt);
    await writeAudit(auditMode, tx, { kind: "prepayment.consumed", sessionId: session.sessionId, payload: auditFields(used, { session_id: session.sessionId, exit_ts: exitAt.toISOString(), stay_price: price.amount, credit, due: price.amount - credit, within_window: within }) });
  }
  const amount = price.amount - credit;
  const money = (n: number) => formatMoney(n, price.currency, locale);
  const sep = locale === "fr" ? " : " : ": ";
  const label = PREPAID_LABEL[locale];
  return {
    ...price,
    amount,
    breakdown: [...price.breakdown, { kind: "prepaid", label, amount: -credit }],
    human: [...price.human.slice(0, -1), `${label}${sep}${money(-credit)}`, `Total${sep}${money(amount)}`],
  };
}
