/** Operations: `GET /health` (200, or 503 when degraded) and `GET /metrics` (Prometheus). */
import express, { type Router } from "express";
import type { AppDeps } from "./deps";
import { wrap } from "./input";

export function opsRouter(d: Pick<AppDeps, "health" | "metrics">): Router {
  const router = express.Router();
  router.get(
    "/health",
    wrap(async (_req, res) => {
      const h = await d.health();
      res.status(h.ok ? 200 : 503).json(h.body);
    }),
  );
  router.get(
    "/metrics",
    wrap(async (_req, res) => {
      res.setHeader("Content-Type", d.metrics.registry.contentType);
      res.send(await d.metrics.registry.metrics());
    }),
  );
  return router;
}
