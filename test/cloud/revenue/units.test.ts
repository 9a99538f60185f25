/**
 * The revenue report's pure parts: parameter validation (a message naming the field), totals per
 * currency, CSV (major units, dot) and NDJSON (minor units) contents, and the chart as well-formed
 * SVG carrying its series, with the operator's language; the local bucket calendar the query
 * works out edges for — no database.
 */
import { expect } from "chai";
import { RevenueParamsSchema, toCsv, toNdjson, totals, withDefaults } from "../../../cloud/flows/revenue";
import { zodMessage } from "../../../cloud/http/input";
import { revenueChartSvg } from "../../../cloud/http/console/revenue-chart";
import fc from "fast-check";
import { bucketCalendar, type Granularity, type RevenueRow } from "../../../cloud/db/revenue";
import { bucketOf } from "./fixtures";

const row = (o: Partial<RevenueRow>): RevenueRow => {
  const r = { bucket: "2026-03-30", bucketStart: new Date("2026-03-29T22:00:00Z"), siteId: "paris", timeZone: "Europe/Paris", mode: "exit" as const, currency: "EUR", gross: 0, refunds: 0, net: 0, count: 0, refundCount: 0, ...o };
  return { ...r, net: r.gross - r.refunds };
};

function refusal(raw: Record<string, unknown>): string {
  const r = RevenueParamsSchema.safeParse(raw);
  expect(r.success, JSON.stringify(raw)).to.equal(false);
  return zodMessage("query", r.error!);
}

/** Tags balance, attributes quoted, one root <svg>: enough to say an XML parser would accept it. */
function wellFormed(svg: string): boolean {
  const stack: string[] = [];
  const body = svg.replace(/<!--[\s\S]*?-->/g, "");
  const tags = body.match(/<[^>]+>/g) ?? [];
  if (body.replace(/<[^>]+>/g, "").includes("<")) return false;
  for (const t of tags) {
    if (/^<\?/.test(t)) continue;
    const close = /^<\/([\w:-]+)\s*>$/.exec(t);
    if (close) {
      if (stack.pop() !== close[1]) return false;
      continue;
    }
    const open = /^<([\w:-]+)((?:\s+[\w:-]+="[^"]*")*)\s*(\/?)>$/.exec(t);
    if (!open) return false;
    if (open[3] !== "/") stack.push(open[1]);
  }
  return stack.length === 0 && (tags[0] ?? "").startsWith("<svg");
}

describe("revenue report: parameters, totals, exports, chart", () => {
  it("validates from / to / granularity / site / mode, naming the field", () => {
    expect(RevenueParamsSchema.parse({ from: "2026-03-01", to: "2026-03-31" })).to.deep.equal({ from: "2026-03-01", to: "2026-03-31", granularity: "day", site: [], mode: [] });
    expect(RevenueParamsSchema.parse({ from: "2026-03-01", to: "2026-03-31", granularity: "week", site: ["a", "b,c"], mode: "exit,hold" })).to.include.keys("site");
    expect(RevenueParamsSchema.parse({ from: "2026-03-01", to: "2026-03-31", site: ["a", "b,c"], mode: "exit,hold" })).to.deep.include({ site: ["a", "b", "c"], mode: ["exit", "hold"] });
    expect(refusal({ from: "2026-3-1", to: "2026-03-31" })).to.equal("query.from: a date YYYY-MM-DD");
    expect(refusal({ from: "2026-02-29", to: "2026-03-31" })).to.equal("query.from: not a calendar date");
    expect(refusal({ to: "2026-03-31" })).to.match(/^query\.from: required/);
    expect(refusal({ from: "2026-03-31", to: "2026-03-01" })).to.equal("query.to: 2026-03-01 is before from 2026-03-31");
    expect(refusal({ from: "2023-03-01", to: "2026-03-01" })).to.match(/^query\.to: the range is at most 3 years/);
    expect(RevenueParamsSchema.safeParse({ from: "2023-03-01", to: "2026-02-28" }).success).to.equal(true);
    expect(refusal({ from: "2026-03-01", to: "2026-03-31", granularity: "year" })).to.equal("query.granularity: one of day, week, month");
    expect(refusal({ from: "2026-03-01", to: "2026-03-31", mode: "cash" })).to.equal("query.mode.0: one of exit, prepay, hold, permit");
    expect(refusal({ from: "2026-03-01", to: "2026-03-31", site: "Paris Centre" })).to.match(/^query\.site\.0: a site id/);
    expect(refusal({ from: "nope", to: "2026-03-31" })).to.equal("query.from: a date YYYY-MM-DD");
    expect(withDefaults({}, new Date("2026-05-17T10:00:00Z"))).to.deep.equal({ from: "2026-05-01", to: "2026-05-17" });
    // Just after midnight in Paris it is already June there, still May in UTC: the site's day counts.
    expect(withDefaults({}, new Date("2026-05-31T22:30:00Z"), "Europe/Paris")).to.deep.equal({ from: "2026-06-01", to: "2026-06-01" });
    expect(withDefaults({}, new Date("2026-05-31T22:30:00Z"))).to.deep.equal({ from: "2026-05-01", to: "2026-05-31" });
  });

  it("totals per currency, never adding two currencies", () => {
    const rows = [row({ gross: 1000, count: 1 }), row({ gross: 250, refunds: 300, count: 1, refundCount: 1, mode: "hold" }), row({ currency: "USD", gross: 99, count: 1 })];
    expect(totals(rows)).to.deep.equal([
      { currency: "EUR", gross: 1250, refunds: 300, net: 950, count: 2, refundCount: 1 },
      { currency: "USD", gross: 99, refunds: 0, net: 99, count: 1, refundCount: 0 },
    ]);
    expect(totals(rows, (r) => r.mode).map((t) => `${t.currency}:${t.key}:${t.net}`)).to.deep.equal(["EUR:exit:1000", "EUR:hold:-50", "USD:exit:99"]);
  });

  it("CSV: header, major units with a dot (by the currency's digits), negative nets; NDJSON: minor units, one object per line", () => {
    const rows = [row({ gross: 1005, refunds: 2010, count: 1, refundCount: 1 }), row({ currency: "JPY", gross: 1200, count: 2, siteId: "tokyo", timeZone: "Asia/Tokyo" })];
    expect(toCsv(rows)).to.equal(
      "bucket,bucket_start_utc,site_id,time_zone,mode,currency,gross,refunds,net,count,refund_count\r\n" +
        "2026-03-30,2026-03-29T22:00:00.000Z,paris,Europe/Paris,exit,EUR,10.05,20.10,-10.05,1,1\r\n" +
        "2026-03-30,2026-03-29T22:00:00.000Z,tokyo,Asia/Tokyo,exit,JPY,1200,0,1200,2,0\r\n",
    );
    const lines = toNdjson(rows).split("\n");
    expect(lines).to.have.length(3);
    expect(lines[2]).to.equal("");
    expect(JSON.parse(lines[0])).to.deep.equal({ bucket: "2026-03-30", bucket_start: "2026-03-29T22:00:00.000Z", site_id: "paris", time_zone: "Europe/Paris", mode: "exit", currency: "EUR", gross: 1005, refunds: 2010, net: -1005, count: 1, refund_count: 1 });
  });

  it("the chart: well-formed SVG, a stacked bar per bucket and mode, labels and currency in the operator's language, no style attribute", async () => {
    const rows = [row({ bucket: "2026-03-29", gross: 2500 }), row({ bucket: "2026-03-30", gross: 4000, mode: "hold" }), row({ bucket: "2026-03-30", gross: 1200, mode: "prepay" }), row({ bucket: "2026-03-30", gross: 6000, mode: "permit" })];
    const fr = await revenueChartSvg({ rows, granularity: "day", lang: "fr" });
    expect(wellFormed(fr)).to.equal(true);
    expect(fr).to.include("Paiement en sortie").and.include("Empreinte capturée").and.include("Prépaiement").and.include("Abonnement");
    expect(fr).to.include("Net (EUR)").and.include("Jour").and.include("30/03");
    expect(fr).to.match(/\d,00\s?€/); // axis ticks as French euros
    expect((fr.match(/role-mark marks/g) ?? []).length).to.be.greaterThan(0);
    expect(fr).not.to.match(/ style=/);
    const en = await revenueChartSvg({ rows, granularity: "month", lang: "en" });
    expect(wellFormed(en)).to.equal(true);
    expect(en).to.include("Pay at exit").and.include("Month").and.include("€");
    const two = await revenueChartSvg({ rows: [...rows, row({ currency: "USD", gross: 700 })], granularity: "day", lang: "en" });
    expect(wellFormed(two)).to.equal(true);
    expect(two).to.include("USD").and.include("EUR");
    const none = await revenueChartSvg({ rows: [], granularity: "day", lang: "en" });
    expect(wellFormed(none)).to.equal(true);
    expect(none).to.include("No revenue");
  });

  it("bucket calendar: clipped to the range, ISO weeks from Monday, months across a year end", () => {
    expect(bucketCalendar("2026-03-04", "2026-03-17", "week")).to.deep.equal({
      starts: ["2026-03-02", "2026-03-09", "2026-03-16"],
      los: ["2026-03-04", "2026-03-09", "2026-03-16"],
      his: ["2026-03-09", "2026-03-16", "2026-03-18"],
      edges: ["2026-03-04", "2026-03-09", "2026-03-16", "2026-03-18"],
    });
    expect(bucketCalendar("2025-12-15", "2026-01-31", "month")).to.deep.include({ starts: ["2025-12-01", "2026-01-01"], los: ["2025-12-15", "2026-01-01"], his: ["2026-01-01", "2026-02-01"] });
    expect(bucketCalendar("2024-02-28", "2024-03-01", "day").starts).to.deep.equal(["2024-02-28", "2024-02-29", "2024-03-01"]);
  });

  it("property: the calendar's buckets tile the range day by day, each day in the bucket that contains it", () => {
    const day = (n: number) => new Date(Date.UTC(2023, 0, 1) + n * 86_400_000).toISOString().slice(0, 10);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1500 }), fc.integer({ min: 0, max: 400 }), fc.constantFrom<Granularity>("day", "week", "month"), (a, len, g) => {
        const cal = bucketCalendar(day(a), day(a + len), g);
        const seen: string[] = [];
        cal.starts.forEach((start, i) => {
          for (let d = cal.los[i]; d < cal.his[i]; d = new Date(Date.parse(`${d}T00:00:00Z`) + 86_400_000).toISOString().slice(0, 10)) {
            expect(bucketOf(d, g)).to.equal(start);
            seen.push(d);
          }
        });
        expect(seen).to.deep.equal(Array.from({ length: len + 1 }, (_, i) => day(a + i)));
      }),
      { numRuns: 200 },
    );
  });
});
