/**
 * Billing's own routes and switch (issue 16 items 6 and 7):
 * - the BILLING_ENABLED gate: while billing is off, every pay route (`/pay/*` pages, `/api/pay/*`)
 *   answers 503 — the driver's page in their language saying online payment is off and pointing
 *   to the help button, JSON `{ error, code: "billing_disabled" }` under /api — and no
 *   PaymentIntent is ever created;
 * - `GET /billing/health`: JSON (cloud/flows/billing-health.ts documents every field), or an
 *   HTML table when a browser asks for text/html. 200 when billing can take payments or is
 *   deliberately off, 503 when it is on and Stripe is out of reach.
 */
import express, { type NextFunction, type Request, type Response, type Router } from "express";
import type { AppDeps } from "./deps";
import { billingHealthPage, paymentUnavailablePage } from "./billing-pages";
import { wrap } from "./input";
import { pickLang } from "./pages";

/**
 * The routes BILLING_ENABLED=false closes: pages a driver sees (HTML 503) and their JSON twins
 * (JSON 503). Other billing routes (prepay, permits, refunds…) add their prefixes here.
 */
export const BILLING_GATED_PAGES: readonly string[] = ["/pay/"];
export const BILLING_GATED_APIS: readonly string[] = ["/api/pay/"];

/** Placed before the pay routes: while billing is off they all answer 503. */
export function billingGate(d: Pick<AppDeps, "billingEnabled">) {
  return (req: Request, res: Response, next: NextFunction): void => {
    if (d.billingEnabled) return next();
    if (BILLING_GATED_APIS.some((p) => req.path.startsWith(p))) {
      res.status(503).setHeader("Retry-After", "3600");
      res.json({ error: "billing is disabled on this cloud (BILLING_ENABLED=false): no payment can be taken; the lane's operator lets the vehicle out", code: "billing_disabled", request_id: req.requestId });
      return;
    }
    if (BILLING_GATED_PAGES.some((p) => req.path.startsWith(p))) {
      const lang = pickLang(req.query.lang, req.headers["accept-language"]);
      res.status(503).setHeader("Cache-Control", "no-store");
      res.type("html").send(paymentUnavailablePage(lang, "disabled", req.requestId ? { reference: req.requestId } : {}));
      return;
    }
    next();
  };
}

export function billingRouter(d: Pick<AppDeps, "billingHealth" | "logger">): Router {
  const router = express.Router();
  router.get(
    "/billing/health",
    wrap(async (req, res) => {
      let h: { ok: boolean; body: Record<string, unknown> };
      try {
        h = await d.billingHealth.report();
      } catch (err) {
        // The database did not answer: billing cannot work either — say so, never a bare 500.
        d.logger.warn({ reqId: req.requestId, err: (err as Error).message }, "billing health: the figures could not be read");
        h = { ok: false, body: { status: "degraded", error: "billing health could not be read: the database did not answer", checked_at: new Date().toISOString() } };
      }
      res.setHeader("Cache-Control", "no-store");
      const status = h.ok ? 200 : 503;
      if (req.accepts(["json", "html"]) === "html") {
        res.status(status).type("html").send(billingHealthPage(h.body, h.ok && h.body.status === "ok"));
        return;
      }
      res.status(status).json(h.body);
    }),
  );
  return router;
}
