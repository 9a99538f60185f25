/**
 * `syspark cloud --check-config` (issue 19): what a start would use, read from the options
 * resolveOptions settled — so it can never disagree with a real start. Opens nothing (no
 * database, no broker, no Stripe). Secrets are never printed, not even in part: a set secret is
 * `****`, an absent one says what the cloud does without it.
 */
import { DEFAULT_EMBEDDED_MQTT_PORT, redactUrl, type ResolvedOptions } from "./config";
import { isTlsUrl } from "../../host/mqtt-tls-errors";
import { localHost } from "./network-config";
import { runMode } from "./production";

const MASK = "****";

function databaseLine(o: ResolvedOptions): string {
  if (o.databaseUrl) return `PostgreSQL ${redactUrl(o.databaseUrl)}${o.dbSchema ? `, schema ${o.dbSchema}` : ""} (DATABASE_URL; migrations run on start, or with \`syspark migrate\`)`;
  return `embedded PGlite ${o.dataDir ?? "in memory"} (no DATABASE_URL; development only)`;
}

function brokerLines(o: ResolvedOptions): [string, string][] {
  if (!o.mqttUrl) return [["broker", `in-process aedes on 127.0.0.1:${o.mqttPort ?? DEFAULT_EMBEDDED_MQTT_PORT} (no MQTT_URL; development only)`]];
  let urlUser = "";
  try {
    urlUser = decodeURIComponent(new URL(o.mqttUrl).username);
  } catch {
    // validated by resolveOptions already
  }
  const user = o.mqttUsername ?? (urlUser || undefined);
  const files = o.mqttTlsFiles ?? {};
  const tlsText = !isTlsUrl(o.mqttUrl) ? "none (plain TCP)" : [files.ca ? `CA ${files.ca}` : "system CAs", files.cert ? `client certificate ${files.cert}, key ${files.key ?? "?"}` : "no client certificate"].join(", ");
  return [
    ["broker", `${redactUrl(o.mqttUrl)}`],
    ["broker login", user ? `${user} / password ${o.mqttPassword || /:[^@/]*@/.test(o.mqttUrl) ? MASK : "(none)"}` : "anonymous"],
    ["broker TLS", tlsText],
  ];
}

function stripeLines(o: ResolvedOptions): [string, string][] {
  const s = o.stripe ?? {};
  let mode: string;
  if (o.noStripe) mode = "none — Stripe is not configured (BILLING_ENABLED=false, no keys); no payment can be taken";
  else if (s.apiBase) mode = `Stripe TEST EMULATOR in its own process at ${s.apiBase} (STRIPE_API_BASE) — not Stripe`;
  else if (o.stripeMode === "emulator") mode = "local Stripe TEST EMULATOR in-process — not Stripe, no real card is charged";
  else if (o.stripeMode === "test") mode = "Stripe, TEST mode (sk_test_/rk_test_ key): no real card is charged";
  else mode = "Stripe, LIVE mode: real cards are charged";
  const lines: [string, string][] = [["stripe", mode]];
  if (s.secretKey) lines.push(["stripe keys", `STRIPE_SECRET_KEY ${MASK}, STRIPE_WEBHOOK_SECRET ${s.webhookSecret ? MASK : "(not set)"}, STRIPE_PUBLISHABLE_KEY ${s.publishableKey ? "set (Payment Element)" : "not set (Stripe Checkout)"}`]);
  lines.push(["billing", o.billingEnabled ? "ON (BILLING_ENABLED)" : "OFF (BILLING_ENABLED=false): pay routes answer 503, exits need the operator's override"]);
  return lines;
}

function proxyText(t: ResolvedOptions["trustProxy"]): string {
  if (t === false || t === 0) return "no (X-Forwarded-* ignored)";
  if (t === true) return "yes, any client (TRUST_PROXY=true: only behind a proxy that overwrites X-Forwarded-*)";
  if (typeof t === "number") return `${t} hop${t === 1 ? "" : "s"} (X-Forwarded-* from the ${t === 1 ? "proxy" : "proxies"} in front)`;
  return t.join(", ");
}

/** The lines `--check-config` prints: `label  value`, aligned. */
export function describeConfig(o: ResolvedOptions, env: NodeJS.ProcessEnv = process.env): string[] {
  const mode = runMode(env);
  const rows: [string, string][] = [
    ["mode", o.production ? `PRODUCTION (${mode.source}): nothing embedded, JSON logs on stdout` : "development (embedded parts where nothing is configured)"],
    ["database", databaseLine(o)],
    ...brokerLines(o),
    ...stripeLines(o),
    ["public URL", o.publicBaseUrl ?? `(not set: the local URL, http://${localHost(o.host)}:${o.port})`],
    ["listen", `${o.host}:${o.port}`],
    ["trust proxy", proxyText(o.trustProxy)],
    ["auth secret", o.authSecret ? `${MASK} (SYSPARK_AUTH_SECRET)` : "not set: random per process (operators' tokens end with it)"],
    ["ACL key", o.aclHmacKey ? `${MASK} (SYSPARK_ACL_HMAC_KEY)` : "not set: offline access lists disabled"],
    ["log", `${env.LOG_LEVEL || "info"} (LOG_LEVEL), JSON lines on stdout`],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`);
}
