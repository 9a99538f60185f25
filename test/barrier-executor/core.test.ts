/**
 * The barrier executor's state machine, driven directly (no serial link) against the
 * cycle-accurate model of the safety core with the plant model closing the loop, on a manual
 * clock. Frames are captured as the executor hands them to the link.
 */
import { expect } from "chai";
import fc from "fast-check";
import { CommandRing } from "../../firmware/barrier-executor/core/command-ring";
import { parseBarrierConfig, type BarrierConfig } from "../../firmware/barrier-executor/core/config";
import { BarrierExecutor } from "../../firmware/barrier-executor/core/executor";
import { decodeStatus, RegisterCore } from "../../firmware/barrier-executor/core/safety-core";
import { CORE_ID, CTRL, REG, STATUS, type SafetyCoreParams } from "../../firmware/barrier-executor/fpga/regmap";
import { serveSpiFrame, SpiCoreBus, type CoreBus } from "../../firmware/barrier-executor/spi-bus";
import type { Fields } from "../../firmware/common/link/frame";
import { validateMessage } from "../../firmware/common/link/messages";
import { SimulatedSafetyCore } from "../../sim/plant/barrier-core";
import type { PlantConfig } from "../../sim/plant/barrier-plant";
import { loadManifestConfig } from "../../sim/boards/manifest-config";

interface Sent { type: string; fields: Fields; at: number }

function harness(opts: { config?: Record<string, unknown>; plant?: Partial<PlantConfig>; core?: Partial<SafetyCoreParams>; initialPct?: number } = {}) {
  const config: BarrierConfig = parseBarrierConfig(loadManifestConfig("barrier-executor", "lin", opts.config ?? {}));
  const sim = new SimulatedSafetyCore({ startMs: 0, plant: opts.plant, params: opts.core, initialPct: opts.initialPct });
  const sent: Sent[] = [];
  let now = 0;
  let minRemain = Infinity;
  const bus: CoreBus = {
    read: (addr) => { sim.catchUp(now); return sim.read(addr); },
    write: (addr, value) => { sim.catchUp(now); sim.write(addr, value); },
  };
  const ex = new BarrierExecutor(config, new RegisterCore(bus), {
    send: (type, fields) => {
      // Everything the executor sends must pass the link catalogue.
      const check = validateMessage(type, 1, fields);
      if (!check.ok) throw new Error(`${type} breaks the catalogue: ${check.detail}`);
      sent.push({ type, fields, at: now });
    },
  });
  ex.start(0);
  const h = {
    ex, sim, sent, config,
    get now() { return now; },
    /** Lowest HB_REMAIN seen at any executor wake-up after boot (watchdog margin). */
    get minHeartbeatRemain() { return minRemain; },
    /** Advance time, waking the executor at its deadlines as the board's timer would. */
    at(ms: number): void {
      const end = now + ms;
      for (;;) {
        const next = Math.min(ex.nextDeadline(), end);
        now = Math.max(now, next);
        sim.catchUp(now);
        if (now > 500) minRemain = Math.min(minRemain, sim.read(REG.HB_REMAIN));
        ex.tick(now);
        if (now >= end) break;
      }
    },
    until(cond: () => boolean, limitMs: number, stepMs = 10): void {
      const start = now;
      while (!cond()) {
        if (now - start > limitMs) throw new Error(`not within ${limitMs} ms; state ${ex.state}, core ${sim.stateName}; sent ${JSON.stringify(sent.slice(-5))}`);
        h.at(stepMs);
      }
    },
    msg(type: string, fields: Fields = {}): void { ex.onMessage(type, fields, now); },
    of(type: string, from = 0): Sent[] { return sent.slice(from).filter((m) => m.type === type); },
    states(from = 0): string[] { return h.of("BARRIER", from).map((m) => m.fields.state); },
    done(cmd: string): Fields[] { return h.of("CMD_DONE").filter((m) => m.fields.cmd === cmd).map((m) => m.fields); },
    vehicle(under: boolean): void { sim.catchUp(now); sim.plant.setVehicleUnder(under); },
    open(cmd: string, session?: string): number {
      const from = sent.length;
      h.msg("OPEN", session ? { cmd, session } : { cmd });
      h.until(() => ex.state === "open", 6000);
      return from;
    },
    pass(): void { h.vehicle(true); h.at(1000); h.vehicle(false); h.at(50); },
  };
  h.at(200);
  return h;
}

describe("barrier executor config", () => {
  const base = () => loadManifestConfig("barrier-executor", "lin");

  it("parses the manifest's lin config", () => {
    const c = parseBarrierConfig(base());
    expect(c).to.include({ lane: "L1", heartbeatMs: 100, pollMs: 20, autoCloseDelayMs: 3000, cmdHistory: 16 });
    expect(c.spi).to.include({ port: "safety-core", mode: 0 });
  });

  it("refuses a bad config naming the exact key", () => {
    expect(() => parseBarrierConfig({ ...base(), pollMs: 0 })).to.throw("barrier-executor config pollMs: expected a whole number in 1..1000, got 0");
    expect(() => parseBarrierConfig({ ...base(), pollMs: 200 })).to.throw(/pollMs: must not exceed heartbeatMs \(100\)/);
    expect(() => parseBarrierConfig({ ...base(), lane: "lane one" })).to.throw(/config lane:/);
    expect(() => parseBarrierConfig({ ...base(), spi: undefined })).to.throw("barrier-executor config spi: missing section");
    expect(() => parseBarrierConfig({ ...base(), commandTimeoutMs: 2000 })).to.throw(/commandTimeoutMs: must be at least travelMs/);
    expect(() => parseBarrierConfig({ ...base(), link: { heartbeatMs: 1000 } })).to.throw(/link.linkTimeoutMs/);
  });
});

describe("barrier executor core (against the safety-core model and the plant)", () => {
  it("boots: the core leaves SAFE on the first heartbeat, the boom on its closed switch is reported closed without moving", () => {
    const h = harness();
    expect(h.states()).to.deep.equal(["safe", "closed"]);
    expect(h.of("BARRIER").at(-1)!.fields).to.deep.equal({ state: "closed", pos: "0" });
    expect(h.of("ALARM")).to.have.length(0);
    expect(h.ex.coreIdentity).to.include({ id: CORE_ID, compatible: true, watchdogMs: 500, runTimeoutMs: 10000 });
    const cycles0 = h.sim.model.cycle, chunks0 = h.sim.chunks;
    h.at(20000);
    expect(h.sim.plant.positionPct).to.equal(0);
    // 20 s at 50 MHz is a billion core cycles: the fast-forward covers them in a few chunks per bus access.
    expect(h.sim.model.cycle - cycles0).to.be.closeTo(20000 * 50_000, 50_000);
    expect(h.sim.chunks - chunks0).to.be.below(4 * (20000 / h.config.pollMs));
    // The heartbeat keeps the core's watchdog far from expiry: at least 500 - 100 - 20 ms left.
    expect(h.minHeartbeatRemain).to.be.at.least(h.sim.model.msToCycles(380));
  });

  it("completes OPEN with CMD_DONE ok when the boom is up; a repeated cmd acts once and gets the same answer again", () => {
    const h = harness();
    const from = h.sent.length;
    h.msg("OPEN", { cmd: "c1", session: "S1" });
    h.at(100);
    h.msg("OPEN", { cmd: "c1", session: "S1" }); // while still running: no second action, no early answer
    expect(h.done("c1")).to.deep.equal([]);
    h.until(() => h.ex.state === "open", 5000);
    expect(h.done("c1")).to.deep.equal([{ cmd: "c1", result: "ok" }]);
    h.msg("OPEN", { cmd: "c1", session: "S1" });
    expect(h.done("c1")).to.deep.equal([{ cmd: "c1", result: "ok" }, { cmd: "c1", result: "ok" }]);
    expect(h.states(from)).to.deep.equal(["opening", "open"]);
    expect(h.ex.stats).to.include({ commands: 1, duplicates: 2 });
    // A new OPEN while open changes nothing in the core and is ok at once.
    h.msg("OPEN", { cmd: "c2", session: "S2" });
    expect(h.done("c2")).to.deep.equal([{ cmd: "c2", result: "ok" }]);
    expect(h.states(from)).to.deep.equal(["opening", "open"]);
  });

  it("estimates the position from the motor run time, snapped by the limit switches", () => {
    const h = harness();
    h.msg("OPEN", { cmd: "c1" });
    h.at(1500);
    expect(h.ex.positionPercent).to.be.closeTo(h.sim.plant.positionPct, 3);
    expect(h.ex.positionPercent).to.be.within(30, 50);
    h.until(() => h.ex.state === "open", 5000);
    expect(h.ex.positionPercent).to.equal(100);
  });

  it("closes by itself autoCloseDelayMs after the pass, and waits again while another vehicle is under the boom", () => {
    const h = harness();
    const from = h.open("c1", "S1");
    h.pass();
    expect(h.of("PASSED", from).map((m) => m.fields)).to.deep.equal([{ session: "S1" }]);
    expect(h.ex.autoCloseArmed).to.equal(true);
    h.at(2000);
    h.vehicle(true); // a tailgater
    h.at(5000);
    expect(h.ex.state).to.equal("open");
    h.vehicle(false);
    const clearAt = h.now;
    h.until(() => h.ex.state === "closing", 5000);
    const closing = h.of("BARRIER", from).find((m) => m.fields.state === "closing")!;
    expect(closing.at - clearAt).to.be.within(3000, 3000 + 2 * h.config.pollMs);
    expect(h.of("PASSED", from).map((m) => m.fields)).to.deep.equal([{ session: "S1" }, {}]);
    h.until(() => h.ex.state === "closed", 5000);
    expect(h.states(from)).to.deep.equal(["opening", "open", "closing", "closed"]);
    expect(h.ex.stats.autoCloses).to.equal(1);
  });

  it("does not count a vehicle that backs off before the boom is up, and closes after noPassCloseMs", () => {
    const h = harness({ config: { noPassCloseMs: 20000 } });
    const from = h.sent.length;
    h.msg("OPEN", { cmd: "c1", session: "S1" });
    h.at(500);
    h.vehicle(true);
    h.at(500);
    h.vehicle(false); // reverses away while the boom is still opening
    h.until(() => h.ex.state === "open", 5000);
    h.at(10000);
    expect(h.of("PASSED", from)).to.have.length(0);
    expect(h.ex.state).to.equal("open");
    h.until(() => h.ex.state === "closing", 15000);
    expect(h.now).to.be.at.least(20000);
  });

  it("refuses CLOSE onto a vehicle, with a failed sensor, and in fault — saying why", () => {
    const h = harness();
    h.open("c1");
    h.vehicle(true);
    h.at(50);
    h.msg("CLOSE", { cmd: "k1" });
    expect(h.done("k1")).to.deep.equal([{ cmd: "k1", result: "refused", why: "obstruction" }]);
    h.vehicle(false);
    h.sim.plant.failObstructionSensor(true);
    h.at(50);
    expect(h.of("ALARM").map((m) => m.fields.code)).to.include("SENSOR_FAILED");
    h.msg("CLOSE", { cmd: "k2" });
    expect(h.done("k2")).to.deep.equal([{ cmd: "k2", result: "refused", why: "sensor_failed" }]);
    h.sim.plant.failObstructionSensor(false);
    h.at(50);
    h.msg("CLOSE", { cmd: "k3" });
    h.until(() => h.ex.state === "closed", 5000);
    expect(h.done("k3")).to.deep.equal([{ cmd: "k3", result: "ok" }]);
  });

  it("STOP ends a running OPEN (refused: stopped) and holds the boom; a new OPEN resumes", () => {
    const h = harness();
    const from = h.sent.length;
    h.msg("OPEN", { cmd: "c1" });
    h.at(1000);
    h.msg("STOP", { cmd: "s1" });
    expect(h.done("s1")).to.deep.equal([{ cmd: "s1", result: "ok" }]);
    expect(h.done("c1")).to.deep.equal([{ cmd: "c1", result: "refused", why: "stopped" }]);
    const held = h.sim.plant.positionPct;
    h.at(5000);
    expect(h.sim.plant.positionPct).to.equal(held);
    expect(h.states(from)).to.deep.equal(["opening", "stopped"]);
    h.msg("OPEN", { cmd: "c2" });
    h.until(() => h.ex.state === "open", 5000);
    expect(h.done("c2")).to.deep.equal([{ cmd: "c2", result: "ok" }]);
  });

  it("an obstruction in each closing cycle reverses the boom: reaching fully open ends the cycle (UL 325); auto-close retries", () => {
    const h = harness();
    const from = h.open("c1", "S1");
    h.pass();
    h.until(() => h.ex.state === "closing", 5000);
    h.at(500);
    h.vehicle(true); h.at(100); h.vehicle(false); // first: reverse
    h.until(() => h.ex.state === "open", 5000);
    h.until(() => h.ex.state === "closing", 5000); // auto-close re-armed by the reversal
    h.at(500);
    h.vehicle(true); h.at(100); h.vehicle(false); // a new closing cycle: reverse again (the safety core's obst_seen cleared at OPEN)
    h.until(() => h.ex.state === "closed", 20000);
    expect(h.of("ALARM", from).map((m) => m.fields.detail)).to.deep.equal(["obstruction while closing: reversing", "obstruction while closing: reversing"]);
    expect(h.states(from)).to.deep.equal(["opening", "open", "closing", "opening", "open", "closing", "opening", "open", "closing", "closed"]);
  });

  it("a CLOSE reversed by an obstruction ends with CMD_DONE refused: obstruction", () => {
    const h = harness({ initialPct: 100 });
    h.at(100);
    expect(h.ex.state).to.equal("open");
    h.msg("CLOSE", { cmd: "k1" });
    h.at(800);
    h.vehicle(true);
    h.at(100);
    expect(h.done("k1")).to.deep.equal([{ cmd: "k1", result: "refused", why: "obstruction" }]);
  });

  it("a stuck closed switch with the boom open latches BOTH_LIMITS; reset is refused until it is repaired", () => {
    const h = harness();
    const from = h.open("c1");
    h.sim.plant.breakLimitSwitch("closed", "stuck");
    h.at(100);
    expect(h.of("BARRIER", from).at(-1)!.fields).to.deep.equal({ state: "fault", pos: "100", fault: "BOTH_LIMITS" });
    expect(h.of("ALARM", from).map((m) => m.fields.code)).to.deep.equal(["BOTH_LIMITS"]);
    h.msg("FAULT_RESET", { cmd: "r1" });
    expect(h.done("r1")).to.deep.equal([{ cmd: "r1", result: "refused", why: "both_limits" }]);
    h.msg("CLOSE", { cmd: "k1" });
    expect(h.done("k1")).to.deep.equal([{ cmd: "k1", result: "refused", why: "BOTH_LIMITS" }]);
    h.sim.plant.breakLimitSwitch("closed", "ok");
    h.at(100);
    h.msg("FAULT_RESET", { cmd: "r2" });
    expect(h.done("r2")).to.deep.equal([{ cmd: "r2", result: "ok" }]);
    h.at(100);
    // Stopped on the open switch: reported open without moving.
    expect(h.states(from).slice(-2)).to.deep.equal(["fault", "open"]);
  });

  it("a missing open switch on a boom that overtravels ends in RUN_TIMEOUT (the core's run timer)", () => {
    const h = harness({ plant: { overtravelPct: 400 }, config: { commandTimeoutMs: 20000 } });
    h.sim.plant.breakLimitSwitch("open", "missing");
    const start = h.now;
    h.msg("OPEN", { cmd: "c1" });
    h.until(() => h.ex.state === "fault", 12000, 50);
    expect(h.ex.fault).to.equal("RUN_TIMEOUT");
    expect(h.done("c1")).to.deep.equal([{ cmd: "c1", result: "fault", why: "RUN_TIMEOUT" }]);
    expect(h.now - start).to.be.within(10000, 10000 + 50);
    expect(h.sim.drive).to.deep.equal({ motorUp: false, motorDown: false, brake: true });
  });

  it("RESET ends a running command and disarms auto-close without moving anything", () => {
    const h = harness({ config: { noPassCloseMs: 5000 } });
    h.msg("OPEN", { cmd: "c1" });
    h.at(500);
    h.msg("RESET");
    expect(h.done("c1")).to.deep.equal([{ cmd: "c1", result: "refused", why: "reset" }]);
    expect(h.of("BARRIER").at(-1)!.fields.state).to.equal("opening"); // re-sent: the core keeps going
    h.until(() => h.ex.state === "open", 5000);
    h.at(10000);
    expect(h.ex.state).to.equal("open");
  });

  it("refuses to drive a core it does not know (CORE_ID) and writes nothing to it", () => {
    const writes: number[] = [];
    const bus: CoreBus = { read: (a) => (a === REG.ID ? 0x12345678 : 0), write: (_a, v) => { writes.push(v); } };
    const sent: Sent[] = [];
    const config = parseBarrierConfig(loadManifestConfig("barrier-executor"));
    const ex = new BarrierExecutor(config, new RegisterCore(bus), { send: (type, fields) => sent.push({ type, fields, at: 0 }) });
    ex.start(0);
    ex.tick(1000);
    ex.onMessage("OPEN", { cmd: "c1" }, 1000);
    expect(writes).to.deep.equal([]);
    expect(sent.map((m) => [m.type, m.fields.code ?? m.fields.state ?? m.fields.result])).to.deep.equal([["ALARM", "CORE_ID"], ["BARRIER", "fault"], ["CMD_DONE", "refused"]]);
  });

  it("refuses a core whose watchdog window is too short for the configured heartbeat (CORE_CONFIG)", () => {
    const h = harness({ core: { watchdogCycles: 150 * 50_000 } });
    expect(h.of("ALARM").map((m) => m.fields.code)).to.deep.equal(["CORE_CONFIG"]);
    expect(h.ex.state).to.equal("fault");
    h.msg("OPEN", { cmd: "c1" });
    expect(h.done("c1")).to.deep.equal([{ cmd: "c1", result: "refused", why: "CORE_CONFIG" }]);
  });

  it("property: every command id gets one outcome, repeats get the same outcome again, the boom never moves while in fault", () => {
    fc.assert(fc.property(
      fc.array(fc.record({
        type: fc.constantFrom("OPEN", "CLOSE", "STOP", "FAULT_RESET"),
        id: fc.integer({ min: 1, max: 6 }),
        wait: fc.integer({ min: 0, max: 3000 }),
        field: fc.constantFrom("none", "vehicle", "clear", "jam", "unjam"),
      }), { minLength: 1, maxLength: 12 }),
      (steps) => {
        const h = harness();
        const firstOutcome = new Map<string, string>();
        for (const s of steps) {
          const cmd = `c${s.id}`;
          if (s.field === "vehicle") h.vehicle(true);
          if (s.field === "clear") h.vehicle(false);
          if (s.field === "jam") h.sim.plant.jam();
          if (s.field === "unjam") h.sim.plant.clearJam();
          h.msg(s.type, { cmd });
          h.at(s.wait);
          if (h.sim.model.state === 7) expect(h.sim.drive).to.deep.equal({ motorUp: false, motorDown: false, brake: true });
        }
        h.at(10000);
        for (const d of h.of("CMD_DONE")) {
          const text = JSON.stringify(d.fields);
          const first = firstOutcome.get(d.fields.cmd);
          if (first === undefined) firstOutcome.set(d.fields.cmd, text);
          else expect(text, `repeat of ${d.fields.cmd}`).to.equal(first);
        }
        expect(h.ex.stats.commands).to.equal(new Set(steps.map((s) => s.id)).size);
        expect(firstOutcome.size).to.equal(h.ex.stats.commands);
      },
    ), { numRuns: 15 });
  });
});

describe("barrier executor plumbing", () => {
  it("decodes STATUS with the register map's bits", () => {
    const word = 4 | STATUS.BRAKE | STATUS.LIMIT_OPEN | STATUS.SENSOR_OK | STATUS.HEARTBEAT_OK | (1 << STATUS.FAULT_CODE_SHIFT);
    const s = decodeStatus(word);
    expect(s).to.include({ state: "open", brake: true, limOpen: true, limClosed: false, sensorOk: true, heartbeatOk: true, motorUp: false, faultCode: 1, faultName: "OVER_CURRENT" });
    expect(decodeStatus(7 | STATUS.FAULT | (2 << STATUS.FAULT_CODE_SHIFT))).to.include({ state: "fault", fault: true, faultName: "BOTH_LIMITS" });
  });

  it("carries register reads and writes over the 5-byte SPI frame, full 32 bits", () => {
    const regs = new Map<number, number>([[REG.ID, CORE_ID], [REG.STATUS, 0xfedcba98]]);
    const writes: [number, number][] = [];
    const far: CoreBus = { read: (a) => regs.get(a) ?? 0, write: (a, v) => { writes.push([a, v]); } };
    const frames: number[][] = [];
    const bus = new SpiCoreBus({
      transfer(buffer) {
        const bytes = buffer as Uint8Array;
        frames.push([...bytes]);
        serveSpiFrame(bytes, far);
      },
      close() {},
    });
    expect(bus.read(REG.ID)).to.equal(CORE_ID);
    expect(bus.read(REG.STATUS)).to.equal(0xfedcba98);
    bus.write(REG.CTRL, CTRL.HEARTBEAT | CTRL.OPEN);
    expect(writes).to.deep.equal([[REG.CTRL, 0x11]]);
    expect(frames[2]).to.deep.equal([0x80, 0, 0, 0, 0x11]);
    expect(frames[0][0]).to.equal(REG.ID);
  });

  it("remembers the last N command ids, forgetting the oldest", () => {
    const ring = new CommandRing(3);
    for (const id of ["a", "b", "c", "d"]) ring.add(id, "OPEN");
    expect(ring.find("a")).to.equal(undefined);
    expect(ring.find("d")).to.include({ cmd: "d", result: undefined });
    ring.finish("c", "refused", "x");
    expect(ring.find("c")).to.include({ result: "refused", why: "x" });
    expect(ring.length).to.equal(3);
  });
});
