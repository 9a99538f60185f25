/**
 * What the console's live screens read (no writes): the sites at a glance, one site's whole
 * last-known state (lanes, gateway, alarms, occupancy, weather, recent commands) and its recent
 * feed. One read gives the truth at once after a restart; the live stream (cloud/live/) then
 * keeps it current.
 */
import type { Database, Json } from "../db/index";
import { stateOf, transientFree, type Pool } from "../db/occupancy";
import type { AuditRowLike } from "../http/console/feed-text";

export interface SiteOverview {
  siteId: string;
  name: string;
  timeZone: string;
  currency: string;
  capacity: number | null;
  entriesClosed: boolean;
  occupied: number;
  /** The cars inside per pool (the occupancy counters); `occupied` is their sum. */
  pools: Record<Pool, number>;
  permitSpots: number;
  reservationSpots: number;
  state: "open" | "full" | "closed";
  gateway: "online" | "offline" | null;
  activeAlarms: number;
  lanes: number;
}

export interface LaneView {
  laneId: string;
  name: string;
  kind: "entry" | "exit";
  exitState: string | null;
  barrierState: string | null;
  barrierPos: number | null;
  display: string[] | null;
  sessionId: string | null;
  fault: string | null;
  stateTs: Date | null;
  present: boolean | null;
  presentTs: Date | null;
}

export interface AlarmView {
  alarmId: number;
  laneId: string;
  laneName: string;
  code: string;
  severity: string;
  detail: string | null;
  raisedAt: Date;
}

export interface GatewayView {
  src: string | null;
  status: "online" | "offline" | null;
  statusTs: Date | null;
  statusSince: Date | null;
  heartbeatTs: Date | null;
  uptimeS: number | null;
  outboxDepth: number | null;
}

export interface CommandView {
  cmdId: string;
  laneId: string | null;
  kind: string;
  operator: string;
  reason: string;
  sentAt: Date;
  ackResult: string | null;
  ackDetail: string | null;
  ackAt: Date | null;
}

export interface SiteSnapshot {
  site: SiteOverview & { latitude: number | null; longitude: number | null };
  lanes: LaneView[];
  gateway: GatewayView | null;
  alarms: AlarmView[];
  weather: { observedAt: Date; report: Json } | null;
  commands: CommandView[];
  feed: AuditRowLike[];
}

/** Every site at a glance, or only `siteId`. */
export async function sitesOverview(db: Database, siteId?: string): Promise<SiteOverview[]> {
  const rows = await db.sql<(Omit<SiteOverview, "state" | "occupied" | "pools" | "activeAlarms" | "lanes"> & { pools: Partial<Record<Pool, number>> | null; activeAlarms: string; lanes: string })[]>`
    SELECT s.site_id, s.name, s.time_zone, s.currency, s.capacity, s.entries_closed, s.permit_spots, s.reservation_spots, g.status AS gateway,
      (SELECT jsonb_object_agg(o.pool, o.occupied) FROM occupancy o WHERE o.site_id = s.site_id) AS pools,
      (SELECT count(*) FROM site_alarms a WHERE a.site_id = s.site_id AND a.cleared_at IS NULL) AS active_alarms,
      (SELECT count(*) FROM lanes l WHERE l.site_id = s.site_id) AS lanes
    FROM sites s LEFT JOIN gateway_status g ON g.site_id = s.site_id ${siteId === undefined ? db.sql`` : db.sql`WHERE s.site_id = ${siteId}`} ORDER BY s.site_id`;
  return rows.map((r) => {
    const pools: Record<Pool, number> = { transient: 0, permit: 0, reservation: 0, ...(r.pools ?? {}) };
    const free = transientFree({ pools, capacity: r.capacity, permitSpots: r.permitSpots, reservationSpots: r.reservationSpots });
    return { ...r, pools, occupied: pools.transient + pools.permit + pools.reservation, activeAlarms: Number(r.activeAlarms), lanes: Number(r.lanes), state: stateOf({ entriesClosed: r.entriesClosed, transientFree: free }) };
  });
}

/** One site's last-known state, or undefined for an unknown site. */
export async function siteSnapshot(db: Database, siteId: string, feedLimit = 50): Promise<SiteSnapshot | undefined> {
  const [site] = await sitesOverview(db, siteId);
  if (!site) return undefined;
  const [coords] = await db.sql<{ latitude: number | null; longitude: number | null }[]>`SELECT latitude, longitude FROM sites WHERE site_id = ${siteId}`;
  const [lanes, gateway, alarms, weather, commands, feed] = await Promise.all([
    db.sql<LaneView[]>`
      SELECT l.lane_id, COALESCE(NULLIF(l.name, ''), st.wire_lane_id, l.lane_id) AS name, l.kind, st.exit_state, st.barrier_state, st.barrier_pos, st.display,
             st.session_id, st.fault, st.state_ts, st.present, st.present_ts
      FROM lanes l LEFT JOIN lane_status st ON st.site_id = l.site_id AND st.lane_id = l.lane_id
      WHERE l.site_id = ${siteId} ORDER BY l.kind DESC, l.lane_id`,
    db.sql<GatewayView[]>`SELECT src, status, status_ts, status_since, heartbeat_ts, uptime_s, outbox_depth FROM gateway_status WHERE site_id = ${siteId}`,
    db.sql<AlarmView[]>`
      SELECT a.alarm_id, a.lane_id, COALESCE(NULLIF(l.name, ''), a.lane_id) AS lane_name, a.code, a.severity, a.detail, a.raised_at
      FROM site_alarms a LEFT JOIN lanes l ON l.site_id = a.site_id AND l.lane_id = a.lane_id
      WHERE a.site_id = ${siteId} AND a.cleared_at IS NULL ORDER BY a.raised_at DESC LIMIT 100`,
    db.sql<{ observedAt: Date; report: Json }[]>`SELECT observed_at, report FROM site_weather WHERE site_id = ${siteId}`,
    db.sql<CommandView[]>`SELECT cmd_id, lane_id, kind, operator, reason, sent_at, ack_result, ack_detail, ack_at FROM operator_commands WHERE site_id = ${siteId} ORDER BY sent_at DESC LIMIT 20`,
    db.sql<{ seq: string; ts: Date; kind: string; sessionId: string | null; payload: Json }[]>`
      SELECT seq, ts, kind, session_id, payload FROM audit_log WHERE payload->>'site_id' = ${siteId} ORDER BY seq DESC LIMIT ${feedLimit}`,
  ]);
  return {
    site: { ...site, latitude: coords?.latitude ?? null, longitude: coords?.longitude ?? null },
    lanes: [...lanes],
    gateway: gateway[0] ?? null,
    alarms: alarms.map((a) => ({ ...a, alarmId: Number(a.alarmId) })),
    weather: weather[0] ?? null,
    commands: [...commands],
    feed: feed.map((f) => ({ ...f, seq: Number(f.seq) })),
  };
}
