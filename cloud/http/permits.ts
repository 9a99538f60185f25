/**
 * Permits (issue 16 item 5): the holders' pages — `GET /permits/:site` (plans, the buy form),
 * `POST /permits/:site/buy` (→ Stripe Checkout, subscription mode), `GET /permits/:site/done`
 * (after Checkout: the permit's status), `GET /permits/manage/:permit` (→ the Stripe customer
 * portal), `GET|POST /renew-subscription` — and the operators' JSON API
 * `GET|POST /api/sites/:site/permit-plans`, `GET /api/sites/:site/permits`.
 *
 * The holder's pages answer HTML in their language, errors included (a bad field is named on the
 * form, a sold-out plan or Stripe out of reach is a page, never JSON). The price is the plan's.
 */
import express, { type Request, type Response, type Router } from "express";
import { z } from "zod";
import {
  getPermit,
  getPermitPlan,
  getSite,
  latestPermitOf,
  listPermitPlans,
  listPermitsOfSite,
  listSites,
  normaliseBadgeUid,
  seatsTaken,
  type PermitRow,
} from "../db/index";
import { SITE_ID_RE } from "../flows/access";
import { HttpError } from "../flows/errors";
import { PlanBody, permitView, planView, portalUrl, resyncPermit, setPermitPlan, startPermitCheckout, type PermitContext } from "../flows/permits";
import type { AppDeps } from "./deps";
import { invoicesOfPermit } from "../billing/permit-invoices";
import { permitInvoiceHref } from "./permit-invoices";
import { formBody, jsonBody, parse, requireJson, wrap } from "./input";
import { pickLang, type Lang } from "./pages";
import { permitDonePage, permitMessagePage, permitTexts, plansPage, renewPage, type FormValues } from "./permit-pages";
import { canonicalPlate } from "../domain/plates";

type PermitDeps = Pick<AppDeps, "db" | "auth" | "stripe" | "auditMode" | "src" | "aclHmacKey" | "publicBaseUrl" | "jsonLimit" | "logger">;

const EMAIL = z.string().trim().max(254).regex(/^[^\s@]+@[^\s@]+\.[^\s@]+$/, "must be an e-mail address");
const BuyForm = z.object({
  plan: z.string().regex(/^[a-z0-9][a-z0-9-]{0,47}$/, "choose a plan"),
  email: EMAIL,
  badge: z.string().trim().max(64).optional().default(""),
  plate: z.string().trim().max(16).optional().default(""),
});

function siteParam(req: Request): string {
  const site = String(req.params.site);
  if (!SITE_ID_RE.test(site)) throw new HttpError(404, "no such site");
  return site;
}

/** badge / plate of a form, normalised; a message naming the field when wrong. */
function identityOf(t: ReturnType<typeof permitTexts>, badge: string, plate: string): { badgeUid: string | null; plate: string | null } | { error: string } {
  const badgeUid = badge === "" ? null : (normaliseBadgeUid(badge) ?? undefined);
  if (badgeUid === undefined) return { error: `${t.badge}: 4–32 hex digits` };
  const p = plate === "" ? null : canonicalPlate(plate);
  if (p !== null && !/^[A-Z0-9]{1,16}$/.test(p)) return { error: `${t.plate}: A–Z, 0–9` };
  if (badgeUid === null && p === null) return { error: t.badgeOrPlate };
  return { badgeUid, plate: p };
}

function isStripeDown(err: unknown): boolean {
  const e = err as { type?: unknown; statusCode?: unknown } | null;
  return Boolean(e && typeof e.type === "string" && (e.type === "StripeConnectionError" || e.type === "StripeAPIError" || e.type === "StripeRateLimitError" || (typeof e.statusCode === "number" && e.statusCode >= 500)));
}

export function permitsRouter(d: PermitDeps): Router {
  const router = express.Router();
  const ctx = (): PermitContext & { db: AppDeps["db"] } => ({ db: d.db, stripe: d.stripe, auditMode: d.auditMode, src: d.src, ...(d.aclHmacKey ? { aclHmacKey: d.aclHmacKey } : {}) });
  const langOf = (req: Request): Lang => pickLang(req.query.lang, req.headers["accept-language"]);
  const html = (res: Response, status: number, body: string) => res.status(status).type("html").send(body);

  async function renderPlans(req: Request, res: Response, status: number, error?: string, values?: FormValues): Promise<void> {
    const lang = langOf(req);
    const siteId = siteParam(req);
    let site;
    try {
      site = await getSite(d.db.sql, siteId);
    } catch {
      html(res, 404, permitMessagePage(lang, "notFound"));
      return;
    }
    const now = new Date();
    const plans = await Promise.all((await listPermitPlans(d.db.sql, siteId, true)).map(async (plan) => ({ plan, seatsLeft: Math.max(plan.maxPermits - (await seatsTaken(d.db.sql, plan.planId, now)), 0) })));
    html(res, status, plansPage({ lang, siteId, siteName: site.name, plans, ...(error ? { error } : {}), ...(values ? { values } : {}) }));
  }

  router.get("/permits/:site", wrap((req, res) => renderPlans(req, res, 200)));

  router.post(
    "/permits/:site/buy",
    formBody(),
    wrap(async (req, res) => {
      const lang = langOf(req);
      const t = permitTexts(lang);
      const siteId = siteParam(req);
      const raw = (req.body ?? {}) as Record<string, string>;
      const values = { plan: raw.plan, email: raw.email, badge: raw.badge, plate: raw.plate };
      const form = BuyForm.safeParse(raw);
      if (!form.success) {
        const issue = form.error.issues[0];
        const field = String(issue.path[0] ?? "");
        const label = field === "email" ? t.email : field === "plan" ? t.plan : field === "badge" ? t.badge : field === "plate" ? t.plate : field;
        await renderPlans(req, res, 400, `${label}: ${issue.message}`, values);
        return;
      }
      const id = identityOf(t, form.data.badge, form.data.plate);
      if ("error" in id) {
        await renderPlans(req, res, 400, id.error, values);
        return;
      }
      try {
        const plan = await getPermitPlan(d.db.sql, form.data.plan).catch(() => undefined);
        if (!plan || plan.siteId !== siteId || !plan.active) {
          await renderPlans(req, res, 400, `${t.plan}: ?`, values);
          return;
        }
        const r = await startPermitCheckout(ctx(), { planId: plan.planId, siteId, email: form.data.email, badgeUid: id.badgeUid, plate: id.plate, lang, baseUrl: d.publicBaseUrl() });
        res.redirect(303, r.url);
      } catch (err) {
        if ((err as Error).name === "ConflictError") await renderPlans(req, res, 409, t.full, values);
        else if (isStripeDown(err)) html(res, 503, permitMessagePage(lang, "unavailable", `/permits/${siteId}?lang=${lang}`));
        else throw err;
      }
    }),
  );

  /** The permit a link names with its manage token, or undefined (a 404 page is sent). */
  async function permitOr404(req: Request, res: Response, permitId: string): Promise<PermitRow | undefined> {
    const token = typeof req.query.t === "string" ? req.query.t : "";
    const p = /^pmt_[A-Za-z0-9]{8,40}$/.test(permitId) ? await getPermit(d.db.sql, permitId).catch(() => undefined) : undefined;
    if (!p || token === "" || p.manageToken !== token) {
      html(res, 404, permitMessagePage(langOf(req), "notFound"));
      return undefined;
    }
    return p;
  }

  router.get(
    "/permits/:site/done",
    wrap(async (req, res) => {
      const lang = langOf(req);
      let p = await permitOr404(req, res, String(req.query.permit ?? ""));
      if (!p) return;
      if (p.status === "pending" && p.checkoutSessionId) {
        // Back from Checkout before the webhook: ask Stripe server-side (the redirect proves nothing).
        p = await resyncPermit(ctx(), p.permitId).catch((err: Error) => {
          d.logger.warn({ permit: p?.permitId, err: err.message }, "permit: resync on the page after Checkout failed; the webhook will tell");
          return p as PermitRow;
        });
      }
      const plan = await getPermitPlan(d.db.sql, p.planId);
      const manageHref = p.stripeCustomerId ? `/permits/manage/${p.permitId}?t=${encodeURIComponent(p.manageToken)}&lang=${lang}` : null;
      const invoices = (await invoicesOfPermit(d.db.sql, p.permitId)).map((doc) => ({ number: doc.number, href: permitInvoiceHref(doc.documentId, p as PermitRow, lang), pdfHref: permitInvoiceHref(doc.documentId, p as PermitRow, lang, true) }));
      html(res, 200, permitDonePage({ lang, permit: p, plan, manageHref, invoices }));
    }),
  );

  router.get(
    "/permits/manage/:permit",
    wrap(async (req, res) => {
      const lang = langOf(req);
      const p = await permitOr404(req, res, String(req.params.permit));
      if (!p) return;
      const back = `${d.publicBaseUrl()}/permits/${p.siteId}/done?permit=${p.permitId}&t=${encodeURIComponent(p.manageToken)}&lang=${lang}`;
      try {
        const url = await portalUrl(d.stripe, p, back, lang);
        if (!url) html(res, 404, permitMessagePage(lang, "notFound"));
        else res.redirect(303, url);
      } catch (err) {
        if (isStripeDown(err)) html(res, 503, permitMessagePage(lang, "unavailable", back));
        else throw err;
      }
    }),
  );

  registerRenew(router, d, ctx, html, langOf);
  registerPlanApi(router, d);
  registerSyncApi(router, d, ctx);
  return router;
}

/** POST /api/permits/:permit/sync: an operator asks Stripe and applies what it says (a lost webhook). */
function registerSyncApi(router: Router, d: PermitDeps, ctx: () => PermitContext & { db: AppDeps["db"] }): void {
  router.post(
    "/api/permits/:permit/sync",
    d.auth.require(["admin", "operator"]),
    wrap(async (req, res) => {
      const id = String(req.params.permit);
      if (!/^pmt_[A-Za-z0-9]{8,40}$/.test(id)) throw new HttpError(400, "permit id: pmt_ followed by 8–40 letters or digits", "invalid_input");
      const p = await resyncPermit(ctx(), id);
      res.json({ permit_id: p.permitId, status: p.status, subscription_status: p.subscriptionStatus, stripe_subscription_id: p.stripeSubscriptionId });
    }),
  );
}

/** /renew-subscription: a lapsed holder buys the same plan again; a suspended one fixes the card. */
function registerRenew(router: Router, d: PermitDeps, ctx: () => PermitContext & { db: AppDeps["db"] }, html: (res: Response, status: number, body: string) => void, langOf: (req: Request) => Lang): void {
  const sitesOf = async () => (await listSites(d.db.sql)).map((s) => ({ siteId: s.siteId, name: s.name }));
  router.get("/renew-subscription", wrap(async (req, res) => html(res, 200, renewPage({ lang: langOf(req), sites: await sitesOf(), values: { site: typeof req.query.site === "string" ? req.query.site : undefined } }))));
  router.post(
    "/renew-subscription",
    formBody(),
    wrap(async (req, res) => {
      const lang = langOf(req);
      const t = permitTexts(lang);
      const raw = (req.body ?? {}) as Record<string, string>;
      const values = { site: raw.site, email: raw.email, badge: raw.badge, plate: raw.plate };
      const again = async (status: number, error: string) => html(res, status, renewPage({ lang, sites: await sitesOf(), values, error }));
      const email = EMAIL.safeParse(raw.email ?? "");
      if (!email.success) return again(400, `${t.email}: ${email.error.issues[0].message}`);
      if (!SITE_ID_RE.test(raw.site ?? "")) return again(400, `${t.site}: ?`);
      const id = identityOf(t, (raw.badge ?? "").trim(), (raw.plate ?? "").trim());
      if ("error" in id) return again(400, id.error);
      const last = await latestPermitOf(d.db.sql, raw.site, email.data, id.badgeUid, id.plate);
      if (!last) return again(404, t.notFoundRenew);
      if (last.status === "active" || last.status === "pending") return again(409, t.stillActive);
      try {
        if (last.status === "past_due" && last.stripeCustomerId) {
          // Suspended: the holder fixes the card in the portal; Stripe's next retry charges it.
          const back = `${d.publicBaseUrl()}/permits/${last.siteId}/done?permit=${last.permitId}&t=${encodeURIComponent(last.manageToken)}&lang=${lang}`;
          res.redirect(303, (await portalUrl(d.stripe, last, back, lang)) as string);
          return;
        }
        const r = await startPermitCheckout(ctx(), { planId: last.planId, siteId: last.siteId, email: last.holderEmail, badgeUid: last.badgeUid, plate: last.plate, lang, baseUrl: d.publicBaseUrl() });
        res.redirect(303, r.url);
      } catch (err) {
        if ((err as Error).name === "ConflictError") return again(409, t.full);
        if (isStripeDown(err)) return html(res, 503, permitMessagePage(lang, "unavailable", `/renew-subscription?lang=${lang}`));
        throw err;
      }
    }),
  );
}

function registerPlanApi(router: Router, d: PermitDeps): void {
  const apiSite = async (req: Request): Promise<string> => {
    const site = String(req.params.site);
    if (!SITE_ID_RE.test(site)) throw new HttpError(400, "site id: 1-32 of a-z 0-9 -", "invalid_input");
    await getSite(d.db.sql, site);
    return site;
  };
  router.get("/api/sites/:site/permit-plans", d.auth.require(), wrap(async (req, res) => void res.json({ plans: (await listPermitPlans(d.db.sql, await apiSite(req))).map(planView) })));
  router.post(
    "/api/sites/:site/permit-plans",
    d.auth.require(["admin", "operator"]),
    jsonBody(d.jsonLimit),
    wrap(async (req, res) => {
      const site = await apiSite(req);
      requireJson(req);
      const plan = await setPermitPlan(d.db, site, parse(PlanBody, req.body, "body"));
      res.status(201).json({ plan: planView(plan) });
    }),
  );
  router.get(
    "/api/sites/:site/permits",
    d.auth.require(),
    wrap(async (req, res) => {
      const site = await apiSite(req);
      res.json({ permits: (await listPermitsOfSite(d.db.sql, site)).map(permitView) });
    }),
  );
}
