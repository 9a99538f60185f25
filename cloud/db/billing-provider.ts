/**
 * The payment provider out of reach (issue 16 item 7), as the database keeps it: one row per
 * driver's attempt that found Stripe unreachable, at most one per session per window, and the
 * figures GET /billing/health reads (webhook lag, the last event, failed events, refunds).
 */
import type { Q, Tx } from "./types";

export type ProviderErrorKind = "timeout" | "connection" | "server_error" | "rate_limited";

export interface ProviderFailureInput {
  sessionId: string;
  siteId: string;
  /** Where the driver was: `intent`, `checkout`, `pay_page`… */
  step: string;
  kind: ProviderErrorKind;
  statusCode?: number;
  message: string;
}

/**
 * Records the attempt unless the same session already has one within `windowS` seconds (a
 * driver refreshing the page, or several instances hearing the same refresh). The caller holds
 * the session's row lock, so two concurrent attempts cannot both pass the check. Returns the new
 * row's id, or undefined when it was rate-limited.
 */
export async function recordProviderFailure(tx: Tx, f: ProviderFailureInput, windowS: number): Promise<number | undefined> {
  const recent = await tx`SELECT 1 FROM billing_provider_failures WHERE session_id = ${f.sessionId} AND at > now() - make_interval(secs => ${windowS}::float8) LIMIT 1`;
  if (recent.length > 0) return undefined;
  const [row] = await tx<{ id: number }[]>`
    INSERT INTO billing_provider_failures (session_id, site_id, step, error_kind, status_code, message)
    VALUES (${f.sessionId}, ${f.siteId}, ${f.step}, ${f.kind}, ${f.statusCode ?? null}, ${f.message.slice(0, 300)})
    RETURNING id`;
  return row.id;
}

export interface ProviderFailureSummary {
  lastHour: number;
  last: { at: Date; sessionId: string; step: string; kind: ProviderErrorKind; statusCode: number | null; message: string } | null;
}

export async function providerFailureSummary(q: Q): Promise<ProviderFailureSummary> {
  const [{ n }] = await q<{ n: number }[]>`SELECT count(*)::int4 AS n FROM billing_provider_failures WHERE at > now() - interval '1 hour'`;
  const [last] = await q<{ at: Date; sessionId: string; step: string; errorKind: ProviderErrorKind; statusCode: number | null; message: string }[]>`
    SELECT at, session_id, step, error_kind, status_code, message FROM billing_provider_failures ORDER BY at DESC, id DESC LIMIT 1`;
  return { lastHour: n, last: last ? { at: last.at, sessionId: last.sessionId, step: last.step, kind: last.errorKind, statusCode: last.statusCode, message: last.message } : null };
}

export interface WebhookHealth {
  /** The newest processed event: its id, type, Stripe `created` time and when we processed it. */
  lastProcessed: { eventId: string; type: string; createdAt: Date | null; processedAt: Date } | null;
  /** The newest event recorded, whatever its status. */
  lastReceived: { eventId: string; type: string; status: string; receivedAt: Date } | null;
  /** Events recorded whose processing failed (Stripe retries them). */
  failed: number;
  /** Recorded, not processed yet (in flight or interrupted). */
  received: number;
}

export async function webhookHealth(q: Q, provider = "stripe"): Promise<WebhookHealth> {
  const [p] = await q<{ eventId: string; type: string; created: string | null; processedAt: Date }[]>`
    SELECT event_id, type, payload->>'created' AS created, processed_at FROM webhook_events
    WHERE provider = ${provider} AND status = 'processed' AND processed_at IS NOT NULL ORDER BY processed_at DESC LIMIT 1`;
  const [r] = await q<{ eventId: string; type: string; status: string; receivedAt: Date }[]>`
    SELECT event_id, type, status, received_at FROM webhook_events WHERE provider = ${provider} ORDER BY received_at DESC LIMIT 1`;
  const counts = await q<{ status: string; n: number }[]>`
    SELECT status, count(*)::int4 AS n FROM webhook_events WHERE provider = ${provider} AND status IN ('failed', 'received') GROUP BY status`;
  const created = p?.created && /^\d+$/.test(p.created) ? new Date(Number(p.created) * 1000) : null;
  return {
    lastProcessed: p ? { eventId: p.eventId, type: p.type, createdAt: created, processedAt: p.processedAt } : null,
    lastReceived: r ?? null,
    failed: counts.find((c) => c.status === "failed")?.n ?? 0,
    received: counts.find((c) => c.status === "received")?.n ?? 0,
  };
}

/**
 * Refunds by state. Refunds live in the table another part of issue 16 adds (`refunds`, with a
 * `state` column); until it exists the answer is null ("not tracked"), never an error.
 */
export async function refundCounts(q: Q): Promise<Record<string, number> | null> {
  const [t] = await q<{ ok: boolean }[]>`
    SELECT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = 'refunds' AND column_name = 'state') AS ok`;
  if (!t.ok) return null;
  const rows = await q<{ state: string; n: number }[]>`SELECT state, count(*)::int4 AS n FROM refunds GROUP BY state`;
  const out: Record<string, number> = {};
  for (const r of rows) out[r.state] = r.n;
  return out;
}

