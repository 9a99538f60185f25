/**
 * The cloud's end-to-end suite (issue 4 "Must show"), run once on embedded defaults and once on
 * the PostgreSQL server + Mosquitto: health, webhook signatures, auth, bad input, a full paid
 * exit paid in headless Chromium, a declined card then a retry, a webhook replayed 10 times,
 * an audited override, the export with every field, and the audit chain verified then broken.
 */
import { execFile } from "node:child_process";
import { expect } from "chai";
import Stripe from "stripe";
import { findActiveSession, getSession, type SessionRow } from "../../../cloud/db/index";
import { parseCsvLine, CSV_HEADER } from "../../../cloud/server/audit-export";
import { requireToolOrSkip } from "../../../host/tools";
import { SiteClient, eventId, login, until, type TestCloud } from "./helpers";

type Browser = import("playwright-core").Browser;

const SRC = "test-gateway";
const rndPlate = () => `T${Math.random().toString(36).slice(2, 8).toUpperCase()}`;

export function cloudSuite(title: string, start: (ctx: Mocha.Context) => Promise<TestCloud>, opts: { cli: boolean }): void {
  describe(title, function () {
    this.timeout(60_000);
    let t: TestCloud;
    let site: SiteClient;
    let base: string;
    let browser: Browser | undefined;
    let token: string;

    before(async function () {
      this.timeout(180_000);
      t = await start(this);
      base = t.cloud.url;
      site = await SiteClient.connect(t.cloud.mqttUrl, t.siteId);
      token = await login(base, t.admin.username, t.admin.password);
    });
    after(async () => {
      await browser?.close();
      await site?.close();
      await t?.close();
    });

    async function chromium(ctx: Mocha.Context): Promise<Browser> {
      requireToolOrSkip(ctx, "chromium");
      if (!browser) {
        const { chromium: c } = await import("playwright-core");
        browser = await c.launch({
          executablePath: "/usr/bin/chromium",
          args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
        });
      }
      return browser;
    }

    /** Entry two hours ago, exit request now → the payment request on MQTT. */
    async function enterAndRequestExit(entryAgoMs = 2 * 3600_000): Promise<{ session: SessionRow; req: Record<string, unknown>; plate: string }> {
      const plate = rndPlate();
      await site.publish("entry", { ts: Date.now() - entryAgoMs, src: SRC, event_id: eventId(), lane_id: "E1", identity: { method: "plate", value: plate } });
      const session = await until(() => findActiveSession(t.cloud.db.sql, t.siteId, { method: "plate", value: plate }), 15_000, "the entry session");
      await site.publish("exitReq", { ts: Date.now(), src: SRC, event_id: eventId(), lane_id: "L1", identity: { method: "plate", value: plate } });
      const key = entryAgoMs < 15 * 60_000 ? "paymentSuccess" : "paymentReq";
      const req = await site.waitFor(key, (p) => p.session_id === session.sessionId);
      return { session, req: req.payload, plate };
    }

    async function payOnPage(b: Browser, payUrl: string, cards: string[], lang = "fr-FR"): Promise<{ errors: string[]; result: string | null }> {
      const ctx = await b.newContext({ locale: lang, viewport: { width: 390, height: 844 } });
      const page = await ctx.newPage();
      const errors: string[] = [];
      try {
        await page.goto(payUrl);
        expect(await page.locator("#amount").innerText()).to.match(/€/);
        expect(await page.locator("#breakdown tr").count()).to.be.greaterThan(0);
        await page.click("#pay");
        for (const [i, card] of cards.entries()) {
          await page.waitForSelector("#card_number");
          await page.fill("#card_number", card);
          await page.fill("#exp", "12/34");
          await page.fill("#cvc", "123");
          await page.click("#pay");
          if (i < cards.length - 1) {
            await page.waitForSelector("#error");
            errors.push(await page.locator("#error").innerText());
          }
        }
        await page.waitForSelector('#result[data-result="paid"]', { timeout: 20_000 });
        return { errors, result: await page.locator("#result").getAttribute("data-result") };
      } finally {
        await ctx.close();
      }
    }

    it("GET /health answers 200 with database, broker and Stripe mode", async () => {
      const r = await fetch(`${base}/health`);
      expect(r.status).to.equal(200);
      const h = (await r.json()) as { status: string; database: { ok: boolean }; broker: { ok: boolean; protocol: string }; stripe: { mode: string } };
      expect(h.status).to.equal("ok");
      expect(h.database.ok).to.equal(true);
      expect(h.broker.ok).to.equal(true);
      expect(h.broker.protocol).to.equal(t.kind === "embedded" ? "mqtt3.1.1" : "mqtt5");
      expect(h.stripe.mode).to.equal("emulator");
    });

    it("refuses a webhook with a bad or expired signature (400, nothing recorded)", async () => {
      const body = JSON.stringify({ id: "evt_forged", object: "event", type: "payment_intent.succeeded", data: { object: { id: "pi_forged", object: "payment_intent", amount: 1, currency: "eur" } } });
      const bad = await fetch(`${base}/webhooks/stripe`, { method: "POST", headers: { "Content-Type": "application/json", "Stripe-Signature": "t=1,v1=deadbeef" }, body });
      expect(bad.status).to.equal(400);
      const expiredSig = new Stripe("sk_test_x").webhooks.generateTestHeaderString({ payload: body, secret: t.cloud.webhookSecret, timestamp: Math.floor(Date.now() / 1000) - 3600 });
      const expired = await fetch(`${base}/webhooks/stripe`, { method: "POST", headers: { "Content-Type": "application/json", "Stripe-Signature": expiredSig }, body });
      expect(expired.status).to.equal(400);
      expect(((await expired.json()) as { error: string }).error).to.match(/timestamp|tolerance/i);
      const rows = await t.cloud.db.sql`SELECT 1 FROM webhook_events WHERE event_id = 'evt_forged'`;
      expect(rows.length).to.equal(0);
    });

    it("refuses anonymous access to every operator route (401)", async () => {
      for (const [method, path] of [["GET", "/api/audit/export?format=csv"], ["GET", "/api/audit/verify"], ["GET", "/api/sessions"], ["POST", "/api/lanes/L1/override"]]) {
        const r = await fetch(`${base}${path}`, { method, headers: { "Content-Type": "application/json" }, ...(method === "POST" ? { body: "{}" } : {}) });
        expect(r.status, `${method} ${path}`).to.equal(401);
      }
      const forged = await fetch(`${base}/api/audit/export`, { headers: { Authorization: "Bearer v1.1.99999999999999.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" } });
      expect(forged.status).to.equal(401);
      const html = await fetch(`${base}/dashboard`, { redirect: "manual" });
      expect(html.status).to.equal(303);
      expect(await (await fetch(`${base}/api/login`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ username: t.admin.username, password: "wrong password" }) })).status).to.equal(401);
    });

    it("answers bad input with a precise 4xx and writes nothing", async () => {
      const post = (path: string, body: string, auth = true, type = "application/json") => fetch(`${base}${path}`, { method: "POST", headers: { "Content-Type": type, ...(auth ? { Authorization: `Bearer ${token}` } : {}) }, body });
      const [{ n: overridesBefore }] = await t.cloud.db.sql<{ n: number }[]>`SELECT count(*)::int4 AS n FROM overrides`;
      const [{ n: outboxBefore }] = await t.cloud.db.sql<{ n: number }[]>`SELECT count(*)::int4 AS n FROM outbox`;
      let r = await post("/api/login", "{not json");
      expect(r.status).to.equal(400);
      expect(((await r.json()) as { error: string }).error).to.match(/invalid JSON/);
      r = await post("/api/login", JSON.stringify({ username: 42, password: "x" }));
      expect(r.status).to.equal(400);
      expect(((await r.json()) as { error: string }).error).to.match(/body\.username/);
      r = await post("/api/lanes/L1/override", JSON.stringify({ reason: "ok reason", extra: 1 }));
      expect(r.status).to.equal(400);
      expect(((await r.json()) as { error: string }).error).to.match(/unknown field "extra"/);
      r = await post("/api/lanes/L1/override", JSON.stringify({ site_id: t.siteId }));
      expect(r.status).to.equal(400);
      expect(((await r.json()) as { error: string }).error).to.match(/reason/);
      r = await post("/api/lanes/L1/override", JSON.stringify({ site_id: t.siteId, reason: "x".repeat(30_000) }));
      expect(r.status).to.equal(413);
      r = await post("/api/lanes/L1/override", "reason=abc", true, "application/x-www-form-urlencoded");
      expect(r.status).to.equal(415);
      r = await post("/api/lanes/NOPE/override", JSON.stringify({ site_id: t.siteId, reason: "testing" }));
      expect(r.status).to.equal(404);
      r = await fetch(`${base}/api/audit/export?from=yesterday`, { headers: { Authorization: `Bearer ${token}` } });
      expect(r.status).to.equal(400);
      expect(((await r.json()) as { error: string }).error).to.match(/query\.from/);
      r = await fetch(`${base}/api/audit/export?format=xml`, { headers: { Authorization: `Bearer ${token}` } });
      expect(r.status).to.equal(400);
      const [{ n: overridesAfter }] = await t.cloud.db.sql<{ n: number }[]>`SELECT count(*)::int4 AS n FROM overrides`;
      const [{ n: outboxAfter }] = await t.cloud.db.sql<{ n: number }[]>`SELECT count(*)::int4 AS n FROM outbox`;
      expect([overridesAfter, outboxAfter]).to.deep.equal([overridesBefore, outboxBefore]);
      // A payload that breaks the MQTT contract is dropped without effect.
      await site.client.publishAsync(`syspark/${t.siteId}/parking/exit/req`, '{"ts":"soon"}', { qos: 1 });
      const [{ n: outboxLater }] = await t.cloud.db.sql<{ n: number }[]>`SELECT count(*)::int4 AS n FROM outbox`;
      expect(outboxLater).to.equal(outboxBefore);
    });

    it("a zero fee (within the grace period) goes straight to payment/success", async () => {
      const { session, req } = await enterAndRequestExit(5 * 60_000);
      expect(req.provider_ref).to.equal("no_charge");
      expect((await getSession(t.cloud.db.sql, session.sessionId)).status).to.equal("paid");
    });

    let paid: { sessionId: string; pi: string } | undefined;

    it("full paid exit: exit request → payment/req → pay in Chromium (4242…) → verified webhook → payment/success → exit done → closed, and in the export", async function () {
      const b = await chromium(this);
      const { session, req } = await enterAndRequestExit();
      expect(req.lane_id).to.equal("L1");
      expect(req.amount).to.be.a("number").greaterThan(0);
      expect(req.currency).to.equal("EUR");
      expect(String(req.pay_url)).to.match(new RegExp(`^${t.cloud.publicBaseUrl}/pay/${session.sessionId}\\?t=[A-Za-z0-9_-]{20,}$`));
      const s1 = await getSession(t.cloud.db.sql, session.sessionId);
      expect(s1.status).to.equal("pending_payment");
      expect(s1.tariffVersion).to.equal(1);
      const r = await payOnPage(b, String(req.pay_url), ["4242 4242 4242 4242"]);
      expect(r.result).to.equal("paid");
      const success = await site.waitFor("paymentSuccess", (p) => p.session_id === session.sessionId);
      expect(success.payload.provider_ref).to.match(/^pi_/);
      expect(success.payload.amount).to.equal(req.amount);
      const pi = String(success.payload.provider_ref);
      const wh = await until(async () => (await t.cloud.db.sql<{ status: string }[]>`SELECT status FROM webhook_events WHERE type = 'payment_intent.succeeded' AND payload->'data'->'object'->>'id' = ${pi}`)[0], 15_000, "the verified webhook");
      expect(wh.status).to.equal("processed");
      await site.publish("exitDone", { ts: Date.now(), src: SRC, event_id: eventId(), lane_id: "L1", session_id: session.sessionId, barrier_result: "opened", passed: true, decided_by: "cloud" });
      const closed = await until(async () => {
        const s = await getSession(t.cloud.db.sql, session.sessionId);
        return s.status === "closed" ? s : undefined;
      });
      expect(closed.exitTs).to.be.instanceOf(Date);
      expect(closed.barrierResult).to.equal("opened");
      paid = { sessionId: session.sessionId, pi };

      const nd = await fetch(`${base}/api/audit/export?format=ndjson&from=${encodeURIComponent(new Date(Date.now() - 3600_000).toISOString())}`, { headers: { Authorization: `Bearer ${token}` } });
      expect(nd.status).to.equal(200);
      const rows = (await nd.text()).trim().split("\n").map((l) => JSON.parse(l) as { kind: string; session_id: string; payload: Record<string, unknown> });
      const kinds = rows.filter((x) => x.session_id === session.sessionId).map((x) => x.kind);
      expect(kinds).to.include.members(["session.entry", "payment.requested", "payment.validated", "session.closed"]);
      const summary = rows.find((x) => x.session_id === session.sessionId && x.kind === "session.closed")?.payload as Record<string, unknown>;
      for (const f of ["entry_ts", "payment_req_ts", "payment_validated_ts", "exit_ts", "amount", "currency", "provider_ref", "validation_result", "identity_method", "barrier_result"]) {
        expect(summary[f], f).to.not.equal(null).and.not.equal(undefined);
      }
      expect(summary.provider_ref).to.equal(pi);
      expect(summary.identity_method).to.equal("plate");
      expect(summary.barrier_result).to.equal("opened");
      expect(summary.amount).to.equal(req.amount);

      const csv = await fetch(`${base}/api/audit/export?format=csv`, { headers: { Cookie: `syspark_session=${token}` } });
      expect(csv.status).to.equal(200);
      const lines = (await csv.text()).trim().split("\r\n");
      expect(parseCsvLine(lines[0])).to.deep.equal(CSV_HEADER);
      const line = lines.map(parseCsvLine).find((c) => c[2] === "session.closed" && c[3] === session.sessionId) as string[];
      const col = (name: string) => line[CSV_HEADER.indexOf(name)];
      for (const f of ["entry_ts", "payment_req_ts", "payment_validated_ts", "exit_ts", "amount", "currency", "provider_ref", "validation_result", "identity_method", "barrier_result"]) expect(col(f), f).to.not.equal("");
      expect(col("provider_ref")).to.equal(pi);
    });

    it("the same webhook replayed 10 times publishes ONE payment/success", async function () {
      if (!paid) this.skip();
      const { sessionId, pi } = paid as { sessionId: string; pi: string };
      const emu = t.cloud.emulator;
      if (!emu) throw new Error("emulator expected");
      const ev = emu.events().find((e) => e.type === "payment_intent.succeeded" && (e.data.object as { id: string }).id === pi);
      if (!ev) throw new Error("no payment_intent.succeeded event");
      for (let i = 0; i < 10; i++) {
        const rec = await emu.resendEvent(ev.id);
        expect(rec.attempts[rec.attempts.length - 1].status).to.equal(200);
      }
      await new Promise((r) => setTimeout(r, 500));
      expect(site.count("paymentSuccess", (p) => p.session_id === sessionId)).to.equal(1);
      const [{ n }] = await t.cloud.db.sql<{ n: number }[]>`SELECT count(*)::int4 AS n FROM outbox WHERE topic LIKE '%/parking/payment/success' AND payload->>'session_id' = ${sessionId}`;
      expect(n).to.equal(1);
      const [wh] = await t.cloud.db.sql<{ attempts: number; status: string }[]>`SELECT attempts, status FROM webhook_events WHERE event_id = ${ev.id}`;
      expect(wh.status).to.equal("processed");
      expect(wh.attempts).to.be.at.least(11);
      const metrics = await (await fetch(`${base}/metrics`)).text();
      expect(metrics).to.match(/billing_webhook_processed_total\{type="payment_intent.succeeded",outcome="duplicate"\} (\d+)/);
    });

    it("a declined card (4000 0000 0000 0002) keeps the session pending_payment, publishes payment/failed, then a retry succeeds", async function () {
      const b = await chromium(this);
      const { session, req } = await enterAndRequestExit();
      const r = await payOnPage(b, String(req.pay_url), ["4000 0000 0000 0002", "4242 4242 4242 4242"], "en-GB");
      expect(r.errors[0]).to.match(/declined/i);
      const failed = await site.waitFor("paymentFailed", (p) => p.session_id === session.sessionId);
      expect(failed.payload.reason).to.equal("declined");
      expect(failed.payload.lane_id).to.equal("L1");
      await site.waitFor("paymentSuccess", (p) => p.session_id === session.sessionId);
      expect((await getSession(t.cloud.db.sql, session.sessionId)).status).to.equal("paid");
      const states = await t.cloud.db.sql<{ state: string }[]>`SELECT state FROM payments WHERE session_id = ${session.sessionId}`;
      expect(states.map((x) => x.state)).to.deep.equal(["paid"]);
      const kinds = await until(async () => {
        const rows = await t.cloud.db.sql<{ kind: string }[]>`SELECT kind FROM audit_log WHERE session_id = ${session.sessionId} ORDER BY seq`;
        return rows.some((k) => k.kind === "payment.validated") ? rows : undefined;
      }, 10_000, "the audit rows of the declined-then-paid session");
      expect(kinds.map((k) => k.kind)).to.include.members(["payment.failed", "payment.validated"]);
    });

    it("site events are idempotent by event_id (QoS 1 duplicates act once)", async () => {
      const plate = rndPlate();
      const entry = { ts: Date.now() - 3600_000, src: SRC, event_id: eventId(), lane_id: "E1", identity: { method: "plate" as const, value: plate } };
      await site.publish("entry", entry);
      await site.publish("entry", entry);
      const session = await until(() => findActiveSession(t.cloud.db.sql, t.siteId, { method: "plate", value: plate }), 15_000, "the entry session");
      const exit = { ts: Date.now(), src: SRC, event_id: eventId(), lane_id: "L1", identity: { method: "plate" as const, value: plate } };
      for (let i = 0; i < 3; i++) await site.publish("exitReq", exit);
      await site.waitFor("paymentReq", (p) => p.session_id === session.sessionId);
      await new Promise((r) => setTimeout(r, 500));
      expect(site.count("paymentReq", (p) => p.session_id === session.sessionId)).to.equal(1);
      const [{ n }] = await t.cloud.db.sql<{ n: number }[]>`SELECT count(*)::int4 AS n FROM sessions WHERE site_id = ${t.siteId} AND identity_value = ${plate}`;
      expect(n).to.equal(1);
    });

    it("the outbox loses nothing while the relay is down, and a re-publish keeps the same ids", async () => {
      await t.cloud.relay.stop();
      let session: SessionRow;
      try {
        const plate = rndPlate();
        await site.publish("entry", { ts: Date.now() - 3600_000, src: SRC, event_id: eventId(), lane_id: "E1", identity: { method: "plate", value: plate } });
        session = await until(() => findActiveSession(t.cloud.db.sql, t.siteId, { method: "plate", value: plate }), 15_000, "the entry session");
        await site.publish("exitReq", { ts: Date.now(), src: SRC, event_id: eventId(), lane_id: "L1", identity: { method: "plate", value: plate } });
        await until(async () => (await getSession(t.cloud.db.sql, session.sessionId)).status === "pending_payment", 15_000, "pricing");
        await new Promise((r) => setTimeout(r, 300));
        expect(site.count("paymentReq", (p) => p.session_id === session.sessionId)).to.equal(0);
      } finally {
        t.cloud.relay.start();
      }
      const first = await site.waitFor("paymentReq", (p) => p.session_id === session.sessionId);
      // The subscriber can see the message before the relay has its PUBACK and marks the row: wait for
      // the mark, or the relay's late mark would undo the reset below.
      await until(async () => {
        const rows = await t.cloud.db.sql<{ publishedAt: Date | null }[]>`SELECT published_at FROM outbox WHERE payload->>'session_id' = ${session.sessionId} AND topic LIKE '%/payment/req'`;
        return rows.length > 0 && rows.every((r) => r.publishedAt !== null);
      }, 10_000, "the relay marking the row published");
      // A crash after PUBACK but before the row was marked: the row is published again, unchanged.
      await t.cloud.db.sql`UPDATE outbox SET published_at = NULL, claimed_until = NULL WHERE payload->>'session_id' = ${session.sessionId} AND topic LIKE '%/payment/req'`;
      t.cloud.relay.wake();
      await until(async () => site.count("paymentReq", (p) => p.session_id === session.sessionId) === 2, 10_000, "the re-publish");
      const again = site.received.filter((r) => r.key === "paymentReq" && r.payload.session_id === session.sessionId);
      expect(again[1].payload).to.deep.equal(first.payload);
    });

    it("the payment page speaks French or English and 404s on a wrong token", async () => {
      const { req } = await enterAndRequestExit();
      const fr = await (await fetch(String(req.pay_url), { headers: { "Accept-Language": "fr-FR,fr;q=0.9" } })).text();
      expect(fr).to.contain("Montant à payer");
      const en = await (await fetch(`${String(req.pay_url)}&lang=en`)).text();
      expect(en).to.contain("Amount due");
      const wrong = await fetch(String(req.pay_url).replace(/t=.*/, "t=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"));
      expect(wrong.status).to.equal(404);
    });

    it("an operator override publishes an audited parking/barriere/cmd", async () => {
      const r = await fetch(`${base}/api/lanes/L1/override`, { method: "POST", headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}` }, body: JSON.stringify({ site_id: t.siteId, reason: "driver's card refused, paid cash at the desk" }) });
      expect(r.status).to.equal(202);
      const { cmd_id } = (await r.json()) as { cmd_id: string };
      const cmd = await site.waitFor("barrierCmd", (p) => p.cmd_id === cmd_id);
      expect(cmd.payload).to.include({ lane_id: "L1", cmd: "open", operator: t.admin.username });
      const [row] = await until(async () => {
        const rows = await t.cloud.db.sql<{ payload: Record<string, unknown> }[]>`SELECT payload FROM audit_log WHERE kind = 'override.open' AND payload->>'cmd_id' = ${cmd_id}`;
        return rows.length ? rows : undefined;
      }, 10_000, "the override's audit row");
      expect(row.payload).to.include({ operator: t.admin.username, reason: "driver's card refused, paid cash at the desk" });
      expect(row.payload.override_ts).to.be.a("string");
    });

    it("the audit chain verifies, and a row altered behind the trigger's back is named", async function () {
      this.timeout(90_000);
      // Asynchronously: the cloud the CLI talks to runs in this very process.
      const verify = (): Promise<{ code: number | null; out: string } | undefined> => {
        if (!opts.cli) return Promise.resolve(undefined);
        return new Promise((resolve) => {
          execFile(process.execPath, ["bin/syspark.js", "audit", "verify", "--url", base], { env: { ...process.env, SYSPARK_OPERATOR_TOKEN: token }, encoding: "utf8", timeout: 60_000 }, (err, stdout, stderr) => {
            resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, out: stdout + stderr });
          });
        });
      };
      const api = async () => (await fetch(`${base}/api/audit/verify`, { headers: { Authorization: `Bearer ${token}` } })).json() as Promise<{ ok: boolean; firstBroken?: { seq: number } }>;
      expect((await api()).ok).to.equal(true);
      const ok = await verify();
      if (ok) {
        expect(ok.code, ok.out).to.equal(0);
        expect(ok.out).to.match(/audit chain OK/);
      }
      const [{ seq }] = await t.cloud.db.sql<{ seq: number }[]>`SELECT seq FROM audit_log WHERE kind = 'payment.validated' ORDER BY seq LIMIT 1`;
      // Bypass the append-only trigger (what an attacker with table rights could do).
      await t.cloud.db.sql.unsafe("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only");
      await t.cloud.db.sql`UPDATE audit_log SET payload = jsonb_set(payload, '{amount}', '1') WHERE seq = ${seq}`;
      await t.cloud.db.sql.unsafe("ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only");
      const broken = await api();
      expect(broken.ok).to.equal(false);
      expect(broken.firstBroken?.seq).to.equal(seq);
      const bad = await verify();
      if (bad) {
        expect(bad.code, bad.out).to.equal(1);
        expect(bad.out).to.contain(`BROKEN at row ${seq}`);
      }
    });
  });
}
