import { expect } from "chai";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { requireToolOrSkip } from "../../host/tools";
import { coverageSummary, runDirected, runRandom } from "../../fpga/cosim";
import { lintRtl } from "../../fpga/tools";
import { prove } from "../../fpga/prove";
import { COSIM_PARAMS, directedScenarios } from "../../fpga/stimulus";

describe("fpga: RTL against the model (real simulators and prover)", function () {
  this.timeout(600_000);
  let dir: string;
  before(() => { dir = mkdtempSync(join(tmpdir(), "syspark-fpga-test-")); });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("RTL is lint-clean under verilator -Wall and compiles with iverilog", async function () {
    requireToolOrSkip(this, "verilator");
    requireToolOrSkip(this, "iverilog");
    const r = await lintRtl();
    expect(r.ok, r.text).to.equal(true);
  });

  it("every directed scenario holds its expectations and matches the RTL on Icarus, every cycle", async function () {
    requireToolOrSkip(this, "iverilog");
    const rs = await runDirected({ sim: "iverilog", params: COSIM_PARAMS });
    expect(rs.map((r) => r.name)).to.deep.equal(directedScenarios().map((s) => s.name));
    for (const r of rs) {
      expect(r.failures, r.name).to.deep.equal([]);
      expect(r.mismatch, `${r.name}: ${JSON.stringify(r.mismatch)}`).to.equal(undefined);
    }
  });

  it("300k random lockstep cycles on Verilator: 0 mismatches, every state and fault code covered", async function () {
    requireToolOrSkip(this, "verilator");
    const r = await runRandom(300_000, 11, { sim: "verilator", params: COSIM_PARAMS });
    expect(r.mismatch, JSON.stringify(r.mismatch)).to.equal(undefined);
    expect(r.cycles).to.equal(300_000);
    expect(coverageSummary(r).full, coverageSummary(r).text).to.equal(true);
  });

  it("a model that differs from the RTL is caught at the first differing cycle, with a VCD of the window", async function () {
    requireToolOrSkip(this, "verilator");
    const vcd = join(dir, "mismatch.vcd");
    const r = await runRandom(200_000, 5, { sim: "verilator", params: COSIM_PARAMS, modelParams: { ...COSIM_PARAMS, deadTimeCycles: COSIM_PARAMS.deadTimeCycles + 1 }, vcdPath: vcd });
    expect(r.mismatch).to.not.equal(undefined);
    expect(r.mismatch!.fields.length).to.be.greaterThan(0);
    const m = r.mismatch!;
    expect(m.model !== m.rtl || m.modelRdata !== m.rtlRdata, "the report shows the two sides differing").to.equal(true);
    const text = readFileSync(vcd, "utf8");
    expect(text).to.match(/\$scope module model \$end/).and.match(/\$scope module rtl \$end/).and.match(/ idle_cnt /);
  });

  it("the same mismatch is caught on Icarus", async function () {
    requireToolOrSkip(this, "iverilog");
    const r = await runRandom(5_000, 5, { sim: "iverilog", params: COSIM_PARAMS, modelParams: { ...COSIM_PARAMS, watchdogCycles: COSIM_PARAMS.watchdogCycles - 1 } });
    expect(r.mismatch).to.not.equal(undefined);
  });

  it("syspark fpga prove: every property proved, bounded and by induction", async function () {
    requireToolOrSkip(this, "yosys");
    requireToolOrSkip(this, "yosys-smtbmc", "yosys");
    requireToolOrSkip(this, "z3");
    const r = await prove({ outDir: join(dir, "prove"), depth: 24 });
    const bad = r.properties.filter((p) => p.status !== "proved").map((p) => `${p.target}.${p.name}`);
    expect(bad).to.deep.equal([]);
    expect(r.ok).to.equal(true);
    expect(r.properties.map((p) => p.name)).to.include.members(["p_no_up_and_down", "p_no_close_into_obstruction", "p_watchdog_safe", "p_dead_time_down", "p_repeat_open_changes_nothing"]);
  });

  it("a mutant with the obstruction gate on closing removed FAILS the proof, with a counterexample VCD", async function () {
    requireToolOrSkip(this, "yosys");
    requireToolOrSkip(this, "yosys-smtbmc", "yosys");
    requireToolOrSkip(this, "z3");
    const r = await prove({ outDir: join(dir, "mutant"), depth: 24, mutant: "obstruction-gate", only: "safety_core", bmcOnly: true });
    expect(r.ok).to.equal(false);
    const failed = r.properties.filter((p) => p.status === "failed").map((p) => p.name);
    expect(failed.some((n) => /obstruction/.test(n)), failed.join(",")).to.equal(true);
    expect(readFileSync(r.targets[0].vcd!, "utf8")).to.match(/\$enddefinitions/);
  });

  it("a mutant that keeps the obstruction mark at fully open FAILS p_open_ends_close_cycle", async function () {
    requireToolOrSkip(this, "yosys");
    requireToolOrSkip(this, "yosys-smtbmc", "yosys");
    requireToolOrSkip(this, "z3");
    const r = await prove({ outDir: join(dir, "mutant-obst-seen-open"), depth: 24, mutant: "obst-seen-open", only: "safety_core", bmcOnly: true });
    expect(r.ok).to.equal(false);
    expect(r.properties.filter((p) => p.status === "failed").map((p) => p.name)).to.include("p_open_ends_close_cycle");
  });

  it("a mutant that believes a closed limit stuck after an opening FAILS p_closed_needs_closing", async function () {
    requireToolOrSkip(this, "yosys");
    requireToolOrSkip(this, "yosys-smtbmc", "yosys");
    requireToolOrSkip(this, "z3");
    const r = await prove({ outDir: join(dir, "mutant-limit-stuck"), depth: 24, mutant: "limit-stuck", only: "safety_core", bmcOnly: true });
    expect(r.ok).to.equal(false);
    expect(r.properties.filter((p) => p.status === "failed").map((p) => p.name)).to.include("p_closed_needs_closing");
  });

  it("a mutant that gives the motion after a run timeout the full run timeout again FAILS p_probe_bounded", async function () {
    requireToolOrSkip(this, "yosys");
    requireToolOrSkip(this, "yosys-smtbmc", "yosys");
    requireToolOrSkip(this, "z3");
    const r = await prove({ outDir: join(dir, "mutant-run-probe"), depth: 24, mutant: "run-probe", only: "safety_core", bmcOnly: true });
    expect(r.ok).to.equal(false);
    expect(r.properties.filter((p) => p.status === "failed").map((p) => p.name)).to.include("p_probe_bounded");
  });
});
