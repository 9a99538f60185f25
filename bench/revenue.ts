/**
 * `npm run bench -- revenue [--n 1000000] [--runs 15] [--rounds 1]`: the revenue report's query
 * (cloud/db/revenue.ts) on `n` seeded payments (one year, 20 sites, five time zones, refunds,
 * prepayments, permit invoices) in a database this bench creates and drops on the PostgreSQL
 * server (DATABASE_URL or postgres://postgres@127.0.0.1:5432/test for the admin connection).
 *
 * Prints p50 / p99 of the month-by-day and the month-by-month report over every site (~1/12 of
 * the payments), one site's quarter by week, and the ratio to an anchor measured in the same
 * round: an indexed count(*) of the same month's paid payments through the index the report
 * reads (payments_paid_by_site_time, one range per site: the cheapest question it can answer),
 * plus the index scans of the report's plan (EXPLAIN ANALYZE, BUFFERS). `--rounds` repeats the
 * measurements on the same seed (seeding a million rows costs minutes on a shared machine).
 * The load average is printed with each round: the figures mean little on a loaded machine.
 * Target (issue 17): the month reports (by day, by month) under 200 ms at p99 on 1,000,000 payments.
 */
import { randomBytes } from "node:crypto";
import { cpus, loadavg } from "node:os";
import postgres from "postgres";
import { openDatabase, type Database } from "../cloud/db/index";
import { revenueRows, type RevenueQuery } from "../cloud/db/revenue";
import { seedRevenue } from "./_revenue-seed";
import { intArg } from "./_args";

const ADMIN_URL = process.env.DATABASE_URL ?? process.env.SYSPARK_TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";

const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

async function timed(runs: number, fn: () => Promise<unknown>): Promise<{ p50: number; p99: number }> {
  await fn(); // warm: plan cache and buffers, as on a live server
  const ms: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    await fn();
    ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  ms.sort((a, b) => a - b);
  return { p50: pct(ms, 50), p99: pct(ms, 99) };
}

/** The plan's node types, outermost first, and the index scans it uses (EXPLAIN ANALYZE of the same statement). */
async function planSummary(db: Database, qy: RevenueQuery): Promise<string[]> {
  const lines: string[] = [];
  await db.sql.begin(async (tx) => {
    // Capture the statement revenueRows sends by running it under EXPLAIN through a wrapper query function.
    const explain = ((strings: TemplateStringsArray, ...values: unknown[]) => {
      const s = Object.assign([`EXPLAIN (ANALYZE, BUFFERS) ${strings[0]}`, ...strings.slice(1)], { raw: [`EXPLAIN (ANALYZE, BUFFERS) ${strings.raw[0]}`, ...strings.raw.slice(1)] });
      return (tx as unknown as (s: TemplateStringsArray, ...v: unknown[]) => Promise<{ queryPlan: string }[]>)(s as TemplateStringsArray, ...values).then((rows) => {
        for (const r of rows) lines.push(String(Object.values(r)[0]));
        return [];
      });
    }) as unknown as Parameters<typeof revenueRows>[0];
    await revenueRows(explain, qy);
  });
  return lines;
}

export async function run(args: string[]): Promise<void> {
  const n = intArg(args, "--n", 1_000_000);
  const runs = intArg(args, "--runs", 15);
  const rounds = intArg(args, "--rounds", 1);
  const dbName = `syspark_bench_revenue_${randomBytes(4).toString("hex")}`;
  const admin = postgres(ADMIN_URL, { max: 1, onnotice: () => undefined, connect_timeout: 5 });
  await admin.unsafe(`CREATE DATABASE ${dbName}`);
  const url = new URL(ADMIN_URL);
  url.pathname = `/${dbName}`;
  let db: Database | undefined;
  try {
    db = await openDatabase({ databaseUrl: url.toString(), max: 2 });
    const end = new Date("2026-01-01T00:00:00Z");
    console.log(`revenue bench: seeding ${n} payments over 365 days in ${dbName} on ${url.host}…`);
    const t0 = Date.now();
    await seedRevenue(db.sql, { n, days: 365, end });
    console.log(`  seeded in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    for (let round = 1; round <= rounds; round++) await measure(db, n, runs, `${round}/${rounds}`);
  } finally {
    await db?.close();
    await admin.unsafe(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
    await admin.end({ timeout: 5 });
  }
}

const load = () => loadavg().map((x) => x.toFixed(2)).join(" ");

async function measure(db: Database, n: number, runs: number, round: string): Promise<void> {
  const loadBefore = load();
  const month: RevenueQuery = { from: "2025-10-01", to: "2025-10-31", granularity: "day" };
  const sites = (await db.sql<{ siteId: string }[]>`SELECT site_id FROM sites ORDER BY site_id`).map((r) => r.siteId);
  const [{ count }] = await db.sql<{ count: number }[]>`SELECT count(*)::int8 AS count FROM payments WHERE state = 'paid' AND validated_ts >= '2025-10-01' AND validated_ts < '2025-11-01'`;
  const anchor = await timed(runs, () => db.sql`SELECT count(*) FROM payments WHERE state = 'paid' AND site_id = ANY(${sites}) AND validated_ts >= '2025-10-01' AND validated_ts < '2025-11-01'`);
  const byDay = await timed(runs, () => revenueRows(db.sql, month));
  const byMonth = await timed(runs, () => revenueRows(db.sql, { ...month, granularity: "month" }));
  const quarter = await timed(runs, () => revenueRows(db.sql, { from: "2025-07-01", to: "2025-09-30", granularity: "week", siteIds: ["rv-03"] }));
  const rows = await revenueRows(db.sql, month);
  const plan = await planSummary(db, month);
  const sitePlan = await planSummary(db, { from: "2025-07-01", to: "2025-09-30", granularity: "week", siteIds: ["rv-03"] });
  // The scans that read the money (the CTEs before them only work out each zone's edges).
  const nodes = plan.filter((l) => /Index (Only )?Scan using/.test(l) && !/never executed/.test(l)).map((l) => l.trim().replace(/^->\s*/, "").replace(/\(cost=[^)]*\)\s*/, ""));
  const indexes = (p: string[]) => [...new Set(p.map((l) => /Index (?:Only )?Scan using (\w+)/.exec(l)?.[1]).filter(Boolean))];

  const fmt = (x: { p50: number; p99: number }) => `p50 ${x.p50.toFixed(1)} ms, p99 ${x.p99.toFixed(1)} ms`;
  const ratio = (x: { p50: number }) => `${(x.p50 / anchor.p50).toFixed(1)}× the anchor`;
  console.log(`round ${round} (load average ${loadBefore} on ${cpus().length} CPUs):`);
  console.log(`  anchor (indexed count of October's ${count} paid payments): ${fmt(anchor)}`);
  console.log(`  October by day, every site (${rows.length} rows):   ${fmt(byDay)}  → ${ratio(byDay)}`);
  console.log(`  October by month, every site:          ${fmt(byMonth)}  → ${ratio(byMonth)}`);
  console.log(`  one site, Q3 by week:                  ${fmt(quarter)}  → ${ratio(quarter)}; index scans: ${indexes(sitePlan).join(", ")}`);
  console.log(`  plan (money scans, by day):\n    ${nodes.join("\n    ")}`);
  console.log(`  ${plan.find((l) => l.startsWith("Execution Time")) ?? ""}`);
  console.log(`  target: month reports under 200 ms at p99 → ${byDay.p99 < 200 && byMonth.p99 < 200 ? "met" : "NOT met"} (load average after: ${load()})`);
  console.log(
    JSON.stringify({
      bench: "revenue",
      round,
      load_average: loadBefore,
      payments: n,
      month_payments: count,
      anchor_ms: anchor,
      month_by_day_ms: byDay,
      month_by_month_ms: byMonth,
      site_quarter_by_week_ms: quarter,
      ratio_day_to_anchor: Number((byDay.p50 / anchor.p50).toFixed(2)),
      ratio_month_to_anchor: Number((byMonth.p50 / anchor.p50).toFixed(2)),
      index_scans: indexes(plan),
      site_index_scans: indexes(sitePlan),
    }),
  );
}
