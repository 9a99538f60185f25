/**
 * Publishing a tariff DOCUMENT (a file's or an API body's, not the console's form): what
 * `syspark tariff publish`, `POST /api/admin/sites/:site/tariffs` and `syspark seed` share.
 * The document is validated by prepareTariff (every problem with its path), previewed with
 * priceSamples (the sample stays priced by the new version and by the one in force: priceStay,
 * the function the exit uses), then published by publishTariff (version n + 1, audited).
 *
 * Publishing the same document twice publishes once, two ways: a document equal to the latest
 * version's (and, when one is given, the same effective time) is "unchanged" — nothing written,
 * however long ago it was published — and two publications racing each other carry the same
 * publish key (a hash of the document, its effective time and the version it follows), which
 * publishTariff replays.
 */
import { createHash } from "node:crypto";
import { canonicalJson, type Json, type Q, type TariffRow } from "../db/index";
import { type Tariff } from "../tariffs/index";
import { prepareTariff, priceSamples, publishTariff, sampleStays, tariffsOfSite, type Acting, type AdminContext, type PreviewRow, type TariffIssue } from "./site-admin";

/** One sample stay of the preview, as JSON (amounts in minor units; null: not priced / no version in force). */
export interface PreviewLine {
  stay: string;
  entry: string;
  exit: string;
  amount: number | null;
  error?: string;
  current: number | null;
  difference: number | null;
}

export interface TariffPreview {
  currency: string;
  time_zone: string;
  /** The version in force now, that the `current` column prices with (absent: none). */
  current_version: number | null;
  lines: PreviewLine[];
}

export type TariffPlan =
  | { ok: false; errors: TariffIssue[] }
  | {
      ok: true;
      /** publish: version `version` would be (or was) written; unchanged: the latest version already is this document. */
      action: "publish" | "unchanged";
      version: number;
      effectiveFrom: Date;
      /** When the time was not given: the publication takes effect when it is written. */
      fromNow: boolean;
      key: string;
      text: string;
      preview: TariffPreview;
    };

/** An ISO 8601 instant with its offset (`2026-07-01T00:00:00+02:00`, `…Z`), or undefined. */
export function parseInstant(value: string): Date | undefined {
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})$/.test(value)) return undefined;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? undefined : new Date(ms);
}

export const INSTANT_MESSAGE = "an ISO 8601 date and time with its offset, such as 2026-07-01T00:00:00+02:00";

/** The document without what the database sets (its version number and effective time). */
function body(doc: unknown): Record<string, unknown> {
  const { version: _v, effective_from: _e, ...rest } = doc as Record<string, unknown>;
  void _v;
  void _e;
  return rest;
}

/** Same document as a stored version, ignoring its version number and effective time. */
export function sameDocument(stored: Json, doc: Record<string, unknown>): boolean {
  return stored !== null && typeof stored === "object" && !Array.isArray(stored) && canonicalJson(body(stored)) === canonicalJson(body(doc));
}

/**
 * The publish key of a document, its effective time (none given: "now") and the version it
 * follows: the same file published twice at once publishes once, while the same document
 * published again after another version (going back to it) is a new publication.
 */
export function publishKey(doc: Record<string, unknown>, effectiveFrom: Date | undefined, after: number): string {
  const h = createHash("sha256").update(canonicalJson(body(doc))).update(`\n${effectiveFrom ? effectiveFrom.toISOString() : "now"}\n${after}`).digest("base64url");
  return `doc-${h.slice(0, 40)}`;
}

export function previewView(rows: PreviewRow[], site: { currency: string; timeZone: string }, currentVersion: number | null): TariffPreview {
  return {
    currency: site.currency,
    time_zone: site.timeZone,
    current_version: currentVersion,
    lines: rows.map((r) => {
      const amount = "amount" in r.price ? r.price.amount : null;
      const current = r.current?.amount ?? null;
      return { stay: r.sample.key, entry: r.sample.entry.toISOString(), exit: r.sample.exit.toISOString(), amount, ...("error" in r.price ? { error: r.price.error } : {}), current, difference: amount !== null && current !== null ? amount - current : null };
    }),
  };
}

export interface TariffState {
  site: { timeZone: string; currency: string };
  versions: readonly TariffRow[];
  inForce?: TariffRow;
  inForceTariff?: Tariff;
}

/**
 * What publishing `doc` on a site in `state` would do (nothing read, nothing written): the
 * validation errors, or the version it would be (or the latest, when unchanged) and the preview.
 */
export function planTariff(state: TariffState, doc: unknown, effectiveFrom: Date | undefined, now = new Date()): TariffPlan {
  if (doc === null || typeof doc !== "object" || Array.isArray(doc)) return { ok: false, errors: [{ path: "(document)", message: "must be an object (a tariff document)" }] };
  const d = doc as Record<string, unknown>;
  const latest = state.versions.reduce<TariffRow | undefined>((m, t) => (m && m.version > t.version ? m : t), undefined);
  const unchanged = latest !== undefined && sameDocument(latest.document, d) && (!effectiveFrom || latest.effectiveFrom.getTime() === effectiveFrom.getTime());
  const at = effectiveFrom ?? (unchanged && latest ? latest.effectiveFrom : now);
  const version = unchanged && latest ? latest.version : (latest?.version ?? 0) + 1;
  const text = JSON.stringify(d);
  const prepared = prepareTariff(state.site, text, version, at);
  if (!prepared.ok) return { ok: false, errors: prepared.errors };
  const rows = priceSamples(prepared.tariff, state.inForceTariff, sampleStays(state.site.timeZone, at), "en");
  return {
    ok: true,
    action: unchanged ? "unchanged" : "publish",
    version,
    effectiveFrom: at,
    fromNow: effectiveFrom === undefined,
    key: publishKey(d, effectiveFrom, version - 1),
    text,
    preview: previewView(rows, state.site, state.inForce?.version ?? null),
  };
}

/** The site's tariff versions and the one in force (validated), for planTariff. */
export function tariffState(q: Q, siteId: string): Promise<TariffState> {
  return tariffsOfSite(q, siteId);
}

/** A state for a site that does not exist yet (a seed file creating it): no version, nothing in force. */
export function newSiteTariffState(site: { timeZone: string; currency: string }): TariffState {
  return { site, versions: [] };
}

export type TariffPublishResult =
  | { ok: false; errors: TariffIssue[] }
  | { ok: true; outcome: "published" | "unchanged" | "replayed" | "dry_run"; version: number; effective_from: string; from_now: boolean; preview: TariffPreview };

/**
 * Validates, previews and (unless `dryRun`) publishes `doc` as the site's next tariff version.
 * A refusal of the flow (an effective time in the past, a version published meanwhile) is its
 * FieldError, thrown.
 */
export async function publishTariffDocument(ctx: AdminContext, siteId: string, p: { document: unknown; effectiveFrom?: Date; dryRun?: boolean }, actor: Acting): Promise<TariffPublishResult> {
  const plan = planTariff(await tariffState(ctx.db.sql, siteId), p.document, p.effectiveFrom);
  if (!plan.ok) return plan;
  const shown = { effective_from: plan.effectiveFrom.toISOString(), from_now: plan.fromNow, preview: plan.preview };
  if (plan.action === "unchanged") return { ok: true, outcome: "unchanged", version: plan.version, ...shown };
  if (p.dryRun) return { ok: true, outcome: "dry_run", version: plan.version, ...shown };
  const r = await applyTariffPlan(ctx, siteId, plan, actor);
  return { ok: true, outcome: r.replayed ? "replayed" : "published", version: r.version, ...shown, ...(r.effectiveFrom ? { effective_from: r.effectiveFrom } : {}) };
}

/** Writes a planned publication (version n + 1 of the plan; another one published meanwhile is publishTariff's 409). */
export async function applyTariffPlan(ctx: AdminContext, siteId: string, plan: Extract<TariffPlan, { ok: true }>, actor: Acting): Promise<{ version: number; replayed: boolean; effectiveFrom?: string }> {
  const r = await publishTariff(ctx, siteId, { text: plan.text, key: plan.key, baseVersion: plan.version - 1, ...(plan.fromNow ? {} : { effectiveFrom: plan.effectiveFrom }) }, actor);
  return { version: r.version, replayed: r.replayed, ...(r.tariff ? { effectiveFrom: r.tariff.effectiveFrom.toISOString() } : {}) };
}
