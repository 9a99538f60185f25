/**
 * The console's merchants screen (issue 18), admins only: `GET /console/merchants` (per site and
 * period: each merchant's budget, codes issued and used, what its validations cost the operator)
 * and `POST /console/merchants` (a merchant with its rule — a validation of the site's tariff —
 * and its budget; the page link is shown once, only its hash is kept). Same guard, forms and
 * error pages as the admin screens (./admin-forms.ts); the creation is audited.
 */
import type { Request, Response, Router } from "express";
import { z } from "zod";
import { getSite, listSites, tariffInForce } from "../../db/index";
import { MERCHANT_KINDS, merchantReport } from "../../db/merchants";
import { addMerchant } from "../../flows/validations";
import { tariffOf } from "../../flows/flow-context";
import { formatMoney } from "../../tariffs/index";
import { majorToMinor } from "../pricing-pages";
import { esc, type Lang } from "../pages";
import { actorOf, adminForm, adminGuard, adminWrap, formError, input, select, valuesOf, zodErrors, type AdminDeps, type Ctx, type Errors, type Values } from "./admin-forms";
import type { AppDeps } from "../deps";
import { render } from "./request";

const MT = {
  fr: {
    title: "Commerçants", site: "Parking", from: "Du", to: "Au", show: "Afficher", name: "Nom", kind: "Type", rule: "Validation (règle du tarif)", budget: "Budget (€)",
    spent: "Dépensé", left: "Restant", issued: "Codes émis", used: "Codes utilisés", cost: "Coût pour l'exploitant", add: "Ajouter un commerçant", create: "Créer",
    linkOnce: "Lien de la page du commerçant (affiché une seule fois) :", total: "Total", none: "Aucun commerçant.",
    kinds: { shop: "Commerce", cinema: "Cinéma", hotel: "Hôtel", other: "Autre" },
    unknownRule: (rule: string, known: string) => `rule : ${rule} n'est pas une validation du tarif en vigueur (connues : ${known})`,
  },
  en: {
    title: "Merchants", site: "Car park", from: "From", to: "To", show: "Show", name: "Name", kind: "Kind", rule: "Validation (tariff rule)", budget: "Budget (€)",
    spent: "Spent", left: "Left", issued: "Codes issued", used: "Codes used", cost: "Cost to the operator", add: "Add a merchant", create: "Create",
    linkOnce: "The merchant's page link (shown once):", total: "Total", none: "No merchant.",
    kinds: { shop: "Shop", cinema: "Cinema", hotel: "Hotel", other: "Other" },
    unknownRule: (rule: string, known: string) => `rule: ${rule} is not a validation of the tariff in force (known: ${known})`,
  },
} as const;

const DAY = /^\d{4}-\d{2}-\d{2}$/;
const ReportQuery = z.object({
  site: z.string().max(64).optional(),
  from: z.union([z.literal(""), z.string().regex(DAY, "from: a date YYYY-MM-DD")]).optional(),
  to: z.union([z.literal(""), z.string().regex(DAY, "to: a date YYYY-MM-DD")]).optional(),
  lang: z.enum(["fr", "en"]).optional(),
});
const CreateForm = z.object({
  site: z.string().min(1, "choose a car park").max(64),
  name: z.string().trim().min(1, "a name is needed").max(80, "at most 80 characters"),
  kind: z.enum(MERCHANT_KINDS, { error: "shop, cinema, hotel or other" }),
  rule: z.string().trim().toUpperCase().regex(/^[A-Z0-9][A-Z0-9_-]{0,31}$/, "a tariff validation key such as SHOP-1H"),
  budget: z.string().trim().min(1, "an amount such as 100 or 99.50").max(12),
});

const isoDay = (d: Date) => d.toISOString().slice(0, 10);

/** The admin deps and the cloud's public address (the merchant's link is given to someone outside). */
type MerchantAdminDeps = AdminDeps & Pick<AppDeps, "publicBaseUrl">;

async function page(d: AdminDeps, req: Request, res: Response, c: Ctx, o: { e?: Errors; status?: number; created?: { name: string; link: string } } = {}): Promise<void> {
  const lang: Lang = c.lang;
  const t = MT[lang];
  const q = ReportQuery.safeParse(req.query);
  const e: Errors = { ...(o.e ?? {}) };
  if (!q.success) e.report = q.error.issues.map((i) => i.message).join("; ");
  const sites = await listSites(d.db.sql);
  const siteId = (q.success && q.data.site) || sites[0]?.siteId;
  const now = new Date();
  const from = q.success && q.data.from ? new Date(`${q.data.from}T00:00:00Z`) : new Date(now.getTime() - 30 * 86_400_000);
  const to = q.success && q.data.to ? new Date(`${q.data.to}T00:00:00Z`) : now;
  const toExclusive = q.success && q.data.to ? new Date(to.getTime() + 86_400_000) : to;
  const site = siteId ? await getSite(d.db.sql, siteId).catch(() => undefined) : undefined;
  const rows = site ? await merchantReport(d.db.sql, site.siteId, from, toExclusive) : [];
  const money = (n: number) => formatMoney(n, site?.currency ?? "EUR", lang);
  const body = rows.map((r) => `<tr data-merchant="${esc(r.merchantId)}"><td>${esc(r.name)}</td><td>${esc(t.kinds[r.kind])}</td><td><code>${esc(r.rule)}</code></td><td class="r">${esc(money(r.budgetMinor))}</td><td class="r">${esc(money(r.spentMinor))}</td><td class="r">${esc(money(r.budgetMinor - r.spentMinor))}</td><td class="r">${r.issued}</td><td class="r used">${r.used}</td><td class="r cost">${esc(money(r.costMinor))}</td></tr>`).join("");
  const total = rows.reduce((a, r) => a + r.costMinor, 0);
  const siteOpts: [string, string][] = sites.map((s) => [s.siteId, s.name]);
  const v: Values = o.status && o.status >= 400 ? valuesOf(req) : { site: site?.siteId ?? "", kind: "shop" };
  const created = o.created ? `<div class="card note" role="status" id="created"><p>${esc(o.created.name)} — ${esc(t.linkOnce)}</p><p><code id="merchant-link">${esc(o.created.link)}</code></p></div>` : "";
  const html = `<h1>${esc(t.title)}</h1>${created}
<div class="card"><form method="get" action="/console/merchants" class="row" id="report-form">${select({ name: "site", label: t.site, v: { site: site?.siteId ?? "" }, e: {}, options: siteOpts })}${input({ name: "from", label: t.from, v: { from: isoDay(from) }, e, type: "date" })}${input({ name: "to", label: t.to, v: { to: isoDay(to) }, e, type: "date" })}<button class="btn" type="submit">${esc(t.show)}</button></form>${e.report ? `<p class="err" role="alert" id="err-report">${esc(e.report)}</p>` : ""}</div>
<div class="card scroll"><table class="grid" id="merchants"><thead><tr><th>${esc(t.name)}</th><th>${esc(t.kind)}</th><th>${esc(t.rule)}</th><th>${esc(t.budget)}</th><th>${esc(t.spent)}</th><th>${esc(t.left)}</th><th>${esc(t.issued)}</th><th>${esc(t.used)}</th><th>${esc(t.cost)}</th></tr></thead>
<tbody>${body || `<tr><td colspan="9">${esc(t.none)}</td></tr>`}</tbody><tfoot><tr><td colspan="8">${esc(t.total)}</td><td class="r" id="total-cost">${esc(money(total))}</td></tr></tfoot></table></div>
<div class="card"><h2>${esc(t.add)}</h2><form method="post" action="/console/merchants" id="add-merchant">${formError(e)}<div class="row">${select({ name: "site", label: t.site, v, e, options: siteOpts })}${input({ name: "name", label: t.name, v, e, required: true })}${select({ name: "kind", label: t.kind, v, e, options: MERCHANT_KINDS.map((k) => [k, t.kinds[k]]) })}${input({ name: "rule", label: t.rule, v, e, required: true })}${input({ name: "budget", label: t.budget, v, e, required: true, extra: 'inputmode="decimal"' })}</div><button class="btn" type="submit">${esc(t.create)}</button></form></div>`;
  render(req, res, { title: t.title, nav: "admin", body: html, lang, status: o.status ?? (q.success ? 200 : 400) });
}

async function create(d: MerchantAdminDeps, req: Request, res: Response, c: Ctx): Promise<void> {
  const t = MT[c.lang];
  const f = CreateForm.safeParse(req.body ?? {});
  if (!f.success) return page(d, req, res, c, { e: zodErrors(f.error), status: 400 });
  const site = await getSite(d.db.sql, f.data.site).catch(() => undefined);
  if (!site) return page(d, req, res, c, { e: { site: "unknown car park" }, status: 400 });
  let budgetMinor: number;
  try {
    budgetMinor = majorToMinor(f.data.budget, site.currency, "budget");
  } catch (err) {
    return page(d, req, res, c, { e: { budget: (err as Error).message }, status: 400 });
  }
  const tariffRow = await tariffInForce(d.db.sql, site.siteId, new Date());
  const known = tariffRow ? Object.keys(tariffOf(tariffRow.tariffId, tariffRow.document).discounts?.validations ?? {}) : [];
  if (!known.includes(f.data.rule)) return page(d, req, res, c, { e: { rule: t.unknownRule(f.data.rule, known.join(", ") || "—") }, status: 400 });
  const a = actorOf(req);
  const { merchant, token } = await addMerchant(d, { siteId: site.siteId, name: f.data.name, kind: f.data.kind, rule: f.data.rule, budgetMinor }, a);
  d.wake();
  await page(d, req, res, c, { created: { name: merchant.name, link: `${d.publicBaseUrl()}/merchant/${token}` } });
}

export function registerMerchantConsole(router: Router, d: MerchantAdminDeps): void {
  const guard = adminGuard(d);
  router.get("/console/merchants", ...guard, adminWrap((req, res, c) => page(d, req, res, c)));
  router.post("/console/merchants", ...guard, ...adminForm(), adminWrap((req, res, c) => create(d, req, res, c)));
}
