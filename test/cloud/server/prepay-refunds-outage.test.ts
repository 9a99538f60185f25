/**
 * An unused prepayment refunded while Stripe is out of reach or refuses (issue 16), on PGlite:
 * the Stripe test emulator behind the fault proxy (TEST DOUBLE, stripe-fault-proxy.ts). Out of
 * reach → 202, the refund recorded `requested`, the plate's exit meanwhile does not spend the
 * prepayment, the same request once Stripe is back refunds it once. Refused (a 400 of Stripe's
 * shape) → 409, the prepayment stays paid and can be refunded again later.
 */
import { randomBytes } from "node:crypto";
import { expect } from "chai";
import Stripe from "stripe";
import { findActiveSession } from "../../../cloud/db/index";
import { getPrepayment, type PrepaymentRow } from "../../../cloud/db/prepayments";
import { startCloud, type CloudHandle } from "../../../cloud/server/index";
import { silentLogger } from "../../../host/log";
import { createStripeEmulator, type StripeEmulator } from "../../../stripe-emulator/index";
import { LOW_SCRYPT, SiteClient, TEMPLATE_DIR, eventId, login, until } from "./helpers";
import { startFaultProxy, type FaultProxy } from "./stripe-fault-proxy";

const KEY = "sk_test_prepay_refund_outage";
const WHSEC = "whsec_test_prepay_refund_outage_secret";
const rnd = () => randomBytes(4).toString("hex");

describe("prepayment refunds with Stripe out of reach or refusing (PGlite, fault proxy)", function () {
  this.timeout(60_000);
  let emulator: StripeEmulator;
  let proxy: FaultProxy;
  let cloud: CloudHandle;
  let site: SiteClient;
  let token: string;
  let direct: Stripe;

  before(async function () {
    this.timeout(120_000);
    emulator = await createStripeEmulator({ apiKey: KEY, webhookSecret: WHSEC, port: 0, logger: silentLogger, webhookRetry: { maxAttempts: 3, initialDelayMs: 100, maxDelayMs: 500 } });
    proxy = await startFaultProxy(emulator.url);
    cloud = await startCloud({ pgliteTemplateDir: TEMPLATE_DIR, port: 0, mqttPort: 0, stripe: { apiBase: proxy.url, secretKey: KEY, webhookSecret: WHSEC, timeoutMs: 1000, maxNetworkRetries: 0 }, logger: silentLogger, scryptCost: LOW_SCRYPT, instanceId: `t-pprf-${rnd()}`, relayPollMs: 50, seedDemo: true, createFirstAdmin: true });
    emulator.setWebhookUrl(`${cloud.url}/webhooks/stripe`);
    site = await SiteClient.connect(cloud.mqttUrl, "paris-centre");
    const admin = cloud.firstAdmin as { username: string; password: string };
    token = await login(cloud.url, admin.username, admin.password);
    direct = new Stripe(KEY, emulator.clientConfig);
  });
  after(async () => {
    await site?.close();
    await cloud?.close();
    await proxy?.close();
    await emulator?.close();
  });

  async function paidPrepayment(plate: string): Promise<PrepaymentRow> {
    const r = await fetch(`${cloud.url}/pricing/paris-centre/prepay?lang=en`, { method: "POST", redirect: "manual", headers: { "Content-Type": "application/x-www-form-urlencoded" }, body: new URLSearchParams({ plate, hours: "2" }).toString() });
    expect(r.status).to.equal(303);
    const [row] = await cloud.db.sql<{ prepaymentId: string }[]>`SELECT prepayment_id FROM prepayments WHERE plate = ${plate}`;
    const p = await getPrepayment(cloud.db.sql, row.prepaymentId);
    await direct.paymentIntents.confirm(p.providerRef as string, { payment_method: "pm_card_visa" });
    return until(async () => {
      const x = await getPrepayment(cloud.db.sql, p.prepaymentId);
      return x.state === "paid" ? x : undefined;
    }, 15_000, "the prepayment paid");
  }

  const refund = async (id: string, key: string) => {
    const r = await fetch(`${cloud.url}/api/operator/prepayments/${id}/refund`, { method: "POST", headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}`, "Idempotency-Key": key }, body: JSON.stringify({ reason: "driver never came" }) });
    return { status: r.status, body: (await r.json()) as { state?: string; error?: string; provider_unavailable?: boolean; refund?: { state: string | null } } };
  };
  const refundState = async (id: string) => (await cloud.db.sql<{ state: string; refundState: string | null }[]>`SELECT state, refund_state FROM prepayments WHERE prepayment_id = ${id}`)[0];

  it("out of reach: 202 and recorded; an exit meanwhile does not spend it; the same request later refunds it once", async () => {
    const plate = `O${rnd().toUpperCase()}`;
    const p = await paidPrepayment(plate);
    const key = `k-${rnd()}-outage`;
    proxy.mode = "error500";
    const down = await refund(p.prepaymentId, key);
    expect(down.status).to.equal(202);
    expect(down.body.provider_unavailable).to.equal(true);
    expect(await refundState(p.prepaymentId)).to.deep.equal({ state: "paid", refundState: "requested" });
    expect(proxy.served.error500).to.be.greaterThan(0);
    // The plate leaves meanwhile: the stay is priced in full, the prepayment is not consumed.
    await site.publish("entry", { ts: Date.now() - 60 * 60_000, src: "test-gateway", event_id: eventId(), lane_id: "E1", identity: { method: "plate", value: plate } });
    const session = await until(() => findActiveSession(cloud.db.sql, "paris-centre", { method: "plate", value: plate }), 15_000, "the entry session");
    await site.publish("exitReq", { ts: Date.now(), src: "test-gateway", event_id: eventId(), lane_id: "L1", identity: { method: "plate", value: plate } });
    const req = await site.waitFor("paymentReq", (x) => x.session_id === session.sessionId);
    expect(req.payload.amount).to.be.greaterThan(0);
    expect((await getPrepayment(cloud.db.sql, p.prepaymentId)).state).to.equal("paid");
    proxy.mode = "pass";
    const up = await refund(p.prepaymentId, key);
    expect(up.status).to.be.oneOf([200, 201]); // 200 only if the refund's webhook was applied before this request's answer
    expect(up.body.provider_unavailable).to.equal(undefined);
    expect(up.body.state).to.equal("refunded");
    expect((await direct.refunds.list({ payment_intent: p.providerRef as string })).data.map((r) => r.amount)).to.deep.equal([p.amount]);
  });

  it("refused by Stripe: 409, the prepayment stays paid and can be refunded again", async () => {
    const p = await paidPrepayment(`F${rnd().toUpperCase()}`);
    proxy.mode = "error400";
    const refused = await refund(p.prepaymentId, `k-${rnd()}-refused`);
    expect(refused.status).to.equal(409);
    expect(refused.body.error).to.match(/the provider refused the refund/);
    expect(await refundState(p.prepaymentId)).to.deep.equal({ state: "paid", refundState: "failed" });
    proxy.mode = "pass";
    const again = await refund(p.prepaymentId, `k-${rnd()}-again`);
    expect(again.status).to.equal(201);
    expect(await refundState(p.prepaymentId)).to.deep.equal({ state: "refunded", refundState: "succeeded" });
  });
});
