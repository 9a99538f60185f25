/**
 * Hold at entry, capture at exit (issue 16 item 4), end to end on a real cloud (run on embedded
 * defaults and on PostgreSQL + Mosquitto): the hold authorised only by the webhook; the exit
 * captures the real fee and the lane hears payment/success with no phone; a fee above the hold
 * is completed off-session with the saved card; a capture that fails falls back to pay-at-exit;
 * a free stay releases the hold; a hold lapsed after 7 emulator days is replaced by the saved
 * card; a 3-D Secure card that cannot be charged off-session falls back to pay-at-exit; replays
 * and out-of-order webhooks; and the page on a phone in Chromium.
 */
import { expect } from "chai";
import type Stripe from "stripe";
import { findActiveSession, findAuditEntries, getSession, latePaymentsOf, listPayments, type SessionRow } from "../../../cloud/db/index";
import { requireToolOrSkip } from "../../../host/tools";
import { formatMoney } from "../../../cloud/tariffs/index";
import { SiteClient, eventId, until, type TestCloud } from "../server/helpers";

const SRC = "test-gateway";
const rndPlate = () => `H${Math.random().toString(36).slice(2, 8).toUpperCase()}`;

interface HoldJson {
  hold_id: string;
  state: string;
  amount: number;
  currency: string;
  payment_intent: string;
  client_secret: string;
  exit_state?: string | null;
}

export function holdSuite(title: string, start: (ctx: Mocha.Context) => Promise<TestCloud>): void {
  describe(title, function () {
    this.timeout(60_000);
    let t: TestCloud;
    let site: SiteClient;
    let base: string;
    let stripe: Stripe;

    before(async function () {
      this.timeout(180_000);
      t = await start(this);
      base = t.cloud.url;
      stripe = t.cloud.stripe;
      site = await SiteClient.connect(t.cloud.mqttUrl, t.siteId);
    });
    after(async () => {
      await site?.close();
      await t?.close();
    });

    async function api<T>(path: string, body?: unknown): Promise<{ status: number; json: T }> {
      const r = await fetch(`${base}${path}`, body === undefined ? {} : { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
      return { status: r.status, json: (await r.json()) as T };
    }

    const holdState = async (id: string) => (await api<HoldJson>(`/api/holds/${id}`)).json;

    /** A hold for a new plate, its card confirmed at the provider (3-D Secure passed when asked); authorised by the webhook. */
    async function authorisedHold(pm = "pm_card_visa"): Promise<{ plate: string; hold: HoldJson }> {
      const plate = rndPlate();
      const r = await api<HoldJson>("/api/holds", { site_id: t.siteId, plate });
      expect(r.status).to.equal(201);
      expect(r.json.state).to.equal("requested");
      const pi = await stripe.paymentIntents.confirm(r.json.payment_intent, { payment_method: pm });
      if (pi.status === "requires_action") {
        const url = (pi.next_action as unknown as { use_stripe_sdk: { stripe_js: string } }).use_stripe_sdk.stripe_js;
        const done = await fetch(url, { method: "POST", headers: { "Content-Type": "application/x-www-form-urlencoded" }, body: "outcome=complete", redirect: "manual" });
        expect(done.status).to.be.lessThan(400);
      }
      await until(async () => (await holdState(r.json.hold_id)).state === "authorized", 15_000, "the hold authorised by the webhook");
      return { plate, hold: r.json };
    }

    async function enter(plate: string, agoMs: number): Promise<SessionRow> {
      await site.publish("entry", { ts: Date.now() - agoMs, src: SRC, event_id: eventId(), lane_id: "E1", identity: { method: "plate", value: plate } });
      return until(() => findActiveSession(t.cloud.db.sql, t.siteId, { method: "plate", value: plate }), 15_000, "the entry session");
    }

    async function requestExit(plate: string): Promise<void> {
      await site.publish("exitReq", { ts: Date.now(), src: SRC, event_id: eventId(), lane_id: "L1", identity: { method: "plate", value: plate } });
    }

    it("the hold is authorised only by the webhook; the exit captures the real fee and the lane hears payment/success with no phone", async () => {
      const plate = rndPlate();
      const created = await api<HoldJson>("/api/holds", { site_id: t.siteId, plate });
      expect(created.json.amount).to.equal(3800); // the demo tariff's daily cap
      expect((await holdState(created.json.hold_id)).state).to.equal("requested"); // nothing paid yet: not authorised
      await stripe.paymentIntents.confirm(created.json.payment_intent, { payment_method: "pm_card_visa" });
      await until(async () => (await holdState(created.json.hold_id)).state === "authorized", 15_000, "authorised by webhook");

      const session = await enter(plate, 2 * 3600_000);
      await requestExit(plate);
      const ok = await site.waitFor("paymentSuccess", (p) => p.session_id === session.sessionId);
      const priced = await getSession(t.cloud.db.sql, session.sessionId);
      expect(priced.amount).to.be.greaterThan(0).and.lessThan(3800);
      expect(ok.payload).to.include({ provider_ref: created.json.payment_intent, amount: priced.amount, currency: "EUR", lane_id: "L1" });
      expect(site.count("paymentReq", (p) => p.session_id === session.sessionId)).to.equal(0);
      const pi = await stripe.paymentIntents.retrieve(created.json.payment_intent);
      expect([pi.status, pi.amount_received]).to.deep.equal(["succeeded", priced.amount]);
      const [pay] = await listPayments(t.cloud.db.sql, session.sessionId);
      expect([pay.state, pay.amount, pay.providerRef]).to.deep.equal(["paid", priced.amount, created.json.payment_intent]);
      await until(async () => (await holdState(created.json.hold_id)).state === "captured", 15_000, "hold captured");
    });

    it("a fee above the hold: the hold is captured whole and the difference charged off-session with the saved card", async () => {
      const { plate, hold } = await authorisedHold();
      const session = await enter(plate, 3 * 24 * 3600_000); // three days: three daily caps
      await requestExit(plate);
      const ok = await site.waitFor("paymentSuccess", (p) => p.session_id === session.sessionId);
      const priced = await getSession(t.cloud.db.sql, session.sessionId);
      expect(priced.amount).to.be.greaterThan(hold.amount);
      const pays = (await listPayments(t.cloud.db.sql, session.sessionId)).filter((p) => p.state === "paid");
      expect(pays.map((p) => p.amount).reduce((a, b) => a + b, 0)).to.equal(priced.amount);
      const capture = pays.find((p) => p.providerRef === hold.payment_intent);
      expect(capture?.amount).to.equal(hold.amount);
      const second = pays.find((p) => p.providerRef !== hold.payment_intent) as { providerRef: string; amount: number };
      expect(second.amount).to.equal((priced.amount as number) - hold.amount);
      expect(ok.payload.provider_ref).to.equal(second.providerRef);
      const offSession = await stripe.paymentIntents.retrieve(second.providerRef);
      expect([offSession.status, offSession.customer]).to.deep.equal(["succeeded", (await stripe.paymentIntents.retrieve(hold.payment_intent)).customer]);
      expect(site.count("paymentReq", (p) => p.session_id === session.sessionId)).to.equal(0);
      // The hold's capture only covered part of the fee: a part payment, not a late one, so the
      // one-call late-payment refund never gives back money the stay owed.
      const kinds = (await findAuditEntries(t.cloud.db.sql, { sessionId: session.sessionId })).map((e) => e.kind);
      expect(kinds).to.include("payment.partial").and.not.include("payment.late");
      expect(await latePaymentsOf(t.cloud.db.sql, session.sessionId)).to.deep.equal([]);
    });

    it("a capture made at the provider but never recorded (a crash before the commit) is recognised by the reconciling retrieve, not made twice", async () => {
      const { plate, hold } = await authorisedHold();
      // As if the worker had captured and died before its commit: the money is taken, the cloud knows nothing (webhooks lost).
      t.cloud.emulator?.setWebhookUrl(null);
      await stripe.paymentIntents.capture(hold.payment_intent, { amount_to_capture: hold.amount });
      t.cloud.emulator?.setWebhookUrl(`${base}/webhooks/stripe`);
      const session = await enter(plate, 3 * 24 * 3600_000); // a fee above the hold: the claim captures the whole hold
      await requestExit(plate);
      await site.waitFor("paymentSuccess", (p) => p.session_id === session.sessionId);
      const priced = await getSession(t.cloud.db.sql, session.sessionId);
      const pays = (await listPayments(t.cloud.db.sql, session.sessionId)).filter((p) => p.state === "paid");
      expect(pays.map((p) => p.amount).reduce((a, b) => a + b, 0)).to.equal(priced.amount);
      const pi = await stripe.paymentIntents.retrieve(hold.payment_intent);
      expect([pi.status, pi.amount_received]).to.deep.equal(["succeeded", hold.amount]);
      const charges = await stripe.charges.list({ payment_intent: hold.payment_intent });
      expect(charges.data.map((c) => [c.captured, c.amount_captured])).to.deep.equal([[true, hold.amount]]); // one capture
      expect(site.count("paymentSuccess", (p) => p.session_id === session.sessionId)).to.equal(1);
      expect(site.count("paymentReq", (p) => p.session_id === session.sessionId)).to.equal(0);
    });

    it("a free stay releases the hold (canceled at the provider), the lane hears the usual zero-fee success", async () => {
      const { plate, hold } = await authorisedHold();
      const session = await enter(plate, 60_000); // inside the grace period
      await requestExit(plate);
      const ok = await site.waitFor("paymentSuccess", (p) => p.session_id === session.sessionId);
      expect(ok.payload).to.include({ provider_ref: "no_charge", amount: 0 });
      await until(async () => (await holdState(hold.hold_id)).state === "canceled", 15_000, "hold released");
      expect((await stripe.paymentIntents.retrieve(hold.payment_intent)).status).to.equal("canceled");
    });

    it("a capture that fails (hold canceled at the provider, its webhook lost) and a 3-D Secure saved card fall back to pay-at-exit", async () => {
      const { plate, hold } = await authorisedHold("pm_card_authenticationRequired"); // 3184: 3-D Secure on every payment
      t.cloud.emulator?.setWebhookUrl(null); // the cancel's webhook never arrives: the cloud still thinks it is authorised
      await stripe.paymentIntents.cancel(hold.payment_intent);
      t.cloud.emulator?.setWebhookUrl(`${base}/webhooks/stripe`);
      expect((await holdState(hold.hold_id)).state).to.equal("authorized");
      const session = await enter(plate, 2 * 3600_000);
      await requestExit(plate);
      const req = await site.waitFor("paymentReq", (p) => p.session_id === session.sessionId);
      const priced = await getSession(t.cloud.db.sql, session.sessionId);
      expect(req.payload.amount).to.equal(priced.amount);
      expect(String(req.payload.pay_url)).to.contain(`/pay/${session.sessionId}?t=`);
      expect(priced.status).to.equal("pending_payment");
      const pays = await listPayments(t.cloud.db.sql, session.sessionId);
      expect(pays.find((p) => p.providerRef === hold.payment_intent)?.state).to.equal("canceled");
      expect(pays.some((p) => p.state === "failed" && (p.failureReason ?? "").includes("authentication_required"))).to.equal(true);
      expect((await holdState(hold.hold_id)).state).to.equal("canceled");
      expect(site.count("paymentSuccess", (p) => p.session_id === session.sessionId)).to.equal(0);
    });

    it("webhook replays act once and an out-of-order amount_capturable_updated never revives a canceled hold", async () => {
      const { hold } = await authorisedHold();
      const emu = t.cloud.emulator;
      if (!emu) return;
      const authEvent = emu.events().find((e) => e.type === "payment_intent.amount_capturable_updated" && e.data.object.id === hold.payment_intent);
      expect(authEvent).to.not.equal(undefined);
      for (let i = 0; i < 3; i++) await emu.resendEvent(authEvent!.id);
      expect((await holdState(hold.hold_id)).state).to.equal("authorized");
      await stripe.paymentIntents.cancel(hold.payment_intent);
      await until(async () => (await holdState(hold.hold_id)).state === "canceled", 15_000, "hold canceled by webhook");
      const late = await emu.resendEvent(authEvent!.id); // the authorisation again, after the cancel
      expect(late.state).to.equal("delivered");
      expect((await holdState(hold.hold_id)).state).to.equal("canceled");
      const audits = await t.cloud.db.sql<{ n: number }[]>`
        SELECT (SELECT count(*) FROM audit_log WHERE kind = 'hold.authorized' AND payload->>'hold_id' = ${hold.hold_id})
             + (SELECT count(*) FROM audit_pending WHERE kind = 'hold.authorized' AND payload->>'hold_id' = ${hold.hold_id}) AS n`;
      expect(Number(audits[0].n)).to.equal(1); // four deliveries of the authorisation, one effect
    });

    it("a hold lapsed after 7 emulator days: the exit charges the saved card off-session; a 3-D Secure saved card falls back to pay-at-exit", async () => {
      const visa = await authorisedHold();
      const tds = await authorisedHold("pm_card_authenticationRequired");
      await t.cloud.emulator?.advanceClock(7 * 24 * 3600 + 60);
      await until(async () => (await holdState(visa.hold.hold_id)).state === "expired" && (await holdState(tds.hold.hold_id)).state === "expired", 15_000, "holds expired by webhook");

      const s1 = await enter(visa.plate, 2 * 3600_000);
      await requestExit(visa.plate);
      const ok = await site.waitFor("paymentSuccess", (p) => p.session_id === s1.sessionId);
      const priced = await getSession(t.cloud.db.sql, s1.sessionId);
      expect(ok.payload.amount).to.equal(priced.amount);
      expect(ok.payload.provider_ref).to.not.equal(visa.hold.payment_intent);
      const charged = await stripe.paymentIntents.retrieve(String(ok.payload.provider_ref));
      expect([charged.status, charged.amount_received, charged.metadata.kind]).to.deep.equal(["succeeded", priced.amount, "hold_offsession"]);

      const s2 = await enter(tds.plate, 2 * 3600_000);
      await requestExit(tds.plate);
      const req = await site.waitFor("paymentReq", (p) => p.session_id === s2.sessionId);
      expect(req.payload.amount).to.equal((await getSession(t.cloud.db.sql, s2.sessionId)).amount);
      expect(site.count("paymentSuccess", (p) => p.session_id === s2.sessionId)).to.equal(0);
    });

    it("a card saved through Checkout in setup mode (no authorisation) is charged off-session at the exit", async () => {
      const plate = rndPlate();
      const r = await api<{ hold_id: string; state: string; checkout_url: string }>("/api/holds", { site_id: t.siteId, plate, mode: "save_card" });
      expect([r.status, r.json.state]).to.deep.equal([201, "requested"]);
      const posted = await fetch(r.json.checkout_url, { method: "POST", headers: { "Content-Type": "application/x-www-form-urlencoded" }, body: "card_number=4242424242424242&exp=12%2F34&cvc=123", redirect: "manual" });
      expect(posted.status).to.equal(303);
      expect(posted.headers.get("location")).to.contain(`/hold/${t.siteId}/${r.json.hold_id}/return`);
      await until(async () => (await holdState(r.json.hold_id)).state === "saved", 15_000, "card saved (setup_intent.succeeded)");
      const session = await enter(plate, 2 * 3600_000);
      await requestExit(plate);
      const ok = await site.waitFor("paymentSuccess", (p) => p.session_id === session.sessionId);
      const priced = await getSession(t.cloud.db.sql, session.sessionId);
      const charged = await stripe.paymentIntents.retrieve(String(ok.payload.provider_ref));
      expect([charged.status, charged.amount_received, charged.metadata.kind]).to.deep.equal(["succeeded", priced.amount, "hold_offsession"]);
      expect(site.count("paymentReq", (p) => p.session_id === session.sessionId)).to.equal(0);
    });

    it("refuses a bad hold request naming the field, and an unknown hold is a 404", async () => {
      const bad = await api<{ error: string }>("/api/holds", { site_id: t.siteId, plate: "#" });
      expect(bad.status).to.equal(400);
      expect(JSON.stringify(bad.json)).to.match(/plate/);
      const extra = await api<{ error: string }>("/api/holds", { site_id: t.siteId, plate: "AB123CD", amount: 1 });
      expect(extra.status).to.equal(400);
      const mode = await api<{ error: string }>("/api/holds", { site_id: t.siteId, plate: "AB123CD", mode: "steal" });
      expect([mode.status, JSON.stringify(mode.json).includes("mode")]).to.deep.equal([400, true]);
      expect((await api("/api/holds/hold_AAAAAAAAAAAAAAAAAAAA")).status).to.equal(404);
      // The pages a driver sees answer in HTML, never JSON, and name the field.
      const page = await fetch(`${base}/hold/no-such-site`, { headers: { Accept: "text/html" } });
      expect([page.status, page.headers.get("content-type")?.startsWith("text/html")]).to.deep.equal([404, true]);
      const empty = await fetch(`${base}/hold/${t.siteId}`, { method: "POST", headers: { "Content-Type": "application/x-www-form-urlencoded", Accept: "text/html" }, body: "plate=&lang=en" });
      expect(empty.status).to.equal(400);
      expect(await empty.text()).to.match(/id="error"[^>]*>plate/);
    });

    it("on a phone (Chromium, 390×844): the hold page authorises the card, then the exit opens with no phone", async function () {
      requireToolOrSkip(this, "chromium");
      const { chromium } = await import("playwright-core");
      const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"] });
      try {
        const ctx = await browser.newContext({ locale: "fr-FR", viewport: { width: 390, height: 844 } });
        const page = await ctx.newPage();
        await page.goto(`${base}/hold/${t.siteId}`);
        expect(await page.locator("#hold-amount").innerText()).to.match(/38,00\s€/);
        const plate = rndPlate();
        await page.fill("#plate", plate);
        await page.click("#authorise");
        await page.waitForSelector("#card_number");
        await page.fill("#card_number", "4242424242424242");
        await page.fill("#exp", "12/34");
        await page.fill("#cvc", "123");
        await page.click("#pay");
        await page.waitForSelector("#result[data-result=authorized]", { timeout: 20_000 });
        const session = await enter(plate, 2 * 3600_000);
        await requestExit(plate);
        const ok = await site.waitFor("paymentSuccess", (p) => p.session_id === session.sessionId);
        const [pay] = (await listPayments(t.cloud.db.sql, session.sessionId)).filter((p) => p.state === "paid");
        expect(pay.amount).to.equal((await getSession(t.cloud.db.sql, session.sessionId)).amount);
        expect(ok.payload.provider_ref).to.equal(pay.providerRef);
        // The driver never opened a pay link: the hold's page (where the authorisation left them)
        // lists the stay's receipt once issued (it reloads while the receipt is being prepared),
        // and the receipt shows the captured amount.
        await page.reload();
        await page.waitForSelector(".receipt-link", { timeout: 20_000 });
        await page.click(".receipt-link");
        await page.waitForSelector("#doc-ttc");
        expect(await page.locator("#doc-ttc").innerText()).to.equal(formatMoney(pay.amount, "EUR", "fr"));
        expect(await page.locator("#doc-number").innerText()).to.match(/R-\d{4}-\d{6}/);
        const other = await fetch(`${page.url().replace(/doc_[a-f0-9]{32}/, `doc_${"0".repeat(32)}`)}`);
        expect(other.status).to.equal(404);
      } finally {
        await browser.close();
      }
    });
  });
}
