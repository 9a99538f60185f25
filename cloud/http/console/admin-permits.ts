/**
 * Admin: a site's permit plans, permits and access list (issue 17) — a screen over the flows the
 * JSON API uses, none of their rules repeated here: plans are checked by the permits flow's
 * PlanBody and written by its setPermitPlan (audited `permit_plan.set`, cloud/flows/site-admin.ts),
 * a permit is resynced with Stripe by resyncPermit, badges and PINs are added and revoked by the
 * access flow (signed parking/acl/* to the site, audited). Permits themselves are sold through
 * Stripe Checkout (/permits/:site) and cancelled in Stripe's customer portal: listed here.
 */
import type { Request, Response, Router } from "express";
import { listPermitPlans, listPermitsOfSite, type PermitRow } from "../../db/index";
import { getSiteAdmin } from "../../db/site-admin";
import { ACL_DISABLED_MESSAGE, AccessAddBody, ENTRY_ID_RE, addAccessEntry, listAccessEntries, revokeAccessEntry, type AccessContext, type Actor } from "../../flows/access";
import { HttpError } from "../../flows/errors";
import { PlanBody, resyncPermit } from "../../flows/permits";
import { FieldError, instantOfSiteLocal, setPlan } from "../../flows/site-admin";
import { formatMoney } from "../../tariffs/index";
import { esc } from "../pages";
import { siteTime } from "./i18n";
import { actorOf, adminForm, adminGuard, adminPage, adminWrap, formError, input, redirectNotice, select, valuesOf, zodErrors, type AdminDeps, type Ctx, type Errors, type Values } from "./admin-forms";
import { siteParam } from "./admin-sites";

type Which = "plan" | "access";

function statusPill(s: PermitRow["status"]): string {
  const cls = s === "active" ? "ok" : s === "past_due" || s === "pending" ? "warn" : "bad";
  return `<span class="pill ${cls}">${esc(s)}</span>`;
}

/** The plan form as the permits flow's PlanBody expects it (numbers, a checkbox). */
function planInput(v: Values): Record<string, unknown> {
  const num = (s: string | undefined) => (s === undefined || s.trim() === "" ? undefined : Number(s.trim()));
  const o: Record<string, unknown> = { plan_id: v.plan_id ?? "", name: v.name ?? "", period: v.period, amount: num(v.amount), currency: (v.currency ?? "").trim().toUpperCase(), benefit: v.benefit, max_permits: num(v.max_permits), active: v.active === "on" };
  if (v.benefit === "discount" || (v.discount_percent ?? "").trim() !== "") o.discount_percent = num(v.discount_percent);
  return o;
}

/** The access form as the access flow's AccessAddBody expects it; valid_until read on the site's clock. */
function accessInput(zone: string, v: Values): Record<string, unknown> {
  const until = (v.valid_until ?? "").trim();
  let validUntil: string | undefined;
  if (until !== "") {
    const d = instantOfSiteLocal(zone, until);
    if (!d) throw new FieldError("valid_until", "a date and time such as 2026-12-31T23:59");
    validUntil = d.toISOString();
  }
  const common = { label: v.label ?? "", ...(validUntil ? { valid_until: validUntil } : {}) };
  return v.kind === "pin" ? { kind: "pin", pin: v.pin ?? "", ...common } : { kind: "badge", badge_uid: v.badge_uid ?? "", subscriber: v.subscriber === "on", ...common };
}

function accessActor(req: Request): Actor {
  const a = actorOf(req);
  return { username: a.username, operatorId: a.operatorId, role: a.role, via: "api", requestId: a.requestId };
}

export function registerPermits(router: Router, d: AdminDeps): void {
  const guard = adminGuard(d);
  const form = adminForm();
  const accessCtx = (): AccessContext => {
    if (!d.aclHmacKey) throw new HttpError(503, ACL_DISABLED_MESSAGE, "acl_disabled");
    return { db: d.db, src: d.src, auditMode: d.auditMode, aclHmacKey: d.aclHmacKey, ...(d.pinCost ? { pinCost: d.pinCost } : {}) };
  };
  const base = (siteId: string) => `/console/admin/sites/${encodeURIComponent(siteId)}/permits`;

  async function page(req: Request, res: Response, c: Ctx, failed?: { which: Which; e: Errors; status: number }): Promise<void> {
    const site = await getSiteAdmin(d.db.sql, siteParam(req));
    const t = c.t;
    const b = base(site.siteId);
    const pv: Values = failed?.which === "plan" ? valuesOf(req) : { currency: site.currency, period: "month", benefit: "free", active: "on" };
    const pe = failed?.which === "plan" ? failed.e : {};
    const plans = (await listPermitPlans(d.db.sql, site.siteId))
      .map((p) => `<tr data-plan="${esc(p.planId)}"><td>${esc(p.planId)}</td><td>${esc(p.name)}</td><td>${esc(p.period === "month" ? t.month : t.year)}</td><td class="r">${esc(formatMoney(p.amount, p.currency, c.lang))}</td><td>${esc(p.benefit === "free" ? t.free : `${t.discount} ${p.discountPercent} %`)}</td><td class="r">${p.maxPermits}</td><td>${esc(p.active ? t.yes : t.no)}</td></tr>`)
      .join("");
    const planForm = `<form method="post" action="${esc(b)}/plans" id="plan-form">${formError(pe)}<div class="row">${input({ name: "plan_id", label: t.planId, v: pv, e: pe, required: true })}${input({ name: "name", label: t.name, v: pv, e: pe, required: true })}${select({ name: "period", label: t.period, v: pv, e: pe, options: [["month", t.month], ["year", t.year]] })}</div>
<div class="row">${input({ name: "amount", label: t.amount, v: pv, e: pe, type: "number", extra: 'min="1" step="1"' })}${input({ name: "currency", label: t.currency, v: pv, e: pe })}${select({ name: "benefit", label: t.benefit, v: pv, e: pe, options: [["free", t.free], ["discount", t.discount]] })}${input({ name: "discount_percent", label: t.discountPercent, v: pv, e: pe, type: "number" })}${input({ name: "max_permits", label: t.maxPermits, v: pv, e: pe, type: "number", extra: 'min="1" step="1"' })}</div>
<label><input type="checkbox" name="active"${pv.active === "on" ? " checked" : ""}> ${esc(t.active)}</label><button class="btn" type="submit">${esc(t.save)}</button></form>`;
    const permits = (await listPermitsOfSite(d.db.sql, site.siteId))
      .map((p) => `<tr data-permit="${esc(p.permitId)}"><td>${esc(p.permitId)}</td><td>${esc(p.planId)}</td><td>${statusPill(p.status)}</td><td>${esc(p.holderEmail)}</td><td>${esc(p.badgeUid ?? "")}</td><td>${esc(p.plate ?? "")}</td><td>${esc(siteTime(p.currentPeriodEnd, site.timeZone, c.lang))}</td><td><form method="post" action="${esc(`${b}/${encodeURIComponent(p.permitId)}/sync`)}" class="inline"><button class="btn" type="submit">${esc(t.sync)}</button></form></td></tr>`)
      .join("");
    const body = `<div class="card"><h2>${esc(t.plans)}</h2><div class="scroll"><table class="grid" id="plans"><thead><tr><th>Id</th><th>${esc(t.name)}</th><th>${esc(t.period)}</th><th class="r">${esc(t.amount)}</th><th>${esc(t.benefit)}</th><th class="r">${esc(t.maxPermits)}</th><th>${esc(t.active)}</th></tr></thead><tbody>${plans}</tbody></table></div>${planForm}</div>
<div class="card"><h2>${esc(t.permitList)}</h2><div class="scroll"><table class="grid" id="permits"><thead><tr><th>Id</th><th>${esc(t.planId)}</th><th>${esc(t.status)}</th><th>${esc(t.holder)}</th><th>${esc(t.badge)}</th><th>${esc(t.plate)}</th><th>${esc(t.periodEnd)}</th><th></th></tr></thead><tbody>${permits}</tbody></table></div></div>
${await accessCard(req, c, site.siteId, site.timeZone, failed?.which === "access" ? failed : undefined)}`;
    adminPage(req, res, c, { title: `${t.permits} — ${site.name}`, crumbs: [["/console/admin/sites", t.sites], [`/console/admin/sites/${encodeURIComponent(site.siteId)}`, site.name]], body, status: failed?.status ?? 200 });
  }

  async function accessCard(req: Request, c: Ctx, siteId: string, zone: string, failed?: { e: Errors }): Promise<string> {
    const t = c.t;
    if (!d.aclHmacKey) return `<div class="card"><h2>${esc(t.access)}</h2><p class="muted">${esc(t.accessDisabled)}</p></div>`;
    const b = base(siteId);
    const list = await listAccessEntries(d.db.sql, siteId);
    const rows = list.entries
      .map((x) => `<tr data-entry="${esc(x.entry_id)}"><td>${esc(x.entry_id)}</td><td>${esc(x.kind)}</td><td>${esc(x.label)}</td><td>${esc(x.subscriber ? t.yes : t.no)}</td><td>${esc(x.valid_until ? siteTime(new Date(x.valid_until), zone, c.lang) : "")}</td><td><form method="post" action="${esc(`${b}/access/${encodeURIComponent(x.entry_id)}/revoke`)}" class="inline"><button class="btn danger" type="submit">${esc(t.revoke)}</button></form></td></tr>`)
      .join("");
    const v: Values = failed ? valuesOf(req) : { kind: "badge" };
    const e = failed?.e ?? {};
    const addForm = `<form method="post" action="${esc(b)}/access" id="access-form">${formError(e)}<div class="row">${select({ name: "kind", label: t.kind, v, e, options: [["badge", t.badge], ["pin", "PIN"]] })}${input({ name: "badge_uid", label: t.badge, v, e })}${input({ name: "pin", label: t.pin, v, e, type: "password", extra: 'inputmode="numeric" autocomplete="off"' })}</div>
<div class="row">${input({ name: "label", label: t.label, v, e, required: true })}${input({ name: "valid_until", label: t.validUntil, v, e, type: "datetime-local" })}</div><label><input type="checkbox" name="subscriber"${v.subscriber === "on" ? " checked" : ""}> ${esc(t.subscriber)}</label><button class="btn" type="submit">${esc(t.add)}</button></form>`;
    return `<div class="card"><h2>${esc(t.access)} <span class="muted">v${list.version}</span></h2><div class="scroll"><table class="grid" id="access"><thead><tr><th>Id</th><th>${esc(t.kind)}</th><th>${esc(t.label)}</th><th>${esc(t.subscriber)}</th><th>${esc(t.validUntil)}</th><th></th></tr></thead><tbody>${rows}</tbody></table></div>${addForm}</div>`;
  }

  const againAs = (which: Which) => (req: Request, res: Response, c: Ctx, e: Errors, status: number) => page(req, res, c, { which, e, status });

  router.get("/console/admin/sites/:site/permits", ...guard, adminWrap((req, res, c) => page(req, res, c)));
  router.post(
    "/console/admin/sites/:site/permits/plans",
    ...guard,
    ...form,
    adminWrap(async (req, res, c) => {
      const siteId = siteParam(req);
      const f = PlanBody.safeParse(planInput(valuesOf(req)));
      if (!f.success) return page(req, res, c, { which: "plan", e: zodErrors(f.error), status: 400 });
      await setPlan({ db: d.db, auditMode: d.auditMode }, siteId, f.data, actorOf(req));
      d.wake();
      redirectNotice(res, base(siteId), "plan_saved");
    }, againAs("plan")),
  );
  router.post(
    "/console/admin/sites/:site/permits/:permit/sync",
    ...guard,
    adminWrap(async (req, res) => {
      const siteId = siteParam(req);
      const id = String(req.params.permit);
      if (!/^pmt_[A-Za-z0-9]{8,40}$/.test(id)) throw new HttpError(404, `no permit ${id.slice(0, 64)}`, "not_found");
      await resyncPermit({ db: d.db, stripe: d.stripe, auditMode: d.auditMode, src: d.src, ...(d.aclHmacKey ? { aclHmacKey: d.aclHmacKey } : {}) }, id);
      d.wake();
      redirectNotice(res, base(siteId), "permit_synced");
    }),
  );
  router.post(
    "/console/admin/sites/:site/permits/access",
    ...guard,
    ...form,
    adminWrap(async (req, res, c) => {
      const siteId = siteParam(req);
      const ctx = accessCtx();
      const site = await getSiteAdmin(d.db.sql, siteId);
      const f = AccessAddBody.safeParse(accessInput(site.timeZone, valuesOf(req)));
      if (!f.success) return page(req, res, c, { which: "access", e: zodErrors(f.error), status: 400 });
      await addAccessEntry(ctx, siteId, f.data, accessActor(req));
      d.wake();
      redirectNotice(res, base(siteId), "access_added");
    }, againAs("access")),
  );
  router.post(
    "/console/admin/sites/:site/permits/access/:entry/revoke",
    ...guard,
    adminWrap(async (req, res) => {
      const siteId = siteParam(req);
      const entryId = String(req.params.entry);
      if (!ENTRY_ID_RE.test(entryId)) throw new HttpError(404, `no access entry ${entryId.slice(0, 64)}`, "not_found");
      const r = await revokeAccessEntry(accessCtx(), siteId, entryId, accessActor(req));
      if (!r.alreadyRevoked) d.wake();
      redirectNotice(res, base(siteId), "access_revoked");
    }),
  );
}
