/**
 * HIL-style test of the barrier executor: the real firmware on a simulated board, its FPGA the
 * cycle-accurate model of the safety core, its boom the plant model — on one end of a socat
 * pty pair, with a gateway stand-in on the other end (`serialport` + readline). Lane time is
 * virtual. Every frame and state is asserted: open, repeated open, pass, auto-close,
 * obstruction while closing, motor stall, heartbeat loss, emergency.
 */
import { expect } from "chai";
import { SerialPeer, type ReceivedMessage } from "../../hil/harness/serial-peer";
import { SimulatedBarrierExecutor } from "../../sim/boards/barrier-executor-sim";
import { VirtualClock } from "../../sim/boards/virtual-clock";
import { openPtyPair, type PtyPair } from "../../host/link/pty";
import { requireToolOrSkip } from "../../host/tools";

const realDelay = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("barrier executor on a simulated board over a socat pty", function () {
  this.timeout(30000);
  let pty: PtyPair;
  let clock: VirtualClock;
  let board: SimulatedBarrierExecutor;
  let gw: SerialPeer;

  /** One step of lane time, then wait until every frame in flight on the pty has arrived, so
   *  lane time never outruns the wire however loaded the machine is. */
  async function step(ms: number): Promise<void> {
    clock.advance(ms);
    gw.tick();
    await gw.settle(() => board.link.stats);
  }

  /** Advance lane time in small steps, letting the pty carry frames between them. */
  async function advance(ms: number, stepMs = 50): Promise<void> {
    for (let t = 0; t < ms; t += stepMs) await step(Math.min(stepMs, ms - t));
    await realDelay(5);
  }

  /** Advance until `done()` holds (checked every step), at most `limitMs` of lane time. */
  async function advanceUntil(done: () => boolean, limitMs: number, stepMs = 50): Promise<number> {
    const start = clock.now();
    while (!done()) {
      if (clock.now() - start > limitMs) throw new Error(`condition not met within ${limitMs} ms of lane time; last frames:\n  ${gw.transcript.slice(-10).join("\n  ")}`);
      await step(stepMs);
    }
    await realDelay(5);
    return clock.now() - start;
  }

  const barriers = (from: number) => gw.of("BARRIER", from).map((m) => m.fields.state);

  /** The BARRIER states the gateway received since `from` are exactly `states` (waiting, in real time, for frames in flight). */
  async function expectBarriers(from: number, states: string[]): Promise<void> {
    const deadline = Date.now() + 3000;
    while (JSON.stringify(barriers(from)) !== JSON.stringify(states) && Date.now() < deadline) {
      if (barriers(from).length > states.length) break;
      await step(0);
      await realDelay(5);
    }
    expect(barriers(from)).to.deep.equal(states);
  }

  /** Let the link go quiet: nothing waiting for an acknowledgement on either side. */
  async function quiesce(): Promise<void> {
    await advanceUntil(() => board.link.pending === 0 && gw.session.pending === 0, 3000);
    await advance(300);
  }
  const last = (type: string): ReceivedMessage | undefined => gw.of(type).at(-1);

  beforeEach(async function () {
    requireToolOrSkip(this, "socat");
    pty = await openPtyPair("barrier");
    clock = new VirtualClock();
    gw = await SerialPeer.open({ path: pty.b, clock });
    board = await SimulatedBarrierExecutor.start({ serialPath: pty.a, clock, lane: "L1" });
    await realDelay(100);
    gw.markBaseline(board.link.stats); // the HELLO written before the board opened its port is lost
    await advance(1000); // HELLOs cross, the core leaves SAFE on the first heartbeat
    expect(gw.hellos[0]).to.include({ kind: "barrier-executor", lane: "L1", proto: "1", boot: "1", fw: "0.1.0" });
    await gw.waitFor("BARRIER", { state: "closed", pos: "0" });
    await quiesce(); // both HELLOs answered, the re-synchronising BARRIERs delivered
    expect(board.coreState).to.equal("CLOSED");
    expect(board.barrierState).to.equal("closed");
  });

  afterEach(async () => {
    try {
      await board?.close();
      await gw?.close();
    } finally {
      await pty?.close(); // even when a close above fails: no socat outlives the test
    }
  });

  /** OPEN for a session and wait until the boom is up. */
  async function open(cmd: string, session: string): Promise<number> {
    const from = gw.messages.length;
    gw.send("OPEN", { cmd, session });
    await advanceUntil(() => board.barrierState === "open", 6000);
    await gw.waitFor("CMD_DONE", { cmd, result: "ok" }, { from });
    return from;
  }

  /** A vehicle drives under the boom and out the other side. */
  async function pass(): Promise<void> {
    board.vehicleUnder(true);
    await advance(1200);
    board.vehicleUnder(false);
    await advance(100);
  }

  it("opens once for a repeated OPEN, reports the pass, and closes by itself once the lane has been clear for the delay", async () => {
    const from = await open("c1", "S1");
    await expectBarriers(from, ["opening", "open"]);
    expect(last("BARRIER")!.fields).to.deep.equal({ state: "open", pos: "100" });
    expect(board.boomPct).to.be.within(99, 100);
    expect(board.motor).to.deep.equal({ motorUp: false, motorDown: false, brake: true });
    expect(board.coreState).to.equal("OPEN");

    // The same command again (a gateway retry with a new sequence number): acts once, same answer.
    gw.send("OPEN", { cmd: "c1", session: "S1" });
    await advance(300);
    expect(gw.of("CMD_DONE", from).map((m) => m.fields)).to.deep.equal([{ cmd: "c1", result: "ok" }, { cmd: "c1", result: "ok" }]);
    await expectBarriers(from, ["opening", "open"]);
    expect(board.executor.stats.duplicates).to.equal(1);

    await pass();
    const passed = await gw.waitFor("PASSED", { session: "S1" }, { from });
    // The lane stays clear: after autoCloseDelayMs (3000 ms) the boom closes by itself.
    await advance(2800);
    expect(board.barrierState).to.equal("open");
    await advanceUntil(() => board.barrierState === "closed", 6000);
    const closing = await gw.waitFor("BARRIER", { state: "closing" }, { from });
    expect(closing.at - passed.at).to.be.within(3000, 3000 + 150);
    await gw.waitFor("BARRIER", { state: "closed", pos: "0" }, { from });
    await expectBarriers(from, ["opening", "open", "closing", "closed"]);
    expect(board.boomPct).to.be.within(0, 1);
    expect(gw.of("PASSED", from)).to.have.length(1);
    expect(gw.of("ALARM", from)).to.have.length(0);
    expect(board.link.stats).to.include({ rxCrc: 0, rxSyntax: 0, rxInvalid: 0, txGaveUp: 0 });
  });

  it("never closes onto a vehicle: an obstruction while closing raises ALARM OBSTRUCTION, the boom reverses and reopens", async () => {
    const from = await open("c2", "S2");
    await pass();
    await advanceUntil(() => board.barrierState === "closing", 4000);
    await advance(1000); // boom part-way down
    const before = board.boomPct;
    expect(before).to.be.within(50, 80);
    board.vehicleUnder(true); // a second vehicle noses under the boom
    await advance(100);
    const alarm = await gw.waitFor("ALARM", { code: "OBSTRUCTION" }, { from });
    expect(alarm.fields.detail).to.contain("reversing");
    expect(board.motor.motorDown).to.equal(false);
    expect(board.boomPct).to.be.closeTo(before, 1.5); // stopped within a few ms of travel
    await advanceUntil(() => board.barrierState === "open", 4000);
    expect(board.boomPct).to.be.within(99, 100);
    await expectBarriers(from, ["opening", "open", "closing", "opening", "open"]);
    // It does not close while the vehicle is under the boom, however long it stays.
    await advance(8000);
    expect(board.barrierState).to.equal("open");
    board.vehicleUnder(false);
    await advance(100);
    await gw.waitFor("PASSED", {}, { from: gw.messages.length - 3 });
    await advanceUntil(() => board.barrierState === "closed", 8000);
    await expectBarriers(from, ["opening", "open", "closing", "opening", "open", "closing", "closed"]);
    expect(gw.of("PASSED", from).map((m) => m.fields)).to.deep.equal([{ session: "S2" }, {}]);
  });

  it("faults on a motor stall (OVER_CURRENT), refuses OPEN, refuses FAULT_RESET while jammed and accepts it once cleared", async () => {
    const from = gw.messages.length;
    gw.send("OPEN", { cmd: "c3", session: "S3" });
    await advance(1000);
    expect(board.barrierState).to.equal("opening");
    board.jam();
    await advanceUntil(() => board.barrierState === "fault", 500, 10);
    await gw.waitFor("BARRIER", { state: "fault", fault: "OVER_CURRENT" }, { from });
    await gw.waitFor("ALARM", { code: "OVER_CURRENT" }, { from });
    await gw.waitFor("CMD_DONE", { cmd: "c3", result: "fault", why: "OVER_CURRENT" }, { from });
    expect(board.motor).to.deep.equal({ motorUp: false, motorDown: false, brake: true });
    expect(board.coreState).to.equal("FAULT");
    expect(board.faultCode).to.equal(1);

    gw.send("OPEN", { cmd: "c4", session: "S4" });
    await gw.waitFor("CMD_DONE", { cmd: "c4", result: "refused", why: "OVER_CURRENT" }, { from });
    gw.send("FAULT_RESET", { cmd: "r1", operator: "op1" });
    await gw.waitFor("CMD_DONE", { cmd: "r1", result: "refused", why: "over_current" }, { from });
    await advance(200);
    expect(board.coreState).to.equal("FAULT");

    board.clearJam();
    await advance(200);
    gw.send("FAULT_RESET", { cmd: "r2", operator: "op1" });
    await gw.waitFor("CMD_DONE", { cmd: "r2", result: "ok" }, { from });
    await gw.waitFor("BARRIER", { state: "stopped" }, { from });
    const pos = Number(last("BARRIER")!.fields.pos);
    expect(pos).to.be.within(20, 40); // where the jam caught it, about 1 s into a 3.5 s travel
    expect(board.coreState).to.equal("STOPPED");
    await expectBarriers(from, ["opening", "fault", "stopped"]);
    // Back in service: a new OPEN works.
    gw.send("OPEN", { cmd: "c5", session: "S5" });
    await advanceUntil(() => board.barrierState === "open", 5000);
    await gw.waitFor("CMD_DONE", { cmd: "c5", result: "ok" }, { from });
  });

  it("goes to the safe state within the watchdog window when the MCU heartbeat stops, and recovers", async () => {
    const from = gw.messages.length;
    gw.send("OPEN", { cmd: "c6", session: "S6" });
    await advance(1500);
    expect(board.motor.motorUp).to.equal(true);
    board.freezeHeartbeat(true);
    const lastBeat = board.core.lastHeartbeatMs;
    await advanceUntil(() => !board.motor.motorUp, 1000, 5);
    const watchdogMs = 500;
    expect(clock.now() - lastBeat).to.be.at.most(watchdogMs + 5);
    expect(board.motor).to.deep.equal({ motorUp: false, motorDown: false, brake: true });
    expect(board.coreState).to.equal("SAFE");
    await advance(100);
    await gw.waitFor("BARRIER", { state: "safe" }, { from });
    await gw.waitFor("ALARM", { code: "HEARTBEAT" }, { from });
    await gw.waitFor("CMD_DONE", { cmd: "c6", result: "fault", why: "heartbeat" }, { from });
    const held = board.boomPct;
    await advance(2000);
    expect(board.boomPct).to.equal(held); // brake on, nothing moves
    board.freezeHeartbeat(false);
    await advance(300);
    await gw.waitFor("BARRIER", { state: "stopped" }, { from });
    await expectBarriers(from, ["opening", "safe", "stopped"]);
    gw.send("CLOSE", { cmd: "c7" });
    await advanceUntil(() => board.barrierState === "closed", 5000);
    await gw.waitFor("CMD_DONE", { cmd: "c7", result: "ok" }, { from });
  });

  it("opens on the emergency input and stays open (free exit); CLOSE is refused meanwhile", async () => {
    const from = gw.messages.length;
    board.emergency(true);
    await advance(200);
    await gw.waitFor("ALARM", { code: "EMERGENCY" }, { from });
    await advanceUntil(() => board.barrierState === "open", 5000);
    gw.send("CLOSE", { cmd: "c8" });
    await gw.waitFor("CMD_DONE", { cmd: "c8", result: "refused", why: "emergency" }, { from });
    await advance(10000);
    expect(board.barrierState).to.equal("open");
    expect(board.boomPct).to.be.within(99, 100);
    await expectBarriers(from, ["opening", "open"]);
    board.emergency(false);
    await advance(200);
    await gw.waitFor("ALARM", { code: "EMERGENCY_END" }, { from });
    await advance(5000);
    expect(board.barrierState).to.equal("open"); // no vehicle passed: stays open until told
    gw.send("CLOSE", { cmd: "c9" });
    await advanceUntil(() => board.barrierState === "closed", 5000);
    await gw.waitFor("CMD_DONE", { cmd: "c9", result: "ok" }, { from });
  });
});
