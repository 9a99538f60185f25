import type { Command } from "commander";

export function register(program: Command): void {
  program
    .command("gateway")
    .description("run the site gateway: serial links to the lane boards, site MQTT broker, bridge to the cloud, durable outbox")
    .requiredOption("--config <file>", "site configuration (JSON, see docs/gateway.md)")
    .option("--log-level <level>", "pino log level", process.env.LOG_LEVEL ?? "info")
    .action(async (opts: { config: string; logLevel: string }) => {
      const { loadSiteConfig } = await import("../../gateway/config/load");
      const { startGateway } = await import("../../gateway/runtime");
      const { createLogger } = await import("../../host/log");
      const config = loadSiteConfig(opts.config);
      const log = createLogger("gateway", opts.logLevel);
      const gateway = await startGateway(config, { logger: log });
      const broker = gateway.services.siteBroker;
      // The boot number grows at every start (persisted in the data directory, gateway/boot-count.ts).
      log.info({ site: config.site_id, boot: gateway.boot, lanes: config.lanes.map((l) => l.id), siteBroker: (broker as unknown as { port?: number }).port ?? config.site_broker.port }, `gateway running (boot ${gateway.boot})`);
      let stopping = false;
      const stop = async () => {
        if (stopping) return;
        stopping = true;
        log.info("stopping: publishing offline and closing links");
        await gateway.close(true);
        process.exit(0);
      };
      process.on("SIGINT", stop);
      process.on("SIGTERM", stop);
    });
}
