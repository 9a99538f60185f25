/**
 * An operator resolves a flagged session from the console (issue 17): the vehicle left without
 * a recorded payment, a superseded entry, a barrier fault… The resolution closes it (flagged →
 * closed, the one transition SESSION_MACHINE allows), in one transaction with its audit row:
 * who, why, and how — `waived` (nothing owed, with the reason) or `paid_elsewhere` (cash at the
 * booth, an invoice: the reference is the reason). Charging a driver who has left needs their
 * payment details, which SysPark does not hold; a lost-ticket fee belongs to the entry lanes
 * (issue 18).
 */
import { changeStatus, getSession, type Database } from "../db/index";
import { publishSiteState } from "./lane-commands";
import { writeAudit, type AuditMode } from "../server/audit-chain";
import { HttpError } from "./errors";
import type { OverrideOperator } from "./overrides";

export type Resolution = "waived" | "paid_elsewhere";

export async function resolveFlaggedSession(ctx: { db: Database; auditMode: AuditMode; src: string; wake?: () => void }, r: { sessionId: string; resolution: Resolution; reason: string }, op: OverrideOperator): Promise<{ resolved: boolean }> {
  const result = await ctx.db.tx(async (tx) => {
    const s = await getSession(tx, r.sessionId).catch(() => undefined);
    if (!s) throw new HttpError(404, `no session ${r.sessionId}`, "not_found");
    if (s.status === "closed") return { resolved: false }; // already resolved (a double submit): nothing more
    if (s.status !== "flagged") throw new HttpError(409, `session ${r.sessionId} is ${s.status}, not flagged: only a flagged session is resolved by hand`, "conflict");
    await changeStatus(tx, r.sessionId, "closed", { exitTs: s.exitTs ?? new Date() });
    // A flagged car still counted inside (a barrier fault, a forged ticket) leaves the count with its resolution: the entry displays hear it.
    await publishSiteState(tx, ctx, s.siteId);
    await writeAudit(ctx.auditMode, tx, { kind: "session.resolved", sessionId: r.sessionId, payload: { site_id: s.siteId, resolution: r.resolution, reason: r.reason, flag_reason: s.flagReason, operator: op.username, operator_id: op.operatorId, role: op.role } });
    return { resolved: true };
  });
  if (result.resolved) ctx.wake?.();
  return result;
}
