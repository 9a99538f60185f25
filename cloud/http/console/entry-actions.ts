/**
 * The console's entry-side actions (issue 18), in ./live.ts's style: a zod body, a reason always
 * (every action is audited with the operator), `operator` and `admin` act, a viewer is refused.
 * - POST /api/console/sites/:site/occupancy {pool, delta | set_to, reason}: count adjust (a car
 *   counted that is not there, one that came in uncounted); refused below 0.
 * - POST /api/console/sites/:site/passback {method, value, reason}: anti-passback clear — the open
 *   session of that identity is flagged "cleared by operator" and taken off the count, so the
 *   identity may enter again.
 * Each also answers an HTML form post (/console/sites/:site/occupancy, …/passback) with a 303 back
 * to the site's live page. The entry displays hear the new state (retained parking/site/state).
 */
import express, { type Request, type Router } from "express";
import { z } from "zod";
import { POOLS } from "../../db/index";
import { adjustOccupancy, clearPassback } from "../../flows/occupancy-actions";
import type { AppDeps } from "../deps";
import { formBody, jsonBody, parse, requireJson, wrap } from "../input";
import { operatorOf } from "./request";

type EntryDeps = Pick<AppDeps, "db" | "auth" | "src" | "auditMode" | "wake" | "jsonLimit">;

const SITE = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, "site id: lowercase letters, digits, - and _");
const REASON = z.string().trim().min(3, "reason is required (at least 3 characters): every action is audited").max(200);
const COUNT = z.coerce.number().int("must be a whole number");
const ACTORS = ["admin", "operator"] as const;

export const OccupancyAdjust = z
  .strictObject({
    pool: z.enum(POOLS, "pool: transient, permit or reservation"),
    delta: COUNT.min(-100_000).max(100_000).refine((n) => n !== 0, "delta: not 0").optional(),
    set_to: COUNT.min(0, "set_to: at least 0").max(1_000_000).optional(),
    reason: REASON,
  })
  .refine((b) => (b.delta === undefined) !== (b.set_to === undefined), { message: "give delta or set_to (one of them)", path: ["delta"] });
export const PassbackClear = z.strictObject({
  method: z.enum(["plate", "badge", "ticket", "pin", "reservation"], "method: plate, badge, ticket, pin or reservation"),
  value: z.string().trim().min(1, "value is required").max(64, "value: at most 64 characters"),
  reason: REASON,
});

function siteParam(req: Request): string {
  return parse(SITE, req.params.site, "path site");
}

/** A form's empty fields are absent (an HTML form sends every input). */
function formFields(body: unknown): Record<string, string> {
  return Object.fromEntries(Object.entries((body ?? {}) as Record<string, string>).filter(([, v]) => v !== ""));
}

export function consoleEntryRouter(d: EntryDeps): Router {
  const router = express.Router();
  const actors = d.auth.require(ACTORS);
  const actorsHtml = d.auth.require(ACTORS, { html: true });
  router.post(
    "/api/console/sites/:site/occupancy",
    actors,
    jsonBody(d.jsonLimit),
    wrap(async (req, res) => {
      requireJson(req);
      const siteId = siteParam(req);
      const r = await adjustOccupancy(d, siteId, parse(OccupancyAdjust, req.body, "body"), operatorOf(req));
      d.wake();
      res.status(200).json({ site_id: siteId, ...r });
    }),
  );
  router.post(
    "/api/console/sites/:site/passback",
    actors,
    jsonBody(d.jsonLimit),
    wrap(async (req, res) => {
      requireJson(req);
      const siteId = siteParam(req);
      const r = await clearPassback(d, siteId, parse(PassbackClear, req.body, "body"), operatorOf(req));
      d.wake();
      res.status(200).json({ site_id: siteId, session_id: r.sessionId, cleared: true });
    }),
  );
  router.post(
    "/console/sites/:site/occupancy",
    actorsHtml,
    ...formBody(),
    wrap(async (req, res) => {
      const siteId = siteParam(req);
      await adjustOccupancy(d, siteId, parse(OccupancyAdjust, formFields(req.body), "form"), operatorOf(req));
      d.wake();
      res.redirect(303, `/console/sites/${siteId}`);
    }),
  );
  router.post(
    "/console/sites/:site/passback",
    actorsHtml,
    ...formBody(),
    wrap(async (req, res) => {
      const siteId = siteParam(req);
      await clearPassback(d, siteId, parse(PassbackClear, formFields(req.body), "form"), operatorOf(req));
      d.wake();
      res.redirect(303, `/console/sites/${siteId}`);
    }),
  );
  return router;
}
