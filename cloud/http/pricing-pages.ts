/**
 * The public pricing pages (issue 16 items 2 and 3): `GET /pricing` (the sites), `GET
 * /pricing/:siteId` (the tariff in force in words, a price table, "how much for N hours / until
 * HH:MM" answered on the page), `POST /pricing/:siteId/prepay` (prepay a plate's stay: off to the
 * card page) and `GET /pricing/:siteId/prepay/:prepaymentId` (where the prepayment stands; back
 * from the card page it asks the provider server-side). Every figure from priceStay.
 */
import express, { type Request, type Response, type Router } from "express";
import { z } from "zod";
import { getPrepayment, type PrepaymentRow } from "../db/prepayments";
import { listSites } from "../db/index";
import { HttpError } from "../flows/errors";
import { PrepayService } from "../flows/prepay";
import { MAX_PREPAY_MINUTES, quoteStay, siteTariff, type QuoteEnd } from "../flows/quotes";
import { describeTariff } from "../tariffs/describe";
import { formatMoney, minorDigits, priceStay, type PriceResult } from "../tariffs/index";
import { instantOfLocal } from "../tariffs/tz";
import type { AppDeps } from "./deps";
import { formBody, wrap } from "./input";
import { formatDuration, pickLang, type Lang } from "./pages";
import { PT, prepaymentPage, pricingMessage, sitePage, sitesPage } from "./pricing-views";

type PricingDeps = Pick<AppDeps, "db" | "logger" | "stripe" | "stripeMode" | "publishableKey" | "publicBaseUrl" | "emulatorPayUrl" | "retrieveOnReturn" | "auditMode" | "wake">;

/** The durations of the price table (minutes). */
export const TABLE_MINUTES = [15, 30, 60, 120, 180, 240, 360, 720, 1440] as const;

const HOURS = /^\d{1,3}([.,]\d{1,2})?$/;
const EstimateQuery = z.strictObject({
  hours: z.string().max(8).optional(),
  until: z.union([z.literal(""), z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'until must be a local time "HH:MM"')]).optional(),
  lang: z.enum(["fr", "en"]).optional(),
});
const PrepayForm = z.strictObject({
  plate: z.string().max(20),
  hours: z.string().max(8).optional(),
  amount: z.string().max(12).optional(),
  start: z.string().max(20).optional(),
});

/** "2", "1.5", "1,25" hours → whole minutes; 400 naming the field otherwise. */
export function hoursToMinutes(s: string, field: string, maxMinutes: number): number {
  if (!HOURS.test(s.trim())) throw new HttpError(400, `${field}: a number of hours such as 2 or 1.5`, "invalid_input");
  const min = Math.round(Number(s.trim().replace(",", ".")) * 60);
  if (min < 1 || min > maxMinutes) throw new HttpError(400, `${field}: between 1 minute and ${maxMinutes / 60} hours`, "invalid_input");
  return min;
}

/** "5", "5.50", "5,5" in major units → integer minor units of the currency (no floats). */
export function majorToMinor(s: string, currency: string, field: string): number {
  const digits = minorDigits(currency);
  const m = /^(\d{1,6})(?:[.,](\d{1,3}))?$/.exec(s.trim());
  if (!m || (m[2] ?? "").length > digits) throw new HttpError(400, `${field}: an amount such as 5 or 5.50`, "invalid_input");
  const minor = Number(m[1]) * 10 ** digits + Number((m[2] ?? "").padEnd(digits, "0") || "0");
  if (minor <= 0) throw new HttpError(400, `${field}: must be more than 0`, "invalid_input");
  return minor;
}

/** A datetime-local value "YYYY-MM-DDTHH:MM" read in the site's zone. */
export function localStart(s: string, zone: string): Date {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})$/.exec(s.trim());
  if (!m) throw new HttpError(400, 'body.start: a local date and time "YYYY-MM-DDTHH:MM"', "invalid_input");
  const local = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]));
  return new Date(instantOfLocal(zone, local));
}

function fmtInstant(d: Date | string, zone: string, lang: Lang): string {
  return new Intl.DateTimeFormat(lang === "fr" ? "fr-FR" : "en-GB", { timeZone: zone, dateStyle: "short", timeStyle: "short" }).format(new Date(d));
}

function currencySymbol(currency: string, lang: Lang): string {
  return new Intl.NumberFormat(lang === "fr" ? "fr-FR" : "en-GB", { style: "currency", currency }).formatToParts(0).find((p) => p.type === "currency")?.value ?? currency;
}

async function renderSite(d: PricingDeps, req: Request, res: Response, lang: Lang, opts: { error?: string; status?: number; form?: { plate?: string; amount?: string; start?: string; hours?: string } } = {}): Promise<void> {
  const now = new Date();
  const st = await siteTariff(d.db.sql, String(req.params.siteId), now);
  const t = st.tariff;
  const money = (n: number) => formatMoney(n, t.currency, lang);
  const table = TABLE_MINUTES.map((m) => ({ label: formatDuration(m * 60, lang), price: money(priceStay({ tariff: t, entry: now, exit: new Date(now.getTime() + m * 60_000), locale: lang }).amount) }));
  let estimate: { title: string; amount: string; lines: { label: string; amount: string }[] } | undefined;
  let error = opts.error;
  let status = opts.status ?? 200;
  const q = EstimateQuery.safeParse(req.query);
  const hours = q.success ? q.data.hours?.trim() : undefined;
  const until = q.success ? q.data.until : undefined;
  if (!q.success) {
    error = q.error.issues.map((i) => `${i.path.join(".") || "query"}: ${i.message}`).join("; ");
    status = 400;
  } else if (hours || until) {
    try {
      const end: QuoteEnd = hours ? { durationMin: hoursToMinutes(hours, "hours", 31 * 1440) } : { untilLocal: until as string };
      const quote = await quoteStay(d.db.sql, st.site.siteId, { end, locale: lang, now });
      estimate = { title: PT[lang].estimateFor(formatDuration(quote.price.duration_s, lang), fmtInstant(quote.until, st.site.timeZone, lang)), amount: money(quote.price.amount), lines: quote.price.breakdown.map((l) => ({ label: l.label, amount: money(l.amount) })) };
    } catch (err) {
      if (!(err instanceof HttpError) || err.status !== 400) throw err;
      error = err.message;
      status = 400;
    }
  }
  const name = typeof t.name === "string" ? t.name : ((lang === "fr" ? t.name?.fr : undefined) ?? t.name?.en ?? st.site.name);
  res.status(status).setHeader("Cache-Control", "no-store");
  res.type("html").send(
    sitePage({
      lang, siteId: st.site.siteId, name: st.site.name, timeZone: st.site.timeZone, tariffName: name,
      inForce: PT[lang].inForce(st.row.version, fmtInstant(st.row.effectiveFrom, st.site.timeZone, lang)),
      rules: describeTariff(t, lang), table, dailyCap: t.daily_cap ? money(t.daily_cap.price) : PT[lang].none,
      ...(estimate ? { estimate } : {}), ...(error ? { error } : {}),
      form: { ...(hours ? { hours } : {}), ...(until ? { until } : {}), ...opts.form }, currencySymbol: currencySymbol(t.currency, lang),
    }),
  );
}

function prepayLink(d: PricingDeps, p: PrepaymentRow, lang: Lang, sub = ""): string {
  return `${d.publicBaseUrl()}/pricing/${encodeURIComponent(p.siteId)}/prepay/${encodeURIComponent(p.prepaymentId)}${sub}?lang=${lang}`;
}

/** POST /pricing/:siteId/prepay: priced on the server, then off to the card page. */
async function startPrepay(d: PricingDeps, prepay: PrepayService, req: Request, res: Response, lang: Lang): Promise<void> {
  const form = PrepayForm.safeParse(req.body ?? {});
  const keep = form.success ? { plate: form.data.plate, ...(form.data.amount ? { amount: form.data.amount } : {}), ...(form.data.start ? { start: form.data.start } : {}), ...(form.data.hours ? { hours: form.data.hours } : {}) } : {};
  try {
    if (!form.success) throw new HttpError(400, form.error.issues.map((i) => `body.${i.path.join(".")}: ${i.message}`).join("; "), "invalid_input");
    const st = await siteTariff(d.db.sql, String(req.params.siteId), new Date());
    const f = form.data;
    const hours = f.hours?.trim();
    const amount = f.amount?.trim();
    if (!hours === !amount) throw new HttpError(400, "body.hours: give either a number of hours or an amount", "invalid_input");
    const from = f.start?.trim() ? localStart(f.start, st.site.timeZone) : undefined;
    const by = hours ? { durationMin: hoursToMinutes(hours, "body.hours", MAX_PREPAY_MINUTES) } : { amount: majorToMinor(amount as string, st.tariff.currency, "body.amount") };
    const { prepayment, pi } = await prepay.create({ siteId: st.site.siteId, plate: f.plate, locale: lang, ...(from ? { from } : {}), ...by });
    if (d.stripeMode === "emulator" && d.emulatorPayUrl) {
      res.redirect(303, d.emulatorPayUrl(pi.client_secret as string, prepayLink(d, prepayment, lang, "/return"), lang));
      return;
    }
    res.redirect(303, prepayLink(d, prepayment, lang));
  } catch (err) {
    if (!(err instanceof HttpError) || err.status !== 400) throw err;
    await renderSite(d, req, res, lang, { error: err.message, status: 400, form: keep });
  }
}

/** GET …/prepay/:id (and …/return, which first asks the provider server-side). */
async function showPrepayment(d: PricingDeps, prepay: PrepayService, req: Request, res: Response, lang: Lang, back: boolean): Promise<void> {
  const id = String(req.params.prepaymentId);
  let p = /^pp_[A-Za-z0-9_-]{16,64}$/.test(id) ? await getPrepayment(d.db.sql, id).catch(() => undefined) : undefined;
  if (!p || p.siteId !== req.params.siteId) throw new HttpError(404, "unknown prepayment", "not_found");
  if (back && d.retrieveOnReturn) {
    try {
      p = await prepay.confirmByRetrieve(p);
    } catch (err) {
      d.logger.warn({ reqId: req.requestId, err: (err as Error).message }, "prepay return page: server-side retrieve failed");
    }
  }
  const st = await siteTariff(d.db.sql, p.siteId, p.windowFrom);
  let element: { publishableKey: string; clientSecret: string; returnUrl: string } | undefined;
  if (d.stripeMode !== "emulator" && d.publishableKey && (p.state === "requested" || p.state === "pending" || p.state === "failed")) {
    const pi = await prepay.intentFor(p);
    element = { publishableKey: d.publishableKey, clientSecret: pi.client_secret as string, returnUrl: prepayLink(d, p, lang, "/return") };
  }
  const price = p.quote as unknown as PriceResult;
  res.setHeader("Cache-Control", "no-store");
  res.type("html").send(
    prepaymentPage({
      lang, siteId: p.siteId, siteName: st.site.name, state: p.state, plate: p.plate,
      window: `${fmtInstant(p.windowFrom, st.site.timeZone, lang)} → ${fmtInstant(p.windowUntil, st.site.timeZone, lang)} (${formatDuration(price.duration_s ?? Math.round((p.windowUntil.getTime() - p.windowFrom.getTime()) / 1000), lang)})`,
      amount: formatMoney(p.amount, p.currency, lang), reference: p.providerRef ?? p.prepaymentId, stripeMode: d.stripeMode, ...(element ? { element } : {}),
    }),
  );
}

/** A pricing page's error: HTML in the page's language, never JSON. */
function pageErrors(fn: (req: Request, res: Response, lang: Lang) => Promise<void>) {
  return wrap(async (req, res) => {
    const lang = pickLang(req.query.lang, req.headers["accept-language"]);
    try {
      await fn(req, res, lang);
    } catch (err) {
      if (!(err instanceof HttpError) || err.status >= 500) throw err;
      const t = PT[lang];
      const notFound = err.status === 404;
      res.status(err.status).type("html").send(pricingMessage(lang, notFound ? t.notFound : t.badInput, notFound ? t.notFoundText : err.message, `/pricing?lang=${lang}`));
    }
  });
}

export function pricingPagesRouter(d: PricingDeps): Router {
  const router = express.Router();
  const prepay = new PrepayService({ db: d.db, stripe: d.stripe, stripeMode: d.stripeMode, logger: d.logger, auditMode: d.auditMode, wake: () => d.wake() });
  router.get("/pricing", pageErrors(async (_req, res, lang) => {
    res.type("html").send(sitesPage(lang, (await listSites(d.db.sql)).map((s) => ({ siteId: s.siteId, name: s.name }))));
  }));
  router.get("/pricing/:siteId", pageErrors((req, res, lang) => renderSite(d, req, res, lang)));
  router.post("/pricing/:siteId/prepay", formBody(), pageErrors((req, res, lang) => startPrepay(d, prepay, req, res, lang)));
  router.get("/pricing/:siteId/prepay/:prepaymentId", pageErrors((req, res, lang) => showPrepayment(d, prepay, req, res, lang, false)));
  router.get("/pricing/:siteId/prepay/:prepaymentId/return", pageErrors((req, res, lang) => showPrepayment(d, prepay, req, res, lang, true)));
  return router;
}

