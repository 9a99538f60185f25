/**
 * What the operator console reads (no writes): the dashboard's sessions, latest audit rows and
 * exit lanes, the audit chain's head for an export, and the chain check. The audit rows that hot
 * transactions queued join the chain first (flushAudit), so an export or a check sees them.
 */
import { listSessions, listSites, verifyAuditChain, type Database, type Json, type SessionRow } from "../db/index";
import { flushAudit } from "../server/audit-chain";

export interface DashboardData {
  sessions: SessionRow[];
  events: { seq: number; ts: Date; kind: string; sessionId: string | null; payload: Json }[];
  /** Exit lanes; none while no site is configured. */
  lanes: { siteId: string; laneId: string; name: string }[];
}

export async function dashboardData(db: Database): Promise<DashboardData> {
  const [sessions, sites] = await Promise.all([listSessions(db.sql, { limit: 100 }), listSites(db.sql)]);
  const events = await db.sql<DashboardData["events"]>`SELECT seq, ts, kind, session_id, payload FROM audit_log ORDER BY seq DESC LIMIT 50`;
  const lanes = await db.sql<DashboardData["lanes"]>`SELECT site_id, lane_id, name FROM lanes WHERE kind = 'exit' ORDER BY site_id, lane_id`;
  return { sessions, events, lanes: sites.length > 0 ? lanes : [] };
}

/** The chain's head once every queued row has joined it: what an export starts from. */
export async function auditHeadForExport(db: Database): Promise<{ seq: number; hash: string }> {
  await flushAudit(db);
  const [head] = await db.sql<{ seq: number; hash: string }[]>`SELECT seq, hash FROM audit_head WHERE singleton`;
  return head;
}

export async function verifyAudit(db: Database): ReturnType<typeof verifyAuditChain> {
  await flushAudit(db);
  return verifyAuditChain(db.sql);
}
