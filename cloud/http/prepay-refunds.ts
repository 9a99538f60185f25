/**
 * `POST /api/operator/prepayments/:id/refund` {reason} with an Idempotency-Key header (issue 16):
 * an unused prepayment refunded in full (cloud/flows/prepay-refunds.ts). Admins and operators,
 * as the other refund routes (refunds.ts). 201 refunded (or pending at the provider), 200 a
 * replay, 202 recorded but the provider is unreachable (repeat the same request), 409 not
 * refundable (consumed, not paid, already refunded — the message says which) or refused by the
 * provider, 404 an unknown prepayment.
 */
import express, { type Request, type Router } from "express";
import { z } from "zod";
import { NotFoundError } from "../db/index";
import type { PrepaymentRefundRow } from "../db/prepayment-refunds";
import { HttpError } from "../flows/errors";
import { refundPrepayment, type PrepayRefundResult } from "../flows/prepay-refunds";
import type { AppDeps } from "./deps";
import { jsonBody, parse, requireJson, wrap } from "./input";

type Deps = Pick<AppDeps, "db" | "auth" | "stripe" | "jsonLimit" | "auditMode" | "wake">;

const PREPAYMENT_ID = /^pp_[A-Za-z0-9_-]{16,64}$/;
const Body = z.strictObject({ reason: z.string().trim().min(3, "reason is required (at least 3 characters): every refund is audited").max(400) });

function operatorKey(req: Request): string {
  const raw = req.get("Idempotency-Key");
  if (raw === undefined) throw new HttpError(400, "header Idempotency-Key: required (8-200 of A-Z a-z 0-9 . _ : -): a repeated request with the same key acts once", "invalid_input");
  if (!/^[A-Za-z0-9._:-]{8,200}$/.test(raw)) throw new HttpError(400, "header Idempotency-Key: 8-200 of A-Z a-z 0-9 . _ : -", "invalid_input");
  return `op:${raw}`;
}

export function prepaymentRefundJson(p: PrepaymentRefundRow): Record<string, unknown> {
  return {
    prepayment_id: p.prepaymentId, site_id: p.siteId, plate: p.plate, state: p.state, amount: p.amount, currency: p.currency,
    refund: { state: p.refundState, provider_ref: p.refundProviderRef, reason: p.refundReason, requested_by: p.refundRequestedBy, failure_reason: p.refundFailure, refunded_at: p.refundedAt?.toISOString() ?? null },
  };
}

function statusOf(r: PrepayRefundResult): number {
  if (r.providerUnavailable || r.prepayment.refundState === "requested") return 202;
  if (r.prepayment.refundState === "failed" || r.prepayment.refundState === "canceled") return 409;
  return r.replayed ? 200 : 201;
}

export function prepayRefundsRouter(d: Deps): Router {
  const router = express.Router();
  router.post(
    "/api/operator/prepayments/:id/refund",
    d.auth.require(["admin", "operator"]),
    jsonBody(d.jsonLimit),
    wrap(async (req, res) => {
      requireJson(req);
      const id = String(req.params.id);
      if (!PREPAYMENT_ID.test(id)) throw new HttpError(400, "prepayment id: pp_ followed by 16-64 of A-Z a-z 0-9 _ -", "invalid_input");
      const key = operatorKey(req);
      const body = parse(Body, req.body, "body");
      const op = req.operator as NonNullable<Request["operator"]>;
      let r: PrepayRefundResult;
      try {
        r = await refundPrepayment(d, id, { key, reason: body.reason }, { username: op.username, operatorId: op.operatorId, role: op.role, via: "api" });
      } catch (err) {
        if (err instanceof NotFoundError) throw new HttpError(404, `no prepayment ${id}`, "not_found");
        throw err;
      }
      d.wake();
      res.status(statusOf(r)).json({ ...prepaymentRefundJson(r.prepayment), replayed: r.replayed, ...(r.providerUnavailable ? { provider_unavailable: true, retry: "repeat the same request with the same Idempotency-Key" } : {}) });
    }),
  );
  return router;
}
