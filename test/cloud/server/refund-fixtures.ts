/**
 * Fixtures for the refund tests: a session paid for real (entry and exit request on MQTT, priced
 * by the cloud's pricing function, a PaymentIntent at the Stripe test emulator confirmed with a
 * test card, marked paid by the verified webhook), and signed webhook events a test builds.
 */
import { randomBytes } from "node:crypto";
import Stripe from "stripe";
import { attachProviderRef, closeSession, createPayment, findActiveSession, getPayment, type PaymentRow, type SessionRow } from "../../../cloud/db/index";
import { eventId, until, type SiteClient, type TestCloud } from "./helpers";

const SRC = "test-gateway";
export const rndPlate = (): string => `R${randomBytes(4).toString("hex").toUpperCase().slice(0, 6)}`;

/** Entry two hours ago and an exit request now: the session, priced and pending_payment. */
export async function pricedSession(t: TestCloud, site: SiteClient): Promise<SessionRow> {
  return (await pricedSessionWithLink(t, site)).session;
}

/** As pricedSession, with the pay link the site was sent (parking/payment/req pay_url). */
export async function pricedSessionWithLink(t: TestCloud, site: SiteClient): Promise<{ session: SessionRow; payUrl: string }> {
  const plate = rndPlate();
  await site.publish("entry", { ts: Date.now() - 2 * 3600_000, src: SRC, event_id: eventId(), lane_id: "E1", identity: { method: "plate", value: plate } });
  const session = await until(() => findActiveSession(t.cloud.db.sql, t.siteId, { method: "plate", value: plate }), 15_000, "the entry session");
  await site.publish("exitReq", { ts: Date.now(), src: SRC, event_id: eventId(), lane_id: "L1", identity: { method: "plate", value: plate } });
  const req = await site.waitFor("paymentReq", (p) => p.session_id === session.sessionId);
  const priced = await until(async () => {
    const s = await findActiveSession(t.cloud.db.sql, t.siteId, { method: "plate", value: plate });
    return s?.status === "pending_payment" ? s : undefined;
  });
  return { session: priced, payUrl: String(req.payload.pay_url) };
}

/** The payment row and its PaymentIntent at the emulator (not confirmed yet). */
export async function openPayment(t: TestCloud, session: SessionRow): Promise<{ payment: PaymentRow; pi: Stripe.PaymentIntent }> {
  const key = `test-pay:${session.sessionId}:${randomBytes(3).toString("hex")}`;
  const { payment } = await t.cloud.db.tx((tx) => createPayment(tx, { sessionId: session.sessionId, provider: "stripe", idempotencyKey: key }));
  const pi = await t.cloud.stripe.paymentIntents.create(
    { amount: payment.amount, currency: payment.currency.toLowerCase(), metadata: { session_id: session.sessionId, payment_id: payment.paymentId }, ...{ payment_method_types: ["card"] } },
    { idempotencyKey: key },
  );
  await t.cloud.db.tx((tx) => attachProviderRef(tx, payment.paymentId, pi.id));
  return { payment, pi };
}

export async function confirmAndWaitPaid(t: TestCloud, paymentId: string, pi: string): Promise<PaymentRow> {
  await t.cloud.stripe.paymentIntents.confirm(pi, { payment_method: "pm_card_visa" });
  return until(async () => {
    const p = await getPayment(t.cloud.db.sql, paymentId);
    return p.state === "paid" ? p : undefined;
  }, 15_000, `payment ${paymentId} paid`);
}

/** A session paid in full by card: its payment row (paid) and PaymentIntent id. */
export async function paidSession(t: TestCloud, site: SiteClient): Promise<{ session: SessionRow; payment: PaymentRow; pi: string }> {
  const session = await pricedSession(t, site);
  const { payment, pi } = await openPayment(t, session);
  return { session, payment: await confirmAndWaitPaid(t, payment.paymentId, pi.id), pi: pi.id };
}

/** A late payment: the session is closed by an operator override first, then its PaymentIntent succeeds. */
export async function latePaidSession(t: TestCloud, site: SiteClient): Promise<{ session: SessionRow; payment: PaymentRow; pi: string }> {
  const session = await pricedSession(t, site);
  const { payment, pi } = await openPayment(t, session);
  await t.cloud.db.tx((tx) => closeSession(tx, { sessionId: session.sessionId, exitTs: new Date(), barrierResult: "opened", override: { operatorId: 1, reason: "driver could not pay, let out" } }));
  return { session, payment: await confirmAndWaitPaid(t, payment.paymentId, pi.id), pi: pi.id };
}

/** POSTs a signed Stripe event to the cloud's webhook: its HTTP status and outcome. */
export async function postEvent(t: TestCloud, event: { id: string; type: string; object: Record<string, unknown> }): Promise<{ status: number; outcome?: string }> {
  const payload = JSON.stringify({ id: event.id, object: "event", api_version: "2025-01-27.acacia", created: Math.floor(Date.now() / 1000), livemode: false, pending_webhooks: 1, request: { id: null, idempotency_key: null }, type: event.type, data: { object: event.object } });
  const sig = new Stripe("sk_test_x").webhooks.generateTestHeaderString({ payload, secret: t.cloud.webhookSecret });
  const r = await fetch(`${t.cloud.url}/webhooks/stripe`, { method: "POST", headers: { "Content-Type": "application/json", "Stripe-Signature": sig }, body: payload });
  const body = (await r.json()) as { outcome?: string };
  return { status: r.status, ...(body.outcome ? { outcome: body.outcome } : {}) };
}

export function refundObject(o: { id: string; amount: number; pi: string; status: string; metadata?: Record<string, string> }): Record<string, unknown> {
  return { id: o.id, object: "refund", amount: o.amount, currency: "eur", status: o.status, payment_intent: o.pi, charge: null, metadata: o.metadata ?? {}, reason: null, created: Math.floor(Date.now() / 1000) };
}
