/**
 * The revenue report's query (issue 17): money actually received, per bucket (day, ISO week
 * starting Monday, month — in the SITE's time zone, DST-safe), site, payment mode and currency,
 * with refunds netted. One SQL statement (how it stays fast: "How" below).
 *
 * What counts (decided from the schema, docs/payments.md):
 * - mode `exit` (pay at exit): payments in state `paid`, at validated_ts (the server-side proof);
 * - mode `hold` (hold at entry, captured at exit): the same payments rows, told apart by the
 *   idempotency key the hold flow gives them (`hold-capture:` for the capture, `hold-offsession:`
 *   for the saved card charged for the rest — cloud/flows/hold-exit.ts); the key is the only
 *   column that says so for both (hold_authorizations.exit_payment_id names the capture only);
 * - mode `prepay`: prepayments with paid_at set (states paid, consumed, refunded), at paid_at;
 * - mode `permit`: permit invoices (billing_permit_invoices → billing_documents, kind invoice),
 *   at issued_at, for total_ttc: the invoice is issued on the provider's `invoice.paid`;
 * - refunds: `succeeded` refunds of payments (at refunds.updated_at: succeeded is terminal) and
 *   succeeded refunds of prepayments (at refunded_at), in the mode of the money they return.
 *   Permits have no refund path in the schema.
 * Refunds are netted on THEIR OWN day (a cash report, what an accountant reconciles with the
 * bank), not on the day of the payment they return: a refund in March of a February payment
 * lowers March. So a bucket's net can be negative.
 *
 * Range: `from` and `to` are local dates, both included, read in each site's own time zone.
 * Buckets are the calendar day / week / month containing the money, labelled by their local start
 * date; a range starting mid-week gives a first week bucket with only the days in range.
 *
 * How: the money is NOT converted to local time row by row (on 1,000,000 payments that per-row
 * work was the whole cost). A bucket of one site is an interval of UTC time, from the instant its
 * first local midnight happens to the instant its end's does; each site's bucket is summed by one
 * range scan of the (site_id, time) indexes of migration 16 (cloud/db/migrations-revenue.ts), so
 * per row there is only an index read and an addition. Each edge is checked against the
 * definition (PostgreSQL's own instant → local conversion): the edge of midnight m is the instant
 * x with local(x) >= m and local(x − 1 µs) < m — where the local date steps up to m's day. Three
 * candidates are tried: PostgreSQL's reading of m (which takes the LATER of an ambiguous midnight,
 * e.g. America/Havana turning 01:00 back to 00:00) and m read with the offset of a day before and
 * of a day after. Exactly one distinct candidate passing: that is the edge (time only goes one way
 * there). None passing (a midnight skipped inside a gap) or two (the clocks turned back across
 * midnight, e.g. Newfoundland's 00:01 changes until 2011: a day made of two pieces): the site's
 * money of the range is dated row by row instead, exactly as the definition says.
 */
import type { Q } from "./types";

export const REVENUE_MODES = ["exit", "prepay", "hold", "permit"] as const;
export type RevenueMode = (typeof REVENUE_MODES)[number];
export const GRANULARITIES = ["day", "week", "month"] as const;
export type Granularity = (typeof GRANULARITIES)[number];

export interface RevenueQuery {
  /** Local date YYYY-MM-DD, included. */
  from: string;
  /** Local date YYYY-MM-DD, included. */
  to: string;
  granularity: Granularity;
  /** Only these sites (absent or empty: every site). */
  siteIds?: readonly string[];
  /** Only these modes (absent or empty: every mode). */
  modes?: readonly RevenueMode[];
}

export interface RevenueRow {
  /** Local date of the bucket's start in the site's zone (YYYY-MM-DD; a Monday for weeks). */
  bucket: string;
  /** The instant that local midnight is (UTC). */
  bucketStart: Date;
  siteId: string;
  timeZone: string;
  mode: RevenueMode;
  currency: string;
  /** Minor units received. */
  gross: number;
  /** Minor units refunded (succeeded refunds, on their own day). */
  refunds: number;
  /** gross − refunds. */
  net: number;
  /** Payments (prepayments, invoices) received. */
  count: number;
  /** Refunds succeeded. */
  refundCount: number;
}

const DAY_MS = 86_400_000;

const ymd = (d: Date) => d.toISOString().slice(0, 10);
const addDays = (day: string, n: number) => ymd(new Date(Date.parse(`${day}T00:00:00Z`) + n * DAY_MS));

/** The local date starting the day / ISO week (Monday) / month that contains `day`. */
export function bucketOfDay(day: string, g: Granularity): string {
  if (g === "day") return day;
  if (g === "month") return `${day.slice(0, 8)}01`;
  return addDays(day, -((new Date(`${day}T00:00:00Z`).getUTCDay() + 6) % 7));
}

function nextBucket(start: string, g: Granularity): string {
  if (g === "day") return addDays(start, 1);
  if (g === "week") return addDays(start, 7);
  const d = new Date(`${start}T00:00:00Z`);
  d.setUTCMonth(d.getUTCMonth() + 1);
  return ymd(d);
}

export interface Calendar {
  /** Local start date of each bucket (its label). */
  starts: string[];
  /** Local midnight where the bucket's money starts / stops, clipped to the range (lo included, hi excluded). */
  los: string[];
  his: string[];
  /** Every distinct lo and hi: the local midnights whose UTC instants the query works out per site. */
  edges: string[];
}

/** The buckets of a range, in local calendar dates, the same for every zone. */
export function bucketCalendar(from: string, to: string, g: Granularity): Calendar {
  const until = addDays(to, 1);
  const c: Calendar = { starts: [], los: [], his: [], edges: [] };
  for (let s = bucketOfDay(from, g); s < until; s = nextBucket(s, g)) {
    const next = nextBucket(s, g);
    c.starts.push(s);
    c.los.push(s < from ? from : s);
    c.his.push(next > until ? until : next);
  }
  c.edges = [...new Set([...c.los, ...c.his])].sort();
  return c;
}

/**
 * A UTC window sure to hold every local day of the range in any zone (offsets are within ±14 h):
 * what a site read row by row (see "How") scans.
 */
function coarseWindow(from: string, to: string): { lo: Date; hi: Date } {
  return { lo: new Date(Date.parse(`${from}T00:00:00Z`) - DAY_MS), hi: new Date(Date.parse(`${to}T00:00:00Z`) + 2 * DAY_MS) };
}

export async function revenueRows(q: Q, input: RevenueQuery): Promise<RevenueRow[]> {
  const cal = bucketCalendar(input.from, input.to, input.granularity);
  const until = addDays(input.to, 1);
  const { lo, hi } = coarseWindow(input.from, input.to);
  const g = input.granularity;
  const sites = input.siteIds && input.siteIds.length > 0 ? [...input.siteIds] : null;
  const modes: readonly string[] = input.modes && input.modes.length > 0 ? input.modes : REVENUE_MODES;
  const want = (m: RevenueMode) => modes.includes(m);
  const anyPay = want("exit") || want("hold");
  // exit and hold share the payments table: filter by mode there only when one of them is left out.
  const onlyHold = want("exit") === want("hold") ? null : want("hold");
  // spans: per site, one (bucket, lo, hi) per bucket; or, for a site whose zone's edges did not
  // check out, one span of the coarse window with no bucket. The paid payments (the bulk) of
  // regular sites are summed per span, where they are read: only mode and currency are grouped,
  // the bucket is the span's (grouped by the boolean, whose 2 values the planner knows, the hash
  // table rebuilt for each span is sized for 2 groups, not 200). Everything else is read once per
  // site over the whole range (site_spans): the few refunds, prepayments and invoices, put in
  // their bucket by a binary search of the site's edges (width_bucket; a scan per bucket would
  // cost more than they do), and every row of an irregular site, dated one by one. Branches a
  // mode filter excludes, and the irregular-only one, are one-time-filtered out.
  const rows = await q<(Omit<RevenueRow, "net">)[]>`
    WITH site_set AS MATERIALIZED (
      SELECT site_id, time_zone FROM sites WHERE ${sites}::text[] IS NULL OR site_id = ANY(${sites}::text[])
    ),
    -- Per zone, not per site: sites of one zone share their edges.
    edges AS MATERIALIZED (
      SELECT z.time_zone, e.m, CASE WHEN v.n = 1 THEN v.at END AS at
      FROM (SELECT DISTINCT time_zone FROM site_set) z CROSS JOIN unnest(${cal.edges}::timestamp[]) AS e(m)
      CROSS JOIN LATERAL (SELECT e.m AT TIME ZONE z.time_zone AS c0) a
      CROSS JOIN LATERAL (
        SELECT min(x) AS at, count(DISTINCT x) AS n
        FROM (VALUES (a.c0),
          ((e.m - (((a.c0 - interval '1 day') AT TIME ZONE z.time_zone) - ((a.c0 - interval '1 day') AT TIME ZONE 'UTC'))) AT TIME ZONE 'UTC'),
          ((e.m - (((a.c0 + interval '1 day') AT TIME ZONE z.time_zone) - ((a.c0 + interval '1 day') AT TIME ZONE 'UTC'))) AT TIME ZONE 'UTC')) AS c(x)
        WHERE (x AT TIME ZONE z.time_zone) >= e.m AND ((x - interval '1 microsecond') AT TIME ZONE z.time_zone) < e.m
      ) v
    ),
    irregular AS MATERIALIZED (SELECT DISTINCT time_zone FROM edges WHERE at IS NULL),
    spans AS MATERIALIZED (
      SELECT s.site_id, s.time_zone, b.start AS bucket, el.at AS lo, eh.at AS hi
      FROM site_set s CROSS JOIN unnest(${cal.starts}::timestamp[], ${cal.los}::timestamp[], ${cal.his}::timestamp[]) AS b(start, lo, hi)
      JOIN edges el ON el.time_zone = s.time_zone AND el.m = b.lo
      JOIN edges eh ON eh.time_zone = s.time_zone AND eh.m = b.hi
      WHERE s.time_zone NOT IN (SELECT time_zone FROM irregular)
      UNION ALL
      SELECT s.site_id, s.time_zone, NULL, ${lo}::timestamptz, ${hi}::timestamptz FROM site_set s WHERE s.time_zone IN (SELECT time_zone FROM irregular)
    ),
    site_spans AS MATERIALIZED (
      SELECT site_id, time_zone, bool_or(bucket IS NULL) AS irregular, min(lo) AS lo, max(hi) AS hi,
             array_agg(lo ORDER BY lo, bucket) AS los, array_agg(bucket ORDER BY lo, bucket) AS buckets
      FROM spans GROUP BY site_id, time_zone
    ),
    sums AS (
      SELECT sp.site_id, sp.time_zone, sp.bucket, x.mode, x.currency::text AS currency, x.gross, 0::int8 AS refund, x.n, 0::int8 AS n_refund FROM spans sp CROSS JOIN LATERAL (
        SELECT CASE WHEN p.idempotency_key LIKE 'hold-capture:%' OR p.idempotency_key LIKE 'hold-offsession:%' THEN 'hold' ELSE 'exit' END AS mode,
               p.currency, sum(p.amount)::int8 AS gross, count(*)::int8 AS n
        FROM payments p
        WHERE ${anyPay} AND p.state = 'paid' AND p.site_id = sp.site_id AND p.validated_ts >= sp.lo AND p.validated_ts < sp.hi
          AND (${onlyHold}::bool IS NULL OR (p.idempotency_key LIKE 'hold-capture:%' OR p.idempotency_key LIKE 'hold-offsession:%') = ${onlyHold}::bool)
        GROUP BY (p.idempotency_key LIKE 'hold-capture:%' OR p.idempotency_key LIKE 'hold-offsession:%'), p.currency
      ) x
      WHERE sp.bucket IS NOT NULL
      UNION ALL
      SELECT ss.site_id, ss.time_zone, CASE WHEN ss.irregular THEN date_trunc(${g}, m.at AT TIME ZONE ss.time_zone) ELSE ss.buckets[width_bucket(m.at, ss.los)] END,
             m.mode, m.currency, m.gross, m.refund, m.n, m.n_refund
      FROM site_spans ss CROSS JOIN LATERAL (
        SELECT p.validated_ts AS at, CASE WHEN p.idempotency_key LIKE 'hold-capture:%' OR p.idempotency_key LIKE 'hold-offsession:%' THEN 'hold' ELSE 'exit' END AS mode,
               p.currency::text AS currency, p.amount::int8 AS gross, 0::int8 AS refund, 1 AS n, 0 AS n_refund
        FROM payments p
        WHERE ${anyPay} AND ss.irregular AND p.state = 'paid' AND p.site_id = ss.site_id AND p.validated_ts >= ss.lo AND p.validated_ts < ss.hi
          AND (${onlyHold}::bool IS NULL OR (p.idempotency_key LIKE 'hold-capture:%' OR p.idempotency_key LIKE 'hold-offsession:%') = ${onlyHold}::bool)
        UNION ALL
        SELECT r.updated_at, CASE WHEN p.idempotency_key LIKE 'hold-capture:%' OR p.idempotency_key LIKE 'hold-offsession:%' THEN 'hold' ELSE 'exit' END AS mode,
               r.currency::text, 0, r.amount, 0, 1
        FROM refunds r JOIN payments p ON p.payment_id = r.payment_id
        WHERE ${anyPay} AND r.state = 'succeeded' AND r.site_id = ss.site_id AND r.updated_at >= ss.lo AND r.updated_at < ss.hi
          AND (${onlyHold}::bool IS NULL OR (p.idempotency_key LIKE 'hold-capture:%' OR p.idempotency_key LIKE 'hold-offsession:%') = ${onlyHold}::bool)
        UNION ALL
        SELECT pp.paid_at, 'prepay', pp.currency::text, pp.amount, 0, (pp.amount > 0)::int, 0 FROM prepayments pp
        WHERE ${want("prepay")} AND pp.paid_at IS NOT NULL AND pp.site_id = ss.site_id AND pp.paid_at >= ss.lo AND pp.paid_at < ss.hi
        UNION ALL
        SELECT pp.refunded_at, 'prepay', pp.currency::text, 0, pp.amount, 0, 1 FROM prepayments pp
        WHERE ${want("prepay")} AND pp.refund_state = 'succeeded' AND pp.site_id = ss.site_id AND pp.refunded_at >= ss.lo AND pp.refunded_at < ss.hi
        UNION ALL
        SELECT d.issued_at, 'permit', d.currency::text, d.total_ttc, 0, (d.total_ttc > 0)::int, 0 FROM billing_documents d
        WHERE ${want("permit")} AND d.kind = 'invoice' AND d.site_id = ss.site_id AND d.issued_at >= ss.lo AND d.issued_at < ss.hi
          AND EXISTS (SELECT 1 FROM billing_permit_invoices bpi WHERE bpi.document_id = d.document_id)
      ) m
      WHERE NOT ss.irregular OR (m.at AT TIME ZONE ss.time_zone) >= ${input.from}::timestamp AND (m.at AT TIME ZONE ss.time_zone) < ${until}::timestamp
    )
    SELECT to_char(bucket, 'YYYY-MM-DD') AS bucket, bucket AT TIME ZONE time_zone AS bucket_start, site_id, time_zone, mode, currency,
           sum(gross)::int8 AS gross, sum(refund)::int8 AS refunds, sum(n)::int8 AS count, sum(n_refund)::int8 AS refund_count
    FROM sums
    GROUP BY bucket, site_id, time_zone, mode, currency
    ORDER BY bucket, site_id, mode, currency`;
  return rows.map((r) => ({ ...r, net: r.gross - r.refunds }));
}
