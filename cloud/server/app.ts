/**
 * The Express 5 application: routes, validation, errors. Built by startCloud (index.ts) from
 * already-open parts (database, Stripe, relay), so tests can drive it too.
 *
 * Bad input everywhere → a 4xx with a precise message and nothing written: JSON bodies are
 * size-limited and parsed strictly, validated with zod strict objects (unknown fields refused),
 * query strings likewise. The webhook route takes the RAW body (signature over exact bytes).
 */
import { randomBytes, randomUUID } from "node:crypto";
import express, { type NextFunction, type Request, type Response } from "express";
import type Stripe from "stripe";
import { z } from "zod";
import type { Logger } from "../../host/log";
import { ACL_DISABLED_MESSAGE, AccessAddBody, ENTRY_ID_RE, SITE_ID_RE, addAccessEntry, listAccessEntries, revokeAccessEntry, type AccessContext, type Actor } from "./access";
import {
  getSite,
  listPayments,
  listSessions,
  listSites,
  recordOverride,
  streamAudit,
  verifyAuditChain,
  type Database,
  type Json,
  type SessionRow,
} from "../db/index";
import { Auth, sessionCookie } from "./auth";
import { flushAudit, writeAudit, type AuditMode } from "./audit-chain";
import { csvHeaderLine, formatRows, type ExportFormat } from "./audit-export";
import type { StripeMode } from "./config";
import { enqueueForSite } from "../db/site-outbox";
import { dbLaneId, type StoredQuote } from "./flows";
import type { CloudMetrics } from "./metrics";
import { dashboardPage, loginPage, messagePage, operatorErrorPage, payPage, pickLang, texts, type Lang } from "./pages";
import { HttpError, PaymentService, PROVIDER_MISSING } from "./payments";
import { operatorsRouter } from "./operators-api";
import { hasControlChars, parse, refuseControlCharsInBody, refuseControlCharsInUrl, requireJson, wrap } from "./http-input";

export interface AppDeps {
  db: Database;
  logger: Logger;
  auth: Auth;
  payments: PaymentService;
  metrics: CloudMetrics;
  stripe: Stripe;
  stripeMode: StripeMode;
  publishableKey?: string;
  publicBaseUrl: () => string;
  /** Emulator card page for a client secret (emulator mode only). */
  emulatorPayUrl?: (clientSecret: string, returnUrl: string, lang: Lang) => string;
  src: string;
  wake(): void;
  health(): Promise<{ ok: boolean; body: Record<string, unknown> }>;
  retrieveOnReturn: boolean;
  jsonLimit: number;
  auditMode: AuditMode;
  /** SYSPARK_ACL_HMAC_KEY; absent → the access routes answer 503. */
  aclHmacKey?: string;
  /** Exit-PIN scrypt cost (tests lower it). */
  pinCost?: { N: number; r: number; p: number };
}

const ISO_INSTANT = z
  .string()
  .refine((s) => /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})?)?$/.test(s) && !Number.isNaN(Date.parse(s)), "must be an ISO-8601 date or instant, e.g. 2025-03-01 or 2025-03-01T08:00:00Z")
  .transform((s) => new Date(s));

const ExportQuery = z.strictObject({ from: ISO_INSTANT.optional(), to: ISO_INSTANT.optional(), format: z.enum(["csv", "ndjson"]).default("ndjson"), session_id: z.string().max(64).optional() });
const LoginBody = z.strictObject({ username: z.string().min(1).max(64), password: z.string().min(1).max(1024) });
const OverrideBody = z.strictObject({
  site_id: z.string().regex(/^[a-z0-9][a-z0-9-]{0,31}$/, "site_id: 1-32 of a-z 0-9 -").optional(),
  action: z.enum(["open", "reset"]).default("open"),
  reason: z.string().trim().min(3, "reason is required (at least 3 characters): every override is audited").max(200),
  session_id: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/).optional(),
  cmd_id: z.string().regex(/^[A-Za-z0-9._:-]{1,64}$/, "cmd_id: 1-64 of A-Z a-z 0-9 . _ : -").optional(),
});
const PayQuery = z.object({ t: z.string().min(1).max(128), lang: z.enum(["fr", "en"]).optional() });

function quoteLines(s: SessionRow): { label: string; amount: number }[] {
  const q = s.quoteBreakdown as unknown as StoredQuote | null;
  return (q?.price?.breakdown ?? []).map((l) => ({ label: l.label, amount: l.amount }));
}

/**
 * A page a driver's phone shows (the pay link, "Pay by card", the return page): its errors are
 * HTML in the page's language, never JSON — unless the caller asks for JSON only.
 */
function isDriverPage(req: Request): boolean {
  if (!req.path.startsWith("/pay/")) return false;
  return req.accepts(["html", "json"]) !== "json";
}

/** A page an operator's browser shows (login form, dashboard): its errors are HTML too. */
function isOperatorPage(req: Request): boolean {
  if (req.path !== "/login" && req.path !== "/dashboard" && req.path !== "/") return false;
  return req.accepts(["html", "json"]) !== "json";
}

/**
 * Where to go after login: a path on this cloud, nothing else (issue 15). `next` is resolved
 * against the cloud's own origin and kept only if the origin is unchanged; a backslash or a
 * control character is refused outright (browsers read `/\evil.example` as `//evil.example`).
 */
export function safeNext(next: unknown, base: string): string {
  const fallback = "/dashboard";
  if (typeof next !== "string" || !next.startsWith("/") || next.length > 2048 || next.includes("\\") || hasControlChars(next)) return fallback;
  try {
    const origin = new URL(base).origin;
    const u = new URL(next, origin);
    if (u.origin !== origin) return fallback;
    return `${u.pathname}${u.search}${u.hash}`;
  } catch {
    return fallback;
  }
}

/** The origins this cloud's own pages are served from: the public base URL and the address the request came in on. */
function ownOrigins(req: Request, publicBaseUrl: string): Set<string> {
  const origins = new Set<string>();
  try {
    origins.add(new URL(publicBaseUrl).origin);
  } catch {
    // no public URL yet: the listening address below
  }
  const addr = (req.socket.localAddress ?? "").replace(/^::ffff:/, "");
  const port = req.socket.localPort;
  if (addr && port) {
    origins.add(`http://${addr.includes(":") ? `[${addr}]` : addr}:${port}`);
    if (addr === "127.0.0.1" || addr === "::1") origins.add(`http://localhost:${port}`);
  }
  return origins;
}

/**
 * Cross-site request refusal (issue 15): a state-changing request that carries the operator's
 * session cookie (no Bearer token) must come from the cloud's own pages. The message names the
 * refused Origin; undefined when the request may go on.
 */
function crossSiteRefusal(req: Request, publicBaseUrl: string): string | undefined {
  const origin = req.headers.origin;
  if (typeof origin === "string") {
    const own = ownOrigins(req, publicBaseUrl);
    if (!own.has(origin.toLowerCase())) return `cross-site request refused: Origin ${origin} is not this cloud's origin (${[...own].join(", ")}); a change made with the session cookie must come from the cloud's own pages (scripts: send a Bearer token)`;
  }
  if (req.headers["sec-fetch-site"] === "cross-site") return "cross-site request refused (Sec-Fetch-Site: cross-site): a change made with the session cookie must come from the cloud's own pages (scripts: send a Bearer token)";
  return undefined;
}

/** Stripe's client failing to reach Stripe, or Stripe answering 5xx / 429. */
function isProviderUnavailable(err: unknown): boolean {
  const e = err as { type?: unknown; statusCode?: unknown } | null;
  if (!e || typeof e.type !== "string") return false;
  if (e.type === "StripeConnectionError" || e.type === "StripeRateLimitError") return true;
  return e.type.startsWith("Stripe") && typeof e.statusCode === "number" && e.statusCode >= 500;
}

/** The HTML answer for an error on a driver's page, with the way back to the pay link. */
function driverErrorPage(req: Request, status: number): string {
  const lang = pickLang(req.query.lang, req.headers["accept-language"]);
  if (status === 404) return messagePage(lang, "notFound");
  const sessionId = /^\/pay\/([A-Za-z0-9_-]{1,64})(?:\/|$)/.exec(req.path)?.[1];
  const token = typeof req.query.t === "string" && /^[A-Za-z0-9_-]{10,128}$/.test(req.query.t) ? req.query.t : undefined;
  const retryHref = sessionId && token ? `/pay/${sessionId}?t=${token}&lang=${lang}` : undefined;
  return messagePage(lang, status >= 500 ? "error" : "badRequest", { ...(retryHref ? { retryHref } : {}), ...(req.requestId ? { reference: req.requestId } : {}) });
}

export function buildApp(d: AppDeps): express.Express {
  const app = express();
  app.disable("x-powered-by");
  app.set("trust proxy", false);
  app.set("query parser", "simple");

  // Request id, security headers, access log (path only: pay links carry a secret in the query).
  app.use((req, res, next) => {
    const incoming = req.headers["x-request-id"];
    const id = typeof incoming === "string" && /^[A-Za-z0-9._-]{1,64}$/.test(incoming) ? incoming : randomUUID();
    req.requestId = id;
    res.setHeader("X-Request-Id", id);
    res.setHeader("X-Content-Type-Options", "nosniff");
    res.setHeader("Referrer-Policy", "no-referrer");
    res.setHeader("X-Frame-Options", "DENY");
    const started = process.hrtime.bigint();
    res.on("finish", () => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      const route = (req.route as { path?: string } | undefined)?.path ?? "unmatched";
      d.metrics.httpRequests.observe({ method: req.method, route, status: String(res.statusCode) }, ms / 1000);
      if (route !== "/health" && route !== "/metrics") d.logger.info({ reqId: id, method: req.method, path: req.path, status: res.statusCode, ms: Math.round(ms * 10) / 10, operator: req.operator?.username }, "http");
    });
    next();
  });

  // The text rule on every query string and path (bodies: after their parser, below).
  app.use(refuseControlCharsInUrl);

  // A state-changing request authenticated by the session cookie must come from our own pages.
  // The Stripe webhook is authenticated by its signature, never by a cookie.
  app.use((req, _res, next) => {
    if (!["POST", "PUT", "PATCH", "DELETE"].includes(req.method) || req.path === "/webhooks/stripe" || !d.auth.cookieBorne(req)) {
      next();
      return;
    }
    const refusal = crossSiteRefusal(req, d.publicBaseUrl());
    next(refusal ? new HttpError(403, refusal, "cross_site") : undefined);
  });

  // ---------------------------------------------------------------- operations
  app.get(
    "/health",
    wrap(async (_req, res) => {
      const h = await d.health();
      res.status(h.ok ? 200 : 503).json(h.body);
    }),
  );
  app.get(
    "/metrics",
    wrap(async (_req, res) => {
      res.setHeader("Content-Type", d.metrics.registry.contentType);
      res.send(await d.metrics.registry.metrics());
    }),
  );

  // ---------------------------------------------------------------- Stripe webhook (raw body)
  app.post(
    "/webhooks/stripe",
    express.raw({ type: () => true, limit: "512kb" }),
    wrap(async (req, res) => {
      const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      const sig = req.headers["stripe-signature"];
      const end = d.metrics.webhookSeconds.startTimer();
      const r = await d.payments.handleWebhook(raw, typeof sig === "string" ? sig : undefined);
      end();
      res.status(r.status).json(r.body);
    }),
  );

  // Every parsed body follows the text rule before any handler sees it.
  const json = [express.json({ limit: d.jsonLimit, strict: true }), refuseControlCharsInBody];
  const form = [express.urlencoded({ extended: false, limit: "4kb", parameterLimit: 10 }), refuseControlCharsInBody];
  const clientAddress = (req: Request): string => req.socket.remoteAddress ?? "unknown";

  // ---------------------------------------------------------------- drivers' payment page
  const payLink = (sessionId: string, token: string, lang: Lang, sub = "") => `${d.publicBaseUrl()}/pay/${encodeURIComponent(sessionId)}${sub}?t=${encodeURIComponent(token)}&lang=${lang}`;

  const sessionOrPage = async (req: Request, res: Response): Promise<{ session: SessionRow; token: string; lang: Lang } | undefined> => {
    const lang = pickLang(req.query.lang, req.headers["accept-language"]);
    const q = PayQuery.safeParse(req.query);
    const sessionId = String(req.params.sessionId);
    try {
      if (!q.success) throw new HttpError(404, "no token");
      const session = await d.payments.sessionForToken(sessionId, q.data.t);
      return { session, token: q.data.t, lang };
    } catch (err) {
      if (err instanceof HttpError && err.status === 404) {
        res.status(404).type("html").send(messagePage(lang, "notFound"));
        return undefined;
      }
      throw err;
    }
  };

  const renderPay = async (res: Response, session: SessionRow, token: string, lang: Lang, error?: string): Promise<void> => {
    if (session.status === "paid") {
      res.type("html").send(messagePage(lang, "paid"));
      return;
    }
    if (session.status === "closed" || session.status === "flagged") {
      res.type("html").send(messagePage(lang, "closed"));
      return;
    }
    if (session.status !== "pending_payment" || session.amount === null || session.currency === null) {
      res.type("html").send(messagePage(lang, "nothing"));
      return;
    }
    const site = await getSite(d.db.sql, session.siteId);
    const q = session.quoteBreakdown as unknown as StoredQuote | null;
    let lastError = error;
    if (!lastError) {
      const pays = await listPayments(d.db.sql, session.sessionId);
      const last = pays[pays.length - 1];
      // An attempt the provider lost is not the driver's failure: nothing to tell them.
      if (last && (last.state === "failed" || last.state === "canceled") && !(last.failureReason ?? "").startsWith(PROVIDER_MISSING)) lastError = `${texts(lang).failedTitle} — ${last.failureReason ?? last.state}`;
    }
    let element: { publishableKey: string; clientSecret: string; returnUrl: string } | undefined;
    if (d.stripeMode !== "emulator" && d.publishableKey) {
      const { pi } = await d.payments.intentFor(session);
      element = { publishableKey: d.publishableKey, clientSecret: pi.client_secret as string, returnUrl: payLink(session.sessionId, token, lang, "/return") };
    }
    res.setHeader("Cache-Control", "no-store");
    res.type("html").send(
      payPage({
        lang,
        sessionId: session.sessionId,
        token,
        amount: session.amount,
        currency: session.currency,
        durationS: q?.price?.duration_s ?? Math.round(((session.pricedAt ?? new Date()).getTime() - session.entryTs.getTime()) / 1000),
        entryTs: session.entryTs,
        timeZone: site.timeZone,
        lines: quoteLines(session),
        stripeMode: d.stripeMode,
        ...(element ? { element } : {}),
        ...(lastError ? { error: lastError } : {}),
      }),
    );
  };

  app.get(
    "/pay/:sessionId",
    wrap(async (req, res) => {
      const s = await sessionOrPage(req, res);
      if (!s) return;
      await renderPay(res, s.session, s.token, s.lang, req.query.canceled === "1" ? texts(s.lang).canceledText : undefined);
    }),
  );

  app.post(
    "/pay/:sessionId/start",
    form,
    wrap(async (req, res) => {
      const s = await sessionOrPage(req, res);
      if (!s) return;
      if (s.session.status !== "pending_payment") {
        await renderPay(res, s.session, s.token, s.lang);
        return;
      }
      const returnUrl = payLink(s.session.sessionId, s.token, s.lang, "/return");
      if (d.stripeMode === "emulator" && d.emulatorPayUrl) {
        const { pi } = await d.payments.intentFor(s.session);
        res.redirect(303, d.emulatorPayUrl(pi.client_secret as string, returnUrl, s.lang));
        return;
      }
      // Real Stripe without a publishable key: the hosted Checkout page.
      const url = await d.payments.checkoutFor(s.session, { success: `${returnUrl}&checkout_session={CHECKOUT_SESSION_ID}`, cancel: `${payLink(s.session.sessionId, s.token, s.lang)}&canceled=1` }, s.lang);
      res.redirect(303, url);
    }),
  );

  app.post(
    "/pay/:sessionId/checkout",
    form,
    wrap(async (req, res) => {
      const s = await sessionOrPage(req, res);
      if (!s) return;
      if (s.session.status !== "pending_payment") {
        await renderPay(res, s.session, s.token, s.lang);
        return;
      }
      const returnUrl = payLink(s.session.sessionId, s.token, s.lang, "/return");
      const url = await d.payments.checkoutFor(s.session, { success: `${returnUrl}&checkout_session={CHECKOUT_SESSION_ID}`, cancel: `${payLink(s.session.sessionId, s.token, s.lang)}&canceled=1` }, s.lang);
      res.redirect(303, url);
    }),
  );

  app.get(
    "/pay/:sessionId/return",
    wrap(async (req, res) => {
      const s = await sessionOrPage(req, res);
      if (!s) return;
      res.setHeader("Cache-Control", "no-store");
      const ref = typeof req.query.payment_intent === "string" ? req.query.payment_intent : typeof req.query.checkout_session === "string" ? req.query.checkout_session : undefined;
      const retry = payLink(s.session.sessionId, s.token, s.lang);
      let session = s.session;
      if (ref && /^(pi|cs)_[A-Za-z0-9_]{1,200}$/.test(ref) && session.status === "pending_payment") {
        if (d.retrieveOnReturn) {
          try {
            await d.payments.confirmByRetrieve(session, ref);
          } catch (err) {
            d.logger.warn({ reqId: req.requestId, err: (err as Error).message }, "return page: server-side retrieve failed");
          }
        }
        session = await d.payments.sessionForToken(session.sessionId, s.token);
      }
      if (session.status === "paid" || session.status === "closed") {
        res.type("html").send(messagePage(s.lang, "paid"));
        return;
      }
      const pays = await listPayments(d.db.sql, session.sessionId);
      const mine = ref ? pays.find((p) => p.providerRef === ref) : pays[pays.length - 1];
      // The redirect's query string is never proof of payment; it only chooses between "still
      // being verified" (refresh until the webhook lands) and "failed" for the page shown.
      if (req.query.redirect_status === "succeeded" || req.query.redirect_status === "processing") {
        res.type("html").send(messagePage(s.lang, "processing", { refreshS: 2 }));
        return;
      }
      if (mine && mine.state === "failed" && (mine.failureReason ?? "").startsWith(PROVIDER_MISSING)) {
        // The provider lost that attempt (nothing was charged): straight back to the pay page.
        res.redirect(303, retry);
        return;
      }
      if (mine && (mine.state === "failed" || mine.state === "canceled")) {
        res.status(402).type("html").send(messagePage(s.lang, mine.state === "canceled" ? "canceled" : "failed", { retryHref: retry, reason: mine.failureReason ?? undefined }));
        return;
      }
      if (mine && req.query.redirect_status === "failed") {
        res.status(402).type("html").send(messagePage(s.lang, "failed", { retryHref: retry }));
        return;
      }
      // Not validated yet (webhook on its way): refresh.
      res.type("html").send(messagePage(s.lang, "processing", { refreshS: 2, retryHref: retry }));
    }),
  );

  // JSON twin of the page (kiosks, tests, the benchmark): quote, and the PaymentIntent to confirm.
  app.get(
    "/api/pay/:sessionId",
    wrap(async (req, res) => {
      const q = parse(PayQuery, req.query, "query");
      const s = await d.payments.sessionForToken(String(req.params.sessionId), q.t);
      const pays = await listPayments(d.db.sql, s.sessionId);
      res.json({ session_id: s.sessionId, status: s.status, amount: s.amount, currency: s.currency, entry_ts: s.entryTs, priced_at: s.pricedAt, breakdown: quoteLines(s), payments: pays.map((p) => ({ state: p.state, provider_ref: p.providerRef, failure_reason: p.failureReason })) });
    }),
  );
  app.post(
    "/api/pay/:sessionId/intent",
    wrap(async (req, res) => {
      const q = parse(PayQuery, req.query, "query");
      const s = await d.payments.sessionForToken(String(req.params.sessionId), q.t);
      const { pi, payment } = await d.payments.intentFor(s);
      res.json({ payment_intent: pi.id, client_secret: pi.client_secret, amount: payment.amount, currency: payment.currency });
    }),
  );

  // ---------------------------------------------------------------- operators
  app.post(
    "/api/login",
    json,
    wrap(async (req, res) => {
      requireJson(req);
      const body = parse(LoginBody, req.body, "body");
      const r = await d.auth.login(body.username, body.password, clientAddress(req));
      if (!r.ok && r.retryAfterS !== undefined) {
        res.setHeader("Retry-After", String(r.retryAfterS));
        throw new HttpError(429, "too many failed logins for this account or from this address: try again later (see Retry-After)", "locked_out");
      }
      if (!r.ok) throw new HttpError(401, "wrong username or password", "bad_credentials");
      const token = await d.auth.startSession(r.operator.operatorId);
      res.setHeader("Set-Cookie", sessionCookie(token, d.publicBaseUrl().startsWith("https:")));
      res.json({ token, operator: { username: r.operator.username, role: r.operator.role } });
    }),
  );
  app.post(
    "/api/logout",
    wrap(async (req, res) => {
      const token = d.auth.tokenFrom(req);
      if (token) await d.auth.endSession(token);
      res.setHeader("Set-Cookie", sessionCookie("", false).replace(/Max-Age=\d+/, "Max-Age=0"));
      res.status(204).end();
    }),
  );
  app.get("/login", (req, res) => {
    res.type("html").send(loginPage(safeNext(req.query.next, d.publicBaseUrl())));
  });
  app.post(
    "/login",
    form,
    wrap(async (req, res) => {
      const b = (req.body ?? {}) as Record<string, unknown>;
      const next = safeNext(b.next, d.publicBaseUrl());
      const r = typeof b.username === "string" && typeof b.password === "string" && b.username.length <= 64 && b.password.length <= 1024 ? await d.auth.login(b.username, b.password, clientAddress(req)) : undefined;
      if (r && !r.ok && r.retryAfterS !== undefined) {
        res.setHeader("Retry-After", String(r.retryAfterS));
        res.status(429).type("html").send(loginPage(next, `Too many failed logins: try again in ${Math.ceil(r.retryAfterS / 60)} min.`));
        return;
      }
      if (!r?.ok) {
        res.status(401).type("html").send(loginPage(next, "Wrong username or password."));
        return;
      }
      res.setHeader("Set-Cookie", sessionCookie(await d.auth.startSession(r.operator.operatorId), d.publicBaseUrl().startsWith("https:")));
      res.redirect(303, next);
    }),
  );

  app.get(
    "/dashboard",
    d.auth.require(undefined, { html: true }),
    wrap(async (req, res) => {
      const [sessions, sites] = await Promise.all([listSessions(d.db.sql, { limit: 100 }), listSites(d.db.sql)]);
      const events = await d.db.sql<{ seq: number; ts: Date; kind: string; sessionId: string | null; payload: Json }[]>`SELECT seq, ts, kind, session_id, payload FROM audit_log ORDER BY seq DESC LIMIT 50`;
      const lanes = await d.db.sql<{ siteId: string; laneId: string; name: string }[]>`SELECT site_id, lane_id, name FROM lanes WHERE kind = 'exit' ORDER BY site_id, lane_id`;
      res.type("html").send(
        dashboardPage({
          operator: req.operator?.username ?? "",
          sessions: sessions.filter((s) => s.status !== "closed").map((s) => ({ sessionId: s.sessionId, siteId: s.siteId, identity: `${s.identityMethod} ${s.identityValue}`, status: s.status, entryTs: s.entryTs, amount: s.amount, currency: s.currency })),
          events: events.map((e) => ({ seq: e.seq, ts: e.ts, kind: e.kind, sessionId: e.sessionId, summary: JSON.stringify(e.payload).slice(0, 160) })),
          lanes: lanes.map((l) => ({ siteId: l.siteId, laneId: l.name || l.laneId })).filter(() => sites.length > 0),
        }),
      );
    }),
  );

  app.get(
    "/api/sessions",
    d.auth.require(),
    wrap(async (req, res) => {
      const q = parse(z.strictObject({ status: z.enum(["active", "pending_payment", "paid", "closed", "flagged"]).optional(), site_id: z.string().max(64).optional(), limit: z.coerce.number().int().min(1).max(1000).optional() }), req.query, "query");
      const rows = await listSessions(d.db.sql, { status: q.status, siteId: q.site_id, limit: q.limit });
      res.json(rows.map(({ payTokenHash: _omit, ...r }) => r));
    }),
  );

  app.get(
    "/api/audit/export",
    d.auth.require(),
    wrap(async (req, res) => {
      const q = parse(ExportQuery, req.query, "query");
      if (q.from && q.to && q.from >= q.to) throw new HttpError(400, "query: from must be before to", "invalid_input");
      const format: ExportFormat = q.format;
      await flushAudit(d.db); // rows queued by hot transactions join the chain before the export
      const [head] = await d.db.sql<{ seq: number; hash: string }[]>`SELECT seq, hash FROM audit_head WHERE singleton`;
      res.status(200);
      res.setHeader("Content-Type", format === "csv" ? "text/csv; charset=utf-8" : "application/x-ndjson");
      res.setHeader("Content-Disposition", `attachment; filename="syspark-audit.${format}"`);
      res.setHeader("X-Audit-Head", `${head.seq}:${head.hash}`);
      res.setHeader("Cache-Control", "no-store");
      if (format === "csv") res.write(csvHeaderLine());
      let n = 0;
      for await (const batch of streamAudit(d.db.sql, { from: q.from, to: q.to, sessionId: q.session_id, batchSize: 1000 })) {
        n += batch.length;
        if (!res.write(formatRows(batch, format))) await new Promise((r) => res.once("drain", r));
        if (res.destroyed) return;
      }
      res.end();
      d.logger.info({ reqId: req.requestId, operator: req.operator?.username, rows: n, format }, "audit export");
    }),
  );

  app.get(
    "/api/audit/verify",
    d.auth.require(),
    wrap(async (_req, res) => {
      await flushAudit(d.db);
      const v = await verifyAuditChain(d.db.sql);
      res.status(v.ok ? 200 : 409).json(v);
    }),
  );

  app.post(
    "/api/lanes/:laneId/override",
    d.auth.require(["admin", "operator"]),
    json,
    wrap(async (req, res) => {
      requireJson(req);
      const body = parse(OverrideBody, req.body, "body");
      const wireLane = String(req.params.laneId);
      if (!/^[A-Za-z0-9._:-]{1,64}$/.test(wireLane)) throw new HttpError(400, "lane id: 1-64 of A-Z a-z 0-9 . _ : -", "invalid_input");
      let siteId = body.site_id;
      if (!siteId) {
        const sites = await listSites(d.db.sql);
        if (sites.length !== 1) throw new HttpError(400, `body.site_id is required (${sites.length} sites configured)`, "invalid_input");
        siteId = sites[0].siteId;
      }
      const lane = dbLaneId(wireLane);
      const [known] = await d.db.sql<{ name: string }[]>`SELECT name FROM lanes WHERE site_id = ${siteId} AND lane_id = ${lane}`;
      if (!known) throw new HttpError(404, `unknown lane ${wireLane} at site ${siteId}`, "not_found");
      const op = req.operator as NonNullable<Request["operator"]>;
      const cmdId = body.cmd_id ?? `ovr_${Date.now().toString(36)}${randomBytes(6).toString("hex")}`;
      const now = new Date();
      const result = await d.db.tx(async (tx) => {
        const r = await recordOverride(tx, { cmdId, siteId, laneId: lane, operatorId: op.operatorId, action: body.action, reason: body.reason, ...(body.session_id ? { sessionId: body.session_id } : {}) });
        if (!r.created) return { duplicate: true, override: r.override };
        await enqueueForSite(tx, siteId, "barrierCmd", { ts: now.getTime(), src: d.src, cmd_id: cmdId, lane_id: wireLane, cmd: body.action, operator: op.username, reason: body.reason, ...(body.session_id ? { session_id: body.session_id } : {}) });
        await writeAudit(d.auditMode, tx, {
          kind: `override.${body.action}`,
          sessionId: body.session_id ?? null,
          payload: { site_id: siteId, lane_id: wireLane, cmd_id: cmdId, action: body.action, operator: op.username, operator_id: op.operatorId, role: op.role, reason: body.reason, override_ts: now.toISOString(), request_id: req.requestId ?? null },
        });
        return { duplicate: false, override: r.override };
      });
      if (!result.duplicate) d.wake();
      res.status(result.duplicate ? 200 : 202).json({ cmd_id: cmdId, site_id: siteId, lane_id: wireLane, action: body.action, duplicate: result.duplicate });
    }),
  );

  // ---------------------------------------------------------------- access lists (offline exits, subscribers)
  const accessCtx = (): AccessContext => {
    if (!d.aclHmacKey) throw new HttpError(503, ACL_DISABLED_MESSAGE, "acl_disabled");
    return { db: d.db, src: d.src, auditMode: d.auditMode, aclHmacKey: d.aclHmacKey, ...(d.pinCost ? { pinCost: d.pinCost } : {}) };
  };
  const siteParam = (req: Request): string => {
    const site = String(req.params.site);
    if (!SITE_ID_RE.test(site)) throw new HttpError(400, "site id: 1-32 of a-z 0-9 -", "invalid_input");
    return site;
  };
  const actorOf = (req: Request): Actor => {
    const op = req.operator as NonNullable<Request["operator"]>;
    return { username: op.username, operatorId: op.operatorId, role: op.role, via: "api", requestId: req.requestId ?? null };
  };
  app.post(
    "/api/sites/:site/access",
    d.auth.require(["admin", "operator"]),
    json,
    wrap(async (req, res) => {
      const ctx = accessCtx();
      const site = siteParam(req);
      requireJson(req);
      const body = parse(AccessAddBody, req.body, "body");
      const r = await addAccessEntry(ctx, site, body, actorOf(req));
      d.wake();
      res.status(201).json({ site_id: site, version: r.version, replaced: r.replaced, entry: r.entry });
    }),
  );
  app.get(
    "/api/sites/:site/access",
    d.auth.require(),
    wrap(async (req, res) => {
      accessCtx();
      res.json(await listAccessEntries(d.db.sql, siteParam(req)));
    }),
  );
  app.delete(
    "/api/sites/:site/access/:entryId",
    d.auth.require(["admin", "operator"]),
    wrap(async (req, res) => {
      const ctx = accessCtx();
      const site = siteParam(req);
      const entryId = String(req.params.entryId);
      if (!ENTRY_ID_RE.test(entryId)) throw new HttpError(400, "entry id: 1-64 of A-Z a-z 0-9 . _ : -", "invalid_input");
      const r = await revokeAccessEntry(ctx, site, entryId, actorOf(req));
      if (!r.alreadyRevoked) d.wake();
      res.status(200).json({ site_id: site, version: r.version, already_revoked: r.alreadyRevoked, entry: r.entry });
    }),
  );

  app.use(operatorsRouter({ db: d.db, auth: d.auth, auditMode: d.auditMode, jsonLimit: d.jsonLimit, wake: d.wake })); // GET/POST /api/operators (admin)

  app.get("/", (_req, res) => {
    res.redirect(302, "/dashboard");
  });

  // ---------------------------------------------------------------- errors
  app.use((req: Request, res: Response) => {
    if (isDriverPage(req)) {
      res.status(404).type("html").send(messagePage(pickLang(req.query.lang, req.headers["accept-language"]), "notFound"));
      return;
    }
    res.status(404).json({ error: `no route ${req.method} ${req.path}` });
  });
  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    void _next;
    const e = err as { type?: string; status?: number; statusCode?: number; message?: string; name?: string; limit?: number };
    let status = 500;
    let message = "internal error";
    let code = "internal";
    if (err instanceof HttpError) {
      status = err.status;
      message = err.message;
      code = err.code ?? "error";
    } else if (e.type === "entity.parse.failed") {
      status = 400;
      message = `invalid JSON body: ${e.message}`;
      code = "invalid_json";
    } else if (e.type === "entity.too.large") {
      status = 413;
      message = `body too large (limit ${e.limit} bytes)`;
      code = "too_large";
    } else if (e.type === "encoding.unsupported" || e.type === "charset.unsupported") {
      status = 415;
      message = e.message ?? "unsupported encoding";
      code = "unsupported_media_type";
    } else if (e.name === "ValidationError") {
      status = 400;
      message = e.message ?? "invalid input";
      code = "invalid_input";
    } else if (e.name === "NotFoundError") {
      status = 404;
      message = e.message ?? "not found";
      code = "not_found";
    } else if (e.name === "IllegalTransitionError" || e.name === "IdempotencyConflictError" || e.name === "ConflictError") {
      status = 409;
      message = e.message ?? "conflict";
      code = "conflict";
    } else if (typeof e.status === "number" && e.status >= 400 && e.status < 500) {
      status = e.status;
      message = e.message ?? "bad request";
      code = "bad_request";
    } else if (isProviderUnavailable(err)) {
      // Stripe out of reach or failing: nothing the caller did wrong, worth a retry.
      status = 503;
      message = "the payment provider is unavailable; try again in a moment";
      code = "provider_unavailable";
    }
    if (status >= 500) d.logger.error({ reqId: req.requestId, err: e.message, stack: (err as Error).stack }, "request failed");
    if (res.headersSent) {
      res.destroy();
      return;
    }
    if (isDriverPage(req)) {
      res.status(status).type("html").send(driverErrorPage(req, status));
      return;
    }
    if (isOperatorPage(req)) {
      const shown = status >= 500 ? "internal error" : message;
      res.status(status).type("html").send(req.path === "/login" ? loginPage("/dashboard", shown) : operatorErrorPage(status >= 500 ? "Error" : "Request refused", shown, req.requestId));
      return;
    }
    res.status(status).json({ error: message, code, request_id: req.requestId });
  });
  return app;
}
