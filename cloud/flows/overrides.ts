/**
 * An operator's override of a lane (`POST /api/lanes/:lane/override`, ARCHITECTURE §4 step 8):
 * ONE transaction records the override (`overrides`, keyed by its cmd_id: a retried request is a
 * duplicate, nothing sent twice), enqueues `parking/barriere/cmd` for the site with
 * that cmd_id (the gateway echoes it in `parking/exit/done`, override-claims.ts checks it), and
 * appends the audit row (`override.open` / `override.reset`, who, why).
 */
import { randomBytes } from "node:crypto";
import { listSites, recordOverride, type Database } from "../db/index";
import { enqueueForSite } from "../db/site-outbox";
import { recordCommand } from "../db/site-status";
import { writeAudit, type AuditMode } from "../server/audit-chain";
import { HttpError } from "./errors";
import { dbLaneId } from "./site-registry";

export interface OverrideContext {
  db: Database;
  /** `src` of the published command. */
  src: string;
  auditMode: AuditMode;
}

export interface OverrideRequest {
  /** The lane id as the site spells it (the wire id). */
  wireLane: string;
  /** Absent: the one site configured (400 if there are several). */
  siteId?: string;
  action: "open" | "reset";
  reason: string;
  sessionId?: string;
  /** The caller's idempotency key; absent: a fresh one. */
  cmdId?: string;
}

export interface OverrideOperator {
  operatorId: number;
  username: string;
  role: string;
}

export interface OverrideResult {
  cmdId: string;
  siteId: string;
  wireLane: string;
  action: "open" | "reset";
  /** The cmd_id was already recorded: nothing new was sent. */
  duplicate: boolean;
}

async function resolveSite(db: Database, siteId: string | undefined): Promise<string> {
  if (siteId) return siteId;
  const sites = await listSites(db.sql);
  if (sites.length !== 1) throw new HttpError(400, `body.site_id is required (${sites.length} sites configured)`, "invalid_input");
  return sites[0].siteId;
}

/** Records, sends and audits an override (404 for an unknown lane); the caller wakes the relay when not a duplicate. */
export async function issueOverride(ctx: OverrideContext, r: OverrideRequest, op: OverrideOperator, requestId: string | null): Promise<OverrideResult> {
  const siteId = await resolveSite(ctx.db, r.siteId);
  const lane = dbLaneId(r.wireLane);
  const [known] = await ctx.db.sql<{ name: string }[]>`SELECT name FROM lanes WHERE site_id = ${siteId} AND lane_id = ${lane}`;
  if (!known) throw new HttpError(404, `unknown lane ${r.wireLane} at site ${siteId}`, "not_found");
  const cmdId = r.cmdId ?? `ovr_${Date.now().toString(36)}${randomBytes(6).toString("hex")}`;
  const now = new Date();
  const session = r.sessionId ? { session_id: r.sessionId } : {};
  const duplicate = await ctx.db.tx(async (tx) => {
    const rec = await recordOverride(tx, { cmdId, siteId, laneId: lane, operatorId: op.operatorId, action: r.action, reason: r.reason, ...(r.sessionId ? { sessionId: r.sessionId } : {}) });
    if (!rec.created) return true;
    await recordCommand(tx, { cmdId, siteId, laneId: lane, kind: r.action, operator: op.username, reason: r.reason });
    await enqueueForSite(tx, siteId, "barrierCmd", { ts: now.getTime(), src: ctx.src, cmd_id: cmdId, lane_id: r.wireLane, cmd: r.action, operator: op.username, reason: r.reason, ...session });
    await writeAudit(ctx.auditMode, tx, {
      kind: `override.${r.action}`,
      sessionId: r.sessionId ?? null,
      payload: { site_id: siteId, lane_id: r.wireLane, cmd_id: cmdId, action: r.action, operator: op.username, operator_id: op.operatorId, role: op.role, reason: r.reason, override_ts: now.toISOString(), request_id: requestId },
    });
    return false;
  });
  return { cmdId, siteId, wireLane: r.wireLane, action: r.action, duplicate };
}
