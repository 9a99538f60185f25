/**
 * Last-known state of the sites (migration 14): what each lane, gateway and sensor said last.
 * Every write is guarded by the site's own timestamp, so an older message (a retained one
 * delivered again after a reconnect, a QoS 1 duplicate) never overwrites a newer one; writes are
 * therefore idempotent and need no event id.
 */
import { ACTIVE_SEVERITIES, severitiesClearedBy, type AlarmSeverity } from "../domain/lane-alarms";
import { occupancyOf, type Pool, type SiteState } from "./occupancy";
import type { Q } from "./types";

export interface LaneStateInput {
  siteId: string;
  laneId: string;
  wireLaneId: string;
  ts: Date;
  exitState: string;
  barrierState?: string;
  barrierPos?: number;
  display?: string[];
  sessionId?: string;
  fault?: string;
  present?: boolean;
}

/** Stores a lane state if it is newer than the one kept; clears the alarms it clears. Returns false when stale. */
export async function saveLaneState(q: Q, s: LaneStateInput): Promise<{ saved: boolean; cleared: number }> {
  const rows = await q`
    INSERT INTO lane_status AS l (site_id, lane_id, wire_lane_id, exit_state, barrier_state, barrier_pos, display, session_id, fault, state_ts, present, present_ts, updated_at)
    VALUES (${s.siteId}, ${s.laneId}, ${s.wireLaneId}, ${s.exitState}, ${s.barrierState ?? null}, ${s.barrierPos ?? null}, ${s.display ? q.json(s.display) : null}, ${s.sessionId ?? null}, ${s.fault ?? null}, ${s.ts},
            ${s.present ?? null}, ${s.present === undefined ? null : s.ts}, now())
    ON CONFLICT (site_id, lane_id) DO UPDATE SET wire_lane_id = EXCLUDED.wire_lane_id, exit_state = EXCLUDED.exit_state, barrier_state = EXCLUDED.barrier_state,
      barrier_pos = EXCLUDED.barrier_pos, display = EXCLUDED.display, session_id = EXCLUDED.session_id, fault = EXCLUDED.fault, state_ts = EXCLUDED.state_ts,
      present = CASE WHEN EXCLUDED.present_ts IS NOT NULL AND (l.present_ts IS NULL OR l.present_ts < EXCLUDED.present_ts) THEN EXCLUDED.present ELSE l.present END,
      present_ts = GREATEST(l.present_ts, EXCLUDED.present_ts), updated_at = now()
    WHERE l.state_ts IS NULL OR l.state_ts < EXCLUDED.state_ts
    RETURNING 1`;
  if (rows.length === 0) return { saved: false, cleared: 0 };
  const severities = severitiesClearedBy({ fault: s.fault ?? null, barrier_state: s.barrierState ?? null });
  if (severities.length === 0) return { saved: true, cleared: 0 };
  const cleared = await q`
    UPDATE site_alarms SET cleared_at = ${s.ts}, cleared_by = 'lane'
    WHERE site_id = ${s.siteId} AND lane_id = ${s.laneId} AND cleared_at IS NULL AND severity = ANY(${severities as string[]}) AND raised_at <= ${s.ts}
    RETURNING 1`;
  return { saved: true, cleared: cleared.length };
}

export async function savePresence(q: Q, p: { siteId: string; laneId: string; wireLaneId: string; ts: Date; present: boolean }): Promise<boolean> {
  const rows = await q`
    INSERT INTO lane_status AS l (site_id, lane_id, wire_lane_id, present, present_ts, updated_at)
    VALUES (${p.siteId}, ${p.laneId}, ${p.wireLaneId}, ${p.present}, ${p.ts}, now())
    ON CONFLICT (site_id, lane_id) DO UPDATE SET present = EXCLUDED.present, present_ts = EXCLUDED.present_ts, updated_at = now()
    WHERE l.present_ts IS NULL OR l.present_ts < EXCLUDED.present_ts
    RETURNING 1`;
  return rows.length > 0;
}

/**
 * The gateway's retained online / offline (its bridge's last will), timed by its arrival at the
 * cloud (flows/site-status.ts says why): a later arrival wins, even within the same millisecond;
 * `status_since` moves only when the status changes.
 */
export async function saveGatewayStatus(q: Q, g: { siteId: string; src: string; ts: Date; status: "online" | "offline" }): Promise<boolean> {
  const rows = await q`
    INSERT INTO gateway_status AS g (site_id, src, status, status_ts, status_since, updated_at)
    VALUES (${g.siteId}, ${g.src}, ${g.status}, ${g.ts}, ${g.ts}, now())
    ON CONFLICT (site_id) DO UPDATE SET src = EXCLUDED.src, status = EXCLUDED.status, status_ts = EXCLUDED.status_ts,
      status_since = CASE WHEN g.status IS DISTINCT FROM EXCLUDED.status THEN EXCLUDED.status_ts ELSE g.status_since END, updated_at = now()
    WHERE g.status_ts IS NULL OR g.status_ts <= EXCLUDED.status_ts
    RETURNING 1`;
  return rows.length > 0;
}

export async function saveHeartbeat(q: Q, h: { siteId: string; src: string; ts: Date; uptimeS: number; outboxDepth?: number }): Promise<boolean> {
  const rows = await q`
    INSERT INTO gateway_status AS g (site_id, src, heartbeat_ts, uptime_s, outbox_depth, updated_at)
    VALUES (${h.siteId}, ${h.src}, ${h.ts}, ${h.uptimeS}, ${h.outboxDepth ?? null}, now())
    ON CONFLICT (site_id) DO UPDATE SET src = EXCLUDED.src, heartbeat_ts = EXCLUDED.heartbeat_ts, uptime_s = EXCLUDED.uptime_s, outbox_depth = EXCLUDED.outbox_depth, updated_at = now()
    WHERE g.heartbeat_ts IS NULL OR g.heartbeat_ts < EXCLUDED.heartbeat_ts
    RETURNING 1`;
  return rows.length > 0;
}

/**
 * A safety alarm or executor fault (parking/sensor_gate/error), once per event id. `task`: an
 * operator task (an unknown identity at an exit): active whatever its severity until an operator
 * clears it — a lane's state never clears it (severitiesClearedBy names alarm and fault only).
 */
export async function recordAlarm(q: Q, a: { siteId: string; laneId: string; eventId: string; code: string; severity: AlarmSeverity; detail?: string; ts: Date; task?: boolean }): Promise<boolean> {
  const active = a.task === true || ACTIVE_SEVERITIES.includes(a.severity);
  const rows = await q`
    INSERT INTO site_alarms (site_id, lane_id, event_id, code, severity, detail, raised_at, cleared_at, cleared_by)
    VALUES (${a.siteId}, ${a.laneId}, ${a.eventId}, ${a.code}, ${a.severity}, ${a.detail ?? null}, ${a.ts},
            ${active ? null : a.ts}, ${active ? null : "event"})
    ON CONFLICT (site_id, event_id) DO NOTHING RETURNING 1`;
  return rows.length > 0;
}

/** An operator clears an alarm by hand; false when it was not active. */
export async function clearAlarmByOperator(q: Q, siteId: string, alarmId: number, operator: string): Promise<boolean> {
  const rows = await q`UPDATE site_alarms SET cleared_at = now(), cleared_by = ${`operator:${operator}`} WHERE site_id = ${siteId} AND alarm_id = ${alarmId} AND cleared_at IS NULL RETURNING 1`;
  return rows.length > 0;
}

/** The site's answer to a command (parking/barriere/ack), kept once: the first answer wins. */
export async function recordCommandAck(q: Q, a: { siteId: string; cmdId: string; result: string; detail?: string; ts: Date }): Promise<boolean> {
  const rows = await q`UPDATE operator_commands SET ack_result = ${a.result}, ack_detail = ${a.detail ?? null}, ack_at = ${a.ts}
                       WHERE cmd_id = ${a.cmdId} AND site_id = ${a.siteId} AND ack_result IS NULL RETURNING 1`;
  return rows.length > 0;
}

export type CommandKind = "open" | "reset" | "close" | "display" | "entries_closed" | "entries_open";

/** A command an operator sent to a site, for its acknowledgement; false when the cmd_id is already recorded. */
export async function recordCommand(q: Q, c: { cmdId: string; siteId: string; laneId: string | null; kind: CommandKind; operator: string; reason: string; detail?: Record<string, string | number | boolean | string[]> }): Promise<boolean> {
  const rows = await q`INSERT INTO operator_commands (cmd_id, site_id, lane_id, kind, operator, reason, detail)
                       VALUES (${c.cmdId}, ${c.siteId}, ${c.laneId}, ${c.kind}, ${c.operator}, ${c.reason}, ${q.json(c.detail ?? {})})
                       ON CONFLICT (cmd_id) DO NOTHING RETURNING 1`;
  return rows.length > 0;
}

export interface CommandRow {
  cmdId: string;
  siteId: string;
  laneId: string | null;
  kind: CommandKind;
  operator: string;
  reason: string;
  sentAt: Date;
  ackResult: string | null;
  ackDetail: string | null;
  ackAt: Date | null;
}

export async function getCommand(q: Q, cmdId: string): Promise<CommandRow | undefined> {
  const [row] = await q<CommandRow[]>`SELECT cmd_id, site_id, lane_id, kind, operator, reason, sent_at, ack_result, ack_detail, ack_at FROM operator_commands WHERE cmd_id = ${cmdId}`;
  return row;
}

export interface SiteOccupancy {
  /** The cars inside, every pool (the occupancy counters of migration 17). */
  occupied: number;
  capacity: number | null;
  entriesClosed: boolean;
  /** Per pool, and the state the entry displays show (./occupancy.ts stateOf: spaces held back for permits and reservations count). */
  pools: Record<Pool, number>;
  state: SiteState;
}

/** A site's occupancy (undefined for an unknown site): read from the counters, not by counting sessions. */
export async function siteOccupancy(q: Q, siteId: string): Promise<SiteOccupancy | undefined> {
  const o = await occupancyOf(q, siteId);
  return o && { occupied: o.total, capacity: o.capacity, entriesClosed: o.entriesClosed, pools: o.pools, state: o.state };
}
