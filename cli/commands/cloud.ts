import type { Command } from "commander";
import { intOption } from "../main";

export function register(program: Command): void {
  program
    .command("cloud")
    .description(
      "run the SysPark cloud (Express + PostgreSQL/PGlite + MQTT + Stripe). Env: DATABASE_URL, MQTT_URL, MQTT_USERNAME, MQTT_PASSWORD, " +
        "STRIPE_SECRET_KEY, STRIPE_WEBHOOK_SECRET, STRIPE_PUBLISHABLE_KEY, PUBLIC_BASE_URL, PORT, SYSPARK_AUTH_SECRET, SYSPARK_INSTANCE_ID. " +
        "Without them: embedded PGlite, in-process MQTT broker and the local Stripe TEST EMULATOR, with a demo site (paris-centre, lane L1).",
    )
    .option("--port <port>", "HTTP port (env PORT, default 18090)", intOption("--port", 0, 65535))
    .option("--host <addr>", "HTTP listen address", "127.0.0.1")
    .option("--data-dir <dir>", "embedded PGlite data directory, or the site folder of `syspark up` (e.g. .data/site: its cloud/) (default ~/.syspark/cloud; ignored with DATABASE_URL)")
    .option("--memory", "embedded PGlite in memory (nothing persisted)")
    .option("--mqtt-port <port>", "embedded MQTT broker port (default 18883; ignored with MQTT_URL)", intOption("--mqtt-port", 0, 65535))
    .option("--mqtt-consumers <n>", "consumer connections (MQTT v5 shared subscriptions only)", intOption("--mqtt-consumers", 1, 32), 1)
    .option("--stripe-emulator-port <port>", "port of the in-process Stripe TEST EMULATOR (0 = free)", intOption("--stripe-emulator-port", 0, 65535), 0)
    .option("--public-base-url <url>", "base URL drivers reach the payment page at (env PUBLIC_BASE_URL)")
    .option("--no-demo", "do not seed the demo site on the embedded database")
    .action(async (opts: { port?: number; host: string; dataDir?: string; memory?: boolean; mqttPort?: number; mqttConsumers: number; stripeEmulatorPort: number; publicBaseUrl?: string; demo: boolean }) => {
      const { join } = await import("node:path");
      const { homedir, tmpdir } = await import("node:os");
      const { startCloud, ConfigError } = await import("../../cloud/server/index");
      const embedded = !process.env.DATABASE_URL;
      const { serveDataDir } = await import("../../cloud/server/cli-support");
      // A site folder means its cloud/ (never a second cluster beside the site's gateway/ and tty/).
      const dataDir = embedded && !opts.memory ? serveDataDir(opts.dataDir ?? process.env.SYSPARK_DATA_DIR ?? join(homedir(), ".syspark", "cloud")) : undefined;
      if (embedded) console.error(`syspark cloud: starting on embedded defaults (PGlite ${dataDir ?? "in memory"}; first start takes a few seconds)…`);
      let cloud;
      try {
        cloud = await startCloud({
          ...(opts.port !== undefined ? { port: opts.port } : {}),
          host: opts.host,
          ...(dataDir ? { dataDir } : {}),
          pgliteTemplateDir: join(tmpdir(), "syspark-pglite-cache"),
          ...(opts.mqttPort !== undefined ? { mqttPort: opts.mqttPort } : {}),
          mqttConsumers: opts.mqttConsumers,
          stripe: { emulatorPort: opts.stripeEmulatorPort },
          ...(opts.publicBaseUrl ? { publicBaseUrl: opts.publicBaseUrl } : {}),
          ...(opts.demo ? {} : { seedDemo: false }),
        });
      } catch (err) {
        if (err instanceof ConfigError) throw new Error(`configuration: ${err.message}`, { cause: err });
        throw err;
      }
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
      const stop = async () => {
        await cloud.close();
        process.exit(0);
      };
      process.once("SIGINT", () => void stop());
      process.once("SIGTERM", () => void stop());
    });
}
