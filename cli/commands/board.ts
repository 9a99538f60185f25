import type { Command } from "commander";

export function register(program: Command): void {
  const board = program.command("board").description("run a simulated lane board: the real firmware on Node, on a real serial device");
  board
    .command("exit-controller")
    .description("the exit pay-station controller, on --serial (a socat pty end, a USB-serial adapter…), driven from the terminal")
    .requiredOption("--serial <path>", "serial device the gateway link is on")
    .option("--lane <id>", "lane id (overrides the manifest config)")
    .option("--boot <n>", "boot count to announce", "1")
    .option("--quiet", "do not print display changes")
    .action(async (opts: { serial: string; lane?: string; boot: string; quiet?: boolean }) => {
      const { SimulatedExitController } = await import("../../sim/boards/exit-controller-sim");
      const { RealClock } = await import("../../sim/boards/virtual-clock");
      const { renderDisplay, startLaneConsole, CONSOLE_HELP } = await import("../../sim/console/lane-console");
      if (opts.lane !== undefined && !/^[A-Za-z0-9._:-]{1,16}$/.test(opts.lane)) throw new Error(`--lane must be 1-16 of A-Z a-z 0-9 . _ : -, got "${opts.lane}"`);
      const bootCount = Number(opts.boot);
      if (!Number.isInteger(bootCount) || bootCount < 1) throw new Error(`--boot must be a positive whole number, got "${opts.boot}"`);
      const sim = await SimulatedExitController.start({ serialPath: opts.serial, lane: opts.lane, clock: new RealClock(), bootCount, trace: (t) => process.stderr.write(t) });
      console.log(`exit-controller (simulated board, lane ${sim.lane}) on ${opts.serial}; type ? for commands\n${CONSOLE_HELP}`);
      if (!opts.quiet) {
        let last = "";
        setInterval(() => {
          const now = renderDisplay(sim);
          if (now !== last) { console.log(now); last = now; }
        }, 100);
      }
      startLaneConsole(sim);
      const stop = async () => { await sim.close(); process.exit(0); };
      process.on("SIGINT", stop);
      process.on("SIGTERM", stop);
    });
}
