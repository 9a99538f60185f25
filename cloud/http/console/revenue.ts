/**
 * The revenue routes (issue 17): the console page, its chart as an SVG image, and the API with
 * JSON / CSV / NDJSON exports. Viewers, operators and admins may read revenue. Bad filters → 400
 * naming the field: an HTML page for the page (the form again, with the message), JSON for the
 * API, text for the image.
 */
import express, { type Request, type Response, type Router } from "express";
import type { AppDeps } from "../deps";
import { parse, wrap } from "../input";
import { esc } from "../pages";
import { listSites } from "../../db/index";
import { HttpError } from "../../flows/errors";
import { RevenueParamsSchema, revenueReport, rowJson, toCsv, toNdjson, totalJson, withDefaults, type RevenueParams } from "../../flows/revenue";
import { consoleCsp, consoleLang, render } from "./request";
import { filtersForm, reportBody, type FormValues } from "./revenue-page";
import { revenueChartSvg } from "./revenue-chart";
import { rt } from "./revenue-texts";

const READERS = ["admin", "operator", "viewer"] as const;

function asList(v: unknown): string[] {
  return (Array.isArray(v) ? v : v === undefined ? [] : [v]).filter((x): x is string => typeof x === "string" && x !== "").flatMap((x) => x.split(","));
}

/** What the form shows back (the raw values, even invalid ones: the operator corrects them). */
function formValues(raw: Record<string, unknown>): FormValues {
  const s = (v: unknown) => (typeof v === "string" ? v : "");
  return { from: s(raw.from), to: s(raw.to), granularity: s(raw.granularity) || "day", site: asList(raw.site), mode: asList(raw.mode) };
}

/** The report's zone for its default range: the first site asked for, else the first site. */
function zoneOf(req: Request, sites: { siteId: string; timeZone: string }[]): string {
  const asked = asList(req.query.site)[0];
  return (sites.find((s) => s.siteId === asked) ?? sites[0])?.timeZone ?? "UTC";
}
const rawOf = (req: Request, sites: { siteId: string; timeZone: string }[]) => withDefaults(req.query as Record<string, unknown>, new Date(), zoneOf(req, sites));
const paramsOf = (req: Request, sites: { siteId: string; timeZone: string }[]): RevenueParams => parse(RevenueParamsSchema, rawOf(req, sites), "query");

function fileName(p: RevenueParams, ext: string): string {
  return `revenue-${p.from}-${p.to}-${p.granularity}.${ext}`;
}

export function consoleRevenueRouter(d: Pick<AppDeps, "db" | "auth" | "logger">): Router {
  const r = express.Router();

  r.get(
    "/console/revenue",
    consoleCsp,
    d.auth.require(READERS, { html: true }),
    wrap(async (req: Request, res: Response) => {
      const lang = consoleLang(req, res);
      const t = rt(lang);
      const sites = await listSites(d.db.sql);
      const raw = rawOf(req, sites);
      let params: RevenueParams;
      try {
        params = paramsOf(req, sites);
      } catch (err) {
        if (!(err instanceof HttpError)) throw err;
        render(req, res, { title: t.title, nav: "revenue", lang, status: 400, body: `<h1>${esc(t.badQuery)}</h1>${filtersForm(lang, formValues(raw), sites, err.message)}` });
        return;
      }
      const report = await revenueReport(d.db.sql, params);
      render(req, res, { title: t.title, nav: "revenue", lang, body: `<h1>${esc(t.title)}</h1>${reportBody(lang, formValues(raw), sites, report.rows)}` });
    }),
  );

  r.get(
    "/console/revenue.svg",
    d.auth.require(READERS, { html: true }),
    wrap(async (req: Request, res: Response) => {
      let params: RevenueParams;
      try {
        params = paramsOf(req, await listSites(d.db.sql));
      } catch (err) {
        if (!(err instanceof HttpError)) throw err;
        res.status(400).type("text/plain").send(err.message);
        return;
      }
      const lang = consoleLang(req, res);
      const report = await revenueReport(d.db.sql, params);
      const svg = await revenueChartSvg({ rows: report.rows, granularity: params.granularity, lang });
      // Viewed on its own, the image may run nothing (vega's SVG has no script and no style attribute).
      res.set({ "Cache-Control": "no-store", "Content-Security-Policy": "default-src 'none'", "X-Content-Type-Options": "nosniff" });
      res.type("image/svg+xml").send(svg);
    }),
  );

  r.get(
    "/api/console/revenue",
    d.auth.require(READERS),
    wrap(async (req: Request, res: Response) => {
      const format = req.query.format ?? "json";
      if (format !== "json" && format !== "csv" && format !== "ndjson") throw new HttpError(400, "query.format: one of json, csv, ndjson", "invalid_input");
      const params = paramsOf(req, await listSites(d.db.sql));
      const report = await revenueReport(d.db.sql, params);
      res.set("Cache-Control", "no-store");
      if (format === "csv") {
        res.set("Content-Disposition", `attachment; filename="${fileName(params, "csv")}"`).type("text/csv; charset=utf-8").send(toCsv(report.rows));
      } else if (format === "ndjson") {
        res.set("Content-Disposition", `attachment; filename="${fileName(params, "ndjson")}"`).type("application/x-ndjson; charset=utf-8").send(toNdjson(report.rows));
      } else {
        res.json({ from: params.from, to: params.to, granularity: params.granularity, sites: params.site, modes: params.mode, refunds_netted_on: "refund_day", rows: report.rows.map(rowJson), totals: report.totals.map(totalJson) });
      }
    }),
  );

  return r;
}
