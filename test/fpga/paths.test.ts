/**
 * The FPGA host-side tooling (fpga/) finds its files from its own location: the repository root,
 * the RTL and formal sources under firmware/barrier-executor/fpga/, and its own Icarus testbench
 * and Verilator harness beside it. A move of the folder that left one of these pointing at the old
 * place would only show in the heavy cosim and proof tests, or in CI; this checks them directly.
 */
import { expect } from "chai";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { FORMAL_DIR, MITER_FILE, PROPS_FILE } from "../../fpga/prove";
import { HARNESS_CPP, ICARUS_TB, REPO_ROOT, RTL_DIR, RTL_FILE } from "../../fpga/sim";

const FPGA_DIR = join(dirname(fileURLToPath(import.meta.url)), "../../fpga");

describe("fpga tooling paths", () => {
  it("the repository root is the one holding package.json and firmware/", () => {
    expect(existsSync(join(REPO_ROOT, "package.json")), REPO_ROOT).to.equal(true);
    expect(existsSync(join(REPO_ROOT, "firmware/barrier-executor/fpga")), REPO_ROOT).to.equal(true);
  });

  it("every source file the tools read exists", () => {
    for (const f of [RTL_DIR, RTL_FILE, PROPS_FILE, FORMAL_DIR, MITER_FILE, HARNESS_CPP, ICARUS_TB]) expect(existsSync(f), f).to.equal(true);
  });

  it("the testbench and the harness are the tooling's own, beside it in fpga/", () => {
    expect(ICARUS_TB).to.equal(join(FPGA_DIR, "icarus/tb.v"));
    expect(HARNESS_CPP).to.equal(join(FPGA_DIR, "verilator/harness.cpp"));
  });
});
