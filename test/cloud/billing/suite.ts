/**
 * Billing documents on a real database (run on PGlite and on the PostgreSQL server): the VAT
 * split, gapless numbering per site / kind / year (also under concurrent issues with
 * rollbacks), the PDF read back with pdfjs-dist, reproducible bytes and their checksum (stored
 * at issue, or for a receipt at its first reading),
 * immutability enforced by the database, a receipt and a credit note for a paid payment.
 */
import { randomBytes } from "node:crypto";
import { expect } from "chai";
import fc from "fast-check";
import { ensurePdf, getDocument, listDocumentsOfSite, sha256Hex } from "../../../cloud/billing/documents";
import { issueCreditNote, issueInvoice, issueReceipt, issueReceipts } from "../../../cloud/billing/issue";
import { DEMO_LEGAL } from "../../../cloud/billing/legal";
import { yearIn } from "../../../cloud/billing/numbering";
import { renderPdf } from "../../../cloud/billing/render-pdf";
import { vatSplit } from "../../../cloud/billing/vat";
import { applyPaymentEvent, attachProviderRef, createEntrySession, createPayment, insertTariff, priceSession, upsertSite, type Database } from "../../../cloud/db/index";
import { frMoney, pdfText } from "./pdf-text";
import Stripe from "stripe";
import { queueReceipt, receiptQueueLength, receiptStateOf } from "../../../cloud/billing/receipt-queue";
import { ReceiptWorker } from "../../../cloud/billing/receipt-worker";
import { silentLogger } from "../../../host/log";

const LEGAL = { company: "Parkings Test SA", address: "2 place du Test, 69001 Lyon", siret: "123 456 789 00012", vatId: "FR12123456789" };

export function billingSuite(title: string, opts: { open(ctx: Mocha.Context): Promise<Database>; close(db: Database): Promise<void>; concurrent: boolean }): void {
  describe(title, function () {
    this.timeout(60_000);
    let db: Database;
    before(async function () {
      this.timeout(120_000);
      db = await opts.open(this);
    });
    after(async () => {
      if (db) await opts.close(db);
    });

    const newSite = async (vatBp = 2000): Promise<string> => {
      const siteId = `b-${randomBytes(4).toString("hex")}`;
      await upsertSite(db.sql, { siteId, name: `Billing ${siteId}`, timeZone: "Europe/Paris", currency: "EUR" });
      if (vatBp !== 2000) await db.sql`UPDATE sites SET billing_vat_rate_bp = ${vatBp} WHERE site_id = ${siteId}`;
      return siteId;
    };

    const invoice = (siteId: string, amount: number, at = new Date()) =>
      db.tx((tx) => issueInvoice(tx, { siteId, customer: { name: "Jeanne Martin", email: "jeanne@example.org" }, plan: { name: "Mensuel", periodFrom: "2026-12-01", periodTo: "2026-12-31" }, amount, currency: "EUR", legal: LEGAL, at }));

    /** A session paid by card: entry, priced quote, payment → paid (the state machines' path). */
    async function paidPayment(siteId: string, amount: number) {
      const [tariff] = [await insertTariff(db.sql, { siteId, effectiveFrom: new Date(0), document: { test: true } })];
      const ref = `pi_${randomBytes(8).toString("hex")}`;
      return db.tx(async (tx) => {
        const { session } = await createEntrySession(tx, { siteId, identity: { method: "plate", value: `AB${randomBytes(3).toString("hex")}`.toUpperCase() }, entryTs: new Date(Date.now() - 3600_000) });
        const breakdown = { lane_id: "L1", price: { duration_s: 3600, exit: new Date().toISOString(), breakdown: [{ kind: "time", label: "1re heure", amount }] }, labels: { fr: ["1re heure"], en: ["First hour"] } };
        await priceSession(tx, { sessionId: session.sessionId, amount, currency: "EUR", tariffId: tariff.tariffId, tariffVersion: tariff.version, breakdown, pricedAt: new Date() });
        const { payment } = await createPayment(tx, { sessionId: session.sessionId, provider: "stripe", idempotencyKey: `k-${ref}` });
        await attachProviderRef(tx, payment.paymentId, ref);
        const r = await applyPaymentEvent(tx, ref, "paid", { validatedAt: new Date() });
        return { payment: r.payment, session: r.session };
      });
    }

    it("splits TTC into HT + VAT in integer minor units (HT rounded half up, VAT the rest), for any amount and rate", () => {
      expect(vatSplit(980, 2000)).to.deep.equal({ ttc: 980, ht: 817, vat: 163 });
      expect(vatSplit(1000, 550)).to.deep.equal({ ttc: 1000, ht: 948, vat: 52 });
      expect(vatSplit(0, 2000)).to.deep.equal({ ttc: 0, ht: 0, vat: 0 });
      fc.assert(
        fc.property(fc.integer({ min: 0, max: 100_000_000 }), fc.integer({ min: 0, max: 10_000 }), (ttc, rate) => {
          const s = vatSplit(ttc, rate);
          expect(s.ht + s.vat).to.equal(ttc);
          // |HT − TTC × 10000 / (10000 + rate)| ≤ ½ minor unit
          expect(Math.abs(s.ht * (10_000 + rate) - ttc * 10_000)).to.be.at.most((10_000 + rate) / 2);
        }),
      );
    });

    it("an invoice: numbered F-<year>-000001 then 000002 for the site, VAT at the site's rate, PDF read back with the figures", async () => {
      const siteId = await newSite(550);
      const at = new Date("2026-06-15T10:00:00Z");
      const a = await invoice(siteId, 3000, at);
      const b = await invoice(siteId, 4500, at);
      expect([a.number, b.number]).to.deep.equal(["F-2026-000001", "F-2026-000002"]);
      const split = vatSplit(4500, 550);
      expect([b.totalTtc, b.totalHt, b.totalVat, b.vatRateBp]).to.deep.equal([4500, split.ht, split.vat, 550]);
      // An invoice's PDF is stored in its issuing transaction.
      expect(b.pdfSha256).to.match(/^[0-9a-f]{64}$/);
      const { pdf, sha256 } = await ensurePdf(db.sql, b);
      expect([sha256Hex(pdf), sha256]).to.deep.equal([b.pdfSha256, b.pdfSha256]);
      const { text, info } = await pdfText(pdf);
      expect(text).to.contain("F-2026-000002");
      expect(text).to.contain(frMoney(4500));
      expect(text).to.contain(frMoney(split.ht));
      expect(text).to.contain(frMoney(split.vat));
      expect(text).to.contain("15/06/2026 12:00"); // issue date on the site's clock
      expect(text).to.contain("Jeanne Martin");
      expect(text).to.contain(LEGAL.siret);
      expect(text).to.contain("5,5 %");
      expect(String(info.Title)).to.contain("F-2026-000002");
      // Reproducible: the same frozen content renders to the same bytes.
      expect(sha256Hex(await renderPdf(b.content))).to.equal(b.pdfSha256);
    });

    it("numbers per site, per kind and per year: another site and another year start again at 1", async () => {
      const s1 = await newSite();
      const s2 = await newSite();
      await invoice(s1, 1000, new Date("2026-03-01T12:00:00Z"));
      const other = await invoice(s2, 1000, new Date("2026-03-01T12:00:00Z"));
      // 31 Dec 23:30 UTC is already 1 January on the site's clock (Europe/Paris).
      const newYear = await invoice(s1, 1000, new Date("2026-12-31T23:30:00Z"));
      expect(yearIn(new Date("2026-12-31T23:30:00Z"), "Europe/Paris")).to.equal(2027);
      expect(other.number).to.equal("F-2026-000001");
      expect(newYear.number).to.equal("F-2027-000001");
    });

    it("issues without gaps under concurrent issues, some of which roll back", async function () {
      this.timeout(120_000);
      const siteId = await newSite();
      const n = 24;
      const results = await Promise.allSettled(
        Array.from({ length: n }, (_, i) =>
          db.tx(async (tx) => {
            const d = await issueInvoice(tx, { siteId, customer: { name: `C${i}` }, plan: { name: "M", periodFrom: "2026-01-01", periodTo: "2026-01-31" }, amount: 1000 + i, currency: "EUR", legal: LEGAL });
            if (i % 3 === 0) throw new Error(`rolled back on purpose (${d.number})`);
            return d;
          }),
        ),
      );
      const committed = results.filter((r) => r.status === "fulfilled").length;
      expect(committed).to.equal(n - Math.ceil(n / 3));
      const year = yearIn(new Date(), "Europe/Paris");
      const docs = await listDocumentsOfSite(db.sql, siteId, "invoice", year);
      expect(docs.map((d) => d.seq)).to.deep.equal(Array.from({ length: committed }, (_, i) => i + 1));
      expect(new Set(docs.map((d) => d.number)).size).to.equal(committed);
      // The numbers rolled-back issues had taken were given again to issues that committed:
      // that is what a sequence would not do (it would leave them as gaps).
      const rolledBack = results.flatMap((r) => (r.status === "rejected" ? [/\((F-[^)]+)\)/.exec(String((r.reason as Error).message))?.[1] ?? "?"] : []));
      expect(rolledBack.length).to.equal(n - committed);
      expect(rolledBack.filter((x) => docs.some((d) => d.number === x)).length).to.be.greaterThan(0);
    });

    it("receipts stay gapless under concurrent issues for one site, each rolled back with the transaction that issued it", async function () {
      this.timeout(120_000);
      const siteId = await newSite();
      const [tariff] = [await insertTariff(db.sql, { siteId, effectiveFrom: new Date(0), document: { test: true } })];
      const n = 18;
      const results = await Promise.allSettled(
        Array.from({ length: n }, (_, i) =>
          db.tx(async (tx) => {
            const ref = `pi_${randomBytes(8).toString("hex")}`;
            const { session } = await createEntrySession(tx, { siteId, identity: { method: "plate", value: `CC${i}${randomBytes(2).toString("hex")}`.toUpperCase() }, entryTs: new Date(Date.now() - 3600_000) });
            await priceSession(tx, { sessionId: session.sessionId, amount: 500 + i, currency: "EUR", tariffId: tariff.tariffId, tariffVersion: tariff.version, breakdown: { lane_id: "L1" }, pricedAt: new Date() });
            const { payment } = await createPayment(tx, { sessionId: session.sessionId, provider: "stripe", idempotencyKey: `k-${ref}` });
            await attachProviderRef(tx, payment.paymentId, ref);
            const r = await applyPaymentEvent(tx, ref, "paid", { validatedAt: new Date() });
            const receipt = await issueReceipt(tx, { payment: r.payment, session: r.session, card: null, legal: LEGAL });
            if (i % 4 === 1) throw new Error(`payment rolled back on purpose (${receipt.number})`);
            return { paymentId: payment.paymentId, number: receipt.number };
          }),
        ),
      );
      const ok = results.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
      const docs = await listDocumentsOfSite(db.sql, siteId, "receipt", yearIn(new Date(), "Europe/Paris"));
      expect(docs.map((d) => d.seq)).to.deep.equal(Array.from({ length: ok.length }, (_, i) => i + 1));
      expect(docs.map((d) => d.paymentId).sort()).to.deep.equal(ok.map((o) => o.paymentId).sort());
      // Every committed payment is paid and has its one receipt; no receipt outlived a rolled-back payment.
      const [{ paid }] = await db.sql<{ paid: number }[]>`SELECT count(*)::int4 AS paid FROM payments p JOIN sessions s USING (session_id) WHERE s.site_id = ${siteId} AND p.state = 'paid'`;
      expect(paid).to.equal(ok.length);
    });

    it("a receipt for a paid payment: frozen content (card, VAT, lines in both languages), once per payment", async () => {
      const siteId = await newSite();
      const { payment, session } = await paidPayment(siteId, 980);
      const card = { brand: "visa", last4: "4242" };
      const r1 = await db.tx((tx) => issueReceipt(tx, { payment, session, card, legal: LEGAL }));
      const r2 = await db.tx((tx) => issueReceipt(tx, { payment, session, card, legal: LEGAL }));
      expect(r2.documentId).to.equal(r1.documentId);
      expect(r1.number).to.match(/^R-\d{4}-000001$/);
      expect(r1.content.payment?.card).to.deep.equal(card);
      expect(r1.content.lines).to.deep.equal([{ label: { fr: "1re heure", en: "First hour" }, amount: 980 }]);
      expect([r1.totalTtc, r1.totalHt, r1.totalVat]).to.deep.equal([980, 817, 163]);
      // A receipt's PDF is stored at its first reading, the same bytes whoever reads first.
      expect(r1.pdfSha256).to.equal(null);
      const [first, second] = await Promise.all([ensurePdf(db.sql, r1), ensurePdf(db.sql, r1)]);
      expect(second.sha256).to.equal(first.sha256);
      expect(sha256Hex(await renderPdf(r1.content))).to.equal(first.sha256);
      expect((await getDocument(db.sql, r1.documentId))?.pdfSha256).to.equal(first.sha256);
      const { text } = await pdfText(first.pdf);
      for (const s of [r1.number, "9,80 €", "8,17 €", "1,63 €", "Visa •••• 4242", session.identityValue]) expect(text).to.contain(s);
    });

    it("a batch of receipts (the receipt worker's): consecutive numbers per site in the batch's order, a receipt already issued given back, none issued twice", async () => {
      const [s1, s2] = [await newSite(), await newSite(550)];
      const a = await paidPayment(s1, 700);
      const b = await paidPayment(s2, 1100);
      const c = await paidPayment(s1, 900);
      const d = await paidPayment(s1, 1300);
      const earlier = await db.tx((tx) => issueReceipt(tx, { ...c, card: null, legal: LEGAL }));
      const card = { brand: "mastercard", last4: "4444" };
      const batch = await db.tx((tx) => issueReceipts(tx, [a, b, c, d].map((x) => ({ ...x, card, legal: LEGAL }))));
      expect(batch.map((r) => r.paymentId)).to.deep.equal([a, b, c, d].map((x) => x.payment.paymentId));
      expect(batch[2].documentId).to.equal(earlier.documentId);
      const year = yearIn(new Date(), "Europe/Paris");
      expect([batch[0].number, batch[3].number]).to.deep.equal([`R-${year}-000002`, `R-${year}-000003`]);
      expect(batch[1].number).to.equal(`R-${year}-000001`);
      expect([batch[1].totalTtc, batch[1].vatRateBp, batch[1].siteId]).to.deep.equal([1100, 550, s2]);
      expect(batch[3].content.number).to.equal(batch[3].number);
      expect(batch[3].content.payment?.card).to.deep.equal(card);
      expect((await listDocumentsOfSite(db.sql, s1, "receipt", year)).map((r) => r.seq)).to.deep.equal([1, 2, 3]);
      const again = await db.tx((tx) => issueReceipts(tx, [d, a].map((x) => ({ ...x, card: null, legal: LEGAL }))));
      expect(again.map((r) => r.documentId)).to.deep.equal([batch[3].documentId, batch[0].documentId]);
      expect((await listDocumentsOfSite(db.sql, s1, "receipt", year)).length).to.equal(3);
    });

    it("a credit note for a refund: A- numbering, names the receipt it credits, never more than the payment", async () => {
      const siteId = await newSite();
      const { payment, session } = await paidPayment(siteId, 1500);
      const receipt = await db.tx((tx) => issueReceipt(tx, { payment, session, card: null, legal: LEGAL }));
      const refundId = `re_${randomBytes(6).toString("hex")}`;
      const cn = await db.tx((tx) => issueCreditNote(tx, { refundId, paymentId: payment.paymentId, amount: 500, currency: "EUR", reason: "barrier fault", legal: LEGAL }));
      expect(cn.number).to.match(/^A-\d{4}-000001$/);
      expect(cn.content.refund).to.deep.equal({ refund_id: refundId, reason: "barrier fault", original_number: receipt.number });
      expect([cn.totalTtc, cn.totalHt, cn.totalVat]).to.deep.equal([500, 417, 83]);
      const again = await db.tx((tx) => issueCreditNote(tx, { refundId, paymentId: payment.paymentId, amount: 500, currency: "EUR", reason: "barrier fault" }));
      expect(again.documentId).to.equal(cn.documentId);
      expect(cn.pdfSha256).to.match(/^[0-9a-f]{64}$/);
      const { text } = await pdfText((await ensurePdf(db.sql, cn)).pdf);
      for (const s of [cn.number, receipt.number, "5,00 €", "4,17 €", "0,83 €", "barrier fault"]) expect(text).to.contain(s);
      let refused: unknown;
      try {
        await db.tx((tx) => issueCreditNote(tx, { refundId: `${refundId}x`, paymentId: payment.paymentId, amount: 1501, currency: "EUR", reason: "too much" }));
      } catch (err) {
        refused = err;
      }
      expect(String(refused)).to.match(/exceeds the payment/);
    });

    it("is immutable: the database refuses UPDATE, DELETE and TRUNCATE of an issued document", async () => {
      const siteId = await newSite();
      const d = await invoice(siteId, 1234);
      for (const stmt of [
        () => db.sql`UPDATE billing_documents SET total_ttc = 1, total_ht = 1, total_vat = 0 WHERE document_id = ${d.documentId}`,
        () => db.sql`UPDATE billing_documents SET content = '{}'::jsonb WHERE document_id = ${d.documentId}`,
        () => db.sql`UPDATE billing_document_pdfs SET pdf = ${Buffer.from("forged")} WHERE document_id = ${d.documentId}`,
        () => db.sql`DELETE FROM billing_document_pdfs WHERE document_id = ${d.documentId}`,
        () => db.sql`TRUNCATE billing_document_pdfs`,
        () => db.sql`DELETE FROM billing_documents WHERE document_id = ${d.documentId}`,
        () => db.sql`TRUNCATE billing_documents CASCADE`,
      ]) {
        let err: unknown;
        try {
          await stmt();
        } catch (e) {
          err = e;
        }
        expect(String((err as Error | undefined)?.message)).to.match(/immutable once issued/);
      }
      const still = await getDocument(db.sql, d.documentId);
      expect([still?.totalTtc, still?.pdfSha256]).to.deep.equal([1234, d.pdfSha256]);
      expect(sha256Hex((await ensurePdf(db.sql, d)).pdf)).to.equal(d.pdfSha256);
    });

    it("uses the demo legal details when none are configured", async () => {
      const siteId = await newSite();
      const d = await db.tx((tx) => issueInvoice(tx, { siteId, customer: { name: "X" }, plan: { name: "M", periodFrom: "2026-01-01", periodTo: "2026-01-31" }, amount: 100, currency: "EUR" }));
      expect(d.content.issuer.company).to.equal(process.env.SYSPARK_BILLING_COMPANY ?? DEMO_LEGAL.company);
    });

    it("a page's receipt state is never 'none issued, none owed' when the worker commits between its reads", async () => {
      const siteId = await newSite();
      const { payment } = await paidPayment(siteId, 450);
      await db.tx((tx) => queueReceipt(tx, payment.paymentId));
      const stripe = new Stripe("sk_test_unreachable", { host: "127.0.0.1", port: 1, protocol: "http" });
      const worker = new ReceiptWorker({ db, stripe, logger: silentLogger, legal: LEGAL });
      // The worker's commit (queue row gone, receipt inserted) falls right after the page's first read.
      let reads = 0;
      const racing = new Proxy(db.sql, {
        apply: async (target, self, args) => {
          const rows = await Reflect.apply(target, self, args);
          if (reads++ === 0) expect(await worker.drain()).to.equal(1);
          return rows;
        },
      });
      const state = await receiptStateOf(racing, payment.paymentId);
      expect(reads).to.equal(2);
      expect(state.receipt?.number, "the receipt the worker just issued").to.match(/^R-\d{4}-000001$/);
      expect(state.pending).to.equal(false);
    });

    it("receipt workers (several instances at once) issue each owed receipt exactly once, gapless; a stopping worker gives its claims back", async function () {
      this.timeout(120_000);
      const siteId = await newSite();
      const owed: string[] = [];
      for (let i = 0; i < 12; i++) {
        const { payment } = await paidPayment(siteId, 300 + i);
        await db.tx((tx) => queueReceipt(tx, payment.paymentId));
        owed.push(payment.paymentId);
      }
      // The provider out of reach: receipts go without the card line, never held up.
      const stripe = new Stripe("sk_test_unreachable", { host: "127.0.0.1", port: 1, protocol: "http" });
      const worker = () => new ReceiptWorker({ db, stripe, logger: silentLogger, batch: 3, legal: LEGAL });
      // A worker told to stop at once claims a batch and gives it back: nothing issued, nothing left claimed.
      expect(await worker().drain(() => false)).to.equal(0);
      expect((await db.sql<{ n: number }[]>`SELECT count(*)::int4 AS n FROM billing_receipt_queue WHERE claimed_until IS NOT NULL`)[0].n).to.equal(0);
      const issued = await Promise.all([worker().drain(), worker().drain(), worker().drain()]);
      expect(issued.reduce((a, b) => a + b, 0)).to.equal(owed.length);
      const docs = await listDocumentsOfSite(db.sql, siteId, "receipt", yearIn(new Date(), "Europe/Paris"));
      expect(docs.map((d) => d.seq)).to.deep.equal(Array.from({ length: owed.length }, (_, i) => i + 1));
      expect(docs.map((d) => d.paymentId).sort()).to.deep.equal([...owed].sort());
      expect(docs.every((d) => d.content.payment?.card === null)).to.equal(true);
      expect(await receiptQueueLength(db.sql)).to.equal(0);
      expect(await worker().drain()).to.equal(0);
    });
  });
}
