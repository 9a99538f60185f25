/**
 * Value Change Dump (IEEE 1364 §18) writer for safety-core runs, viewable in GTKWave. Signals
 * carry the RTL's names (DBG_FIELDS, the port names), grouped in scopes.
 */
import { writeFileSync } from "node:fs";
import { DBG_FIELDS, IN } from "../firmware/barrier-executor/fpga/regmap";
import type { SafetyCoreModel } from "../firmware/barrier-executor/fpga/model";

interface Sig { scope: string; name: string; width: number; id: string; last: number }

export class VcdWriter {
  private readonly sigs: Sig[] = [];
  private readonly byKey = new Map<string, Sig>();
  private readonly body: string[] = [];
  private headerDone = false;
  private time = -1;

  /** @param periodNs clock period in ns (timescale 1 ns) */
  constructor(private readonly periodNs: number, private readonly comment = "SysPark safety core") {}

  add(scope: string, name: string, width: number): void {
    if (this.headerDone) throw new Error("VCD signals must be declared before the first sample");
    const n = this.sigs.length;
    let id = "";
    let k = n;
    do { id += String.fromCharCode(33 + (k % 94)); k = Math.floor(k / 94); } while (k > 0);
    const s: Sig = { scope, name, width, id, last: -1 };
    this.sigs.push(s);
    this.byKey.set(`${scope}.${name}`, s);
  }

  private fmt(s: Sig, v: number): string {
    return s.width === 1 ? `${v & 1}${s.id}` : `b${(v >>> 0).toString(2)} ${s.id}`;
  }

  /** Records the values at time t (ns); only changes are written. */
  sample(t: number, values: Record<string, number>): void {
    this.headerDone = true;
    const changes: string[] = [];
    for (const [key, v] of Object.entries(values)) {
      const s = this.byKey.get(key);
      if (!s) throw new Error(`VCD: undeclared signal ${key}`);
      const val = s.width === 32 ? v >>> 0 : v & (2 ** s.width - 1);
      if (val !== s.last) { s.last = val; changes.push(this.fmt(s, val)); }
    }
    if (changes.length === 0) return;
    if (t !== this.time) { this.body.push(`#${t}`); this.time = t; }
    this.body.push(...changes);
  }

  toString(): string {
    const head = [`$date ${new Date().toISOString()} $end`, `$version syspark fpga $end`, `$comment ${this.comment} $end`, `$timescale 1ns $end`];
    const scopes = new Map<string, Sig[]>();
    for (const s of this.sigs) scopes.set(s.scope, [...(scopes.get(s.scope) ?? []), s]);
    for (const [scope, sigs] of scopes) {
      head.push(`$scope module ${scope} $end`);
      for (const s of sigs) head.push(`$var wire ${s.width} ${s.id} ${s.name}${s.width > 1 ? ` [${s.width - 1}:0]` : ""} $end`);
      head.push("$upscope $end");
    }
    head.push("$enddefinitions $end");
    return head.join("\n") + "\n" + this.body.join("\n") + "\n";
  }

  write(path: string): void {
    writeFileSync(path, this.toString());
  }

  get period(): number { return this.periodNs; }
}

const INPUT_SIGNALS: [string, number][] = [
  ["rst", IN.RESET], ["lim_open_i", IN.LIMIT_OPEN], ["lim_closed_i", IN.LIMIT_CLOSED], ["obstruct_i", IN.OBSTRUCTION],
  ["over_current_i", IN.OVER_CURRENT], ["emergency_i", IN.EMERGENCY], ["sensor_ok_i", IN.SENSOR_OK],
];

/** Declares the port-level inputs (clk, raw inputs, bus) in `scope`. */
export function declareInputs(vcd: VcdWriter, scope: string): void {
  vcd.add(scope, "clk", 1);
  for (const [name] of INPUT_SIGNALS) vcd.add(scope, name, 1);
  vcd.add(scope, "csr_we", 1);
  vcd.add(scope, "csr_addr", 4);
  vcd.add(scope, "csr_wdata", 32);
}

/** Declares csr_rdata and every register (dbg fields) in `scope`. */
export function declareRegisters(vcd: VcdWriter, scope: string): void {
  vcd.add(scope, "csr_rdata", 32);
  for (const f of DBG_FIELDS) vcd.add(scope, f.name, f.width);
}

export function inputValues(scope: string, inBits: number, we: number, addr: number, wdata: number): Record<string, number> {
  const v: Record<string, number> = {};
  for (const [name, bit] of INPUT_SIGNALS) v[`${scope}.${name}`] = inBits & bit ? 1 : 0;
  v[`${scope}.csr_we`] = we;
  v[`${scope}.csr_addr`] = addr;
  v[`${scope}.csr_wdata`] = wdata;
  return v;
}

export function registerValues(scope: string, rdata: number, words: ArrayLike<number>): Record<string, number> {
  const v: Record<string, number> = { [`${scope}.csr_rdata`]: rdata };
  for (const f of DBG_FIELDS) v[`${scope}.${f.name}`] = f.width === 32 ? words[f.word] >>> 0 : (words[f.word] >>> f.shift) & ((1 << f.width) - 1);
  return v;
}

/**
 * Records a model run cycle by cycle: call `cycle(...)` instead of `model.clock(...)`.
 * Time advances by one clock period per edge; clk is drawn high for the first half.
 */
export class ModelVcdRecorder {
  readonly vcd: VcdWriter;
  private readonly words = new Uint32Array(10);
  private n = 0;

  constructor(private readonly model: SafetyCoreModel, periodNs = 1e9 / model.params.clockHz) {
    this.vcd = new VcdWriter(periodNs, "SysPark safety core TypeScript model");
    declareInputs(this.vcd, "safety_core");
    declareRegisters(this.vcd, "safety_core");
    const p = periodNs;
    this.vcd.sample(0, { ...inputValues("safety_core", 0, 0, 0, 0), "safety_core.clk": 0, ...registerValues("safety_core", model.readRegister(0), model.dbg(this.words)) });
    this.period = p;
  }

  private readonly period: number;

  /** One edge with explicit pins (like SafetyCoreModel.clock), recorded. */
  cycle(inBits: number, we: number, addr: number, wdata: number): void {
    const t0 = Math.round(this.n * this.period);
    const rdata = this.model.readRegister(addr);
    this.vcd.sample(t0, { ...inputValues("safety_core", inBits, we, addr, wdata), "safety_core.csr_rdata": rdata });
    this.model.clock(inBits, we, addr, wdata);
    const t1 = Math.round(this.n * this.period + this.period / 2);
    this.vcd.sample(t1, { "safety_core.clk": 1, ...registerValues("safety_core", rdata, this.model.dbg(this.words)) });
    this.vcd.sample(Math.round((this.n + 1) * this.period), { "safety_core.clk": 0 });
    this.n++;
  }
}
