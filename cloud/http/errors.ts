/**
 * The last two handlers of the app: "no such route" and the error handler. Every error becomes
 * one answer: a driver's page gets HTML in the page's language with the way back to the pay link,
 * an operator's page (login form, dashboard) gets HTML, everything else JSON
 * `{ error, code, request_id }`. Bad input is a 4xx naming the field; only the unexpected is a 500
 * (logged with its stack), and Stripe out of reach is a 503 worth a retry.
 */
import type { NextFunction, Request, Response } from "express";
import type { Logger } from "../../host/log";
import { HttpError } from "../flows/errors";
import { loginPage, messagePage, operatorErrorPage, pickLang } from "./pages";
import { paymentUnavailablePage } from "./billing-pages";
import { isProviderUnavailable } from "../flows/provider-outage";

/**
 * A page a driver's phone shows (the pay link, "Pay by card", the return page): its errors are
 * HTML in the page's language, never JSON — unless the caller asks for JSON only.
 */
function isDriverPage(req: Request): boolean {
  // /pricing: estimate and prepay pages; /hold/: the hold-at-entry pages.
  if (!req.path.startsWith("/pay/") && req.path !== "/pricing" && !req.path.startsWith("/pricing/") && !req.path.startsWith("/hold/")) return false;
  return req.accepts(["html", "json"]) !== "json";
}

/** A page an operator's browser shows (login form, dashboard): its errors are HTML too. */
function isOperatorPage(req: Request): boolean {
  if (req.path !== "/login" && req.path !== "/dashboard" && req.path !== "/" && req.path !== "/console" && !req.path.startsWith("/console/")) return false;
  return req.accepts(["html", "json"]) !== "json";
}

/** The HTML answer for an error on a driver's page, with the way back to the pay link. */
function driverErrorPage(req: Request, status: number, code?: string): string {
  const lang = pickLang(req.query.lang, req.headers["accept-language"]);
  if (status === 404) return messagePage(lang, "notFound");
  const sessionId = /^\/pay\/([A-Za-z0-9_-]{1,64})(?:\/|$)/.exec(req.path)?.[1];
  const token = typeof req.query.t === "string" && /^[A-Za-z0-9_-]{10,128}$/.test(req.query.t) ? req.query.t : undefined;
  const retryHref = sessionId && token ? `/pay/${sessionId}?t=${token}&lang=${lang}` : undefined;
  // The provider out of reach: the page that says so and points to the help button (issue 16 item 7).
  if (code === "provider_unavailable") return paymentUnavailablePage(lang, "provider", { ...(retryHref ? { retryHref } : {}), ...(req.requestId ? { reference: req.requestId } : {}) });
  return messagePage(lang, status >= 500 ? "error" : "badRequest", { ...(retryHref ? { retryHref } : {}), ...(req.requestId ? { reference: req.requestId } : {}) });
}

/** Status, message and code for an error: ours (HttpError), the body parsers', the database layer's, Stripe's. */
function classify(err: unknown): { status: number; message: string; code: string } {
  const e = err as { type?: string; status?: number; statusCode?: number; message?: string; name?: string; limit?: number };
  if (err instanceof HttpError) return { status: err.status, message: err.message, code: err.code ?? "error" };
  if (e.type === "entity.parse.failed") return { status: 400, message: `invalid JSON body: ${e.message}`, code: "invalid_json" };
  if (e.type === "entity.too.large") return { status: 413, message: `body too large (limit ${e.limit} bytes)`, code: "too_large" };
  if (e.type === "encoding.unsupported" || e.type === "charset.unsupported") return { status: 415, message: e.message ?? "unsupported encoding", code: "unsupported_media_type" };
  if (e.name === "ValidationError") return { status: 400, message: e.message ?? "invalid input", code: "invalid_input" };
  if (e.name === "NotFoundError") return { status: 404, message: e.message ?? "not found", code: "not_found" };
  if (e.name === "IllegalTransitionError" || e.name === "IdempotencyConflictError" || e.name === "ConflictError") return { status: 409, message: e.message ?? "conflict", code: "conflict" };
  if (typeof e.status === "number" && e.status >= 400 && e.status < 500) return { status: e.status, message: e.message ?? "bad request", code: "bad_request" };
  // Stripe out of reach or failing: nothing the caller did wrong, worth a retry.
  if (isProviderUnavailable(err)) return { status: 503, message: "the payment provider is unavailable; try again in a moment", code: "provider_unavailable" };
  return { status: 500, message: "internal error", code: "internal" };
}

/** No route matched: a driver's page gets the "not found" page, anything else JSON. */
export function notFound(req: Request, res: Response): void {
  if (isDriverPage(req)) {
    res.status(404).type("html").send(messagePage(pickLang(req.query.lang, req.headers["accept-language"]), "notFound"));
    return;
  }
  if (isOperatorPage(req)) {
    res.status(404).type("html").send(operatorErrorPage("Not found / Introuvable", `no page ${req.path}`, req.requestId));
    return;
  }
  res.status(404).json({ error: `no route ${req.method} ${req.path}` });
}

export function errorHandler(logger: Logger) {
  return (err: unknown, req: Request, res: Response, _next: NextFunction): void => {
    void _next;
    const { status, message, code } = classify(err);
    if (status >= 500) logger.error({ reqId: req.requestId, err: (err as { message?: string }).message, stack: (err as Error).stack }, "request failed");
    if (res.headersSent) {
      res.destroy();
      return;
    }
    if (isDriverPage(req)) {
      res.status(status).type("html").send(driverErrorPage(req, status, code));
      return;
    }
    if (isOperatorPage(req)) {
      const shown = status >= 500 ? "internal error" : message;
      res.status(status).type("html").send(req.path === "/login" ? loginPage("/dashboard", shown) : operatorErrorPage(status >= 500 ? "Error" : "Request refused", shown, req.requestId));
      return;
    }
    res.status(status).json({ error: message, code, request_id: req.requestId });
  };
}
