/**
 * The console's admin screens (issue 17), admins only: sites and lanes (admin-sites.ts), tariff
 * versions with preview and publication (admin-tariffs.ts), permit plans, permits and access
 * lists (admin-permits.ts), operators and roles (admin-people.ts). Every route carries consoleCsp
 * and `auth.require(["admin"], { html: true })` itself (viewers and operators get a 403 page),
 * every write is one audited transaction in cloud/flows/site-admin.ts or the flow the JSON API uses.
 * All routes sit on this one router (no nested routers), so a walk of its stack sees each guard.
 */
import express, { type Router } from "express";
import type { AdminDeps } from "./admin-forms";
import { registerPeople } from "./admin-people";
import { registerPermits } from "./admin-permits";
import { registerSites } from "./admin-sites";
import { registerTariffs } from "./admin-tariffs";

export type { AdminDeps } from "./admin-forms";

export function consoleAdminRouter(d: AdminDeps): Router {
  const router = express.Router();
  registerSites(router, d);
  registerTariffs(router, d);
  registerPermits(router, d);
  registerPeople(router, d);
  return router;
}
