/**
 * What the console's admin screens read and write of sites and lanes (issue 17): the columns of
 * migration 14 (capacity, coordinates, the seller's legal details printed on receipts) and of
 * migration 17 (the spaces held back from tickets for permits and reservations) beside the
 * original ones, a site or lane created once (a taken id is a ConflictError, never an overwrite
 * like the seeding upserts of ./sites.ts), and the lookup that makes a tariff publication
 * idempotent (its key is in the `tariff.published` audit row written in the same transaction).
 */
import { z } from "zod";
import { ConflictError, NotFoundError, UNIQUE_VIOLATION, pgCode } from "./errors";
import type { Json, Q, Tx } from "./types";

/** The seller's legal details of a site (all optional: an empty field falls back to the environment's). */
export const SiteLegalSchema = z.strictObject({
  company: z.string().trim().max(200, "at most 200 characters").optional(),
  address: z.string().trim().max(200, "at most 200 characters").optional(),
  siret: z.string().trim().max(200, "at most 200 characters").optional(),
  vat_id: z.string().trim().max(200, "at most 200 characters").optional(),
});
export type SiteLegal = z.infer<typeof SiteLegalSchema>;

export interface SiteAdminRow {
  siteId: string;
  name: string;
  timeZone: string;
  currency: string;
  capacity: number | null;
  /** Spaces held back from tickets for permit holders / for reservations (migration 17; cloud/db/occupancy.ts transientFree). */
  permitSpots: number;
  reservationSpots: number;
  entriesClosed: boolean;
  latitude: number | null;
  longitude: number | null;
  legal: SiteLegal;
  createdAt: Date;
  updatedAt: Date;
}

export interface NewSite {
  siteId: string;
  name: string;
  timeZone: string;
  currency: string;
  capacity: number | null;
  permitSpots: number;
  reservationSpots: number;
  latitude: number | null;
  longitude: number | null;
  legal: SiteLegal;
}

/** Keeps only the legal fields that were filled in (the jsonb holds no empty strings). */
function legalJson(l: SiteLegal): Json {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(l)) if (typeof v === "string" && v !== "") out[k] = v;
  return out;
}

export async function listSitesAdmin(q: Q): Promise<SiteAdminRow[]> {
  return [...(await q<SiteAdminRow[]>`SELECT * FROM sites ORDER BY site_id`)];
}

export async function getSiteAdmin(q: Q, siteId: string): Promise<SiteAdminRow> {
  const [row] = await q<SiteAdminRow[]>`SELECT * FROM sites WHERE site_id = ${siteId}`;
  if (!row) throw new NotFoundError("site", siteId);
  return row;
}

/** The site's row, locked until the transaction ends (tariff publications of a site one at a time). */
export async function lockSite(tx: Tx, siteId: string): Promise<SiteAdminRow> {
  const [row] = await tx<SiteAdminRow[]>`SELECT * FROM sites WHERE site_id = ${siteId} FOR UPDATE`;
  if (!row) throw new NotFoundError("site", siteId);
  return row;
}

/** Creates a site; an id already taken is a ConflictError (nothing overwritten). */
export async function createSite(tx: Tx, s: NewSite): Promise<SiteAdminRow> {
  try {
    const [row] = await tx<SiteAdminRow[]>`
      INSERT INTO sites (site_id, name, time_zone, currency, capacity, permit_spots, reservation_spots, latitude, longitude, legal)
      VALUES (${s.siteId}, ${s.name}, ${s.timeZone}, ${s.currency}, ${s.capacity}, ${s.permitSpots}, ${s.reservationSpots}, ${s.latitude}, ${s.longitude}, ${tx.json(legalJson(s.legal))})
      RETURNING *`;
    return row;
  } catch (err) {
    if (pgCode(err) === UNIQUE_VIOLATION) throw new ConflictError(`site ${s.siteId} already exists`);
    throw err;
  }
}

/** Changes what an admin may change of a site (not its id, nor its currency: tariffs and payments are in it). */
export async function updateSite(tx: Tx, siteId: string, s: Omit<NewSite, "siteId" | "currency">): Promise<SiteAdminRow> {
  const [row] = await tx<SiteAdminRow[]>`
    UPDATE sites SET name = ${s.name}, time_zone = ${s.timeZone}, capacity = ${s.capacity}, permit_spots = ${s.permitSpots},
      reservation_spots = ${s.reservationSpots}, latitude = ${s.latitude},
      longitude = ${s.longitude}, legal = ${tx.json(legalJson(s.legal))}, updated_at = now()
    WHERE site_id = ${siteId} RETURNING *`;
  if (!row) throw new NotFoundError("site", siteId);
  return row;
}

export interface LaneAdminRow {
  siteId: string;
  laneId: string;
  kind: "entry" | "exit";
  name: string;
  createdAt: Date;
}

/** Creates a lane (database id + display name); a taken id is a ConflictError. */
export async function createLane(tx: Tx, l: { siteId: string; laneId: string; kind: "entry" | "exit"; name: string }): Promise<LaneAdminRow> {
  try {
    const [row] = await tx<LaneAdminRow[]>`
      INSERT INTO lanes (site_id, lane_id, kind, name) VALUES (${l.siteId}, ${l.laneId}, ${l.kind}, ${l.name}) RETURNING *`;
    return row;
  } catch (err) {
    if (pgCode(err) === UNIQUE_VIOLATION) throw new ConflictError(`lane ${l.laneId} already exists at ${l.siteId}`);
    throw err;
  }
}

/** Renames a lane and/or changes its kind; returns the row before and after. */
export async function updateLane(tx: Tx, l: { siteId: string; laneId: string; kind: "entry" | "exit"; name: string }): Promise<{ before: LaneAdminRow; after: LaneAdminRow }> {
  const [before] = await tx<LaneAdminRow[]>`SELECT * FROM lanes WHERE site_id = ${l.siteId} AND lane_id = ${l.laneId} FOR UPDATE`;
  if (!before) throw new NotFoundError("lane", `${l.siteId}/${l.laneId}`);
  const [after] = await tx<LaneAdminRow[]>`
    UPDATE lanes SET name = ${l.name}, kind = ${l.kind} WHERE site_id = ${l.siteId} AND lane_id = ${l.laneId} RETURNING *`;
  return { before, after };
}

/**
 * The version a `tariff.published` audit row with this idempotency key names (chained or still
 * queued), within the last day: a form submitted twice publishes once.
 */
export async function tariffVersionPublishedWithKey(q: Q, siteId: string, key: string): Promise<number | undefined> {
  const [row] = await q<{ version: string }[]>`
    SELECT payload->>'version' AS version FROM (
      SELECT payload FROM audit_log WHERE kind = 'tariff.published' AND ts > now() - interval '1 day'
      UNION ALL
      SELECT payload FROM audit_pending WHERE kind = 'tariff.published'
    ) a WHERE payload->>'site_id' = ${siteId} AND payload->>'idempotency_key' = ${key} LIMIT 1`;
  return row ? Number(row.version) : undefined;
}

/**
 * The seller's details a receipt of the site should print: the site's own where set, each missing
 * field from `fallback` (the environment's, cloud/billing/legal.ts legalDetailsFromEnv).
 */
export function siteLegalDetails<T extends { company: string; address: string; siret: string; vatId: string }>(legal: Json | undefined, fallback: T): T {
  const l = SiteLegalSchema.safeParse(legal ?? {});
  if (!l.success) return fallback;
  return { ...fallback, ...(l.data.company ? { company: l.data.company } : {}), ...(l.data.address ? { address: l.data.address } : {}), ...(l.data.siret ? { siret: l.data.siret } : {}), ...(l.data.vat_id ? { vatId: l.data.vat_id } : {}) };
}

/** The enabled admins' ids, their rows locked until the transaction ends (the last admin is never demoted or disabled). */
export async function enabledAdminIds(tx: Tx): Promise<number[]> {
  const rows = await tx<{ operatorId: number }[]>`SELECT operator_id FROM operators WHERE role = 'admin' AND NOT disabled ORDER BY operator_id FOR UPDATE`;
  return rows.map((r) => Number(r.operatorId));
}
