/**
 * The operators' refund API (issue 16), same conventions as operator.ts: Bearer token or the
 * cookie, zod strict bodies refused with the field named, JSON under /api/.
 * - `POST /api/operator/refunds` {payment_id | session_id, amount?, reason} with an
 *   Idempotency-Key header (required: a repeated request acts once). Admins and operators only.
 *   201 refunded (or pending at the provider), 200 a replay, 202 recorded but the provider is
 *   unreachable (repeat the same request), 409 refused by the provider.
 * - `POST /api/operator/sessions/:id/refund-late` {reason}: refunds the session's late payments.
 * - `GET /api/operator/sessions/:id/refunds`: the session's payments, their refund status and refunds.
 */
import express, { type Request, type Response, type Router } from "express";
import { z } from "zod";
import { getSession, listPayments, listRefundsOfSession, type PaymentRow, type RefundRow } from "../db/index";
import { HttpError } from "../flows/errors";
import { listCreditNotesOfSession, type DocumentRow } from "../billing/documents";
import type { RefundActor } from "../flows/refund-effects";
import { notFoundAs, refundLatePayments, requestRefund, type RefundResult } from "../flows/refunds";
import type { AppDeps } from "./deps";
import { jsonBody, parse, requireJson, wrap } from "./input";

type RefundDeps = Pick<AppDeps, "db" | "logger" | "auth" | "stripe" | "jsonLimit" | "auditMode" | "wake">;

const ID = /^[A-Za-z0-9_-]{1,64}$/;
const Reason = z.string().trim().min(3, "reason is required (at least 3 characters): every refund is audited").max(400);
const RefundBody = z.strictObject({
  payment_id: z.string().regex(ID, "payment_id: 1-64 of A-Z a-z 0-9 _ -").optional(),
  session_id: z.string().regex(ID, "session_id: 1-64 of A-Z a-z 0-9 _ -").optional(),
  amount: z.union([z.number(), z.string().max(16)]).optional(),
  reason: Reason,
});
const LateBody = z.strictObject({ reason: Reason });

/** The operator's Idempotency-Key, scoped so that it cannot collide with the cloud's own keys. */
function idempotencyKey(req: Request): string {
  const raw = req.get("Idempotency-Key");
  if (raw === undefined) throw new HttpError(400, "header Idempotency-Key: required (8-200 of A-Z a-z 0-9 . _ : -): a repeated request with the same key acts once", "invalid_input");
  if (!/^[A-Za-z0-9._:-]{8,200}$/.test(raw)) throw new HttpError(400, "header Idempotency-Key: 8-200 of A-Z a-z 0-9 . _ : -", "invalid_input");
  return `op:${raw}`;
}

function actorOf(req: Request): RefundActor {
  const op = req.operator as NonNullable<Request["operator"]>;
  return { username: op.username, operatorId: op.operatorId, role: op.role, via: "api" };
}

export function refundJson(r: RefundRow): Record<string, unknown> {
  return {
    refund_id: r.refundId,
    payment_id: r.paymentId,
    provider_ref: r.providerRef,
    amount: r.amount,
    currency: r.currency,
    state: r.state,
    source: r.source,
    reason: r.reason,
    requested_by: r.requestedBy,
    failure_reason: r.failureReason,
    created_at: r.createdAt.toISOString(),
  };
}

export function paymentRefundJson(p: PaymentRow): Record<string, unknown> {
  return { payment_id: p.paymentId, state: p.state, amount: p.amount, currency: p.currency, refunded_amount: p.refundedAmount, refund_status: p.refundStatus, provider_ref: p.providerRef };
}

function statusOf(r: RefundResult): number {
  if (r.refund.state === "failed" || r.refund.state === "canceled") return 409;
  if (r.providerUnavailable || r.refund.state === "requested") return 202;
  return r.replayed ? 200 : 201;
}

function resultJson(r: RefundResult): Record<string, unknown> {
  return { refund: refundJson(r.refund), payment: paymentRefundJson(r.payment), replayed: r.replayed, ...(r.providerUnavailable ? { provider_unavailable: true, retry: "repeat the same request with the same Idempotency-Key" } : {}) };
}

/** The order's refund status (seed 004): REFUNDED when every paid payment is fully refunded, PARTIALLY_REFUNDED when some money went back. */
export function orderRefundStatus(payments: PaymentRow[]): "none" | "partial" | "full" {
  const paid = payments.filter((p) => p.state === "paid");
  if (paid.length === 0 || paid.every((p) => p.refundStatus === "none")) return "none";
  return paid.every((p) => p.refundStatus === "full") ? "full" : "partial";
}

async function postRefund(d: RefundDeps, req: Request, res: Response): Promise<void> {
  requireJson(req);
  const key = idempotencyKey(req);
  const body = parse(RefundBody, req.body, "body");
  const r = await requestRefund(d, { ...(body.payment_id ? { paymentId: body.payment_id } : {}), ...(body.session_id ? { sessionId: body.session_id } : {}), ...(body.amount !== undefined ? { amount: body.amount } : {}), reason: body.reason, key }, actorOf(req));
  d.wake();
  res.status(statusOf(r)).json(resultJson(r));
}

async function postRefundLate(d: RefundDeps, req: Request, res: Response): Promise<void> {
  requireJson(req);
  const sessionId = String(req.params.id);
  if (!ID.test(sessionId)) throw new HttpError(400, "session id: 1-64 of A-Z a-z 0-9 _ -", "invalid_input");
  const body = parse(LateBody, req.body, "body");
  await getSession(d.db.sql, sessionId).catch(notFoundAs(`no session ${sessionId}`));
  const rs = await refundLatePayments(d, sessionId, body.reason, actorOf(req));
  d.wake();
  const status = rs.some((r) => r.refund.state === "failed" || r.refund.state === "canceled") ? 409 : rs.some((r) => r.providerUnavailable || r.refund.state === "requested") ? 202 : rs.every((r) => r.replayed) ? 200 : 201;
  res.status(status).json({ session_id: sessionId, refunds: rs.map(resultJson) });
}

/** A refund's credit note, with the operators' links to its page and its PDF (cloud/http/documents.ts). */
function creditNoteJson(doc: DocumentRow): Record<string, unknown> {
  const base = `/api/operator/documents/${doc.documentId}`;
  return { document_id: doc.documentId, number: doc.number, refund_id: doc.refundId, payment_id: doc.paymentId, issued_at: doc.issuedAt.toISOString(), currency: doc.currency, total_ttc: doc.totalTtc, total_ht: doc.totalHt, total_vat: doc.totalVat, html_url: `${base}.html`, pdf_url: `${base}.pdf`, json_url: base };
}

export function refundsRouter(d: RefundDeps): Router {
  const router = express.Router();
  const who = d.auth.require(["admin", "operator"]);
  router.post("/api/operator/refunds", who, jsonBody(d.jsonLimit), wrap((req, res) => postRefund(d, req, res)));
  router.post("/api/operator/sessions/:id/refund-late", who, jsonBody(d.jsonLimit), wrap((req, res) => postRefundLate(d, req, res)));
  router.get(
    "/api/operator/sessions/:id/refunds",
    d.auth.require(),
    wrap(async (req, res) => {
      const sessionId = String(req.params.id);
      if (!ID.test(sessionId)) throw new HttpError(400, "session id: 1-64 of A-Z a-z 0-9 _ -", "invalid_input");
      const session = await getSession(d.db.sql, sessionId).catch(notFoundAs(`no session ${sessionId}`));
      const payments = await listPayments(d.db.sql, sessionId);
      res.json({ session_id: sessionId, status: session.status, refund_status: orderRefundStatus(payments), payments: payments.map(paymentRefundJson), refunds: (await listRefundsOfSession(d.db.sql, sessionId)).map(refundJson), credit_notes: (await listCreditNotesOfSession(d.db.sql, sessionId)).map(creditNoteJson) });
    }),
  );
  return router;
}
