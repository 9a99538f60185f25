/** Tool checks and RTL lint for the safety core (Debian: iverilog verilator yosys z3). */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { which } from "../host/tools";
import { RTL_FILE } from "./sim";

const execFileP = promisify(execFile);

const PACKAGE: Record<string, string> = {
  yosys: "yosys", "yosys-smtbmc": "yosys", z3: "z3", verilator: "verilator", iverilog: "iverilog", vvp: "iverilog", make: "make", "g++": "g++",
};

/** Throws one clear message naming every missing tool and the Debian packages to install. */
export function requireTools(tools: string[]): void {
  const missing = tools.filter((t) => !which(t));
  if (missing.length) {
    const pkgs = [...new Set(missing.map((t) => PACKAGE[t] ?? t))];
    throw new Error(`missing ${missing.join(", ")}: apt-get install -y ${pkgs.join(" ")}`);
  }
}

/** verilator --lint-only -Wall and an iverilog -g2012 compile of the RTL. */
export async function lintRtl(): Promise<{ ok: boolean; text: string }> {
  requireTools(["verilator", "iverilog"]);
  const lines: string[] = [];
  let ok = true;
  try {
    await execFileP("verilator", ["--lint-only", "-Wall", RTL_FILE]);
    lines.push("verilator --lint-only -Wall: clean");
  } catch (err) {
    ok = false;
    lines.push(`verilator --lint-only -Wall: FAILED\n${(err as { stderr?: string }).stderr ?? String(err)}`);
  }
  try {
    await execFileP("iverilog", ["-g2012", "-o", "/dev/null", RTL_FILE]);
    lines.push("iverilog -g2012: clean");
  } catch (err) {
    ok = false;
    lines.push(`iverilog -g2012: FAILED\n${(err as { stderr?: string }).stderr ?? String(err)}`);
  }
  return { ok, text: lines.join("\n") };
}
