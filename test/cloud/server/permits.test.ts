/**
 * Monthly permits end to end on real parts (issue 16 item 5): the holder's page → Stripe Checkout
 * (the emulator, subscription mode, real `stripe` client) → verified webhooks through the webhook
 * table → the permit active and its badge a subscriber in the site's signed access list → the
 * badge exits free. The emulator clock then advances a month: a paid renewal keeps it active; a
 * failing card makes it past_due, the badge leaves the access list and is priced again; retries
 * exhausted → canceled. Replays act once; an old event delivered late never moves it back.
 * Run on PGlite + aedes and on PostgreSQL + Mosquitto.
 */
import { randomBytes } from "node:crypto";
import { expect } from "chai";
import { TOPICS, toCloudTopic } from "../../../contracts/mqtt-topics";
import { getPermit, type PermitRow } from "../../../cloud/db/index";
import { flushAudit } from "../../../cloud/server/audit-chain";
import { startCloud } from "../../../cloud/server/index";
import { requireToolOrSkip } from "../../../host/tools";
import { percentOf } from "../../../cloud/tariffs/money";
import { LOW_SCRYPT, SiteClient, TEMPLATE_DIR, eventId, login, startOnServers, until, type TestCloud } from "./helpers";

const KEY = randomBytes(32).toString("hex");
const DAY = 86_400;

/** A form POST that does not follow redirects (the Location is what we check). */
async function postForm(url: string, fields: Record<string, string>, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(url, { method: "POST", redirect: "manual", headers: { "Content-Type": "application/x-www-form-urlencoded", ...headers }, body: new URLSearchParams(fields).toString() });
}

function expiry(): string {
  const d = new Date();
  return `12/${String((d.getUTCFullYear() + 2) % 100).padStart(2, "0")}`;
}

export function permitSuite(title: string, start: (ctx: Mocha.Context) => Promise<TestCloud>, opts: { browser: boolean }): void {
  describe(title, function () {
    this.timeout(60_000);
    let t: TestCloud;
    let base: string;
    let site: SiteClient;
    let token: string;
    const badge = () => randomBytes(5).toString("hex").toUpperCase();
    const api = (method: string, path: string, body?: unknown) => fetch(`${base}${path}`, { method, headers: { Authorization: `Bearer ${token}`, ...(body !== undefined ? { "Content-Type": "application/json" } : {}) }, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
    const permit = (id: string): Promise<PermitRow> => getPermit(t.cloud.db.sql, id);
    const emulator = () => {
      if (!t.cloud.emulator) throw new Error("these tests drive the in-process Stripe test emulator");
      return t.cloud.emulator;
    };

    before(async function () {
      this.timeout(180_000);
      t = await start(this);
      base = t.cloud.url;
      token = await login(base, t.admin.username, t.admin.password);
      site = await SiteClient.connect(t.cloud.mqttUrl, t.siteId);
      await site.client.subscribeAsync(["aclAdd", "aclDel"].map((k) => toCloudTopic(t.siteId, TOPICS[k as "aclAdd"].topic)), { qos: 1 });
    });
    let browser: import("playwright-core").Browser | undefined;
    after(async () => {
      await browser?.close();
      await site?.close();
      await t?.close();
    });

    /** Buys the site's monthly plan on the page with `card`; returns the permit id. */
    async function buy(uid: string, planId = `${t.siteId}-monthly`, card = "4242424242424242"): Promise<string> {
      const page = await fetch(`${base}/permits/${t.siteId}?lang=en`);
      expect(page.status).to.equal(200);
      expect(await page.text()).to.include(planId);
      const r = await postForm(`${base}/permits/${t.siteId}/buy?lang=en`, { plan: planId, email: "holder@example.test", badge: uid, plate: "" });
      expect(r.status, await r.clone().text()).to.equal(303);
      const checkout = String(r.headers.get("location"));
      expect(checkout).to.match(/\/emulator\/checkout\/cs_test_/);
      const paid = await postForm(checkout, { card_number: card, exp: expiry(), cvc: "123", locale: "en" });
      expect(paid.status).to.equal(303);
      const done = new URL(String(paid.headers.get("location")));
      expect(done.pathname).to.equal(`/permits/${t.siteId}/done`);
      return String(done.searchParams.get("permit"));
    }

    async function exitPrice(uid: string, method: "badge" | "plate" = "badge"): Promise<number> {
      await site.publish("entry", { ts: Date.now() - 3 * 3600_000, src: "gw-test", event_id: eventId(), lane_id: "E1", identity: { method, value: uid } });
      const [s] = await until(async () => {
        const rows = await t.cloud.db.sql<{ sessionId: string }[]>`SELECT session_id FROM sessions WHERE identity_value = ${uid} AND status = 'active'`;
        return rows.length ? rows : undefined;
      }, 10_000, "the entry");
      await site.publish("exitReq", { ts: Date.now(), src: "gw-test", event_id: eventId(), lane_id: "L1", identity: { method, value: uid } });
      const ok = await Promise.race([site.waitFor("paymentSuccess", (p) => p.session_id === s.sessionId), site.waitFor("paymentReq", (p) => p.session_id === s.sessionId)]);
      // Leave the site clean for the next entry of this badge (as if the car had left).
      await t.cloud.db.sql`UPDATE sessions SET status = 'closed' WHERE session_id = ${s.sessionId}`;
      return ok.payload.amount as number;
    }

    it("buy on the page → active, the badge is a subscriber in the signed access list and exits free; a paid renewal keeps it active", async () => {
      const uid = badge();
      const id = await buy(uid);
      const active = await until(async () => ((await permit(id)).status === "active" ? permit(id) : undefined), 15_000, "the permit active");
      expect(active.stripeSubscriptionId).to.match(/^sub_/);
      const add = await site.waitFor("aclAdd", (p) => (p.entries as { id: string }[]).some((e) => e.id === uid));
      expect(add.payload.sig).to.be.a("string");
      const [entry] = await t.cloud.db.sql<{ subscriber: boolean; deleted: boolean }[]>`SELECT subscriber, deleted FROM access_list_entries WHERE site_id = ${t.siteId} AND badge_uid = ${uid}`;
      expect(entry).to.deep.equal({ subscriber: true, deleted: false });
      expect(await exitPrice(uid)).to.equal(0);

      const done = await fetch(`${base}/permits/${t.siteId}/done?permit=${id}&t=${active.manageToken}&lang=fr`);
      const html = await done.text();
      expect(html).to.include('data-status="active"');
      expect(html).to.include("Votre abonnement est actif");

      const before = active.currentPeriodEnd as Date;
      await emulator().advanceClock(31 * DAY);
      const renewed = await until(async () => {
        const p = await permit(id);
        return p.currentPeriodEnd && p.currentPeriodEnd > before ? p : undefined;
      }, 15_000, "the renewal applied");
      expect(renewed.status).to.equal("active");
      expect(await exitPrice(uid)).to.equal(0);
      await flushAudit(t.cloud.db);
      const paid = await t.cloud.db.sql<{ payload: Record<string, unknown> }[]>`SELECT payload FROM audit_log WHERE kind = 'permit.invoice_paid' AND payload->>'permit_id' = ${id}`;
      expect(paid.map((r) => r.payload.billing_reason).sort()).to.deep.equal(["subscription_create", "subscription_cycle"]);
    });

    it("a renewal that fails: past_due, the badge leaves the access list and is priced again; retries exhausted → canceled; replays and late events change nothing", async () => {
      const uid = badge();
      const id = await buy(uid);
      const p = await until(async () => ((await permit(id)).status === "active" ? permit(id) : undefined), 15_000, "active");
      const stripe = t.cloud.stripe;
      const failing = await stripe.paymentMethods.attach("pm_card_chargeCustomerFail", { customer: p.stripeCustomerId as string });
      await stripe.customers.update(p.stripeCustomerId as string, { invoice_settings: { default_payment_method: failing.id } });
      await emulator().advanceClock(31 * DAY);
      await until(async () => (await permit(id)).status === "past_due", 15_000, "past_due");
      const del = await site.waitFor("aclDel", (x) => (x.ids as string[]).includes(uid));
      expect(del.payload.sig).to.be.a("string");
      expect(await exitPrice(uid), "a suspended permit's badge pays").to.be.greaterThan(0);

      // A late copy of the first invoice.paid (older than the failure) never moves it back.
      const firstPaid = emulator().events().find((e) => e.type === "invoice.paid" && JSON.stringify(e.data.object).includes(p.stripeSubscriptionId as string));
      expect(firstPaid).to.not.equal(undefined);
      await emulator().resendEvent(firstPaid!.id);
      expect((await permit(id)).status).to.equal("past_due");

      await emulator().advanceClock(20 * DAY);
      await until(async () => (await permit(id)).status === "canceled", 15_000, "canceled");
      // Replays of the activation after the end: acknowledged, nothing changes, no new access entry.
      const created = emulator().events().find((e) => e.type === "customer.subscription.created" && e.data.object.id === p.stripeSubscriptionId);
      const addsBefore = site.count("aclAdd", (x) => (x.entries as { id: string }[]).some((e) => e.id === uid));
      for (let i = 0; i < 3; i++) expect((await emulator().resendEvent(created!.id)).state).to.equal("delivered");
      expect((await permit(id)).status).to.equal("canceled");
      expect(site.count("aclAdd", (x) => (x.entries as { id: string }[]).some((e) => e.id === uid))).to.equal(addsBefore);
      await flushAudit(t.cloud.db);
      const activations = await t.cloud.db.sql`SELECT 1 FROM audit_log WHERE kind = 'permit.active' AND payload->>'permit_id' = ${id}`;
      expect(activations.length, "activated once").to.equal(1);
    });

    it("webhooks not arriving: the page after Checkout asks Stripe itself, and an operator's resync repairs a permit", async () => {
      const hook = `${base}/webhooks/stripe`;
      emulator().setWebhookUrl(null);
      let id: string;
      try {
        id = await buy(badge());
        const p = await permit(id);
        expect(p.status).to.equal("pending");
        const page = await fetch(`${base}/permits/${t.siteId}/done?permit=${id}&t=${p.manageToken}&lang=en`);
        expect(await page.text()).to.include('data-status="active"');
        expect((await permit(id)).status).to.equal("active");
        await t.cloud.stripe.subscriptions.cancel((await permit(id)).stripeSubscriptionId as string);
        expect((await permit(id)).status, "no webhook yet").to.equal("active");
        const r = await api("POST", `/api/permits/${id}/sync`);
        expect(r.status).to.equal(200);
        expect(((await r.json()) as { status: string }).status).to.equal("canceled");
        expect((await api("POST", "/api/permits/nope/sync")).status).to.equal(400);
      } finally {
        emulator().setWebhookUrl(hook);
      }
    });

    it("a plate-only permit: its plate exits free online while the permit is active (a plate has no offline access-list form)", async () => {
      const plate = `P${randomBytes(3).toString("hex").toUpperCase()}`;
      const r = await postForm(`${base}/permits/${t.siteId}/buy?lang=en`, { plan: `${t.siteId}-monthly`, email: "plate@example.test", badge: "", plate: `${plate.slice(0, 3)}-${plate.slice(3)}` });
      expect(r.status, await r.clone().text()).to.equal(303);
      const paid = await postForm(String(r.headers.get("location")), { card_number: "4242424242424242", exp: expiry(), cvc: "123" });
      const id = new URL(String(paid.headers.get("location"))).searchParams.get("permit") as string;
      await until(async () => (await permit(id)).status === "active", 15_000, "active");
      expect((await permit(id)).plate).to.equal(plate);
      expect(await exitPrice(plate, "plate")).to.equal(0);
      await t.cloud.stripe.subscriptions.cancel((await permit(id)).stripeSubscriptionId as string);
      await until(async () => (await permit(id)).status === "canceled", 15_000, "canceled");
      expect(await exitPrice(plate, "plate")).to.be.greaterThan(0);
    });

    it("renews a lapsed permit from /renew-subscription (a new subscription, the badge free again)", async () => {
      const uid = badge();
      const id = await buy(uid);
      const p = await until(async () => ((await permit(id)).status === "active" ? permit(id) : undefined), 15_000, "active");
      await t.cloud.stripe.subscriptions.cancel(p.stripeSubscriptionId as string);
      await until(async () => (await permit(id)).status === "canceled", 15_000, "canceled");
      expect(await exitPrice(uid)).to.be.greaterThan(0);
      const bad = await postForm(`${base}/renew-subscription?lang=en`, { site: t.siteId, email: "nope", badge: uid, plate: "" });
      expect(bad.status).to.equal(400);
      expect(await bad.text()).to.include("E-mail address:");
      const r = await postForm(`${base}/renew-subscription?lang=en`, { site: t.siteId, email: "holder@example.test", badge: uid, plate: "" });
      expect(r.status).to.equal(303);
      const paid = await postForm(String(r.headers.get("location")), { card_number: "4242424242424242", exp: expiry(), cvc: "123" });
      const newId = new URL(String(paid.headers.get("location"))).searchParams.get("permit") as string;
      expect(newId).to.not.equal(id);
      await until(async () => (await permit(newId)).status === "active", 15_000, "the new permit active");
      expect(await exitPrice(uid)).to.equal(0);
    });

    if (opts.browser) {
      it("in Chromium on a phone: a monthly permit bought with 4242, the badge exits free; the card replaced in the portal by one that fails, a month later the badge is priced again", async function () {
        requireToolOrSkip(this, "chromium");
        const { chromium } = await import("playwright-core");
        browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"] });
        const ctx = await browser.newContext({ locale: "en-GB", viewport: { width: 390, height: 844 } });
        const page = await ctx.newPage();
        const uid = badge();
        await page.goto(`${base}/permits/${t.siteId}?lang=en`);
        await page.check(`#plan-${t.siteId}-monthly`);
        await page.fill("#email", "phone@example.test");
        await page.fill("#badge", uid);
        await page.click("#buy");
        await page.waitForURL(/\/emulator\/checkout\/cs_test_/);
        await page.fill("#card_number", "4242 4242 4242 4242");
        await page.fill("#exp", expiry());
        await page.fill("#cvc", "123");
        await page.click("#pay");
        await page.waitForURL(/\/permits\/.*\/done/);
        await page.waitForSelector('#status[data-status="active"]', { timeout: 15_000 });
        const id = new URL(page.url()).searchParams.get("permit") as string;
        expect(await exitPrice(uid)).to.equal(0);

        await page.click("#manage");
        await page.waitForURL(/\/emulator\/portal\/bps_/);
        await page.fill("#card_number", "4000 0000 0000 0341");
        await page.fill("#exp", expiry());
        await page.fill("#cvc", "123");
        await page.click("#pay");
        await page.waitForSelector("#notice");
        await emulator().advanceClock(31 * DAY);
        await until(async () => (await permit(id)).status === "past_due", 15_000, "past_due");
        await page.goto(`${base}/permits/${t.siteId}/done?permit=${id}&t=${(await permit(id)).manageToken}&lang=en`);
        expect(await page.textContent("#status")).to.include("renewal failed");
        expect(await exitPrice(uid), "the badge is priced again").to.be.greaterThan(0);
        await ctx.close();
      });
    }

    it("a plan never sells more than its max permits (two buyers at once for the last seat); bad plan bodies are refused by field", async () => {
      const planId = `${t.siteId}-one`.slice(0, 48);
      let r = await api("POST", `/api/sites/${t.siteId}/permit-plans`, { plan_id: planId, name: "One seat", period: "month", amount: 5000, currency: "EUR", benefit: "discount", discount_percent: 50, max_permits: 1 });
      expect(r.status, await r.clone().text()).to.equal(201);
      const uids = [badge(), badge()];
      const [a, b] = await Promise.all(uids.map((uid) => postForm(`${base}/permits/${t.siteId}/buy?lang=en`, { plan: planId, email: "x@example.test", badge: uid })));
      expect([a.status, b.status].sort()).to.deep.equal([303, 409]);
      const loser = a.status === 409 ? a : b;
      expect(await loser.text()).to.include("sold out");

      // The first buyer abandons Checkout: once it expires the permit is canceled and the seat is free.
      const first = a.status === 303 ? a : b;
      const abandonedCs = /cs_test_[A-Za-z0-9]+/.exec(String(first.headers.get("location")))?.[0] as string;
      await t.cloud.stripe.checkout.sessions.expire(abandonedCs);
      const [abandoned] = await t.cloud.db.sql<{ permitId: string }[]>`SELECT permit_id FROM permits WHERE checkout_session_id = ${abandonedCs}`;
      await until(async () => (await permit(abandoned.permitId)).status === "canceled", 15_000, "the abandoned permit canceled");

      // The other buyer now gets the seat and pays: the plan's 50 % applies through the one pricing function.
      const winnerUid = a.status === 303 ? uids[1] : uids[0];
      const winner = await postForm(`${base}/permits/${t.siteId}/buy?lang=en`, { plan: planId, email: "x@example.test", badge: winnerUid });
      expect(winner.status).to.equal(303);
      const paid = await postForm(String(winner.headers.get("location")), { card_number: "4242424242424242", exp: expiry(), cvc: "123" });
      const id = new URL(String(paid.headers.get("location"))).searchParams.get("permit") as string;
      await until(async () => (await permit(id)).status === "active", 15_000, "active");
      const plain = await exitPrice(badge());
      expect(plain).to.be.greaterThan(0);
      expect(await exitPrice(winnerUid)).to.equal(plain - percentOf(plain, 50));
      const listed = (await (await api("GET", `/api/sites/${t.siteId}/permits`)).json()) as { permits: { permit_id: string; status: string }[] };
      expect(listed.permits.find((x) => x.permit_id === id)?.status).to.equal("active");
      const cases: [unknown, RegExp][] = [
        [{ plan_id: "p1", name: "x", period: "month", amount: 12.5, currency: "EUR", benefit: "free", max_permits: 1 }, /body\.amount/],
        [{ plan_id: "p1", name: "x", period: "week", amount: 100, currency: "EUR", benefit: "free", max_permits: 1 }, /body\.period/],
        [{ plan_id: "p1", name: "x", period: "month", amount: 100, currency: "EUR", benefit: "discount", max_permits: 1 }, /body\.discount_percent/],
        [{ plan_id: "P 1", name: "x", period: "month", amount: 100, currency: "EUR", benefit: "free", max_permits: 1 }, /body\.plan_id/],
      ];
      for (const [body, msg] of cases) {
        r = await api("POST", `/api/sites/${t.siteId}/permit-plans`, body);
        expect(r.status, JSON.stringify(body)).to.equal(400);
        expect(((await r.json()) as { error: string }).error).to.match(msg);
      }
      // A double submit hands out the same open Checkout, not a second seat.
      const twice = badge();
      const [c1, c2] = [await postForm(`${base}/permits/${t.siteId}/buy?lang=en`, { plan: `${t.siteId}-monthly`, email: "twice@example.test", badge: twice }), await postForm(`${base}/permits/${t.siteId}/buy?lang=en`, { plan: `${t.siteId}-monthly`, email: "twice@example.test", badge: twice })];
      expect(c2.headers.get("location")).to.equal(c1.headers.get("location"));
      expect((await t.cloud.db.sql`SELECT 1 FROM permits WHERE badge_uid = ${twice}`).length).to.equal(1);

      const bad = await postForm(`${base}/permits/${t.siteId}/buy?lang=fr`, { plan: `${t.siteId}-monthly`, email: "holder@example.test", badge: "xyz!" });
      expect(bad.status).to.equal(400);
      expect(await bad.text()).to.include("Numéro de badge");
    });
  });
}

permitSuite("permits by Stripe subscription (PGlite, aedes, emulator)", async () => {
  const cloud = await startCloud({ port: 0, mqttPort: 0, pgliteTemplateDir: TEMPLATE_DIR, stripe: { emulatorPort: 0 }, scryptCost: LOW_SCRYPT, instanceId: `t-${randomBytes(3).toString("hex")}`, relayPollMs: 50, seedDemo: true, createFirstAdmin: true, aclHmacKey: KEY, logger: (await import("../../../host/log")).silentLogger });
  return { cloud, siteId: "paris-centre", kind: "embedded", admin: cloud.firstAdmin!, close: () => cloud.close() };
}, { browser: true });

permitSuite("permits by Stripe subscription (PostgreSQL + Mosquitto, emulator)", async (ctx) => {
  const saved = process.env.SYSPARK_ACL_HMAC_KEY;
  process.env.SYSPARK_ACL_HMAC_KEY = KEY;
  try {
    return await startOnServers(ctx);
  } finally {
    if (saved === undefined) delete process.env.SYSPARK_ACL_HMAC_KEY;
    else process.env.SYSPARK_ACL_HMAC_KEY = saved;
  }
}, { browser: false });

describe("permits when Stripe is unreachable", function () {
  this.timeout(60_000);
  it("the buy page answers a 503 page in the holder's language, nothing sold, no seat held", async () => {
    const { silentLogger } = await import("../../../host/log");
    const cloud = await startCloud({ port: 0, mqttPort: 0, pgliteTemplateDir: TEMPLATE_DIR, stripe: { apiBase: "http://127.0.0.1:9", secretKey: "sk_test_unreachable", webhookSecret: "whsec_test_unreachable" }, scryptCost: LOW_SCRYPT, instanceId: `t-${randomBytes(3).toString("hex")}`, relayPollMs: 50, seedDemo: true, createFirstAdmin: true, logger: silentLogger });
    try {
      const r = await postForm(`${cloud.url}/permits/paris-centre/buy?lang=fr`, { plan: "paris-centre-monthly", email: "holder@example.test", badge: "0A1B2C3D" });
      expect(r.status).to.equal(503);
      expect(r.headers.get("content-type")).to.match(/text\/html/);
      expect(await r.text()).to.include("Le service de paiement est momentanément indisponible");
      const held = await cloud.db.sql`SELECT 1 FROM permits WHERE status IN ('pending', 'active')`;
      expect(held.length).to.equal(0);
    } finally {
      await cloud.close();
    }
  });
});
