/**
 * The revenue report around its query (cloud/db/revenue.ts): the parameters validated at the
 * boundary (zod, a message naming the field), totals per currency (amounts of different
 * currencies are never added), and the two export formats:
 * - CSV: a header line, one line per row, amounts in MAJOR units with a dot ("12.50", exact
 *   decimal strings from the integer minor units, never floats), the currency in its own column;
 * - NDJSON: one JSON object per line, amounts in MINOR units (integers), as stored.
 */
import { z } from "zod";
import { GRANULARITIES, REVENUE_MODES, revenueRows, type RevenueMode, type RevenueQuery, type RevenueRow } from "../db/revenue";
import type { Q } from "../db/types";
import { minorDigits, toDecimalString } from "../tariffs/money";

/** At most three years of report in one request (a daily report of that span is ~1,100 buckets per site and mode). */
export const MAX_RANGE_YEARS = 3;

function realDate(s: string): boolean {
  const d = new Date(`${s}T00:00:00Z`);
  return !Number.isNaN(d.getTime()) && d.toISOString().slice(0, 10) === s;
}

const isoDate = (field: string) =>
  z
    .string({ error: `${field}: required, a date YYYY-MM-DD` })
    .regex(/^\d{4}-\d{2}-\d{2}$/, { error: `${field}: a date YYYY-MM-DD`, abort: true })
    .refine(realDate, `${field}: not a calendar date`);

/** A query string value that may be repeated (?site=a&site=b) or comma-separated (?site=a,b); "" means none. */
const listOf = <T extends z.ZodType<string>>(item: T) =>
  z.preprocess(
    (v) => (v === undefined ? [] : (Array.isArray(v) ? v : [v]).flatMap((x) => (typeof x === "string" ? x.split(",") : [x])).filter((x) => x !== "")),
    z.array(item).max(200),
  );

const SITE_ID = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, "a site id (lowercase letters, digits, - and _)");

export const RevenueParamsSchema = z
  .object({
    from: isoDate("from"),
    to: isoDate("to"),
    granularity: z.enum(GRANULARITIES, { error: `granularity: one of ${GRANULARITIES.join(", ")}` }).default("day"),
    site: listOf(SITE_ID),
    mode: listOf(z.enum(REVENUE_MODES, { error: `one of ${REVENUE_MODES.join(", ")}` })),
  })
  .superRefine((v, ctx) => {
    // zod runs this even when a date above was refused: compare only real dates.
    if (!realDate(v.from) || !realDate(v.to)) return;
    if (v.to < v.from) ctx.addIssue({ code: "custom", path: ["to"], message: `to: ${v.to} is before from ${v.from}` });
    const limit = new Date(`${v.from}T00:00:00Z`);
    limit.setUTCFullYear(limit.getUTCFullYear() + MAX_RANGE_YEARS);
    if (v.to >= limit.toISOString().slice(0, 10)) ctx.addIssue({ code: "custom", path: ["to"], message: `to: the range is at most ${MAX_RANGE_YEARS} years (to before ${limit.toISOString().slice(0, 10)})` });
  });

export type RevenueParams = z.infer<typeof RevenueParamsSchema>;

/** The raw query with from/to defaulted to the current month up to today (UTC calendar). */
/** The default range: this month up to today, "today" being the site's day (`zone`), not UTC's. */
export function withDefaults(raw: Record<string, unknown>, now = new Date(), zone = "UTC"): Record<string, unknown> {
  const today = new Intl.DateTimeFormat("en-CA", { timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit" }).format(now);
  const out = { ...raw };
  if (out.from === undefined || out.from === "") out.from = `${today.slice(0, 8)}01`;
  if (out.to === undefined || out.to === "") out.to = today;
  if (out.granularity === "") delete out.granularity;
  return out;
}

export function toQuery(p: RevenueParams): RevenueQuery {
  return { from: p.from, to: p.to, granularity: p.granularity, siteIds: p.site, modes: p.mode as RevenueMode[] };
}

export interface RevenueTotal {
  currency: string;
  gross: number;
  refunds: number;
  net: number;
  count: number;
  refundCount: number;
}

/** Totals per currency (and, with `by`, per currency and that key), sorted by currency. */
export function totals(rows: readonly RevenueRow[], by?: (r: RevenueRow) => string): (RevenueTotal & { key?: string })[] {
  const acc = new Map<string, RevenueTotal & { key?: string }>();
  for (const r of rows) {
    const key = by ? by(r) : undefined;
    const id = `${r.currency}\u0000${key ?? ""}`;
    let t = acc.get(id);
    if (!t) acc.set(id, (t = { currency: r.currency, gross: 0, refunds: 0, net: 0, count: 0, refundCount: 0, ...(key === undefined ? {} : { key }) }));
    t.gross += r.gross;
    t.refunds += r.refunds;
    t.net += r.net;
    t.count += r.count;
    t.refundCount += r.refundCount;
  }
  return [...acc.values()].sort((a, b) => a.currency.localeCompare(b.currency) || (a.key ?? "").localeCompare(b.key ?? ""));
}

export interface RevenueReport {
  params: RevenueParams;
  rows: RevenueRow[];
  totals: RevenueTotal[];
}

export async function revenueReport(q: Q, params: RevenueParams): Promise<RevenueReport> {
  const rows = await revenueRows(q, toQuery(params));
  return { params, rows, totals: totals(rows) };
}

const major = (amount: number, currency: string) => toDecimalString(amount, minorDigits(currency));

/** RFC 4180 field; a leading = + - @ is prefixed with ' so a spreadsheet never runs it as a formula. */
function csvField(v: string): string {
  const safe = /^[=+\-@\t\r]/.test(v) && !/^-?\d/.test(v) ? `'${v}` : v;
  return /[",\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

export const CSV_HEADER = ["bucket", "bucket_start_utc", "site_id", "time_zone", "mode", "currency", "gross", "refunds", "net", "count", "refund_count"];

export function toCsv(rows: readonly RevenueRow[]): string {
  const lines = [CSV_HEADER.join(",")];
  for (const r of rows) {
    lines.push(
      [r.bucket, r.bucketStart.toISOString(), r.siteId, r.timeZone, r.mode, r.currency, major(r.gross, r.currency), major(r.refunds, r.currency), major(r.net, r.currency), String(r.count), String(r.refundCount)]
        .map(csvField)
        .join(","),
    );
  }
  return lines.join("\r\n") + "\r\n";
}

export function rowJson(r: RevenueRow): Record<string, string | number> {
  return { bucket: r.bucket, bucket_start: r.bucketStart.toISOString(), site_id: r.siteId, time_zone: r.timeZone, mode: r.mode, currency: r.currency, gross: r.gross, refunds: r.refunds, net: r.net, count: r.count, refund_count: r.refundCount };
}

export function toNdjson(rows: readonly RevenueRow[]): string {
  return rows.map((r) => JSON.stringify(rowJson(r)) + "\n").join("");
}

export function totalJson(t: RevenueTotal): Record<string, string | number> {
  return { currency: t.currency, gross: t.gross, refunds: t.refunds, net: t.net, count: t.count, refund_count: t.refundCount };
}
