/**
 * The revenue report on a real database (run on PGlite and on the PostgreSQL server): money of
 * every mode across a DST change and a month boundary, partial and full refunds (one a month after
 * its payment), rows that are not money (failed / pending payments, a failed refund, a failed
 * prepayment); the report equals, to the cent, per site, mode, currency and bucket, the sums
 * computed directly from the tables in JS; a fast-check property with random payments and
 * refunds; and the HTTP routes behind the real auth guard.
 */
import type { AddressInfo } from "node:net";
import type { Server } from "node:http";
import { expect } from "chai";
import express from "express";
import fc from "fast-check";
import { createOperator, hashSecret, type Database } from "../../../cloud/db/index";
import { revenueRows, type Granularity, type RevenueQuery, type RevenueRow } from "../../../cloud/db/revenue";
import { errorHandler } from "../../../cloud/http/errors";
import { consoleRevenueRouter } from "../../../cloud/http/console/revenue";
import { Auth } from "../../../cloud/server/auth";
import { silentLogger } from "../../../host/log";
import { addPayment, addPermitInvoice, addPrepayment, addRefund, addSite, expectedReport, type Expected } from "./fixtures";

const T = (iso: string) => new Date(iso);
const LOW_SCRYPT = { N: 1 << 10, r: 8, p: 1 };

function asMap(rows: readonly RevenueRow[]): Map<string, Expected> {
  const m = new Map<string, Expected>();
  for (const r of rows) {
    expect(r.net).to.equal(r.gross - r.refunds);
    m.set(`${r.bucket}|${r.siteId}|${r.mode}|${r.currency}`, { gross: r.gross, refunds: r.refunds, count: r.count, refundCount: r.refundCount });
  }
  return m;
}

async function reconcile(db: Database, q: RevenueQuery): Promise<RevenueRow[]> {
  const rows = await revenueRows(db.sql, q);
  expect(Object.fromEntries(asMap(rows))).to.deep.equal(Object.fromEntries(await expectedReport(db, q)));
  return rows;
}

export function revenueSuite(title: string, opts: { open(ctx: Mocha.Context): Promise<Database>; close(db: Database): Promise<void> }): void {
  describe(title, function () {
    this.timeout(120_000);
    let db: Database;
    let paris: string;
    let nyc: string;
    before(async function () {
      db = await opts.open(this);
      paris = await addSite(db, "Europe/Paris");
      nyc = await addSite(db, "America/New_York", "USD");
      // Paris: DST starts Sunday 2026-03-29 (02:00 CET → 03:00 CEST); March ends at 2026-03-31T22:00Z.
      await addPayment(db, { siteId: paris, amount: 111, at: T("2026-02-28T22:30:00Z") }); // 02-28 23:30 local: before the range
      await addPayment(db, { siteId: paris, amount: 222, at: T("2026-02-28T23:30:00Z") }); // 03-01 00:30 local: in
      const p1000 = await addPayment(db, { siteId: paris, amount: 1000, at: T("2026-03-28T22:30:00Z") }); // 03-28 23:30 CET
      const p2500 = await addPayment(db, { siteId: paris, amount: 2500, at: T("2026-03-28T23:30:00Z") }); // 03-29 00:30 CET
      const hold = await addPayment(db, { siteId: paris, amount: 4000, at: T("2026-03-29T22:30:00Z"), mode: "hold" }); // 03-30 00:30 CEST
      await addPayment(db, { siteId: paris, amount: 700, at: T("2026-03-31T21:59:00Z") }); // 03-31 23:59 CEST
      await addPayment(db, { siteId: paris, amount: 800, at: T("2026-03-31T22:00:00Z") }); // 04-01 00:00 CEST
      await addPayment(db, { siteId: paris, amount: 999, at: T("2026-03-30T10:00:00Z"), state: "failed" });
      await addPayment(db, { siteId: paris, amount: 998, at: T("2026-03-30T10:00:00Z"), state: "pending" });
      await addRefund(db, { paymentId: p2500, amount: 300, at: T("2026-04-02T08:00:00Z") }); // partial, a month later
      await addRefund(db, { paymentId: hold, amount: 4000, at: T("2026-03-30T10:00:00Z") }); // full
      await addRefund(db, { paymentId: p1000, amount: 200, at: T("2026-03-30T10:00:00Z"), state: "failed" });
      await addPrepayment(db, { siteId: paris, amount: 1200, paidAt: T("2026-03-29T10:00:00Z") });
      await addPrepayment(db, { siteId: paris, amount: 900, paidAt: T("2026-03-15T10:00:00Z"), refundedAt: T("2026-04-01T10:00:00Z") });
      await addPrepayment(db, { siteId: paris, amount: 500, paidAt: null });
      await addPermitInvoice(db, { siteId: paris, amount: 6000, at: T("2026-03-31T23:30:00Z") }); // 04-01 01:30 CEST
      // New York: DST starts Sunday 2026-03-08 (02:00 EST → 03:00 EDT).
      await addPayment(db, { siteId: nyc, amount: 500, currency: "USD", at: T("2026-03-08T04:30:00Z") }); // 03-07 23:30 EST
      const n1500 = await addPayment(db, { siteId: nyc, amount: 1500, currency: "USD", at: T("2026-03-08T06:30:00Z") }); // 03-08 01:30 EST
      await addRefund(db, { paymentId: n1500, amount: 1500, at: T("2026-03-09T03:30:00Z") }); // 03-08 23:30 EDT
    });
    after(async () => {
      if (db) await opts.close(db);
    });

    const range = { from: "2026-03-01", to: "2026-04-30" };

    for (const granularity of ["day", "week", "month"] as Granularity[]) {
      it(`by ${granularity}: equals the sums computed from the tables, to the cent, per bucket, site, mode and currency`, async () => {
        const rows = await reconcile(db, { ...range, granularity });
        expect(rows.length).to.be.greaterThan(3);
      });
    }

    it("dates money in the site's zone across DST: local midnights as UTC instants, ISO weeks from Monday", async () => {
      const day = await revenueRows(db.sql, { ...range, granularity: "day", siteIds: [paris] });
      const at = (b: string, mode = "exit") => day.find((r) => r.bucket === b && r.mode === mode);
      expect(at("2026-03-01")?.gross).to.equal(222);
      expect(at("2026-03-28")?.gross).to.equal(1000);
      expect(at("2026-03-29")).to.include({ gross: 2500, count: 1 });
      expect(at("2026-03-29")?.bucketStart.toISOString()).to.equal("2026-03-28T23:00:00.000Z"); // CET
      expect(at("2026-03-30", "hold")).to.include({ gross: 4000, refunds: 4000, net: 0, count: 1, refundCount: 1 });
      expect(at("2026-03-30", "hold")?.bucketStart.toISOString()).to.equal("2026-03-29T22:00:00.000Z"); // CEST
      expect(at("2026-04-01")?.gross).to.equal(800);
      expect(day.some((r) => r.gross === 111 || r.gross === 999 || r.gross === 998)).to.equal(false);
      const week = await revenueRows(db.sql, { ...range, granularity: "week", siteIds: [paris], modes: ["exit"] });
      expect(week.map((r) => r.bucket)).to.include.members(["2026-02-23", "2026-03-23", "2026-03-30"]);
      expect(week.find((r) => r.bucket === "2026-03-23")?.gross).to.equal(3500); // Sat 28 + Sun 29
    });

    it("nets refunds on their own day (a March payment refunded in April lowers April), per mode; permits and prepayments by their own times", async () => {
      const month = await revenueRows(db.sql, { ...range, granularity: "month", siteIds: [paris] });
      const get = (b: string, mode: string) => month.find((r) => r.bucket === b && r.mode === mode);
      expect(get("2026-03-01", "exit")).to.include({ gross: 222 + 1000 + 2500 + 700, refunds: 0, count: 4 });
      expect(get("2026-04-01", "exit")).to.include({ gross: 800, refunds: 300, net: 500, count: 1, refundCount: 1 });
      expect(get("2026-03-01", "prepay")).to.include({ gross: 2100, refunds: 0 });
      expect(get("2026-04-01", "prepay")).to.include({ gross: 0, refunds: 900, net: -900, count: 0, refundCount: 1 });
      expect(get("2026-04-01", "permit")).to.include({ gross: 6000, net: 6000 });
      expect(get("2026-03-01", "permit")).to.equal(undefined);
      const ny = await revenueRows(db.sql, { ...range, granularity: "day", siteIds: [nyc] });
      expect(ny.map((r) => [r.bucket, r.currency, r.gross, r.refunds])).to.deep.equal([
        ["2026-03-07", "USD", 500, 0],
        ["2026-03-08", "USD", 1500, 1500],
      ]);
    });

    it("filters by site and by mode (exit without hold, hold alone)", async () => {
      await reconcile(db, { ...range, granularity: "day", siteIds: [nyc] });
      await reconcile(db, { ...range, granularity: "week", modes: ["exit"] });
      const holds = await reconcile(db, { ...range, granularity: "month", modes: ["hold"] });
      expect(holds.every((r) => r.mode === "hold")).to.equal(true);
      await reconcile(db, { ...range, granularity: "month", modes: ["prepay", "permit"] });
    });

    it("exotic midnights: an ambiguous one (Havana turns 01:00 back to 00:00) and a day in two pieces (St John's 00:01 change, 2010)", async () => {
      // Havana, 2026-11-01: 00:00–01:00 happens twice (CDT then CST); the day starts at the FIRST midnight.
      const hav = await addSite(db, "America/Havana");
      await addPayment(db, { siteId: hav, amount: 301, at: T("2026-11-01T03:59:00Z") }); // 10-31 23:59 CDT
      await addPayment(db, { siteId: hav, amount: 302, at: T("2026-11-01T04:30:00Z") }); // 11-01 00:30 CDT (first pass)
      await addPayment(db, { siteId: hav, amount: 303, at: T("2026-11-01T05:30:00Z") }); // 11-01 00:30 CST (second pass)
      // St John's, 2010-11-07: at 00:01 NDT the clocks went back to 23:01 NST of the 6th, so the 7th began, stopped, began again.
      const stj = await addSite(db, "America/St_Johns");
      await addPayment(db, { siteId: stj, amount: 401, at: T("2010-11-07T02:30:30Z") }); // 11-07 00:00:30 NDT
      await addPayment(db, { siteId: stj, amount: 402, at: T("2010-11-07T02:45:00Z") }); // 11-06 23:15 NST
      await addPayment(db, { siteId: stj, amount: 403, at: T("2010-11-07T03:45:00Z") }); // 11-07 00:15 NST
      for (const granularity of ["day", "week", "month"] as Granularity[]) {
        await reconcile(db, { from: "2026-10-25", to: "2026-11-08", granularity, siteIds: [hav] });
        await reconcile(db, { from: "2010-11-01", to: "2010-11-14", granularity, siteIds: [stj] });
      }
      const days = (rows: RevenueRow[]) => rows.map((r) => [r.bucket, r.gross]);
      expect(days(await revenueRows(db.sql, { from: "2026-10-31", to: "2026-11-01", granularity: "day", siteIds: [hav] }))).to.deep.equal([
        ["2026-10-31", 301],
        ["2026-11-01", 605],
      ]);
      expect(days(await revenueRows(db.sql, { from: "2010-11-06", to: "2010-11-07", granularity: "day", siteIds: [stj] }))).to.deep.equal([
        ["2010-11-06", 402],
        ["2010-11-07", 804],
      ]);
      // A range that starts on the piecewise day itself, and one that ends on it.
      await reconcile(db, { from: "2010-11-07", to: "2010-11-07", granularity: "day", siteIds: [stj] });
      await reconcile(db, { from: "2010-11-01", to: "2010-11-06", granularity: "week", siteIds: [stj] });
    });

    it("property: random payments and refunds in random zones reconcile to the cent", async () => {
      // Havana: its spring change (2026-03-08) skips the hour that starts at midnight.
      const zones = ["Europe/Paris", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe", "America/Havana", "UTC"];
      const base = Date.parse("2026-03-01T00:00:00Z");
      const arb = fc.record({
        zone: fc.constantFrom(...zones),
        granularity: fc.constantFrom<Granularity>("day", "week", "month"),
        pays: fc.array(fc.record({ amount: fc.integer({ min: 1, max: 500_000 }), minute: fc.integer({ min: 0, max: 60 * 24 * 70 }), hold: fc.boolean(), refund: fc.option(fc.record({ part: fc.integer({ min: 1, max: 100 }), lagMin: fc.integer({ min: 0, max: 60 * 24 * 40 }) })) }), { maxLength: 12 }),
      });
      await fc.assert(
        fc.asyncProperty(arb, async (c) => {
          const siteId = await addSite(db, c.zone);
          for (const p of c.pays) {
            const id = await addPayment(db, { siteId, amount: p.amount, at: new Date(base + p.minute * 60_000), mode: p.hold ? "hold" : "exit" });
            if (p.refund) await addRefund(db, { paymentId: id, amount: Math.max(1, Math.floor((p.amount * p.refund.part) / 100)), at: new Date(base + (p.minute + p.refund.lagMin) * 60_000) });
          }
          await reconcile(db, { from: "2026-03-02", to: "2026-04-20", granularity: c.granularity, siteIds: [siteId] });
        }),
        { numRuns: 12 },
      );
    });

    describe("HTTP routes", () => {
      let server: Server;
      let base: string;
      const tokens: Record<string, string> = {};
      before(async () => {
        const auth = new Auth(db, "revenue-test-secret-0123456789abcdef", LOW_SCRYPT);
        for (const role of ["viewer", "operator", "admin"] as const) {
          const op = await createOperator(db.sql, { username: `rv-${role}-${Date.now() % 100000}`, passwordHash: await hashSecret("a-long-password", LOW_SCRYPT), role });
          tokens[role] = await auth.startSession(op.operatorId);
        }
        const app = express();
        app.use(consoleRevenueRouter({ db, auth, logger: silentLogger }));
        app.use(errorHandler(silentLogger));
        server = app.listen(0, "127.0.0.1");
        await new Promise((r) => server.once("listening", r));
        base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      });
      after(async () => {
        await new Promise((r) => server?.close(r));
      });
      const get = (path: string, role: string | null = "operator") => fetch(base + path, { headers: role ? { Authorization: `Bearer ${tokens[role]}` } : {}, redirect: "manual" });
      const q = `from=2026-03-01&to=2026-04-30&granularity=month&site=${"PARIS"}`;

      it("the page: filters, totals, the chart as an image, export links, for viewers, operators and admins; a login redirect without a session", async () => {
        for (const role of ["viewer", "operator", "admin"]) {
          const r = await get(`/console/revenue?${q.replace("PARIS", paris)}&lang=en`, role);
          expect(r.status, role).to.equal(200);
          const html = await r.text();
          expect(html).to.match(/<img id="revenue-chart" src="\/console\/revenue\.svg\?from=2026-03-01&amp;to=2026-04-30&amp;granularity=month&amp;site=rv-/);
          expect(html).to.include('id="export-csv"').and.include('id="export-ndjson"').and.include("Pay at exit").and.include("Permit");
          expect(html).to.include("€60.00"); // the permit invoice, formatMoney en
          expect(html).not.to.match(/<script(?![^>]*nonce)/);
          expect(html).not.to.match(/ style=/);
          expect(r.headers.get("content-security-policy")).to.include("style-src 'self' 'nonce-");
        }
        expect((await get("/console/revenue", null)).status).to.equal(303);
      });

      it("bad filters: a 400 page naming the field, a 400 JSON naming the field", async () => {
        const page = await get(`/console/revenue?from=2026-02-30&to=2026-03-01&lang=fr`);
        expect(page.status).to.equal(400);
        expect(await page.text()).to.include("query.from: not a calendar date");
        const api = await get(`/api/console/revenue?from=2020-01-01&to=2026-03-01`);
        expect(api.status).to.equal(400);
        expect(((await api.json()) as { error: string }).error).to.match(/^query\.to: the range is at most 3 years/);
        expect((await get(`/api/console/revenue?from=2026-01-01&to=2026-01-31&granularity=year`)).status).to.equal(400);
        expect((await get(`/api/console/revenue?from=2026-01-01&to=2026-01-31&format=xml`)).status).to.equal(400);
        expect((await get(`/api/console/revenue?from=2026-01-01&to=2026-01-31`, null)).status).to.equal(401);
      });

      it("the API: JSON rows and totals, CSV and NDJSON as attachments with the same figures", async () => {
        const qs = q.replace("PARIS", paris);
        const json = (await (await get(`/api/console/revenue?${qs}`, "viewer")).json()) as { rows: { net: number; currency: string }[]; totals: { currency: string; net: number }[] };
        const net = json.rows.reduce((s, r) => s + r.net, 0);
        expect(json.totals).to.have.length(1);
        expect(json.totals[0]).to.include({ currency: "EUR", net });
        const csv = await get(`/api/console/revenue?${qs}&format=csv`);
        expect(csv.headers.get("content-disposition")).to.equal('attachment; filename="revenue-2026-03-01-2026-04-30-month.csv"');
        const lines = (await csv.text()).trim().split("\r\n");
        expect(lines[0]).to.equal("bucket,bucket_start_utc,site_id,time_zone,mode,currency,gross,refunds,net,count,refund_count");
        expect(lines).to.include(`2026-04-01,2026-03-31T22:00:00.000Z,${paris},Europe/Paris,prepay,EUR,0.00,9.00,-9.00,0,1`);
        const nd = await get(`/api/console/revenue?${qs}&format=ndjson`);
        expect(nd.headers.get("content-disposition")).to.match(/attachment; filename="revenue-.*\.ndjson"/);
        const objs = (await nd.text()).trim().split("\n").map((l) => JSON.parse(l) as { net: number });
        expect(objs).to.have.length(json.rows.length);
        expect(objs.reduce((s, o) => s + o.net, 0)).to.equal(net);
      });

      it("the chart: an SVG image with a bar per mode, French labels", async () => {
        const r = await get(`/console/revenue.svg?${q.replace("PARIS", paris)}&lang=fr`);
        expect(r.status).to.equal(200);
        expect(r.headers.get("content-type")).to.match(/^image\/svg\+xml/);
        const svg = await r.text();
        expect(svg.startsWith("<svg")).to.equal(true);
        expect(svg).to.include("Paiement en sortie").and.include("Abonnement").and.include("Prépaiement");
        expect((await get(`/console/revenue.svg?from=nope`)).status).to.equal(400);
      });
    });
  });
}
