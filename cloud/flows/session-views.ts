/**
 * The console's search and session page (issue 17), read only: find sessions by plate, badge,
 * ticket, payment reference, amount and time range; explain one exit — its audit rows and
 * whether they verify against the chain, the quote and tariff version, every payment attempt,
 * refunds, receipts and credit notes, overrides with operator and reason, the barrier result.
 */
import { listCreditNotesOfSession, type DocumentRow } from "../billing/documents";
import { auditHash, listPayments, listRefundsOfSession, type Database, type Json, type PaymentRow, type RefundRow, type SessionRow } from "../db/index";
import { canonicalPlate } from "../domain/plates";

export interface SessionSearch {
  /** Plate, badge or ticket (any form: "ab-123 cd" finds AB123CD). */
  identity?: string;
  /** A payment id, the provider's reference (pi_…, cs_…) or its PaymentIntent. */
  paymentRef?: string;
  /** Minor units: the session's quote or any of its payments. */
  amount?: number;
  siteId?: string;
  status?: SessionRow["status"];
  from?: Date;
  to?: Date;
  limit?: number;
}

export type SessionHit = Pick<SessionRow, "sessionId" | "siteId" | "identityMethod" | "identityValue" | "entryTs" | "exitTs" | "status" | "amount" | "currency"> & { timeZone: string };

export async function searchSessions(db: Database, s: SessionSearch): Promise<SessionHit[]> {
  const q = db.sql;
  const conds = [];
  if (s.identity !== undefined) {
    const raw = s.identity.trim();
    const forms = [...new Set([raw, raw.toUpperCase(), canonicalPlate(raw), raw.replace(/[\s:.-]/g, "").toUpperCase()].filter((x) => x.length > 0))];
    conds.push(q`x.identity_value IN ${q(forms)}`);
  }
  if (s.paymentRef !== undefined) conds.push(q`x.session_id IN (SELECT session_id FROM payments WHERE payment_id = ${s.paymentRef} OR provider_ref = ${s.paymentRef} OR provider_payment_intent = ${s.paymentRef})`);
  if (s.amount !== undefined) conds.push(q`(x.amount = ${s.amount} OR x.session_id IN (SELECT session_id FROM payments WHERE amount = ${s.amount} AND created_at >= ${s.from ?? new Date(0)}))`);
  if (s.siteId !== undefined) conds.push(q`x.site_id = ${s.siteId}`);
  if (s.status !== undefined) conds.push(q`x.status = ${s.status}`);
  if (s.from !== undefined) conds.push(q`x.entry_ts >= ${s.from}`);
  if (s.to !== undefined) conds.push(q`x.entry_ts < ${s.to}`);
  const where = conds.reduce((acc, c, i) => (i === 0 ? q`WHERE ${c}` : q`${acc} AND ${c}`), q``);
  return [
    ...(await q<SessionHit[]>`
      SELECT x.session_id, x.site_id, x.identity_method, x.identity_value, x.entry_ts, x.exit_ts, x.status, x.amount, x.currency, s.time_zone
      FROM sessions x JOIN sites s ON s.site_id = x.site_id ${where}
      ORDER BY x.entry_ts DESC LIMIT ${Math.min(s.limit ?? 100, 500)}`),
  ];
}

export interface SessionAuditRow {
  seq: number | null;
  ts: Date;
  kind: string;
  payload: Json;
  /** null while the row waits to be chained; true when its hash recomputes and the next row links to it. */
  verified: boolean | null;
}

export interface OverrideOfSession {
  cmdId: string;
  laneId: string;
  action: string;
  operator: string;
  reason: string;
  createdAt: Date;
  ackResult: string | null;
  ackDetail: string | null;
}

export interface SessionDetail {
  session: Omit<SessionRow, "payTokenHash">;
  site: { name: string; timeZone: string };
  entryLane: string | null;
  exitLane: string | null;
  payments: PaymentRow[];
  refunds: RefundRow[];
  documents: DocumentRow[];
  overrides: OverrideOfSession[];
  audit: SessionAuditRow[];
  /** Every chained row of the session verifies (hash and link); false names a broken chain. */
  chainVerified: boolean;
}

/**
 * The session's audit rows, each checked against the chain: its hash recomputed from its
 * predecessor's hash and its own content, and the next row's prev_hash equal to it. Queued rows
 * (not chained yet) are shown as such.
 */
async function auditOfSession(db: Database, sessionId: string): Promise<SessionAuditRow[]> {
  const chained = await db.sql<{ seq: string; ts: Date; kind: string; sessionId: string | null; payload: Json; prevHash: string; hash: string; nextPrev: string | null }[]>`
    SELECT a.seq, a.ts, a.kind, a.session_id, a.payload, a.prev_hash, a.hash, n.prev_hash AS next_prev
    FROM audit_log a LEFT JOIN audit_log n ON n.seq = a.seq + 1
    WHERE a.session_id = ${sessionId} ORDER BY a.seq`;
  const pending = await db.sql<{ ts: Date; kind: string; payload: Json }[]>`SELECT ts, kind, payload FROM audit_pending WHERE session_id = ${sessionId} ORDER BY id`;
  return [
    ...chained.map((r) => {
      const seq = Number(r.seq);
      const ok = auditHash(r.prevHash, { seq, ts: r.ts, kind: r.kind, sessionId: r.sessionId, payload: r.payload }) === r.hash && (r.nextPrev === null || r.nextPrev === r.hash);
      return { seq, ts: r.ts, kind: r.kind, payload: r.payload, verified: ok };
    }),
    ...pending.map((r) => ({ seq: null, ts: r.ts, kind: r.kind, payload: r.payload, verified: null })),
  ];
}

export async function sessionDetail(db: Database, sessionId: string): Promise<SessionDetail | undefined> {
  const [row] = await db.sql<(SessionRow & { siteName: string; timeZone: string; entryLane: string | null; exitLane: string | null })[]>`
    SELECT x.*, s.name AS site_name, s.time_zone,
      (SELECT NULLIF(l.name, '') FROM lanes l WHERE l.site_id = x.site_id AND l.lane_id = x.entry_lane_id) AS entry_lane,
      (SELECT NULLIF(l.name, '') FROM lanes l WHERE l.site_id = x.site_id AND l.lane_id = x.exit_lane_id) AS exit_lane
    FROM sessions x JOIN sites s ON s.site_id = x.site_id WHERE x.session_id = ${sessionId}`;
  if (!row) return undefined;
  const { payTokenHash: _secret, siteName, timeZone, entryLane, exitLane, ...session } = row;
  const [payments, refunds, receipts, creditNotes, overrides, audit] = await Promise.all([
    listPayments(db.sql, sessionId),
    listRefundsOfSession(db.sql, sessionId),
    db.sql<DocumentRow[]>`SELECT d.document_id, d.kind, d.number, d.issued_at, d.payment_id, d.currency, d.total_ttc FROM billing_documents d WHERE d.session_id = ${sessionId} AND d.kind <> 'credit_note' ORDER BY d.issued_at`,
    listCreditNotesOfSession(db.sql, sessionId),
    db.sql<OverrideOfSession[]>`
      SELECT o.cmd_id, COALESCE(NULLIF(l.name, ''), o.lane_id) AS lane_id, o.action, op.username AS operator, o.reason, o.created_at, c.ack_result, c.ack_detail
      FROM overrides o JOIN operators op ON op.operator_id = o.operator_id
      LEFT JOIN lanes l ON l.site_id = o.site_id AND l.lane_id = o.lane_id
      LEFT JOIN operator_commands c ON c.cmd_id = o.cmd_id
      WHERE o.session_id = ${sessionId} ORDER BY o.created_at`,
    auditOfSession(db, sessionId),
  ]);
  return {
    session,
    site: { name: siteName, timeZone },
    entryLane: entryLane ?? session.entryLaneId,
    exitLane: exitLane ?? session.exitLaneId,
    payments,
    refunds,
    documents: [...receipts, ...creditNotes],
    overrides: [...overrides],
    audit,
    chainVerified: audit.every((a) => a.verified !== false),
  };
}
