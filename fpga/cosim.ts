/**
 * fpga/: the FPGA's host-side tooling — co-simulation of the safety core's RTL against its
 * TypeScript model under Icarus Verilog and Verilator (this module, sim.ts, stimulus.ts), formal
 * proof with yosys + yosys-smtbmc (prove.ts), VCD traces (vcd.ts) and tool checks (tools.ts).
 * It is not beside the RTL in firmware/barrier-executor/fpga/ because firmware/ must stay free of
 * Node built-ins (`syspark check-firmware` and firmware/tsconfig.json enforce it) and these tools
 * spawn simulators, read and write files and hash builds. They read the RTL, the formal sources
 * and the model from there (sim.ts finds them from its own location); the testbench
 * (icarus/tb.v) and the Verilator harness (verilator/harness.cpp) are theirs and live here.
 *
 * Lockstep co-simulation: the RTL in a real simulator and the TypeScript model, driven by the
 * same stimulus, compared every cycle (csr_rdata and all 10 dbg words = every register).
 *
 * Verilator: batches of cycles stream to the harness while the model runs the next batch; each
 * batch is checked by a running hash of all per-cycle records, and a hash mismatch replays that
 * batch cycle by cycle (the harness keeps its records) to find the first differing cycle.
 * Icarus: the whole stimulus runs through the testbench and every cycle is compared.
 */
import { SafetyCoreModel } from "../firmware/barrier-executor/fpga/model";
import { DBG_WORDS, FAULT_NAMES, STATE_NAMES, describeDbg, type SafetyCoreParams } from "../firmware/barrier-executor/fpga/regmap";
import { HASH_SEED, RECORD_WORDS, STIM_BYTES, VerilatorSim, hashRecords, runIcarus } from "./sim";
import { RandomStimulus, ScriptStimulus, directedScenarios, type Pins, type Scenario, type Stimulus } from "./stimulus";
import { VcdWriter, declareInputs, declareRegisters, inputValues, registerValues } from "./vcd";

export type SimKind = "verilator" | "iverilog";

export interface Mismatch {
  cycle: number;
  model: string;
  rtl: string;
  modelRdata: number;
  rtlRdata: number;
  fields: string[];
  vcdPath?: string;
}

export interface CosimResult {
  name: string;
  cycles: number;
  mismatch?: Mismatch;
  stateCoverage: number[];
  faultCoverage: number[];
  /** Directed scenarios: expectations that failed on the model. */
  failures: string[];
  wallMs: number;
}

export interface CosimOptions {
  sim: SimKind;
  params: SafetyCoreParams;
  onProgress?: (msg: string) => void;
  /** Where to write the VCD of a mismatch window (default: no file). */
  vcdPath?: string;
  batch?: number;
  /** Test hook: build the model with other parameters than the RTL (must produce a mismatch). */
  modelParams?: SafetyCoreParams;
}

function writeRecord(stim: Uint8Array, dv: DataView, i: number, p: Pins): void {
  const o = i * STIM_BYTES;
  stim[o] = p.inBits;
  stim[o + 1] = (p.we & 1) | ((p.addr & 15) << 1);
  stim[o + 2] = 0;
  stim[o + 3] = 0;
  dv.setUint32(o + 4, p.wdata >>> 0, true);
}

/** Steps the model over `n` cycles of `gen`, filling `stim` and hashing; returns the hash. */
function genBatch(model: SafetyCoreModel, gen: Stimulus, stim: Uint8Array, dv: DataView, n: number, hash: number, cov: { states: number[]; faults: number[] }): number {
  const pins: Pins = { inBits: 0, we: 0, addr: 0, wdata: 0 };
  const words = new Uint32Array(RECORD_WORDS);
  const dbg = words.subarray(1);
  const states = cov.states, faults = cov.faults;
  for (let i = 0; i < n; i++) {
    gen.next(model, pins);
    writeRecord(stim, dv, i, pins);
    words[0] = model.readRegister(pins.addr);
    model.clock(pins.inBits, pins.we, pins.addr, pins.wdata);
    model.dbg(dbg);
    states[model.state]++;
    faults[model.faultCode]++;
    for (let w = 0; w < RECORD_WORDS; w++) hash = Math.imul(hash ^ words[w], 0x01000193) >>> 0;
  }
  return hash;
}

/** Replays `n` cycles from a model snapshot, returning the per-cycle records. */
function modelRecords(params: SafetyCoreParams, start: Uint32Array, stim: Uint8Array, n: number): Uint32Array {
  const m = new SafetyCoreModel(params);
  m.load(start);
  const dv = new DataView(stim.buffer, stim.byteOffset, stim.byteLength);
  const rec = new Uint32Array(n * RECORD_WORDS);
  for (let i = 0; i < n; i++) {
    const o = i * STIM_BYTES;
    const inBits = stim[o], we = stim[o + 1] & 1, addr = (stim[o + 1] >> 1) & 15, wdata = dv.getUint32(o + 4, true);
    rec[i * RECORD_WORDS] = m.readRegister(addr);
    m.clock(inBits, we, addr, wdata);
    m.dbg(rec.subarray(i * RECORD_WORDS + 1, (i + 1) * RECORD_WORDS));
  }
  return rec;
}

/** Compares per-cycle records; on the first difference builds the report (and the VCD). */
function compareRecords(model: Uint32Array, rtl: Uint32Array, n: number, cycle0: number, stim: Uint8Array, params: SafetyCoreParams, vcdPath?: string): Mismatch | undefined {
  for (let i = 0; i < n; i++) {
    let same = true;
    for (let w = 0; w < RECORD_WORDS; w++) if (model[i * RECORD_WORDS + w] !== rtl[i * RECORD_WORDS + w]) { same = false; break; }
    if (same) continue;
    const mw = model.subarray(i * RECORD_WORDS, (i + 1) * RECORD_WORDS);
    const rw = rtl.subarray(i * RECORD_WORDS, (i + 1) * RECORD_WORDS);
    const ma = describeDbg(mw.subarray(1)).split(" ");
    const ra = describeDbg(rw.subarray(1)).split(" ");
    const fields = ma.filter((f, k) => f !== ra[k]).map((f) => f.split("=")[0]);
    if (mw[0] !== rw[0]) fields.unshift("csr_rdata");
    const mm: Mismatch = { cycle: cycle0 + i, model: describeDbg(mw.subarray(1)), rtl: describeDbg(rw.subarray(1)), modelRdata: mw[0], rtlRdata: rw[0], fields };
    if (vcdPath) {
      const from = Math.max(0, i - 32), to = Math.min(n, i + 8);
      const vcd = new VcdWriter(1e9 / params.clockHz, `lockstep mismatch at cycle ${cycle0 + i}`);
      declareInputs(vcd, "stimulus");
      declareRegisters(vcd, "model");
      declareRegisters(vcd, "rtl");
      const dv = new DataView(stim.buffer, stim.byteOffset, stim.byteLength);
      const period = 1e9 / params.clockHz;
      for (let k = from; k < to; k++) {
        const o = k * STIM_BYTES;
        const t = Math.round((cycle0 + k) * period);
        vcd.sample(t, { ...inputValues("stimulus", stim[o], stim[o + 1] & 1, (stim[o + 1] >> 1) & 15, dv.getUint32(o + 4, true)), "stimulus.clk": 0 });
        vcd.sample(Math.round(t + period / 2), {
          "stimulus.clk": 1,
          ...registerValues("model", model[k * RECORD_WORDS], model.subarray(k * RECORD_WORDS + 1, (k + 1) * RECORD_WORDS)),
          ...registerValues("rtl", rtl[k * RECORD_WORDS], rtl.subarray(k * RECORD_WORDS + 1, (k + 1) * RECORD_WORDS)),
        });
      }
      vcd.write(vcdPath);
      mm.vcdPath = vcdPath;
    }
    return mm;
  }
  return undefined;
}

/** Random lockstep run of `cycles` cycles. */
export async function runRandom(cycles: number, seed: number, opts: CosimOptions): Promise<CosimResult> {
  const t0 = Date.now();
  const params = opts.params;
  const mp = opts.modelParams ?? params;
  const model = new SafetyCoreModel(mp);
  const gen = new RandomStimulus(seed, params);
  const cov = { states: new Array(8).fill(0), faults: new Array(16).fill(0) };
  const result = (mismatch?: Mismatch): CosimResult => ({ name: `random seed=${seed}`, cycles: done, mismatch, stateCoverage: cov.states, faultCoverage: cov.faults.slice(0, FAULT_NAMES.length), failures: [], wallMs: Date.now() - t0 });
  let done = 0;

  if (opts.sim === "iverilog") {
    const stim = new Uint8Array(cycles * STIM_BYTES);
    const dv = new DataView(stim.buffer);
    const start = model.dbg(new Uint32Array(DBG_WORDS));
    genBatch(model, gen, stim, dv, cycles, HASH_SEED, cov);
    opts.onProgress?.(`running ${cycles} cycles on Icarus …`);
    const rtl = await runIcarus(params, stim, cycles);
    const mine = modelRecords(mp, start, stim, cycles);
    const mm = compareRecords(mine, rtl, cycles, 0, stim, params, opts.vcdPath);
    done = mm ? mm.cycle + 1 : cycles;
    return result(mm);
  }

  const B = opts.batch ?? 1 << 16;
  const sim = await VerilatorSim.start(params, opts.onProgress);
  try {
    const bufs = [new Uint8Array(B * STIM_BYTES), new Uint8Array(B * STIM_BYTES)];
    const dvs = bufs.map((b) => new DataView(b.buffer));
    const starts = [new Uint32Array(DBG_WORDS), new Uint32Array(DBG_WORDS)];
    let hash = HASH_SEED;
    let k = 0;
    const n0 = Math.min(B, cycles);
    model.dbg(starts[0]);
    hash = genBatch(model, gen, bufs[0], dvs[0], n0, hash, cov);
    let pending = sim.submit(bufs[0], n0);
    let pendingHash = hash, pendingN = n0, pendingStart = 0;
    let generated = n0;
    let lastReport = Date.now();
    for (;;) {
      // overlap: the model generates the next batch while the harness runs this one
      const nb = (k + 1) & 1;
      const n1 = Math.min(B, cycles - generated);
      let nextHash = hash;
      if (n1 > 0) {
        model.dbg(starts[nb]);
        nextHash = genBatch(model, gen, bufs[nb], dvs[nb], n1, hash, cov);
      }
      const rtlHash = await pending;
      if (rtlHash !== pendingHash) {
        const rtl = await sim.dump(pendingN);
        const mine = modelRecords(mp, starts[k & 1], bufs[k & 1], pendingN);
        const mm = compareRecords(mine, rtl, pendingN, pendingStart, bufs[k & 1], params, opts.vcdPath);
        done = mm ? mm.cycle + 1 : pendingStart + pendingN;
        return result(mm ?? { cycle: pendingStart, model: "hash differs", rtl: "hash differs", modelRdata: 0, rtlRdata: 0, fields: [] });
      }
      done = pendingStart + pendingN;
      if (Date.now() - lastReport > 2000) {
        lastReport = Date.now();
        opts.onProgress?.(`${done.toLocaleString("en")} / ${cycles.toLocaleString("en")} cycles compared (${Math.round((done / cycles) * 100)}%)`);
      }
      if (n1 <= 0) break;
      pending = sim.submit(bufs[nb], n1);
      pendingHash = nextHash; pendingN = n1; pendingStart = generated;
      hash = nextHash;
      generated += n1;
      k++;
    }
    return result();
  } finally {
    await sim.close();
  }
}

/** One directed scenario on the chosen simulator, compared every cycle. */
export async function runScenario(sc: Scenario, opts: CosimOptions): Promise<CosimResult> {
  const t0 = Date.now();
  const params = opts.params;
  const mp = opts.modelParams ?? params;
  const model = new SafetyCoreModel(mp);
  const gen = new ScriptStimulus(sc, params);
  const n = gen.cycles;
  const cov = { states: new Array(8).fill(0), faults: new Array(16).fill(0) };
  const stim = new Uint8Array(n * STIM_BYTES);
  const dv = new DataView(stim.buffer);
  const start = model.dbg(new Uint32Array(DBG_WORDS));
  genBatch(model, gen, stim, dv, n, HASH_SEED, cov);
  gen.finish(model);
  let rtl: Uint32Array;
  if (opts.sim === "iverilog") rtl = await runIcarus(params, stim, n);
  else {
    const sim = await VerilatorSim.start(params, opts.onProgress);
    try {
      await sim.run(stim, n);
      rtl = await sim.dump(n);
    } finally {
      await sim.close();
    }
  }
  const mine = modelRecords(mp, start, stim, n);
  const mm = compareRecords(mine, rtl, n, 0, stim, params, opts.vcdPath);
  return { name: sc.name, cycles: mm ? mm.cycle + 1 : n, mismatch: mm, stateCoverage: cov.states, faultCoverage: cov.faults.slice(0, FAULT_NAMES.length), failures: gen.failures, wallMs: Date.now() - t0 };
}

export async function runDirected(opts: CosimOptions, names?: string[]): Promise<CosimResult[]> {
  const all = directedScenarios(opts.params);
  const pick = names?.length ? all.filter((s) => names.includes(s.name)) : all;
  const out: CosimResult[] = [];
  for (const sc of pick) {
    opts.onProgress?.(`scenario ${sc.name} (${sc.invariant}) on ${opts.sim} …`);
    out.push(await runScenario(sc, opts));
  }
  return out;
}

/** Human summary of coverage: "8/8 states, 3/3 fault codes" and the missing ones. */
export function coverageSummary(r: Pick<CosimResult, "stateCoverage" | "faultCoverage">): { text: string; full: boolean } {
  const missS = STATE_NAMES.filter((_, i) => !r.stateCoverage[i]);
  const missF = FAULT_NAMES.filter((_, i) => i > 0 && !r.faultCoverage[i]);
  const nS = STATE_NAMES.length - missS.length;
  const nF = FAULT_NAMES.length - 1 - missF.length;
  let text = `${nS}/${STATE_NAMES.length} states, ${nF}/${FAULT_NAMES.length - 1} fault codes`;
  if (missS.length || missF.length) text += ` (missing: ${[...missS, ...missF].join(", ")})`;
  return { text, full: missS.length === 0 && missF.length === 0 };
}

export { hashRecords };
