/**
 * Pay at exit as the driver sees it (issue 16 item 1) and the receipt it leaves (issue 16
 * "receipts"), run on embedded defaults and on PostgreSQL + Mosquitto: the pay page names the
 * plate, the site and the lane; every line is in the page's language; the emulator's card page
 * formats money per locale; after paying, the pay link shows a success page (amount, duration,
 * lane, time, card brand and last 4, provider reference, receipt) — still after the exit; the
 * receipt opens as HTML and PDF with the checksum shown; a wrong token is a 404 that reveals
 * nothing; operators read the document over the API. Then the same in Chromium on a phone.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { expect } from "chai";
import Stripe from "stripe";
import { findActiveSession, getSession, getSite, tariffInForce, type SessionRow } from "../../../cloud/db/index";
import type { StoredQuote } from "../../../cloud/flows/site-events";
import { formatMoney, parseTariff, priceStay } from "../../../cloud/tariffs/index";
import { requireToolOrSkip } from "../../../host/tools";
import { frMoney, pdfText } from "../billing/pdf-text";
import { Phone } from "./driver";
import { SiteClient, eventId, login, until, type TestCloud } from "./helpers";

type Browser = import("playwright-core").Browser;
const SRC = "test-gateway";
const rndPlate = () => `R${Math.random().toString(36).slice(2, 8).toUpperCase()}`;
const unescape = (s: string) => s.replace(/&amp;/g, "&").replace(/&#39;/g, "'").replace(/&quot;/g, '"').replace(/&lt;/g, "<").replace(/&gt;/g, ">");
const cell = (html: string, id: string) => unescape(new RegExp(`id="${id}"[^>]*>([^<]*)<`).exec(html)?.[1] ?? "");
const hrefOf = (html: string, id: string) => unescape(new RegExp(`id="${id}" href="([^"]+)"`).exec(html)?.[1] ?? "");
const breakdownLabels = (html: string) => [...(/<table id="breakdown">([\s\S]*?)<\/table>/.exec(html)?.[1] ?? "").matchAll(/<tr><td>([^<]*)<\/td>/g)].map((m) => unescape(m[1]));

export function payExitSuite(title: string, start: (ctx: Mocha.Context) => Promise<TestCloud>): void {
  describe(title, function () {
    this.timeout(90_000);
    let t: TestCloud;
    let site: SiteClient;
    let base: string;
    let browser: Browser | undefined;

    before(async function () {
      this.timeout(180_000);
      t = await start(this);
      base = t.cloud.url;
      site = await SiteClient.connect(t.cloud.mqttUrl, t.siteId);
    });
    after(async () => {
      await browser?.close();
      await site?.close();
      await t?.close();
    });

    async function exitRequest(): Promise<{ session: SessionRow; payUrl: string; plate: string }> {
      const plate = rndPlate();
      await site.publish("entry", { ts: Date.now() - 2 * 3600_000 - 7 * 60_000, src: SRC, event_id: eventId(), lane_id: "E1", identity: { method: "plate", value: plate } });
      const entered = await until(() => findActiveSession(t.cloud.db.sql, t.siteId, { method: "plate", value: plate }), 15_000, "the entry session");
      await site.publish("exitReq", { ts: Date.now(), src: SRC, event_id: eventId(), lane_id: "L1", identity: { method: "plate", value: plate } });
      const req = await site.waitFor("paymentReq", (p) => p.session_id === entered.sessionId);
      return { session: await getSession(t.cloud.db.sql, entered.sessionId), payUrl: String(req.payload.pay_url), plate };
    }

    const withLang = (url: string, lang: "fr" | "en") => {
      const u = new URL(url);
      u.searchParams.set("lang", lang);
      return u.toString();
    };

    /** The breakdown's labels as the ONE pricing function words them in `locale`, from the stored quote's instants. */
    async function expectedLabels(s: SessionRow, locale: "fr" | "en"): Promise<string[]> {
      const q = s.quoteBreakdown as unknown as StoredQuote;
      const row = await tariffInForce(t.cloud.db.sql, t.siteId, new Date(q.price.exit));
      return priceStay({ tariff: parseTariff(row?.document), entry: q.price.entry, exit: q.price.exit, locale }).breakdown.map((l) => l.label);
    }

    let paid: { session: SessionRow; payUrl: string; receiptHtml: string; receiptPdf: string; pi: string } | undefined;

    it("the pay page names the plate, the site and the lane, and speaks the page's language in every line", async () => {
      const { session, payUrl, plate } = await exitRequest();
      const phone = new Phone("en-GB");
      const en = await phone.go(withLang(payUrl, "en"));
      expect(en.status).to.equal(200);
      expect(cell(en.body, "identity")).to.equal(plate);
      expect(cell(en.body, "site")).to.equal((await getSite(t.cloud.db.sql, t.siteId)).name);
      expect(cell(en.body, "lane")).to.equal("L1");
      const enLabels = breakdownLabels(en.body);
      expect(enLabels.length).to.be.greaterThan(0);
      expect(enLabels).to.deep.equal(await expectedLabels(session, "en"));
      const fr = await new Phone("fr-FR").go(withLang(payUrl, "fr"));
      const frLabels = breakdownLabels(fr.body);
      expect(frLabels).to.deep.equal(await expectedLabels(session, "fr"));
      expect(frLabels).not.to.deep.equal(enLabels);
      expect(fr.body).to.contain(">Plaque<");
    });

    it("the emulator's card page formats the amount in the page's locale (9,80 € in French, €9.80 in English)", async () => {
      const { session, payUrl } = await exitRequest();
      const amount = session.amount as number;
      const fr = await new Phone("fr-FR").openCardPage(withLang(payUrl, "fr"));
      const frAmount = new Intl.NumberFormat("fr-FR", { style: "currency", currency: "EUR" }).format(amount / 100);
      expect(fr.body).to.contain(`Payer ${frAmount}`);
      expect(fr.body).not.to.match(/Payer €/);
      const en = await new Phone("en-GB").openCardPage(withLang(payUrl, "en"));
      expect(en.body).to.contain(`Pay €${(amount / 100).toFixed(2)}`);
    });

    it("after paying, the pay link shows the success page: amount, duration, lane, time, card brand and last 4, reference, receipt", async () => {
      const { session, payUrl } = await exitRequest();
      const phone = new Phone("en-GB");
      const card = await phone.openCardPage(withLang(payUrl, "en"));
      await phone.payOnCardPage(card, "4242 4242 4242 4242");
      const success = await site.waitFor("paymentSuccess", (p) => p.session_id === session.sessionId);
      const pi = String(success.payload.provider_ref);
      // The receipt is issued after the payment's commit (receipt worker): until then the page says
      // it is being prepared and reloads itself; the driver sees the receipt once it is issued.
      const page = await until(async () => {
        const p = await phone.go(withLang(payUrl, "en"));
        return p.body.includes('id="receipt-html"') ? p : p.body.includes('id="receipt-pending"') ? false : p;
      }, 15_000, "the receipt on the success page");
      expect(page.status).to.equal(200);
      expect(page.body).to.contain('data-result="paid"');
      expect(cell(page.body, "paid-amount")).to.equal(formatMoney(session.amount as number, "EUR", "en"));
      expect(cell(page.body, "paid-duration")).to.equal("2 h 7 min");
      expect(cell(page.body, "paid-lane")).to.match(/^L1 · /);
      expect(cell(page.body, "paid-at")).to.match(/\d{4}/);
      expect(cell(page.body, "paid-card")).to.equal("Visa •••• 4242");
      expect(cell(page.body, "paid-reference")).to.equal(pi);
      const receiptHtml = new URL(hrefOf(page.body, "receipt-html"), payUrl).toString();
      const receiptPdf = new URL(hrefOf(page.body, "receipt-pdf"), payUrl).toString();
      expect(new URL(receiptHtml).pathname).to.match(/^\/receipts\/doc_[a-f0-9]{32}$/);
      // The JSON twin (kiosks) names the same receipt.
      const u = new URL(payUrl);
      const api = (await (await fetch(`${u.origin}/api/pay${u.pathname.slice(4)}${u.search}`)).json()) as { status: string; receipt: { status: string; number: string; html_url: string; pdf_url: string } | null };
      expect(api.status).to.equal("paid");
      expect(api.receipt?.status).to.equal("issued");
      expect(api.receipt?.number).to.match(/^R-\d{4}-\d{6}$/);
      expect(new URL(api.receipt?.pdf_url ?? "", payUrl).pathname).to.equal(new URL(receiptPdf).pathname);
      paid = { session, payUrl, receiptHtml, receiptPdf, pi };
    });

    it("one receipt per paid payment: a replayed payment_intent.succeeded issues no second one", async function () {
      if (!paid) this.skip();
      const p = paid as NonNullable<typeof paid>;
      const count = async () => (await t.cloud.db.sql<{ n: number }[]>`SELECT count(*)::int4 AS n FROM billing_documents WHERE session_id = ${p.session.sessionId} AND kind = 'receipt'`)[0].n;
      expect(await count()).to.equal(1);
      const [ev] = await t.cloud.db.sql<{ payload: unknown }[]>`SELECT payload FROM webhook_events WHERE type = 'payment_intent.succeeded' AND payload->'data'->'object'->>'id' = ${p.pi}`;
      const body = JSON.stringify(ev.payload);
      const sig = new Stripe("sk_test_x").webhooks.generateTestHeaderString({ payload: body, secret: t.cloud.webhookSecret });
      const r = await fetch(`${base}/webhooks/stripe`, { method: "POST", headers: { "Content-Type": "application/json", "Stripe-Signature": sig }, body });
      expect(r.status).to.equal(200);
      expect(await count()).to.equal(1);
    });

    it("the receipt opens as HTML and as PDF; the PDF's SHA-256 is the one shown, and its text carries the figures", async function () {
      if (!paid) this.skip();
      const p = paid as NonNullable<typeof paid>;
      const html = await new Phone("en-GB").go(p.receiptHtml);
      expect([html.status, html.contentType.split(";")[0]]).to.deep.equal([200, "text/html"]);
      const number = cell(html.body, "doc-number").replace(/^Receipt /, "");
      expect(number).to.match(/^R-\d{4}-\d{6}$/);
      const sha = cell(html.body, "doc-sha256");
      const amount = p.session.amount as number;
      const ht = Math.floor((amount * 10_000 * 2 + 12_000) / 24_000);
      expect(cell(html.body, "doc-ttc")).to.equal(formatMoney(amount, "EUR", "en"));
      expect(cell(html.body, "doc-ht")).to.equal(formatMoney(ht, "EUR", "en"));
      expect(cell(html.body, "doc-vat")).to.equal(formatMoney(amount - ht, "EUR", "en"));
      const r = await fetch(p.receiptPdf);
      expect(r.status).to.equal(200);
      expect(r.headers.get("content-type")).to.equal("application/pdf");
      const bytes = Buffer.from(await r.arrayBuffer());
      expect(createHash("sha256").update(bytes).digest("hex")).to.equal(sha);
      const { text } = await pdfText(bytes);
      for (const s of [number, frMoney(amount), frMoney(ht), frMoney(amount - ht), "Visa •••• 4242"]) expect(text, text).to.contain(s);
      // Text extraction may cut a long token where the glyph runs meet: the reference, spaces aside.
      expect(text.replace(/\s/g, ""), text).to.contain(p.pi);
    });

    it("a wrong token or an unknown document is the same 404 page, which reveals nothing", async function () {
      if (!paid) this.skip();
      const p = paid as NonNullable<typeof paid>;
      const wrong = new URL(p.receiptHtml);
      wrong.searchParams.set("t", "not-the-right-token-at-all");
      const a = await new Phone("en-GB").go(wrong.toString());
      const unknown = new URL(p.receiptHtml);
      unknown.pathname = `/receipts/doc_${"0".repeat(32)}`;
      const b = await new Phone("en-GB").go(unknown.toString());
      const pdfWrong = new URL(p.receiptPdf);
      pdfWrong.searchParams.set("t", "not-the-right-token-at-all");
      const c = await fetch(pdfWrong, { headers: { "Accept-Language": "en" } });
      expect([a.status, b.status, c.status]).to.deep.equal([404, 404, 404]);
      // The same page but for its CSP nonce, which is fresh on every response (cloud/http/middleware.ts pageCsp).
      const page = (html: string) => html.replace(/ nonce="[^"]+"/g, "");
      expect(page(a.body)).to.equal(page(b.body));
      expect(page(await c.text())).to.equal(page(a.body));
      expect(a.body).not.to.match(/R-\d{4}-|doc_[a-f0-9]{32}/);
    });

    it("after the exit the pay link still shows the success page, never 'Nothing to pay'", async function () {
      if (!paid) this.skip();
      const p = paid as NonNullable<typeof paid>;
      await site.publish("exitDone", { ts: Date.now(), src: SRC, event_id: eventId(), lane_id: "L1", session_id: p.session.sessionId, barrier_result: "opened", passed: true, decided_by: "cloud" });
      await until(async () => (await getSession(t.cloud.db.sql, p.session.sessionId)).status === "closed", 15_000, "the session closed");
      const page = await new Phone("fr-FR").go(withLang(p.payUrl, "fr"));
      expect(page.status).to.equal(200);
      expect(page.body).to.contain('data-result="paid"');
      expect(page.body).not.to.contain("Rien à payer");
      expect(cell(page.body, "paid-card")).to.equal("Visa •••• 4242");
      expect(cell(page.body, "paid-reference")).to.equal(p.pi);
    });

    it("operators read the document over the API (JSON with the checksum, and the PDF); anonymous callers get 401", async function () {
      if (!paid) this.skip();
      const p = paid as NonNullable<typeof paid>;
      const id = new URL(p.receiptHtml).pathname.split("/").pop() as string;
      expect((await fetch(`${base}/api/operator/documents/${id}`)).status).to.equal(401);
      const token = await login(base, t.admin.username, t.admin.password);
      const r = await fetch(`${base}/api/operator/documents/${id}`, { headers: { Authorization: `Bearer ${token}` } });
      expect(r.status).to.equal(200);
      const j = (await r.json()) as { number: string; pdf_sha256: string; total_ttc: number; payment_id: string; kind: string };
      expect([j.kind, j.total_ttc]).to.deep.equal(["receipt", p.session.amount]);
      const pdf = await fetch(`${base}/api/operator/documents/${id}.pdf`, { headers: { Authorization: `Bearer ${token}` } });
      expect(createHash("sha256").update(Buffer.from(await pdf.arrayBuffer())).digest("hex")).to.equal(j.pdf_sha256);
      const bad = await fetch(`${base}/api/operator/documents/nope`, { headers: { Authorization: `Bearer ${token}` } });
      expect(bad.status).to.equal(404);
      expect(((await bad.json()) as { error: string }).error).to.match(/documentId/);
    });

    it("in Chromium on a phone (390×844): pay on the English page → success page → receipt → PDF with the checksum shown", async function () {
      requireToolOrSkip(this, "chromium");
      const { chromium } = await import("playwright-core");
      browser ??= await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"] });
      const { session, payUrl, plate } = await exitRequest();
      const ctx = await browser.newContext({ locale: "en-GB", viewport: { width: 390, height: 844 }, acceptDownloads: true });
      try {
        const page = await ctx.newPage();
        await page.goto(withLang(payUrl, "en"));
        expect(await page.locator("#identity").innerText()).to.equal(plate);
        expect(await page.locator("#lane").innerText()).to.equal("L1");
        expect(await page.locator("#breakdown tr td:first-child").allInnerTexts()).to.deep.equal(await expectedLabels(session, "en"));
        await page.click("#pay");
        await page.waitForSelector("#card_number");
        await page.fill("#card_number", "4242 4242 4242 4242");
        await page.fill("#exp", "12/34");
        await page.fill("#cvc", "123");
        await page.click("#pay");
        await page.waitForSelector('#result[data-result="paid"]', { timeout: 30_000 });
        await page.waitForSelector("#receipt-html", { timeout: 30_000 }); // "being prepared" reloads itself until the receipt is issued
        expect(await page.locator("#paid-amount").innerText()).to.equal(formatMoney(session.amount as number, "EUR", "en"));
        expect(await page.locator("#paid-lane").innerText()).to.match(/^L1/);
        expect(await page.locator("#paid-card").innerText()).to.equal("Visa •••• 4242");
        await page.click("#receipt-html");
        await page.waitForSelector("#doc-sha256");
        const sha = (await page.locator("#doc-sha256").innerText()).trim();
        expect(await page.locator("#doc-ttc").innerText()).to.equal(formatMoney(session.amount as number, "EUR", "en"));
        const [download] = await Promise.all([page.waitForEvent("download"), page.click("#doc-pdf")]);
        const path = await download.path();
        expect(createHash("sha256").update(readFileSync(path)).digest("hex")).to.equal(sha);
        expect(download.suggestedFilename()).to.match(/^R-\d{4}-\d{6}\.pdf$/);
      } finally {
        await ctx.close();
      }
    });
  });
}
