/**
 * The simulated exit controller — the real firmware on the Node `device` provider — on one end
 * of a socat pty pair, and a gateway stand-in on the other end speaking through `serialport`
 * and `@serialport/parser-readline`. Lane time is virtual: minutes of it run in milliseconds.
 */
import { expect } from "chai";
import { encodeFrame } from "../../firmware/common/link/frame";
import { SerialPeer } from "../../hil/harness/serial-peer";
import { SimulatedExitController } from "../../sim/boards/exit-controller-sim";
import { VirtualClock } from "../../sim/boards/virtual-clock";
import { openPtyPair, type PtyPair } from "../../host/link/pty";
import { requireToolOrSkip } from "../../host/tools";

const realDelay = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("exit controller on a simulated board over a socat pty", function () {
  this.timeout(30000);
  let pty: PtyPair;
  let clock: VirtualClock;
  let board: SimulatedExitController;
  let gw: SerialPeer;

  /** Advance lane time in small steps; after each, wait until every frame in flight on the pty
   *  has arrived, so virtual time never outruns the wire however loaded the machine is. */
  async function advance(ms: number, step = 100): Promise<void> {
    for (let t = 0; t < ms; t += step) {
      clock.advance(Math.min(step, ms - t));
      gw.tick();
      await gw.settle(() => board.link.stats);
    }
  }

  async function states(from: number): Promise<string[]> {
    await gw.settle(() => board.link.stats);
    return gw.of("STATE", from).map((m) => m.fields.state);
  }

  beforeEach(async function () {
    requireToolOrSkip(this, "socat");
    pty = await openPtyPair("exit");
    clock = new VirtualClock();
    gw = await SerialPeer.open({ path: pty.b, clock });
    board = await SimulatedExitController.start({ serialPath: pty.a, clock, lane: "L1" });
    await realDelay(100);
    gw.markBaseline(board.link.stats); // the HELLO written before the board opened its port is lost
    await advance(1000); // HELLOs cross (the first may be lost before the board opens its port)
    const resync = await gw.waitFor("STATE", { why: "resync" });
    expect(resync.fields.state).to.equal("idle");
    expect(gw.hellos[0]).to.include({ kind: "exit-controller", lane: "L1", proto: "1", boot: "1", fw: "0.1.0" });
  });

  afterEach(async () => {
    try {
      await board?.close();
      await gw?.close();
    } finally {
      await pty?.close(); // even when a close above fails: no socat outlives the test
    }
  });

  async function arriveAndRequestPayment(session: string, amount = 350): Promise<number> {
    const from = gw.messages.length;
    board.vehicleArrives();
    await advance(400); // past the 300 ms loop debounce
    await gw.waitFor("PRESENCE", { present: "1" }, { from });
    await gw.waitFor("STATE", { state: "present" }, { from });
    gw.send("IDENTIFY", { hint: "Lecture plaque" });
    await gw.waitFor("STATE", { state: "identifying" }, { from });
    gw.send("PAY_REQ", { session, amount: String(amount), currency: "EUR", url: `http://127.0.0.1:8080/pay/${session}?t=abc`, label: "2h05" });
    await gw.waitFor("STATE", { state: "awaiting_payment", session }, { from });
    return from;
  }

  it("runs a paid exit, asserting every frame and state", async () => {
    const from = await arriveAndRequestPayment("S1");
    expect(board.display.lines[1]).to.equal("3,50 EUR 2h05");
    expect(board.display.qr).to.equal("http://127.0.0.1:8080/pay/S1?t=abc");
    gw.send("PAY_OK", { session: "S1", ref: "pi_123" });
    await gw.waitFor("AUTHORISED", { session: "S1" }, { from });
    gw.send("OPENING", { session: "S1" });
    await gw.waitFor("STATE", { state: "opening" }, { from });
    gw.send("OPENED", { session: "S1" });
    await gw.waitFor("STATE", { state: "passing" }, { from });
    expect(board.display.lines[0]).to.equal("Bonne route !");
    board.vehicleLeaves();
    await advance(400);
    await gw.waitFor("EXITED", { session: "S1" }, { from });
    await advance(3500); // "Merci" stays doneDisplayMs, then the lane rests
    await gw.waitFor("STATE", { state: "idle", why: "next" }, { from });
    expect(await states(from)).to.deep.equal(["present", "identifying", "awaiting_payment", "authorised", "opening", "passing", "done", "idle"]);
    expect(gw.of("PRESENCE", from).map((m) => m.fields.present)).to.deep.equal(["1", "0"]);
    expect(board.link.stats).to.include({ rxCrc: 0, rxSyntax: 0, txGaveUp: 0 });
  });

  it("keeps waiting after a declined payment and authorises the paid retry", async () => {
    const from = await arriveAndRequestPayment("S2");
    gw.send("PAY_FAIL", { session: "S2", reason: "Carte refusee" });
    await gw.waitFor("STATE", { state: "awaiting_payment", why: "pay_fail" }, { from });
    expect(board.display.lines[2]).to.equal("Carte refusee");
    expect(board.display.qr).to.contain("/pay/S2");
    expect(gw.of("AUTHORISED", from)).to.have.length(0);
    await advance(30000); // the driver takes their time finding another card
    expect(board.state).to.equal("awaiting_payment");
    gw.send("PAY_OK", { session: "S2", ref: "pi_456" });
    await gw.waitFor("AUTHORISED", { session: "S2" }, { from });
    expect(board.state).to.equal("authorised");
  });

  it("acts once on a duplicated payment OK, and ignores a foreign one", async () => {
    const from = await arriveAndRequestPayment("S3");
    gw.send("PAY_OK", { session: "S-OTHER", ref: "pi_x" });
    await advance(200);
    expect(board.state).to.equal("awaiting_payment");
    // The same frame twice on the wire (a retransmission): de-duplicated by sequence number.
    gw.send("PAY_OK", { session: "S3", ref: "pi_789" });
    const line = gw.lastLineOf.get("PAY_OK")!;
    const duplicatesBefore = board.link.stats.rxDuplicate;
    gw.writeRaw(line);
    gw.writeRaw(line);
    await gw.waitFor("AUTHORISED", { session: "S3" }, { from });
    await advance(100);
    expect(board.link.stats.rxDuplicate - duplicatesBefore).to.be.at.least(2);
    // A frame from far outside the sequence window is dropped and counted, never acted on.
    gw.writeRaw(encodeFrame({ seq: 40000, type: "PAY_OK", fields: { session: "S3", ref: "pi_789" } }));
    // And a second PAY_OK with a new sequence number (MQTT QoS 1 duplicate upstream): no effect.
    gw.send("PAY_OK", { session: "S3", ref: "pi_789" });
    await advance(300);
    expect(gw.of("AUTHORISED", from)).to.have.length(1);
    expect(gw.of("STATE", from).filter((m) => m.fields.state === "authorised")).to.have.length(1);
    expect(board.state).to.equal("authorised");
    expect(board.controller.stats.ignoredPayOk).to.equal(2);
    expect(board.link.stats.rxOutOfWindow).to.equal(1);
  });

  it("reports a vehicle that leaves before paying and returns the lane to idle", async () => {
    const from = await arriveAndRequestPayment("S4");
    board.vehicleLeaves();
    await advance(400);
    await gw.waitFor("LEFT", { session: "S4" }, { from });
    await gw.waitFor("STATE", { state: "idle", why: "left" }, { from });
    gw.send("PAY_OK", { session: "S4", ref: "late" });
    await advance(200);
    expect(board.state).to.equal("idle");
    expect(gw.of("AUTHORISED", from)).to.have.length(0);
  });

  it("goes restricted when the gateway link is lost, and recovers", async () => {
    const from = gw.messages.length;
    board.vehicleArrives();
    await advance(400);
    await gw.waitFor("STATE", { state: "present" }, { from });
    gw.muted = true; // cable cut: nothing either way
    await advance(4000);
    expect(board.state).to.equal("restricted");
    expect(board.display.lines.slice(0, 2)).to.deep.equal(["Appelez l'operateur", "Call the operator"]);
    board.pressHelp(); // queued by the link until the gateway is back
    await advance(2000);
    gw.muted = false;
    await advance(3000);
    await gw.waitFor("STATE", { state: "present", why: "link_up" }, { from });
    await gw.waitFor("BUTTON", { name: "help" }, { from });
    const after = await states(from);
    expect(after.indexOf("restricted")).to.be.lessThan(after.lastIndexOf("present"));
    expect(board.state).to.equal("present");
  });

  it("reads badges and PINs from the field and reports them normalised", async () => {
    const from = gw.messages.length;
    board.vehicleArrives();
    await advance(400);
    board.presentBadge("04a21f9c3b");
    await gw.waitFor("BADGE", { uid: "04A21F9C3B" }, { from });
    await board.typeKeys("12", (ms) => advance(ms, 20));
    expect(board.display.lines[3]).to.equal("PIN **");
    await board.typeKeys("34#", (ms) => advance(ms, 20));
    await gw.waitFor("PIN", { pin: "1234" }, { from });
    expect(gw.transcript.join("\n")).to.not.contain("1234");
    expect(gw.transcript.some((l) => l.includes("PIN pin=****"))).to.equal(true);
  });

  it("announces itself again after a power cycle (boot count + 1)", async () => {
    board.powerCycle();
    await realDelay(100);
    gw.markBaseline(board.link.stats); // a new firmware instance: its counters start again
    await advance(300);
    const hello = gw.hellos.at(-1);
    expect(hello).to.include({ kind: "exit-controller", boot: "2" });
  });
});
