/**
 * Admin: a site's tariff versions (issue 17). `GET /console/admin/sites/:site/tariffs` lists the
 * versions (in force, scheduled, superseded; times in the site's zone) above a form holding the
 * JSON document (prefilled with the version in force). **Preview** (POST, nothing written) lists
 * every validation error with its path, or prices sample stays — and one the admin types — with
 * priceStay, the function the exit uses, beside the version in force and the difference.
 * **Publish** (POST) writes version n + 1 from now or a chosen time, audited `tariff.published`;
 * the form's hidden key makes a double submit publish once, its base version refuses a form
 * opened before another admin's publication.
 */
import { randomBytes } from "node:crypto";
import type { Request, Response, Router } from "express";
import { FieldError, TariffRefused, instantOfSiteLocal, prepareTariff, priceSamples, publishTariff, sampleStays, tariffsOfSite, type PreviewRow, type SampleStay, type TariffIssue, type TariffsOfSite } from "../../flows/site-admin";
import { formatMoney } from "../../tariffs/index";
import { esc } from "../pages";
import { siteTime } from "./i18n";
import { actorOf, adminForm, adminGuard, adminPage, adminWrap, formError, input, redirectNotice, textarea, valuesOf, type AdminDeps, type Ctx, type Errors, type Values } from "./admin-forms";
import { siteParam } from "./admin-sites";

const KEY_RE = /^[A-Za-z0-9_-]{16,64}$/;

interface FormState {
  v: Values;
  e: Errors;
  issues?: TariffIssue[];
  preview?: PreviewRow[];
  status: number;
}

function newKey(): string {
  return randomBytes(18).toString("base64url");
}

function latestVersion(s: TariffsOfSite): number {
  return s.versions.reduce((m, t) => Math.max(m, t.version), 0);
}

function versionsTable(c: Ctx, s: TariffsOfSite): string {
  if (s.versions.length === 0) return `<p class="muted">${esc(c.t.noTariff)}</p>`;
  const now = Date.now();
  const rows = [...s.versions]
    .reverse()
    .map((t) => {
      const state = s.inForce?.tariffId === t.tariffId ? `<span class="pill ok">${esc(c.t.inForce)}</span>` : t.effectiveFrom.getTime() > now ? `<span class="pill warn">${esc(c.t.scheduled)}</span>` : `<span class="pill">${esc(c.t.past)}</span>`;
      return `<tr data-version="${t.version}"><td class="r">${t.version}</td><td>${esc(siteTime(t.effectiveFrom, s.site.timeZone, c.lang))}</td><td>${state}</td></tr>`;
    })
    .join("");
  return `<div class="scroll"><table class="grid" id="tariff-versions"><thead><tr><th class="r">${esc(c.t.version)}</th><th>${esc(c.t.effectiveFrom)} (${esc(s.site.timeZone)})</th><th></th></tr></thead><tbody>${rows}</tbody></table></div>`;
}

function issuesTable(c: Ctx, issues: TariffIssue[]): string {
  const rows = issues.map((i) => `<tr><td><code>${esc(i.path)}</code></td><td>${esc(i.message)}</td></tr>`).join("");
  return `<div class="card"><h2 class="err">${esc(c.t.errors)}</h2><div class="scroll"><table class="grid" id="tariff-errors"><thead><tr><th>${esc(c.t.path)}</th><th>${esc(c.t.message)}</th></tr></thead><tbody>${rows}</tbody></table></div></div>`;
}

function previewTable(c: Ctx, s: TariffsOfSite, rows: PreviewRow[]): string {
  const zone = s.site.timeZone;
  const money = (a: number) => formatMoney(a, s.site.currency, c.lang);
  const body = rows
    .map((r) => {
      const p = r.price;
      const price = "amount" in p ? `<td class="r new" data-amount="${p.amount}">${esc(money(p.amount))}<details><summary>…</summary>${p.human.map((h) => `<div>${esc(h)}</div>`).join("")}</details></td>` : `<td class="r new err" data-error="1">${esc(p.error)}</td>`;
      const cur = r.current ? `<td class="r current" data-amount="${r.current.amount}">${esc(money(r.current.amount))}</td>` : `<td class="r current">${esc(c.t.none)}</td>`;
      const diff = "amount" in p && r.current ? p.amount - r.current.amount : undefined;
      const diffCell = diff === undefined ? `<td class="r">${esc(c.t.none)}</td>` : `<td class="r diff" data-diff="${diff}">${diff > 0 ? "+" : diff < 0 ? "−" : ""}${esc(money(Math.abs(diff)))}</td>`;
      return `<tr data-sample="${esc(r.sample.key)}"><td>${esc(c.t.samples[r.sample.key] ?? r.sample.key)}</td><td>${esc(siteTime(r.sample.entry, zone, c.lang))}</td><td>${esc(siteTime(r.sample.exit, zone, c.lang))}</td>${price}${cur}${diffCell}</tr>`;
    })
    .join("");
  return `<div class="card"><p class="note" role="status">${esc(c.t.previewValid)}</p><div class="scroll"><table class="grid" id="tariff-preview"><thead><tr><th>${esc(c.t.stay)}</th><th>${esc(c.t.entryAt)}</th><th>${esc(c.t.exitAt)}</th><th class="r">${esc(c.t.newPrice)}</th><th class="r">${esc(c.t.currentPrice)}</th><th class="r">${esc(c.t.difference)}</th></tr></thead><tbody>${body}</tbody></table></div></div>`;
}

function tariffForm(c: Ctx, s: TariffsOfSite, st: FormState): string {
  const base = `/console/admin/sites/${encodeURIComponent(s.site.siteId)}/tariffs`;
  const { v, e } = st;
  return `<div class="card"><form method="post" action="${esc(base)}/preview" id="tariff-form">${formError(e)}
<input type="hidden" name="key" value="${esc(v.key ?? "")}"><input type="hidden" name="base_version" value="${esc(v.base_version ?? "")}">
<p class="muted">${esc(c.t.documentNote)}</p>${textarea({ name: "document", label: c.t.document, v, e, rows: 24 })}
<div class="row">${input({ name: "effective_from", label: c.t.effectiveChoice, v, e, type: "datetime-local" })}</div>
<div class="row">${input({ name: "sample_entry", label: c.t.sampleEntry, v, e, type: "datetime-local" })}${input({ name: "sample_exit", label: c.t.sampleExit, v, e, type: "datetime-local" })}</div>
<div class="row"><button class="btn" type="submit" id="preview">${esc(c.t.preview)}</button><button class="btn danger" type="submit" id="publish" formaction="${esc(base)}/publish">${esc(c.t.publish)}</button></div></form></div>`;
}

/** effective_from and the typed sample stay, read on the site's clock (field errors when wrong). */
function readTimes(zone: string, v: Values): { effectiveFrom?: Date; custom?: SampleStay } {
  const when = (name: string): Date | undefined => {
    const raw = (v[name] ?? "").trim();
    if (raw === "") return undefined;
    const d = instantOfSiteLocal(zone, raw);
    if (!d) throw new FieldError(name, "a date and time such as 2026-07-14T09:30");
    return d;
  };
  const effectiveFrom = when("effective_from");
  const entry = when("sample_entry");
  const exit = when("sample_exit");
  if ((entry === undefined) !== (exit === undefined)) throw new FieldError(entry === undefined ? "sample_entry" : "sample_exit", "give both the entry and the exit, or neither");
  if (entry && exit && exit.getTime() < entry.getTime()) throw new FieldError("sample_exit", "must be after the entry");
  return { ...(effectiveFrom ? { effectiveFrom } : {}), ...(entry && exit ? { custom: { key: "custom", entry, exit } } : {}) };
}

export function registerTariffs(router: Router, d: AdminDeps): void {
  const guard = adminGuard(d);
  const form = adminForm(["document"], "256kb");

  async function page(req: Request, res: Response, c: Ctx, st?: FormState): Promise<void> {
    const s = await tariffsOfSite(d.db.sql, siteParam(req));
    const shown = s.inForce ?? s.versions[s.versions.length - 1];
    const state: FormState = st ?? { v: { key: newKey(), base_version: String(latestVersion(s)), document: shown ? JSON.stringify(shown.document, null, 2) : "" }, e: {}, status: 200 };
    const body = `<div class="card"><h2>${esc(c.t.tariffs)}</h2>${versionsTable(c, s)}</div>${state.issues ? issuesTable(c, state.issues) : ""}${state.preview ? previewTable(c, s, state.preview) : ""}${tariffForm(c, s, state)}`;
    adminPage(req, res, c, { title: `${c.t.tariffs} — ${s.site.name}`, crumbs: [["/console/admin/sites", c.t.sites], [`/console/admin/sites/${encodeURIComponent(s.site.siteId)}`, s.site.name]], body, status: state.status });
  }

  /** The form as submitted, re-shown with a field error. */
  const again = (req: Request, res: Response, c: Ctx, e: Errors, status: number) => page(req, res, c, { v: valuesOf(req), e, status });

  router.get("/console/admin/sites/:site/tariffs", ...guard, adminWrap((req, res, c) => page(req, res, c)));

  router.post(
    "/console/admin/sites/:site/tariffs/preview",
    ...guard,
    ...form,
    adminWrap(async (req, res, c) => {
      const s = await tariffsOfSite(d.db.sql, siteParam(req));
      const v = valuesOf(req);
      const times = readTimes(s.site.timeZone, v);
      const effectiveFrom = times.effectiveFrom ?? new Date();
      const prepared = prepareTariff(s.site, v.document ?? "", latestVersion(s) + 1, effectiveFrom);
      if (!prepared.ok) return page(req, res, c, { v, e: { document: prepared.errors.map((i) => `${i.path}: ${i.message}`).join(" · ") }, issues: prepared.errors, status: 400 });
      const samples = [...sampleStays(s.site.timeZone, effectiveFrom), ...(times.custom ? [times.custom] : [])];
      await page(req, res, c, { v, e: {}, preview: priceSamples(prepared.tariff, s.inForceTariff, samples, c.lang), status: 200 });
    }, again),
  );

  router.post(
    "/console/admin/sites/:site/tariffs/publish",
    ...guard,
    ...form,
    adminWrap(async (req, res, c) => {
      const siteId = siteParam(req);
      const s = await tariffsOfSite(d.db.sql, siteId);
      const v = valuesOf(req);
      if (!KEY_RE.test(v.key ?? "")) throw new FieldError("form", "the form has no valid key: reload the page");
      if (!/^\d{1,9}$/.test(v.base_version ?? "")) throw new FieldError("form", "the form has no base version: reload the page");
      const { effectiveFrom } = readTimes(s.site.timeZone, v);
      try {
        const r = await publishTariff({ db: d.db, auditMode: d.auditMode }, siteId, { text: v.document ?? "", key: v.key, baseVersion: Number(v.base_version), ...(effectiveFrom ? { effectiveFrom } : {}) }, actorOf(req));
        d.wake();
        redirectNotice(res, `/console/admin/sites/${encodeURIComponent(siteId)}/tariffs`, r.replayed ? "tariff_replayed" : "tariff_published");
      } catch (err) {
        if (err instanceof TariffRefused) return page(req, res, c, { v, e: { document: err.errors.map((i) => `${i.path}: ${i.message}`).join(" · ") }, issues: err.errors, status: 400 });
        throw err;
      }
    }, again),
  );
}
