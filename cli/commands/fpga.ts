/**
 * `syspark fpga …`: the barrier safety core (firmware/barrier-executor/fpga): formal proof,
 * lockstep co-simulation against Verilator / Icarus, lint, and VCD export of model runs.
 */
import type { Command } from "commander";
import { intOption } from "../main";

function progress(msg: string): void {
  process.stderr.write(`${msg}\n`);
}

export function register(program: Command): void {
  const fpga = program.command("fpga").description("Barrier safety core: formal proof, lockstep co-simulation, lint, VCD export.");

  fpga
    .command("prove")
    .description("Prove the safety-core invariants with yosys + yosys-smtbmc (z3): bounded from reset and by induction, scaled timing. Exits 1 on a counterexample (its VCD is written).")
    .option("--depth <n>", "unrolling depth for BMC and induction", intOption("--depth", 5, 200), 30)
    .option("--out <dir>", "output directory (SMT2, logs, counterexample VCDs)", "out/fpga-prove")
    .option("--mutant <name>", "prove a deliberately broken copy of the RTL instead (must fail): obstruction-gate, dead-time, watchdog")
    .action(async (opts: { depth: number; out: string; mutant?: string }) => {
      const { prove } = await import("../../fpga/prove");
      const { requireTools } = await import("../../fpga/tools");
      requireTools(["yosys", "yosys-smtbmc", "z3"]);
      const t0 = Date.now();
      const r = await prove({ outDir: opts.out, depth: opts.depth, mutant: opts.mutant, onProgress: progress });
      for (const p of r.properties) console.log(`${p.status === "proved" ? "PROVED " : p.status === "failed" ? "FAILED " : "UNKNOWN"}  ${p.target}.${p.name}`);
      for (const t of r.targets) {
        console.log(`${t.target}: bounded (${r.depth} cycles from reset) ${t.bmc}, induction ${t.induction}${t.vcd ? ` — counterexample: ${t.vcd}` : ""}`);
      }
      console.log(`${r.ok ? "all properties proved" : "PROOF FAILED"} in ${((Date.now() - t0) / 1000).toFixed(1)} s${opts.mutant ? ` (mutant ${opts.mutant})` : ""}`);
      if (!r.ok) process.exitCode = 1;
    });

  fpga
    .command("cosim")
    .description("Lockstep co-simulation: the RTL in a real simulator and the TypeScript model, same seeded stimulus, every register compared every cycle.")
    .option("--cycles <n>", "random cycles to compare", intOption("--cycles", 0, 2_000_000_000), 1_000_000)
    .option("--seed <s>", "stimulus seed", intOption("--seed", 0, 0xffffffff), 1)
    .option("--sim <name>", "verilator | iverilog", "verilator")
    .option("--directed", "also run the directed scenarios (each invariant's edge cases)")
    .option("--only-directed", "run only the directed scenarios")
    .option("--vcd <file>", "VCD of the window around a mismatch", "out/fpga-mismatch.vcd")
    .action(async (opts: { cycles: number; seed: number; sim: string; directed?: boolean; onlyDirected?: boolean; vcd: string }) => {
      if (opts.sim !== "verilator" && opts.sim !== "iverilog") throw new Error(`--sim must be verilator or iverilog, got "${opts.sim}"`);
      const sim = opts.sim;
      if (sim === "iverilog" && opts.cycles > 5_000_000 && !opts.onlyDirected) throw new Error(`--sim iverilog runs about 50 k cycles/s: use --cycles <= 5000000 (or --sim verilator)`);
      const { mkdirSync } = await import("node:fs");
      const { dirname } = await import("node:path");
      const { runDirected, runRandom, coverageSummary } = await import("../../fpga/cosim");
      const { COSIM_PARAMS } = await import("../../fpga/stimulus");
      const { requireTools } = await import("../../fpga/tools");
      const { FAULT_NAMES, STATE_NAMES } = await import("../../firmware/barrier-executor/fpga/regmap");
      requireTools(sim === "verilator" ? ["verilator", "make", "g++"] : ["iverilog", "vvp"]);
      mkdirSync(dirname(opts.vcd), { recursive: true });
      const base = { sim, params: COSIM_PARAMS, onProgress: progress, vcdPath: opts.vcd } as const;
      let failed = false;
      console.log(`timing (cycles): ${JSON.stringify(COSIM_PARAMS)}`);
      if (opts.directed || opts.onlyDirected) {
        const rs = await runDirected(base);
        for (const r of rs) {
          const bad = r.mismatch || r.failures.length;
          if (bad) failed = true;
          console.log(`${bad ? "FAIL" : "ok  "}  directed ${r.name}: ${r.cycles} cycles, ${r.mismatch ? "MISMATCH" : "0 mismatches"}${r.failures.length ? `; expectations: ${r.failures.join("; ")}` : ""}`);
          if (r.mismatch) printMismatch(r.mismatch);
        }
      }
      if (!opts.onlyDirected && opts.cycles > 0) {
        const r = await runRandom(opts.cycles, opts.seed, base);
        const cov = coverageSummary(r);
        console.log(`random seed ${opts.seed} on ${sim}: ${r.cycles.toLocaleString("en")} cycles compared, ${r.mismatch ? 1 : 0} mismatches, ${(r.wallMs / 1000).toFixed(1)} s (${Math.round(r.cycles / Math.max(0.001, r.wallMs / 1000)).toLocaleString("en")} cycles/s)`);
        console.log(`coverage: ${cov.text}`);
        console.log(`  states: ${STATE_NAMES.map((n, i) => `${n}=${r.stateCoverage[i]}`).join(" ")}`);
        console.log(`  faults: ${FAULT_NAMES.map((n, i) => `${n}=${r.faultCoverage[i]}`).join(" ")}`);
        if (r.mismatch) { failed = true; printMismatch(r.mismatch); }
        if (!cov.full) { failed = true; console.log("coverage incomplete: run more cycles or another seed"); }
      }
      if (failed) process.exitCode = 1;
    });

  fpga
    .command("lint")
    .description("verilator --lint-only -Wall on the RTL, and an Icarus Verilog (-g2012) compile.")
    .action(async () => {
      const { lintRtl } = await import("../../fpga/tools");
      const r = await lintRtl();
      console.log(r.text);
      if (!r.ok) process.exitCode = 1;
    });

  fpga
    .command("vcd")
    .description("Run a directed scenario on the TypeScript model and write its VCD (signals named as in the RTL).")
    .requiredOption("--scenario <name>", "scenario name (see `syspark fpga cosim --only-directed`)")
    .option("--out <file>", "VCD file", "out/safety-core.vcd")
    .action(async (opts: { scenario: string; out: string }) => {
      const { mkdirSync } = await import("node:fs");
      const { dirname } = await import("node:path");
      const { directedScenarios, ScriptStimulus, COSIM_PARAMS } = await import("../../fpga/stimulus");
      const { SafetyCoreModel } = await import("../../firmware/barrier-executor/fpga/model");
      const { ModelVcdRecorder } = await import("../../fpga/vcd");
      const sc = directedScenarios(COSIM_PARAMS).find((s) => s.name === opts.scenario);
      if (!sc) throw new Error(`unknown scenario "${opts.scenario}" (one of: ${directedScenarios(COSIM_PARAMS).map((s) => s.name).join(", ")})`);
      const model = new SafetyCoreModel(COSIM_PARAMS);
      const rec = new ModelVcdRecorder(model);
      const gen = new ScriptStimulus(sc, COSIM_PARAMS);
      const pins = { inBits: 0, we: 0, addr: 0, wdata: 0 };
      for (let i = 0; i < gen.cycles; i++) {
        gen.next(model, pins);
        rec.cycle(pins.inBits, pins.we, pins.addr, pins.wdata);
      }
      mkdirSync(dirname(opts.out), { recursive: true });
      rec.vcd.write(opts.out);
      console.log(`${opts.out}: ${gen.cycles} cycles of ${sc.name}`);
    });
}

function printMismatch(m: { cycle: number; model: string; rtl: string; modelRdata: number; rtlRdata: number; fields: string[]; vcdPath?: string }): void {
  console.log(`first mismatch at cycle ${m.cycle} (differs: ${m.fields.join(", ") || "?"})`);
  console.log(`  model: csr_rdata=0x${m.modelRdata.toString(16)} ${m.model}`);
  console.log(`  rtl:   csr_rdata=0x${m.rtlRdata.toString(16)} ${m.rtl}`);
  if (m.vcdPath) console.log(`  window VCD: ${m.vcdPath}`);
}
