/**
 * Bulk seed for the revenue bench: `n` paid payments (and their sessions) spread evenly over
 * `days` days before `end`, across 20 sites in several time zones, in a few set-based statements
 * (generate_series: a million rows in seconds, no round trip per row). About 10 % are hold
 * captures, 2 % have a succeeded refund (partial or full), plus prepayments (5 % of n, 1 % of
 * them refunded) and a permit invoice per site per month. Then VACUUM ANALYZE, as autovacuum
 * would do on a live table, so index-only scans see an up-to-date visibility map.
 */
import type { Sql } from "../cloud/db/index";

const ZONES = ["Europe/Paris", "Europe/London", "America/New_York", "Asia/Tokyo", "UTC"];

export async function seedRevenue(sql: Sql, o: { n: number; days: number; end: Date }): Promise<void> {
  const sites = Array.from({ length: 20 }, (_, i) => ({ id: `rv-${String(i).padStart(2, "0")}`, tz: ZONES[i % ZONES.length] }));
  for (const s of sites) {
    await sql`INSERT INTO sites (site_id, name, time_zone, currency) VALUES (${s.id}, ${`Revenue ${s.id}`}, ${s.tz}, 'EUR')`;
  }
  const spanS = o.days * 86_400;
  const endS = Math.floor(o.end.getTime() / 1000);
  // Sessions and payments: row i is validated at end − span + i·span/n (even spread), site i % 20.
  await sql`
    INSERT INTO sessions (session_id, site_id, identity_method, identity_value, entry_ts, exit_ts, status, amount, currency)
    SELECT 's' || i, 'rv-' || lpad((i % 20)::text, 2, '0'), 'plate', 'P' || i,
           to_timestamp(${endS - spanS} + i::float8 * ${spanS} / ${o.n} - 3600), to_timestamp(${endS - spanS} + i::float8 * ${spanS} / ${o.n}),
           'closed', 200 + (i::int8 * 7919) % 3000, 'EUR'
    FROM generate_series(1, ${o.n}) AS i`;
  await sql`
    INSERT INTO payments (payment_id, session_id, provider, provider_ref, amount, currency, state, idempotency_key, validated_ts, refunded_amount, refund_status)
    SELECT 'pay_' || i, 's' || i, 'stripe', 'pi_' || i, 200 + (i::int8 * 7919) % 3000, 'EUR', 'paid',
           CASE WHEN i % 10 = 0 THEN 'hold-capture:hold_' || i || ':s' || i ELSE 'pay:s' || i || ':0' END,
           to_timestamp(${endS - spanS} + i::float8 * ${spanS} / ${o.n}),
           CASE WHEN i % 100 = 0 THEN 200 + (i::int8 * 7919) % 3000 WHEN i % 50 = 0 THEN 100 ELSE 0 END,
           CASE WHEN i % 100 = 0 THEN 'full' WHEN i % 50 = 0 THEN 'partial' ELSE 'none' END
    FROM generate_series(1, ${o.n}) AS i`;
  // 2 % refunded a day later (refunded_amount / refund_status set above): every 50th payment, half of them in full.
  await sql`
    INSERT INTO refunds (refund_id, payment_id, provider_ref, amount, currency, state, reason, idempotency_key, created_at, updated_at)
    SELECT 're_' || i, 'pay_' || i, 'rf_' || i, CASE WHEN i % 100 = 0 THEN 200 + (i::int8 * 7919) % 3000 ELSE 100 END, 'EUR', 'succeeded', 'bench',
           'rk_' || i, to_timestamp(${endS - spanS} + i::float8 * ${spanS} / ${o.n} + 86400), to_timestamp(${endS - spanS} + i::float8 * ${spanS} / ${o.n} + 86400)
    FROM generate_series(50, ${o.n}, 50) AS i`;
  const [tariff] = await sql<{ tariffId: number }[]>`
    INSERT INTO tariffs (site_id, version, effective_from, document) VALUES ('rv-00', 1, now() - interval '10 years', '{"bench":true}') RETURNING tariff_id`;
  const nPre = Math.max(1, Math.floor(o.n / 20));
  await sql`
    INSERT INTO prepayments (prepayment_id, site_id, plate, window_from, window_until, amount, currency, tariff_id, tariff_version, bought_by, quote,
                             state, provider, provider_ref, idempotency_key, paid_at, refund_key, refund_state, refunded_at)
    SELECT 'pp_bench' || lpad(i::text, 12, '0'), 'rv-' || lpad((i % 20)::text, 2, '0'), 'PP' || i,
           to_timestamp(${endS - spanS} + i::float8 * ${spanS} / ${nPre}), to_timestamp(${endS - spanS} + i::float8 * ${spanS} / ${nPre} + 7200),
           800, 'EUR', ${tariff.tariffId}, 1, 'duration', '{}', CASE WHEN i % 100 = 0 THEN 'refunded' ELSE 'paid' END, 'stripe', 'pipp_' || i, 'prepay:' || i,
           to_timestamp(${endS - spanS} + i::float8 * ${spanS} / ${nPre} - 3600),
           CASE WHEN i % 100 = 0 THEN 'prk_' || i END, CASE WHEN i % 100 = 0 THEN 'succeeded' END,
           CASE WHEN i % 100 = 0 THEN to_timestamp(${endS - spanS} + i::float8 * ${spanS} / ${nPre}) END
    FROM generate_series(1, ${nPre}) AS i`;
  await seedPermitInvoices(sql, o, sites.map((s) => s.id));
  await sql`VACUUM ANALYZE`;
}

/** One plan and one permit per site, and one invoice per permit per 30 days of the span. */
async function seedPermitInvoices(sql: Sql, o: { days: number; end: Date }, siteIds: string[]): Promise<void> {
  const months = Math.max(1, Math.floor(o.days / 30));
  const endS = Math.floor(o.end.getTime() / 1000);
  await sql`
    INSERT INTO permit_plans (plan_id, site_id, name, period, amount, currency, benefit, max_permits)
    SELECT 'plan-' || s, s, 'Mensuel', 'month', 6000, 'EUR', 'free', 100 FROM unnest(${siteIds}::text[]) AS s`;
  await sql`
    INSERT INTO permits (permit_id, plan_id, site_id, holder_email, badge_uid, status, manage_token)
    SELECT 'pmt_' || replace(s, '-', 'x') || 'bench', 'plan-' || s, s, 'h@example.org', 'ABCD', 'active', repeat('t', 24) FROM unnest(${siteIds}::text[]) AS s`;
  await sql`
    INSERT INTO billing_documents (document_id, site_id, kind, year, seq, number, issued_at, currency, total_ttc, total_ht, total_vat, vat_rate_bp, content)
    SELECT 'doc_' || md5(s || ':' || m), s, 'invoice', 2000 + m, 1, 'F-' || s || '-' || m, to_timestamp(${endS} - m * 30 * 86400), 'EUR', 6000, 5000, 1000, 2000, '{}'
    FROM unnest(${siteIds}::text[]) AS s, generate_series(1, ${months}) AS m`;
  await sql`
    INSERT INTO billing_permit_invoices (period_key, permit_id, document_id)
    SELECT 'in_' || d.document_id, 'pmt_' || replace(d.site_id, '-', 'x') || 'bench', d.document_id FROM billing_documents d WHERE d.kind = 'invoice'`;
}
