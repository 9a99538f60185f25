/**
 * The payment provider out of reach while a driver starts paying (issue 16 item 7; seed 000 §7
 * "Prestataire injoignable": the cloud cannot validate, the exit stays blocked, an override is
 * possible if the site's policy allows it).
 *
 * A timeout, a refused connection, a 5xx or a 429 from Stripe is "unavailable": nothing the
 * driver or SysPark did wrong, worth trying again later. A 4xx caused by our request (bad
 * parameters, an idempotency conflict) is NOT: it stays an error of ours and is never reported
 * here. A "no such object" (404) is handled by the payment flow (a fresh attempt).
 *
 * For an unavailable provider, ONE transaction (under the session's row lock) records the
 * attempt, tells the site (`parking/payment/failed` reason `provider_unreachable`: the lane
 * display shows "Paiement indispo.", the session stays pending_payment so the exit stays
 * blocked) and writes the audit `payment.provider_unavailable` — at most once per session per
 * window, so a driver refreshing the page does not flood the lane, the audit or the table.
 */
import type { Logger } from "../../host/log";
import { lockSession, type Database, type SessionRow } from "../db/index";
import { recordProviderFailure, type ProviderErrorKind } from "../db/billing-provider";
import { enqueueForSite } from "../db/site-outbox";
import { writeAudit, type AuditMode } from "../server/audit-chain";
import { HttpError } from "./errors";
import { wireLaneOf } from "./site-events";

/** One report per session per this many seconds (audit, outbox, table). */
export const PROVIDER_REPORT_WINDOW_S = 60;

/** Why the provider is unavailable, or undefined when the error is something else (ours, a 4xx). */
export function providerUnavailableKind(err: unknown): { kind: ProviderErrorKind; statusCode?: number } | undefined {
  const e = err as { type?: unknown; statusCode?: unknown; message?: unknown; detail?: unknown } | null;
  if (!e || typeof e !== "object" || typeof e.type !== "string") return undefined;
  const status = typeof e.statusCode === "number" ? e.statusCode : undefined;
  if (e.type === "StripeConnectionError") {
    const text = `${String(e.message ?? "")} ${String((e.detail as { message?: unknown } | undefined)?.message ?? "")}`;
    const code = (e.detail as { code?: unknown } | undefined)?.code;
    return { kind: code === "ETIMEDOUT" || /timeout|timed out/i.test(text) ? "timeout" : "connection" };
  }
  if (e.type === "StripeRateLimitError" || status === 429) return { kind: "rate_limited", statusCode: 429 };
  if (e.type.startsWith("Stripe") && status !== undefined && status >= 500) return { kind: "server_error", statusCode: status };
  return undefined;
}

export function isProviderUnavailable(err: unknown): boolean {
  return providerUnavailableKind(err) !== undefined;
}

/** What the pay pages throw for an unavailable provider: 503, code `provider_unavailable`. */
export class ProviderUnavailableError extends HttpError {
  constructor(readonly kind: ProviderErrorKind) {
    super(503, "the payment provider is unavailable right now; nothing was charged. Try again in a moment or use the help button at the lane", "provider_unavailable");
  }
}

export interface ProviderOutageOptions {
  db: Database;
  logger: Logger;
  src: string;
  auditMode: AuditMode;
  wake(): void;
  /** Every unavailable call, reported or rate-limited (Prometheus). */
  onUnavailable?(step: string, kind: ProviderErrorKind): void;
  windowS?: number;
}

export class ProviderOutage {
  /** The last provider error this instance saw (any call, including health probes). */
  lastError: { at: Date; kind: ProviderErrorKind; statusCode?: number; message: string; step: string } | undefined;

  constructor(private readonly o: ProviderOutageOptions) {}

  /** Notes an unavailable provider seen outside a driver's attempt (the health probe). */
  noteError(step: string, kind: ProviderErrorKind, message: string, statusCode?: number): void {
    this.lastError = { at: new Date(), kind, message: message.slice(0, 300), step, ...(statusCode !== undefined ? { statusCode } : {}) };
  }

  /**
   * A driver's attempt found the provider unavailable: record, tell the lane, audit (once per
   * session per window). Returns true when this call reported it, false when rate-limited.
   */
  async report(session: SessionRow, step: string, err: unknown): Promise<boolean> {
    const why = providerUnavailableKind(err);
    if (!why) throw new Error("ProviderOutage.report: not a provider-unavailable error");
    const message = String((err as Error).message ?? "provider unavailable").slice(0, 300);
    this.noteError(step, why.kind, message, why.statusCode);
    this.o.onUnavailable?.(step, why.kind);
    this.o.logger.warn({ sessionId: session.sessionId, step, kind: why.kind, statusCode: why.statusCode, err: message }, "payment provider unavailable while a driver starts paying");
    const reported = await this.o.db.tx(async (tx) => {
      const s = await lockSession(tx, session.sessionId);
      const id = await recordProviderFailure(tx, { sessionId: s.sessionId, siteId: s.siteId, step, kind: why.kind, message, ...(why.statusCode !== undefined ? { statusCode: why.statusCode } : {}) }, this.o.windowS ?? PROVIDER_REPORT_WINDOW_S);
      if (id === undefined) return false;
      const lane = wireLaneOf(s);
      if (s.status === "pending_payment") {
        await enqueueForSite(tx, s.siteId, "paymentFailed", { ts: Date.now(), src: this.o.src, session_id: s.sessionId, lane_id: lane, reason: "provider_unreachable", message: "payment provider unavailable" }, `provider_unreachable:${s.sessionId}:${id}`);
      }
      await writeAudit(this.o.auditMode, tx, {
        kind: "payment.provider_unavailable",
        sessionId: s.sessionId,
        payload: { site_id: s.siteId, lane_id: lane, provider: "stripe", step, error_kind: why.kind, status_code: why.statusCode ?? null, message, amount: s.amount, currency: s.currency, session_status: s.status, lane_told: s.status === "pending_payment" },
      });
      return true;
    });
    if (reported) this.o.wake();
    return reported;
  }

  /**
   * Runs one call to the provider for a driver's session: an unavailable provider is reported
   * and becomes a ProviderUnavailableError (503); anything else is rethrown as it is.
   */
  async guard<T>(session: SessionRow, step: string, call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (err) {
      const why = providerUnavailableKind(err);
      if (!why) throw err;
      await this.report(session, step, err).catch((e: Error) => this.o.logger.error({ sessionId: session.sessionId, err: e.message }, "could not record the provider outage"));
      throw new ProviderUnavailableError(why.kind);
    }
  }
}
