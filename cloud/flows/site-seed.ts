/**
 * `syspark seed --file site.yaml` and `PUT /api/admin/seed` (issue 19): a whole site from its
 * file (./site-file.ts), idempotently. First the PLAN — every item of the file compared with the
 * database: create, update, publish (a tariff version) or unchanged — read only; then, unless
 * it is a dry run, each change applied through the admin flows the console uses
 * (./site-admin.ts: one transaction per item that writes and audits together). A second run with
 * the same file finds everything unchanged: nothing written, no audit row, "no changes".
 *
 * The file is what the site should be, with one kindness: a site field the file leaves out
 * (capacity, coordinates, legal details…) keeps the database's value (`null` clears it), and a
 * lane or plan the database has and the file does not is left alone (a note says so) — a seed
 * never deletes. An item that fails stops the run; the items before it stay applied, and the
 * next run goes on from there (the plan is computed afresh).
 */
import { NotFoundError, canonicalJson, getPermitPlan, listLanes, listPermitPlans, type PermitPlanRow, type Q } from "../db/index";
import { getSiteAdmin, type NewSite, type SiteAdminRow, type SiteLegal } from "../db/site-admin";
import { HttpError } from "./errors";
import type { PlanBodyInput } from "./permits";
import { addLane, addSite, editLane, editSite, setPlan, type Acting, type SiteAdminContext } from "./site-admin";
import type { FileIssue, SiteFile } from "./site-file";
import { dbLaneId } from "./site-registry";
import { applyTariffPlan, newSiteTariffState, planTariff, tariffState, type TariffPlan, type TariffPreview } from "./tariff-publish";

export type SeedAction = "create" | "update" | "publish" | "unchanged";

export interface SeedStep {
  /** `site lyon-part-dieu`, `lane E1`, `tariff`, `permit plan lyon-monthly`. */
  item: string;
  action: SeedAction;
  detail: string;
}

interface PlannedStep extends SeedStep {
  run?: (ctx: SiteAdminContext, actor: Acting) => Promise<void>;
}

export interface SeedPlan {
  siteId: string;
  steps: PlannedStep[];
  /** What the seed leaves alone (lanes and plans of the database the file does not name). */
  notes: string[];
  /** Refusals found against the database (a currency change, a plan id of another site, the tariff against the new zone). */
  issues: FileIssue[];
  tariffPreview?: TariffPreview;
}

export interface SeedResult {
  site_id: string;
  dry_run: boolean;
  /** Items created, updated or published (0: the database already matched the file). */
  changes: number;
  steps: SeedStep[];
  notes: string[];
  tariff_preview?: TariffPreview;
}

const legalKey = (l: SiteLegal | undefined) => canonicalJson(Object.fromEntries(Object.entries(l ?? {}).filter(([, v]) => typeof v === "string" && v !== "")));
const shown = (v: unknown) => (v === null || v === undefined ? "none" : typeof v === "string" ? JSON.stringify(v) : String(v));

/** The site the file asks for: its fields, and the database's for those it leaves out. */
function targetSite(f: SiteFile["site"], before: SiteAdminRow | undefined): NewSite {
  const keep = <T>(given: T | undefined, had: T | undefined, dflt: T): T => (given !== undefined ? given : had !== undefined ? had : dflt);
  return {
    siteId: f.id,
    name: f.name,
    timeZone: f.time_zone,
    currency: f.currency,
    capacity: keep(f.capacity, before?.capacity, null),
    permitSpots: keep(f.permit_spots, before?.permitSpots, 0),
    reservationSpots: keep(f.reservation_spots, before?.reservationSpots, 0),
    latitude: keep(f.latitude, before?.latitude, null),
    longitude: keep(f.longitude, before?.longitude, null),
    legal: keep(f.legal, before?.legal, {}),
  };
}

function siteStep(f: SiteFile["site"], before: SiteAdminRow | undefined, issues: FileIssue[]): PlannedStep {
  const t = targetSite(f, before);
  const item = `site ${t.siteId}`;
  const { siteId: _id, currency: _c, ...edit } = t;
  void _id;
  void _c;
  if (!before) {
    const detail = [t.name, t.timeZone, t.currency, t.capacity !== null ? `capacity ${t.capacity}` : "no capacity", t.permitSpots ? `${t.permitSpots} permit spaces` : "", t.reservationSpots ? `${t.reservationSpots} reservation spaces` : ""].filter(Boolean).join(", ");
    return { item, action: "create", detail, run: (ctx, actor) => addSite(ctx, t, actor).then(() => undefined) };
  }
  if (before.currency !== t.currency) issues.push({ path: "site.currency", message: `the site exists with ${before.currency}: a site's currency cannot change (its tariffs and payments are in it)` });
  const was: Record<string, unknown> = { name: before.name, time_zone: before.timeZone, capacity: before.capacity, permit_spots: before.permitSpots, reservation_spots: before.reservationSpots, latitude: before.latitude, longitude: before.longitude };
  const now: Record<string, unknown> = { name: t.name, time_zone: t.timeZone, capacity: t.capacity, permit_spots: t.permitSpots, reservation_spots: t.reservationSpots, latitude: t.latitude, longitude: t.longitude };
  const changed = Object.keys(now).filter((k) => now[k] !== was[k]).map((k) => `${k} ${shown(was[k])} → ${shown(now[k])}`);
  if (legalKey(before.legal) !== legalKey(t.legal)) changed.push("legal details");
  if (changed.length === 0) return { item, action: "unchanged", detail: `${t.name}, ${t.timeZone}, ${t.currency}` };
  return { item, action: "update", detail: changed.join(", "), run: (ctx, actor) => editSite(ctx, t.siteId, edit, actor).then(() => undefined) };
}

async function laneSteps(q: Q, f: SiteFile, exists: boolean, notes: string[]): Promise<PlannedStep[]> {
  const siteId = f.site.id;
  const rows = exists ? await listLanes(q, siteId) : [];
  const named = new Set(f.lanes.map((l) => dbLaneId(l.id)));
  for (const r of rows) if (!named.has(r.laneId)) notes.push(`lane ${r.name || r.laneId} (${r.kind}) is not in the file: left as it is`);
  return f.lanes.map((l): PlannedStep => {
    const row = rows.find((r) => r.laneId === dbLaneId(l.id));
    const item = `lane ${l.id}`;
    if (!row) return { item, action: "create", detail: l.kind, run: (ctx, actor) => addLane(ctx, siteId, { wireId: l.id, kind: l.kind }, actor).then(() => undefined) };
    if (row.kind === l.kind && row.name === l.id) return { item, action: "unchanged", detail: l.kind };
    const detail = [row.kind !== l.kind ? `kind ${row.kind} → ${l.kind}` : "", row.name !== l.id ? `name ${shown(row.name)} → ${shown(l.id)}` : ""].filter(Boolean).join(", ");
    return { item, action: "update", detail, run: (ctx, actor) => editLane(ctx, siteId, row.laneId, { name: l.id, kind: l.kind }, actor).then(() => undefined) };
  });
}

async function tariffStep(q: Q, f: SiteFile, exists: boolean, issues: FileIssue[]): Promise<{ step?: PlannedStep; preview?: TariffPreview }> {
  if (!f.tariff) return {};
  const site = { timeZone: f.site.time_zone, currency: f.site.currency };
  // Checked against the site as the file makes it (a new zone comes with its tariff).
  const state = exists ? { ...(await tariffState(q, f.site.id)), site } : newSiteTariffState(site);
  const plan: TariffPlan = planTariff(state, f.tariff.document, f.tariff.effectiveFrom);
  if (!plan.ok) {
    issues.push(...plan.errors.map((e) => ({ path: `tariff.document${e.path.startsWith("(") ? "" : `.${e.path}`}`, message: e.message })));
    return {};
  }
  const when = plan.fromNow ? "from now" : `from ${plan.effectiveFrom.toISOString()}`;
  if (plan.action === "unchanged") return { step: { item: "tariff", action: "unchanged", detail: `version ${plan.version} is this document` } };
  if (f.tariff.effectiveFrom && f.tariff.effectiveFrom.getTime() < Date.now() - 60_000) issues.push({ path: "tariff.effective_from", message: "must be now or later (a version cannot start in the past): change it, or leave it out to publish from now" });
  const detail = `version ${plan.version} ${when}${plan.version > 1 ? ` (after version ${plan.version - 1})` : ""}`;
  return { step: { item: "tariff", action: "publish", detail, run: (ctx, actor) => applyTariffPlan(ctx, f.site.id, plan, actor).then(() => undefined) }, preview: plan.preview };
}

const planSummary = (p: PlanBodyInput) => `${p.amount} ${p.currency}/${p.period}, ${p.benefit === "free" ? "free exits" : `${p.discount_percent}% off`}, max ${p.max_permits}${p.active === false ? ", inactive" : ""}`;

function samePlan(row: PermitPlanRow, p: PlanBodyInput): boolean {
  return row.name === p.name && row.period === p.period && row.amount === p.amount && row.currency === p.currency && row.benefit === p.benefit && (row.discountPercent ?? null) === (p.discount_percent ?? null) && row.maxPermits === p.max_permits && row.active === (p.active ?? true);
}

async function planSteps(q: Q, f: SiteFile, exists: boolean, notes: string[], issues: FileIssue[]): Promise<PlannedStep[]> {
  const siteId = f.site.id;
  const rows = exists ? await listPermitPlans(q, siteId) : [];
  const named = new Set(f.plans.map((p) => p.plan_id));
  for (const r of rows) if (!named.has(r.planId)) notes.push(`permit plan ${r.planId} is not in the file: left as it is${r.active ? "" : " (inactive)"}`);
  const steps: PlannedStep[] = [];
  for (const [i, p] of f.plans.entries()) {
    const row = rows.find((r) => r.planId === p.plan_id);
    const item = `permit plan ${p.plan_id}`;
    const run = (ctx: SiteAdminContext, actor: Acting) => setPlan(ctx, siteId, p, actor).then(() => undefined);
    if (!row) {
      const other = await getPermitPlan(q, p.plan_id).catch((err: unknown) => {
        if (err instanceof NotFoundError) return undefined;
        throw err;
      });
      if (other) issues.push({ path: `permit_plans[${i}].plan_id`, message: `${p.plan_id} is a plan of site ${other.siteId}: plan ids are unique across sites` });
      steps.push({ item, action: "create", detail: planSummary(p), run });
    } else if (samePlan(row, p)) steps.push({ item, action: "unchanged", detail: planSummary(p) });
    else steps.push({ item, action: "update", detail: planSummary(p), run });
  }
  return steps;
}

/** What applying the file would do (reads only). */
export async function planSeed(q: Q, f: SiteFile): Promise<SeedPlan> {
  const before = await getSiteAdmin(q, f.site.id).catch((err: unknown) => {
    if (err instanceof NotFoundError) return undefined;
    throw err;
  });
  const notes: string[] = [];
  const issues: FileIssue[] = [];
  const exists = before !== undefined;
  const site = siteStep(f.site, before, issues);
  const lanes = await laneSteps(q, f, exists, notes);
  const tariff = await tariffStep(q, f, exists, issues);
  const plans = await planSteps(q, f, exists, notes, issues);
  return { siteId: f.site.id, steps: [site, ...lanes, ...(tariff.step ? [tariff.step] : []), ...plans], notes, issues, ...(tariff.preview ? { tariffPreview: tariff.preview } : {}) };
}

/** The file's refusals against the database: one 400 naming every path. */
export class SeedRefused extends HttpError {
  constructor(readonly issues: FileIssue[]) {
    super(400, issues.map((i) => `${i.path}: ${i.message}`).join("; "), "invalid_input");
  }
}

/**
 * Plans, then (unless `dryRun`) applies each change in order, telling `onStep` as each is done.
 * A refusal of a flow names the item (`site x: permit_spots: …`).
 */
export async function applySiteFile(ctx: SiteAdminContext, f: SiteFile, actor: Acting, o: { dryRun?: boolean; onStep?: (s: SeedStep) => void } = {}): Promise<SeedResult> {
  const plan = await planSeed(ctx.db.sql, f);
  if (plan.issues.length > 0) throw new SeedRefused(plan.issues);
  const steps: SeedStep[] = [];
  for (const { run, ...step } of plan.steps) {
    if (run && !o.dryRun) {
      try {
        await run(ctx, actor);
      } catch (err) {
        if (err instanceof HttpError) throw new HttpError(err.status, `${step.item}: ${err.message}`, err.code);
        // The database layer's refusals (ConflictError, NotFoundError…) keep their class and status; the message names the item.
        if (err instanceof Error) err.message = `${step.item}: ${err.message}`;
        throw err;
      }
    }
    steps.push(step);
    o.onStep?.(step);
  }
  const changes = steps.filter((s) => s.action !== "unchanged").length;
  return { site_id: f.site.id, dry_run: Boolean(o.dryRun), changes, steps, notes: plan.notes, ...(plan.tariffPreview ? { tariff_preview: plan.tariffPreview } : {}) };
}
