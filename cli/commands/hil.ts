import type { Command } from "commander";
import { intOption } from "../main";

export function register(program: Command): void {
  const hil = program.command("hil").description("hardware-in-the-loop harness: scenarios against simulated boards or a rig of real boards");
  hil
    .command("run")
    .description("run the HIL scenario library (mocha) and write JUnit XML and an HTML report; exit 1 on a failed scenario, 2 on an infrastructure error")
    .option("--rig <rig.json>", "rig file: boards, serial ports, reset methods, I/O emulator (required for --target rig)")
    .option("--target <target>", "sim (simulated boards, started by the harness), xs (the firmware built with $MODDABLE's mcconfig, on XS in mcsim) or rig (the rig file's real ports)", (v: string) => {
      if (v !== "sim" && v !== "rig" && v !== "xs") throw new Error(`--target must be sim, xs or rig, got "${v}"`);
      return v;
    }, "sim")
    .option("--grep <pattern>", "only scenarios whose full title matches this regular expression", (v: string) => {
      try { new RegExp(v); } catch (err) { throw new Error(`--grep is not a valid regular expression: ${(err as Error).message}`, { cause: err }); }
      return v;
    })
    .option("--junit <file>", "write JUnit XML here")
    .option("--html <file>", "write the HTML report here (DUT logs go next to it, in hil-logs/)")
    .option("--links <kind>", "sim board links: auto (socat ptys when installed), pty or memory", (v: string) => {
      if (!["auto", "pty", "memory"].includes(v)) throw new Error(`--links must be auto, pty or memory, got "${v}"`);
      return v;
    }, "auto")
    .option("--clock <clock>", "sim: virtual (one site clock for boards, plant, gateway and cloud that jumps ahead while the site is idle) or wall (real time, to watch it); xs and rig: always wall", (v: string) => {
      if (v !== "virtual" && v !== "wall") throw new Error(`--clock must be virtual or wall, got "${v}"`);
      return v;
    })
    .option("--retries <n>", "run a failed scenario again up to n times (0-3) on a fresh lane set; a pass after a retry is reported as FLAKY", intOption("--retries", 0, 3), 0)
    .option("--log-level <level>", "pino log level of the gateway and cloud", process.env.LOG_LEVEL ?? "silent")
    .action(async (opts: { retries: number; rig?: string; target: "sim" | "rig" | "xs"; grep?: string; junit?: string; html?: string; links: "auto" | "pty" | "memory"; clock?: "virtual" | "wall"; logLevel: string }) => {
      const { runHil } = await import("../../hil/harness/runner");
      const { loadRig } = await import("../../hil/rig/schema");
      const { createLogger } = await import("../../host/log");
      const { isInfrastructureError } = await import("../../hil/harness/errors");
      if (opts.target === "rig" && !opts.rig) throw new Error("--target rig needs --rig <rig.json>");
      if (opts.target !== "sim" && opts.clock === "virtual") throw new Error(`--clock virtual applies to --target sim only: ${opts.target === "xs" ? "XS runs" : "real boards run"} in real time`);
      if (opts.target === "xs") {
        // Refuse before anything starts when the SDK is not there, saying what to install.
        const { moddableTools } = await import("../../hil/xs/xs-firmware");
        try {
          moddableTools();
        } catch (err) {
          console.error(`syspark hil: ${(err as Error).message}`);
          process.exitCode = 2;
          return;
        }
      }
      let rig;
      try {
        rig = opts.rig ? loadRig(opts.rig) : undefined;
      } catch (err) {
        console.error(`syspark hil: ${(err as Error).message}`);
        process.exitCode = isInfrastructureError(err) ? 2 : 1;
        return;
      }
      const summary = await runHil({
        target: opts.target, ...(rig ? { rig } : {}), ...(opts.grep ? { grep: opts.grep } : {}), ...(opts.junit ? { junit: opts.junit } : {}), ...(opts.html ? { html: opts.html } : {}),
        links: opts.links, retries: opts.retries, ...(opts.clock ? { clock: opts.clock } : {}), logger: createLogger("hil", opts.logLevel),
      });
      process.exitCode = summary.exitCode;
      if (summary.results.length === 0) {
        // A typo in --grep must not pass CI with zero scenarios run.
        console.error(`syspark hil: no scenario matches${opts.grep ? ` --grep ${opts.grep}` : ""}`);
        process.exitCode = 1;
      }
    });

  hil
    .command("sim-rig")
    .description("serve a rig of simulated boards on socat ptys (with an I/O emulator and a file power switch) and write its rig file, to try --target rig without hardware")
    .option("--dir <dir>", "where the ptys, power files and rig.json go", ".data/sim-rig")
    .option("--lanes <n>", "number of lanes", intOption("--lanes", 1, 8), 1)
    .action(async (opts: { dir: string; lanes: number }) => {
      const { startSimRig } = await import("../../hil/rig/sim-rig");
      const rig = await startSimRig(opts.dir, Array.from({ length: opts.lanes }, (_, i) => `L${i + 1}`));
      console.log(`simulated rig up: ${rig.rigPath}
  run: syspark hil run --target rig --rig ${rig.rigPath}
  (Ctrl-C to stop)`);
      const stop = async () => { await rig.close(); process.exit(0); };
      process.on("SIGINT", () => void stop());
      process.on("SIGTERM", () => void stop());
    });
}
