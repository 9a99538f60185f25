/**
 * What is wrong right now, read from the database (issue 17): the alert conditions that hold at
 * `now`. Pure reads; the Alerter (./alerter.ts) turns the list into raised / resolved rows of
 * `alert_conditions` and messages.
 *
 * A condition's key names the thing that is wrong, never a count or a time, so that the same
 * trouble evaluated again is the same condition (one message), whatever its figures became:
 *   alarm:<site>:<lane>:<code>      an active safety alarm (severity alarm) or executor fault (fault)
 *   gateway_offline:<site>          the site's gateway offline for at least N minutes
 *   outbox_backlog                  N rows of the cloud outbox unpublished for over 60 s
 *   webhook_failures:<provider>     N webhook events failed within 15 minutes
 *   declines:<site>:<lane>          N failed payments at one exit lane within 15 minutes
 * Keys never contain "~" (the Alerter archives a resolved row under `<key>~<suffix>`) and stay
 * well under the column's 200 characters.
 *
 * The summary is one line, English with the French beside it, naming the site and the lane as
 * the site calls it (`lane_status.wire_lane_id` when known).
 */
import { outboxBacklog } from "../db/outbox";
import type { Q } from "../db/types";
import type { AlertThresholds } from "./config";

export type AlertKind = "executor_fault" | "safety_alarm" | "gateway_offline" | "outbox_backlog" | "webhook_failures" | "repeated_declines";

export interface AlertCondition {
  key: string;
  siteId: string | null;
  kind: AlertKind;
  summary: string;
}

/** Window of the webhook-failure and decline counts. */
export const RECENT_WINDOW_MS = 15 * 60_000;
/** An outbox row counts as backlog once it has waited this long. */
export const OUTBOX_AGE_MS = 60_000;

/** Longest key part taken from free text (an alarm code): keys stay short and "~"-free. */
const KEY_PART_MAX = 48;
const DETAIL_MAX = 160;

function keyPart(s: string | null): string {
  const clean = (s ?? "-").replace(/[^A-Za-z0-9_.-]/g, "_").slice(0, KEY_PART_MAX);
  return clean || "-";
}

function clip(s: string, max = DETAIL_MAX): string {
  const one = s.replace(/\s+/g, " ").trim();
  return one.length > max ? `${one.slice(0, max - 1)}…` : one;
}

function minutesBetween(from: Date, to: Date): number {
  return Math.max(0, Math.floor((to.getTime() - from.getTime()) / 60_000));
}

/** "14:02" in the site's time zone (storage is UTC; people read local time). */
function localTime(at: Date, timeZone: string): string {
  try {
    return new Intl.DateTimeFormat("en-GB", { timeZone, hour: "2-digit", minute: "2-digit", hour12: false }).format(at);
  } catch {
    return `${at.toISOString().slice(11, 16)} UTC`;
  }
}

/** Every condition true at `now`, sorted by key (a stable order for messages and tests). */
export async function evaluateConditions(q: Q, t: AlertThresholds, now: Date = new Date()): Promise<AlertCondition[]> {
  const all = [
    ...(await siteAlarms(q)),
    ...(await gatewaysOffline(q, t.gatewayOfflineMin, now)),
    ...(await backlogCondition(q, t.outboxBacklog, now)),
    ...(await webhookFailures(q, t.webhookFailures, now)),
    ...(await repeatedDeclines(q, t.declinesPerLane, now)),
  ];
  return all.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

interface AlarmRow {
  siteId: string;
  laneId: string;
  code: string;
  severity: "alarm" | "fault";
  detail: string | null;
  wireLaneId: string | null;
}

/** Active alarms and faults, one per (site, lane, code): a fault outranks an alarm of the same code. */
async function siteAlarms(q: Q): Promise<AlertCondition[]> {
  const rows = await q<AlarmRow[]>`
    SELECT DISTINCT ON (a.site_id, a.lane_id, a.code) a.site_id, a.lane_id, a.code, a.severity, a.detail, ls.wire_lane_id
    FROM site_alarms a
    LEFT JOIN lane_status ls ON ls.site_id = a.site_id AND ls.lane_id = a.lane_id
    WHERE a.cleared_at IS NULL AND a.severity IN ('alarm', 'fault')
    ORDER BY a.site_id, a.lane_id, a.code, (a.severity = 'fault') DESC, a.raised_at DESC`;
  return rows.map((r) => {
    const fault = r.severity === "fault";
    const what = fault ? "executor fault / défaut exécuteur" : "safety alarm / alarme sécurité";
    const detail = r.detail ? ` (${clip(r.detail)})` : "";
    return {
      key: `alarm:${r.siteId}:${keyPart(r.laneId)}:${keyPart(r.code)}`,
      siteId: r.siteId,
      kind: fault ? "executor_fault" : "safety_alarm",
      summary: `${r.siteId} / ${r.wireLaneId ?? r.laneId}: ${what} ${clip(r.code, 64)}${detail}`,
    };
  });
}

async function gatewaysOffline(q: Q, minutes: number, now: Date): Promise<AlertCondition[]> {
  const before = new Date(now.getTime() - minutes * 60_000);
  const rows = await q<{ siteId: string; since: Date; timeZone: string }[]>`
    SELECT g.site_id, COALESCE(g.status_since, g.status_ts) AS since, s.time_zone
    FROM gateway_status g JOIN sites s ON s.site_id = g.site_id
    WHERE g.status = 'offline' AND COALESCE(g.status_since, g.status_ts) <= ${before}`;
  return rows.map((r) => ({
    key: `gateway_offline:${r.siteId}`,
    siteId: r.siteId,
    kind: "gateway_offline" as const,
    summary: `${r.siteId}: gateway offline / passerelle hors ligne since ${localTime(r.since, r.timeZone)} (${r.timeZone}), ${minutesBetween(r.since, now)} min`,
  }));
}

async function backlogCondition(q: Q, threshold: number, now: Date): Promise<AlertCondition[]> {
  const row = await outboxBacklog(q, { createdBefore: new Date(now.getTime() - OUTBOX_AGE_MS) });
  if (!row || row.pending < threshold || !row.oldest) return [];
  return [
    {
      key: "outbox_backlog",
      siteId: null,
      kind: "outbox_backlog",
      summary: `cloud: ${row.pending} messages to sites unpublished for over 60 s / messages vers les sites en attente (oldest ${minutesBetween(row.oldest, now)} min)`,
    },
  ];
}

async function webhookFailures(q: Q, threshold: number, now: Date): Promise<AlertCondition[]> {
  const since = new Date(now.getTime() - RECENT_WINDOW_MS);
  const rows = await q<{ provider: string; n: number; lastType: string; lastError: string | null }[]>`
    SELECT provider, count(*)::int4 AS n,
           (array_agg(type ORDER BY updated_at DESC))[1] AS last_type,
           (array_agg(last_error ORDER BY updated_at DESC))[1] AS last_error
    FROM webhook_events
    WHERE status = 'failed' AND updated_at >= ${since}
    GROUP BY provider HAVING count(*) >= ${threshold}`;
  return rows.map((r) => ({
    key: `webhook_failures:${keyPart(r.provider)}`,
    siteId: null,
    kind: "webhook_failures" as const,
    summary: `${r.provider} webhooks: ${r.n} failed in 15 min / webhooks en échec (last: ${clip(r.lastType, 64)}${r.lastError ? `: ${clip(r.lastError, 120)}` : ""})`,
  }));
}

async function repeatedDeclines(q: Q, threshold: number, now: Date): Promise<AlertCondition[]> {
  const since = new Date(now.getTime() - RECENT_WINDOW_MS);
  const rows = await q<{ siteId: string; laneId: string | null; wireLaneId: string | null; n: number }[]>`
    SELECT s.site_id, s.exit_lane_id AS lane_id, max(ls.wire_lane_id) AS wire_lane_id, count(*)::int4 AS n
    FROM payments p
    JOIN sessions s ON s.session_id = p.session_id
    LEFT JOIN lane_status ls ON ls.site_id = s.site_id AND ls.lane_id = s.exit_lane_id
    WHERE p.state = 'failed' AND p.updated_at >= ${since}
    GROUP BY s.site_id, s.exit_lane_id HAVING count(*) >= ${threshold}`;
  return rows.map((r) => ({
    key: `declines:${r.siteId}:${keyPart(r.laneId)}`,
    siteId: r.siteId,
    kind: "repeated_declines" as const,
    summary: `${r.siteId} / ${r.wireLaneId ?? r.laneId ?? "?"}: ${r.n} payments declined in 15 min / paiements refusés`,
  }));
}
