/**
 * The demo site of the embedded defaults: `paris-centre` (Europe/Paris, EUR), exit lane L1
 * (database id `l1`), entry lane E1, and the example Paris tariff as version 1. Idempotent.
 * Also the first admin of an empty operators table (credentials returned once, to print).
 *
 * The seeded tariff is the example Paris tariff plus the validation HALF (−50 %), and a seeded
 * site gets a demo merchant using it (issue 18: "merchant validation halves the fee"), its page
 * link returned once, like the first admin's password.
 */
import { randomBytes } from "node:crypto";
import type { Database } from "../db/index";
import { countOperators, createOperator, hashSecret, insertTariff, listPermitPlans, listTariffs, upsertLane, upsertPermitPlan, upsertSite, type Json } from "../db/index";
import { createMerchant, listMerchants } from "../db/merchants";
import { parisCentreDocument } from "../tariffs/examples/paris-centre";

export const DEMO_SITE = { siteId: "paris-centre", name: "Paris Centre (demo)", timeZone: "Europe/Paris", currency: "EUR" } as const;
export const DEMO_EXIT_LANE = "L1";
export const DEMO_ENTRY_LANE = "E1";

/** The demo validation: a merchant pays half of its customers' parking. */
export const DEMO_VALIDATION_RULE = "HALF";

/** The example tariff with the demo validation added (the example's prices are unchanged: tests rely on them). */
export const DEMO_TARIFF_DOCUMENT = {
  ...parisCentreDocument,
  discounts: {
    ...parisCentreDocument.discounts,
    validations: { ...parisCentreDocument.discounts.validations, [DEMO_VALIDATION_RULE]: { kind: "percent", percent: 50, label: { en: "Merchant validation −50 %", fr: "Validation commerçant −50 %" } } },
  },
};

export interface SeedResult {
  /** The demo merchant, when this call created it: its page is /merchant/<token> (shown once). */
  demoMerchant?: { merchantId: string; token: string };
}

export async function seedSite(db: Database, site: { siteId: string; name: string; timeZone: string; currency: string } = DEMO_SITE, lanes: { exit: string; entry: string } = { exit: DEMO_EXIT_LANE, entry: DEMO_ENTRY_LANE }): Promise<SeedResult> {
  await upsertSite(db.sql, site);
  // The demo car park's size and place (the console's occupancy, the weather), set once: an admin may change them.
  if (site.siteId === DEMO_SITE.siteId) await db.sql`UPDATE sites SET capacity = 120, latitude = 48.8606, longitude = 2.3376 WHERE site_id = ${site.siteId} AND capacity IS NULL AND latitude IS NULL`;
  await upsertLane(db.sql, { siteId: site.siteId, laneId: lanes.exit.toLowerCase(), kind: "exit", name: lanes.exit });
  await upsertLane(db.sql, { siteId: site.siteId, laneId: lanes.entry.toLowerCase(), kind: "entry", name: lanes.entry });
  if ((await listTariffs(db.sql, site.siteId)).length === 0) {
    await insertTariff(db.sql, { siteId: site.siteId, version: 1, effectiveFrom: new Date(DEMO_TARIFF_DOCUMENT.effective_from), document: DEMO_TARIFF_DOCUMENT as unknown as Json });
  }
  await seedPermitPlans(db, site.siteId, site.currency);
  return seedDemoMerchant(db, site.siteId);
}

/** A demo shop validating with HALF (budget 100.00) for a site that has no merchant. */
export async function seedDemoMerchant(db: Database, siteId: string): Promise<SeedResult> {
  if ((await listMerchants(db.sql, siteId)).length > 0) return {};
  const { merchant, token } = await createMerchant(db.sql, { siteId, name: "Boutique démo / Demo shop", kind: "shop", rule: DEMO_VALIDATION_RULE, budgetMinor: 10_000 });
  return { demoMerchant: { merchantId: merchant.merchantId, token } };
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
