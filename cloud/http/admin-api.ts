/**
 * The operator API of sites, lanes and tariffs (issue 19), admin only, JSON in and out — what
 * `syspark site|lane|tariff|seed` use when they go through a running cloud, and what a script
 * may call with an admin's token:
 *
 *   GET  /api/admin/sites                  the sites with their lanes and tariff versions
 *   POST /api/admin/sites                  {site_id, name, time_zone, currency, capacity?, …} → 201
 *   POST /api/admin/sites/:site/lanes      {lane_id, kind: entry|exit} → 201
 *   POST /api/admin/sites/:site/tariffs    {document, effective_from?, dry_run?} → the validation
 *                                          (400 listing every path) or the preview, and the version
 *                                          published (201) or already in place (200)
 *   PUT  /api/admin/seed[?dry_run=true]    the site file as JSON (./../flows/site-file.ts) → the plan
 *                                          and what was applied (idempotent)
 *
 * The writes are the console's admin flows (cloud/flows/site-admin.ts), audited `via: "api"`.
 * Bad input is a 400 naming the field (`body.lanes[1].kind`), never a 5xx.
 */
import express, { type Request, type Response, type Router } from "express";
import { z } from "zod";
import { SiteIdSchema, listLanes, listTariffs, tariffInForce } from "../db/index";
import { getSiteAdmin, listSitesAdmin, type SiteAdminRow } from "../db/site-admin";
import { HttpError } from "../flows/errors";
import { FieldError, addLane, addSite, type AdminActor, type SiteAdminContext } from "../flows/site-admin";
import { LaneKind, LaneWireId, SiteBodySchema, checkSiteFile, newSiteOf, type FileIssue } from "../flows/site-file";
import { SeedRefused, applySiteFile } from "../flows/site-seed";
import { INSTANT_MESSAGE, parseInstant, publishTariffDocument } from "../flows/tariff-publish";
import type { AppDeps } from "./deps";
import { jsonBody, parse, requireJson, wrap } from "./input";

type Deps = Pick<AppDeps, "db" | "auth" | "auditMode" | "src" | "jsonLimit" | "wake">;

/** A site file or a tariff document is larger than the usual small bodies (the console's tariff form allows as much). */
const DOCUMENT_LIMIT = 256 * 1024;

const LaneBody = z.strictObject({ lane_id: LaneWireId, kind: LaneKind });
const TariffBody = z.strictObject({
  document: z.record(z.string(), z.unknown(), "a tariff document (an object)"),
  effective_from: z.string().refine((s) => parseInstant(s) !== undefined, INSTANT_MESSAGE).optional(),
  dry_run: z.boolean().optional(),
});
const SeedQuery = z.strictObject({ dry_run: z.enum(["true", "false", "1", "0"], "true or false").optional() });

function actorOf(req: Request): AdminActor {
  const op = req.operator as NonNullable<Request["operator"]>;
  return { username: op.username, operatorId: op.operatorId, role: op.role, requestId: req.requestId ?? null, via: "api" };
}

/** The site a path names (404 for an id no site could have). */
function siteParam(req: Request): string {
  const site = String(req.params.site);
  if (!SiteIdSchema.safeParse(site).success) throw new HttpError(404, `no site ${site.slice(0, 64)}`, "not_found");
  return site;
}

/** A flow's refusal about a field, said as the body's field. */
async function asBody<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    if (err instanceof FieldError) throw new HttpError(err.status, `body.${err.field}: ${err.fieldMessage}`, err.code);
    throw err;
  }
}

function refuse(res: Response, issues: FileIssue[], where = "body"): void {
  const at = (p: string) => (p.startsWith("(") ? where : p.startsWith("[") ? `${where}${p}` : `${where}.${p}`);
  res.status(400).json({ error: issues.map((i) => `${at(i.path)}: ${i.message}`).join("; "), code: "invalid_input", issues: issues.map((i) => ({ path: at(i.path), message: i.message })) });
}

export async function siteView(q: Deps["db"]["sql"], s: SiteAdminRow) {
  const lanes = await listLanes(q, s.siteId);
  const versions = await listTariffs(q, s.siteId);
  const inForce = await tariffInForce(q, s.siteId, new Date());
  return {
    site_id: s.siteId,
    name: s.name,
    time_zone: s.timeZone,
    currency: s.currency,
    capacity: s.capacity,
    permit_spots: s.permitSpots,
    reservation_spots: s.reservationSpots,
    latitude: s.latitude,
    longitude: s.longitude,
    lanes: lanes.map((l) => ({ lane_id: l.laneId, name: l.name, kind: l.kind })),
    tariff: { latest_version: versions.reduce<number | null>((m, t) => Math.max(m ?? 0, t.version), null), in_force_version: inForce?.version ?? null },
  };
}
export type SiteView = Awaited<ReturnType<typeof siteView>>;

export function adminApiRouter(d: Deps): Router {
  const router = express.Router();
  const admin = d.auth.require(["admin"]);
  const ctx = (): SiteAdminContext => ({ db: d.db, auditMode: d.auditMode, src: d.src });

  router.get(
    "/api/admin/sites",
    admin,
    wrap(async (_req, res) => {
      const sites = await listSitesAdmin(d.db.sql);
      res.json({ sites: await Promise.all(sites.map((s) => siteView(d.db.sql, s))) });
    }),
  );

  router.post(
    "/api/admin/sites",
    admin,
    jsonBody(d.jsonLimit),
    wrap(async (req, res) => {
      requireJson(req);
      const b = parse(SiteBodySchema, req.body, "body");
      const row = await asBody(() =>
        addSite(ctx(), newSiteOf(b), actorOf(req)),
      );
      d.wake();
      res.status(201).json(await siteView(d.db.sql, row));
    }),
  );

  router.post(
    "/api/admin/sites/:site/lanes",
    admin,
    jsonBody(d.jsonLimit),
    wrap(async (req, res) => {
      const siteId = siteParam(req);
      requireJson(req);
      const b = parse(LaneBody, req.body, "body");
      await getSiteAdmin(d.db.sql, siteId); // an unknown site is a 404, before anything
      const row = await asBody(() => addLane(ctx(), siteId, { wireId: b.lane_id, kind: b.kind }, actorOf(req)));
      d.wake();
      res.status(201).json({ site_id: siteId, lane_id: row.laneId, name: row.name, kind: row.kind });
    }),
  );

  router.post(
    "/api/admin/sites/:site/tariffs",
    admin,
    jsonBody(Math.max(d.jsonLimit, DOCUMENT_LIMIT)),
    wrap(async (req, res) => {
      const siteId = siteParam(req);
      requireJson(req);
      const b = parse(TariffBody, req.body, "body");
      const effectiveFrom = b.effective_from !== undefined ? parseInstant(b.effective_from) : undefined;
      const r = await asBody(() => publishTariffDocument(ctx(), siteId, { document: b.document, ...(effectiveFrom ? { effectiveFrom } : {}), dryRun: b.dry_run ?? false }, actorOf(req)));
      if (!r.ok) return refuse(res, r.errors, "body.document");
      if (r.outcome === "published") d.wake();
      res.status(r.outcome === "published" ? 201 : 200).json({ site_id: siteId, ...r });
    }),
  );

  router.put(
    "/api/admin/seed",
    admin,
    jsonBody(Math.max(d.jsonLimit, DOCUMENT_LIMIT)),
    wrap(async (req, res) => {
      const q = parse(SeedQuery, req.query, "query");
      requireJson(req);
      const file = checkSiteFile(req.body);
      if (!file.ok) return refuse(res, file.issues);
      try {
        const r = await applySiteFile(ctx(), file.file, actorOf(req), { dryRun: q.dry_run === "true" || q.dry_run === "1" });
        if (r.changes > 0 && !r.dry_run) d.wake();
        res.json(r);
      } catch (err) {
        if (err instanceof SeedRefused) return refuse(res, err.issues);
        throw err;
      }
    }),
  );

  return router;
}
