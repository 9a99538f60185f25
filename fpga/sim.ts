/**
 * Real Verilog simulators for the safety core: Verilator (a compiled harness streaming binary
 * batches over stdin/stdout) and Icarus Verilog (a file-driven testbench). Both produce, per
 * cycle, the record the model is compared against: csr_rdata before the edge, then the 10
 * words of `dbg` after it.
 *
 * Builds go to build/fpga/ (git-ignored), one directory per (sources, parameters) hash, so a
 * rebuild happens only when the RTL or the parameters change.
 */
import { spawn, execFile, type ChildProcessWithoutNullStreams } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { fileURLToPath } from "node:url";
import { PARAM_NAMES, type SafetyCoreParams } from "../firmware/barrier-executor/fpga/regmap";

const execFileP = promisify(execFile);

export const REPO_ROOT = resolve(fileURLToPath(new URL("../", import.meta.url)));
export const RTL_DIR = join(REPO_ROOT, "firmware/barrier-executor/fpga/rtl");
export const RTL_FILE = join(RTL_DIR, "safety_core.v");
export const HARNESS_CPP = fileURLToPath(new URL("./verilator/harness.cpp", import.meta.url));
export const ICARUS_TB = fileURLToPath(new URL("./icarus/tb.v", import.meta.url));
export const BUILD_DIR = process.env.SYSPARK_FPGA_BUILD_DIR ?? join(REPO_ROOT, "build/fpga");

/** Bytes per stimulus record: [0] raw inputs (bit 6 = rst), [1] we | addr << 1, [4..7] wdata LE. */
export const STIM_BYTES = 8;
/** Words per result record: csr_rdata, dbg[0..9]. */
export const RECORD_WORDS = 11;

/** Running hash over result records, the same as the Verilator harness. */
export function hashRecords(h: number, rec: ArrayLike<number>, offset: number, count: number): number {
  for (let i = offset; i < offset + count; i++) h = Math.imul(h ^ rec[i], 0x01000193) >>> 0;
  return h;
}
export const HASH_SEED = 0x811c9dc5;

function paramArgs(params: SafetyCoreParams, flag: (name: string, value: number) => string): string[] {
  return (Object.keys(PARAM_NAMES) as (keyof SafetyCoreParams)[]).map((k) => flag(PARAM_NAMES[k], params[k]));
}

function buildKey(files: string[], params: SafetyCoreParams, extra: string): string {
  const h = createHash("sha256");
  for (const f of files) h.update(readFileSync(f));
  h.update(JSON.stringify(params));
  h.update(extra);
  return h.digest("hex").slice(0, 16);
}

/** Compiles (once per RTL + parameters) the Verilator harness with -O3 and returns its path. */
export async function buildVerilatorHarness(params: SafetyCoreParams, onProgress?: (msg: string) => void): Promise<string> {
  const key = buildKey([RTL_FILE, HARNESS_CPP], params, "verilator-O3");
  const dir = join(BUILD_DIR, `verilator-${key}`);
  const exe = join(dir, "harness");
  if (existsSync(exe)) return exe;
  mkdirSync(BUILD_DIR, { recursive: true });
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  onProgress?.(`building the Verilator harness (-O3) in ${dir} …`);
  const args = [
    "--cc", "--exe", "--build", "-O3", "--x-assign", "fast", "--x-initial", "fast", "--noassert", "-Wno-fatal",
    "-CFLAGS", "-O2", "--top-module", "safety_core", "-Mdir", tmp, "-o", "harness",
    ...paramArgs(params, (n, v) => `-G${n}=${v}`),
    HARNESS_CPP, RTL_FILE,
  ];
  try {
    await execFileP("verilator", args, { maxBuffer: 64 * 1024 * 1024 });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`verilator build failed: ${(e.stderr ?? e.message).trim().split("\n").slice(-15).join("\n")}`, { cause: err });
  }
  try {
    renameSync(tmp, dir);
  } catch {
    // another process finished the same build first: use theirs
    rmSync(tmp, { recursive: true, force: true });
  }
  return exe;
}

/** A running Verilator harness. One request at a time (the caller awaits each reply). */
export class VerilatorSim {
  private readonly child: ChildProcessWithoutNullStreams;
  private buf: Buffer = Buffer.alloc(0);
  private waiting: { n: number; resolve: (b: Buffer) => void; reject: (e: Error) => void } | undefined;
  private exited: Error | undefined;
  private stderr = "";

  private constructor(exe: string) {
    this.child = spawn(exe, [], { stdio: ["pipe", "pipe", "pipe"] });
    this.child.stdout.on("data", (chunk: Buffer) => {
      this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
      this.pump();
    });
    this.child.stderr.on("data", (c: Buffer) => { this.stderr += c.toString(); });
    this.child.on("exit", (code, signal) => {
      this.exited = new Error(`Verilator harness exited (code ${code}, signal ${signal})${this.stderr ? ": " + this.stderr.trim() : ""}`);
      this.waiting?.reject(this.exited);
      this.waiting = undefined;
    });
    this.child.stdin.on("error", () => { /* reported through exit */ });
  }

  static async start(params: SafetyCoreParams, onProgress?: (msg: string) => void): Promise<VerilatorSim> {
    return new VerilatorSim(await buildVerilatorHarness(params, onProgress));
  }

  private pump(): void {
    const w = this.waiting;
    if (w && this.buf.length >= w.n) {
      const out = this.buf.subarray(0, w.n);
      this.buf = this.buf.subarray(w.n);
      this.waiting = undefined;
      w.resolve(Buffer.from(out));
    }
  }

  private read(n: number): Promise<Buffer> {
    if (this.exited) return Promise.reject(this.exited);
    return new Promise((resolve, reject) => {
      this.waiting = { n, resolve, reject };
      this.pump();
    });
  }

  private send(data: Uint8Array): void {
    if (this.exited) throw this.exited;
    this.child.stdin.write(data);
  }

  /** Sends a batch (stimulus records) and returns the running hash after it. */
  async run(stim: Uint8Array, n: number): Promise<number> {
    const head = new Uint32Array([1, n]);
    this.send(new Uint8Array(head.buffer));
    this.send(stim.subarray(0, n * STIM_BYTES));
    const rep = await this.read(8);
    return rep.readUInt32LE(0);
  }

  /** Starts a batch without waiting; collect its hash with result(). Lets the caller overlap work. */
  submit(stim: Uint8Array, n: number): Promise<number> {
    const head = new Uint32Array([1, n]);
    this.send(new Uint8Array(head.buffer));
    this.send(stim.subarray(0, n * STIM_BYTES));
    return this.read(8).then((rep) => rep.readUInt32LE(0));
  }

  /** Per-cycle records of the last batch (RECORD_WORDS words each). */
  async dump(n: number): Promise<Uint32Array> {
    this.send(new Uint8Array(new Uint32Array([2]).buffer));
    const b = await this.read(n * RECORD_WORDS * 4);
    return new Uint32Array(b.buffer, b.byteOffset, n * RECORD_WORDS).slice();
  }

  /** Replays the last batch `reps` times with no hashing; returns elapsed nanoseconds. */
  async time(reps: number): Promise<number> {
    this.send(new Uint8Array(new Uint32Array([4, reps]).buffer));
    const b = await this.read(8);
    return Number(b.readBigUInt64LE(0));
  }

  async close(): Promise<void> {
    if (this.exited) return;
    const done = new Promise<void>((r) => this.child.once("exit", () => r()));
    this.child.stdin.end(new Uint8Array(new Uint32Array([3]).buffer));
    await done;
  }
}

/** Compiles the Icarus testbench (once per RTL + parameters) and returns the .vvp path. */
export async function buildIcarus(params: SafetyCoreParams): Promise<string> {
  const key = buildKey([RTL_FILE, ICARUS_TB], params, "icarus");
  const out = join(BUILD_DIR, `icarus-${key}.vvp`);
  if (existsSync(out)) return out;
  mkdirSync(BUILD_DIR, { recursive: true });
  const tmp = `${out}.tmp-${process.pid}`;
  try {
    await execFileP("iverilog", ["-g2012", "-o", tmp, "-s", "tb", ...paramArgs(params, (n, v) => `-Ptb.${n}=${v}`), ICARUS_TB, RTL_FILE]);
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`iverilog failed: ${(e.stderr ?? e.message).trim()}`, { cause: err });
  }
  renameSync(tmp, out);
  return out;
}

/** Runs a whole stimulus through Icarus; returns the per-cycle records. */
export async function runIcarus(params: SafetyCoreParams, stim: Uint8Array, n: number): Promise<Uint32Array> {
  const vvp = await buildIcarus(params);
  const dir = join(tmpdir(), `syspark-icarus-${process.pid}-${Date.now()}`);
  mkdirSync(dir, { recursive: true });
  try {
    const lines: string[] = new Array(n);
    const dv = new DataView(stim.buffer, stim.byteOffset, n * STIM_BYTES);
    for (let i = 0; i < n; i++) {
      const o = i * STIM_BYTES;
      lines[i] = `${stim[o].toString(16)} ${stim[o + 1].toString(16)} ${dv.getUint32(o + 4, true).toString(16)}`;
    }
    const stimPath = join(dir, "stim.hex");
    const outPath = join(dir, "out.hex");
    writeFileSync(stimPath, lines.join("\n") + "\n");
    await execFileP("vvp", ["-n", vvp, `+stim=${stimPath}`, `+out=${outPath}`], { maxBuffer: 16 * 1024 * 1024 });
    const text = readFileSync(outPath, "utf8").trim();
    const rows = text ? text.split("\n") : [];
    if (rows.length !== n) throw new Error(`Icarus produced ${rows.length} cycles, expected ${n}`);
    const rec = new Uint32Array(n * RECORD_WORDS);
    for (let i = 0; i < n; i++) {
      const f = rows[i].trim().split(/\s+/);
      for (let w = 0; w < RECORD_WORDS; w++) rec[i * RECORD_WORDS + w] = parseInt(f[w], 16) >>> 0;
    }
    return rec;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
