import { expect } from "chai";
import fc from "fast-check";
import { SafetyCoreModel } from "../../firmware/barrier-executor/fpga/model";
import { CORE_ID, CTRL, DEFAULT_PARAMS, FAULT, IN, REG, STATE, STATUS, msToCycles, type SafetyCoreParams } from "../../firmware/barrier-executor/fpga/regmap";
import { Plant } from "../../fpga/stimulus";

/** Small timing so that every timer expires inside short generated sequences. */
const P: SafetyCoreParams = { clockHz: 1000, debounceCycles: 2, runTimeoutCycles: 60, deadTimeCycles: 3, watchdogCycles: 40, ocFilterCycles: 3 };

function dbg(m: SafetyCoreModel): number[] {
  return Array.from(m.dbg(new Uint32Array(10)));
}

function boot(m: SafetyCoreModel, inputs: number): void {
  m.inputs = inputs;
  m.fastForward(20);
  m.writeRegister(REG.CTRL, CTRL.HEARTBEAT);
  m.fastForward(3);
}

describe("fpga: safety-core model", () => {
  it("starts in SAFE and waits for the first heartbeat", () => {
    const m = new SafetyCoreModel(P);
    expect(m.state).to.equal(STATE.SAFE);
    expect(m.outputs).to.deep.include({ motorUp: false, motorDown: false, brake: true, fault: false });
    boot(m, IN.LIMIT_CLOSED | IN.SENSOR_OK);
    expect(m.state).to.equal(STATE.STOPPED);
    expect(m.readRegister(REG.STATUS) & STATUS.HEARTBEAT_OK).to.not.equal(0);
  });

  it("reads back its identity and configuration", () => {
    const m = new SafetyCoreModel();
    expect(m.readRegister(REG.ID)).to.equal(CORE_ID);
    expect(m.readRegister(REG.CFG_DEBOUNCE)).to.equal(DEFAULT_PARAMS.debounceCycles);
    expect(m.readRegister(REG.CFG_RUN_TIMEOUT)).to.equal(DEFAULT_PARAMS.runTimeoutCycles);
    expect(m.readRegister(REG.CFG_WATCHDOG)).to.equal(DEFAULT_PARAMS.watchdogCycles);
    expect(m.readRegister(REG.CFG_CLK_HZ)).to.equal(50_000_000);
    expect(m.readRegister(REG.CTRL)).to.equal(0);
    expect(m.msToCycles(500)).to.equal(25_000_000);
    expect(msToCycles(0.5, 1000)).to.equal(1);
  });

  it("refuses bad parameters and a full write queue with precise messages", () => {
    expect(() => new SafetyCoreModel({ deadTimeCycles: 0 })).to.throw(/deadTimeCycles \(DEAD_TIME_CYCLES\).*1\.\.4294967295, got 0/);
    expect(() => new SafetyCoreModel({ watchdogCycles: 1.5 })).to.throw(/watchdogCycles/);
    const m = new SafetyCoreModel(P);
    for (let i = 0; i < 8; i++) m.writeRegister(REG.CTRL, CTRL.HEARTBEAT);
    expect(() => m.writeRegister(REG.CTRL, CTRL.OPEN)).to.throw(/queue full/);
    expect(() => m.writeRegister(16, 0)).to.throw(/0\.\.15/);
    expect(() => m.fastForward(-1)).to.throw(/whole number/);
  });

  it("opens onto the open limit, and a fault needs a reset once the cause is gone", () => {
    const m = new SafetyCoreModel(P);
    boot(m, IN.LIMIT_CLOSED | IN.SENSOR_OK);
    m.writeRegister(REG.CTRL, CTRL.OPEN | CTRL.HEARTBEAT);
    m.fastForward(8);
    expect(m.state).to.equal(STATE.OPENING);
    m.setInputs({ limitClosed: false, overCurrent: true });
    m.fastForward(10);
    expect(m.state).to.equal(STATE.FAULT);
    expect(m.readRegister(REG.FAULT)).to.equal(FAULT.OVER_CURRENT);
    m.writeRegister(REG.CTRL, CTRL.FAULT_RESET | CTRL.HEARTBEAT);
    m.fastForward(2);
    expect(m.state, "reset refused while over-current persists").to.equal(STATE.FAULT);
    m.setInputs({ overCurrent: false });
    m.fastForward(5);
    m.writeRegister(REG.CTRL, CTRL.FAULT_RESET | CTRL.HEARTBEAT);
    m.fastForward(2);
    expect(m.state).to.equal(STATE.STOPPED);
    expect(m.readRegister(REG.FAULT)).to.equal(FAULT.NONE);
  });

  it("reverses on the first obstruction of every closing cycle: reaching fully open ends the cycle (UL 325)", () => {
    const m = new SafetyCoreModel(P);
    boot(m, IN.LIMIT_OPEN | IN.SENSOR_OK);
    m.writeRegister(REG.CTRL, CTRL.OPEN | CTRL.HEARTBEAT);
    m.fastForward(2);
    expect(m.state).to.equal(STATE.OPEN);
    const closeThenObstruct = (): void => {
      m.writeRegister(REG.CTRL, CTRL.CLOSE | CTRL.HEARTBEAT);
      m.fastForward(6);  // at most a dead time (3) after the motor stopped
      expect(m.state).to.equal(STATE.CLOSING);
      m.setInputs({ limitOpen: false });
      m.fastForward(5);
      m.setInputs({ obstruction: true });
      m.fastForward(6);  // 2 synchroniser + 2 debounce + 1 state cycles, with margin
      m.setInputs({ obstruction: false });
    };
    closeThenObstruct();
    expect(m.state, "first obstruction reverses").to.equal(STATE.REVERSING);
    expect(m.obstSeen).to.equal(1);
    m.writeRegister(REG.CTRL, CTRL.HEARTBEAT);
    m.fastForward(10);
    expect(m.state).to.equal(STATE.OPENING);
    m.setInputs({ limitOpen: true });
    m.fastForward(6);
    expect(m.state).to.equal(STATE.OPEN);
    expect(m.obstSeen, "fully open ends the closing cycle").to.equal(0);
    closeThenObstruct();
    expect(m.state, "the next cycle's first obstruction reverses again, it does not stop").to.equal(STATE.REVERSING);
  });

  it("a closed limit that sticks mid-travel after an opening is a fault, not CLOSED (issue 14 item 6)", () => {
    const m = new SafetyCoreModel(P);
    boot(m, IN.LIMIT_CLOSED | IN.SENSOR_OK);
    m.writeRegister(REG.CTRL, CTRL.OPEN | CTRL.HEARTBEAT);
    m.fastForward(2);
    expect(m.state).to.equal(STATE.OPENING);
    m.setInputs({ limitClosed: false });
    m.fastForward(6);
    m.writeRegister(REG.CTRL, CTRL.STOP | CTRL.HEARTBEAT);
    m.fastForward(2);
    expect(m.state).to.equal(STATE.STOPPED);
    m.setInputs({ limitClosed: true });  // stuck: nothing moved the boom down
    m.fastForward(6);
    m.writeRegister(REG.CTRL, CTRL.CLOSE | CTRL.HEARTBEAT);
    m.fastForward(2);
    expect(m.state, "CLOSE must not report closed without moving").to.equal(STATE.FAULT);
    expect(m.readRegister(REG.FAULT)).to.equal(FAULT.LIMIT_STUCK);
    m.writeRegister(REG.CTRL, CTRL.FAULT_RESET | CTRL.HEARTBEAT);
    m.fastForward(2);
    expect(m.state, "reset refused while the switch is still stuck").to.equal(STATE.FAULT);
    m.setInputs({ limitClosed: false });
    m.fastForward(6);
    m.writeRegister(REG.CTRL, CTRL.FAULT_RESET | CTRL.HEARTBEAT);
    m.fastForward(2);
    expect(m.state).to.equal(STATE.STOPPED);
  });

  it("after a run timeout the next motion is a probe of a quarter of it, and a second timeout latches until rst (issue 14 item 7)", () => {
    const m = new SafetyCoreModel(P);  // run timeout 60 cycles: probe 15
    boot(m, IN.SENSOR_OK);  // no limit switch at all
    m.writeRegister(REG.CTRL, CTRL.OPEN | CTRL.HEARTBEAT);
    let on = 0;
    for (let i = 0; i < 80; i++) { m.step(); if (m.outputs.motorUp) on++; if (i % 20 === 0) m.writeRegister(REG.CTRL, CTRL.HEARTBEAT); }
    expect(m.readRegister(REG.FAULT)).to.equal(FAULT.RUN_TIMEOUT);
    expect(on).to.equal(60);
    m.writeRegister(REG.CTRL, CTRL.FAULT_RESET | CTRL.HEARTBEAT);
    m.fastForward(2);
    expect(m.state).to.equal(STATE.STOPPED);
    m.writeRegister(REG.CTRL, CTRL.OPEN | CTRL.HEARTBEAT);
    on = 0;
    for (let i = 0; i < 80; i++) { m.step(); if (m.outputs.motorUp) on++; if (i % 20 === 0) m.writeRegister(REG.CTRL, CTRL.HEARTBEAT); }
    expect(on, "the probe runs a quarter of the run timeout").to.equal(15);
    expect(m.readRegister(REG.FAULT)).to.equal(FAULT.RUN_TIMEOUT_REPEAT);
    m.writeRegister(REG.CTRL, CTRL.FAULT_RESET | CTRL.HEARTBEAT);
    m.fastForward(2);
    expect(m.state, "latched: only rst (maintenance) clears it").to.equal(STATE.FAULT);
    m.clock(IN.RESET, 0, 0, 0);
    expect(m.state).to.equal(STATE.SAFE);
    expect(m.rtProbe).to.equal(0);
  });

  it("fastForward(n) equals n steps bit for bit (property, scaled and real timing)", function () {
    this.timeout(60_000);
    const action = fc.record({
      inputs: fc.integer({ min: 0, max: 63 }),
      write: fc.option(fc.constantFrom(CTRL.OPEN, CTRL.CLOSE, CTRL.STOP, CTRL.FAULT_RESET, CTRL.HEARTBEAT, CTRL.OPEN | CTRL.HEARTBEAT), { nil: undefined }),
      cycles: fc.oneof(fc.integer({ min: 0, max: 10 }), fc.integer({ min: 0, max: 400 }), fc.integer({ min: 0, max: 5_000_000 })),
      feed: fc.option(fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 60 }), fc.integer({ min: 1, max: 1_500_000 })), { nil: undefined }),
    });
    const big: SafetyCoreParams = { clockHz: 50_000_000, debounceCycles: 100, runTimeoutCycles: 3_000_000, deadTimeCycles: 5000, watchdogCycles: 1_000_000, ocFilterCycles: 2000 };
    for (const params of [P, big]) {
      fc.assert(
        fc.property(fc.array(action, { minLength: 1, maxLength: 25 }), (acts) => {
          const a = new SafetyCoreModel(params), b = new SafetyCoreModel(params);
          for (const act of acts) {
            a.inputs = act.inputs; b.inputs = act.inputs;
            if (act.write !== undefined) { a.writeRegister(REG.CTRL, act.write); b.writeRegister(REG.CTRL, act.write); }
            if (act.feed !== undefined) { a.feedHeartbeat(act.feed); b.feedHeartbeat(act.feed); }
            const n = params === P ? Math.min(act.cycles, 2000) : act.cycles;
            a.fastForward(n);
            if (n > 20_000) { b.fastForward(n - 20_000); /* cross-checked in the small case */ for (let i = 0; i < 20_000; i++) b.step(); }
            else for (let i = 0; i < n; i++) b.step();
            if (dbg(a).join() !== dbg(b).join() || a.cycle !== b.cycle) return false;
          }
          return true;
        }),
        { numRuns: params === P ? 400 : 150, seed: 7 },
      );
    }
  });

  it("fast-forward really jumps: a day of idle barrier in well under a second", () => {
    const m = new SafetyCoreModel();
    m.inputs = IN.LIMIT_CLOSED | IN.SENSOR_OK;
    const hb = m.msToCycles(100);
    const t0 = process.hrtime.bigint();
    m.feedHeartbeat(hb); // heartbeat every 100 ms, like the executor's timer
    for (let t = 0; t < 24 * 60; t++) m.fastForward(m.msToCycles(60_000)); // 24 h, a minute at a time
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    expect(m.state).to.equal(STATE.STOPPED);
    expect(m.cycle).to.equal(24 * 60 * m.msToCycles(60_000));
    expect(ms).to.be.lessThan(5_000); // generous: a smoke check, the bench measures
  });

  // ---------------------------------------------------------------- model-based invariants

  type ActionName = "open" | "close" | "stop" | "reset" | "openAgain" | "obstruct" | "clear" | "sensorFail" | "sensorOk" |
    "stall" | "unstall" | "loseHeartbeat" | "heartbeat" | "emergency" | "emergencyOff" | "bothLimits" | "limitsOk" | "noLimits" | "wait";
  const NAMES: ActionName[] = ["open", "close", "stop", "reset", "openAgain", "obstruct", "clear", "sensorFail", "sensorOk", "stall", "unstall",
    "loseHeartbeat", "heartbeat", "emergency", "emergencyOff", "bothLimits", "limitsOk", "noLimits", "wait"];

  /** Runs a named-action sequence with a plant in the loop, checking every invariant every cycle. */
  function runSequence(seq: { a: ActionName; n: number }[]): string | undefined {
    const m = new SafetyCoreModel(P);
    const plant = new Plant(25);
    let obstruct = false, sensorOk = true, stall = false, em = false, silent = false, limits: "ok" | "both" | "none" = "ok";
    let offRun = 0, onRun = 0, sinceHb = P.watchdogCycles + 1, prevObEff = false, prevEm = false, prevUp = 0, prevDown = 0;
    let hbTimer = 0;
    const scratch = new Uint32Array(10);
    for (const { a, n } of seq) {
      let write = 0;
      switch (a) {
        case "open": write = CTRL.OPEN; break;
        case "close": write = CTRL.CLOSE; break;
        case "stop": write = CTRL.STOP; break;
        case "reset": write = CTRL.FAULT_RESET; break;
        case "openAgain": write = -1; break;
        case "obstruct": obstruct = true; break;
        case "clear": obstruct = false; break;
        case "sensorFail": sensorOk = false; break;
        case "sensorOk": sensorOk = true; break;
        case "stall": stall = true; break;
        case "unstall": stall = false; break;
        case "loseHeartbeat": silent = true; break;
        case "heartbeat": silent = false; break;
        case "emergency": em = true; break;
        case "emergencyOff": em = false; break;
        case "bothLimits": limits = "both"; break;
        case "limitsOk": limits = "ok"; break;
        case "noLimits": limits = "none"; break;
        case "wait": break;
      }
      for (let i = 0; i < Math.max(1, n); i++) {
        plant.move(m);
        let inb = 0;
        const lo = limits === "both" || (limits === "ok" && plant.limitOpen);
        const lc = limits === "both" || (limits === "ok" && plant.limitClosed);
        if (lo) inb |= IN.LIMIT_OPEN;
        if (lc) inb |= IN.LIMIT_CLOSED;
        if (obstruct) inb |= IN.OBSTRUCTION;
        if (stall || (m.motorUp && lo) || (m.motorDown && lc && plant.pos < 0)) inb |= IN.OVER_CURRENT;
        if (em) inb |= IN.EMERGENCY;
        if (sensorOk) inb |= IN.SENSOR_OK;
        let we = 0, wdata = 0;
        if (i === 0 && write > 0) { we = 1; wdata = write; }
        if (!silent && ++hbTimer >= 10) { hbTimer = 0; we = 1; wdata |= CTRL.HEARTBEAT; }
        const before = m.state, beforeStable = m.stable;
        // repeated open while opening/open: a twin without the write must end identical
        if (i === 0 && write === -1 && (before === STATE.OPENING || before === STATE.OPEN)) {
          const twin = new SafetyCoreModel(P);
          twin.load(m.dbg(scratch));
          twin.clock(inb, we, 0, wdata);
          m.clock(inb, 1, 0, wdata | CTRL.OPEN);
          if (dbg(twin).join() !== dbg(m).join()) return `repeated open changed the state in ${before}`;
        } else {
          m.clock(inb, we, 0, wdata);
        }
        if (we && wdata & CTRL.HEARTBEAT) sinceHb = 0; else sinceHb++;
        const st = m.stable;
        const obEff = ((st >> 2) & 1) === 1 || ((st >> 4) & 1) === 0;
        const emNow = ((st >> 3) & 1) === 1;
        const up = m.motorUp, down = m.motorDown;
        // §6 invariants
        if (up && down) return "motor up and down both on";
        if (m.brake !== (up || down ? 0 : 1)) return "brake not engaged while idle";
        if ((up && !prevUp) || (down && !prevDown)) { if (offRun <= P.deadTimeCycles) return `motor started after only ${offRun} idle cycles`; }
        if (up || down) { onRun++; offRun = 0; if (onRun > P.runTimeoutCycles) return "motion longer than the run timeout"; } else { onRun = 0; offRun++; }
        if (down && prevObEff) return "closing while an obstruction is present";
        if (down && prevEm) return "closing during an emergency";
        if (sinceHb > P.watchdogCycles && !prevEm && m.state !== STATE.SAFE && m.state !== STATE.FAULT) return "heartbeat lost but not in SAFE";
        if (before === STATE.FAULT && m.state !== STATE.FAULT && !(we && wdata & CTRL.FAULT_RESET)) return "fault left without a reset";
        if (m.state === STATE.FAULT && (up || down || m.faultCode === 0)) return "fault without code or with motor on";
        if ((beforeStable & 3) === 3 && before !== STATE.FAULT && m.state !== STATE.FAULT) return "both limits did not latch a fault";
        prevObEff = obEff; prevEm = emNow; prevUp = up; prevDown = down;
      }
    }
    return undefined;
  }

  it("holds every invariant over >= 100,000 generated named-action sequences", function () {
    const runs = Number(process.env.SYSPARK_FPGA_PBT_RUNS ?? 100_000);
    this.timeout(Math.max(120_000, runs * 2));
    const step = fc.record({ a: fc.constantFrom(...NAMES), n: fc.integer({ min: 1, max: 50 }) });
    let count = 0;
    fc.assert(
      fc.property(fc.array(step, { minLength: 1, maxLength: 14 }), (seq) => {
        count++;
        const why = runSequence(seq);
        if (why) throw new Error(why);
      }),
      { numRuns: runs, seed: 3 },
    );
    expect(count).to.be.at.least(runs);
  });
});
