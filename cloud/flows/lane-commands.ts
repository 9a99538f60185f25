/**
 * The console's commands to a site beside the override (overrides.ts): a text on a lane's
 * display, a site closed to entries and reopened, an alarm cleared by hand. Each is ONE
 * transaction that records the command under its cmd_id (a retried request is a duplicate:
 * nothing sent twice), enqueues what the site must hear, and appends the audit row with the
 * operator, the reason and the cmd_id.
 */
import { randomBytes } from "node:crypto";
import { occupancyOf, type Database, type Tx } from "../db/index";
import { enqueueForSite } from "../db/site-outbox";
import { clearAlarmByOperator, recordCommand } from "../db/site-status";
import { writeAudit, type AuditMode } from "../server/audit-chain";
import { HttpError } from "./errors";
import type { OverrideOperator } from "./overrides";
import { dbLaneId } from "./site-registry";

export interface CommandContext {
  db: Database;
  src: string;
  auditMode: AuditMode;
}

export interface CommandResult {
  cmdId: string;
  duplicate: boolean;
}

export function newCmdId(prefix: string): string {
  return `${prefix}_${Date.now().toString(36)}${randomBytes(6).toString("hex")}`;
}

/**
 * `parking/site/state` (retained) for the site's entry displays: its state, the cars inside, the
 * capacity and the spaces a ticket may still take (held-back spaces excluded), in the caller's transaction — after every change of the occupancy or of the
 * entries closed flag, so what the displays keep is the last committed state.
 */
export async function publishSiteState(tx: Tx, ctx: { src: string }, siteId: string, cmdId?: string): Promise<void> {
  const o = await occupancyOf(tx, siteId);
  if (!o) throw new HttpError(404, `unknown site ${siteId}`, "not_found");
  await enqueueForSite(tx, siteId, "siteState", {
    ts: Date.now(), src: ctx.src, state: o.state, occupied: o.total,
    ...(o.capacity !== null ? { capacity: o.capacity } : {}), ...(o.transientFree !== null ? { free: Math.max(0, o.transientFree) } : {}), ...(cmdId ? { cmd_id: cmdId } : {}),
  });
}

async function laneName(db: Database, siteId: string, wireLane: string): Promise<string> {
  const [lane] = await db.sql<{ name: string; laneId: string }[]>`SELECT lane_id, name FROM lanes WHERE site_id = ${siteId} AND lane_id = ${dbLaneId(wireLane)}`;
  if (!lane) throw new HttpError(404, `unknown lane ${wireLane} at site ${siteId}`, "not_found");
  return lane.name || wireLane;
}

/** `parking/display/text` for one lane: up to 4 lines of 20 characters, shown for ttl_s. */
export async function sendDisplayText(ctx: CommandContext, r: { siteId: string; wireLane: string; lines: string[]; ttlS?: number; reason: string; cmdId?: string }, op: OverrideOperator): Promise<CommandResult> {
  const wire = await laneName(ctx.db, r.siteId, r.wireLane);
  const cmdId = r.cmdId ?? newCmdId("msg");
  const duplicate = await ctx.db.tx(async (tx) => {
    if (!(await recordCommand(tx, { cmdId, siteId: r.siteId, laneId: dbLaneId(wire), kind: "display", operator: op.username, reason: r.reason, detail: { lines: r.lines } }))) return true;
    await enqueueForSite(tx, r.siteId, "displayText", { ts: Date.now(), src: ctx.src, msg_id: cmdId, lane_id: wire, lines: r.lines, ...(r.ttlS ? { ttl_s: r.ttlS } : {}) });
    await writeAudit(ctx.auditMode, tx, { kind: "command.display", payload: { site_id: r.siteId, lane_id: wire, cmd_id: cmdId, lines: r.lines, operator: op.username, operator_id: op.operatorId, role: op.role, reason: r.reason } });
    return false;
  });
  return { cmdId, duplicate };
}

/** Closes the site to entries, or reopens it; the state is kept on the site (sites.entries_closed). */
export async function setEntriesClosed(ctx: CommandContext, r: { siteId: string; closed: boolean; reason: string; cmdId?: string }, op: OverrideOperator): Promise<CommandResult & { changed: boolean }> {
  const cmdId = r.cmdId ?? newCmdId(r.closed ? "close" : "reopen");
  const kind = r.closed ? "entries_closed" : "entries_open";
  return ctx.db.tx(async (tx) => {
    const [site] = await tx<{ entriesClosed: boolean }[]>`SELECT entries_closed FROM sites WHERE site_id = ${r.siteId} FOR UPDATE`;
    if (!site) throw new HttpError(404, `unknown site ${r.siteId}`, "not_found");
    if (!(await recordCommand(tx, { cmdId, siteId: r.siteId, laneId: null, kind, operator: op.username, reason: r.reason }))) return { cmdId, duplicate: true, changed: false };
    const changed = site.entriesClosed !== r.closed;
    if (changed) await tx`UPDATE sites SET entries_closed = ${r.closed}, updated_at = now() WHERE site_id = ${r.siteId}`;
    // The entry displays hear it (retained parking/site/state): closed, or back to open / full.
    await publishSiteState(tx, ctx, r.siteId, cmdId);
    await writeAudit(ctx.auditMode, tx, { kind: `command.${kind}`, payload: { site_id: r.siteId, cmd_id: cmdId, changed, operator: op.username, operator_id: op.operatorId, role: op.role, reason: r.reason } });
    return { cmdId, duplicate: false, changed };
  });
}

/** An operator clears an active alarm by hand (the lane did not, e.g. a sensor left broken). */
export async function clearAlarm(ctx: CommandContext, r: { siteId: string; alarmId: number; reason: string }, op: OverrideOperator): Promise<boolean> {
  return ctx.db.tx(async (tx) => {
    const [alarm] = await tx<{ laneId: string; code: string }[]>`SELECT lane_id, code FROM site_alarms WHERE site_id = ${r.siteId} AND alarm_id = ${r.alarmId}`;
    if (!alarm) throw new HttpError(404, `unknown alarm ${r.alarmId} at site ${r.siteId}`, "not_found");
    if (!(await clearAlarmByOperator(tx, r.siteId, r.alarmId, op.username))) return false;
    await writeAudit(ctx.auditMode, tx, { kind: "alarm.cleared", payload: { site_id: r.siteId, lane_id: alarm.laneId, alarm_id: r.alarmId, code: alarm.code, operator: op.username, operator_id: op.operatorId, role: op.role, reason: r.reason } });
    return true;
  });
}
