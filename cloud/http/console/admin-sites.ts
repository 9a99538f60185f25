/**
 * Admin: sites and lanes (issue 17). `/console/admin` (the index), `/console/admin/sites` (list,
 * add), `/console/admin/sites/:site` (rename, capacity and the spaces held back from tickets for
 * permits and reservations — a change publishes the site's state to its entry displays — time
 * zone, coordinates, the legal details receipts print), `/console/admin/sites/:site/lanes` (add
 * a lane as the site names it — the name keeps its case, the database id is its lowercase form —
 * rename, change its kind).
 * Plain forms that POST: a refusal re-renders the form (400/409, the message next to the field,
 * the values kept), a success redirects (303) with a notice. The writes: cloud/flows/site-admin.ts.
 */
import type { Request, Response, Router } from "express";
import { z } from "zod";
import { SiteIdSchema, listLanes } from "../../db/index";
import { getSiteAdmin, listSitesAdmin, type SiteAdminRow } from "../../db/site-admin";
import { HttpError } from "../../flows/errors";
import { ADMIN_SITE_ID, addLane, addSite, editLane, editSite } from "../../flows/site-admin";
import { timeZoneProblem } from "../../tariffs/tz";
import { esc } from "../pages";
import {
  actorOf,
  adminForm,
  adminGuard,
  adminPage,
  adminWrap,
  formError,
  input,
  optionalNumber,
  redirectNotice,
  select,
  valuesOf,
  zodErrors,
  type AdminDeps,
  type Ctx,
  type Errors,
  type Values,
} from "./admin-forms";

const CURRENCIES = new Set(Intl.supportedValuesOf("currency"));
const spots = optionalNumber(0, 1_000_000, "a whole number of spaces from 0 to 1000000", true).transform((n) => n ?? 0);
const text = (max: number) => z.string().trim().max(max, `at most ${max} characters`).optional().default("");

const SiteFields = {
  name: z.string().trim().min(1, "required").max(100, "at most 100 characters"),
  time_zone: z
    .string()
    .trim()
    .min(1, "required")
    .max(64, "at most 64 characters")
    .superRefine((s, ctx) => {
      const p = timeZoneProblem(s);
      if (p) ctx.addIssue({ code: "custom", message: p });
    }),
  capacity: optionalNumber(0, 1_000_000, "a whole number of spaces from 0 to 1000000, or empty", true),
  // Empty: none held back. Their sum against the capacity is the flow's check (checkSpots).
  permit_spots: spots,
  reservation_spots: spots,
  latitude: optionalNumber(-90, 90, "a number from -90 to 90, or empty"),
  longitude: optionalNumber(-180, 180, "a number from -180 to 180, or empty"),
  company: text(200),
  address: text(200),
  siret: text(200),
  vat_id: text(200),
};
const EditForm = z.object(SiteFields);
const AddForm = z.object({
  site_id: z.string().trim().regex(ADMIN_SITE_ID, "1–32 of a-z 0-9 -, starting with a letter or digit"),
  currency: z
    .string()
    .trim()
    .toUpperCase()
    .refine((c) => /^[A-Z]{3}$/.test(c) && CURRENCIES.has(c), "an ISO 4217 currency code such as EUR"),
  ...SiteFields,
});
const LaneForm = z.object({ lane_id: z.string().trim().min(1, "required").max(63, "at most 63 characters"), kind: z.enum(["entry", "exit"], "entry or exit") });
const LaneEditForm = z.object({ name: z.string().trim().min(1, "required").max(64, "at most 64 characters"), kind: z.enum(["entry", "exit"], "entry or exit") });

/** The site a path names (404 for an id no site could have). */
export function siteParam(req: Request): string {
  const site = String(req.params.site);
  if (!SiteIdSchema.safeParse(site).success) throw new HttpError(404, `no site ${site.slice(0, 64)}`, "not_found");
  return site;
}

function legalOf(d: { company: string; address: string; siret: string; vat_id: string }) {
  return { company: d.company, address: d.address, siret: d.siret, vat_id: d.vat_id };
}

/** The form values of a stored site (what the edit form starts from). */
function siteValues(s: SiteAdminRow): Values {
  const n = (x: number | null) => (x === null || x === undefined ? "" : String(x));
  const l = s.legal ?? {};
  return { name: s.name, time_zone: s.timeZone, capacity: n(s.capacity), permit_spots: String(s.permitSpots), reservation_spots: String(s.reservationSpots), latitude: n(s.latitude), longitude: n(s.longitude), company: l.company ?? "", address: l.address ?? "", siret: l.siret ?? "", vat_id: l.vat_id ?? "" };
}

function siteFields(c: Ctx, v: Values, e: Errors): string {
  const t = c.t;
  return `<div class="row">${input({ name: "name", label: t.name, v, e, required: true })}${input({ name: "time_zone", label: t.timeZone, v, e, required: true })}</div>
<div class="row">${input({ name: "capacity", label: t.capacity, v, e, type: "number", extra: 'min="0" step="1"' })}${input({ name: "permit_spots", label: t.permitSpots, v, e, type: "number", extra: 'min="0" step="1"' })}${input({ name: "reservation_spots", label: t.reservationSpots, v, e, type: "number", extra: 'min="0" step="1"' })}</div>
<p class="muted" id="help-permit_spots">${esc(t.permitSpotsHelp)}</p><p class="muted" id="help-reservation_spots">${esc(t.reservationSpotsHelp)}</p>
<div class="row">${input({ name: "latitude", label: t.latitude, v, e, extra: 'inputmode="decimal"' })}${input({ name: "longitude", label: t.longitude, v, e, extra: 'inputmode="decimal"' })}</div>
<fieldset><legend>${esc(t.legal)}</legend><p class="muted">${esc(t.legalNote)}</p>
<div class="row">${input({ name: "company", label: t.company, v, e })}${input({ name: "address", label: t.address, v, e })}</div>
<div class="row">${input({ name: "siret", label: t.siret, v, e })}${input({ name: "vat_id", label: t.vatId, v, e })}</div></fieldset>`;
}

function siteLinks(c: Ctx, siteId: string): string {
  const base = `/console/admin/sites/${encodeURIComponent(siteId)}`;
  return `<a href="${base}">${esc(c.t.edit)}</a> · <a href="${base}/lanes">${esc(c.t.lanes)}</a> · <a href="${base}/tariffs">${esc(c.t.tariffs)}</a> · <a href="${base}/permits">${esc(c.t.permits)}</a>`;
}

export function registerSites(router: Router, d: AdminDeps): void {
  const guard = adminGuard(d);
  const form = adminForm();

  router.get(
    "/console/admin",
    ...guard,
    adminWrap(async (req, res, c) => {
      const sites = await listSitesAdmin(d.db.sql);
      const rows = sites.map((s) => `<li><strong>${esc(s.name)}</strong> <span class="muted">${esc(s.siteId)}</span> — ${siteLinks(c, s.siteId)}</li>`).join("");
      adminPage(req, res, c, { title: c.t.admin, crumbs: [], body: `<div class="card"><h2><a href="/console/admin/sites">${esc(c.t.sites)}</a></h2><ul id="sites">${rows}</ul></div><div class="card"><h2><a href="/console/admin/operators">${esc(c.t.operators)}</a></h2></div>` });
    }),
  );

  async function sitesPage(req: Request, res: Response, c: Ctx, e: Errors = {}, status = 200): Promise<void> {
    const sites = await listSitesAdmin(d.db.sql);
    const v = status === 200 ? { currency: "EUR", time_zone: "Europe/Paris" } : valuesOf(req);
    const rows = sites
      .map((s) => `<tr data-site="${esc(s.siteId)}"><td>${esc(s.siteId)}</td><td>${esc(s.name)}</td><td>${esc(s.timeZone)}</td><td>${esc(s.currency)}</td><td class="r">${esc(s.capacity ?? c.t.none)}</td><td>${siteLinks(c, s.siteId)}</td></tr>`)
      .join("");
    const table = `<div class="card scroll"><table class="grid" id="site-list"><thead><tr><th>Id</th><th>${esc(c.t.name)}</th><th>${esc(c.t.timeZone)}</th><th>${esc(c.t.currency)}</th><th class="r">${esc(c.t.capacity)}</th><th></th></tr></thead><tbody>${rows}</tbody></table></div>`;
    const add = `<div class="card"><h2>${esc(c.t.addSite)}</h2><form method="post" action="/console/admin/sites" id="add-site">${formError(e)}
<div class="row">${input({ name: "site_id", label: c.t.siteId, v, e, required: true })}${input({ name: "currency", label: c.t.currency, v, e, required: true })}</div>${siteFields(c, v, e)}
<button class="btn" type="submit">${esc(c.t.add)}</button></form></div>`;
    adminPage(req, res, c, { title: c.t.sites, crumbs: [["/console/admin/sites", c.t.sites]], body: table + add, status });
  }

  router.get("/console/admin/sites", ...guard, adminWrap((req, res, c) => sitesPage(req, res, c)));
  router.post(
    "/console/admin/sites",
    ...guard,
    ...form,
    adminWrap(async (req, res, c) => {
      const f = AddForm.safeParse(req.body ?? {});
      if (!f.success) return sitesPage(req, res, c, zodErrors(f.error), 400);
      const s = f.data;
      await addSite({ db: d.db, auditMode: d.auditMode, src: d.src }, { siteId: s.site_id, name: s.name, timeZone: s.time_zone, currency: s.currency, capacity: s.capacity, permitSpots: s.permit_spots, reservationSpots: s.reservation_spots, latitude: s.latitude, longitude: s.longitude, legal: legalOf(s) }, actorOf(req));
      d.wake();
      redirectNotice(res, `/console/admin/sites/${encodeURIComponent(s.site_id)}`, "site_added");
    }, (req, res, c, e, status) => sitesPage(req, res, c, e, status)),
  );

  async function sitePage(req: Request, res: Response, c: Ctx, e: Errors = {}, status = 200): Promise<void> {
    const site = await getSiteAdmin(d.db.sql, siteParam(req));
    const v = status === 200 ? siteValues(site) : valuesOf(req);
    const body = `<p>${siteLinks(c, site.siteId)}</p><div class="card"><form method="post" action="/console/admin/sites/${esc(encodeURIComponent(site.siteId))}" id="edit-site">${formError(e)}
<p class="muted">Id: <strong>${esc(site.siteId)}</strong> · ${esc(c.t.currency)}: <strong>${esc(site.currency)}</strong></p>${siteFields(c, v, e)}
<button class="btn" type="submit">${esc(c.t.save)}</button></form></div>`;
    adminPage(req, res, c, { title: `${c.t.site} ${site.name}`, crumbs: [["/console/admin/sites", c.t.sites]], body, status });
  }

  router.get("/console/admin/sites/:site", ...guard, adminWrap((req, res, c) => sitePage(req, res, c)));
  router.post(
    "/console/admin/sites/:site",
    ...guard,
    ...form,
    adminWrap(async (req, res, c) => {
      const siteId = siteParam(req);
      const f = EditForm.safeParse(req.body ?? {});
      if (!f.success) return sitePage(req, res, c, zodErrors(f.error), 400);
      const s = f.data;
      await editSite({ db: d.db, auditMode: d.auditMode, src: d.src }, siteId, { name: s.name, timeZone: s.time_zone, capacity: s.capacity, permitSpots: s.permit_spots, reservationSpots: s.reservation_spots, latitude: s.latitude, longitude: s.longitude, legal: legalOf(s) }, actorOf(req));
      d.wake();
      redirectNotice(res, `/console/admin/sites/${encodeURIComponent(siteId)}`, "site_saved");
    }, (req, res, c, e, status) => sitePage(req, res, c, e, status)),
  );

  registerLanes(router, d);
}

/** Lanes: the list with a rename form per lane, and the add form. `editing`: the lane whose form failed. */
function registerLanes(router: Router, d: AdminDeps): void {
  const guard = adminGuard(d);
  const form = adminForm();
  async function lanesPage(req: Request, res: Response, c: Ctx, e: Errors = {}, status = 200, editing?: string): Promise<void> {
    const site = await getSiteAdmin(d.db.sql, siteParam(req));
    const lanes = await listLanes(d.db.sql, site.siteId);
    const base = `/console/admin/sites/${encodeURIComponent(site.siteId)}/lanes`;
    const kinds: [string, string][] = [["exit", c.t.exit], ["entry", c.t.entry]];
    const rows = lanes
      .map((l) => {
        const mine = editing === l.laneId;
        const v = mine ? valuesOf(req) : { name: l.name || l.laneId, kind: l.kind };
        const le = mine ? e : {};
        return `<tr data-lane="${esc(l.laneId)}"><td>${esc(l.laneId)}</td><td class="lane-name">${esc(l.name)}</td><td>${esc(l.kind === "entry" ? c.t.entry : c.t.exit)}</td><td><form method="post" action="${esc(`${base}/${encodeURIComponent(l.laneId)}`)}" class="row">${input({ name: "name", label: c.t.laneName, v, e: le, required: true })}${select({ name: "kind", label: c.t.kind, v, e: le, options: kinds })}<button class="btn" type="submit">${esc(c.t.save)}</button></form></td></tr>`;
      })
      .join("");
    const addValues = editing === undefined && status !== 200 ? valuesOf(req) : {};
    const addErrors = editing === undefined ? e : {};
    const body = `<p>${siteLinks(c, site.siteId)}</p><div class="card scroll"><table class="grid" id="lane-list"><thead><tr><th>Id</th><th>${esc(c.t.laneName)}</th><th>${esc(c.t.kind)}</th><th></th></tr></thead><tbody>${rows}</tbody></table></div>
<div class="card"><form method="post" action="${esc(base)}" id="add-lane">${formError(addErrors)}<div class="row">${input({ name: "lane_id", label: c.t.laneId, v: addValues, e: addErrors, required: true })}${select({ name: "kind", label: c.t.kind, v: addValues, e: addErrors, options: kinds })}</div><button class="btn" type="submit">${esc(c.t.add)}</button></form></div>`;
    adminPage(req, res, c, { title: `${c.t.lanes} — ${site.name}`, crumbs: [["/console/admin/sites", c.t.sites], [`/console/admin/sites/${encodeURIComponent(site.siteId)}`, site.name]], body, status });
  }

  router.get("/console/admin/sites/:site/lanes", ...guard, adminWrap((req, res, c) => lanesPage(req, res, c)));
  router.post(
    "/console/admin/sites/:site/lanes",
    ...guard,
    ...form,
    adminWrap(async (req, res, c) => {
      const siteId = siteParam(req);
      const f = LaneForm.safeParse(req.body ?? {});
      if (!f.success) return lanesPage(req, res, c, zodErrors(f.error), 400);
      await addLane({ db: d.db, auditMode: d.auditMode }, siteId, { wireId: f.data.lane_id, kind: f.data.kind }, actorOf(req));
      d.wake();
      redirectNotice(res, `/console/admin/sites/${encodeURIComponent(siteId)}/lanes`, "lane_added");
    }, (req, res, c, e, status) => lanesPage(req, res, c, e, status)),
  );
  router.post(
    "/console/admin/sites/:site/lanes/:lane",
    ...guard,
    ...form,
    adminWrap(async (req, res, c) => {
      const siteId = siteParam(req);
      const lane = String(req.params.lane);
      const f = LaneEditForm.safeParse(req.body ?? {});
      if (!f.success) return lanesPage(req, res, c, zodErrors(f.error), 400, lane);
      await editLane({ db: d.db, auditMode: d.auditMode }, siteId, lane, f.data, actorOf(req));
      d.wake();
      redirectNotice(res, `/console/admin/sites/${encodeURIComponent(siteId)}/lanes`, "lane_saved");
    }),
  );
}
