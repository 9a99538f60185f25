/**
 * GET /billing/health (issue 16 item 6; seed 004 "endpoint /billing/health/ enrichi"): is billing
 * able to take a payment right now, and is it keeping up with Stripe. Every field of the answer:
 *
 * - `status`: "ok" (billing enabled, Stripe reachable), "degraded" (enabled but Stripe not
 *   reachable: drivers get the "payment unavailable" page), "disabled" (BILLING_ENABLED=false).
 * - `billing_enabled`: BILLING_ENABLED as resolved at start.
 * - `mode`: "emulator" (the Stripe TEST EMULATOR, not Stripe), "test" or "live" (Stripe's modes).
 * - `stripe.reachable`: the last probe — one cheap real API call (`GET /v1/events?limit=1`) with
 *   a short timeout and no retry — answered. `stripe.checked_at`: when that probe ran;
 *   `stripe.latency_ms`: how long it took; `stripe.cached`: true when this answer reused a probe
 *   younger than the cache period (a few seconds: the endpoint cannot hammer the provider);
 *   `stripe.error`: the probe's failure (`kind`: timeout / connection / server_error /
 *   rate_limited / other, `message`), or null.
 * - `webhooks.lag_s`: now − Stripe's `created` time of the newest PROCESSED event (how old the
 *   freshest news from Stripe is; null before the first event). `webhooks.last_event`: that
 *   event's `id`, `type`, `created_at` (Stripe's) and `processed_at` (ours).
 *   `webhooks.last_received`: the newest event recorded whatever its outcome (`status`).
 *   `webhooks.failed`: events recorded whose processing failed (Stripe retries them);
 *   `webhooks.unprocessed`: recorded, not processed yet.
 * - `outbox.pending`: messages for the sites not yet published; `outbox.oldest`: the oldest's time.
 * - `refunds`: refunds by state (`{ state: count }`), or null when refunds are not tracked here.
 * - `provider.unavailable_last_hour`: drivers' attempts that found the provider unavailable in
 *   the last hour (at most one per session per minute: cloud/flows/provider-outage.ts).
 *   `provider.last_error`: the newest provider error seen — by a driver's attempt (recorded) or
 *   by this instance's probe — with `at`, `step`, `kind`, `status_code`, `message`.
 * - `checked_at`: when this answer was computed.
 */
import type Stripe from "stripe";
import { outboxBacklog, type Database } from "../db/index";
import { providerFailureSummary, refundCounts, webhookHealth } from "../db/billing-provider";
import { providerUnavailableKind, type ProviderOutage } from "./provider-outage";

type Mode = "emulator" | "test" | "live";

export interface BillingHealthOptions {
  db: Database;
  stripe: Stripe;
  mode: Mode;
  billingEnabled: boolean;
  outage: ProviderOutage;
  /** The probe's timeout (ms, default 3000). */
  probeTimeoutMs?: number;
  /** How long a probe's answer is reused (ms, default 5000). */
  cacheMs?: number;
  /** Prometheus gauges, set on each computation. */
  gauges?: { reachable(v: number): void; webhookLagS(v: number): void; unavailableLastHour(v: number): void };
}

export interface StripeProbe {
  reachable: boolean;
  checkedAt: Date;
  latencyMs: number;
  error: { kind: string; message: string } | null;
}

export class BillingHealth {
  private last: StripeProbe | undefined;
  private inFlight: Promise<StripeProbe> | undefined;

  constructor(private readonly o: BillingHealthOptions) {}

  /** The provider's reachability, probed at most once per cache period (concurrent callers share one probe). */
  async probe(): Promise<{ probe: StripeProbe; cached: boolean }> {
    const fresh = this.last && Date.now() - this.last.checkedAt.getTime() < (this.o.cacheMs ?? 5000);
    if (fresh && this.last) return { probe: this.last, cached: true };
    this.inFlight ??= this.runProbe().finally(() => (this.inFlight = undefined));
    return { probe: await this.inFlight, cached: false };
  }

  private async runProbe(): Promise<StripeProbe> {
    const started = Date.now();
    let error: StripeProbe["error"] = null;
    try {
      await this.o.stripe.events.list({ limit: 1 }, { timeout: this.o.probeTimeoutMs ?? 3000, maxNetworkRetries: 0 });
    } catch (err) {
      const why = providerUnavailableKind(err);
      const message = String((err as Error).message ?? err).slice(0, 300);
      error = { kind: why?.kind ?? "other", message };
      if (why) this.o.outage.noteError("health_probe", why.kind, message, why.statusCode);
    }
    this.last = { reachable: error === null, checkedAt: new Date(started), latencyMs: Date.now() - started, error };
    return this.last;
  }

  /** The whole answer (see the header for every field) and whether billing can take payments. */
  async report(): Promise<{ ok: boolean; body: Record<string, unknown> }> {
    const { probe, cached } = await this.probe();
    const { db } = this.o;
    const [wh, backlog, refunds, failures] = await Promise.all([webhookHealth(db.sql), outboxBacklog(db.sql), refundCounts(db.sql), providerFailureSummary(db.sql)]);
    const now = Date.now();
    const createdAt = wh.lastProcessed?.createdAt ?? null;
    const lagS = createdAt ? Math.max(0, Math.round((now - createdAt.getTime()) / 1000)) : null;
    const mine = this.o.outage.lastError;
    const recorded = failures.last;
    const lastError =
      mine && (!recorded || mine.at.getTime() >= recorded.at.getTime())
        ? { at: mine.at.toISOString(), step: mine.step, kind: mine.kind, status_code: mine.statusCode ?? null, message: mine.message }
        : recorded
          ? { at: recorded.at.toISOString(), step: recorded.step, kind: recorded.kind, status_code: recorded.statusCode, message: recorded.message }
          : null;
    this.o.gauges?.reachable(probe.reachable ? 1 : 0);
    if (lagS !== null) this.o.gauges?.webhookLagS(lagS);
    this.o.gauges?.unavailableLastHour(failures.lastHour);
    const ok = this.o.billingEnabled && probe.reachable;
    return {
      ok: ok || !this.o.billingEnabled,
      body: {
        status: !this.o.billingEnabled ? "disabled" : ok ? "ok" : "degraded",
        billing_enabled: this.o.billingEnabled,
        mode: this.o.mode,
        stripe: { reachable: probe.reachable, checked_at: probe.checkedAt.toISOString(), latency_ms: probe.latencyMs, cached, error: probe.error },
        webhooks: {
          lag_s: lagS,
          last_event: wh.lastProcessed ? { id: wh.lastProcessed.eventId, type: wh.lastProcessed.type, created_at: createdAt?.toISOString() ?? null, processed_at: wh.lastProcessed.processedAt.toISOString() } : null,
          last_received: wh.lastReceived ? { id: wh.lastReceived.eventId, type: wh.lastReceived.type, status: wh.lastReceived.status, received_at: wh.lastReceived.receivedAt.toISOString() } : null,
          failed: wh.failed,
          unprocessed: wh.received,
        },
        outbox: { pending: backlog.pending, oldest: backlog.oldest?.toISOString() ?? null },
        refunds,
        provider: { unavailable_last_hour: failures.lastHour, last_error: lastError },
        checked_at: new Date(now).toISOString(),
      },
    };
  }
}
