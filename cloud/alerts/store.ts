/**
 * The `alert_conditions` table (migration 14), as the Alerter uses it. One row per occurrence of
 * a condition: raised once, resolved once, each notified once, whatever the number of cloud
 * instances evaluating.
 *
 * Keys: while a condition is unresolved its row holds the bare key (`alarm:paris-centre:l1:X`),
 * so the primary key itself refuses a second row for it (INSERT … ON CONFLICT DO NOTHING). When
 * it clears, the row is archived under `<key>~<random>` in the same statement that sets
 * `resolved_at`: the bare key is free again, and the same trouble coming back later raises a new
 * row (a new message) while the old one still owes its "resolved" message. A row is therefore
 * identified across renames by its bare key (the part before "~") and its `raised_at`.
 *
 * Sending: rows are claimed with `FOR UPDATE SKIP LOCKED` and a lease (`next_attempt_at` moved
 * past the send's timeout), committed before the message goes out, so no transaction is open
 * while Telegram answers (on PGlite the one connection is shared with every site event) and two
 * instances never send the same row. A process killed between Telegram's answer and the mark
 * sends that one message again once the lease ends (at-least-once: better a duplicate than a lost
 * safety alarm).
 */
import type { Q, Tx } from "../db/types";
import type { AlertCondition, AlertKind } from "./conditions";

export interface AlertRow {
  conditionKey: string;
  siteId: string | null;
  kind: AlertKind;
  summary: string;
  raisedAt: Date;
  resolvedAt: Date | null;
  raisedSentAt: Date | null;
  resolvedSentAt: Date | null;
  attempts: number;
  nextAttemptAt: Date;
  lastError: string | null;
}

/** One advisory lock serialises evaluate-and-sync, and claiming, across cloud instances. */
const ALERTS_LOCK = 17_017_017;
/** Bare keys are at most this long, leaving room for the archive suffix under the column's 200. */
export const MAX_KEY = 180;
/** Archived rows, fully notified, are kept this long (the console may list recent alerts). */
const KEEP_DAYS = 30;

export function bareKey(conditionKey: string): string {
  return conditionKey.split("~", 1)[0];
}

export async function lockAlerts(tx: Tx): Promise<void> {
  await tx`SELECT pg_advisory_xact_lock(${ALERTS_LOCK}::int8)`;
}

/**
 * Makes the table agree with the conditions true now: a row raised for each new one, the
 * unresolved rows of the others resolved (and archived). Call under lockAlerts, with the
 * conditions evaluated in the same transaction. Returns the keys raised and resolved.
 */
export async function syncConditions(tx: Tx, conditions: readonly AlertCondition[], now: Date): Promise<{ raised: string[]; resolved: string[] }> {
  const valid = conditions.filter((c) => c.key.length > 0 && c.key.length <= MAX_KEY && !c.key.includes("~"));
  let raised: string[] = [];
  if (valid.length > 0) {
    const rows = valid.map((c) => ({ condition_key: c.key, site_id: c.siteId, kind: c.kind, summary: c.summary.slice(0, 1000), raised_at: now, next_attempt_at: now }));
    const r = await tx<{ conditionKey: string }[]>`
      INSERT INTO alert_conditions ${tx(rows, "condition_key", "site_id", "kind", "summary", "raised_at", "next_attempt_at")}
      ON CONFLICT (condition_key) DO NOTHING RETURNING condition_key`;
    raised = r.map((x) => x.conditionKey);
  }
  const keys = valid.map((c) => c.key);
  const r = await tx<{ conditionKey: string }[]>`
    UPDATE alert_conditions
    SET resolved_at = ${now},
        condition_key = condition_key || '~' || substr(md5(random()::text || clock_timestamp()::text), 1, 12)
    WHERE resolved_at IS NULL AND condition_key <> ALL(${tx.array(keys, 25)}::text[])
    RETURNING condition_key`;
  await tx`DELETE FROM alert_conditions WHERE resolved_sent_at < ${new Date(now.getTime() - KEEP_DAYS * 86_400_000)}`;
  return { raised, resolved: r.map((x) => bareKey(x.conditionKey)) };
}

/**
 * How many more messages may go out now under `perMinute`: those sent in the last minute, and
 * first attempts claimed but not yet answered (possibly by another instance), count.
 */
export async function sendBudget(tx: Tx, perMinute: number, now: Date): Promise<number> {
  const minuteAgo = new Date(now.getTime() - 60_000);
  const [row] = await tx<{ n: number }[]>`
    SELECT ((SELECT count(*) FROM alert_conditions WHERE raised_sent_at > ${minuteAgo})
          + (SELECT count(*) FROM alert_conditions WHERE resolved_sent_at > ${minuteAgo})
          + (SELECT count(*) FROM alert_conditions
             WHERE (raised_sent_at IS NULL OR (resolved_at IS NOT NULL AND resolved_sent_at IS NULL))
               AND next_attempt_at > ${now} AND last_error IS NULL))::int4 AS n`;
  return Math.max(0, perMinute - row.n);
}

/** Claims up to `limit` rows owing a message, oldest event first, leased until `leaseUntil`. */
export async function claimOwed(tx: Tx, limit: number, now: Date, leaseUntil: Date): Promise<AlertRow[]> {
  if (limit <= 0) return [];
  const rows = await tx<AlertRow[]>`
    WITH picked AS (
      SELECT condition_key FROM alert_conditions
      WHERE (raised_sent_at IS NULL OR (resolved_at IS NOT NULL AND resolved_sent_at IS NULL)) AND next_attempt_at <= ${now}
      ORDER BY CASE WHEN raised_sent_at IS NULL THEN raised_at ELSE resolved_at END, condition_key
      LIMIT ${limit}
      FOR UPDATE SKIP LOCKED
    )
    UPDATE alert_conditions a SET next_attempt_at = ${leaseUntil}
    FROM picked WHERE a.condition_key = picked.condition_key
    RETURNING a.*`;
  const due = (r: AlertRow) => (r.raisedSentAt === null ? r.raisedAt : (r.resolvedAt as Date)).getTime();
  return [...rows].sort((a, b) => due(a) - due(b));
}

/** The row a claim returned, wherever its key went since (it may have been archived meanwhile). */
function same(q: Q, row: AlertRow) {
  return q`split_part(condition_key, '~', 1) = ${bareKey(row.conditionKey)} AND raised_at = ${row.raisedAt}`;
}

/** The message owed by a claimed row was delivered (or given up: `lastError` says so). */
export async function markSent(q: Q, row: AlertRow, which: "raised" | "resolved", now: Date, lastError: string | null = null): Promise<void> {
  if (which === "raised") {
    await q`UPDATE alert_conditions SET raised_sent_at = ${now}, attempts = 0, last_error = ${lastError}, next_attempt_at = ${now}
            WHERE ${same(q, row)} AND raised_sent_at IS NULL`;
  } else {
    await q`UPDATE alert_conditions SET resolved_sent_at = ${now}, attempts = 0, last_error = ${lastError}, next_attempt_at = ${now}
            WHERE ${same(q, row)} AND resolved_at IS NOT NULL AND resolved_sent_at IS NULL`;
  }
}

/** A failed attempt: counted, its error kept, tried again at `retryAt`. */
export async function markFailed(q: Q, row: AlertRow, error: string, retryAt: Date): Promise<void> {
  await q`UPDATE alert_conditions SET attempts = attempts + 1, last_error = ${error.slice(0, 500)}, next_attempt_at = ${retryAt} WHERE ${same(q, row)}`;
}

/** A claimed row not attempted (stopping, or Telegram asked us to wait): free again at `at`. */
export async function release(q: Q, row: AlertRow, at: Date): Promise<void> {
  await q`UPDATE alert_conditions SET next_attempt_at = ${at} WHERE ${same(q, row)}`;
}
