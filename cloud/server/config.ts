/**
 * Cloud configuration: options passed to startCloud, completed from the environment
 * (ARCHITECTURE §7: secrets only from the environment, never logged; production refuses to
 * start with a missing secret instead of falling back silently).
 *
 * | env                    | option          | absent →                                        |
 * |------------------------|-----------------|-------------------------------------------------|
 * | DATABASE_URL           | databaseUrl     | embedded PGlite under dataDir (or in memory)    |
 * | MQTT_URL               | mqttUrl         | in-process aedes broker on mqttPort (18883)     |
 * | STRIPE_SECRET_KEY      | stripe.secretKey| local Stripe TEST EMULATOR (both absent)        |
 * | STRIPE_WEBHOOK_SECRET  | stripe.webhookSecret                                              |
 * | STRIPE_PUBLISHABLE_KEY | stripe.publishableKey (Payment Element; without it → Checkout)   |
 * | STRIPE_API_BASE        | stripe.apiBase  | (with both STRIPE_* test values) a Stripe test emulator in its own process |
 * | PUBLIC_BASE_URL        | publicBaseUrl   | http://127.0.0.1:<port>                          |
 * | PORT                   | port            | 18090                                           |
 * | SYSPARK_AUTH_SECRET    | authSecret      | random per process (tokens die with the process)|
 * | SYSPARK_ACL_HMAC_KEY   | aclHmacKey      | offline access lists disabled (routes → 503)    |
 * | BILLING_ENABLED        | billingEnabled  | on, except in production (NODE_ENV=production) without real Stripe keys |
 * | STRIPE_TIMEOUT_MS      | stripe.timeoutMs| 8000 (each call to the provider; see billing-config.ts) |
 * | STRIPE_MAX_NETWORK_RETRIES | stripe.maxNetworkRetries | 1 (emulator) / 2 (Stripe), at most 5 |
 */
import { z } from "zod";
import { resolveBilling } from "./billing-config";

export const DEFAULT_HTTP_PORT = 18090;
/** In-process broker port: never 1883 (a real broker may run there). */
export const DEFAULT_EMBEDDED_MQTT_PORT = 18883;

export type StripeMode = "emulator" | "test" | "live";

export interface StripeOptions {
  secretKey?: string;
  webhookSecret?: string;
  publishableKey?: string;
  /**
   * A Stripe TEST EMULATOR running in its own process (`syspark stripe-emulator`), e.g.
   * http://127.0.0.1:12111: the real `stripe` client is pointed at it (host/port/protocol). It
   * outlives a killed cloud, as Stripe does. Needs STRIPE_SECRET_KEY (sk_test_, the emulator's
   * --api-key) and STRIPE_WEBHOOK_SECRET (its --webhook-secret); a live key is refused.
   */
  apiBase?: string;
  /** In-process emulator only: where it keeps its state (default: `<dataDir>-stripe-emulator` with a dataDir, else in memory). */
  emulatorStateDir?: string;
  /** Emulator only: its TCP port (0 = free port). */
  emulatorPort?: number;
  /** Emulator only: webhook retry policy override (tests). */
  emulatorWebhookRetry?: { attempts?: number; initialDelayMs?: number; maxDelayMs?: number; timeoutMs?: number };
  /** Signature tolerance in seconds (default 300, like Stripe's libraries). */
  toleranceS?: number;
  /** Each call to the provider gives up after this long (ms; STRIPE_TIMEOUT_MS; default 8000). */
  timeoutMs?: number;
  /** The `stripe` client's retries of a failed call (STRIPE_MAX_NETWORK_RETRIES; 0–5). */
  maxNetworkRetries?: number;
  /** GET /billing/health reuses a reachability probe this long (ms, default 5000; tests lower it). */
  healthProbeCacheMs?: number;
}

export interface CloudOptions {
  databaseUrl?: string;
  /** PGlite data directory; absent (and no databaseUrl) → in memory. */
  dataDir?: string;
  /** PGlite template cache (see cloud/db connect.ts). */
  pgliteTemplateDir?: string;
  /** PostgreSQL schema (tests). */
  dbSchema?: string;
  dbCreateSchema?: boolean;
  dbPoolMax?: number;
  mqttUrl?: string;
  mqttUsername?: string;
  mqttPassword?: string;
  /** "auto" tries MQTT v5 (shared subscriptions) then falls back to 3.1.1. */
  mqttProtocol?: "auto" | 5 | 4;
  /** Embedded broker port (default 18883; 0 = free port). */
  mqttPort?: number;
  /** Consumer connections (v5 shared subscriptions only; default 1, aedes always 1). */
  mqttConsumers?: number;
  port?: number;
  host?: string;
  publicBaseUrl?: string;
  stripe?: StripeOptions;
  authSecret?: string;
  /** Signs the sites' access lists (parking/acl/*); the gateways verify with the same key. Absent → access lists disabled. */
  aclHmacKey?: string;
  /** Seed the demo site (paris-centre, lane L1, example tariff). Default: on embedded database. */
  seedDemo?: boolean;
  /** Create a first admin when no operator exists. Default: on embedded database. */
  createFirstAdmin?: boolean;
  /** Return page: retrieve the PaymentIntent server-side and apply it (default true). */
  retrieveOnReturn?: boolean;
  /** Outbox relay poll period when idle (ms, default 250). Commits wake it at once; the poll catches other instances' commits. */
  relayPollMs?: number;
  /** Audit chaining pass period when idle (ms, default 200). Queued rows wake it; the period catches other instances' rows. */
  auditChainPeriodMs?: number;
  /** Receipt worker poll period when idle (ms, default 1000); commits wake it. */
  receiptPollMs?: number;
  /** Refund sweep period, and the age of a `requested` refund it drives again (ms, default 60 000). */
  refundSweepMs?: number;
  /** Run the receipt worker (default true; a test turns it off to stand for a crash before the receipt). */
  receiptWorker?: boolean;
  /** Max JSON body (bytes, default 16 KiB). */
  jsonLimit?: number;
  /** scrypt cost for operator passwords (tests lower it; default N=2^15, r=8, p=1). */
  scryptCost?: { N: number; r: number; p: number };
  instanceId?: string;
  /** BILLING_ENABLED: the pay routes and pay links (see billing-config.ts). */
  billingEnabled?: boolean;
}

export class ConfigError extends Error {
  override readonly name = "ConfigError";
}

const urlLike = (name: string, protocols: string[]) =>
  z.string().refine((s) => {
    try {
      return protocols.includes(new URL(s).protocol);
    } catch {
      return false;
    }
  }, `${name} must be a URL starting with ${protocols.map((p) => `${p}//`).join(" or ")}`);

/** Options with the environment filled in, validated. Throws ConfigError with a precise message. */
export function resolveOptions(opts: CloudOptions, env: NodeJS.ProcessEnv = process.env): CloudOptions & { stripeMode: StripeMode; billingEnabled: boolean } {
  const o = resolveCoreOptions(opts, env);
  return { ...o, ...resolveBilling(o, env, (m) => new ConfigError(m)) };
}

function resolveCoreOptions(opts: CloudOptions, env: NodeJS.ProcessEnv): CloudOptions & { stripeMode: StripeMode } {
  const o: CloudOptions = { ...opts, stripe: { ...opts.stripe } };
  const s = o.stripe as StripeOptions;
  o.databaseUrl ??= env.DATABASE_URL || undefined;
  o.mqttUrl ??= env.MQTT_URL || undefined;
  o.mqttUsername ??= env.MQTT_USERNAME || undefined;
  o.mqttPassword ??= env.MQTT_PASSWORD || undefined;
  s.secretKey ??= env.STRIPE_SECRET_KEY || undefined;
  s.webhookSecret ??= env.STRIPE_WEBHOOK_SECRET || undefined;
  s.publishableKey ??= env.STRIPE_PUBLISHABLE_KEY || undefined;
  s.apiBase ??= env.STRIPE_API_BASE || undefined;
  o.publicBaseUrl ??= env.PUBLIC_BASE_URL || undefined;
  o.authSecret ??= env.SYSPARK_AUTH_SECRET || undefined;
  o.aclHmacKey ??= env.SYSPARK_ACL_HMAC_KEY || undefined;
  if (o.port === undefined && env.PORT) {
    if (!/^\d+$/.test(env.PORT) || Number(env.PORT) > 65535) throw new ConfigError(`PORT must be a TCP port number (0–65535), got "${env.PORT}"`);
    o.port = Number(env.PORT);
  }
  o.port ??= DEFAULT_HTTP_PORT;
  if (o.mqttUrl !== undefined) {
    const r = urlLike("MQTT_URL", ["mqtt:", "mqtts:", "tcp:", "ssl:", "ws:", "wss:"]).safeParse(o.mqttUrl);
    if (!r.success) throw new ConfigError(r.error.issues[0].message);
  }
  if (o.publicBaseUrl !== undefined) {
    const r = urlLike("PUBLIC_BASE_URL", ["http:", "https:"]).safeParse(o.publicBaseUrl);
    if (!r.success) throw new ConfigError(r.error.issues[0].message);
    o.publicBaseUrl = o.publicBaseUrl.replace(/\/+$/, "");
    if (o.publicBaseUrl.length > 120) throw new ConfigError("PUBLIC_BASE_URL is too long (max 120 characters: pay_url must fit in 200)");
  }
  if (o.authSecret !== undefined && o.authSecret.length < 32) throw new ConfigError("SYSPARK_AUTH_SECRET must be at least 32 characters");
  if (o.aclHmacKey !== undefined && o.aclHmacKey.length < 16) throw new ConfigError("SYSPARK_ACL_HMAC_KEY must be at least 16 characters (e.g. openssl rand -hex 32), the same on the cloud and the site gateways");

  let stripeMode: StripeMode;
  const key = s.secretKey;
  const whsec = s.webhookSecret;
  if (s.apiBase !== undefined) return { ...o, stripeMode: externalEmulator(s) };
  if (key === undefined && whsec === undefined) {
    stripeMode = "emulator";
  } else if (key === undefined) {
    throw new ConfigError("STRIPE_WEBHOOK_SECRET is set but STRIPE_SECRET_KEY is not: set both to use Stripe, or neither to use the local Stripe test emulator");
  } else if (whsec === undefined) {
    if (key.startsWith("sk_live_") || key.startsWith("rk_live_")) {
      throw new ConfigError("refusing to start: STRIPE_SECRET_KEY is a LIVE key but STRIPE_WEBHOOK_SECRET is not set — without it no payment can be verified. Set STRIPE_WEBHOOK_SECRET (whsec_…) from the Stripe dashboard");
    }
    throw new ConfigError("STRIPE_SECRET_KEY is set but STRIPE_WEBHOOK_SECRET is not: payments are only validated by signed webhooks. Set STRIPE_WEBHOOK_SECRET (whsec_…), or unset both to use the local Stripe test emulator");
  } else {
    if (/^(sk|rk)_live_/.test(key)) stripeMode = "live";
    else if (/^(sk|rk)_test_/.test(key)) stripeMode = "test";
    else throw new ConfigError("STRIPE_SECRET_KEY must start with sk_test_, sk_live_, rk_test_ or rk_live_");
    if (!whsec.startsWith("whsec_")) throw new ConfigError("STRIPE_WEBHOOK_SECRET must start with whsec_");
    if (s.publishableKey !== undefined && !/^pk_(test|live)_/.test(s.publishableKey)) throw new ConfigError("STRIPE_PUBLISHABLE_KEY must start with pk_test_ or pk_live_");
    if (s.publishableKey && stripeMode === "live" && s.publishableKey.startsWith("pk_test_")) throw new ConfigError("STRIPE_PUBLISHABLE_KEY is a test key but STRIPE_SECRET_KEY is live");
  }
  return { ...o, stripeMode };
}

/**
 * STRIPE_API_BASE: a Stripe TEST EMULATOR in a process of its own. Only ever with test values —
 * a live key pointed at anything but Stripe is a mistake worth stopping for.
 */
function externalEmulator(s: StripeOptions): StripeMode {
  const r = urlLike("STRIPE_API_BASE", ["http:", "https:"]).safeParse(s.apiBase);
  if (!r.success) throw new ConfigError(`${r.error.issues[0].message}, e.g. http://127.0.0.1:12111 (a syspark stripe-emulator)`);
  const u = new URL(s.apiBase as string);
  if ((u.pathname !== "/" && u.pathname !== "") || u.search || u.hash || u.username || u.password) throw new ConfigError("STRIPE_API_BASE must be the emulator's base URL only (scheme, host, port), e.g. http://127.0.0.1:12111");
  const key = s.secretKey;
  const whsec = s.webhookSecret;
  if (key !== undefined && /^(sk|rk)_live_/.test(key)) throw new ConfigError("refusing to start: STRIPE_API_BASE points the cloud at a Stripe TEST EMULATOR but STRIPE_SECRET_KEY is a LIVE key; use the emulator's test key (sk_test_…, its --api-key)");
  if (key === undefined || whsec === undefined) throw new ConfigError("STRIPE_API_BASE is set: also set STRIPE_SECRET_KEY (sk_test_…, the emulator's --api-key) and STRIPE_WEBHOOK_SECRET (whsec_…, its --webhook-secret)");
  if (!key.startsWith("sk_test_")) throw new ConfigError("STRIPE_SECRET_KEY must be a test key (sk_test_…) with STRIPE_API_BASE (the emulator accepts only test keys)");
  if (!whsec.startsWith("whsec_")) throw new ConfigError("STRIPE_WEBHOOK_SECRET must start with whsec_");
  s.apiBase = u.origin;
  return "emulator";
}

/** Where a URL points, without credentials (for logs and /health). */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "****";
    if (u.username) u.username = "****";
    return u.toString();
  } catch {
    return "(unparseable URL)";
  }
}
