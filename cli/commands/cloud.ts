import type { Command } from "commander";
import { intOption } from "../main";

/** The command line's options, as `startCloud` takes them (the same for a start and for --check-config). */
interface CloudFlags {
  port?: number;
  host?: string;
  dataDir?: string;
  memory?: boolean;
  mqttPort?: number;
  mqttConsumers: number;
  stripeEmulatorPort: number;
  publicBaseUrl?: string;
  demo: boolean;
  checkConfig?: boolean;
}

async function startOptions(opts: CloudFlags) {
  const { join } = await import("node:path");
  const { homedir, tmpdir } = await import("node:os");
  const { serveDataDir } = await import("../../cloud/server/cli-support");
  const embedded = !process.env.DATABASE_URL;
  // A site folder means its cloud/ (never a second cluster beside the site's gateway/ and tty/).
  const dataDir = embedded && !opts.memory ? serveDataDir(opts.dataDir ?? process.env.SYSPARK_DATA_DIR ?? join(homedir(), ".syspark", "cloud")) : undefined;
  return {
    ...(opts.port !== undefined ? { port: opts.port } : {}),
    ...(opts.host !== undefined ? { host: opts.host } : {}), // absent: HOST, else 0.0.0.0 in production / 127.0.0.1
    ...(dataDir ? { dataDir } : {}),
    pgliteTemplateDir: join(tmpdir(), "syspark-pglite-cache"),
    ...(opts.mqttPort !== undefined ? { mqttPort: opts.mqttPort } : {}),
    mqttConsumers: opts.mqttConsumers,
    stripe: { emulatorPort: opts.stripeEmulatorPort },
    ...(opts.publicBaseUrl ? { publicBaseUrl: opts.publicBaseUrl } : {}),
    ...(opts.demo ? {} : { seedDemo: false }),
  };
}

/**
 * `--check-config`: the configuration resolved exactly as a start resolves it (the same options,
 * the same checks), printed with every secret masked; nothing is opened. Exit 0 when the cloud
 * would start, 1 with the refusal otherwise.
 */
async function checkConfig(options: Awaited<ReturnType<typeof startOptions>>): Promise<void> {
  const { resolveOptions, ConfigError } = await import("../../cloud/server/config");
  const { resolveConsoleConfig } = await import("../../cloud/server/console-parts");
  const { operatorRefundLimitFromEnv } = await import("../../cloud/flows/refunds");
  const { describeConfig } = await import("../../cloud/server/config-report");
  let lines: string[];
  try {
    const o = resolveOptions(options);
    resolveConsoleConfig({}); // the ALERT_* / TELEGRAM_* / WEATHER_* variables, as a start reads them
    operatorRefundLimitFromEnv(process.env);
    lines = describeConfig(o);
  } catch (err) {
    if (!(err instanceof ConfigError) && !(err instanceof Error && /^SYSPARK_/.test(err.message))) throw err;
    console.error(`syspark cloud --check-config: the cloud would REFUSE to start:\n${err.message}`);
    process.exitCode = 1;
    return;
  }
  console.log(["syspark cloud --check-config: the cloud would start with:", ...lines].join("\n"));
}

export function register(program: Command): void {
  program
    .command("cloud")
    .description(
      "run the SysPark cloud (Express + PostgreSQL/PGlite + MQTT + Stripe). Env: SYSPARK_ENV, DATABASE_URL, MQTT_URL, MQTT_USERNAME, MQTT_PASSWORD, " +
        "MQTT_CA_FILE, MQTT_CERT_FILE, MQTT_KEY_FILE, STRIPE_SECRET_KEY, STRIPE_WEBHOOK_SECRET, STRIPE_PUBLISHABLE_KEY, BILLING_ENABLED, PUBLIC_BASE_URL, " +
        "HOST, PORT, TRUST_PROXY, SYSPARK_AUTH_SECRET, SYSPARK_ACL_HMAC_KEY, SYSPARK_INSTANCE_ID (docs/cloud.md). " +
        "Without them: embedded PGlite, in-process MQTT broker and the local Stripe TEST EMULATOR, with a demo site (paris-centre, lane L1). " +
        "Production mode (SYSPARK_ENV=production or NODE_ENV=production) never uses an embedded part and refuses to start, naming every missing variable.",
    )
    .option("--port <port>", "HTTP port (env PORT, default 18090)", intOption("--port", 0, 65535))
    .option("--host <addr>", "HTTP listen address (env HOST; default 0.0.0.0 in production, else 127.0.0.1)")
    .option("--data-dir <dir>", "embedded PGlite data directory, or the site folder of `syspark up` (e.g. .data/site: its cloud/) (default ~/.syspark/cloud; ignored with DATABASE_URL)")
    .option("--memory", "embedded PGlite in memory (nothing persisted)")
    .option("--mqtt-port <port>", "embedded MQTT broker port (default 18883; ignored with MQTT_URL)", intOption("--mqtt-port", 0, 65535))
    .option("--mqtt-consumers <n>", "consumer connections (MQTT v5 shared subscriptions only)", intOption("--mqtt-consumers", 1, 32), 1)
    .option("--stripe-emulator-port <port>", "port of the in-process Stripe TEST EMULATOR (0 = free)", intOption("--stripe-emulator-port", 0, 65535), 0)
    .option("--public-base-url <url>", "base URL drivers reach the payment page at (env PUBLIC_BASE_URL)")
    .option("--no-demo", "do not seed the demo site on the embedded database")
    .option("--check-config", "print what the cloud would use (secrets masked) and exit: 0 if it would start, 1 with the refusal; opens nothing")
    .action(async (opts: CloudFlags) => {
      const options = await startOptions(opts);
      if (opts.checkConfig) return checkConfig(options);
      const { startCloud, ConfigError } = await import("../../cloud/server/index");
      const { isProduction } = await import("../../cloud/server/production");
      // Production writes only JSON log lines on stdout (what Render and containers collect).
      const production = isProduction(process.env);
      if (!process.env.DATABASE_URL && !production) console.error(`syspark cloud: starting on embedded defaults (PGlite ${options.dataDir ?? "in memory"}; first start takes a few seconds)…`);
      let cloud;
      try {
        cloud = await startCloud(options);
      } catch (err) {
        if (err instanceof ConfigError) throw new Error(`configuration: ${err.message}`, { cause: err });
        throw err;
      }
      const stop = async () => {
        await cloud.close();
        process.exit(0);
      };
      process.once("SIGINT", () => void stop());
      process.once("SIGTERM", () => void stop());
      if (production) return; // its "SysPark cloud started" log line says it all; nothing embedded was seeded
      const lines = [
        `SysPark cloud is up.`,
        `  HTTP:      ${cloud.url}  (payment pages at ${cloud.publicBaseUrl}/pay/…, console ${cloud.url}/console)`,
        `  database:  ${cloud.db.description}`,
        `  MQTT:      ${cloud.mqttUrl.replace(/\/\/[^@/]*@/, "//****@")} (MQTT ${cloud.mqttProtocol === 5 ? "5, shared subscriptions" : "3.1.1"})`,
        `  Stripe:    ${cloud.stripeMode === "emulator" ? `local Stripe TEST EMULATOR at ${cloud.emulator?.url} — NOT Stripe, no real card is charged` : cloud.stripeMode.toUpperCase()}`,
      ];
      console.log(lines.join("\n"));
      if (cloud.firstAdmin) {
        // Printed once, here only (never logged): the operator must change or keep it safe.
        console.log(`\n  First operator created — shown ONCE, write it down:\n    username: ${cloud.firstAdmin.username}\n    password: ${cloud.firstAdmin.password}\n`);
      }
      if (cloud.demoMerchantUrl) console.log(`  Demo merchant's page (validations) — shown ONCE: ${cloud.demoMerchantUrl}\n`);
    });
}
