/**
 * What the driver's pages show so the driver can tell the session is theirs (issue 16 item 1):
 * the identity (../billing/identity.ts: a plate in full, a badge or ticket masked), the site's
 * name and the exit lane.
 */
import { getSite, type Q, type SessionRow } from "../db/index";
import { shownIdentity } from "../billing/identity";
import { wireLaneOf } from "../flows/site-events";

export interface WhoAndWhere {
  identity: { method: "plate" | "badge" | "ticket"; shown: string };
  siteName: string;
  lane: string;
  timeZone: string;
}


export async function whoAndWhere(q: Q, s: SessionRow): Promise<WhoAndWhere> {
  const site = await getSite(q, s.siteId);
  const wire = wireLaneOf(s);
  const laneId = s.exitLaneId ?? wire.toLowerCase();
  const [lane] = await q<{ name: string }[]>`SELECT name FROM lanes WHERE site_id = ${s.siteId} AND lane_id = ${laneId}`;
  return {
    identity: { method: s.identityMethod, shown: shownIdentity(s.identityMethod, s.identityValue) },
    siteName: site.name,
    lane: lane?.name && lane.name.toLowerCase() !== wire.toLowerCase() ? `${wire} — ${lane.name}` : wire,
    timeZone: site.timeZone,
  };
}
