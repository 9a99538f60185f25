/**
 * The sites and lanes a site event may name: a site must be configured in the cloud (an unknown
 * one is refused, never created by a message); a lane is registered the first time the site
 * uses it, under the database id (lowercase, dbLaneId) with the id the site uses on the wire as
 * its name, so the console shows "L2" as the site names it, never "l2". Both are cached per
 * database (they are never deleted).
 */
import type { Database, Tx } from "../db/index";

/** Database lane id for a wire lane id (lowercase; `.` and `:` become `-`). */
export function dbLaneId(wire: string): string {
  return wire.toLowerCase().replace(/[.:]/g, "-");
}

export class UnknownSiteError extends Error {
  override readonly name = "UnknownSiteError";
}

const knownLanes = new WeakMap<Database, Set<string>>();
const knownSites = new WeakMap<Database, Set<string>>();

/** Registers the lane (named as the site names it) if it is new; returns its database id. */
export async function ensureLane(tx: Tx, db: Database, siteId: string, wireLaneId: string, kind: "entry" | "exit"): Promise<string> {
  const laneId = dbLaneId(wireLaneId);
  let set = knownLanes.get(db);
  if (!set) knownLanes.set(db, (set = new Set()));
  const k = `${siteId}/${laneId}`;
  if (set.has(k)) return laneId;
  // A lane registered before lanes kept their wire name gets it now (its name was '').
  await tx`INSERT INTO lanes (site_id, lane_id, kind, name) VALUES (${siteId}, ${laneId}, ${kind}, ${wireLaneId})
           ON CONFLICT (site_id, lane_id) DO UPDATE SET name = EXCLUDED.name WHERE lanes.name = ''`;
  set.add(k);
  return laneId;
}

export async function ensureSite(tx: Tx, db: Database, siteId: string): Promise<void> {
  let set = knownSites.get(db);
  if (!set) knownSites.set(db, (set = new Set()));
  if (set.has(siteId)) return;
  const rows = await tx`SELECT 1 FROM sites WHERE site_id = ${siteId}`;
  if (rows.length === 0) throw new UnknownSiteError(`site ${siteId} is not configured in the cloud`);
  set.add(siteId);
}
