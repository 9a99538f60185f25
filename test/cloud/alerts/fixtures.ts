/**
 * Rows for the alert conditions, inserted directly (the code that writes them in production —
 * the site-state consumer, the payment flows, the relay — is tested elsewhere): a site with its
 * lanes, an alarm, a gateway status, outbox rows, failed payments, failed webhook events.
 */
import { randomBytes } from "node:crypto";
import { upsertLane, upsertSite, type Database } from "../../../cloud/db/index";

const id = () => randomBytes(5).toString("hex");
export const minutes = (at: Date, n: number) => new Date(at.getTime() + n * 60_000);
export const seconds = (at: Date, n: number) => new Date(at.getTime() + n * 1000);

/** A site with exit lane `l1`, which the site calls `L1` on the wire. */
export async function newSite(db: Database): Promise<string> {
  const siteId = `al-${id()}`;
  await upsertSite(db.sql, { siteId, name: `Alerts ${siteId}`, timeZone: "Europe/Paris", currency: "EUR" });
  await upsertLane(db.sql, { siteId, laneId: "l1", kind: "exit" });
  await upsertLane(db.sql, { siteId, laneId: "l2", kind: "exit" });
  await db.sql`INSERT INTO lane_status (site_id, lane_id, wire_lane_id) VALUES (${siteId}, 'l1', 'L1')`;
  return siteId;
}

export async function raiseAlarm(db: Database, a: { siteId: string; laneId?: string; code: string; severity: "info" | "warning" | "alarm" | "fault"; detail?: string; at: Date }): Promise<number> {
  const [row] = await db.sql<{ alarmId: number }[]>`
    INSERT INTO site_alarms (site_id, lane_id, event_id, code, severity, detail, raised_at)
    VALUES (${a.siteId}, ${a.laneId ?? "l1"}, ${`ev-${id()}`}, ${a.code}, ${a.severity}, ${a.detail ?? null}, ${a.at})
    RETURNING alarm_id`;
  return row.alarmId;
}

export async function clearAlarms(db: Database, siteId: string, at: Date): Promise<void> {
  await db.sql`UPDATE site_alarms SET cleared_at = ${at}, cleared_by = 'lane' WHERE site_id = ${siteId} AND cleared_at IS NULL`;
}

export async function gatewayStatus(db: Database, siteId: string, status: "online" | "offline", since: Date): Promise<void> {
  await db.sql`
    INSERT INTO gateway_status (site_id, src, status, status_ts, status_since) VALUES (${siteId}, 'gw', ${status}, ${since}, ${since})
    ON CONFLICT (site_id) DO UPDATE SET status = EXCLUDED.status, status_ts = EXCLUDED.status_ts, status_since = EXCLUDED.status_since`;
}

export async function outboxRows(db: Database, siteId: string, n: number, createdAt: Date): Promise<void> {
  for (let i = 0; i < n; i++) {
    await db.sql`INSERT INTO outbox (topic, payload, created_at) VALUES (${`syspark/${siteId}/parking/display/text`}, ${db.sql.json({ i })}, ${createdAt})`;
  }
}

/** `n` failed payments of sessions leaving by `laneId`, last updated at `at`. */
export async function declinedPayments(db: Database, siteId: string, laneId: string, n: number, at: Date): Promise<void> {
  for (let i = 0; i < n; i++) {
    const sessionId = `s-${id()}`;
    await db.sql`
      INSERT INTO sessions (session_id, site_id, exit_lane_id, identity_method, identity_value, entry_ts, status, amount, currency)
      VALUES (${sessionId}, ${siteId}, ${laneId}, 'plate', ${`AA${id()}`.toUpperCase()}, ${minutes(at, -90)}, 'pending_payment', 450, 'EUR')`;
    await db.sql`
      INSERT INTO payments (payment_id, session_id, provider, provider_ref, amount, currency, state, idempotency_key, failure_reason, updated_at)
      VALUES (${`p-${id()}`}, ${sessionId}, 'stripe', ${`pi_${id()}`}, 450, 'EUR', 'failed', ${`k-${id()}`}, 'card_declined', ${at})`;
  }
}

export async function failedWebhook(db: Database, at: Date, provider = "stripe"): Promise<string> {
  const eventId = `evt_${id()}`;
  await db.sql`
    INSERT INTO webhook_events (provider, event_id, type, status, last_error, payload, updated_at)
    VALUES (${provider}, ${eventId}, 'payment_intent.succeeded', 'failed', 'session not found', ${db.sql.json({})}, ${at})`;
  return eventId;
}

/** Every condition source emptied: each test starts from a quiet database. */
export async function quiet(db: Database): Promise<void> {
  await db.sql`DELETE FROM alert_conditions`;
  await db.sql`UPDATE site_alarms SET cleared_at = now() WHERE cleared_at IS NULL`;
  await db.sql`UPDATE gateway_status SET status = 'online'`;
  await db.sql`UPDATE outbox SET published_at = now() WHERE published_at IS NULL`;
  await db.sql`UPDATE webhook_events SET status = 'processed' WHERE status = 'failed'`;
  await db.sql`UPDATE payments SET updated_at = '2000-01-01' WHERE state = 'failed'`;
}
