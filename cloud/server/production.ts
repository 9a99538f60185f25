/**
 * Production mode (issue 19): `SYSPARK_ENV=production` or `NODE_ENV=production`. A production
 * cloud refuses to guess — it never falls back to an embedded part (PGlite, the in-process
 * broker, the Stripe test emulator) and never starts with a missing secret. Everything wrong is
 * collected and said in ONE refusal, so that a deployment is fixed in one round trip instead of
 * one variable per failed deploy.
 *
 * This module only decides (no I/O): config.ts fills the values from the environment and throws.
 */

/** What SYSPARK_ENV may say. */
export const SYSPARK_ENV_VALUES = ["production", "development"] as const;

/** One thing wrong, and the variable (or option) it is about: the refusal names each. */
export interface ConfigProblem {
  variable: string;
  message: string;
}

export interface RunMode {
  production: boolean;
  /** Where production mode came from, for messages: "SYSPARK_ENV=production", "NODE_ENV=production" or "". */
  source: string;
  /** An unknown SYSPARK_ENV, or SYSPARK_ENV and NODE_ENV saying different things. */
  problems: ConfigProblem[];
}

const setting = (v: string | undefined): string | undefined => (v === undefined || v.trim() === "" ? undefined : v.trim());

/**
 * Production or not, from SYSPARK_ENV and NODE_ENV. SYSPARK_ENV is ours and explicit; NODE_ENV is
 * often set by an image or a platform. When both are set they must agree (production with
 * production; development with anything but production) — a contradiction is refused rather than
 * resolved by a rule nobody remembers. An unknown SYSPARK_ENV (`prod`, `staging`) is refused too,
 * and counted as production so that the same refusal lists what production would need.
 */
export function runMode(env: NodeJS.ProcessEnv): RunMode {
  const sysparkEnv = setting(env.SYSPARK_ENV);
  const nodeEnv = setting(env.NODE_ENV);
  const problems: ConfigProblem[] = [];
  if (sysparkEnv !== undefined && !(SYSPARK_ENV_VALUES as readonly string[]).includes(sysparkEnv)) {
    problems.push({ variable: "SYSPARK_ENV", message: `SYSPARK_ENV must be ${SYSPARK_ENV_VALUES.join(" or ")}, got "${sysparkEnv.slice(0, 40)}"` });
    return { production: true, source: `SYSPARK_ENV=${sysparkEnv.slice(0, 40)}`, problems };
  }
  if (sysparkEnv === "production") {
    if (nodeEnv !== undefined && nodeEnv !== "production") {
      problems.push({ variable: "NODE_ENV", message: `NODE_ENV=${nodeEnv.slice(0, 40)} contradicts SYSPARK_ENV=production: set NODE_ENV=production or unset it` });
    }
    return { production: true, source: "SYSPARK_ENV=production", problems };
  }
  if (sysparkEnv === "development") {
    if (nodeEnv === "production") problems.push({ variable: "SYSPARK_ENV", message: "SYSPARK_ENV=development contradicts NODE_ENV=production: unset one of them (production needs both to agree, or SYSPARK_ENV alone)" });
    return { production: false, source: "", problems };
  }
  return nodeEnv === "production" ? { production: true, source: "NODE_ENV=production", problems } : { production: false, source: "", problems };
}

/** True in production mode (also when the mode itself is contradictory: the stricter reading). */
export function isProduction(env: NodeJS.ProcessEnv): boolean {
  return runMode(env).production;
}

/** The values the production check reads: the options as filled from the environment, not yet validated. */
export interface ProductionInputs {
  databaseUrl?: string;
  mqttUrl?: string;
  mqttUsername?: string;
  mqttPassword?: string;
  publicBaseUrl?: string;
  authSecret?: string;
  aclHmacKey?: string;
  stripe: { secretKey?: string; webhookSecret?: string; apiBase?: string };
  /** BILLING_ENABLED as given (option, else the environment); undefined when unset or unreadable. */
  billingEnabled?: boolean;
  seedDemo?: boolean;
  createFirstAdmin?: boolean;
}

function brokerCredentials(i: ProductionInputs): ConfigProblem[] {
  let u: URL;
  try {
    u = new URL(i.mqttUrl as string);
  } catch {
    return []; // an unparseable MQTT_URL is refused by its own validation (config.ts)
  }
  const user = i.mqttUsername ?? (u.username || undefined);
  const pass = i.mqttPassword ?? (u.password || undefined);
  if (user && pass) return [];
  const why = "the cloud broker must refuse anonymous clients (issue the cloud's account with `syspark broker cloud-account`)";
  if (!user && !pass) return [{ variable: "MQTT_USERNAME", message: `MQTT_USERNAME and MQTT_PASSWORD are not set (nor user:password in MQTT_URL): ${why}` }];
  return !user ? [{ variable: "MQTT_USERNAME", message: `MQTT_USERNAME is not set but MQTT_PASSWORD is: ${why}` }] : [{ variable: "MQTT_PASSWORD", message: `MQTT_PASSWORD is not set but MQTT_USERNAME is: ${why}` }];
}

function stripeProblems(i: ProductionInputs): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  if (i.stripe.apiBase !== undefined) {
    out.push({ variable: "STRIPE_API_BASE", message: "STRIPE_API_BASE is set: it points the cloud at a Stripe TEST EMULATOR, never used in production; unset it" });
  }
  if (i.billingEnabled === false) return out; // billing off: the keys may come later (docs/deploy.md, activation)
  const orOff = "production never uses the Stripe test emulator; set it from the Stripe dashboard, or BILLING_ENABLED=false to start with billing off";
  if (!i.stripe.secretKey) out.push({ variable: "STRIPE_SECRET_KEY", message: `STRIPE_SECRET_KEY is not set (sk_live_… or sk_test_…): ${orOff}` });
  if (!i.stripe.webhookSecret) out.push({ variable: "STRIPE_WEBHOOK_SECRET", message: `STRIPE_WEBHOOK_SECRET is not set (whsec_…, the webhook endpoint's signing secret): ${orOff}` });
  return out;
}

/**
 * Everything production needs that is missing or contradictory, each naming its variable. Empty
 * when a production start may go on (the values' formats are checked by config.ts afterwards).
 */
export function productionProblems(i: ProductionInputs): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  if (!i.databaseUrl) out.push({ variable: "DATABASE_URL", message: "DATABASE_URL is not set: production never falls back to the embedded PGlite database; set the PostgreSQL server's URL (postgres://…)" });
  else if (!/^postgres(ql)?:\/\//.test(i.databaseUrl)) out.push({ variable: "DATABASE_URL", message: "DATABASE_URL must start with postgres:// or postgresql://" });
  out.push(...stripeProblems(i));
  if (!i.authSecret) out.push({ variable: "SYSPARK_AUTH_SECRET", message: "SYSPARK_AUTH_SECRET is not set: operators' tokens would end with each restart and differ between instances; set at least 32 characters (openssl rand -hex 32)" });
  if (!i.aclHmacKey) out.push({ variable: "SYSPARK_ACL_HMAC_KEY", message: "SYSPARK_ACL_HMAC_KEY is not set: the sites' offline access lists are signed with it; set the same key on the cloud and every gateway (openssl rand -hex 32)" });
  if (!i.mqttUrl) out.push({ variable: "MQTT_URL", message: "MQTT_URL is not set: production never starts the in-process broker; set the cloud broker's URL (mqtts://host:8883)" });
  else out.push(...brokerCredentials(i));
  if (!i.publicBaseUrl) out.push({ variable: "PUBLIC_BASE_URL", message: "PUBLIC_BASE_URL is not set: drivers' pay links and Stripe's return pages need the cloud's public https:// address" });
  else if (!/^https:\/\//i.test(i.publicBaseUrl)) out.push({ variable: "PUBLIC_BASE_URL", message: `PUBLIC_BASE_URL must start with https:// in production (drivers pay on it), got "${i.publicBaseUrl.slice(0, 60)}"` });
  if (i.seedDemo === true) out.push({ variable: "seedDemo", message: "the demo site (option seedDemo) is never seeded in production: create sites with `syspark site add` or `syspark seed`" });
  if (i.createFirstAdmin === true) out.push({ variable: "createFirstAdmin", message: "no first admin is created in production (option createFirstAdmin): create operators with `syspark operator add`" });
  return out;
}

/** The one refusal: every problem on its own line, each naming its variable. */
export function refusalMessage(mode: RunMode, problems: ConfigProblem[]): string {
  if (!mode.production && problems.length === 1) return problems[0].message;
  const where = mode.production ? `in production mode (${mode.source})` : "";
  const head = `refusing to start${where ? ` ${where}` : ""}: ${problems.length} problem${problems.length === 1 ? "" : "s"} (${[...new Set(problems.map((p) => p.variable))].join(", ")})`;
  return [head, ...problems.map((p) => `  - ${p.message}`)].join("\n");
}
