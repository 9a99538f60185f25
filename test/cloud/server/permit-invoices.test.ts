/**
 * Permit invoices (issue 16): every paid permit period gets exactly one invoice — the first one
 * when the Checkout is paid, then each renewal — and redelivered invoice.paid events issue none
 * more. The holder reaches them from the permit's page (page and PDF, authorised by the permit's
 * token; a wrong token is a 404 page), operators through /api/operator/documents/:id.
 * On PGlite + aedes and on PostgreSQL + Mosquitto, against the Stripe test emulator.
 */
import { randomBytes } from "node:crypto";
import { expect } from "chai";
import { getPermit, getPermitPlan, type PermitRow } from "../../../cloud/db/index";
import { vatSplit } from "../../../cloud/billing/vat";
import { startCloud } from "../../../cloud/server/index";
import { silentLogger } from "../../../host/log";
import { frMoney, pdfText } from "../billing/pdf-text";
import { postEvent } from "./refund-fixtures";
import { LOW_SCRYPT, TEMPLATE_DIR, login, startOnServers, until, type TestCloud } from "./helpers";

const DAY = 86_400;
const unescape = (s: string) => s.replace(/&amp;/g, "&");

async function postForm(url: string, fields: Record<string, string>): Promise<Response> {
  return fetch(url, { method: "POST", redirect: "manual", headers: { "Content-Type": "application/x-www-form-urlencoded" }, body: new URLSearchParams(fields).toString() });
}

function invoiceSuite(title: string, start: (ctx: Mocha.Context) => Promise<TestCloud>): void {
  describe(title, function () {
    this.timeout(60_000);
    let t: TestCloud;
    let token: string;

    before(async function () {
      this.timeout(180_000);
      t = await start(this);
      token = await login(t.cloud.url, t.admin.username, t.admin.password);
    });
    after(async () => {
      await t?.close();
    });

    const invoicesOf = async (permitId: string) =>
      t.cloud.db.sql<{ documentId: string; number: string; totalTtc: number; content: { plan?: { period_from: string; period_to: string }; payment?: { provider_ref: string | null } } }[]>`
        SELECT d.document_id, d.number, d.total_ttc, d.content FROM billing_permit_invoices b JOIN billing_documents d ON d.document_id = b.document_id WHERE b.permit_id = ${permitId} ORDER BY d.seq`;

    async function buy(): Promise<string> {
      const uid = randomBytes(5).toString("hex").toUpperCase();
      const r = await postForm(`${t.cloud.url}/permits/${t.siteId}/buy?lang=en`, { plan: `${t.siteId}-monthly`, email: "holder@example.test", badge: uid, plate: "" });
      expect(r.status, await r.clone().text()).to.equal(303);
      const y = (new Date().getUTCFullYear() + 2) % 100;
      const paid = await postForm(String(r.headers.get("location")), { card_number: "4242424242424242", exp: `12/${String(y).padStart(2, "0")}`, cvc: "123", locale: "en" });
      expect(paid.status).to.equal(303);
      return String(new URL(String(paid.headers.get("location"))).searchParams.get("permit"));
    }

    it("the paid Checkout gives one invoice, a renewal a second; redelivered invoice.paid events none more; holder and operators read them", async () => {
      const id = await buy();
      const active: PermitRow = await until(async () => {
        const p = await getPermit(t.cloud.db.sql, id);
        return p.status === "active" ? p : undefined;
      }, 15_000, "the permit active");
      const plan = await getPermitPlan(t.cloud.db.sql, active.planId);
      const [first] = await until(async () => {
        const rows = await invoicesOf(id);
        return rows.length > 0 ? rows : undefined;
      }, 15_000, "the first period's invoice");
      expect(first.number).to.match(/^F-\d{4}-\d{6}$/);
      expect(first.totalTtc).to.equal(plan.amount);
      expect(first.content.payment?.provider_ref).to.match(/^in_/);

      // Redelivered: every invoice.paid the emulator sent, again — no second invoice.
      const emulator = t.cloud.emulator;
      if (!emulator) throw new Error("these tests drive the in-process Stripe test emulator");
      await emulator.whenWebhooksIdle(10_000);
      for (const e of emulator.events().filter((ev) => ev.type === "invoice.paid")) await emulator.resendEvent(e.id);
      await emulator.whenWebhooksIdle(10_000);
      expect(await invoicesOf(id)).to.have.length(1);
      // The same paid invoice under another event id (the webhook table cannot tell): still one.
      const paidEvent = emulator.events().find((ev) => ev.type === "invoice.paid" && ev.data.object.id === first.content.payment?.provider_ref);
      expect(paidEvent, "the first period's invoice.paid").to.not.equal(undefined);
      const again = await postEvent(t, { id: `evt_again_${randomBytes(4).toString("hex")}`, type: "invoice.paid", object: (paidEvent as NonNullable<typeof paidEvent>).data.object });
      expect(again).to.deep.equal({ status: 200, outcome: "permit" });
      expect(await invoicesOf(id)).to.have.length(1);

      // The holder's page lists it; its page and PDF open with the permit's token, not without.
      const done = await (await fetch(`${t.cloud.url}/permits/${t.siteId}/done?permit=${id}&t=${active.manageToken}&lang=fr`)).text();
      expect(done).to.contain('id="invoices"').and.to.contain(first.number);
      const href = unescape(/class="invoice" href="([^"]+)"/.exec(done)?.[1] ?? "");
      const pdfHref = unescape(/class="invoice-pdf" href="([^"]+)"/.exec(done)?.[1] ?? "");
      const page = await fetch(`${t.cloud.url}${href}`);
      expect(page.status).to.equal(200);
      expect((await page.text()).replace(/[\u202f\u00a0]/g, " ")).to.contain(first.number).and.to.contain(frMoney(plan.amount));
      const pdf = await fetch(`${t.cloud.url}${pdfHref}`);
      expect(pdf.headers.get("content-type")).to.equal("application/pdf");
      const { text } = await pdfText(Buffer.from(await pdf.arrayBuffer()));
      const { ht, vat } = vatSplit(plan.amount, 2000);
      for (const s of [first.number, frMoney(plan.amount), frMoney(ht), frMoney(vat)]) expect(text, text).to.contain(s);
      const wrong = await fetch(`${t.cloud.url}${href.replace(/t=[^&]+/, "t=not-the-token")}`);
      expect([wrong.status, wrong.headers.get("content-type")?.split(";")[0]]).to.deep.equal([404, "text/html"]);

      const op = await fetch(`${t.cloud.url}/api/operator/documents/${first.documentId}`, { headers: { Authorization: `Bearer ${token}` } });
      expect(op.status).to.equal(200);
      expect(await op.json()).to.deep.include({ kind: "invoice", number: first.number, total_ttc: plan.amount });

      // A month later the renewal is paid: its own invoice, for the next period.
      await emulator.advanceClock(31 * DAY);
      const both = await until(async () => {
        const rows = await invoicesOf(id);
        return rows.length >= 2 ? rows : undefined;
      }, 15_000, "the renewal's invoice");
      await emulator.whenWebhooksIdle(10_000);
      expect(await invoicesOf(id)).to.have.length(2);
      expect(both[1].content.plan?.period_from).to.be.a("string").and.not.equal(first.content.plan?.period_from);
      expect(both[1].totalTtc).to.equal(plan.amount);
    });
  });
}

invoiceSuite("permit invoices (PGlite, aedes, emulator)", async () => {
  const cloud = await startCloud({ port: 0, mqttPort: 0, pgliteTemplateDir: TEMPLATE_DIR, stripe: { emulatorPort: 0 }, scryptCost: LOW_SCRYPT, instanceId: `t-${randomBytes(3).toString("hex")}`, relayPollMs: 50, seedDemo: true, createFirstAdmin: true, logger: silentLogger });
  if (!cloud.firstAdmin) throw new Error("expected a first admin");
  return { cloud, siteId: "paris-centre", kind: "embedded", admin: cloud.firstAdmin, close: () => cloud.close() };
});
invoiceSuite("permit invoices (PostgreSQL + Mosquitto, emulator)", (ctx) => startOnServers(ctx));
