/**
 * Inbound event de-duplication: provider webhooks (webhook_events, unique per provider event id)
 * and site MQTT events (processed_site_events, unique per site + event id). Both are meant to be
 * called in the SAME transaction as the effect they guard, so "recorded" and "acted on" commit
 * or roll back together: a replay sees the row and acts once.
 */
import type { Json, Q, Tx } from "./types";

export const WEBHOOK_STATUSES = ["received", "processed", "ignored", "failed"] as const;
export type WebhookStatus = (typeof WEBHOOK_STATUSES)[number];

export interface WebhookEventRow {
  provider: string;
  eventId: string;
  type: string;
  status: WebhookStatus;
  attempts: number;
  lastError: string | null;
  payload: Json;
  receivedAt: Date;
  updatedAt: Date;
  processedAt: Date | null;
}

export interface RecordWebhookResult {
  /** true when this provider event id was already recorded (a replay / retry / race). */
  duplicate: boolean;
  /** The stored row (for a duplicate: its status tells whether it was already handled). */
  event: WebhookEventRow;
}

/**
 * Insert-or-detect-duplicate by provider event id. A concurrent delivery of the same event waits
 * on the unique key until the first transaction ends, then sees `duplicate: true`. A duplicate
 * bumps `attempts`. Server flow (one transaction): record → if duplicate and status is processed
 * or ignored, acknowledge; else apply the effect and markWebhookEvent(processed | ignored).
 */
export async function recordWebhookEvent(
  tx: Tx,
  e: { provider: string; eventId: string; type: string; payload: Json },
): Promise<RecordWebhookResult> {
  const [inserted] = await tx<WebhookEventRow[]>`
    INSERT INTO webhook_events (provider, event_id, type, payload)
    VALUES (${e.provider}, ${e.eventId}, ${e.type}, ${tx.json(e.payload)})
    ON CONFLICT (provider, event_id) DO NOTHING RETURNING *`;
  if (inserted) return { duplicate: false, event: inserted };
  const [event] = await tx<WebhookEventRow[]>`
    UPDATE webhook_events SET attempts = attempts + 1, updated_at = now()
    WHERE provider = ${e.provider} AND event_id = ${e.eventId} RETURNING *`;
  return { duplicate: true, event };
}

/** Sets the processing status (processed / ignored / failed) and the last error. */
export async function markWebhookEvent(q: Q, provider: string, eventId: string, status: Exclude<WebhookStatus, "received">, lastError?: string): Promise<WebhookEventRow | undefined> {
  const [row] = await q<WebhookEventRow[]>`
    UPDATE webhook_events SET status = ${status}, last_error = ${lastError ?? null}, updated_at = now(),
      processed_at = CASE WHEN ${status} IN ('processed', 'ignored') THEN now() ELSE processed_at END
    WHERE provider = ${provider} AND event_id = ${eventId} RETURNING *`;
  return row;
}

/**
 * After the processing transaction rolled back: stores the event as failed with its error
 * (outside that transaction) so it is visible and the provider's retry processes it again.
 */
export async function recordWebhookFailure(
  q: Q,
  e: { provider: string; eventId: string; type: string; payload: Json; error: string },
): Promise<WebhookEventRow> {
  const [row] = await q<WebhookEventRow[]>`
    INSERT INTO webhook_events (provider, event_id, type, payload, status, last_error)
    VALUES (${e.provider}, ${e.eventId}, ${e.type}, ${q.json(e.payload)}, 'failed', ${e.error})
    ON CONFLICT (provider, event_id) DO UPDATE
      SET status = CASE WHEN webhook_events.status IN ('processed', 'ignored') THEN webhook_events.status ELSE 'failed' END,
          last_error = EXCLUDED.last_error, attempts = webhook_events.attempts + 1, updated_at = now()
    RETURNING *`;
  return row;
}

export async function getWebhookEvent(q: Q, provider: string, eventId: string): Promise<WebhookEventRow | undefined> {
  const [row] = await q<WebhookEventRow[]>`SELECT * FROM webhook_events WHERE provider = ${provider} AND event_id = ${eventId}`;
  return row;
}

/** Counts by type and status (for /metrics and /health). */
export async function webhookStats(q: Q): Promise<{ type: string; status: WebhookStatus; count: number }[]> {
  return [...(await q<{ type: string; status: WebhookStatus; count: number }[]>`
    SELECT type, status, count(*)::int4 AS count FROM webhook_events GROUP BY type, status ORDER BY type, status`)];
}

/**
 * Records a site event id (MQTT QoS 1 delivers duplicates). Returns true the first time, false
 * for a duplicate — then the caller must not act again. Call it in the effect's transaction.
 */
export async function recordSiteEvent(tx: Tx, e: { siteId: string; eventId: string; topic: string }): Promise<boolean> {
  const rows = await tx`
    INSERT INTO processed_site_events (site_id, event_id, topic) VALUES (${e.siteId}, ${e.eventId}, ${e.topic})
    ON CONFLICT (site_id, event_id) DO NOTHING RETURNING event_id`;
  return rows.length === 1;
}

/** Deletes site event ids older than `before` (keep longer than the site's replay horizon). */
export async function pruneSiteEvents(q: Q, before: Date): Promise<number> {
  const r = await q`DELETE FROM processed_site_events WHERE processed_at < ${before}`;
  return r.count;
}
