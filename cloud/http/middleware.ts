/**
 * The middleware every request passes before its route: request id, security headers and access
 * log; the cross-site refusal for changes made with the session cookie. (The text rule and the
 * body parsers: input.ts.)
 */
import { randomBytes, randomUUID } from "node:crypto";
import type { NextFunction, Request, Response } from "express";
import type { Logger } from "../../host/log";
import { HttpError } from "../flows/errors";
import type { Auth } from "../server/auth";
import type { CloudMetrics } from "../server/metrics";

/** Request id, security headers, access log (path only: pay links carry a secret in the query). */
export function requestContext(metrics: CloudMetrics, logger: Logger) {
  return (req: Request, res: Response, next: NextFunction): void => {
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
      metrics.httpRequests.observe({ method: req.method, route, status: String(res.statusCode) }, ms / 1000);
      if (route !== "/health" && route !== "/metrics") logger.info({ reqId: id, method: req.method, path: req.path, status: res.statusCode, ms: Math.round(ms * 10) / 10, operator: req.operator?.username }, "http");
    });
    next();
  };
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

/**
 * A state-changing request authenticated by the session cookie must come from our own pages.
 * The Stripe webhook is authenticated by its signature, never by a cookie.
 */
export function refuseCrossSite(auth: Auth, publicBaseUrl: () => string) {
  return (req: Request, _res: Response, next: NextFunction): void => {
    if (!["POST", "PUT", "PATCH", "DELETE"].includes(req.method) || req.path === "/webhooks/stripe" || !auth.cookieBorne(req)) {
      next();
      return;
    }
    const refusal = crossSiteRefusal(req, publicBaseUrl());
    next(refusal ? new HttpError(403, refusal, "cross_site") : undefined);
  };
}

/**
 * A Content-Security-Policy on every HTML page (issue 17) that does not set its own (the console
 * sets a stricter one, console/request.ts): scripts and styles from this origin, or inline ones
 * carrying this response's nonce — added here to each <script> and <style> tag of the page (the
 * pages escape every value they interpolate, so data never becomes a tag). What the policy adds:
 * no script from another origin but Stripe.js (the pay pages on real Stripe, with its frames),
 * no plugin, no <base> rewrite, no framing of our pages.
 */
export function pageCsp(_req: Request, res: Response, next: NextFunction): void {
  const send = res.send.bind(res);
  res.send = (body?: unknown) => {
    const type = String(res.getHeader("Content-Type") ?? "");
    const html = type.startsWith("text/html") || (type === "" && typeof body === "string" && /^\s*<!doctype html/i.test(body));
    if (typeof body === "string" && html && !res.getHeader("Content-Security-Policy")) {
      const nonce = randomBytes(16).toString("base64");
      res.setHeader(
        "Content-Security-Policy",
        `default-src 'self'; script-src 'self' 'nonce-${nonce}' https://js.stripe.com; style-src 'self' 'nonce-${nonce}'; img-src 'self' data: https:; connect-src 'self' https://api.stripe.com; frame-src https://js.stripe.com https://hooks.stripe.com; object-src 'none'; base-uri 'none'; frame-ancestors 'none'`,
      );
      body = body.replace(/<(script|style)\b(?![^>]*\bnonce=)/g, `<$1 nonce="${nonce}"`);
    }
    return send(body);
  };
  next();
}
