/**
 * BILLING_ENABLED and the `stripe` client's patience (issue 16 items 6 and 7; seed 004
 * "toggle BILLING_ENABLED … pour découpler déploiement et activation").
 *
 * - BILLING_ENABLED (env) / billingEnabled (option): "true"/"false" (also 1/0, yes/no, on/off).
 *   Absent → ON. In production mode (SYSPARK_ENV or NODE_ENV = production, production.ts) ON
 *   needs real Stripe keys — without them production.ts refuses to start, naming both — and
 *   `false` starts with billing off and no Stripe at all (never the test emulator), so that a
 *   deployment can go live before billing does (seed 004).
 * - STRIPE_TIMEOUT_MS / stripe.timeoutMs: how long one call to the provider may take before the
 *   driver is told payment is unavailable (default 8000 ms; 100–60000).
 * - STRIPE_MAX_NETWORK_RETRIES / stripe.maxNetworkRetries: the `stripe` client's own retries of
 *   a call that failed on the network or with a 5xx (idempotency keys make them safe; 0–5).
 *   Bounded so that a driver waits at most about (retries + 1) × timeout.
 */

/** What this module reads from the resolved options (kept structural: no import of config.ts). */
interface BillingInputs {
  billingEnabled?: boolean;
  stripeMode: "emulator" | "test" | "live";
  stripe?: { secretKey?: string; apiBase?: string; timeoutMs?: number; maxNetworkRetries?: number };
}

export const DEFAULT_STRIPE_TIMEOUT_MS = 8000;

function parseBool(name: string, raw: string, fail: (m: string) => Error): boolean {
  const v = parseBillingEnabled(raw);
  if (v === undefined) throw fail(`${name} must be true or false, got "${raw}"`);
  return v;
}

/** BILLING_ENABLED's value, or undefined when unset or not a boolean (resolveBilling refuses that, naming it). */
export function parseBillingEnabled(raw: string | undefined): boolean | undefined {
  const v = (raw ?? "").trim().toLowerCase();
  if (["true", "1", "yes", "on"].includes(v)) return true;
  if (["false", "0", "no", "off"].includes(v)) return false;
  return undefined;
}

function parseInt(name: string, raw: string | undefined, given: number | undefined, min: number, max: number, fail: (m: string) => Error): number | undefined {
  let n = given;
  if (n === undefined && raw !== undefined && raw !== "") {
    if (!/^\d+$/.test(raw.trim())) throw fail(`${name} must be a whole number between ${min} and ${max}, got "${raw}"`);
    n = Number(raw.trim());
  }
  if (n === undefined) return undefined;
  if (!Number.isInteger(n) || n < min || n > max) throw fail(`${name} must be a whole number between ${min} and ${max}, got ${n}`);
  return n;
}

/**
 * BILLING_ENABLED and the client's timeout / retries, validated; every refusal names the
 * variable. `fail` builds the caller's error type (ConfigError).
 */
export function resolveBilling(o: BillingInputs, env: NodeJS.ProcessEnv, fail: (m: string) => Error): { billingEnabled: boolean; stripe: NonNullable<BillingInputs["stripe"]> } {
  const realKeys = o.stripeMode === "test" || o.stripeMode === "live";
  let enabled = o.billingEnabled;
  if (enabled === undefined && env.BILLING_ENABLED !== undefined && env.BILLING_ENABLED !== "") enabled = parseBool("BILLING_ENABLED", env.BILLING_ENABLED, fail);
  // Production without Stripe keys is refused unless BILLING_ENABLED=false says so (production.ts), so on by default.
  enabled ??= true;
  const stripe = { ...o.stripe };
  const timeoutMs = parseInt("STRIPE_TIMEOUT_MS", env.STRIPE_TIMEOUT_MS, stripe.timeoutMs, 100, 60_000, fail);
  const retries = parseInt("STRIPE_MAX_NETWORK_RETRIES", env.STRIPE_MAX_NETWORK_RETRIES, stripe.maxNetworkRetries, 0, 5, fail);
  stripe.timeoutMs = timeoutMs ?? DEFAULT_STRIPE_TIMEOUT_MS;
  stripe.maxNetworkRetries = retries ?? (realKeys ? 2 : 1);
  return { billingEnabled: enabled, stripe };
}
