/**
 * Money rows for the revenue tests, written straight into the tables the way the flows leave
 * them (a paid payment has validated_ts, a succeeded refund updates refunded_amount /
 * refund_status, a refunded prepayment has refunded_at, a permit invoice is a billing document
 * named by billing_permit_invoices) — and the expected report computed from those tables
 * independently of the report's SQL: raw rows read back, local dates by Intl in JS.
 */
import { randomBytes } from "node:crypto";
import type { Database } from "../../../cloud/db/index";
import type { Granularity, RevenueMode, RevenueQuery } from "../../../cloud/db/revenue";

const rnd = () => randomBytes(5).toString("hex");

export async function addSite(db: Database, timeZone: string, currency = "EUR"): Promise<string> {
  const siteId = `rv-${rnd()}`;
  await db.sql`INSERT INTO sites (site_id, name, time_zone, currency) VALUES (${siteId}, ${`Revenue ${siteId}`}, ${timeZone}, ${currency})`;
  await db.sql`INSERT INTO tariffs (site_id, version, effective_from, document) VALUES (${siteId}, 1, '2000-01-01', '{"test":true}')`;
  return siteId;
}

export async function addPayment(db: Database, p: { siteId: string; amount: number; at: Date; currency?: string; mode?: "exit" | "hold"; state?: "paid" | "failed" | "pending" }): Promise<string> {
  const id = rnd();
  const state = p.state ?? "paid";
  await db.sql`INSERT INTO sessions (session_id, site_id, identity_method, identity_value, entry_ts, status, amount, currency)
    VALUES (${`s_${id}`}, ${p.siteId}, 'plate', ${`P${id}`.toUpperCase()}, ${new Date(p.at.getTime() - 3600_000)}, 'closed', ${p.amount}, ${p.currency ?? "EUR"})`;
  const key = p.mode === "hold" ? `hold-capture:hold_${id}:s_${id}` : `pay:s_${id}:0`;
  await db.sql`INSERT INTO payments (payment_id, session_id, provider, provider_ref, amount, currency, state, idempotency_key, validated_ts)
    VALUES (${`pay_${id}`}, ${`s_${id}`}, 'stripe', ${`pi_${id}`}, ${p.amount}, ${p.currency ?? "EUR"}, ${state}, ${key}, ${state === "paid" ? p.at : null})`;
  return `pay_${id}`;
}

export async function addRefund(db: Database, r: { paymentId: string; amount: number; at: Date; state?: "succeeded" | "failed" | "pending" }): Promise<void> {
  const id = rnd();
  const state = r.state ?? "succeeded";
  await db.tx(async (tx) => {
    const [p] = await tx<{ amount: number; currency: string; refundedAmount: number }[]>`SELECT amount, currency, refunded_amount FROM payments WHERE payment_id = ${r.paymentId} FOR UPDATE`;
    await tx`INSERT INTO refunds (refund_id, payment_id, provider_ref, amount, currency, state, reason, idempotency_key, created_at, updated_at)
      VALUES (${`re_${id}`}, ${r.paymentId}, ${`rf_${id}`}, ${r.amount}, ${p.currency}, ${state}, 'test', ${`rk_${id}`}, ${r.at}, ${r.at})`;
    if (state === "succeeded") {
      const total = p.refundedAmount + r.amount;
      await tx`UPDATE payments SET refunded_amount = ${total}, refund_status = ${total === p.amount ? "full" : "partial"} WHERE payment_id = ${r.paymentId}`;
    }
  });
}

export async function addPrepayment(db: Database, p: { siteId: string; amount: number; paidAt: Date | null; refundedAt?: Date; currency?: string }): Promise<void> {
  const id = rnd();
  const [t] = await db.sql<{ tariffId: number }[]>`SELECT tariff_id FROM tariffs WHERE site_id = ${p.siteId}`;
  const state = p.paidAt === null ? "failed" : p.refundedAt ? "refunded" : "paid";
  await db.sql`INSERT INTO prepayments (prepayment_id, site_id, plate, window_from, window_until, amount, currency, tariff_id, tariff_version, bought_by, quote,
      state, provider, provider_ref, idempotency_key, paid_at, refund_key, refund_state, refunded_at)
    VALUES (${`pp_test${id}${id}`}, ${p.siteId}, ${`PP${id}`.toUpperCase()}, '2026-01-01', '2026-01-02', ${p.amount}, ${p.currency ?? "EUR"}, ${t.tariffId}, 1, 'duration', '{}',
      ${state}, 'stripe', ${`pipp_${id}`}, ${`prepay:${id}`}, ${p.paidAt}, ${p.refundedAt ? `prk_${id}` : null}, ${p.refundedAt ? "succeeded" : null}, ${p.refundedAt ?? null})`;
}

export async function addPermitInvoice(db: Database, i: { siteId: string; amount: number; at: Date; currency?: string }): Promise<void> {
  const id = rnd();
  await db.sql`INSERT INTO permit_plans (plan_id, site_id, name, period, amount, currency, benefit, max_permits)
    VALUES (${`plan-${id}`}, ${i.siteId}, 'Mensuel', 'month', ${i.amount}, ${i.currency ?? "EUR"}, 'free', 10)`;
  await db.sql`INSERT INTO permits (permit_id, plan_id, site_id, holder_email, badge_uid, status, manage_token)
    VALUES (${`pmt_${id}`}, ${`plan-${id}`}, ${i.siteId}, 'h@example.org', 'ABCD1234', 'active', ${"t".repeat(24)})`;
  const docId = `doc_${randomBytes(16).toString("hex")}`;
  await db.sql`INSERT INTO billing_documents (document_id, site_id, kind, year, seq, number, issued_at, currency, total_ttc, total_ht, total_vat, vat_rate_bp, content)
    VALUES (${docId}, ${i.siteId}, 'invoice', 2026, 1, ${`F-${id}`}, ${i.at}, ${i.currency ?? "EUR"}, ${i.amount}, ${i.amount - Math.round(i.amount / 6)}, ${Math.round(i.amount / 6)}, 2000, '{}')`;
  await db.sql`INSERT INTO billing_permit_invoices (period_key, permit_id, document_id) VALUES (${`in_${id}`}, ${`pmt_${id}`}, ${docId})`;
}

/** "YYYY-MM-DD" of an instant in a zone, by Intl (not by PostgreSQL). */
export function localDate(at: Date, timeZone: string): string {
  return new Intl.DateTimeFormat("en-CA", { timeZone, year: "numeric", month: "2-digit", day: "2-digit" }).format(at);
}

export function bucketOf(day: string, g: Granularity): string {
  if (g === "day") return day;
  if (g === "month") return `${day.slice(0, 8)}01`;
  const d = new Date(`${day}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() - ((d.getUTCDay() + 6) % 7));
  return d.toISOString().slice(0, 10);
}

export interface Expected {
  gross: number;
  refunds: number;
  count: number;
  refundCount: number;
}

/**
 * The report computed directly from the tables: every money movement read raw (amount, time,
 * site, zone), dated and bucketed in JS, summed per "bucket|site|mode|currency".
 */
export async function expectedReport(db: Database, q: RevenueQuery): Promise<Map<string, Expected>> {
  const moves = await db.sql<{ siteId: string; timeZone: string; mode: RevenueMode; currency: string; at: Date; gross: number; refund: number }[]>`
    SELECT se.site_id, s.time_zone, CASE WHEN p.idempotency_key LIKE 'hold-%' THEN 'hold' ELSE 'exit' END AS mode, p.currency::text AS currency, p.validated_ts AS at, p.amount AS gross, 0 AS refund
      FROM payments p JOIN sessions se USING (session_id) JOIN sites s ON s.site_id = se.site_id WHERE p.state = 'paid'
    UNION ALL
    SELECT se.site_id, s.time_zone, CASE WHEN p.idempotency_key LIKE 'hold-%' THEN 'hold' ELSE 'exit' END, r.currency::text, r.updated_at, 0, r.amount
      FROM refunds r JOIN payments p USING (payment_id) JOIN sessions se USING (session_id) JOIN sites s ON s.site_id = se.site_id WHERE r.state = 'succeeded'
    UNION ALL
    SELECT pp.site_id, s.time_zone, 'prepay', pp.currency::text, pp.paid_at, pp.amount, 0 FROM prepayments pp JOIN sites s USING (site_id) WHERE pp.paid_at IS NOT NULL
    UNION ALL
    SELECT pp.site_id, s.time_zone, 'prepay', pp.currency::text, pp.refunded_at, 0, pp.amount FROM prepayments pp JOIN sites s USING (site_id) WHERE pp.refund_state = 'succeeded'
    UNION ALL
    SELECT d.site_id, s.time_zone, 'permit', d.currency::text, d.issued_at, d.total_ttc::int4, 0
      FROM billing_permit_invoices b JOIN billing_documents d USING (document_id) JOIN sites s ON s.site_id = d.site_id`;
  const out = new Map<string, Expected>();
  for (const m of moves) {
    if (q.siteIds?.length && !q.siteIds.includes(m.siteId)) continue;
    if (q.modes?.length && !q.modes.includes(m.mode)) continue;
    const day = localDate(m.at, m.timeZone);
    if (day < q.from || day > q.to) continue;
    const key = `${bucketOf(day, q.granularity)}|${m.siteId}|${m.mode}|${m.currency}`;
    const e = out.get(key) ?? { gross: 0, refunds: 0, count: 0, refundCount: 0 };
    e.gross += m.gross;
    e.refunds += m.refund;
    if (m.gross > 0) e.count++;
    if (m.refund > 0) e.refundCount++;
    out.set(key, e);
  }
  return out;
}
