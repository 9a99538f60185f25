/**
 * Estimate before the stay and prepay (issue 16 items 2 and 3), end to end on a running cloud:
 * the quote API (durations, until HH:MM and ISO, a DST night, bad input naming the field, an
 * unknown site), the /pricing pages in French and English, prepay webhooks replayed and out of
 * order, a prepaid exit free within its window, an overstay charged the difference, a
 * prepayment consumed once, and the whole path in Chromium on a phone viewport.
 */
import { expect } from "chai";
import Stripe from "stripe";
import { findActiveSession, getSession, insertTariff, listTariffs, type Json } from "../../../cloud/db/index";
import { getPrepayment, type PrepaymentRow } from "../../../cloud/db/prepayments";
import { parseTariff, priceStay, type Tariff } from "../../../cloud/tariffs/index";
import { requireToolOrSkip } from "../../../host/tools";
import { SiteClient, eventId, until, type TestCloud } from "./helpers";

type Browser = import("playwright-core").Browser;
const SRC = "test-gateway";
const rndPlate = () => `P${Math.random().toString(36).slice(2, 8).toUpperCase()}`;

/** "YYYY-MM-DDTHH:MM" of an instant on the Paris wall clock (the test sites' zone). */
function parisLocal(ms: number): string {
  const p = Object.fromEntries(new Intl.DateTimeFormat("en-CA", { timeZone: "Europe/Paris", year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hourCycle: "h23" }).formatToParts(new Date(ms)).map((x) => [x.type, x.value]));
  return `${p.year}-${p.month}-${p.day}T${p.hour}:${p.minute}`;
}

export function prepaySuite(title: string, start: (ctx: Mocha.Context) => Promise<TestCloud>): void {
  describe(title, function () {
    this.timeout(60_000);
    let t: TestCloud;
    let base: string;
    let site: SiteClient;
    let tariff: Tariff;
    let browser: Browser | undefined;

    before(async function () {
      this.timeout(180_000);
      t = await start(this);
      base = t.cloud.url;
      site = await SiteClient.connect(t.cloud.mqttUrl, t.siteId);
      tariff = parseTariff((await listTariffs(t.cloud.db.sql, t.siteId))[0].document);
    });
    after(async () => {
      await browser?.close();
      await site?.close();
      await t?.close();
    });

    const quote = async (qs: string) => {
      const r = await fetch(`${base}/api/sites/${t.siteId}/quote?${qs}`);
      return { status: r.status, body: (await r.json()) as Record<string, unknown> & { error?: string; breakdown?: { label: string; amount: number }[] } };
    };

    /** Prepays through the public form; returns the prepayment (state pending) and the card page URL. */
    async function prepayForm(fields: Record<string, string>, lang = "fr"): Promise<{ status: number; location: string | null; body: string }> {
      const r = await fetch(`${base}/pricing/${t.siteId}/prepay?lang=${lang}`, { method: "POST", redirect: "manual", headers: { "Content-Type": "application/x-www-form-urlencoded" }, body: new URLSearchParams(fields).toString() });
      return { status: r.status, location: r.headers.get("location"), body: await r.text() };
    }

    async function prepaymentOf(plate: string): Promise<PrepaymentRow> {
      const [row] = await t.cloud.db.sql<{ prepaymentId: string }[]>`SELECT prepayment_id FROM prepayments WHERE plate = ${plate} ORDER BY created_at DESC LIMIT 1`;
      return getPrepayment(t.cloud.db.sql, row.prepaymentId);
    }

    /** A paid prepayment: the form, then the PaymentIntent confirmed with 4242 at the emulator; the verified webhook marks it paid. */
    async function paidPrepayment(plate: string, fields: Record<string, string>): Promise<PrepaymentRow> {
      const r = await prepayForm({ plate, ...fields });
      expect(r.status, r.body).to.equal(303);
      const p = await prepaymentOf(plate);
      await t.cloud.stripe.paymentIntents.confirm(p.providerRef as string, { payment_method: "pm_card_visa" });
      return until(async () => {
        const x = await getPrepayment(t.cloud.db.sql, p.prepaymentId);
        return x.state === "paid" ? x : undefined;
      }, 15_000, "the prepayment paid by the verified webhook");
    }

    async function enter(plate: string, entryTs: number): Promise<string> {
      await site.publish("entry", { ts: entryTs, src: SRC, event_id: eventId(), lane_id: "E1", identity: { method: "plate", value: plate } });
      return (await until(() => findActiveSession(t.cloud.db.sql, t.siteId, { method: "plate", value: plate }), 15_000, "the entry session")).sessionId;
    }

    async function requestExit(plate: string, sessionId: string, ts = Date.now()) {
      await site.publish("exitReq", { ts, src: SRC, event_id: eventId(), lane_id: "L1", identity: { method: "plate", value: plate } });
      return until(async () => site.received.find((r) => (r.key === "paymentReq" || r.key === "paymentSuccess") && r.payload.session_id === sessionId), 15_000, "the exit's answer");
    }

    async function signedWebhook(type: string, pi: Record<string, unknown>, id = `evt_${Math.random().toString(36).slice(2)}`): Promise<{ status: number; outcome: string }> {
      const body = JSON.stringify({ id, object: "event", type, created: Math.floor(Date.now() / 1000), data: { object: { object: "payment_intent", ...pi } } });
      const sig = new Stripe("sk_test_x").webhooks.generateTestHeaderString({ payload: body, secret: t.cloud.webhookSecret });
      const r = await fetch(`${base}/webhooks/stripe`, { method: "POST", headers: { "Content-Type": "application/json", "Stripe-Signature": sig }, body });
      return { status: r.status, outcome: ((await r.json()) as { outcome: string }).outcome };
    }

    describe("the quote API", () => {
      it("prices a duration from a chosen start with the tariff version (2 h on a weekday morning: 4 × 1.20 + 4 × 1.00)", async () => {
        const r = await quote(`duration_min=120&from=${encodeURIComponent("2027-03-10T10:00:00+01:00")}&lang=en`);
        expect(r.status).to.equal(200);
        expect(r.body).to.include({ site_id: t.siteId, amount: 880, currency: "EUR", tariff_id: "paris-centre", tariff_version: 1, duration_s: 7200, from: "2027-03-10T09:00:00.000Z", until: "2027-03-10T11:00:00.000Z" });
        expect(r.body.breakdown?.map((l) => l.label).join(" | ")).to.match(/1st hour/);
        expect(r.body.breakdown?.reduce((a, l) => a + l.amount, 0)).to.equal(880);
        const fr = await quote(`duration_min=120&from=${encodeURIComponent("2027-03-10T10:00:00+01:00")}&lang=fr`);
        expect(fr.body.breakdown?.map((l) => l.label).join(" | ")).to.match(/1re heure/);
      });

      it("prices until a local HH:MM (the next one after the start) and until an ISO instant", async () => {
        const hhmm = await quote(`until=12:30&from=${encodeURIComponent("2027-03-10T10:00:00+01:00")}`);
        expect(hhmm.body).to.include({ amount: 1080, duration_s: 9000, until: "2027-03-10T11:30:00.000Z" });
        const next = await quote(`until=09:00&from=${encodeURIComponent("2027-03-10T10:00:00+01:00")}`);
        expect(next.body).to.include({ until: "2027-03-11T08:00:00.000Z", duration_s: 23 * 3600 });
        const iso = await quote(`until=${encodeURIComponent("2027-03-10T11:00:00Z")}&from=${encodeURIComponent("2027-03-10T10:00:00+01:00")}`);
        expect(iso.body).to.include({ amount: 880, duration_s: 7200 });
      });

      it("on the spring-forward night, 01:30 → 03:30 local is one real hour and costs one hour", async () => {
        const r = await quote(`until=03:30&from=${encodeURIComponent("2027-03-28T01:30:00+01:00")}`);
        expect(r.status).to.equal(200);
        expect(r.body).to.include({ duration_s: 3600, until: "2027-03-28T01:30:00.000Z" });
        expect(r.body.amount).to.equal(priceStay({ tariff, entry: "2027-03-28T01:30:00+01:00", exit: "2027-03-28T03:30:00+02:00" }).amount);
        expect(r.body.amount).to.equal(480);
      });

      it("prices with the tariff version in force at the quote's start (a v2 published for later changes later quotes only)", async () => {
        const doc = JSON.parse(JSON.stringify((await listTariffs(t.cloud.db.sql, t.siteId))[0].document)) as { version: number; effective_from: string; elements: { price_components: { price_per_step?: number }[] }[] };
        doc.version = 2;
        doc.effective_from = "2027-06-01T00:00:00+02:00";
        doc.elements[0].price_components[0].price_per_step = 150;
        await insertTariff(t.cloud.db.sql, { siteId: t.siteId, version: 2, effectiveFrom: new Date(doc.effective_from), document: doc as unknown as Json });
        const before = await quote(`duration_min=60&from=${encodeURIComponent("2027-05-10T10:00:00+02:00")}`);
        expect(before.body).to.include({ amount: 480, tariff_version: 1 });
        const after = await quote(`duration_min=60&from=${encodeURIComponent("2027-06-10T10:00:00+02:00")}`);
        expect(after.body).to.include({ amount: 600, tariff_version: 2 });
      });

      it("refuses bad input with a 400 naming the field, and an unknown site with a 404", async () => {
        const cases: [string, RegExp][] = [
          ["duration_min=abc", /query\.duration_min/],
          ["duration_min=0", /query\.duration_min/],
          ["duration_min=5256000", /query\.duration_min/], // 10 years
          ["until=25:00", /query\.until/],
          ["duration_min=60&until=12:00", /query\.duration_min: give exactly one/],
          ["", /query\.duration_min: give exactly one/],
          ["duration_min=60&from=yesterday", /query\.from/],
          ["duration_min=60&from=2090-01-01T00:00:00Z", /query\.from/],
          ["duration_min=60&extra=1", /unknown field "extra"/],
          [`until=${encodeURIComponent("2020-01-01T00:00:00Z")}`, /query\.until: must be after the start/],
          [`until=${encodeURIComponent("2036-01-01T00:00:00Z")}`, /query\.until: at most/],
        ];
        for (const [qs, re] of cases) {
          const r = await quote(qs);
          expect(r.status, qs).to.equal(400);
          expect(r.body.error, qs).to.match(re);
        }
        const unknown = await fetch(`${base}/api/sites/no-such-site/quote?duration_min=60`);
        expect(unknown.status).to.equal(404);
      });
    });

    describe("the /pricing pages", () => {
      it("list the sites and show a site's tariff in words, its price table and the daily cap, in French and in English", async () => {
        const list = await (await fetch(`${base}/pricing?lang=en`)).text();
        expect(list).to.contain(`href="/pricing/${t.siteId}?lang=en"`);
        const fr = await fetch(`${base}/pricing/${t.siteId}?lang=fr`);
        expect(fr.status).to.equal(200);
        const frHtml = (await fr.text()).replace(/[\u00a0\u202f]/g, " ");
        expect(frHtml).to.contain('<html lang="fr">');
        expect(frHtml).to.contain("Tarif en vigueur (version 1");
        expect(frHtml).to.contain("Un stationnement de 15 min ou moins est gratuit.");
        expect(frHtml).to.contain("1re heure : 1,20 € par tranche de 15 min commencée");
        expect(frHtml).to.contain('id="daily-cap"><td>Plafond par 24 h</td><td class="r">38,00 €');
        expect(frHtml.match(/<tr><td>[^<]+<\/td><td class="r">[^<]+<\/td><\/tr>/g)?.length).to.be.at.least(9);
        const en = (await (await fetch(`${base}/pricing/${t.siteId}?lang=en`)).text()).replace(/[\u00a0\u202f]/g, " ");
        expect(en).to.contain('<html lang="en">');
        expect(en).to.contain("1st hour: €1.20 per 15 min started");
        expect(en).to.contain("At most €38.00 per 24 hours of parking.");
      });

      it("answers 'how much for 2 hours' on the page with the quote API's figure, and a bad number with a 400 page naming the field", async () => {
        const page = await (await fetch(`${base}/pricing/${t.siteId}?lang=en&hours=2`)).text();
        const api = await quote("duration_min=120&lang=en");
        const shown = /id="estimate-amount">([^<]+)</.exec(page)?.[1];
        expect(shown).to.equal(new Intl.NumberFormat("en-GB", { style: "currency", currency: "EUR" }).format((api.body.amount as number) / 100));
        const bad = await fetch(`${base}/pricing/${t.siteId}?lang=fr&hours=deux`);
        expect(bad.status).to.equal(400);
        expect(await bad.text()).to.match(/id="error"[^>]*>hours:/);
        const unknown = await fetch(`${base}/pricing/no-such-site?lang=en`);
        expect(unknown.status).to.equal(404);
        expect(await unknown.text()).to.contain("Unknown car park");
      });
    });

    describe("prepay", () => {
      it("prices the window on the server, refuses a bad form naming the field, and sends the driver to the card page", async () => {
        const bad = await prepayForm({ plate: "AB-123-CD", hours: "", amount: "" });
        expect(bad.status).to.equal(400);
        expect(bad.body).to.contain("body.hours");
        const badAmount = await prepayForm({ plate: "AB-123-CD", amount: "1.234" });
        expect(badAmount.status).to.equal(400);
        expect(badAmount.body).to.contain("body.amount");
        const plate = rndPlate();
        const r = await prepayForm({ plate, amount: "5" });
        expect(r.status).to.equal(303);
        expect(r.location).to.match(/\/emulator\/pay\//);
        const p = await prepaymentOf(plate);
        expect(p.state).to.equal("pending");
        // 5 € buys the longest window whose price is at most 5 €, and costs that price.
        const from = p.windowFrom.getTime();
        expect(p.amount).to.be.at.most(500).and.equal(priceStay({ tariff, entry: from, exit: p.windowUntil }).amount);
        expect(priceStay({ tariff, entry: from, exit: p.windowUntil.getTime() + 60_000 }).amount).to.be.greaterThan(500);
        const pi = await t.cloud.stripe.paymentIntents.retrieve(p.providerRef as string);
        expect(pi.amount).to.equal(p.amount);
        expect(pi.metadata.kind).to.equal("prepay");
      });

      it("a replayed succeeded webhook acts once; failed / canceled arriving after it never move it back", async () => {
        const plate = rndPlate();
        await prepayForm({ plate, hours: "2" });
        const p = await prepaymentOf(plate);
        const pi = { id: p.providerRef, amount: p.amount, amount_received: p.amount, currency: "eur", metadata: { kind: "prepay" } };
        // Out of order: the failure of an earlier attempt lands first, then the success.
        expect((await signedWebhook("payment_intent.payment_failed", { ...pi, status: "requires_payment_method", last_payment_error: { message: "declined" } })).outcome).to.equal("failed");
        const evt = `evt_pp_${Math.random().toString(36).slice(2)}`;
        expect((await signedWebhook("payment_intent.succeeded", { ...pi, status: "succeeded" }, evt)).outcome).to.equal("paid");
        for (let i = 0; i < 3; i++) expect((await signedWebhook("payment_intent.succeeded", { ...pi, status: "succeeded" }, evt)).outcome).to.equal("duplicate");
        expect((await signedWebhook("payment_intent.succeeded", { ...pi, status: "succeeded" })).outcome).to.equal("already_paid");
        expect((await signedWebhook("payment_intent.payment_failed", { ...pi, status: "requires_payment_method" })).outcome).to.equal("stale");
        expect((await signedWebhook("payment_intent.canceled", { ...pi, status: "canceled" })).outcome).to.equal("stale");
        expect((await getPrepayment(t.cloud.db.sql, p.prepaymentId)).state).to.equal("paid");
        const audits = await t.cloud.db.sql<{ kind: string }[]>`SELECT kind FROM audit_log WHERE payload->>'prepayment_id' = ${p.prepaymentId} UNION ALL SELECT kind FROM audit_pending WHERE payload->>'prepayment_id' = ${p.prepaymentId}`;
        expect(audits.filter((a) => a.kind === "prepayment.paid").length).to.equal(1);
        // A wrong amount never marks a prepayment paid.
        const plate2 = rndPlate();
        await prepayForm({ plate: plate2, hours: "2" });
        const p2 = await prepaymentOf(plate2);
        expect((await signedWebhook("payment_intent.succeeded", { id: p2.providerRef, amount: 1, amount_received: 1, currency: "eur", metadata: { kind: "prepay" }, status: "succeeded" })).outcome).to.equal("amount_mismatch");
        expect((await getPrepayment(t.cloud.db.sql, p2.prepaymentId)).state).to.equal("pending");
      });

      it("a prepaid stay exits free within its window (payment/success, no charge, a Prépayé line) and the prepayment is consumed once", async () => {
        const plate = rndPlate();
        const p = await paidPrepayment(plate, { hours: "3", start: parisLocal(Date.now() - 3600_000) });
        const sessionId = await enter(plate, p.windowFrom.getTime() + 60_000);
        const answer = await requestExit(plate, sessionId);
        expect(answer.key).to.equal("paymentSuccess");
        expect(answer.payload.provider_ref).to.equal("no_charge");
        const s = await getSession(t.cloud.db.sql, sessionId);
        expect(s.status).to.equal("paid");
        expect(s.amount).to.equal(0);
        const lines = (s.quoteBreakdown as { price: { breakdown: { kind: string; label: string; amount: number }[] } }).price.breakdown;
        const prepaid = lines.find((l) => l.kind === "prepaid");
        expect(prepaid?.label).to.equal("Prépayé");
        expect(lines.reduce((a, l) => a + l.amount, 0)).to.equal(0);
        const used = await getPrepayment(t.cloud.db.sql, p.prepaymentId);
        expect([used.state, used.consumedSessionId]).to.deep.equal(["consumed", sessionId]);
        // The car leaves; the same plate comes back: the prepayment is not used a second time.
        await site.publish("exitDone", { ts: Date.now(), src: SRC, event_id: eventId(), lane_id: "L1", session_id: sessionId, barrier_result: "opened", passed: true, decided_by: "cloud" });
        await until(async () => (await getSession(t.cloud.db.sql, sessionId)).status === "closed", 15_000, "the first stay closed");
        const second = await enter(plate, Date.now() - 2 * 3600_000);
        const again = await requestExit(plate, second);
        expect(again.key).to.equal("paymentReq");
        const s2 = await getSession(t.cloud.db.sql, second);
        expect(again.payload.amount).to.equal(priceStay({ tariff, entry: s2.entryTs, exit: again.payload.ts as number }).amount);
        expect((s2.quoteBreakdown as { price: { breakdown: { kind: string }[] } }).price.breakdown.some((l) => l.kind === "prepaid")).to.equal(false);
      });

      it("an overstay is charged the difference (price of the whole stay − prepaid) through the normal pay-at-exit flow", async () => {
        const plate = rndPlate();
        const p = await paidPrepayment(plate, { hours: "1", start: parisLocal(Date.now() - 3 * 3600_000) });
        const sessionId = await enter(plate, p.windowFrom.getTime() + 60_000);
        const exitTs = Date.now();
        const answer = await requestExit(plate, sessionId, exitTs);
        expect(answer.key).to.equal("paymentReq");
        const s = await getSession(t.cloud.db.sql, sessionId);
        const whole = priceStay({ tariff, entry: s.entryTs, exit: exitTs }).amount;
        expect(answer.payload.amount).to.equal(whole - p.amount);
        expect(s.amount).to.equal(whole - p.amount);
        const lines = (s.quoteBreakdown as { price: { breakdown: { kind: string; amount: number }[] } }).price.breakdown;
        expect(lines.find((l) => l.kind === "prepaid")?.amount).to.equal(-p.amount);
        // The driver pays the difference like any exit.
        const pay = await fetch(`${base}/api/pay/${sessionId}/intent?t=${new URL(String(answer.payload.pay_url)).searchParams.get("t")}`, { method: "POST" });
        const intent = (await pay.json()) as { payment_intent: string; amount: number };
        expect(intent.amount).to.equal(whole - p.amount);
        await t.cloud.stripe.paymentIntents.confirm(intent.payment_intent, { payment_method: "pm_card_visa" });
        const ok = await site.waitFor("paymentSuccess", (x) => x.session_id === sessionId);
        expect(ok.payload.amount).to.equal(whole - p.amount);
      });

      it("a prepayment whose window ended before the car came in is not spent on that visit (it stays paid, to refund)", async () => {
        const plate = rndPlate();
        const p = await paidPrepayment(plate, { hours: "1", start: parisLocal(Date.now() - 5 * 3600_000) });
        const sessionId = await enter(plate, Date.now() - 2 * 3600_000);
        const exitTs = Date.now();
        const answer = await requestExit(plate, sessionId, exitTs);
        expect(answer.key).to.equal("paymentReq");
        const s = await getSession(t.cloud.db.sql, sessionId);
        expect(answer.payload.amount).to.equal(priceStay({ tariff, entry: s.entryTs, exit: exitTs }).amount);
        expect((await getPrepayment(t.cloud.db.sql, p.prepaymentId)).state).to.equal("paid");
      });

      it("Chromium on a phone: /pricing estimate → prepay with 4242 on the emulator page → entry → exit inside the window → payment success with nothing asked", async function () {
        requireToolOrSkip(this, "chromium");
        const { chromium } = await import("playwright-core");
        browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"] });
        const ctx = await browser.newContext({ locale: "fr-FR", viewport: { width: 390, height: 844 } });
        const page = await ctx.newPage();
        const plate = rndPlate();
        try {
          await page.goto(`${base}/pricing/${t.siteId}?lang=fr`);
          await page.fill("#hours", "2");
          await page.click("#compute");
          await page.waitForSelector("#estimate-amount");
          expect(await page.locator("#estimate-amount").innerText()).to.match(/€/);
          await page.fill("#plate", plate);
          await page.fill("#pp-hours", "3");
          await page.fill("#pp-start", parisLocal(Date.now() - 3600_000));
          await page.click("#prepay");
          await page.waitForSelector("#card_number");
          await page.fill("#card_number", "4242 4242 4242 4242");
          await page.fill("#exp", "12/34");
          await page.fill("#cvc", "123");
          await page.click("#pay");
          await page.waitForSelector('#result[data-result="prepay-paid"]', { timeout: 20_000 });
          expect(await page.locator("#pp-plate").innerText()).to.equal(plate);
        } finally {
          await ctx.close();
        }
        const p = await prepaymentOf(plate);
        const sessionId = await enter(plate, p.windowFrom.getTime() + 60_000);
        const answer = await requestExit(plate, sessionId);
        expect(answer.key).to.equal("paymentSuccess");
        expect(answer.payload.provider_ref).to.equal("no_charge");
        expect((await getPrepayment(t.cloud.db.sql, p.prepaymentId)).state).to.equal("consumed");
        expect(site.count("paymentReq", (x) => x.session_id === sessionId)).to.equal(0);
      });
    });
  });
}
