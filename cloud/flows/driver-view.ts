/**
 * What the driver's pages show so the driver can tell the session is theirs (issue 16 item 1):
 * the identity (../billing/identity.ts: a plate in full, a badge or ticket masked), the site's
 * name and the exit lane.
 */
import type { IdentityMethod } from "../db/sessions";
import { getSite, listLanes, type Q, type SessionRow } from "../db/index";
import { shownIdentity } from "../billing/identity";
import { wireLaneOf } from "./site-events";

export interface WhoAndWhere {
  identity: { method: IdentityMethod; shown: string };
  siteName: string;
  lane: string;
  timeZone: string;
}

/** Identity as shown, site name and time zone, and the exit lane ("L1", or "L1 — North exit" when the lane has its own name). */
export async function whoAndWhere(q: Q, s: SessionRow): Promise<WhoAndWhere> {
  const site = await getSite(q, s.siteId);
  const wire = wireLaneOf(s);
  const laneId = s.exitLaneId ?? wire.toLowerCase();
  const lane = (await listLanes(q, s.siteId)).find((l) => l.laneId === laneId);
  return {
    identity: { method: s.identityMethod, shown: shownIdentity(s.identityMethod, s.identityValue) },
    siteName: site.name,
    lane: lane?.name && lane.name.toLowerCase() !== wire.toLowerCase() ? `${wire} — ${lane.name}` : wire,
    timeZone: site.timeZone,
  };
}
