/**
 * An exit request that needs a payment while billing is switched off (BILLING_ENABLED=false,
 * issue 16 item 6). The session is priced as usual (the operator and the audit see what was
 * owed) but the lane is handed NO pay link: it hears `parking/payment/req` without `pay_url` (the
 * display shows the amount, no QR code), then `parking/payment/failed` reason
 * `provider_unreachable` (the display says "Paiement indispo."). The session stays
 * pending_payment, so the exit stays closed until the operator's audited override (or the site's
 * offline procedure) lets the vehicle out — seed 000 §7, "Prestataire injoignable".
 */
import type { Json, Tx } from "../db/index";
import { enqueueForSite } from "../db/site-outbox";
import { writeAudit, type AuditMode } from "../server/audit-chain";

export interface BillingOffRequest {
  siteId: string;
  sessionId: string;
  /** The lane id as the site spells it. */
  wireLane: string;
  eventId: string;
  amount: number;
  currency: string;
  durationS: number;
  label?: string;
  plate?: string;
  /** The audit fields the normal path writes (`payment.requested`). */
  common: Record<string, Json>;
}

export async function answerWithoutBilling(tx: Tx, ctx: { src: string; auditMode: AuditMode }, r: BillingOffRequest): Promise<string> {
  const now = Date.now();
  await enqueueForSite(tx, r.siteId, "paymentReq", {
    ts: now,
    src: ctx.src,
    session_id: r.sessionId,
    lane_id: r.wireLane,
    amount: r.amount,
    currency: r.currency,
    ...(r.label !== undefined ? { label: r.label } : {}),
    reason: "online payment disabled: call the operator",
    ...(r.plate !== undefined ? { plate: r.plate } : {}),
    duration: r.durationS,
  });
  await enqueueForSite(tx, r.siteId, "paymentFailed", { ts: now, src: ctx.src, session_id: r.sessionId, lane_id: r.wireLane, reason: "provider_unreachable", message: "billing disabled: call the operator" }, `billing_disabled:${r.sessionId}:${r.eventId}`);
  await writeAudit(ctx.auditMode, tx, { kind: "payment.billing_disabled", sessionId: r.sessionId, payload: { ...r.common, payment_req_ts: new Date(now).toISOString(), billing_enabled: false, pay_link: false, fallback: "operator override / site offline procedure" } });
  return "billing_disabled";
}
