/**
 * The cloud with a Stripe TEST EMULATOR in a process of its own (STRIPE_API_BASE), as the crash
 * campaigns run it: the real `stripe` client pointed at `syspark stripe-emulator`, a driver pays
 * through the emulator's card page, the signed webhook verifies at the cloud.
 */
import { expect } from "chai";
import Stripe from "stripe";
import { findActiveSession, getSession, listPayments, verifyAuditChain } from "../../../cloud/db/index";
import { flushAudit } from "../../../cloud/server/audit-chain";
import { startCloud, type CloudHandle } from "../../../cloud/server/index";
import { silentLogger } from "../../../host/log";
import { Phone } from "./driver";
import { freePort, spawnEmulator, type EmulatorProcess } from "./emulator-process";
import { LOW_SCRYPT, SiteClient, TEMPLATE_DIR, eventId, until } from "./helpers";

const KEY = "sk_test_external_emulator_test";
const WHSEC = "whsec_test_external_emulator_test_secret";

describe("cloud with a Stripe test emulator in its own process (STRIPE_API_BASE)", function () {
  this.timeout(90_000);
  let emu: EmulatorProcess | undefined;
  let cloud: CloudHandle | undefined;
  let site: SiteClient | undefined;
  let cloudPort = 0;

  afterEach(async () => {
    await site?.close();
    await cloud?.close();
    await emu?.stop();
    site = undefined;
    cloud = undefined;
    emu = undefined;
  });

  const emulatorArgs = (port: number) => ["--port", String(port), "--api-key", KEY, "--webhook-secret", WHSEC, "--webhook-url", `http://127.0.0.1:${cloudPort}/webhooks/stripe`];

  async function start(): Promise<{ cloud: CloudHandle; site: SiteClient; emu: EmulatorProcess }> {
    cloudPort = await freePort();
    const e = await spawnEmulator(emulatorArgs(0));
    emu = e;
    cloud = await startCloud({
      port: cloudPort,
      mqttPort: 0,
      pgliteTemplateDir: TEMPLATE_DIR,
      stripe: { apiBase: e.url, secretKey: KEY, webhookSecret: WHSEC },
      logger: silentLogger,
      scryptCost: LOW_SCRYPT,
      instanceId: "t-external-emu",
      relayPollMs: 50,
      retrieveOnReturn: false, // only the signed webhook from the other process may mark it paid
      seedDemo: true,
      createFirstAdmin: false,
    });
    site = await SiteClient.connect(cloud.mqttUrl, "paris-centre");
    return { cloud, site, emu: e };
  }

  /** A car that stayed two hours asks to leave: its session and the pay link. */
  async function carAtExit(): Promise<{ sessionId: string; payUrl: string }> {
    const c = cloud as CloudHandle;
    const s = site as SiteClient;
    const plate = `X${Math.random().toString(36).slice(2, 8).toUpperCase()}`;
    await s.publish("entry", { ts: Date.now() - 2 * 3600_000, src: "test-gateway", event_id: eventId(), lane_id: "E1", identity: { method: "plate", value: plate } });
    const session = await until(() => findActiveSession(c.db.sql, "paris-centre", { method: "plate", value: plate }), 15_000, "the entry session");
    await s.publish("exitReq", { ts: Date.now(), src: "test-gateway", event_id: eventId(), lane_id: "L1", identity: { method: "plate", value: plate } });
    const req = await s.waitFor("paymentReq", (p) => p.session_id === session.sessionId);
    return { sessionId: session.sessionId, payUrl: String(req.payload.pay_url) };
  }

  it("a driver pays through the emulator process's card page; its signed webhook verifies at the cloud", async () => {
    const { cloud, site, emu } = await start();
    expect(cloud.emulator).to.equal(undefined);
    expect(cloud.stripeMode).to.equal("emulator");
    const plate = `X${Date.now().toString(36).toUpperCase().slice(-6)}`;
    await site.publish("entry", { ts: Date.now() - 2 * 3600_000, src: "test-gateway", event_id: eventId(), lane_id: "E1", identity: { method: "plate", value: plate } });
    const session = await until(() => findActiveSession(cloud.db.sql, "paris-centre", { method: "plate", value: plate }), 15_000, "the entry session");
    await site.publish("exitReq", { ts: Date.now(), src: "test-gateway", event_id: eventId(), lane_id: "L1", identity: { method: "plate", value: plate } });
    const req = await site.waitFor("paymentReq", (p) => p.session_id === session.sessionId);

    const phone = new Phone();
    const card = await phone.openCardPage(String(req.payload.pay_url));
    expect(card.url.startsWith(`${emu.url}/emulator/pay/`), card.url).to.equal(true);
    await phone.payOnCardPage(card);
    const success = await site.waitFor("paymentSuccess", (p) => p.session_id === session.sessionId);
    expect(String(success.payload.provider_ref)).to.match(/^pi_/);
    expect((await getSession(cloud.db.sql, session.sessionId)).status).to.equal("paid");
    const [{ n }] = await cloud.db.sql<{ n: number }[]>`SELECT count(*)::int4 AS n FROM webhook_events WHERE type = 'payment_intent.succeeded' AND status = 'processed'`;
    expect(n).to.equal(1);
  });

  it("a PaymentIntent the provider no longer knows (emulator state wiped) → the pay link starts a fresh attempt and the driver pays, once, audited", async () => {
    const { cloud, site } = await start();
    const { sessionId, payUrl } = await carAtExit();
    const phone = new Phone();
    await phone.openCardPage(payUrl); // the PaymentIntent exists at the provider, its id in the database
    const [first] = await listPayments(cloud.db.sql, sessionId);
    expect(first.providerRef).to.match(/^pi_/);

    // The provider forgets everything: a new emulator (no state) on the same port.
    const port = Number(new URL((emu as { url: string }).url).port);
    await emu?.stop();
    emu = await spawnEmulator(emulatorArgs(port));

    const card = await phone.openCardPage(payUrl);
    expect(card.url.startsWith(`${emu.url}/emulator/pay/`), card.url).to.equal(true);
    await phone.payOnCardPage(card);
    const success = await site.waitFor("paymentSuccess", (p) => p.session_id === sessionId);
    expect((await getSession(cloud.db.sql, sessionId)).status).to.equal("paid");
    const pays = await listPayments(cloud.db.sql, sessionId);
    expect(pays.map((p) => p.state)).to.deep.equal(["failed", "paid"]);
    expect(pays[0].failureReason).to.match(/^provider_missing: /);
    expect(pays[1].providerRef).to.equal(success.payload.provider_ref);
    expect(pays[1].providerRef).not.to.equal(first.providerRef);
    expect(pays[1].idempotencyKey).not.to.equal(first.idempotencyKey);
    await until(async () => site.count("paymentSuccess", (p) => p.session_id === sessionId) >= 1, 5000, "payment/success");
    expect(site.count("paymentSuccess", (p) => p.session_id === sessionId)).to.equal(1);
    expect(site.count("paymentFailed", (p) => p.session_id === sessionId)).to.equal(0);
    await flushAudit(cloud.db);
    const kinds = (await cloud.db.sql<{ kind: string }[]>`SELECT kind FROM audit_log WHERE session_id = ${sessionId} ORDER BY seq`).map((r) => r.kind);
    expect(kinds).to.include.members(["payment.abandoned", "payment.validated"]);
    expect((await verifyAuditChain(cloud.db.sql)).ok).to.equal(true);
    // A late success of the dead attempt (had it been paid after all): applied, never lost, but no
    // second payment/success and no state moved backwards — audited as a late payment to refund.
    const late = JSON.stringify({ id: "evt_late_dead_attempt", object: "event", type: "payment_intent.succeeded", api_version: "2020-08-27", created: Math.floor(Date.now() / 1000), livemode: false, pending_webhooks: 1, request: { id: null, idempotency_key: null }, data: { object: { id: first.providerRef, object: "payment_intent", amount: first.amount, amount_received: first.amount, currency: first.currency.toLowerCase(), status: "succeeded" } } });
    const sig = new Stripe(KEY).webhooks.generateTestHeaderString({ payload: late, secret: WHSEC });
    const answer = await fetch(`${cloud.url}/webhooks/stripe`, { method: "POST", headers: { "Content-Type": "application/json", "Stripe-Signature": sig }, body: late });
    expect(answer.status).to.equal(200);
    expect((await getSession(cloud.db.sql, sessionId)).status).to.equal("paid");
    expect((await listPayments(cloud.db.sql, sessionId)).map((p) => p.state)).to.deep.equal(["paid", "paid"]);
    await flushAudit(cloud.db);
    const lateKinds = (await cloud.db.sql<{ kind: string }[]>`SELECT kind FROM audit_log WHERE session_id = ${sessionId} AND kind = 'payment.late'`).map((r) => r.kind);
    expect(lateKinds).to.deep.equal(["payment.late"]);
    // What the site will ever hear is in the outbox, written in the webhook's transaction: one success.
    const [{ n: successes }] = await cloud.db.sql<{ n: number }[]>`SELECT count(*)::int4 AS n FROM outbox WHERE topic LIKE '%/payment/success' AND payload->>'session_id' = ${sessionId}`;
    expect(successes).to.equal(1);
    expect((await verifyAuditChain(cloud.db.sql)).ok).to.equal(true);

    // No 5xx and no JSON anywhere on the driver's way.
    for (const h of phone.hops) {
      expect(h.status, `${h.method} ${h.url}`).to.be.below(500);
      expect(h.contentType, `${h.method} ${h.url}`).to.match(/^text\/html|^$/);
    }
  });

  it("a session paid by one attempt (Checkout) gets its other open attempt (the card page) canceled at the provider: the card page can no longer charge", async () => {
    const { cloud, emu } = await start();
    const { sessionId, payUrl } = await carAtExit();
    const phone = new Phone("en-GB");
    const cardPage = await phone.openCardPage(payUrl); // attempt 1: a PaymentIntent, its card page left open
    const checkout = await phone.openCheckoutPage(payUrl); // attempt 2: a Checkout Session
    await phone.payOnCardPage(checkout);
    await until(async () => (await getSession(cloud.db.sql, sessionId)).status === "paid", 15_000, "the session paid through Checkout");
    const [card, hosted] = await listPayments(cloud.db.sql, sessionId);
    expect(card.providerRef).to.match(/^pi_/);
    expect(hosted.providerRef).to.match(/^cs_/);
    const stripe = new Stripe(KEY, { host: "127.0.0.1", port: Number(new URL(emu.url).port), protocol: "http", maxNetworkRetries: 0 });
    await until(async () => (await stripe.paymentIntents.retrieve(card.providerRef as string)).status === "canceled", 15_000, "the card page's PaymentIntent canceled at the provider");
    const late = await phone.payOnCardPage(cardPage); // the driver (or a second tap) on the old card page
    expect(late.status).to.equal(410);
    expect((await stripe.paymentIntents.retrieve(card.providerRef as string)).amount_received).to.equal(0);
    await until(async () => (await listPayments(cloud.db.sql, sessionId))[0].state === "canceled", 15_000, "attempt 1 canceled by its webhook");
    expect((await listPayments(cloud.db.sql, sessionId)).map((p) => p.state)).to.deep.equal(["canceled", "paid"]);
    const [{ n }] = await cloud.db.sql<{ n: number }[]>`SELECT count(*)::int4 AS n FROM outbox WHERE topic LIKE '%/payment/%' AND payload->>'session_id' = ${sessionId}`;
    expect(n).to.equal(2); // payment/req and one payment/success: no payment/failed for the released attempt
  });
});
