/**
 * The operators' occupancy actions (issue 18), each one transaction with its audit row and the
 * retained parking/site/state the entry displays hear: a count adjust, and an anti-passback clear.
 * The console's routes (cloud/http/console/entry-actions.ts) parse and call them.
 */
import { adjustCount, countExit, findOpenSessionByAnyIdentity, flagSession, type Database, type Identity, type Pool } from "../db/index";
import { writeAudit, type AuditMode } from "../server/audit-chain";
import { HttpError } from "./errors";
import { publishSiteState } from "./lane-commands";
import type { OverrideOperator } from "./overrides";

export interface OccupancyAdjustment { pool: Pool; delta?: number; set_to?: number; reason: string }
export interface PassbackClearing { method: "plate" | "badge" | "ticket" | "pin" | "reservation"; value: string; reason: string }

export interface ActionCtx {
  db: Database;
  src: string;
  auditMode: AuditMode;
}

async function siteExists(db: Database, siteId: string): Promise<void> {
  const [row] = await db.sql`SELECT 1 FROM sites WHERE site_id = ${siteId}`;
  if (!row) throw new HttpError(404, `unknown site ${siteId}`, "not_found");
}

/** An operator's count adjust, audited (`occupancy.adjusted`) with the counter before and after. */
export async function adjustOccupancy(ctx: ActionCtx, siteId: string, b: OccupancyAdjustment, op: OverrideOperator): Promise<{ before: number; after: number }> {
  await siteExists(ctx.db, siteId);
  return ctx.db.tx(async (tx) => {
    const r = await adjustCount(tx, { siteId, pool: b.pool, ...(b.delta !== undefined ? { delta: b.delta } : { setTo: b.set_to as number }), operatorId: op.operatorId, note: b.reason });
    await publishSiteState(tx, ctx, siteId);
    await writeAudit(ctx.auditMode, tx, { kind: "occupancy.adjusted", payload: { site_id: siteId, pool: b.pool, before: r.before, after: r.after, delta: r.delta, operator: op.username, operator_id: op.operatorId, role: op.role, reason: b.reason } });
    return { before: r.before, after: r.after };
  });
}

/** Anti-passback clear: the identity's open session flagged "cleared by operator" and counted off, audited. */
export async function clearPassback(ctx: ActionCtx, siteId: string, b: PassbackClearing, op: OverrideOperator): Promise<{ sessionId: string }> {
  await siteExists(ctx.db, siteId);
  return ctx.db.tx(async (tx) => {
    const s = await findOpenSessionByAnyIdentity(tx, siteId, { method: b.method, value: b.value } as Identity, true);
    if (!s) throw new HttpError(404, `no car inside with ${b.method} ${b.value} at ${siteId}`, "not_found");
    await flagSession(tx, s.sessionId, `anti-passback cleared by operator ${op.username}: ${b.reason}`);
    const countedOff = await countExit(tx, s.sessionId, "flagged");
    await publishSiteState(tx, ctx, siteId);
    await writeAudit(ctx.auditMode, tx, { kind: "passback.cleared", sessionId: s.sessionId, payload: { site_id: siteId, method: b.method, value: b.value, counted_off: countedOff, operator: op.username, operator_id: op.operatorId, role: op.role, reason: b.reason } });
    return { sessionId: s.sessionId };
  });
}

