/**
 * Override claims in `parking/exit/done` (ARCHITECTURE §4 step 8, issue 15). A site says
 * `decided_by: "override"` with an operator's name; the cloud believes the name only when the
 * exit names (`cmd_id`) an override the cloud itself issued — `POST /api/lanes/:lane/override`
 * records it in `overrides` and sends that cmd_id in `parking/barriere/cmd`, and the gateway
 * echoes it (gateway/lane/orchestrator.ts). Anything else — a site-local override while the
 * cloud was unreachable, or a LAN client publishing as the gateway — is the site's claim: kept
 * as what the site said, never resolved to a cloud operator, flagged for review, and it lets no
 * unpaid session close (closeSession's rules for unpaid sessions apply).
 *
 * One override lets out one exit: the first exit it verifies binds it to that session
 * (`overrides.session_id`), so a cmd_id seen on the site broker cannot be replayed for another car.
 */
import type { Payload } from "../../contracts/mqtt-topics";
import type { OverrideRow, Tx } from "../db/index";

/** An override verifies exits the site reports within this long after the cloud issued it. */
export const OVERRIDE_EXIT_WINDOW_MS = 15 * 60_000;
/** Site clocks run a little off the cloud's: an exit this much "before" its override still counts. */
const CLOCK_SKEW_MS = 2 * 60_000;

export interface CloudOverride {
  overrideId: number;
  cmdId: string;
  operatorId: number;
  username: string;
  reason: string;
}

export type OverrideVerdict =
  /** The exit claims no override. */
  | { kind: "none" }
  /** A cloud-issued override for this site, lane and session: the exit is its operator's. */
  | { kind: "cloud"; override: CloudOverride }
  /** Claimed by the site, not verified: why not. */
  | { kind: "claimed"; why: string };

/** An override row with its operator's username. */
type OverrideMatch = OverrideRow & { username: string };

/**
 * Checks an exit's override claim against the cloud's overrides (and binds a verified one to the
 * session). `laneId` is the database lane id; `sessionId` the session the exit closes, if any.
 */
export async function verifyOverrideClaim(tx: Tx, e: { siteId: string; laneId: string; sessionId: string | undefined; exit: Payload<"exitDone"> }): Promise<OverrideVerdict> {
  const p = e.exit;
  if (p.decided_by !== "override") return { kind: "none" };
  if (!p.cmd_id) return { kind: "claimed", why: "no cmd_id: not an override the cloud issued (a site-local override, or forged)" };
  const [o] = await tx<OverrideMatch[]>`
    SELECT o.override_id, o.cmd_id, o.site_id, o.lane_id, o.session_id, o.operator_id, o.action, o.reason, o.created_at, op.username
    FROM overrides o JOIN operators op ON op.operator_id = o.operator_id
    WHERE o.cmd_id = ${p.cmd_id} FOR UPDATE OF o`;
  if (!o || o.siteId !== e.siteId) return { kind: "claimed", why: `cmd_id ${p.cmd_id} names no override the cloud issued for this site` };
  if (o.laneId !== e.laneId) return { kind: "claimed", why: `override ${p.cmd_id} was issued for lane ${o.laneId}, not this one` };
  if (o.action !== "open") return { kind: "claimed", why: `override ${p.cmd_id} was a ${o.action}, not an open` };
  const issued = o.createdAt.getTime();
  if (p.ts < issued - CLOCK_SKEW_MS || p.ts > issued + OVERRIDE_EXIT_WINDOW_MS) return { kind: "claimed", why: `exit at ${new Date(p.ts).toISOString()} is outside override ${p.cmd_id}'s window (issued ${o.createdAt.toISOString()})` };
  if (e.sessionId !== undefined) {
    if (o.sessionId !== null && o.sessionId !== e.sessionId) return { kind: "claimed", why: `override ${p.cmd_id} was for session ${o.sessionId}` };
    if (o.sessionId === null) await tx`UPDATE overrides SET session_id = ${e.sessionId} WHERE override_id = ${o.overrideId}`;
  }
  return { kind: "cloud", override: { overrideId: o.overrideId, cmdId: o.cmdId, operatorId: o.operatorId, username: o.username, reason: o.reason } };
}
