import type { Command } from "commander";
import type { SiteConfig } from "../../gateway/config/schema";
import type { Logger } from "../../host/log";

export function register(program: Command): void {
  program
    .command("gateway")
    .description("run the site gateway: serial links to the lane boards, site MQTT broker, bridge to the cloud, durable outbox")
    .requiredOption("--config <file>", "site configuration (JSON, see docs/gateway.md)")
    .option("--log-level <level>", "pino log level (default: $LOG_LEVEL, else log.level in the config, else info)")
    .option("--log-file <path>", "write the JSON log lines to rotating files at this base path instead of stdout (overrides log.file; see docs/gateway.md §7)")
    .action(async (opts: GatewayLogFlags & { config: string }) => {
      const { loadSiteConfig } = await import("../../gateway/config/load");
      const { startGateway } = await import("../../gateway/runtime");
      const config = loadSiteConfig(opts.config);
      const output = await openGatewayLog(config, opts);
      const log = output.logger;
      let gateway: Awaited<ReturnType<typeof startGateway>>;
      try {
        gateway = await startGateway(config, { logger: log });
      } catch (err) {
        // main() prints the reason on stderr; the file gets it too, and is flushed before the exit.
        log.error(`gateway did not start: ${err instanceof Error ? err.message : String(err)}`);
        await output.close();
        throw err;
      }
      const broker = gateway.services.siteBroker;
      // The boot number grows at every start (persisted in the data directory, gateway/boot-count.ts).
      log.info({ site: config.site_id, boot: gateway.boot, lanes: config.lanes.map((l) => l.id), siteBroker: (broker as unknown as { port?: number }).port ?? config.site_broker.port }, `gateway running (boot ${gateway.boot})`);
      let stopping = false;
      const stop = async () => {
        if (stopping) return;
        stopping = true;
        log.info("stopping: publishing offline and closing links");
        let code = 0;
        try {
          await gateway.close(true);
          log.info("stopped");
        } catch (err) {
          code = 1;
          log.error(`stopping failed: ${err instanceof Error ? err.message : String(err)}`);
        }
        // process.exit does not wait for pending writes: the file's last lines are flushed first.
        await output.close();
        process.exit(code);
      };
      process.on("SIGINT", stop);
      process.on("SIGTERM", stop);
    });
}

export interface GatewayLogFlags {
  logLevel?: string;
  logFile?: string;
}

export interface GatewayLogOutput {
  logger: Logger;
  /** The file being written when logging to files; undefined for stdout. */
  file?: string;
  /** Flushes and closes the file (nothing to do for stdout). */
  close(): Promise<void>;
}

/**
 * Where the gateway's JSON log lines go: rotating files when `--log-file` or the config's `log`
 * section names one (the flag wins; sizes and count from the section, else its defaults), stdout
 * otherwise. The level: `--log-level`, else $LOG_LEVEL, else log.level, else info.
 */
export async function openGatewayLog(config: SiteConfig, flags: GatewayLogFlags, context: { env?: NodeJS.ProcessEnv; say?: (line: string) => void } = {}): Promise<GatewayLogOutput> {
  const { env = process.env, say = (line: string) => process.stderr.write(line) } = context;
  const { createLogger, openRotatingLogFile, LOG_LEVELS } = await import("../../host/log");
  const { LOG_DEFAULTS, logFilePath } = await import("../../gateway/config/schema");
  const [level, levelFrom] = flags.logLevel !== undefined ? [flags.logLevel, "--log-level"] : env.LOG_LEVEL ? [env.LOG_LEVEL, "LOG_LEVEL"] : [config.log?.level ?? "info", "log.level"];
  if (!(LOG_LEVELS as readonly string[]).includes(level)) throw new Error(`${levelFrom}: must be one of ${LOG_LEVELS.join(", ")}, got "${level}"`);
  if (flags.logFile !== undefined) {
    const checked = logFilePath.safeParse(flags.logFile);
    if (!checked.success) throw new Error(`--log-file: ${checked.error.issues[0].message}, got "${flags.logFile}"`);
  }
  const file = flags.logFile ?? config.log?.file;
  if (file === undefined) return { logger: createLogger("gateway", level), close: async () => {} };
  const maxBytes = config.log?.max_size ?? LOG_DEFAULTS.max_size;
  const keep = config.log?.keep ?? LOG_DEFAULTS.keep;
  const out = await openRotatingLogFile({ file, maxBytes, keep, field: flags.logFile !== undefined ? "--log-file" : "log.file" });
  // Said once on stderr (the journal under systemd), so whoever looks there knows where to look next.
  say(`syspark gateway: log lines go to ${out.current()} (JSON; a new file every ${showSize(maxBytes)}, ${keep} older kept; current.log beside them links to the newest)\n`);
  return { logger: createLogger("gateway", level, out.stream), file: out.current(), close: () => out.close() };
}

function showSize(bytes: number): string {
  for (const [unit, size] of [["g", 1024 ** 3], ["m", 1024 ** 2], ["k", 1024]] as const) {
    if (bytes % size === 0) return `${bytes / size}${unit}`;
  }
  return `${bytes} bytes`;
}
