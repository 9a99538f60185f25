import type { Command } from "commander";

export const BARRIER_CONSOLE_HELP = [
  "vehicle under     a vehicle under the boom (obstruction sensor / loop)",
  "vehicle clear     the lane under the boom is clear",
  "jam | unjam       block the boom mechanically / free it",
  "emergency on|off  site emergency input (free exit)",
  "limit open|closed ok|stuck|missing   break or repair a limit switch",
  "sensor ok|failed  obstruction sensor health",
  "heartbeat freeze|run                 stop / resume the MCU heartbeat reaching the core",
  "power             power-cycle the MCU",
  "status            boom, motor, core and barrier state, link counters",
].join("\n");

/**
 * Adds `board barrier-executor` to the `board` command of cli/commands/board.ts. Command files
 * load in sorted order, and "board-barrier.ts" sorts BEFORE "board.ts" ('-' < '.'), so the
 * `board` command usually does not exist yet: then the program's `command()` is wrapped once,
 * to attach the subcommand the moment board.ts creates `board`, and restored right after.
 */
export function register(program: Command): void {
  const existing = program.commands.find((c) => c.name() === "board");
  if (existing) return addBarrierExecutor(existing);
  const original = program.command;
  const wrapped = function (this: Command, ...args: Parameters<Command["command"]>): Command {
    const created = original.apply(this, args);
    if (created !== this && created.name() === "board") {
      program.command = original;
      addBarrierExecutor(created);
    }
    return created;
  };
  program.command = wrapped as Command["command"];
}

function addBarrierExecutor(board: Command): void {
  board
    .command("barrier-executor")
    .description("the barrier executor (its FPGA safety core is the cycle-accurate model, its boom the plant model), on --serial, driven from the terminal")
    .requiredOption("--serial <path>", "serial device the gateway link is on")
    .option("--lane <id>", "lane id (overrides the manifest config)")
    .option("--boot <n>", "boot count to announce", "1")
    .option("--quiet", "do not print state changes")
    .action(async (opts: { serial: string; lane?: string; boot: string; quiet?: boolean }) => {
      if (opts.lane !== undefined && !/^[A-Za-z0-9._:-]{1,16}$/.test(opts.lane)) throw new Error(`--lane must be 1-16 of A-Z a-z 0-9 . _ : -, got "${opts.lane}"`);
      const bootCount = Number(opts.boot);
      if (!Number.isInteger(bootCount) || bootCount < 1) throw new Error(`--boot must be a positive whole number, got "${opts.boot}"`);
      const { SimulatedBarrierExecutor } = await import("../../sim/boards/barrier-executor-sim");
      const { RealClock } = await import("../../sim/boards/virtual-clock");
      const { createInterface } = await import("node:readline");
      const sim = await SimulatedBarrierExecutor.start({ serialPath: opts.serial, lane: opts.lane, clock: new RealClock(), bootCount, trace: (t) => process.stderr.write(t) });
      console.log(`barrier-executor (simulated board, lane ${sim.lane}) on ${opts.serial}; type ? for commands\n${BARRIER_CONSOLE_HELP}`);
      let last = "";
      const timer = setInterval(() => {
        if (opts.quiet) return;
        const line = `barrier ${sim.barrierState} · core ${sim.coreState}`;
        if (line !== last) { last = line; console.log(sim.status()); }
      }, 100);
      const rl = createInterface({ input: process.stdin, output: process.stdout, terminal: process.stdin.isTTY ?? false });
      rl.on("line", (input) => {
        const [command, arg = "", arg2 = ""] = input.trim().split(/\s+/);
        try {
          switch (command) {
            case "": return;
            case "vehicle":
              if (arg !== "under" && arg !== "clear") throw new Error("vehicle under | vehicle clear");
              sim.vehicleUnder(arg === "under");
              break;
            case "jam": sim.jam(); break;
            case "unjam": sim.clearJam(); break;
            case "emergency":
              if (arg !== "on" && arg !== "off") throw new Error("emergency on | emergency off");
              sim.emergency(arg === "on");
              break;
            case "limit":
              if ((arg !== "open" && arg !== "closed") || !["ok", "stuck", "missing"].includes(arg2)) throw new Error("limit open|closed ok|stuck|missing");
              sim.breakLimitSwitch(arg, arg2 as "ok" | "stuck" | "missing");
              break;
            case "sensor":
              if (arg !== "ok" && arg !== "failed") throw new Error("sensor ok | sensor failed");
              sim.failObstructionSensor(arg === "failed");
              break;
            case "heartbeat":
              if (arg !== "freeze" && arg !== "run") throw new Error("heartbeat freeze | heartbeat run");
              sim.freezeHeartbeat(arg === "freeze");
              break;
            case "power": sim.powerCycle(); break;
            case "status": console.log(sim.status()); console.log(sim.link.stats); return;
            case "?": case "help": console.log(BARRIER_CONSOLE_HELP); return;
            default:
              console.log(`unknown command "${command}" — type ? for the list`);
              return;
          }
          console.log(sim.status());
        } catch (err) {
          console.log(`error: ${(err as Error).message}`);
        }
      });
      rl.on("close", () => console.log("(stdin closed: the board keeps running; Ctrl-C stops it)"));
      const stop = async () => { clearInterval(timer); await sim.close(); process.exit(0); };
      process.on("SIGINT", stop);
      process.on("SIGTERM", stop);
    });
}
