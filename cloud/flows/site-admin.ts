/**
 * The console's admin actions (issue 17): sites, lanes, tariff versions, permit plans and
 * operators. Each is ONE transaction that writes and audits (the operator who did it, through
 * the console) together, so an action is never done without its audit row nor audited undone.
 * A refusal names the form field it is about (FieldError), so the screen can put the message
 * next to it. The price of a tariff preview is priceStay's, the function the exit uses.
 */
import { createHash } from "node:crypto";
import { z } from "zod";
import {
  ConflictError,
  LaneIdSchema,
  canonicalJson,
  insertTariff,
  listTariffs,
  tariffInForce,
  updateOperator,
  getOperator,
  type Database,
  type Json,
  type OperatorRole,
  type Q,
  type TariffRow,
} from "../db/index";
import { createLane, createSite, enabledAdminIds, getSiteAdmin, lockSite, tariffVersionPublishedWithKey, updateLane, updateSite, type NewSite, type SiteAdminRow } from "../db/site-admin";
import { writeAudit, type AuditMode } from "../server/audit-chain";
import { priceStay, type PriceResult, type Tariff } from "../tariffs/index";
import { TariffSchema, formatPath, validateTariff } from "../tariffs/validate";
import { DAY_MS, HOUR_MS, MINUTE_MS, instantOfLocal, localMs, timeZoneProblem } from "../tariffs/tz";
import { HttpError } from "./errors";
import { publishSiteState } from "./lane-commands";
import { setPermitPlan, type PlanBodyInput } from "./permits";
import { dbLaneId } from "./site-registry";

/** Who acts, for the audit rows. */
export interface AdminActor {
  username: string;
  operatorId: number;
  role: OperatorRole;
  requestId: string | null;
  /** How: the console's forms (default) or the operator API (cloud/http/admin-api.ts). */
  via?: "console" | "api";
}

/** `syspark site|lane|tariff|seed` on the database itself: no operator logged in (`username` is `cli:<os user>`). */
export interface CliActor {
  username: string;
  operatorId: null;
  role: null;
  requestId: null;
  via: "cli";
}

export type Acting = AdminActor | CliActor;

/** A refusal about one form field: the screen shows `message` next to `field`. */
export class FieldError extends HttpError {
  constructor(
    readonly field: string,
    readonly fieldMessage: string,
    status = 400,
  ) {
    super(status, `${field}: ${fieldMessage}`, status === 409 ? "conflict" : "invalid_input");
  }
}

export interface AdminContext {
  db: Database;
  auditMode: AuditMode;
}

/** Adding or editing a site may tell its entry displays the new state: the messages carry the cloud's `src`. */
export interface SiteAdminContext extends AdminContext {
  src: string;
}

function by(a: Acting): Record<string, Json> {
  return { operator: a.username, operator_id: a.operatorId, role: a.role, via: a.via ?? "console", request_id: a.requestId };
}

/** Site ids the other routes accept too (access lists, permits: cloud/flows/access.ts SITE_ID_RE). */
export const ADMIN_SITE_ID = /^[a-z0-9][a-z0-9-]{0,31}$/;

function checkZone(zone: string): void {
  const p = timeZoneProblem(zone);
  if (p) throw new FieldError("time_zone", p);
}

function siteAudit(s: SiteAdminRow): Record<string, Json> {
  return { site_id: s.siteId, name: s.name, time_zone: s.timeZone, currency: s.currency, capacity: s.capacity, permit_spots: s.permitSpots, reservation_spots: s.reservationSpots, latitude: s.latitude, longitude: s.longitude, legal: s.legal as Json };
}

const MAX_SPOTS = 1_000_000; // the columns' CHECK (migration 17)

/**
 * The held-back spaces: whole numbers from 0, and together no more than the capacity when there
 * is one (a site whose every space is held back for permits and reservations still admits no ticket).
 */
function checkSpots(s: Pick<NewSite, "capacity" | "permitSpots" | "reservationSpots">): void {
  for (const [field, n] of [["permit_spots", s.permitSpots], ["reservation_spots", s.reservationSpots]] as const) {
    if (!Number.isInteger(n) || n < 0 || n > MAX_SPOTS) throw new FieldError(field, `a whole number of spaces from 0 to ${MAX_SPOTS}`);
  }
  if (s.capacity === null) return;
  if (s.permitSpots > s.capacity) throw new FieldError("permit_spots", `at most the capacity (${s.capacity})`);
  if (s.permitSpots + s.reservationSpots > s.capacity) throw new FieldError("reservation_spots", `the permit spaces (${s.permitSpots}) and the reservation spaces (${s.reservationSpots}) together exceed the capacity (${s.capacity})`);
}

/** What the free spaces for tickets depend on, of the site's row (cloud/db/occupancy.ts transientFree). */
const countsFreeSpaces = (s: SiteAdminRow) => [s.capacity, s.permitSpots, s.reservationSpots].join("/");

/** Adds a site and publishes its first state (retained: its entry displays find it when they connect). The caller wakes the relay. */
export async function addSite(ctx: SiteAdminContext, s: NewSite, actor: Acting): Promise<SiteAdminRow> {
  if (!ADMIN_SITE_ID.test(s.siteId)) throw new FieldError("site_id", "1–32 of a-z 0-9 -, starting with a letter or digit");
  checkZone(s.timeZone);
  checkSpots(s);
  try {
    return await ctx.db.tx(async (tx) => {
      const row = await createSite(tx, s);
      await publishSiteState(tx, ctx, row.siteId);
      await writeAudit(ctx.auditMode, tx, { kind: "site.added", payload: { ...siteAudit(row), ...by(actor) } });
      return row;
    });
  } catch (err) {
    if (err instanceof ConflictError) throw new FieldError("site_id", "this id is already taken", 409);
    throw err;
  }
}

/**
 * Changes a site. A new capacity or new held-back spaces change what a ticket may still take, so
 * the site's state is published in the same transaction (the entry displays hear whether a ticket
 * still fits: open / full, with the capacity); the caller wakes the relay after the commit.
 */
export async function editSite(ctx: SiteAdminContext, siteId: string, s: Omit<NewSite, "siteId" | "currency">, actor: Acting): Promise<SiteAdminRow> {
  checkZone(s.timeZone);
  checkSpots(s);
  return ctx.db.tx(async (tx) => {
    const before = await lockSite(tx, siteId);
    const after = await updateSite(tx, siteId, s);
    if (countsFreeSpaces(after) !== countsFreeSpaces(before)) await publishSiteState(tx, ctx, siteId);
    const was = siteAudit(before);
    const changed = Object.fromEntries(Object.entries(siteAudit(after)).filter(([k, v]) => canonicalJson(v) !== canonicalJson(was[k])).map(([k, v]) => [k, { from: was[k], to: v }])) as Record<string, Json>;
    await writeAudit(ctx.auditMode, tx, { kind: "site.updated", payload: { site_id: siteId, changed, ...by(actor) } });
    return after;
  });
}

/** A lane as the site names it (`L1`, `Sortie.2`): its database id is dbLaneId's lowercase form, its name keeps the case. */
export async function addLane(ctx: AdminContext, siteId: string, l: { wireId: string; kind: "entry" | "exit" }, actor: Acting) {
  if (!/^[A-Za-z0-9._:-]{1,63}$/.test(l.wireId)) throw new FieldError("lane_id", "1–63 of A-Z a-z 0-9 . _ : - (the id the site's gateway uses)");
  const laneId = dbLaneId(l.wireId);
  if (!LaneIdSchema.safeParse(laneId).success) throw new FieldError("lane_id", "must start with a letter or a digit");
  try {
    return await ctx.db.tx(async (tx) => {
      await lockSite(tx, siteId);
      const row = await createLane(tx, { siteId, laneId, kind: l.kind, name: l.wireId });
      await writeAudit(ctx.auditMode, tx, { kind: "lane.added", payload: { site_id: siteId, lane_id: laneId, name: row.name, kind: row.kind, ...by(actor) } });
      return row;
    });
  } catch (err) {
    if (err instanceof ConflictError) throw new FieldError("lane_id", `a lane ${laneId} already exists at this site`, 409);
    throw err;
  }
}

export async function editLane(ctx: AdminContext, siteId: string, laneId: string, l: { name: string; kind: "entry" | "exit" }, actor: Acting) {
  return ctx.db.tx(async (tx) => {
    const { before, after } = await updateLane(tx, { siteId, laneId, ...l });
    await writeAudit(ctx.auditMode, tx, { kind: "lane.updated", payload: { site_id: siteId, lane_id: laneId, name: { from: before.name, to: after.name }, kind: { from: before.kind, to: after.kind }, ...by(actor) } });
    return after;
  });
}

// ------------------------------------------------------------------ tariffs

export interface TariffIssue {
  path: string;
  message: string;
}

export type PreparedTariff = { ok: true; tariff: Tariff; document: Json } | { ok: false; errors: TariffIssue[] };

/** The first string (with its path) that holds a control character, if any. */
function controlCharPath(v: unknown, path: (string | number)[]): string | undefined {
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  if (typeof v === "string") return /[\u0000-\u001f\u007f]/.test(v) ? formatPath(path) : undefined;
  if (v === null || typeof v !== "object") return undefined;
  for (const [k, x] of Object.entries(v)) {
    const p = controlCharPath(x, [...path, Array.isArray(v) ? Number(k) : k]);
    if (p) return p;
  }
  return undefined;
}

/**
 * The JSON text an admin typed, made the document of version `version` in force from
 * `effectiveFrom` (both set here: the database's numbering and the form's time are the truth),
 * validated by the tariff engine and against the site (its zone and currency). Every problem is
 * listed with its path.
 */
export function prepareTariff(site: Pick<SiteAdminRow, "timeZone" | "currency">, text: string, version: number, effectiveFrom: Date): PreparedTariff {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    return { ok: false, errors: [{ path: "(document)", message: `not valid JSON: ${(err as Error).message}` }] };
  }
  if (doc === null || typeof doc !== "object" || Array.isArray(doc)) return { ok: false, errors: [{ path: "(document)", message: "must be a JSON object" }] };
  const bad = controlCharPath(doc, []);
  if (bad) return { ok: false, errors: [{ path: bad, message: "control characters are not allowed" }] };
  const withVersion = { ...(doc as Record<string, unknown>), version, effective_from: effectiveFrom.toISOString() };
  const r = TariffSchema.safeParse(withVersion);
  const errors: TariffIssue[] = r.success ? [] : r.error.issues.map((i) => ({ path: formatPath(i.path), message: i.message }));
  const d = withVersion as { time_zone?: unknown; currency?: unknown };
  if (typeof d.time_zone === "string" && d.time_zone !== site.timeZone && !errors.some((e) => e.path === "time_zone")) errors.push({ path: "time_zone", message: `must be the site's time zone ${site.timeZone} (change the site first to move it)` });
  if (typeof d.currency === "string" && d.currency !== site.currency && !errors.some((e) => e.path === "currency")) errors.push({ path: "currency", message: `must be the site's currency ${site.currency}` });
  if (errors.length > 0) return { ok: false, errors };
  const v = validateTariff(withVersion);
  if (!v.ok) return { ok: false, errors: v.errors.map((e) => ({ path: "(tariff)", message: e })) };
  return { ok: true, tariff: v.tariff, document: withVersion as Json };
}

export interface SampleStay {
  key: string;
  entry: Date;
  exit: Date;
}

/**
 * The stays a preview prices: from 09:00 local on the first day starting after `at` (10 min,
 * 45 min, 2 h, 5 h 30, 26 h) and an overnight stay 19:00 → 08:00 the next day, so that the same
 * tariff previewed for the same effective time gives the same table.
 */
export function sampleStays(zone: string, at: Date): SampleStay[] {
  const day = Math.floor(localMs(zone, at.getTime()) / DAY_MS) + 1;
  const local = (d: number, h: number, m = 0) => new Date(instantOfLocal(zone, d * DAY_MS + h * HOUR_MS + m * MINUTE_MS));
  const morning = local(day, 9);
  const after = (ms: number) => new Date(morning.getTime() + ms);
  return [
    { key: "10min", entry: morning, exit: after(10 * MINUTE_MS) },
    { key: "45min", entry: morning, exit: after(45 * MINUTE_MS) },
    { key: "2h", entry: morning, exit: after(2 * HOUR_MS) },
    { key: "5h30", entry: morning, exit: after(5.5 * HOUR_MS) },
    { key: "overnight", entry: local(day, 19), exit: local(day + 1, 8) },
    { key: "26h", entry: morning, exit: after(26 * HOUR_MS) },
  ];
}

/** A datetime-local value (YYYY-MM-DDTHH:MM) read on the site's wall clock. */
export function instantOfSiteLocal(zone: string, value: string): Date | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?$/.exec(value);
  if (!m) return undefined;
  const [y, mo, d, h, mi, s] = m.slice(1).map((x) => Number(x ?? 0));
  const local = Date.UTC(y, mo - 1, d, h, mi, s);
  const back = new Date(local);
  if (back.getUTCMonth() !== mo - 1 || back.getUTCDate() !== d || h > 23 || mi > 59) return undefined;
  return new Date(instantOfLocal(zone, local));
}

export interface PreviewRow {
  sample: SampleStay;
  /** The new document's price, or why it could not be priced. */
  price: PriceResult | { error: string };
  /** The price under the version in force now (none: no version yet, or it refused the stay). */
  current?: PriceResult;
}

function priceOr(tariff: Tariff, s: SampleStay, locale: "fr" | "en"): PriceResult | { error: string } {
  try {
    return priceStay({ tariff, entry: s.entry, exit: s.exit, locale });
  } catch (err) {
    return { error: (err as Error).message };
  }
}

export function priceSamples(tariff: Tariff, current: Tariff | undefined, samples: readonly SampleStay[], locale: "fr" | "en"): PreviewRow[] {
  return samples.map((sample) => {
    const cur = current ? priceOr(current, sample, locale) : undefined;
    return { sample, price: priceOr(tariff, sample, locale), ...(cur && "amount" in cur ? { current: cur } : {}) };
  });
}

export interface TariffsOfSite {
  site: SiteAdminRow;
  versions: TariffRow[];
  inForce?: TariffRow;
  /** The version in force as a validated tariff (undefined when none, or a stored document that no longer validates). */
  inForceTariff?: Tariff;
}

export async function tariffsOfSite(q: Q, siteId: string, at = new Date()): Promise<TariffsOfSite> {
  const site = await getSiteAdmin(q, siteId);
  const versions = await listTariffs(q, siteId);
  const inForce = await tariffInForce(q, siteId, at);
  const v = inForce ? validateTariff(inForce.document) : undefined;
  return { site, versions, ...(inForce ? { inForce } : {}), ...(v?.ok ? { inForceTariff: v.tariff } : {}) };
}

export class TariffRefused extends HttpError {
  constructor(readonly errors: TariffIssue[]) {
    super(400, `document: ${errors.map((e) => `${e.path}: ${e.message}`).join("; ")}`, "invalid_input");
  }
}

export interface PublishInput {
  text: string;
  /** Absent: now. */
  effectiveFrom?: Date;
  /** The form's hidden key: the same form submitted twice publishes once. */
  key: string;
  /** The latest version when the form was shown: another admin's publication meanwhile is a conflict. */
  baseVersion: number;
}

/** Publishes a new version (n + 1) of the site's tariff, audited `tariff.published`; idempotent by key. */
export async function publishTariff(ctx: AdminContext, siteId: string, p: PublishInput, actor: Acting): Promise<{ tariff?: TariffRow; version: number; replayed: boolean }> {
  const now = new Date();
  if (p.effectiveFrom && p.effectiveFrom.getTime() < now.getTime() - 60_000) throw new FieldError("effective_from", "must be now or later (a version cannot start in the past)");
  return ctx.db.tx(async (tx) => {
    const site = await lockSite(tx, siteId);
    const prior = await tariffVersionPublishedWithKey(tx, siteId, p.key);
    if (prior !== undefined) return { version: prior, replayed: true };
    const latest = (await listTariffs(tx, siteId)).reduce((m, t) => Math.max(m, t.version), 0);
    if (latest !== p.baseVersion) throw new FieldError("document", `version ${latest} was published since this form was opened: look at it, preview again, then publish`, 409);
    const effectiveFrom = p.effectiveFrom ?? now;
    const prepared = prepareTariff(site, p.text, latest + 1, effectiveFrom);
    if (!prepared.ok) throw new TariffRefused(prepared.errors);
    const row = await insertTariff(tx, { siteId, version: latest + 1, effectiveFrom, document: prepared.document });
    const sha256 = createHash("sha256").update(canonicalJson(prepared.document)).digest("hex");
    await writeAudit(ctx.auditMode, tx, {
      kind: "tariff.published",
      payload: { site_id: siteId, tariff_id: row.tariffId, version: row.version, tariff: prepared.tariff.id, effective_from: effectiveFrom.toISOString(), document_sha256: sha256, idempotency_key: p.key, ...by(actor) },
    });
    return { tariff: row, version: row.version, replayed: false };
  });
}

// ------------------------------------------------------------------ permit plans

/** Creates or replaces a permit plan (the permits flow's setPermitPlan), audited `permit_plan.set`. */
export async function setPlan(ctx: AdminContext, siteId: string, body: PlanBodyInput, actor: Acting) {
  return ctx.db.tx(async (tx) => {
    const site = await lockSite(tx, siteId);
    if (body.currency !== site.currency) throw new FieldError("currency", `must be the site's currency ${site.currency}`);
    // setPermitPlan only runs upsertPermitPlan(q: Q) on it: a transaction will do (its type asks for the pool's).
    const plan = await setPermitPlan({ sql: tx as unknown as Database["sql"] }, siteId, body);
    await writeAudit(ctx.auditMode, tx, { kind: "permit_plan.set", payload: { site_id: siteId, plan_id: plan.planId, name: plan.name, period: plan.period, amount: plan.amount, currency: plan.currency, benefit: plan.benefit, discount_percent: plan.discountPercent, max_permits: plan.maxPermits, active: plan.active, ...by(actor) } });
    return plan;
  });
}

// ------------------------------------------------------------------ operators

export const OperatorChange = z.discriminatedUnion("action", [
  z.strictObject({ action: z.literal("role"), role: z.enum(["admin", "operator", "viewer"]) }),
  z.strictObject({ action: z.literal("disable") }),
  z.strictObject({ action: z.literal("enable") }),
]);
export type OperatorChangeInput = z.infer<typeof OperatorChange>;

/**
 * Changes an operator's role or disables / enables it, audited. The last enabled admin can be
 * neither demoted nor disabled (nobody could administer the cloud any more); a disabled operator
 * is refused at its next request (auth re-reads the operator each time).
 */
export async function changeOperator(ctx: AdminContext, operatorId: number, change: OperatorChangeInput, actor: Acting) {
  return ctx.db.tx(async (tx) => {
    const admins = await enabledAdminIds(tx); // locked: two admins demoting each other at once cannot both succeed
    const before = await getOperator(tx, operatorId);
    const losesAdmin = before.role === "admin" && !before.disabled && ((change.action === "role" && change.role !== "admin") || change.action === "disable");
    if (losesAdmin && admins.length <= 1) throw new FieldError(change.action === "role" ? "role" : "action", "the last enabled admin cannot lose that role: make another admin first", 409);
    const patch = change.action === "role" ? { role: change.role } : { disabled: change.action === "disable" };
    const after = await updateOperator(tx, operatorId, patch);
    const kind = change.action === "role" ? "operator.role_changed" : change.action === "disable" ? "operator.disabled" : "operator.enabled";
    await writeAudit(ctx.auditMode, tx, { kind, payload: { username: after.username, target_operator_id: operatorId, from_role: before.role, to_role: after.role, from_disabled: before.disabled, to_disabled: after.disabled, ...by(actor) } });
    return after;
  });
}
