import type { Command } from "commander";
import { intOption } from "../main";

export function register(program: Command): void {
  program
    .command("up")
    .description("run the site on embedded defaults (today: one simulated exit lane with a demo gateway/cloud stand-in, driven from the terminal)")
    .option("--http-port <port>", "status page port", intOption("--http-port", 1, 65535), Number(process.env.SYSPARK_HTTP_PORT ?? 18080))
    .option("--lane <id>", "lane id", "L1")
    .action(async (opts: { httpPort: number; lane: string }) => {
      const { startLaneDemo } = await import("../../hil/demo/lane-demo");
      const { startLaneConsole, CONSOLE_HELP } = await import("../../hil/demo/lane-console");
      const demo = await startLaneDemo({ httpPort: opts.httpPort, lane: opts.lane });
      console.log(`SysPark demo lane ${opts.lane} is up.\n  status page: ${demo.url}\nCommands:\n${CONSOLE_HELP}\npay               (demo cloud) accept the payment\ndecline           (demo cloud) decline the card`);
      startLaneConsole(demo.board, { pay: () => demo.pay(), decline: () => demo.decline() });
      const stop = async () => { await demo.close(); process.exit(0); };
      process.on("SIGINT", stop);
      process.on("SIGTERM", stop);
    });
}
