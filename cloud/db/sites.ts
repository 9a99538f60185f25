/**
 * Sites, lanes and versioned tariffs. A tariff is a JSON document owned by the tariff engine
 * (cloud/tariffs/); this layer stores it per site and version and finds the one in force at a
 * given instant (latest `effective_from` ≤ instant, highest version on a tie).
 */
import { z } from "zod";
import { NotFoundError, ValidationError } from "./errors";
import type { Json, Q } from "./types";

export const SiteIdSchema = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, "site id: lowercase letters, digits, - and _ (max 63)");
export const LaneIdSchema = SiteIdSchema;
export const CurrencySchema = z.string().regex(/^[A-Z]{3}$/, "currency: ISO 4217 code such as EUR");

export interface SiteRow {
  siteId: string;
  name: string;
  timeZone: string;
  currency: string;
  createdAt: Date;
}
export interface LaneRow {
  siteId: string;
  laneId: string;
  kind: "entry" | "exit";
  name: string;
  createdAt: Date;
}
export interface TariffRow {
  tariffId: number;
  siteId: string;
  version: number;
  effectiveFrom: Date;
  document: Json;
  createdAt: Date;
}

function checkTimeZone(tz: string): void {
  try {
    new Intl.DateTimeFormat("en", { timeZone: tz });
  } catch {
    throw new ValidationError(`unknown time zone "${tz}" (use an IANA name such as Europe/Paris)`);
  }
}

/** Creates or updates a site (idempotent). */
export async function upsertSite(q: Q, site: { siteId: string; name: string; timeZone: string; currency: string }): Promise<SiteRow> {
  SiteIdSchema.parse(site.siteId);
  CurrencySchema.parse(site.currency);
  checkTimeZone(site.timeZone);
  const [row] = await q<SiteRow[]>`
    INSERT INTO sites (site_id, name, time_zone, currency)
    VALUES (${site.siteId}, ${site.name}, ${site.timeZone}, ${site.currency})
    ON CONFLICT (site_id) DO UPDATE SET name = EXCLUDED.name, time_zone = EXCLUDED.time_zone, currency = EXCLUDED.currency
    RETURNING *`;
  return row;
}

export async function getSite(q: Q, siteId: string): Promise<SiteRow> {
  const [row] = await q<SiteRow[]>`SELECT * FROM sites WHERE site_id = ${siteId}`;
  if (!row) throw new NotFoundError("site", siteId);
  return row;
}

export async function listSites(q: Q): Promise<SiteRow[]> {
  return [...(await q<SiteRow[]>`SELECT * FROM sites ORDER BY site_id`)];
}

/** Creates or updates a lane (idempotent). */
export async function upsertLane(q: Q, lane: { siteId: string; laneId: string; kind: "entry" | "exit"; name?: string }): Promise<LaneRow> {
  LaneIdSchema.parse(lane.laneId);
  const [row] = await q<LaneRow[]>`
    INSERT INTO lanes (site_id, lane_id, kind, name) VALUES (${lane.siteId}, ${lane.laneId}, ${lane.kind}, ${lane.name ?? ""})
    ON CONFLICT (site_id, lane_id) DO UPDATE SET kind = EXCLUDED.kind, name = EXCLUDED.name
    RETURNING *`;
  return row;
}

export async function listLanes(q: Q, siteId: string): Promise<LaneRow[]> {
  return [...(await q<LaneRow[]>`SELECT * FROM lanes WHERE site_id = ${siteId} ORDER BY lane_id`)];
}

/**
 * Stores a tariff document as a new version for the site (`version` defaults to the next one).
 * A version is immutable: inserting an existing (site, version) throws a unique violation.
 */
export async function insertTariff(q: Q, t: { siteId: string; version?: number; effectiveFrom: Date; document: Json }): Promise<TariffRow> {
  if (t.document === null || typeof t.document !== "object" || Array.isArray(t.document)) throw new ValidationError("tariff document must be a JSON object");
  const [row] = await q<TariffRow[]>`
    INSERT INTO tariffs (site_id, version, effective_from, document)
    VALUES (${t.siteId},
            COALESCE(${t.version ?? null}::int4, (SELECT COALESCE(max(version), 0) + 1 FROM tariffs WHERE site_id = ${t.siteId})),
            ${t.effectiveFrom}, ${q.json(t.document)})
    RETURNING *`;
  return row;
}

/** The tariff in force for the site at `at`, or undefined when none is effective yet. */
export async function tariffInForce(q: Q, siteId: string, at: Date): Promise<TariffRow | undefined> {
  const [row] = await q<TariffRow[]>`
    SELECT * FROM tariffs WHERE site_id = ${siteId} AND effective_from <= ${at}
    ORDER BY effective_from DESC, version DESC LIMIT 1`;
  return row;
}

export async function getTariff(q: Q, tariffId: number): Promise<TariffRow> {
  const [row] = await q<TariffRow[]>`SELECT * FROM tariffs WHERE tariff_id = ${tariffId}`;
  if (!row) throw new NotFoundError("tariff", String(tariffId));
  return row;
}

export async function listTariffs(q: Q, siteId: string): Promise<TariffRow[]> {
  return [...(await q<TariffRow[]>`SELECT * FROM tariffs WHERE site_id = ${siteId} ORDER BY version`)];
}
