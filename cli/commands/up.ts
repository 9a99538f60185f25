import type { Command } from "commander";
import { intOption } from "../main";

export function register(program: Command): void {
  program
    .command("up")
    .description("run the whole site on embedded defaults: cloud (PGlite, MQTT, Stripe test emulator), gateway, simulated exit lanes and one entry lane (real firmware) and the live site page")
    .option("--lanes <n>", "number of exit lanes", intOption("--lanes", 1, 8), 2)
    .option("--http-port <port>", "live site page", intOption("--http-port", 0, 65535), Number(process.env.SYSPARK_HTTP_PORT ?? 18080))
    .option("--cloud-port <port>", "cloud HTTP (payment pages, operators)", intOption("--cloud-port", 0, 65535), Number(process.env.PORT ?? 18090))
    .option("--cloud-mqtt-port <port>", "cloud's embedded MQTT broker", intOption("--cloud-mqtt-port", 0, 65535), 18883)
    .option("--site-broker-port <port>", "gateway's site MQTT broker", intOption("--site-broker-port", 0, 65535), 18830)
    .option("--data-dir <dir>", "where the site keeps its data between runs", ".data/site")
    .option("--log-level <level>", "pino log level (the banner already says what the warnings would: test emulator, anonymous site broker)", process.env.LOG_LEVEL ?? "error")
    .action(async (opts: { lanes: number; httpPort: number; cloudPort: number; cloudMqttPort: number; siteBrokerPort: number; dataDir: string; logLevel: string }) => {
      const { startSite } = await import("../../sim/site/site");
      const { startSitePage } = await import("../../sim/site/page");
      const { createLogger } = await import("../../host/log");
      const started = Date.now();
      process.stderr.write("starting the cloud (embedded PostgreSQL), the gateway and the simulated lanes…\n");
      const site = await startSite({ lanes: opts.lanes, dataDir: opts.dataDir, cloudPort: opts.cloudPort, cloudMqttPort: opts.cloudMqttPort, siteBrokerPort: opts.siteBrokerPort, logger: createLogger("site", opts.logLevel) });
      const page = await startSitePage(site, { port: opts.httpPort });
      const admin = site.cloud.firstAdmin;
      console.log([
        `SysPark site "paris-centre" is up (${((Date.now() - started) / 1000).toFixed(1)} s), ${opts.lanes} exit lane(s) and entry lane ${site.entry.id}, embedded defaults.`,
        `  live site page:        ${page.url}`,
        `  cloud (pay):           ${site.cloud.url}/   health: ${site.cloud.url}/health`,
        `  operators' console:    ${site.cloud.url}/console`,
        `  Stripe:                ${site.cloud.stripeMode === "emulator" ? "local TEST EMULATOR (test cards: 4242 4242 4242 4242 pays, 4000 0000 0000 0002 is declined)" : "Stripe"}`,
        `  cloud MQTT:            ${site.cloud.mqttUrl}   site MQTT: mqtt://127.0.0.1:${opts.siteBrokerPort}`,
        `  board links:           ${site.links === "pty" ? "socat pty pairs (real serial devices)" : "in-memory cables (install socat for real pty pairs)"}`,
        admin ? `  first operator (shown once): ${admin.username} / ${admin.password}` : "  operators:             those created before (the first start showed admin's password once)",
        ...(site.cloud.demoMerchantUrl ? [`  demo merchant's page (shown once): ${site.cloud.demoMerchantUrl}   (validations; merchants: ${site.cloud.url}/console/merchants)`] : []),
        // True while this runs: the command finds this site's cloud by its run file and goes through its API (docs/cloud.md).
        `  add an operator:       syspark operator add --username <name> --data-dir ${opts.dataDir}   (from this directory, while the site runs: through the cloud's API, logged in as an admin)`,
        "Drive a car to a lane on the live page, pay on the page its QR code opens, and watch the barrier;",
        `or bring a car to the entry ${site.entry.id}, take a ticket, and send it to an exit with its ticket (or without: lost ticket).`,
      ].join("\n"));
      let stopping = false;
      const stop = async () => {
        if (stopping) return;
        stopping = true;
        await page.close();
        await site.close();
        process.exit(0);
      };
      process.on("SIGINT", stop);
      process.on("SIGTERM", stop);
    });
}
