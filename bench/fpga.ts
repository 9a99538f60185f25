/**
 * `npm run bench -- fpga [--cycles N] [--lockstep N]`: the safety core's TypeScript model
 * against Verilator, on the same RTL and stimulus, measured in the same run.
 *
 * 1. Step mode: model cycles/s (readRegister + clock per cycle) vs the Verilator -O3 harness
 *    replaying the same recorded stimulus in-process (TIME command: no pipe, no hashing).
 * 2. Fast-forward: a 24-hour lane trace (a few hundred vehicles, mostly idle, heartbeat every
 *    100 ms) at the real 50 MHz timing: simulated seconds per wall second. The same trace at a
 *    1 kHz clock (same milliseconds, 86.4 M cycles) is also stepped cycle by cycle and its
 *    output hash (every register at every event, and at the end) must equal fast-forward's.
 * 3. Lockstep: cycles compared per second against Verilator (cosim pipeline).
 * Last line: {step_cycles_per_s, verilator_cycles_per_s, ratio_vs_verilator, fast_forward_x_realtime, lockstep_cycles_per_s, …}
 */
import { SafetyCoreModel } from "../firmware/barrier-executor/fpga/model";
import { CTRL, IN, REG, STATE, type SafetyCoreParams } from "../firmware/barrier-executor/fpga/regmap";
import { runRandom } from "../fpga/cosim";
import { STIM_BYTES, VerilatorSim } from "../fpga/sim";
import { COSIM_PARAMS, RandomStimulus, type Pins } from "../fpga/stimulus";
import { which } from "../host/tools";
import { intArg } from "./_args";

/** Records N cycles of the closed-loop random stimulus. */
function recordStimulus(n: number): Uint8Array {
  const stim = new Uint8Array(n * STIM_BYTES);
  const dv = new DataView(stim.buffer);
  const m = new SafetyCoreModel(COSIM_PARAMS);
  const gen = new RandomStimulus(42, COSIM_PARAMS);
  const p: Pins = { inBits: 0, we: 0, addr: 0, wdata: 0 };
  for (let i = 0; i < n; i++) {
    gen.next(m, p);
    const o = i * STIM_BYTES;
    stim[o] = p.inBits; stim[o + 1] = (p.we & 1) | ((p.addr & 15) << 1);
    dv.setUint32(o + 4, p.wdata, true);
    m.clock(p.inBits, p.we, p.addr, p.wdata);
  }
  return stim;
}

/** Model step-mode throughput over the recorded stimulus (best of `reps`). */
function modelStep(stim: Uint8Array, n: number, reps: number): { cps: number; sink: number } {
  const dv = new DataView(stim.buffer);
  let best = Infinity, sink = 0;
  for (let r = 0; r < reps; r++) {
    const m = new SafetyCoreModel(COSIM_PARAMS);
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) {
      const o = i * STIM_BYTES;
      const b1 = stim[o + 1];
      const addr = (b1 >> 1) & 15;
      sink ^= m.readRegister(addr);
      m.clock(stim[o], b1 & 1, addr, dv.getUint32(o + 4, true));
    }
    const s = Number(process.hrtime.bigint() - t0) / 1e9;
    if (s < best) best = s;
    sink ^= m.state;
  }
  return { cps: n / best, sink };
}

// ---------------------------------------------------------------- 24-hour lane trace

type TraceEvent = { at: number; inputs: number } | { at: number; write: number } | { at: number; mark: true };

/**
 * Drives a day of a lane with fast-forward and an event-driven plant; returns the events (so
 * step mode can replay them) and the output hash (all registers at every event and at the end).
 */
function laneDay(params: SafetyCoreParams, vehicles: number, seed: number, log?: TraceEvent[]): { hash: number; cycles: number; model: SafetyCoreModel } {
  const m = new SafetyCoreModel(params);
  const ms = (x: number) => m.msToCycles(x);
  const day = ms(24 * 3600 * 1000);
  const words = new Uint32Array(10);
  let hash = 0x811c9dc5;
  const mark = () => { log?.push({ at: m.cycle, mark: true }); m.dbg(words); for (let w = 0; w < 10; w++) hash = Math.imul(hash ^ words[w], 0x01000193) >>> 0; };
  const ffTo = (at: number) => { if (at > m.cycle) m.fastForward(at - m.cycle); mark(); };
  let inputs = IN.LIMIT_CLOSED | IN.SENSOR_OK;
  const setIn = (v: number) => { inputs = v; m.inputs = v; log?.push({ at: m.cycle, inputs: v }); };
  const write = (v: number) => { m.writeRegister(REG.CTRL, v); log?.push({ at: m.cycle, write: v }); };
  m.inputs = inputs;
  m.feedHeartbeat(ms(100));
  // arrival times: spread over the day, deterministic
  let s = seed >>> 0 || 1;
  const rnd = () => { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; return s / 4294967296; };
  const arrivals: number[] = [];
  for (let i = 0; i < vehicles; i++) arrivals.push(Math.floor(rnd() * (day - ms(120_000))) + ms(10_000));
  arrivals.sort((a, b) => a - b);
  const travel = ms(3000), leave = ms(200);
  let busyUntil = 0;
  for (const arrive of arrivals) {
    if (arrive < busyUntil) continue; // lane busy: that driver waits for the next slot
    ffTo(arrive);
    write(CTRL.OPEN);
    ffTo(m.cycle + params.deadTimeCycles + ms(5));
    ffTo(m.cycle + leave); setIn(inputs & ~IN.LIMIT_CLOSED);
    ffTo(m.cycle + travel - leave); setIn(inputs | IN.LIMIT_OPEN);
    ffTo(m.cycle + ms(500));
    // the vehicle passes under the boom
    setIn(inputs | IN.OBSTRUCTION); ffTo(m.cycle + ms(2500));
    setIn(inputs & ~IN.OBSTRUCTION); ffTo(m.cycle + ms(1000));
    write(CTRL.CLOSE);
    ffTo(m.cycle + params.deadTimeCycles + ms(5));
    ffTo(m.cycle + leave); setIn(inputs & ~IN.LIMIT_OPEN);
    const tailgate = rnd() < 0.05;
    if (tailgate) {
      // a second vehicle noses in while closing: the core reverses, the boom goes back up
      ffTo(m.cycle + ms(800)); setIn(inputs | IN.OBSTRUCTION);
      ffTo(m.cycle + params.deadTimeCycles + ms(50));
      ffTo(m.cycle + ms(1000)); setIn(inputs | IN.LIMIT_OPEN);
      ffTo(m.cycle + ms(1500)); setIn(inputs & ~IN.OBSTRUCTION);
      ffTo(m.cycle + ms(1000));
      write(CTRL.CLOSE);
      ffTo(m.cycle + params.deadTimeCycles + ms(5));
      ffTo(m.cycle + leave); setIn(inputs & ~IN.LIMIT_OPEN);
    }
    ffTo(m.cycle + travel - leave); setIn(inputs | IN.LIMIT_CLOSED);
    ffTo(m.cycle + ms(500));
    busyUntil = m.cycle + ms(1000);
  }
  ffTo(day);
  return { hash, cycles: m.cycle, model: m };
}

/** Replays a lane day's events stepping every cycle; hashes at the same points as laneDay. */
function laneDayStepped(params: SafetyCoreParams, log: TraceEvent[]): number {
  const m = new SafetyCoreModel(params);
  const words = new Uint32Array(10);
  let hash = 0x811c9dc5;
  m.inputs = IN.LIMIT_CLOSED | IN.SENSOR_OK;
  m.feedHeartbeat(m.msToCycles(100));
  for (const ev of log) {
    while (m.cycle < ev.at) m.step();
    if ("inputs" in ev) m.inputs = ev.inputs;
    else if ("write" in ev) m.writeRegister(REG.CTRL, ev.write);
    else {
      m.dbg(words);
      for (let w = 0; w < 10; w++) hash = Math.imul(hash ^ words[w], 0x01000193) >>> 0;
    }
  }
  return hash;
}

export async function run(args: string[]): Promise<void> {
  const n = intArg(args, "--cycles", 1 << 21);
  const lockN = intArg(args, "--lockstep", 3_000_000);
  const figures: Record<string, number | string | boolean> = {};

  // ---- 1. step mode ----
  console.error(`recording ${n.toLocaleString("en")} cycles of stimulus …`);
  const stim = recordStimulus(n);
  modelStep(stim, Math.min(n, 200_000), 1); // warm-up (JIT)
  const model = modelStep(stim, n, 3);
  let verilatorCps = NaN;
  if (which("verilator")) {
    const sim = await VerilatorSim.start(COSIM_PARAMS, (m) => console.error(m));
    try {
      await sim.run(stim, n);
      let best = Infinity;
      for (let r = 0; r < 3; r++) best = Math.min(best, await sim.time(1));
      verilatorCps = n / (best / 1e9);
    } finally {
      await sim.close();
    }
  } else console.error("verilator not installed: apt-get install -y verilator (Verilator figures skipped)");
  console.log(`step mode: model ${Math.round(model.cps).toLocaleString("en")} cycles/s, Verilator -O3 ${Math.round(verilatorCps).toLocaleString("en")} cycles/s, ratio ${(model.cps / verilatorCps).toFixed(2)}× (target ≥ 1.5×)`);

  // ---- 2. fast-forward over a 24-hour lane ----
  const vehicles = 400;
  const real: SafetyCoreParams = { clockHz: 50_000_000, debounceCycles: 100_000, runTimeoutCycles: 500_000_000, deadTimeCycles: 10_000_000, watchdogCycles: 25_000_000, ocFilterCycles: 2_500_000 };
  laneDay(real, vehicles, 9); // warm-up
  let bestFf = Infinity;
  let ffRun = laneDay(real, vehicles, 9);
  for (let r = 0; r < 3; r++) {
    const t0 = process.hrtime.bigint();
    ffRun = laneDay(real, vehicles, 9);
    bestFf = Math.min(bestFf, Number(process.hrtime.bigint() - t0) / 1e9);
  }
  const simSeconds = ffRun.cycles / real.clockHz;
  const ffx = simSeconds / bestFf;
  console.log(`fast-forward: 24 h lane at 50 MHz (${vehicles} arrivals, heartbeat every 100 ms) in ${(bestFf * 1000).toFixed(1)} ms = ${Math.round(ffx).toLocaleString("en")}× real time (target ≥ 1,000,000×); final state ${ffRun.model.state === STATE.CLOSED ? "closed" : ffRun.model.state}`);

  // equality with step mode: the same day at a 1 kHz clock (same milliseconds) stepped cycle by cycle
  const slow: SafetyCoreParams = { clockHz: 1000, debounceCycles: 2, runTimeoutCycles: 10_000, deadTimeCycles: 200, watchdogCycles: 500, ocFilterCycles: 50 };
  const log: TraceEvent[] = [];
  const ffSlow = laneDay(slow, vehicles, 9, log);
  const t1 = process.hrtime.bigint();
  const stepHash = laneDayStepped(slow, log);
  const stepSec = Number(process.hrtime.bigint() - t1) / 1e9;
  const equal = stepHash === ffSlow.hash;
  console.log(`fast-forward vs step: same 24 h trace at 1 kHz (${ffSlow.cycles.toLocaleString("en")} cycles) stepped in ${stepSec.toFixed(1)} s: hash ${equal ? "EQUAL" : "DIFFERENT"} (0x${ffSlow.hash.toString(16)} / 0x${stepHash.toString(16)})`);

  // ---- 3. lockstep ----
  let lockCps = NaN;
  if (which("verilator")) {
    const r = await runRandom(lockN, 3, { sim: "verilator", params: COSIM_PARAMS });
    lockCps = r.cycles / (r.wallMs / 1000);
    console.log(`lockstep: ${r.cycles.toLocaleString("en")} cycles compared against Verilator at ${Math.round(lockCps).toLocaleString("en")} cycles/s, ${r.mismatch ? "MISMATCH" : "0 mismatches"}`);
  }

  figures.step_cycles_per_s = Math.round(model.cps);
  figures.verilator_cycles_per_s = Math.round(verilatorCps);
  figures.ratio_vs_verilator = Number((model.cps / verilatorCps).toFixed(3));
  figures.fast_forward_x_realtime = Math.round(ffx);
  figures.lockstep_cycles_per_s = Math.round(lockCps);
  figures.fast_forward_hash_equal = equal;
  figures.sink = model.sink & 1;
  console.log(JSON.stringify(figures));
}
