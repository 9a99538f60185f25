/**
 * Prometheus metrics (prom-client), one registry per cloud instance (several may run in one
 * process in tests). Names follow the user's billing doc 004: billing_webhook_processed_total.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

export interface CloudMetrics {
  registry: Registry;
  webhookProcessed: Counter<"type" | "outcome">;
  siteEvents: Counter<"topic" | "outcome">;
  siteEventSeconds: Histogram<"topic">;
  webhookSeconds: Histogram;
  outboxPublished: Counter<"topic">;
  outboxPublishFailures: Counter;
  httpRequests: Histogram<"method" | "route" | "status">;
  /** Issue 16 items 6–7: the provider out of reach, and /billing/health's last figures. */
  providerUnavailable: Counter<"step" | "kind">;
  stripeReachable: Gauge;
  webhookLagSeconds: Gauge;
  providerUnavailableLastHour: Gauge;
}

export function createMetrics(defaults = true): CloudMetrics {
  const registry = new Registry();
  if (defaults) collectDefaultMetrics({ register: registry, prefix: "syspark_cloud_" });
  return {
    registry,
    webhookProcessed: new Counter({ name: "billing_webhook_processed_total", help: "Stripe webhook events by type and outcome (paid, failed, duplicate, ignored, bad_signature, error…)", labelNames: ["type", "outcome"], registers: [registry] }),
    siteEvents: new Counter({ name: "syspark_site_events_total", help: "Site → cloud MQTT events by topic and outcome", labelNames: ["topic", "outcome"], registers: [registry] }),
    siteEventSeconds: new Histogram({ name: "syspark_site_event_duration_seconds", help: "Time to handle a site event (its transaction, retries included)", labelNames: ["topic"], buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5], registers: [registry] }),
    webhookSeconds: new Histogram({ name: "billing_webhook_duration_seconds", help: "Time to verify and process a Stripe webhook", buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5], registers: [registry] }),
    outboxPublished: new Counter({ name: "syspark_outbox_published_total", help: "Outbox rows published (PUBACK received) by topic", labelNames: ["topic"], registers: [registry] }),
    outboxPublishFailures: new Counter({ name: "syspark_outbox_publish_failures_total", help: "Outbox publishes that failed and were released for retry", registers: [registry] }),
    providerUnavailable: new Counter({ name: "billing_provider_unavailable_total", help: "Calls to the payment provider that found it unavailable (timeout, connection, 5xx, 429) while a driver paid, by step and kind", labelNames: ["step", "kind"], registers: [registry] }),
    stripeReachable: new Gauge({ name: "billing_stripe_reachable", help: "1 when the last /billing/health probe reached the payment provider, else 0", registers: [registry] }),
    webhookLagSeconds: new Gauge({ name: "billing_webhook_lag_seconds", help: "now - created time of the newest processed provider event, at the last /billing/health", registers: [registry] }),
    providerUnavailableLastHour: new Gauge({ name: "billing_provider_unavailable_last_hour", help: "Drivers' attempts that found the provider unavailable in the last hour, at the last /billing/health", registers: [registry] }),
    httpRequests: new Histogram({ name: "syspark_http_request_duration_seconds", help: "HTTP requests", labelNames: ["method", "route", "status"], buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5], registers: [registry] }),
  };
}
