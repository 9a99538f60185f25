/**
 * The cloud with a Stripe TEST EMULATOR in a process of its own (STRIPE_API_BASE), as the crash
 * campaigns run it: the real `stripe` client pointed at `syspark stripe-emulator`, a driver pays
 * through the emulator's card page, the signed webhook verifies at the cloud.
 */
import { expect } from "chai";
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
    // No 5xx and no JSON anywhere on the driver's way.
    for (const h of phone.hops) {
      expect(h.status, `${h.method} ${h.url}`).to.be.below(500);
      expect(h.contentType, `${h.method} ${h.url}`).to.match(/^text\/html|^$/);
    }
  });
});
