/**
 * Formal proof of the safety core with yosys + yosys-smtbmc (z3), bounded from reset and by
 * k-induction, with scaled-down timing parameters (FORMAL_PARAMS).
 *
 * Flow per target: read_verilog -formal; chparam; prep -flatten; async2sync; dffunmap; then the
 * design is bit-blasted (techmap; abc -g AND) before write_smt2 -wires. The bit-blasting is
 * needed with Debian's z3 4.8.12: on the word-level encoding of this design it spent > 30 s of
 * CPU on step 0 alone; bit-blasted, the whole proof takes seconds.
 *
 * Targets: `safety_core` (its `ifdef FORMAL` properties, rtl/safety_core_props.vh) and
 * `repeat_open_miter` (formal/repeat_open_miter.v: a repeated open changes nothing).
 */
import { execFile, spawn } from "node:child_process";
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { PARAM_NAMES, type SafetyCoreParams } from "../firmware/barrier-executor/fpga/regmap";
import { REPO_ROOT, RTL_DIR, RTL_FILE } from "./sim";

const execFileP = promisify(execFile);

export const FORMAL_DIR = join(REPO_ROOT, "firmware/barrier-executor/fpga/formal");
export const PROPS_FILE = join(RTL_DIR, "safety_core_props.vh");
export const MITER_FILE = join(FORMAL_DIR, "repeat_open_miter.v");

/** Scaled timing for the proof (the real 50 MHz values make the unrolling far too deep). */
export const FORMAL_PARAMS: Readonly<SafetyCoreParams> = Object.freeze({
  clockHz: 50_000_000,
  debounceCycles: 2,
  runTimeoutCycles: 10,
  deadTimeCycles: 3,
  watchdogCycles: 5,
  ocFilterCycles: 3,
});

/** Deliberately broken copies of the RTL; each must make the proof fail. */
export const MUTANTS: Readonly<Record<string, { find: RegExp; replace: string; doc: string }>> = Object.freeze({
  "obstruction-gate": {
    find: /wire ob_eff\s*=\s*ob \| ~sok;/,
    replace: "wire ob_eff  = 1'b0;",
    doc: "the obstruction / sensor-health gate on closing removed",
  },
  "dead-time": {
    find: /wire idle_ok = !moving && \(idle_cnt >= DEAD_TIME_CYCLES\);/,
    replace: "wire idle_ok = !moving;",
    doc: "the reversal dead time removed",
  },
  "obst-seen-open": {
    find: /obst_seen <= nxt_obst_seen && \(nxt != S_CLOSED\) && \(nxt != S_OPEN\);/,
    replace: "obst_seen <= nxt_obst_seen && (nxt != S_CLOSED);",
    doc: "the obstruction mark kept when the boom reaches fully open",
  },
  "limit-stuck": {
    find: /wire lc_stuck = off_closed && lc;/,
    replace: "wire lc_stuck = 1'b0;",
    doc: "a closed limit asserted after an upward motion believed (stuck switch)",
  },
  "run-probe": {
    find: /wire \[31:0\] run_limit = rt_probe \? RUN_PROBE_CYCLES : RUN_TIMEOUT_CYCLES;/,
    replace: "wire [31:0] run_limit = RUN_TIMEOUT_CYCLES;",
    doc: "the motion after a run timeout gets the full run timeout again",
  },
  "watchdog": {
    find: /wire hb_ok\s*=\s*\(wd_cnt < WATCHDOG_CYCLES\);/,
    replace: "wire hb_ok   = 1'b1;",
    doc: "the heartbeat watchdog ignored",
  },
});

export interface PropertyResult { name: string; target: string; status: "proved" | "failed" | "unknown" }
export interface TargetResult {
  target: string;
  bmc: "passed" | "failed";
  induction: "passed" | "failed";
  failed: string[];
  vcd?: string;
  log: string;
}
export interface ProveResult { ok: boolean; targets: TargetResult[]; properties: PropertyResult[]; outDir: string; depth: number }

export interface ProveOptions {
  outDir: string;
  depth?: number;
  params?: SafetyCoreParams;
  /** Name of a MUTANTS entry: prove a broken copy of the RTL instead. */
  mutant?: string;
  onProgress?: (msg: string) => void;
  /** Prove only this target (default: both). */
  only?: "safety_core" | "repeat_open_miter";
  /** Skip the induction run (a mutant check only needs the bounded counterexample). */
  bmcOnly?: boolean;
}

/** Property labels (p_* invariants and l_* lemmas) declared in a Verilog source. */
export function listProperties(file: string): string[] {
  const out: string[] = [];
  for (const m of readFileSync(file, "utf8").matchAll(/^\s*([pl]_\w+)\s*:\s*assert\b/gm)) out.push(m[1]);
  return out;
}

function run(cmd: string, args: string[], cwd: string): Promise<{ code: number; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (c: Buffer) => { out += c.toString(); });
    child.stderr.on("data", (c: Buffer) => { out += c.toString(); });
    child.on("error", reject);
    child.on("close", (code) => resolve({ code: code ?? 1, out }));
  });
}

function failedAsserts(log: string): string[] {
  const names = new Set<string>();
  for (const m of log.matchAll(/Assert failed in [^:]+: (\S+)/g)) names.add(m[1].replace(/^.*\./, ""));
  return [...names];
}

async function proveTarget(target: string, files: string[], defines: string[], params: SafetyCoreParams, dir: string, depth: number, rtlDir: string, bmcOnly = false): Promise<TargetResult> {
  const chparam = (Object.keys(PARAM_NAMES) as (keyof SafetyCoreParams)[]).map((k) => `-set ${PARAM_NAMES[k]} ${params[k]}`).join(" ");
  const smt2 = join(dir, `${target}.smt2`);
  const script = [
    `read_verilog -formal ${defines.map((d) => `-D${d}`).join(" ")} -I${RTL_DIR} -I${rtlDir} ${files.join(" ")}`,
    `chparam ${chparam} ${target}`,
    `prep -flatten -top ${target}`,
    "async2sync",
    "dffunmap",
    "techmap",
    "opt -fast",
    "abc -g AND",
    "opt_clean",
    "dffunmap",
    `write_smt2 -wires ${smt2}`,
  ].join("\n");
  const ys = join(dir, `${target}.ys`);
  writeFileSync(ys, script + "\n");
  try {
    await execFileP("yosys", ["-q", "-s", ys], { cwd: dir, maxBuffer: 64 * 1024 * 1024 });
  } catch (err) {
    const e = err as { stderr?: string; stdout?: string; message: string };
    throw new Error(`yosys failed on ${target}: ${(e.stderr || e.stdout || e.message).trim()}`, { cause: err });
  }
  const bmcVcd = join(dir, `${target}-bmc.vcd`);
  const indVcd = join(dir, `${target}-induction.vcd`);
  const [bmc, ind] = await Promise.all([
    run("yosys-smtbmc", ["-s", "z3", "--noprogress", "-t", String(depth), "--dump-vcd", bmcVcd, smt2], dir),
    bmcOnly ? Promise.resolve({ code: 0, out: "Status: PASSED (induction skipped)" }) : run("yosys-smtbmc", ["-s", "z3", "--noprogress", "-i", "-t", String(depth), "--dump-vcd", indVcd, smt2], dir),
  ]);
  const bmcOk = bmc.code === 0 && /Status: PASSED/.test(bmc.out);
  const indOk = ind.code === 0 && /Status: PASSED/.test(ind.out);
  const failed = [...new Set([...failedAsserts(bmcOk ? "" : bmc.out), ...failedAsserts(indOk ? "" : ind.out)])];
  writeFileSync(join(dir, `${target}-bmc.log`), bmc.out);
  writeFileSync(join(dir, `${target}-induction.log`), ind.out);
  return {
    target,
    bmc: bmcOk ? "passed" : "failed",
    induction: indOk ? "passed" : "failed",
    failed,
    vcd: !bmcOk ? bmcVcd : !indOk ? indVcd : undefined,
    log: (bmcOk ? "" : bmc.out) + (indOk ? "" : ind.out),
  };
}

/** Runs the whole proof. `ok` is false on any counterexample (bounded) or failed induction. */
export async function prove(opts: ProveOptions): Promise<ProveResult> {
  const depth = opts.depth ?? 30;
  const params = opts.params ?? FORMAL_PARAMS;
  opts = { ...opts, outDir: resolve(opts.outDir) };
  mkdirSync(opts.outDir, { recursive: true });
  let rtl = RTL_FILE;
  let rtlDir = RTL_DIR;
  if (opts.mutant) {
    const m = MUTANTS[opts.mutant];
    if (!m) throw new Error(`unknown mutant "${opts.mutant}" (one of: ${Object.keys(MUTANTS).join(", ")})`);
    const src = readFileSync(RTL_FILE, "utf8");
    if (!m.find.test(src)) throw new Error(`mutant "${opts.mutant}": its site is no longer in safety_core.v`);
    rtlDir = join(opts.outDir, `mutant-${opts.mutant}`);
    mkdirSync(rtlDir, { recursive: true });
    rtl = join(rtlDir, "safety_core.v");
    writeFileSync(rtl, src.replace(m.find, m.replace));
    copyFileSync(PROPS_FILE, join(rtlDir, "safety_core_props.vh"));
  }
  const targets: TargetResult[] = [];
  const files: [TargetResult, string][] = [];
  if (opts.only !== "repeat_open_miter") {
    opts.onProgress?.(`proving safety_core (bounded ${depth} cycles from reset${opts.bmcOnly ? "" : ` + ${depth}-induction`}) …`);
    const core = await proveTarget("safety_core", [rtl], [], params, opts.outDir, depth, rtlDir, opts.bmcOnly);
    targets.push(core);
    files.push([core, PROPS_FILE]);
  }
  if (opts.only !== "safety_core") {
    opts.onProgress?.(`proving repeat_open_miter (bounded ${depth}${opts.bmcOnly ? "" : ` + ${depth}-induction`}) …`);
    const miter = await proveTarget("repeat_open_miter", [rtl, MITER_FILE], ["SAFETY_CORE_NO_PROPS"], params, opts.outDir, depth, rtlDir, opts.bmcOnly);
    targets.push(miter);
    files.push([miter, MITER_FILE]);
  }
  const properties: PropertyResult[] = [];
  for (const [t, file] of files) {
    const passed = t.bmc === "passed" && t.induction === "passed";
    for (const name of listProperties(file)) {
      properties.push({ name, target: t.target, status: passed ? "proved" : t.failed.includes(name) ? "failed" : "unknown" });
    }
  }
  return { ok: targets.every((t) => t.bmc === "passed" && t.induction === "passed"), targets, properties, outDir: opts.outDir, depth };
}
