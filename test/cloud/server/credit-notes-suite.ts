/**
 * Credit notes (issue 16): every succeeded refund gets exactly one credit note, whatever made it —
 * the operator API (partial, then the rest), Stripe's dashboard (webhooks, redelivered), the
 * late-payment refund — and the operators' refunds view lists them with their page and PDF links.
 * Then in Chromium on a phone: a paid exit, a refund from the operator API, the credit note's page
 * shows the refunded amount, its PDF downloaded and read back (number A-…, amount, VAT split).
 * Run on PGlite (embedded) and on PostgreSQL + Mosquitto.
 */
import { readFileSync } from "node:fs";
import { expect } from "chai";
import { findAuditEntries, listRefundsOfSession } from "../../../cloud/db/index";
import { vatSplit } from "../../../cloud/billing/vat";
import { formatMoney } from "../../../cloud/tariffs/index";
import { COOKIE } from "../../../cloud/server/auth";
import { requireToolOrSkip } from "../../../host/tools";
import { frMoney, pdfText } from "../billing/pdf-text";
import { SiteClient, login, until, type TestCloud } from "./helpers";
import { latePaidSession, paidSession } from "./refund-fixtures";

type Browser = import("playwright-core").Browser;

interface CreditNoteJson {
  document_id: string;
  number: string;
  refund_id: string;
  payment_id: string;
  total_ttc: number;
  total_ht: number;
  total_vat: number;
  html_url: string;
  pdf_url: string;
}

export function creditNotesSuite(title: string, start: (ctx: Mocha.Context) => Promise<TestCloud>): void {
  describe(title, function () {
    this.timeout(60_000);
    let t: TestCloud;
    let site: SiteClient;
    let token: string;
    let browser: Browser | undefined;
    const auth = () => ({ Authorization: `Bearer ${token}` });
    const key = () => `test-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}`;
    const refund = async (body: unknown): Promise<{ status: number; body: { refund: { refund_id: string; amount: number; state: string } } }> => {
      const r = await fetch(`${t.cloud.url}/api/operator/refunds`, { method: "POST", headers: { ...auth(), "Content-Type": "application/json", "Idempotency-Key": key() }, body: JSON.stringify(body) });
      return { status: r.status, body: (await r.json()) as { refund: { refund_id: string; amount: number; state: string } } };
    };
    const view = async (sessionId: string) => (await (await fetch(`${t.cloud.url}/api/operator/sessions/${sessionId}/refunds`, { headers: auth() })).json()) as { refunds: { refund_id: string }[]; credit_notes: CreditNoteJson[] };
    const notesInDb = async (sessionId: string) => (await t.cloud.db.sql<{ refundId: string; totalTtc: number }[]>`SELECT refund_id, total_ttc FROM billing_documents WHERE kind = 'credit_note' AND session_id = ${sessionId} ORDER BY seq`).map((r) => [r.refundId, r.totalTtc]);

    before(async function () {
      this.timeout(180_000);
      t = await start(this);
      site = await SiteClient.connect(t.cloud.mqttUrl, t.siteId);
      token = await login(t.cloud.url, t.admin.username, t.admin.password);
    });
    after(async () => {
      await browser?.close();
      await site?.close();
      await t?.close();
    });

    it("operator API: a partial refund then the rest — one credit note each, listed with their page and PDF links; the provider's own webhooks add none", async () => {
      const { session, payment } = await paidSession(t, site);
      const part = await refund({ session_id: session.sessionId, amount: 120, reason: "goodwill: barrier slow" });
      expect(part.status, JSON.stringify(part.body)).to.equal(201);
      const rest = await refund({ payment_id: payment.paymentId, reason: "driver charged twice" });
      expect(rest.status, JSON.stringify(rest.body)).to.equal(201);
      await t.cloud.emulator?.whenWebhooksIdle(10_000); // refund.created, charge.refunded… for the same refunds
      const v = await view(session.sessionId);
      expect(v.credit_notes.map((c) => [c.refund_id, c.total_ttc])).to.deep.equal([
        [part.body.refund.refund_id, 120],
        [rest.body.refund.refund_id, payment.amount - 120],
      ]);
      for (const c of v.credit_notes) {
        expect(c.number).to.match(/^A-\d{4}-\d{6}$/);
        expect([c.total_ht, c.total_vat]).to.deep.equal([vatSplit(c.total_ttc, 2000).ht, vatSplit(c.total_ttc, 2000).vat]);
        expect(c.html_url).to.equal(`/api/operator/documents/${c.document_id}.html`);
        const page = await fetch(`${t.cloud.url}${c.html_url}?lang=en`, { headers: auth() });
        expect([page.status, page.headers.get("content-type")?.split(";")[0]]).to.deep.equal([200, "text/html"]);
        expect(await page.text()).to.contain(`Credit note ${c.number}`).and.to.contain(formatMoney(c.total_ttc, "EUR", "en"));
        const pdf = await fetch(`${t.cloud.url}${c.pdf_url}`, { headers: auth() });
        expect(pdf.headers.get("content-type")).to.equal("application/pdf");
        expect((await pdfText(Buffer.from(await pdf.arrayBuffer()))).text).to.contain(c.number);
      }
      expect(await notesInDb(session.sessionId)).to.have.length(2);
      expect((await fetch(`${t.cloud.url}${v.credit_notes[0].html_url}`)).status, "anonymous").to.equal(401);
    });

    it("a refund asked before the receipt worker's pass: the receipt is issued first, once, and the credit note names it", async () => {
      await t.cloud.receipts.stop(); // the payment's receipt stays owed, as in the second after a payment
      try {
        const { session, payment } = await paidSession(t, site);
        const owed = async () => (await t.cloud.db.sql`SELECT 1 FROM billing_receipt_queue WHERE payment_id = ${payment.paymentId}`).length;
        expect(await owed()).to.equal(1);
        const r = await refund({ payment_id: payment.paymentId, amount: 100, reason: "refund at once" });
        expect(r.status, JSON.stringify(r.body)).to.equal(201);
        const docs = await t.cloud.db.sql<{ kind: string; number: string; original: string | null }[]>`
          SELECT kind, number, content->'refund'->>'original_number' AS original FROM billing_documents WHERE session_id = ${session.sessionId} ORDER BY kind`;
        const receipt = docs.find((d) => d.kind === "receipt");
        expect(docs.map((d) => d.kind)).to.deep.equal(["credit_note", "receipt"]);
        expect(docs.find((d) => d.kind === "credit_note")?.original).to.equal(receipt?.number);
        expect(await owed()).to.equal(0);
      } finally {
        t.cloud.receipts.start();
      }
    });

    it("a refund made in Stripe's dashboard: one credit note from its webhooks, none more when they are redelivered", async () => {
      const { pi, session } = await paidSession(t, site);
      const re = await t.cloud.stripe.refunds.create({ payment_intent: pi, amount: 70 });
      const row = await until(async () => (await listRefundsOfSession(t.cloud.db.sql, session.sessionId)).find((r) => r.providerRef === re.id && r.state === "succeeded"), 15_000, "the dashboard refund");
      await t.cloud.emulator?.whenWebhooksIdle(10_000);
      for (const e of t.cloud.emulator?.events().filter((ev) => ev.type.includes("refund")) ?? []) await t.cloud.emulator?.resendEvent(e.id);
      await t.cloud.emulator?.whenWebhooksIdle(10_000);
      expect(await notesInDb(session.sessionId)).to.deep.equal([[row.refundId, 70]]);
    });

    it("the late-payment refund gets its credit note, once however often it is asked", async () => {
      const { session, payment } = await latePaidSession(t, site);
      const call = () => fetch(`${t.cloud.url}/api/operator/sessions/${session.sessionId}/refund-late`, { method: "POST", headers: { ...auth(), "Content-Type": "application/json" }, body: JSON.stringify({ reason: "driver left under override" }) });
      expect((await call()).status).to.equal(201);
      expect((await call()).status).to.equal(200);
      await t.cloud.emulator?.whenWebhooksIdle(10_000);
      const [r] = await listRefundsOfSession(t.cloud.db.sql, session.sessionId);
      expect(await notesInDb(session.sessionId)).to.deep.equal([[r.refundId, payment.amount]]);
      expect((await findAuditEntries(t.cloud.db.sql, { sessionId: session.sessionId })).filter((a) => a.kind === "refund.succeeded")).to.have.length(1);
    });

    it("in Chromium on a phone (390×844): paid exit → refund from the operator API → the credit note's page shows the refunded amount → its PDF read back", async function () {
      requireToolOrSkip(this, "chromium");
      const { chromium } = await import("playwright-core");
      browser ??= await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"] });
      const { session } = await paidSession(t, site);
      const amount = 250;
      const r = await refund({ session_id: session.sessionId, amount, reason: "barrier fault" });
      expect(r.status, JSON.stringify(r.body)).to.equal(201);
      const note = (await view(session.sessionId)).credit_notes[0];
      const ctx = await browser.newContext({ locale: "fr-FR", viewport: { width: 390, height: 844 }, acceptDownloads: true });
      try {
        await ctx.addCookies([{ name: COOKIE, value: token, url: t.cloud.url }]); // the dashboard's session cookie (a download carries no extra header)
        const page = await ctx.newPage();
        await page.goto(`${t.cloud.url}${note.html_url}?lang=fr`);
        expect((await page.locator("#doc-number").innerText()).trim()).to.match(new RegExp(`${note.number}$`));
        expect((await page.locator("#doc-ttc").innerText()).replace(/[\u202f\u00a0]/g, " ")).to.equal(frMoney(amount));
        const [download] = await Promise.all([page.waitForEvent("download"), page.click("#doc-pdf")]);
        const { text } = await pdfText(readFileSync(await download.path()));
        const { ht, vat } = vatSplit(amount, 2000);
        for (const s of [note.number, frMoney(amount), frMoney(ht), frMoney(vat)]) expect(text, text).to.contain(s);
        expect(note.number).to.match(/^A-\d{4}-\d{6}$/);
      } finally {
        await ctx.close();
      }
    });
  });
}
