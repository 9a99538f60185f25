/**
 * `POST /webhooks/stripe`: the RAW body (the signature is over the exact bytes), handed with its
 * `Stripe-Signature` to the payments flow, which verifies it and answers. Authenticated by the
 * signature, never by a cookie (middleware.ts lets it past the cross-site check).
 */
import express, { type Router } from "express";
import type { AppDeps } from "./deps";
import { wrap } from "./input";

export function stripeWebhookRouter(d: Pick<AppDeps, "payments" | "metrics">): Router {
  const router = express.Router();
  router.post(
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
  return router;
}
