import type { Command } from "commander";
import type { SimulatedEntryTerminal } from "../../sim/boards/entry-terminal-sim";
import type { SimulatedExitController } from "../../sim/boards/exit-controller-sim";

interface LaneBoardOpts { serial: string; lane?: string; boot: string; quiet?: boolean }

/** --lane and --boot checked, with the flag named. */
function laneBoardArgs(opts: LaneBoardOpts): { lane?: string; bootCount: number } {
  if (opts.lane !== undefined && !/^[A-Za-z0-9._:-]{1,16}$/.test(opts.lane)) throw new Error(`--lane must be 1-16 of A-Z a-z 0-9 . _ : -, got "${opts.lane}"`);
  const bootCount = Number(opts.boot);
  if (!Number.isInteger(bootCount) || bootCount < 1) throw new Error(`--boot must be a positive whole number, got "${opts.boot}"`);
  return { ...(opts.lane !== undefined ? { lane: opts.lane } : {}), bootCount };
}

/** Runs a simulated lane controller (either role) from the terminal: its display printed on change, the console on stdin. */
async function runLaneBoard(kind: "exit-controller" | "entry-terminal", opts: LaneBoardOpts): Promise<void> {
  const { RealClock } = await import("../../sim/boards/virtual-clock");
  const { renderDisplay, startLaneConsole, CONSOLE_HELP, ENTRY_CONSOLE_HELP } = await import("../../sim/console/lane-console");
  const args = laneBoardArgs(opts);
  const common = { serialPath: opts.serial, clock: new RealClock(), ...args, trace: (t: string) => process.stderr.write(t) };
  let sim: SimulatedExitController | SimulatedEntryTerminal;
  if (kind === "exit-controller") {
    const { SimulatedExitController } = await import("../../sim/boards/exit-controller-sim");
    const exit = await SimulatedExitController.start(common);
    startLaneConsole(exit, { exit });
    sim = exit;
  } else {
    const { SimulatedEntryTerminal } = await import("../../sim/boards/entry-terminal-sim");
    const entry = await SimulatedEntryTerminal.start(common);
    startLaneConsole(entry, { entry });
    sim = entry;
  }
  console.log(`${kind} (simulated board, lane ${sim.lane}) on ${opts.serial}; type ? for commands\n${kind === "exit-controller" ? CONSOLE_HELP : ENTRY_CONSOLE_HELP}`);
  if (!opts.quiet) {
    let last = "";
    setInterval(() => {
      const now = renderDisplay(sim);
      if (now !== last) { console.log(now); last = now; }
    }, 100);
  }
  const stop = async () => { await sim.close(); process.exit(0); };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
}

export function register(program: Command): void {
  const board = program.command("board").description("run a simulated lane board: the real firmware on Node, on a real serial device");
  const laneBoard = (name: "exit-controller" | "entry-terminal", description: string) =>
    board
      .command(name)
      .description(description)
      .requiredOption("--serial <path>", "serial device the gateway link is on")
      .option("--lane <id>", "lane id (overrides the manifest config)")
      .option("--boot <n>", "boot count to announce", "1")
      .option("--quiet", "do not print display changes")
      .action((opts: LaneBoardOpts) => runLaneBoard(name, opts));
  laneBoard("exit-controller", "the exit pay-station controller, on --serial (a socat pty end, a USB-serial adapter…), driven from the terminal");
  laneBoard("entry-terminal", "the lane controller in its entry role (manifests/entry-terminal.json: ticket key, printer, scanner), on --serial, driven from the terminal");
}
