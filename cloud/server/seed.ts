/**
 * The demo site of the embedded defaults: `paris-centre` (Europe/Paris, EUR), exit lane L1
 * (database id `l1`), entry lane E1, and the example Paris tariff as version 1. Idempotent.
 * Also the first admin of an empty operators table (credentials returned once, to print).
 */
import { randomBytes } from "node:crypto";
import type { Database } from "../db/index";
import { countOperators, createOperator, hashSecret, insertTariff, listPermitPlans, listTariffs, upsertLane, upsertPermitPlan, upsertSite, type Json } from "../db/index";
import { parisCentreDocument } from "../tariffs/examples/paris-centre";

export const DEMO_SITE = { siteId: "paris-centre", name: "Paris Centre (demo)", timeZone: "Europe/Paris", currency: "EUR" } as const;
export const DEMO_EXIT_LANE = "L1";
export const DEMO_ENTRY_LANE = "E1";

export async function seedSite(db: Database, site: { siteId: string; name: string; timeZone: string; currency: string } = DEMO_SITE, lanes: { exit: string; entry: string } = { exit: DEMO_EXIT_LANE, entry: DEMO_ENTRY_LANE }): Promise<void> {
  await upsertSite(db.sql, site);
  // The demo car park's size and place (the console's occupancy, the weather), set once: an admin may change them.
  if (site.siteId === DEMO_SITE.siteId) await db.sql`UPDATE sites SET capacity = 120, latitude = 48.8606, longitude = 2.3376 WHERE site_id = ${site.siteId} AND capacity IS NULL AND latitude IS NULL`;
  await upsertLane(db.sql, { siteId: site.siteId, laneId: lanes.exit.toLowerCase(), kind: "exit", name: lanes.exit });
  await upsertLane(db.sql, { siteId: site.siteId, laneId: lanes.entry.toLowerCase(), kind: "entry", name: lanes.entry });
  if ((await listTariffs(db.sql, site.siteId)).length === 0) {
    await insertTariff(db.sql, { siteId: site.siteId, version: 1, effectiveFrom: new Date(parisCentreDocument.effective_from), document: parisCentreDocument as unknown as Json });
  }
  await seedPermitPlans(db, site.siteId, site.currency);
}

/** A monthly and an annual permit plan (free exits) for a site that has none (issue 16 item 5). */
export async function seedPermitPlans(db: Database, siteId: string, currency: string): Promise<void> {
  if ((await listPermitPlans(db.sql, siteId)).length > 0) return;
  const base = { siteId, currency, benefit: "free" as const, discountPercent: null, active: true };
  await upsertPermitPlan(db.sql, { ...base, planId: `${siteId}-monthly`.slice(0, 48), name: "Mensuel / Monthly", period: "month", amount: 8900, maxPermits: 50 });
  await upsertPermitPlan(db.sql, { ...base, planId: `${siteId}-annual`.slice(0, 48), name: "Annuel / Annual", period: "year", amount: 89000, maxPermits: 20 });
}

/** Creates `admin` with a random password when no operator exists; returns it ONCE. */
export async function ensureFirstAdmin(db: Database, cost?: { N: number; r: number; p: number }): Promise<{ username: string; password: string } | undefined> {
  if ((await countOperators(db.sql)) > 0) return undefined;
  const password = randomBytes(15).toString("base64url");
  await createOperator(db.sql, { username: "admin", passwordHash: await hashSecret(password, cost), role: "admin" });
  return { username: "admin", password };
}
