/**
 * The console's search and session page (issue 17): `/console/search` and
 * `/console/sessions/:id`, their JSON twins under `/api/console/sessions…`, and the session
 * page's actions: a refund (full or partial, through the one refund flow, idempotent by the
 * form's key, within the operator's refund limit) and the resolution of a flagged session.
 * Every role reads; `operator` and `admin` act.
 */
import { randomBytes } from "node:crypto";
import express, { type Request, type Response, type Router } from "express";
import { z } from "zod";
import { listPayments, listSites } from "../../db/index";
import { HttpError } from "../../flows/errors";
import { requestRefund } from "../../flows/refunds";
import { resolveFlaggedSession } from "../../flows/session-resolve";
import { searchSessions, sessionDetail, type SessionSearch } from "../../flows/session-views";
import { instantOfSiteLocal } from "../../flows/site-admin";
import { minorDigits } from "../../tariffs/money";
import type { AppDeps } from "../deps";
import { formBody, parse, wrap } from "../input";
import type { Lang } from "../pages";
import { consoleCsp, consoleLang, operatorOf, render } from "./request";
import { searchBody, sessionBody, type SearchForm } from "./sessions-page";
import { sessionTexts } from "./sessions-texts";

type SessionsDeps = Pick<AppDeps, "db" | "auth" | "logger" | "stripe" | "auditMode" | "wake" | "receipts" | "operatorRefundLimit" | "src">;

const ID = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, "session id: 1-64 of A-Z a-z 0-9 _ -");
const DATE = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, "a date such as 2026-12-07");
const SearchQuery = z.strictObject({
  q: z.string().trim().max(64, "at most 64 characters").optional(),
  ref: z.string().trim().regex(/^[A-Za-z0-9_-]{0,255}$/, "a payment id or the provider's reference (letters, digits, _ and -)").optional(),
  amount: z.string().trim().regex(/^(\d{1,7}([.,]\d{1,2})?)?$/, "an amount such as 4.50").optional(),
  site: z.union([z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, "a site id"), z.literal("")]).optional(),
  status: z.union([z.enum(["active", "pending_payment", "paid", "closed", "flagged"]), z.literal("")]).optional(),
  from: z.union([DATE, z.literal("")]).optional(),
  to: z.union([DATE, z.literal("")]).optional(),
  lang: z.enum(["fr", "en"]).optional(),
  format: z.enum(["json"]).optional(),
});
const RefundForm = z.strictObject({
  key: z.string().regex(/^[A-Za-z0-9_-]{16,64}$/, "the form's key (reload the page)"),
  payment_id: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, "choose a payment"),
  amount: z.string().trim().max(16).optional(),
  reason: z.string().trim().min(3, "reason is required (at least 3 characters): every refund is audited").max(400),
});
const ResolveForm = z.strictObject({ resolution: z.enum(["waived", "paid_elsewhere"]), reason: z.string().trim().min(3, "reason is required (at least 3 characters)").max(200) });

const ACTORS = ["admin", "operator"] as const;

/** The search form's values as a search; dates are the site's days (the chosen site's zone, else UTC). */
async function toSearch(d: SessionsDeps, f: z.infer<typeof SearchQuery>): Promise<SessionSearch | undefined> {
  if (!f.q && !f.ref && !f.amount && !f.site && !f.status && !f.from && !f.to) return undefined;
  const sites = await listSites(d.db.sql);
  const site = f.site ? sites.find((s) => s.siteId === f.site) : undefined;
  if (f.site && !site) throw new HttpError(400, `query site: unknown site ${f.site}`, "invalid_input");
  const zone = site?.timeZone ?? "UTC";
  const day = (v: string, field: string) => {
    const at = instantOfSiteLocal(zone, `${v}T00:00`);
    if (!at) throw new HttpError(400, `query ${field}: not a date`, "invalid_input");
    return at;
  };
  const digits = minorDigits(site?.currency ?? sites[0]?.currency ?? "EUR");
  return {
    ...(f.q ? { identity: f.q } : {}),
    ...(f.ref ? { paymentRef: f.ref } : {}),
    ...(f.amount ? { amount: Math.round(Number(f.amount.replace(",", ".")) * 10 ** digits) } : {}),
    ...(f.site ? { siteId: f.site } : {}),
    ...(f.status ? { status: f.status } : {}),
    ...(f.from ? { from: day(f.from, "from") } : {}),
    ...(f.to ? { to: new Date(day(f.to, "to").getTime() + 86_400_000) } : {}),
  };
}


async function showSession(d: SessionsDeps, req: Request, res: Response, lang: Lang, opts: { notice?: string; error?: string; status?: number } = {}): Promise<void> {
  const id = parse(ID, req.params.id, "path id");
  const detail = await sessionDetail(d.db, id);
  if (!detail) throw new HttpError(404, `no session ${id}`, "not_found");
  render(req, res, { lang, title: detail.session.identityValue, nav: "search", status: opts.status ?? 200, body: sessionBody(detail, lang, operatorOf(req).role, { ...opts, refundKey: randomBytes(18).toString("base64url") }) });
}

/** A refused form: the session page again with the message, and the status the refusal carries. */
async function refusedForm(d: SessionsDeps, req: Request, res: Response, lang: Lang, err: unknown): Promise<void> {
  if (err instanceof HttpError && err.status < 500) return showSession(d, req, res, lang, { error: err.message, status: err.status });
  throw err;
}

function routes(router: Router, d: SessionsDeps): void {
  const pageAny = d.auth.require(undefined, { html: true });
  const pageActors = d.auth.require(ACTORS, { html: true });
  router.get(
    "/console/search",
    consoleCsp,
    pageAny,
    wrap(async (req, res) => {
      const lang = consoleLang(req, res);
      const sites = (await listSites(d.db.sql)).map((s) => ({ siteId: s.siteId, name: s.name }));
      const raw = Object.fromEntries(Object.entries(req.query).filter(([, v]) => typeof v === "string")) as SearchForm;
      const f = SearchQuery.safeParse(req.query);
      if (!f.success) {
        const issue = f.error.issues[0];
        render(req, res, { lang, title: sessionTexts(lang).searchTitle, nav: "search", status: 400, body: searchBody(raw, undefined, sites, lang, { field: String(issue.path[0] ?? "q"), message: issue.message }) });
        return;
      }
      const search = await toSearch(d, f.data);
      render(req, res, { lang, title: sessionTexts(lang).searchTitle, nav: "search", body: searchBody(raw, search ? await searchSessions(d.db, search) : undefined, sites, lang) });
    }),
  );
  router.get(
    "/console/sessions/:id",
    consoleCsp,
    pageAny,
    wrap(async (req, res) => {
      const lang = consoleLang(req, res);
      const t = sessionTexts(lang);
      const done = req.query.done;
      await showSession(d, req, res, lang, { ...(done === "refund" ? { notice: t.refundDone } : done === "refund_pending" ? { notice: t.refundPending } : done === "resolve" ? { notice: t.resolved } : {}) });
    }),
  );
  /** A session page's form: answered by a redirect to the page, or the page again with the refusal. */
  const sessionForm = (action: string, handle: (req: Request, id: string) => Promise<string>) =>
    router.post(
      `/console/sessions/:id/${action}`,
      consoleCsp,
      pageActors,
      formBody(),
      wrap(async (req, res) => {
        const lang = consoleLang(req, res);
        try {
          const id = parse(ID, req.params.id, "path id");
          const done = await handle(req, id);
          res.redirect(303, `/console/sessions/${encodeURIComponent(id)}?done=${done}`);
        } catch (err) {
          await refusedForm(d, req, res, lang, err);
        }
      }),
    );
  sessionForm("refund", async (req, id) => {
    const f = parse(RefundForm, req.body, "form");
    if (!(await listPayments(d.db.sql, id)).some((p) => p.paymentId === f.payment_id)) throw new HttpError(400, "form payment_id: not a payment of this session", "invalid_input");
    const op = operatorOf(req);
    const r = await requestRefund(d, { paymentId: f.payment_id, ...(f.amount ? { amount: f.amount.replace(",", ".") } : {}), reason: f.reason, key: `console:${f.key}` }, { username: op.username, operatorId: op.operatorId, role: op.role, via: "console" });
    d.wake();
    return r.refund.state === "succeeded" ? "refund" : "refund_pending";
  });
  sessionForm("resolve", async (req, id) => {
    const f = parse(ResolveForm, req.body, "form");
    const r = await resolveFlaggedSession(d, { sessionId: id, resolution: f.resolution, reason: f.reason }, operatorOf(req));
    if (r.resolved) d.wake();
    return "resolve";
  });
  const anyRole = d.auth.require();
  router.get(
    "/api/console/sessions",
    anyRole,
    wrap(async (req, res) => {
      const search = await toSearch(d, parse(SearchQuery, req.query, "query"));
      if (!search) throw new HttpError(400, "query: give at least one of q, ref, amount, site, status, from, to", "invalid_input");
      res.json(await searchSessions(d.db, search));
    }),
  );
  router.get(
    "/api/console/sessions/:id",
    anyRole,
    wrap(async (req, res) => {
      const detail = await sessionDetail(d.db, parse(ID, req.params.id, "path id"));
      if (!detail) throw new HttpError(404, "no such session", "not_found");
      res.json(detail);
    }),
  );
}

export function consoleSessionsRouter(d: SessionsDeps): Router {
  const router = express.Router();
  routes(router, d);
  return router;
}
