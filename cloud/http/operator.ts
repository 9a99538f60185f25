/**
 * The operators' API and console: sign in and out (`/api/login`, `/api/logout`, the `/login`
 * form), the dashboard, sessions, the audit export and chain check, and a lane override. Sessions
 * are a Bearer token or the session cookie (cloud/server/auth.ts); a change made with the cookie
 * must come from the cloud's own pages (middleware.ts).
 */
import express, { type Request, type Response, type Router } from "express";
import { z } from "zod";
import { listSessions, streamAudit } from "../db/index";
import { HttpError } from "../flows/errors";
import { auditHeadForExport, verifyAudit } from "../flows/operator-views";
import { issueOverride } from "../flows/overrides";
import { sessionCookie } from "../server/auth";
import { csvHeaderLine, formatRows, type ExportFormat } from "../server/audit-export";
import type { AppDeps } from "./deps";
import { formBody, hasControlChars, jsonBody, parse, requireJson, wrap } from "./input";
import { loginPage } from "./pages";

type OperatorDeps = Pick<AppDeps, "db" | "logger" | "auth" | "publicBaseUrl" | "jsonLimit" | "src" | "auditMode" | "wake">;

const ISO_INSTANT = z
  .string()
  .refine((s) => /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})?)?$/.test(s) && !Number.isNaN(Date.parse(s)), "must be an ISO-8601 date or instant, e.g. 2025-03-01 or 2025-03-01T08:00:00Z")
  .transform((s) => new Date(s));

const ExportQuery = z.strictObject({ from: ISO_INSTANT.optional(), to: ISO_INSTANT.optional(), format: z.enum(["csv", "ndjson"]).default("ndjson"), session_id: z.string().max(64).optional() });
const LoginBody = z.strictObject({ username: z.string().min(1).max(64), password: z.string().min(1).max(1024) });
const SessionsQuery = z.strictObject({ status: z.enum(["active", "pending_payment", "paid", "closed", "flagged"]).optional(), site_id: z.string().max(64).optional(), limit: z.coerce.number().int().min(1).max(1000).optional() });
const OverrideBody = z.strictObject({
  site_id: z.string().regex(/^[a-z0-9][a-z0-9-]{0,31}$/, "site_id: 1-32 of a-z 0-9 -").optional(),
  action: z.enum(["open", "reset"]).default("open"),
  reason: z.string().trim().min(3, "reason is required (at least 3 characters): every override is audited").max(200),
  session_id: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/).optional(),
  cmd_id: z.string().regex(/^[A-Za-z0-9._:-]{1,64}$/, "cmd_id: 1-64 of A-Z a-z 0-9 . _ : -").optional(),
});

/**
 * Where to go after login: a path on this cloud, nothing else (issue 15). `next` is resolved
 * against the cloud's own origin and kept only if the origin is unchanged; a backslash or a
 * control character is refused outright (browsers read `/\evil.example` as `//evil.example`).
 */
export function safeNext(next: unknown, base: string): string {
  const fallback = "/console";
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

const clientAddress = (req: Request): string => req.socket.remoteAddress ?? "unknown";

/** `/api/login`, `/api/logout` (JSON, scripts and the CLI) and the `/login` form (browsers). */
function signInRoutes(router: Router, d: OperatorDeps): void {
  router.post(
    "/api/login",
    jsonBody(d.jsonLimit),
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
  router.post(
    "/api/logout",
    wrap(async (req, res) => {
      const token = d.auth.tokenFrom(req);
      if (token) await d.auth.endSession(token);
      res.setHeader("Set-Cookie", sessionCookie("", false).replace(/Max-Age=\d+/, "Max-Age=0"));
      res.status(204).end();
    }),
  );
  // The console's logout button (a form: no script needed); the cookie's session ends on the server too.
  router.post(
    "/logout",
    formBody(),
    wrap(async (req, res) => {
      const token = d.auth.tokenFrom(req);
      if (token) await d.auth.endSession(token);
      res.setHeader("Set-Cookie", sessionCookie("", false).replace(/Max-Age=\d+/, "Max-Age=0"));
      res.redirect(303, "/login");
    }),
  );
  router.get("/login", (req, res) => {
    res.type("html").send(loginPage(safeNext(req.query.next, d.publicBaseUrl())));
  });
  router.post(
    "/login",
    formBody(),
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
}

/** `GET /api/audit/export`: the audit rows, streamed (CSV or NDJSON), with the chain head they end at. */
async function auditExport(d: OperatorDeps, req: Request, res: Response): Promise<void> {
  const q = parse(ExportQuery, req.query, "query");
  if (q.from && q.to && q.from >= q.to) throw new HttpError(400, "query: from must be before to", "invalid_input");
  const format: ExportFormat = q.format;
  const head = await auditHeadForExport(d.db); // rows queued by hot transactions join the chain before the export
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
}

/** `POST /api/lanes/:laneId/override`: 202 when sent, 200 for a cmd_id already recorded. */
async function override(d: OperatorDeps, req: Request, res: Response): Promise<void> {
  requireJson(req);
  const body = parse(OverrideBody, req.body, "body");
  const wireLane = String(req.params.laneId);
  if (!/^[A-Za-z0-9._:-]{1,64}$/.test(wireLane)) throw new HttpError(400, "lane id: 1-64 of A-Z a-z 0-9 . _ : -", "invalid_input");
  const op = req.operator as NonNullable<Request["operator"]>;
  const r = await issueOverride(
    d,
    { wireLane, action: body.action, reason: body.reason, ...(body.site_id ? { siteId: body.site_id } : {}), ...(body.session_id ? { sessionId: body.session_id } : {}), ...(body.cmd_id ? { cmdId: body.cmd_id } : {}) },
    op,
    req.requestId ?? null,
  );
  if (!r.duplicate) d.wake();
  res.status(r.duplicate ? 200 : 202).json({ cmd_id: r.cmdId, site_id: r.siteId, lane_id: r.wireLane, action: r.action, duplicate: r.duplicate });
}

export function operatorRouter(d: OperatorDeps): Router {
  const router = express.Router();
  signInRoutes(router, d);
  // The console replaced the first dashboard (issue 17); old bookmarks land on it.
  router.get("/dashboard", d.auth.require(undefined, { html: true }), (_req, res) => res.redirect(303, "/console"));
  router.get(
    "/api/sessions",
    d.auth.require(),
    wrap(async (req, res) => {
      const q = parse(SessionsQuery, req.query, "query");
      const rows = await listSessions(d.db.sql, { status: q.status, siteId: q.site_id, limit: q.limit });
      res.json(rows.map(({ payTokenHash: _omit, ...r }) => r));
    }),
  );
  router.get("/api/audit/export", d.auth.require(), wrap((req, res) => auditExport(d, req, res)));
  router.get(
    "/api/audit/verify",
    d.auth.require(),
    wrap(async (_req, res) => {
      const v = await verifyAudit(d.db);
      res.status(v.ok ? 200 : 409).json(v);
    }),
  );
  router.post("/api/lanes/:laneId/override", d.auth.require(["admin", "operator"]), jsonBody(d.jsonLimit), wrap((req, res) => override(d, req, res)));
  router.get("/", (_req, res) => {
    res.redirect(302, "/console");
  });
  return router;
}
