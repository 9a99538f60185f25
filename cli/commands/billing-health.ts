/**
 * `syspark billing health [--url <cloud>] [--json]`: GET /billing/health of a running cloud,
 * printed for a person (or raw JSON with --json). Exit code 0 when billing is ok or deliberately
 * disabled, 1 when it is degraded (Stripe out of reach) or the cloud does not answer.
 *
 * The `billing` command group is shared with the other billing subcommands (smoke, refunds…):
 * this file finds it or creates it, so the files register in any order.
 */
import type { Command } from "commander";

interface Health {
  status: string;
  billing_enabled: boolean;
  mode: string;
  stripe: { reachable: boolean; checked_at: string; latency_ms: number; cached: boolean; error: { kind: string; message: string } | null };
  webhooks: { lag_s: number | null; last_event: { id: string; type: string; created_at: string | null; processed_at: string } | null; failed: number; unprocessed: number };
  outbox: { pending: number; oldest: string | null };
  refunds: Record<string, number> | null;
  provider: { unavailable_last_hour: number; last_error: { at: string; step: string; kind: string; status_code: number | null; message: string } | null };
}

export function formatBillingHealth(url: string, h: Health & { error?: string }): string {
  if (!h.stripe) return `billing at ${url}: ${String(h.status).toUpperCase()}${h.error ? ` — ${h.error}` : ""}`;
  const lines = [
    `billing at ${url}: ${h.status.toUpperCase()}`,
    `  enabled            ${h.billing_enabled ? "yes" : "no (BILLING_ENABLED=false: pay routes answer 503)"}`,
    `  mode               ${h.mode}${h.mode === "emulator" ? " (Stripe TEST EMULATOR, not Stripe)" : ""}`,
    `  stripe reachable   ${h.stripe.reachable ? "yes" : "NO"} (${h.stripe.latency_ms} ms, checked ${h.stripe.checked_at}${h.stripe.cached ? ", cached" : ""})${h.stripe.error ? ` — ${h.stripe.error.kind}: ${h.stripe.error.message}` : ""}`,
    `  webhook lag        ${h.webhooks.lag_s === null ? "no event processed yet" : `${h.webhooks.lag_s} s`}`,
    `  last event         ${h.webhooks.last_event ? `${h.webhooks.last_event.id} ${h.webhooks.last_event.type} (created ${h.webhooks.last_event.created_at ?? "?"}, processed ${h.webhooks.last_event.processed_at})` : "none"}`,
    `  events failed      ${h.webhooks.failed} (unprocessed ${h.webhooks.unprocessed})`,
    `  outbox pending     ${h.outbox.pending}${h.outbox.oldest ? ` (oldest ${h.outbox.oldest})` : ""}`,
    `  refunds            ${h.refunds === null ? "not tracked" : Object.entries(h.refunds).map(([k, v]) => `${k} ${v}`).join(", ") || "none"}`,
    `  provider down      ${h.provider.unavailable_last_hour} attempt(s) in the last hour`,
    `  last provider error ${h.provider.last_error ? `${h.provider.last_error.at} ${h.provider.last_error.step} ${h.provider.last_error.kind}${h.provider.last_error.status_code ? ` ${h.provider.last_error.status_code}` : ""}: ${h.provider.last_error.message}` : "none"}`,
  ];
  return lines.join("\n");
}

export function register(program: Command): void {
  const billing = program.commands.find((c) => c.name() === "billing") ?? program.command("billing").description("billing: health, smoke test, refunds");
  billing
    .command("health")
    .description("print GET /billing/health of a running cloud: Stripe reachability, webhook lag, last event, outbox, refunds, provider errors")
    .option("--url <url>", "the cloud's base URL (env SYSPARK_CLOUD_URL; default http://127.0.0.1:18090)")
    .option("--json", "print the JSON as the cloud answered it")
    .option("--timeout-ms <ms>", "give up after this long", (v: string) => {
      if (!/^\d+$/.test(v) || Number(v) < 100 || Number(v) > 120_000) throw new Error(`--timeout-ms must be a whole number between 100 and 120000, got "${v}"`);
      return Number(v);
    }, 15_000)
    .action(async (opts: { url?: string; json?: boolean; timeoutMs: number }) => {
      const base = (opts.url ?? process.env.SYSPARK_CLOUD_URL ?? "http://127.0.0.1:18090").replace(/\/+$/, "");
      let parsed: URL;
      try {
        parsed = new URL(base);
        if (parsed.protocol !== "http:" && parsed.protocol !== "https:") throw new Error("protocol");
      } catch {
        throw new Error(`--url must be an http:// or https:// URL, got "${base}"`);
      }
      let r: Response;
      try {
        r = await fetch(`${base}/billing/health`, { headers: { Accept: "application/json" }, signal: AbortSignal.timeout(opts.timeoutMs) });
      } catch (err) {
        throw new Error(`no answer from the cloud at ${base}: ${(err as Error).message}`, { cause: err });
      }
      const text = await r.text();
      let h: Health;
      try {
        h = JSON.parse(text) as Health;
      } catch {
        throw new Error(`${base}/billing/health answered ${r.status} with something that is not JSON (is this a SysPark cloud?)`);
      }
      console.log(opts.json ? JSON.stringify(h, null, 2) : formatBillingHealth(base, h));
      if (h.status === "degraded" || (r.status >= 400 && h.status !== "disabled")) process.exitCode = 1;
    });
}
