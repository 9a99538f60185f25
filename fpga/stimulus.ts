/**
 * Stimulus for the safety core: a seeded, closed-loop random generator biased so that every
 * state and every fault code is reached, and directed scenarios (one per invariant's edge
 * cases). Both drive a small plant (boom position moved by the motor outputs, limit switches
 * at the ends) so that the limits behave like a real barrier unless a fault is injected.
 *
 * The generator reads the model's outputs to move the plant; since the model and the RTL are
 * compared every cycle, the recorded stimulus is an ordinary input sequence for the RTL.
 */
import { CTRL, FAULT, IN, REG, STATE, type SafetyCoreParams } from "../firmware/barrier-executor/fpga/regmap";
import type { SafetyCoreModel } from "../firmware/barrier-executor/fpga/model";

/** Scaled timing for co-simulation: every timer expires within a few hundred cycles. */
export const COSIM_PARAMS: Readonly<SafetyCoreParams> = Object.freeze({
  clockHz: 50_000_000,
  debounceCycles: 4,
  runTimeoutCycles: 400,
  deadTimeCycles: 20,
  watchdogCycles: 300,
  ocFilterCycles: 12,
});

/** One cycle of pins: raw inputs (IN.*), bus write enable, address, data. */
export interface Pins { inBits: number; we: number; addr: number; wdata: number }

export interface Stimulus {
  /** Pins for the next edge, given the model's registers before it. */
  next(model: SafetyCoreModel, out: Pins): void;
}

/** xorshift32: small, fast, identical everywhere. */
export class Rng {
  private s: number;
  constructor(seed: number) { this.s = (seed >>> 0) || 0x9e3779b9; }
  u32(): number {
    let x = this.s;
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    this.s = x;
    return x;
  }
  /** 0..n-1 */
  int(n: number): number { return this.u32() % n; }
  chance(p: number): boolean { return this.u32() < p * 4294967296; }
}

/** Boom position moved by the motor outputs; limit switches at both ends. */
export class Plant {
  pos = 0;
  constructor(readonly travel: number) {}
  move(model: SafetyCoreModel): void {
    if (model.motorUp && this.pos < this.travel) this.pos++;
    else if (model.motorDown && this.pos > 0) this.pos--;
  }
  get limitOpen(): boolean { return this.pos >= this.travel; }
  get limitClosed(): boolean { return this.pos <= 0; }
}

// fault-injection modes of the random generator
const M_NONE = 0, M_STUCK_OPEN = 1, M_STUCK_CLOSED = 2, M_NO_LIMITS = 3, M_OVER_CURRENT = 4;

/**
 * Closed-loop random stimulus. Event rates are tuned so that a few hundred thousand cycles
 * visit every state and fault code; 10 M cycles visit them thousands of times.
 */
export class RandomStimulus implements Stimulus {
  private readonly rng: Rng;
  private readonly plant: Plant;
  private cycle = 0;
  private countdown = 1;
  private hbTimer = 0;
  private hbSilent = 0;
  private obstruction = 0;   // cycles left
  private sensorFail = 0;
  private emergency = 0;
  private mode = M_NONE;
  private modeLeft = 0;
  private glitch = 0;        // input bits to flip this cycle
  private readonly hbPeriod: number;

  constructor(seed: number, private readonly params: SafetyCoreParams) {
    this.rng = new Rng(seed);
    this.plant = new Plant(Math.max(8, Math.floor(params.runTimeoutCycles * 0.4)));
    this.hbPeriod = Math.max(1, Math.floor(params.watchdogCycles / 3));
  }

  next(model: SafetyCoreModel, out: Pins): void {
    const rng = this.rng;
    const c = this.cycle++;
    this.plant.move(model);
    let inBits = 0;
    if (c === 0 || rng.u32() < 2000) inBits |= IN.RESET; // reset at start, then ~1 in 2 M cycles
    // a latched repeated run timeout waits for maintenance (rst): a technician comes after ~2000 cycles
    else if (model.state === STATE.FAULT && model.faultCode === FAULT.RUN_TIMEOUT_REPEAT && rng.u32() < 2_147_484) inBits |= IN.RESET;
    let we = 0, addr = c & 15, wdata = 0;

    // heartbeat: regular, except during silences
    if (this.hbSilent > 0) this.hbSilent--;
    else if (++this.hbTimer >= this.hbPeriod) { this.hbTimer = 0; we = 1; addr = REG.CTRL; wdata = CTRL.HEARTBEAT; }

    // random events
    if (--this.countdown <= 0) {
      this.countdown = 1 + rng.int(120);
      this.event(model, out);
      if (out.we) {
        const hb = we ? CTRL.HEARTBEAT : 0; // keep a heartbeat due this cycle
        we = 1; addr = out.addr; wdata = addr === REG.CTRL ? out.wdata | hb : out.wdata;
      }
    }

    // levels
    let lo = this.plant.limitOpen, lc = this.plant.limitClosed;
    if (this.modeLeft > 0) {
      this.modeLeft--;
      if (this.mode === M_STUCK_OPEN) lo = true;
      else if (this.mode === M_STUCK_CLOSED) lc = true;
      else if (this.mode === M_NO_LIMITS) { lo = false; lc = false; }
      if (this.modeLeft === 0) this.mode = M_NONE;
    }
    if (lo) inBits |= IN.LIMIT_OPEN;
    if (lc) inBits |= IN.LIMIT_CLOSED;
    if (this.obstruction > 0) { this.obstruction--; inBits |= IN.OBSTRUCTION; }
    if (this.sensorFail > 0) this.sensorFail--; else inBits |= IN.SENSOR_OK;
    if (this.emergency > 0) { this.emergency--; inBits |= IN.EMERGENCY; }
    // over-current: a stall while the motor runs, or an injected fault
    if (this.mode === M_OVER_CURRENT && this.modeLeft > 0) inBits |= IN.OVER_CURRENT;
    if (this.glitch) { inBits ^= this.glitch; this.glitch = 0; }
    out.inBits = inBits;
    out.we = we;
    out.addr = addr;
    out.wdata = wdata >>> 0;
  }

  private event(model: SafetyCoreModel, out: Pins): void {
    const rng = this.rng;
    const p = this.params;
    out.we = 0;
    const r = rng.int(1000);
    if (r < 420) {
      // commands, biased by state so that the barrier really cycles
      out.we = 1; out.addr = REG.CTRL;
      const s = model.state;
      const k = rng.int(100);
      if (s === STATE.FAULT) out.wdata = k < 60 ? CTRL.FAULT_RESET : CTRL.OPEN;
      else if (s === STATE.OPEN || s === STATE.OPENING) out.wdata = k < 55 ? CTRL.CLOSE : k < 80 ? CTRL.OPEN : k < 90 ? CTRL.STOP : CTRL.OPEN | CTRL.CLOSE;
      else if (s === STATE.CLOSED || s === STATE.CLOSING) out.wdata = k < 60 ? CTRL.OPEN : k < 80 ? CTRL.CLOSE : CTRL.STOP;
      else out.wdata = k < 45 ? CTRL.OPEN : k < 85 ? CTRL.CLOSE : k < 95 ? CTRL.STOP : CTRL.FAULT_RESET;
      if (rng.chance(0.1)) out.wdata |= CTRL.HEARTBEAT;
    } else if (r < 470) {
      // junk writes: other addresses, reserved bits
      out.we = 1; out.addr = rng.int(16); out.wdata = rng.u32();
    } else if (r < 640) {
      // obstruction under the boom (vehicle, pedestrian), often while closing
      this.obstruction = rng.chance(0.2) ? 1 + rng.int(p.debounceCycles + 1) : p.debounceCycles + rng.int(300);
    } else if (r < 680) {
      this.sensorFail = rng.chance(0.3) ? 1 + rng.int(p.debounceCycles + 1) : p.debounceCycles + rng.int(400);
    } else if (r < 700) {
      this.emergency = p.debounceCycles + rng.int(p.runTimeoutCycles);
    } else if (r < 730) {
      this.hbSilent = rng.chance(0.5) ? p.watchdogCycles + rng.int(p.watchdogCycles) : rng.int(p.watchdogCycles);
    } else if (r < 800) {
      if (this.mode === M_NONE) {
        const m = 1 + rng.int(4);
        this.mode = m;
        if (m === M_OVER_CURRENT) this.modeLeft = rng.chance(0.4) ? 1 + rng.int(p.ocFilterCycles + 2) : p.ocFilterCycles + rng.int(100);
        else if (m === M_NO_LIMITS) this.modeLeft = p.runTimeoutCycles + rng.int(p.runTimeoutCycles);
        else this.modeLeft = 1 + rng.int(p.debounceCycles * 4 + 40);
      }
    } else if (r < 900) {
      this.glitch = 1 << rng.int(6); // one-cycle bounce on a raw input
    } else {
      // a read burst of STATUS / config (no write)
      out.we = 0;
    }
  }
}

// ---------------------------------------------------------------- directed scenarios

/** A step of a directed scenario: hold levels for some cycles, or write CTRL once. */
export type ScenarioStep =
  | { write: number }
  | { hold: number; set?: Partial<Record<"obstruction" | "overCurrent" | "emergency" | "sensorFail" | "stuckOpen" | "stuckClosed" | "noLimits" | "silent", boolean>> }
  | { expect: (m: SafetyCoreModel) => string | undefined };

export interface Scenario {
  name: string;
  invariant: string;
  steps: ScenarioStep[];
}

/** Plays a scenario with the plant in the loop and heartbeats every watchdog/3 unless silent. */
export class ScriptStimulus implements Stimulus {
  private readonly plant: Plant;
  private i = 0;
  private left = -1;
  private c = 0;
  private hbTimer = 0;
  private flags: Record<string, boolean> = {};
  readonly failures: string[] = [];
  private readonly hbPeriod: number;
  private readonly total: number;

  constructor(readonly scenario: Scenario, params: SafetyCoreParams, plantTravel = Math.floor(params.runTimeoutCycles * 0.4)) {
    this.plant = new Plant(plantTravel);
    this.hbPeriod = Math.max(1, Math.floor(params.watchdogCycles / 3));
    this.total = scenarioCycles(scenario);
  }

  get cycles(): number { return this.total; }

  next(model: SafetyCoreModel, out: Pins): void {
    const c = this.c++;
    this.plant.move(model);
    let we = 0, addr = c & 15, wdata = 0;
    // advance the script: expectations and writes take no time of their own
    for (;;) {
      if (this.left > 0) { this.left--; break; }
      const st = this.scenario.steps[this.i];
      if (!st) break;
      if ("expect" in st) {
        const why = st.expect(model);
        if (why) this.failures.push(`${this.scenario.name} @cycle ${c}: ${why}`);
        this.i++;
        continue;
      }
      if ("write" in st) { we = 1; addr = REG.CTRL; wdata = st.write; this.i++; this.left = 0; break; }
      this.flags = { ...this.flags, ...(st.set ?? {}) };
      this.left = st.hold - 1;
      this.i++;
      break;
    }
    if (!we && !this.flags.silent && ++this.hbTimer >= this.hbPeriod) { this.hbTimer = 0; we = 1; addr = REG.CTRL; wdata = CTRL.HEARTBEAT; }
    let inBits = c === 0 ? IN.RESET : 0;
    let lo = this.plant.limitOpen, lc = this.plant.limitClosed;
    if (this.flags.stuckOpen) lo = true;
    if (this.flags.stuckClosed) lc = true;
    if (this.flags.noLimits) { lo = false; lc = false; }
    if (lo) inBits |= IN.LIMIT_OPEN;
    if (lc) inBits |= IN.LIMIT_CLOSED;
    if (this.flags.obstruction) inBits |= IN.OBSTRUCTION;
    if (this.flags.overCurrent) inBits |= IN.OVER_CURRENT;
    if (this.flags.emergency) inBits |= IN.EMERGENCY;
    if (!this.flags.sensorFail) inBits |= IN.SENSOR_OK;
    out.inBits = inBits; out.we = we; out.addr = addr; out.wdata = wdata;
  }

  /** Runs what is left of the script's expectations after the last cycle. */
  finish(model: SafetyCoreModel): void {
    for (; this.i < this.scenario.steps.length; this.i++) {
      const st = this.scenario.steps[this.i];
      if ("expect" in st) { const why = st.expect(model); if (why) this.failures.push(`${this.scenario.name} @end: ${why}`); }
    }
  }
}

export function scenarioCycles(s: Scenario): number {
  let n = 0;
  for (const st of s.steps) if ("hold" in st) n += st.hold; else if ("write" in st) n += 1;
  return n;
}

const isState = (want: number, name: string) => (m: SafetyCoreModel) =>
  m.state === want ? undefined : `expected state ${name}, got ${m.state}`;

/** Directed scenarios, written against COSIM_PARAMS (travel 160 cycles, dead time 20, watchdog 300). */
export function directedScenarios(p: SafetyCoreParams = COSIM_PARAMS): Scenario[] {
  const settle = p.deadTimeCycles + p.debounceCycles + 10;
  const travel = Math.floor(p.runTimeoutCycles * 0.4);
  const fullMove = settle + travel + p.debounceCycles + 10;
  const boot: ScenarioStep[] = [{ hold: settle }, { write: CTRL.HEARTBEAT }, { hold: 5 }, { expect: isState(STATE.STOPPED, "stopped") }];
  const openFully: ScenarioStep[] = [{ write: CTRL.OPEN }, { hold: fullMove }, { expect: isState(STATE.OPEN, "open") }];
  return [
    { name: "open-close-cycle", invariant: "normal cycle; limits end each motion", steps: [...boot, ...openFully, { write: CTRL.CLOSE }, { hold: fullMove }, { expect: isState(STATE.CLOSED, "closed") }] },
    { name: "repeat-open", invariant: "repeated open while opening/open changes nothing", steps: [...boot, { write: CTRL.OPEN }, { hold: 40 }, { write: CTRL.OPEN }, { hold: 3 }, { write: CTRL.OPEN }, { hold: fullMove }, { write: CTRL.OPEN }, { hold: 10 }, { expect: isState(STATE.OPEN, "open") }] },
    { name: "obstruction-reverses", invariant: "obstruction while closing stops and reopens", steps: [...boot, ...openFully, { write: CTRL.CLOSE }, { hold: settle + 30 }, { expect: isState(STATE.CLOSING, "closing") }, { hold: 1, set: { obstruction: true } }, { hold: p.debounceCycles + 3 }, { expect: (m) => (m.motorDown ? "motor still closing after the obstruction bound" : undefined) }, { hold: 20, set: { obstruction: false } }, { hold: fullMove }, { expect: isState(STATE.OPEN, "open") }] },
    // The second activation must fall in the same closing cycle: the boom is sent down again while it reopens.
    { name: "second-obstruction-stops", invariant: "second obstruction in the same cycle stops, needs a new command", steps: [...boot, ...openFully, { write: CTRL.CLOSE }, { hold: settle + 30 }, { hold: 20, set: { obstruction: true } }, { hold: settle + 30, set: { obstruction: false } }, { expect: isState(STATE.OPENING, "reopening") }, { write: CTRL.CLOSE }, { hold: settle + 10 }, { expect: isState(STATE.CLOSING, "closing again") }, { hold: 20, set: { obstruction: true } }, { hold: 40, set: { obstruction: false } }, { expect: isState(STATE.STOPPED, "stopped") }, { hold: 200 }, { expect: isState(STATE.STOPPED, "stopped") }] },
    // UL 325: reverse on every activation; reaching fully open ends the closing cycle.
    { name: "obstruction-reverses-each-cycle", invariant: "the first obstruction of the next closing cycle reverses again", steps: [...boot, ...openFully, { write: CTRL.CLOSE }, { hold: settle + 30 }, { hold: 20, set: { obstruction: true } }, { hold: fullMove, set: { obstruction: false } }, { expect: isState(STATE.OPEN, "open") }, { expect: (m) => (m.obstSeen ? "obstruction mark survived fully open" : undefined) }, { write: CTRL.CLOSE }, { hold: settle + 30 }, { expect: isState(STATE.CLOSING, "closing") }, { hold: 20, set: { obstruction: true } }, { hold: 2, set: { obstruction: false } }, { expect: isState(STATE.REVERSING, "reversing") }, { hold: fullMove }, { expect: isState(STATE.OPEN, "open") }] },
    { name: "close-refused-obstructed", invariant: "obstruction checked before every close", steps: [...boot, ...openFully, { hold: 20, set: { obstruction: true } }, { write: CTRL.CLOSE }, { hold: settle + 20 }, { expect: isState(STATE.OPEN, "open") }, { hold: 10, set: { obstruction: false } }] },
    { name: "sensor-failed-blocks-close", invariant: "failed or missing sensor blocks closing", steps: [...boot, ...openFully, { hold: 20, set: { sensorFail: true } }, { write: CTRL.CLOSE }, { hold: settle + 20 }, { expect: isState(STATE.OPEN, "open") }, { hold: 20, set: { sensorFail: false } }, { write: CTRL.CLOSE }, { hold: settle + 10 }, { expect: isState(STATE.CLOSING, "closing") }, { hold: 1, set: { sensorFail: true } }, { hold: p.debounceCycles + 3 }, { expect: (m) => (m.motorDown ? "still closing with a failed sensor" : undefined) }] },
    { name: "reversal-dead-time", invariant: "up and down never both on; reversal passes a dead time", steps: [...boot, { write: CTRL.OPEN }, { hold: settle + 20 }, { write: CTRL.CLOSE }, { hold: 2 }, { expect: isState(STATE.REVERSING, "reversing") }, { hold: p.deadTimeCycles + 5 }, { expect: isState(STATE.CLOSING, "closing") }, { write: CTRL.OPEN }, { hold: 2 }, { expect: isState(STATE.REVERSING, "reversing") }, { write: CTRL.STOP }, { hold: 2 }, { expect: isState(STATE.STOPPED, "stopped") }] },
    { name: "heartbeat-loss", invariant: "heartbeat loss puts the core in its safe state within the watchdog window", steps: [...boot, { write: CTRL.OPEN }, { hold: settle + 20 }, { hold: p.watchdogCycles + 3, set: { silent: true } }, { expect: isState(STATE.SAFE, "safe") }, { hold: 50 }, { expect: (m) => (m.motorUp || m.motorDown ? "motor on in SAFE" : undefined) }, { hold: 20, set: { silent: false } }, { expect: isState(STATE.STOPPED, "stopped") }] },
    { name: "over-current-latch", invariant: "over-current latches a fault cleared only by reset once the cause is gone", steps: [...boot, { write: CTRL.OPEN }, { hold: settle + 20 }, { hold: p.ocFilterCycles + 5, set: { overCurrent: true } }, { expect: isState(STATE.FAULT, "fault") }, { write: CTRL.FAULT_RESET }, { hold: 5 }, { expect: isState(STATE.FAULT, "fault (cause still present)") }, { hold: 10, set: { overCurrent: false } }, { hold: 50 }, { expect: isState(STATE.FAULT, "fault (no reset yet)") }, { write: CTRL.FAULT_RESET }, { hold: 3 }, { expect: isState(STATE.STOPPED, "stopped") }] },
    { name: "both-limits-latch", invariant: "both limits at once latch a fault", steps: [...boot, { hold: p.debounceCycles + 5, set: { stuckOpen: true } }, { expect: isState(STATE.FAULT, "fault") }, { write: CTRL.FAULT_RESET }, { hold: 4 }, { expect: isState(STATE.FAULT, "fault (limits still both on)") }, { hold: p.debounceCycles + 5, set: { stuckOpen: false } }, { write: CTRL.FAULT_RESET }, { hold: 3 }, { expect: isState(STATE.STOPPED, "stopped") }] },
    { name: "missing-limit-timeout", invariant: "no motion longer than the run timeout; missing limit ends in a fault", steps: [...boot, { hold: 1, set: { noLimits: true } }, { write: CTRL.OPEN }, { hold: settle + p.runTimeoutCycles + 5 }, { expect: isState(STATE.FAULT, "fault") }, { expect: (m) => (m.faultCode === 3 ? undefined : `fault code ${m.faultCode}, expected run_timeout`) }, { write: CTRL.FAULT_RESET }, { hold: 3 }, { expect: isState(STATE.STOPPED, "stopped") }] },
    // Issue 14 item 6: the boom stops mid-travel after opening, then the closed limit sticks.
    { name: "closed-limit-stuck-mid-travel", invariant: "a stuck closed limit is never believed; it ends in a fault", steps: [...boot, { write: CTRL.OPEN }, { hold: settle + 40 }, { expect: isState(STATE.OPENING, "opening") }, { write: CTRL.STOP }, { hold: settle }, { expect: isState(STATE.STOPPED, "stopped mid-travel") }, { hold: p.debounceCycles + 5, set: { stuckClosed: true } }, { expect: isState(STATE.FAULT, "fault") }, { expect: (m) => (m.faultCode === 4 ? undefined : `fault code ${m.faultCode}, expected limit_stuck`) }, { write: CTRL.CLOSE }, { hold: 5 }, { expect: isState(STATE.FAULT, "fault (close refused)") }, { write: CTRL.FAULT_RESET }, { hold: 5 }, { expect: isState(STATE.FAULT, "fault (switch still stuck)") }, { hold: p.debounceCycles + 5, set: { stuckClosed: false } }, { write: CTRL.FAULT_RESET }, { hold: 3 }, { expect: isState(STATE.STOPPED, "stopped") }, { write: CTRL.CLOSE }, { hold: settle }, { expect: isState(STATE.CLOSING, "closing (really moving)") }, { hold: fullMove }, { expect: isState(STATE.CLOSED, "closed") }] },
    // Issue 14 item 7: a reset after a run timeout proves nothing; the next motion is a probe of a quarter of the run timeout, and its timeout latches.
    { name: "run-timeout-probe-latches", invariant: "after a run timeout the next motion is a bounded probe; a second timeout latches until rst", steps: [...boot, { hold: 1, set: { noLimits: true } }, { write: CTRL.OPEN }, { hold: settle + p.runTimeoutCycles + 5 }, { expect: (m) => (m.faultCode === 3 ? undefined : `fault code ${m.faultCode}, expected run_timeout`) }, { write: CTRL.FAULT_RESET }, { hold: 3 }, { expect: isState(STATE.STOPPED, "stopped") }, { write: CTRL.OPEN }, { hold: p.deadTimeCycles + 2 + Math.max(1, Math.floor(p.runTimeoutCycles / 4)) }, { expect: isState(STATE.FAULT, "fault within the probe") }, { expect: (m) => (m.faultCode === 5 ? undefined : `fault code ${m.faultCode}, expected run_timeout_repeat`) }, { hold: 10, set: { noLimits: false } }, { write: CTRL.FAULT_RESET }, { hold: 20 }, { expect: isState(STATE.FAULT, "latched: FAULT_RESET refused") }] },
    { name: "emergency-free-exit", invariant: "emergency opens and stays open; never closes", steps: [...boot, { hold: p.debounceCycles + 5, set: { emergency: true } }, { hold: fullMove }, { expect: isState(STATE.OPEN, "open") }, { write: CTRL.CLOSE }, { hold: 30, set: { silent: true } }, { expect: isState(STATE.OPEN, "open") }, { hold: p.watchdogCycles, set: { silent: true } }, { expect: isState(STATE.OPEN, "open (emergency beats a silent MCU)") }, { hold: 20, set: { emergency: false, silent: false } }] },
  ];
}
