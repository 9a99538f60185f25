/**
 * `GET /api/sites/:siteId/quote?duration_min=…|until=HH:MM|until=ISO[&from=ISO][&lang=fr|en]`
 * (issue 16 item 2): the price of a stay before it happens, from the ONE pricing function, with
 * the tariff version it was priced with. Public (prices are public); bounded (31 days at most);
 * bad input is a 400 naming the field, an unknown site a 404.
 */
import express, { type Router } from "express";
import { z } from "zod";
import { breakdownJson, quoteStay, MAX_QUOTE_MINUTES, type QuoteEnd } from "../flows/quotes";
import type { AppDeps } from "./deps";
import { parse, wrap } from "./input";

const HHMM = /^([01]\d|2[0-3]):[0-5]\d$/;
const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2})$/;

const isoInstant = (what: string) =>
  z.string().max(40).refine((s) => ISO_INSTANT.test(s) && Number.isFinite(Date.parse(s)), `${what} must be an ISO 8601 instant with an offset or Z, e.g. 2026-07-14T09:00:00+02:00`);

/** The quote's query string; exactly one of duration_min and until. */
export const QuoteQuerySchema = z
  .strictObject({
    duration_min: z.string().regex(/^\d{1,7}$/, "duration_min must be a whole number of minutes").transform(Number).pipe(z.number().int().min(1, "duration_min must be at least 1").max(MAX_QUOTE_MINUTES, `duration_min must be at most ${MAX_QUOTE_MINUTES} (31 days)`)).optional(),
    until: z.string().max(40).refine((s) => HHMM.test(s) || (ISO_INSTANT.test(s) && Number.isFinite(Date.parse(s))), 'until must be a local time "HH:MM" (site time) or an ISO 8601 instant with an offset').optional(),
    from: isoInstant("from").optional(),
    lang: z.enum(["fr", "en"]).optional(),
  })
  .superRefine((q, ctx) => {
    if ((q.duration_min === undefined) === (q.until === undefined)) ctx.addIssue({ code: "custom", path: ["duration_min"], message: "give exactly one of duration_min and until" });
  });

export type QuoteQuery = z.infer<typeof QuoteQuerySchema>;

export function quoteEndOf(q: { duration_min?: number | undefined; until?: string | undefined }): QuoteEnd {
  if (q.duration_min !== undefined) return { durationMin: q.duration_min };
  const until = q.until as string;
  return HHMM.test(until) ? { untilLocal: until } : { until: new Date(until) };
}

export function quoteApiRouter(d: Pick<AppDeps, "db">): Router {
  const router = express.Router();
  router.get(
    "/api/sites/:siteId/quote",
    wrap(async (req, res) => {
      const q = parse(QuoteQuerySchema, req.query, "query");
      const locale = q.lang ?? "en";
      const quote = await quoteStay(d.db.sql, String(req.params.siteId), { ...(q.from ? { from: new Date(q.from) } : {}), end: quoteEndOf(q), locale });
      res.setHeader("Cache-Control", "no-store");
      res.json({
        site_id: quote.st.site.siteId,
        amount: quote.price.amount,
        currency: quote.price.currency,
        breakdown: breakdownJson(quote.price),
        human: quote.price.human,
        tariff_id: quote.price.tariff_id,
        tariff_version: quote.price.tariff_version,
        from: quote.from.toISOString(),
        until: quote.until.toISOString(),
        duration_s: quote.price.duration_s,
        time_zone: quote.st.site.timeZone,
      });
    }),
  );
  return router;
}
