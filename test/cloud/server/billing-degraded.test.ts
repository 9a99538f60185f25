/**
 * Issue 16 items 6–7, end to end on PGlite AND PostgreSQL: the payment provider out of reach
 * while a driver starts paying — the emulator STOPPED, answering 500, HANGING (a test-double
 * proxy in front of the Stripe test emulator, test/cloud/server/stripe-fault-proxy.ts) — gives
 * the driver a 503 page in their language (French and English), the site hears
 * `provider_unreachable`, the audit has it once, /billing/health reports it; once the provider
 * is back the same pay link works and the payment completes. A 4xx of ours is NOT "unavailable".
 * BILLING_ENABLED=false → the 503 page, no PaymentIntent created, the exit request gets the
 * fallback (no pay link, `provider_unreachable` for the lane display).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { expect } from "chai";
import postgres from "postgres";
import { DatabaseConnectionError, findActiveSession, getSession, listPayments, verifyAuditChain, type SessionRow } from "../../../cloud/db/index";
import { flushAudit } from "../../../cloud/server/audit-chain";
import { seedSite, startCloud, type CloudHandle } from "../../../cloud/server/index";
import { createStripeEmulator, type StripeEmulator } from "../../../stripe-emulator/index";
import { silentLogger } from "../../../host/log";
import { Phone, type Hop } from "./driver";
import { LOW_SCRYPT, PG_URL, SiteClient, TEMPLATE_DIR, eventId, login, until } from "./helpers";
import { startFaultProxy, type FaultProxy } from "./stripe-fault-proxy";

const KEY = "sk_test_billing_degraded_test";
const WHSEC = "whsec_test_billing_degraded_test_secret";
const rnd = () => randomBytes(4).toString("hex");

interface Rig {
  cloud: CloudHandle;
  site: SiteClient;
  siteId: string;
  proxy: FaultProxy;
  emulator: StripeEmulator;
  /** Stops the emulator (connection refused behind the proxy). */
  stopEmulator(): Promise<void>;
  /** Starts it again on the same port and state directory. */
  restartEmulator(): Promise<void>;
  close(): Promise<void>;
}

type Kind = "pglite" | "postgres";

async function startRig(ctx: Mocha.Context, kind: Kind, billingEnabled = true): Promise<Rig> {
  const stateDir = mkdtempSync(join(tmpdir(), "syspark-billing-degraded-"));
  const emuOpts = { stateDir, apiKey: KEY, webhookSecret: WHSEC, webhookRetry: { attempts: 3, initialDelayMs: 100, maxDelayMs: 500 }, logger: silentLogger };
  let emulator = await createStripeEmulator({ ...emuOpts, port: 0 });
  const emuPort = emulator.port;
  const proxy = await startFaultProxy(emulator.url);
  const schema = `syspark_billing_test_${rnd()}`;
  const siteId = kind === "pglite" ? "paris-centre" : `t-${rnd()}`;
  let cloud: CloudHandle;
  try {
    cloud = await startCloud({
      ...(kind === "postgres" ? { databaseUrl: PG_URL, dbSchema: schema, dbCreateSchema: true, dbPoolMax: 4 } : { pgliteTemplateDir: TEMPLATE_DIR }),
      port: 0,
      mqttPort: 0,
      // Short patience so a hanging provider costs the test about a second, not the default 8 s.
      stripe: { apiBase: proxy.url, secretKey: KEY, webhookSecret: WHSEC, timeoutMs: 500, maxNetworkRetries: 1, healthProbeCacheMs: 0 },
      billingEnabled,
      logger: silentLogger,
      scryptCost: LOW_SCRYPT,
      instanceId: `t-billing-${rnd()}`,
      relayPollMs: 50,
      retrieveOnReturn: false, // only the signed webhook marks a payment paid
      seedDemo: kind === "pglite",
      createFirstAdmin: true,
    });
  } catch (err) {
    await proxy.close();
    await emulator.close();
    rmSync(stateDir, { recursive: true, force: true });
    if (err instanceof DatabaseConnectionError && process.env.SYSPARK_REQUIRE_POSTGRES !== "1") {
      console.warn(`      skipped: PostgreSQL not reachable at ${PG_URL}: ${err.message}`);
      ctx.skip();
    }
    throw err;
  }
  if (kind === "postgres") await seedSite(cloud.db, { siteId, name: "Billing test site", timeZone: "Europe/Paris", currency: "EUR" });
  const hook = `${cloud.url}/webhooks/stripe`;
  emulator.setWebhookUrl(hook);
  const site = await SiteClient.connect(cloud.mqttUrl, siteId);
  const rig: Rig = {
    cloud,
    site,
    siteId,
    proxy,
    get emulator() {
      return emulator;
    },
    async stopEmulator() {
      await emulator.close();
    },
    async restartEmulator() {
      emulator = await createStripeEmulator({ ...emuOpts, port: emuPort, webhookUrl: hook });
    },
    async close() {
      await site.close();
      await cloud.close();
      await proxy.close();
      await emulator.close();
      rmSync(stateDir, { recursive: true, force: true });
      if (kind === "postgres") {
        const admin = postgres(PG_URL, { max: 1, onnotice: () => undefined });
        await admin.unsafe(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
        await admin.end({ timeout: 5 });
      }
    },
  };
  return rig;
}

/** A car that stayed two hours asks to leave: its session and what the lane heard. */
async function carAtExit(r: Rig): Promise<{ session: SessionRow; req: Record<string, unknown> }> {
  const plate = `B${Math.random().toString(36).slice(2, 8).toUpperCase()}`;
  await r.site.publish("entry", { ts: Date.now() - 2 * 3600_000, src: "test-gateway", event_id: eventId(), lane_id: "E1", identity: { method: "plate", value: plate } });
  const session = await until(() => findActiveSession(r.cloud.db.sql, r.siteId, { method: "plate", value: plate }), 15_000, "the entry session");
  await r.site.publish("exitReq", { ts: Date.now(), src: "test-gateway", event_id: eventId(), lane_id: "L1", identity: { method: "plate", value: plate } });
  const req = await r.site.waitFor("paymentReq", (p) => p.session_id === session.sessionId);
  return { session, req: req.payload };
}

/** The pay page, then its "Pay by card" button: the hop the driver ends on. */
async function pressPay(phone: Phone, payUrl: string): Promise<Hop> {
  const page = await phone.go(payUrl);
  expect(page.status, page.body.slice(0, 300)).to.equal(200);
  const m = /<form method="post" action="([^"]*\/start\?[^"]*)">/.exec(page.body);
  if (!m) throw new Error(`no "pay by card" form on the pay page: ${page.body.slice(0, 300)}`);
  return phone.go(new URL(m[1].replace(/&amp;/g, "&"), payUrl).toString(), { form: {} });
}

async function auditKinds(cloud: CloudHandle, sessionId: string): Promise<{ kind: string; payload: Record<string, unknown> }[]> {
  await flushAudit(cloud.db);
  return cloud.db.sql<{ kind: string; payload: Record<string, unknown> }[]>`SELECT kind, payload FROM audit_log WHERE session_id = ${sessionId} ORDER BY seq`;
}

/** The fields of GET /billing/health these tests read (cloud/flows/billing-health.ts documents them all). */
interface HealthBody {
  status: string;
  billing_enabled: boolean;
  mode: string;
  stripe: { reachable: boolean };
  webhooks: { lag_s: number | null; last_event: { type: string } | null };
  provider: { unavailable_last_hour: number; last_error: { kind: string } | null };
}

async function health(cloud: CloudHandle): Promise<{ status: number; body: HealthBody }> {
  const r = await fetch(`${cloud.url}/billing/health`, { headers: { Accept: "application/json" } });
  expect(r.headers.get("content-type")).to.match(/application\/json/);
  return { status: r.status, body: (await r.json()) as HealthBody };
}

const FR_TITLE = "Paiement indisponible pour le moment";
const EN_TITLE = "Payment unavailable right now";

/**
 * The provider is down in some way: the driver (French, then English, then a kiosk on the JSON
 * API) gets 503s that say so; the lane hears it once; the audit has it once; the health says so.
 * Then the provider comes back and the same pay link is paid.
 */
async function provesOutageThenRecovery(r: Rig, breakIt: () => Promise<void>, repair: () => Promise<void>, kind: "timeout" | "connection" | "server_error"): Promise<void> {
  const { session, req } = await carAtExit(r);
  const payUrl = String(req.pay_url);
  await breakIt();

  const fr = new Phone("fr-FR");
  const hopFr = await pressPay(fr, payUrl);
  expect(hopFr.status, hopFr.body.slice(0, 400)).to.equal(503);
  expect(hopFr.contentType).to.match(/text\/html/);
  expect(hopFr.body).to.contain('data-result="provider_unavailable"');
  expect(hopFr.body).to.contain(FR_TITLE);
  expect(hopFr.body).to.contain("bouton d&#39;aide");
  expect(hopFr.body).to.contain('lang="fr"');

  const en = new Phone("en-GB");
  const hopEn = await pressPay(en, payUrl);
  expect(hopEn.status).to.equal(503);
  expect(hopEn.body).to.contain(EN_TITLE);
  expect(hopEn.body).to.contain("help (call) button");

  const token = new URL(payUrl).searchParams.get("t") as string;
  const api = await fetch(`${r.cloud.url}/api/pay/${session.sessionId}/intent?t=${token}`, { method: "POST", headers: { Accept: "application/json" } });
  expect(api.status).to.equal(503);
  expect(((await api.json()) as { code: string }).code).to.equal("provider_unavailable");

  // The lane hears it (its display says "Paiement indispo."), once for the three attempts.
  const failed = await r.site.waitFor("paymentFailed", (p) => p.session_id === session.sessionId);
  expect(failed.payload.reason).to.equal("provider_unreachable");
  const [{ n: told }] = await r.cloud.db.sql<{ n: number }[]>`SELECT count(*)::int4 AS n FROM outbox WHERE topic LIKE '%/payment/failed' AND payload->>'session_id' = ${session.sessionId}`;
  expect(told).to.equal(1);
  // The exit stays blocked: the session still waits for its payment.
  expect((await getSession(r.cloud.db.sql, session.sessionId)).status).to.equal("pending_payment");
  const audit = (await auditKinds(r.cloud, session.sessionId)).filter((a) => a.kind === "payment.provider_unavailable");
  expect(audit.length, "audited once per attempt window, not per refresh").to.equal(1);
  expect(audit[0].payload.error_kind).to.equal(kind);
  expect(audit[0].payload.lane_told).to.equal(true);

  const down = await health(r.cloud);
  expect(down.status).to.equal(503);
  expect(down.body.status).to.equal("degraded");
  expect(down.body.billing_enabled).to.equal(true);
  expect(down.body.mode).to.equal("emulator");
  expect(down.body.stripe.reachable).to.equal(false);
  expect(down.body.provider.unavailable_last_hour).to.be.at.least(1);
  expect(down.body.provider.last_error?.kind).to.equal(kind);
  const page = await fetch(`${r.cloud.url}/billing/health`, { headers: { Accept: "text/html" } });
  expect(page.headers.get("content-type")).to.match(/text\/html/);
  const html = await page.text();
  expect(html).to.contain('data-status="degraded"');
  expect(html).to.contain("provider.unavailable_last_hour");

  // The provider is back: the same link, a card, paid once.
  await repair();
  const up = await health(r.cloud);
  expect(up.status).to.equal(200);
  expect(up.body.status).to.equal("ok");
  expect(up.body.stripe.reachable).to.equal(true);
  const phone = new Phone("fr-FR");
  const card = await phone.openCardPage(payUrl);
  await phone.payOnCardPage(card);
  const success = await r.site.waitFor("paymentSuccess", (p) => p.session_id === session.sessionId);
  expect(String(success.payload.provider_ref)).to.match(/^pi_/);
  expect((await getSession(r.cloud.db.sql, session.sessionId)).status).to.equal("paid");
  expect((await listPayments(r.cloud.db.sql, session.sessionId)).filter((p) => p.state === "paid").length).to.equal(1);
  const after = await health(r.cloud);
  expect(after.body.webhooks.last_event?.type).to.equal("payment_intent.succeeded");
  expect(after.body.webhooks.lag_s).to.be.a("number");
  for (const h of [...fr.hops, ...en.hops, ...phone.hops]) expect(h.status, `${h.method} ${h.url}`).not.to.equal(500);
  await flushAudit(r.cloud.db); // the chainer appends after commit: verify a settled chain
  const chain = await verifyAuditChain(r.cloud.db.sql);
  expect(chain.ok, JSON.stringify(chain)).to.equal(true);
}

for (const kind of ["pglite", "postgres"] as const) {
  describe(`billing with the payment provider out of reach (${kind === "pglite" ? "PGlite" : "PostgreSQL"})`, function () {
    this.timeout(90_000);
    let r: Rig;
    before(async function () {
      this.timeout(120_000);
      r = await startRig(this, kind);
    });
    after(async () => {
      await r?.close();
    });

    it("the provider answering 500 → 503 page (fr, en), lane told, audited once, health degraded; back → the same link is paid", async () => {
      await provesOutageThenRecovery(
        r,
        async () => void (r.proxy.mode = "error500"),
        async () => void (r.proxy.mode = "pass"),
        "server_error",
      );
      expect(r.proxy.served.error500).to.be.greaterThan(0);
    });

    it("the provider HANGING → the client's timeout, the same 503 page; back → paid", async () => {
      await provesOutageThenRecovery(
        r,
        async () => void (r.proxy.mode = "hang"),
        async () => void (r.proxy.mode = "pass"),
        "timeout",
      );
      expect(r.proxy.served.hang).to.be.greaterThan(0);
    });

    it("the emulator STOPPED → connection refused behind the proxy, the same 503 page; restarted → paid", async () => {
      await provesOutageThenRecovery(
        r,
        () => r.stopEmulator(),
        () => r.restartEmulator(),
        "connection",
      );
    });

    it("a 4xx caused by our request is NOT 'provider unavailable': no 503 page, no lane message, no provider audit", async () => {
      const { session, req } = await carAtExit(r);
      r.proxy.mode = "error400";
      try {
        const hop = await pressPay(new Phone("fr-FR"), String(req.pay_url));
        expect(hop.status).not.to.equal(503);
        expect(hop.body).not.to.contain('data-result="provider_unavailable"');
      } finally {
        r.proxy.mode = "pass";
      }
      const [{ n }] = await r.cloud.db.sql<{ n: number }[]>`SELECT count(*)::int4 AS n FROM billing_provider_failures WHERE session_id = ${session.sessionId}`;
      expect(n).to.equal(0);
      expect((await auditKinds(r.cloud, session.sessionId)).map((a) => a.kind)).not.to.include("payment.provider_unavailable");
      const [{ n: told }] = await r.cloud.db.sql<{ n: number }[]>`SELECT count(*)::int4 AS n FROM outbox WHERE topic LIKE '%/payment/failed' AND payload->>'session_id' = ${session.sessionId}`;
      expect(told).to.equal(0);
    });
  });

  describe(`BILLING_ENABLED=false (${kind === "pglite" ? "PGlite" : "PostgreSQL"})`, function () {
    this.timeout(90_000);
    let r: Rig;
    before(async function () {
      this.timeout(120_000);
      r = await startRig(this, kind, false);
    });
    after(async () => {
      await r?.close();
    });

    it("an exit that needs a payment gets no pay link, the lane is told payment is unavailable, the session waits for the operator", async () => {
      const { session, req } = await carAtExit(r);
      expect(req.pay_url).to.equal(undefined);
      expect(req.amount).to.be.greaterThan(0);
      const failed = await r.site.waitFor("paymentFailed", (p) => p.session_id === session.sessionId);
      expect(failed.payload.reason).to.equal("provider_unreachable");
      expect((await getSession(r.cloud.db.sql, session.sessionId)).status).to.equal("pending_payment");
      const kinds = (await auditKinds(r.cloud, session.sessionId)).map((a) => a.kind);
      expect(kinds).to.include("payment.billing_disabled");
      expect(kinds).not.to.include("payment.requested");

      // Any pay route: the 503 page in the driver's language, JSON under /api; nothing created at the provider.
      const fr = await new Phone("fr-FR").go(`${r.cloud.url}/pay/${session.sessionId}?t=anytoken1234`);
      expect(fr.status).to.equal(503);
      expect(fr.contentType).to.match(/text\/html/);
      expect(fr.body).to.contain('data-result="billing_disabled"');
      expect(fr.body).to.contain("Paiement en ligne désactivé");
      const en = await new Phone("en-GB").go(`${r.cloud.url}/pay/${session.sessionId}/start?t=anytoken1234`, { form: {} });
      expect(en.status).to.equal(503);
      expect(en.body).to.contain("Online payment switched off");
      const api = await fetch(`${r.cloud.url}/api/pay/${session.sessionId}/intent?t=anytoken1234`, { method: "POST" });
      expect(api.status).to.equal(503);
      expect(((await api.json()) as { code: string }).code).to.equal("billing_disabled");
      expect(await listPayments(r.cloud.db.sql, session.sessionId)).to.deep.equal([]);
      expect((await r.cloud.stripe.paymentIntents.list({ limit: 10 })).data.length).to.equal(0);

      const h = await health(r.cloud);
      expect(h.status).to.equal(200);
      expect(h.body.status).to.equal("disabled");
      expect(h.body.billing_enabled).to.equal(false);

      // The fallback: the operator's audited override reaches the lane (the site's policy decides there).
      const admin = r.cloud.firstAdmin as { username: string; password: string };
      const token = await login(r.cloud.url, admin.username, admin.password);
      const ovr = await fetch(`${r.cloud.url}/api/lanes/L1/override`, { method: "POST", headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" }, body: JSON.stringify({ site_id: r.siteId, action: "open", reason: "billing disabled: driver at the exit", session_id: session.sessionId }) });
      expect(ovr.status, await ovr.clone().text()).to.equal(202);
      const cmd = await r.site.waitFor("barrierCmd", (p) => p.session_id === session.sessionId);
      expect(cmd.payload).to.include({ cmd: "open", lane_id: "L1", operator: admin.username });
    });
  });
}
