/**
 * Cloud configuration: options passed to startCloud, completed from the environment
 * (ARCHITECTURE §7: secrets only from the environment, never logged; production refuses to
 * start with a missing secret instead of falling back silently).
 *
 * | env                    | option          | absent →                                        |
 * |------------------------|-----------------|-------------------------------------------------|
 * | SYSPARK_ENV / NODE_ENV | —               | development; `production` in either → production mode (production.ts) |
 * | DATABASE_URL           | databaseUrl     | embedded PGlite under dataDir (or in memory); production: refused |
 * | MQTT_URL               | mqttUrl         | in-process aedes broker on mqttPort (18883); production: refused |
 * | MQTT_USERNAME/PASSWORD | mqttUsername/mqttPassword | anonymous (production: refused unless user:pass is in MQTT_URL) |
 * | MQTT_CA_FILE, MQTT_CERT_FILE, MQTT_KEY_FILE | mqttTls | system CAs, no client certificate (network-config.ts) |
 * | STRIPE_SECRET_KEY      | stripe.secretKey| local Stripe TEST EMULATOR (both absent); production: refused unless BILLING_ENABLED=false |
 * | STRIPE_WEBHOOK_SECRET  | stripe.webhookSecret                                              |
 * | STRIPE_PUBLISHABLE_KEY | stripe.publishableKey (Payment Element; without it → Checkout)   |
 * | STRIPE_API_BASE        | stripe.apiBase  | (with both STRIPE_* test values) a Stripe test emulator in its own process; production: refused |
 * | PUBLIC_BASE_URL        | publicBaseUrl   | http://127.0.0.1:<port>; production: refused (https:// required) |
 * | PORT                   | port            | 18090                                           |
 * | HOST                   | host            | 0.0.0.0 in production, else 127.0.0.1           |
 * | TRUST_PROXY            | trustProxy      | X-Forwarded-* not trusted                       |
 * | SYSPARK_AUTH_SECRET    | authSecret      | random per process (tokens die with the process); production: refused |
 * | SYSPARK_ACL_HMAC_KEY   | aclHmacKey      | offline access lists disabled (routes → 503); production: refused |
 * | BILLING_ENABLED        | billingEnabled  | on (production: on, with the Stripe keys it then requires) |
 * | STRIPE_TIMEOUT_MS      | stripe.timeoutMs| 8000 (each call to the provider; see billing-config.ts) |
 * | STRIPE_MAX_NETWORK_RETRIES | stripe.maxNetworkRetries | 1 (emulator) / 2 (Stripe), at most 5 |
 */
import { z } from "zod";
import { parseBillingEnabled, resolveBilling } from "./billing-config";
import { hostProblem, parseTrustProxy, readMqttTls, type MqttTls, type MqttTlsFiles, type TrustProxy } from "./network-config";
import { productionProblems, refusalMessage, runMode, type ConfigProblem } from "./production";

export type { TrustProxy, MqttTls, MqttTlsFiles } from "./network-config";

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
  /** TLS to the broker (mqtts://): CA, client certificate and key (MQTT_CA_FILE, MQTT_CERT_FILE, MQTT_KEY_FILE). */
  mqttTls?: MqttTls;
  port?: number;
  /** Listen address (HOST; default 0.0.0.0 in production, else 127.0.0.1). */
  host?: string;
  /** Express "trust proxy" (TRUST_PROXY); absent → X-Forwarded-* ignored. */
  trustProxy?: TrustProxy;
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

/** What resolveOptions returns: every option settled, and what production mode decided. */
export type ResolvedOptions = CloudOptions & {
  stripeMode: StripeMode;
  billingEnabled: boolean;
  /** SYSPARK_ENV=production or NODE_ENV=production (production.ts). */
  production: boolean;
  host: string;
  trustProxy: TrustProxy;
  /** The TLS files read (paths, for --check-config; the contents are in mqttTls). */
  mqttTlsFiles?: MqttTlsFiles;
  /**
   * Production with BILLING_ENABLED=false and no Stripe keys: no Stripe at all — not the test
   * emulator (production never falls back to it); every call to the provider fails at once.
   */
  noStripe: boolean;
};

/** The first variable a refusal names (to merge it into production's list without saying it twice). */
function variableNamed(message: string): string {
  return /\b(?:PORT|[A-Z][A-Z0-9]*_[A-Z0-9_]+)\b/.exec(message)?.[0] ?? "configuration";
}

/**
 * Options with the environment filled in, validated. Throws ConfigError with a precise message;
 * in production mode ONE ConfigError lists every missing or contradictory variable.
 */
export function resolveOptions(opts: CloudOptions, env: NodeJS.ProcessEnv = process.env): ResolvedOptions {
  const mode = runMode(env);
  const filled = fillFromEnv(opts, env);
  const problems: ConfigProblem[] = [...mode.problems];
  if (mode.production) problems.push(...productionProblems({ ...filled, stripe: filled.stripe ?? {}, billingEnabled: opts.billingEnabled ?? parseBillingEnabled(env.BILLING_ENABLED) }));
  const net = resolveNetwork(filled, env, mode.production, problems);
  let resolved: (CloudOptions & { stripeMode: StripeMode; billingEnabled: boolean }) | undefined;
  let refusal: ConfigError | undefined;
  try {
    const o = resolveCoreOptions(filled, env);
    resolved = { ...o, ...resolveBilling(o, env, (m) => new ConfigError(m)) };
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    refusal = err;
  }
  if (refusal && problems.length === 0) throw refusal; // one variable wrong: its own message, as before
  if (refusal && !problems.some((p) => refusal.message.includes(p.variable))) problems.push({ variable: variableNamed(refusal.message), message: refusal.message });
  if (problems.length > 0 || !resolved) throw new ConfigError(refusalMessage(mode, problems));
  const noStripe = mode.production && !resolved.billingEnabled && !resolved.stripe?.secretKey;
  return { ...resolved, ...net, production: mode.production, noStripe, ...(noStripe ? { stripeMode: "test" as const } : {}) };
}

/** The options with the environment filled in where the caller left them out (no validation yet). */
function fillFromEnv(opts: CloudOptions, env: NodeJS.ProcessEnv): CloudOptions {
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
  return o;
}

/** HOST, TRUST_PROXY and the broker's TLS files (network-config.ts); problems are collected, not thrown. */
function resolveNetwork(o: CloudOptions, env: NodeJS.ProcessEnv, production: boolean, problems: ConfigProblem[]): { host: string; trustProxy: TrustProxy; mqttTls?: MqttTls; mqttTlsFiles?: MqttTlsFiles } {
  const host = o.host ?? (env.HOST?.trim() || (production ? "0.0.0.0" : "127.0.0.1"));
  const bad = hostProblem(host);
  if (bad) problems.push(bad);
  let trustProxy: TrustProxy = o.trustProxy ?? false;
  if (o.trustProxy === undefined && env.TRUST_PROXY?.trim()) {
    const t = parseTrustProxy(env.TRUST_PROXY);
    if (typeof t === "object" && !Array.isArray(t)) problems.push(t);
    else trustProxy = t;
  }
  if (o.mqttTls) return { host, trustProxy, mqttTls: o.mqttTls };
  const { tls, files } = readMqttTls(env, o.mqttUrl, problems);
  return { host, trustProxy, ...(tls ? { mqttTls: tls } : {}), ...(files ? { mqttTlsFiles: files } : {}) };
}

/** The per-variable checks of the filled options (the first wrong one throws, naming it). */
function resolveCoreOptions(filled: CloudOptions, env: NodeJS.ProcessEnv): CloudOptions & { stripeMode: StripeMode } {
  const o: CloudOptions = { ...filled, stripe: { ...filled.stripe } };
  const s = o.stripe as StripeOptions;
  if (o.port === undefined && env.PORT) {
    if (!/^\d+$/.test(env.PORT) || Number(env.PORT) > 65535) throw new ConfigError(`PORT must be a TCP port number (0–65535), got "${env.PORT}"`);
    o.port = Number(env.PORT);
  }
  o.port ??= DEFAULT_HTTP_PORT;
  if (o.dbPoolMax === undefined && env.DATABASE_POOL_MAX) {
    // N instances share the server's max_connections: each instance's pool is the operator's call (docs/cloud.md, "Scale out").
    const n = Number(env.DATABASE_POOL_MAX);
    if (!/^\d+$/.test(env.DATABASE_POOL_MAX) || n < 1 || n > 200) throw new ConfigError(`DATABASE_POOL_MAX must be a whole number of connections from 1 to 200 (per instance), got "${env.DATABASE_POOL_MAX}"`);
    o.dbPoolMax = n;
  }
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
