import { expect } from "chai";
import { decodeFrame, encodeFrame, type Fields } from "../../firmware/common/link/frame";
import { MemoryStream } from "../../host/link/streams";
import { SimulatedExitController } from "../../sim/boards/exit-controller-sim";
import { VirtualClock } from "../../sim/boards/virtual-clock";

/** The exit role's new field inputs, on the simulated board: what goes up the gateway UART. */
describe("exit controller: code scanner and lost-ticket button", () => {
  let board: SimulatedExitController;
  let clock: VirtualClock;
  let frames: { type: string; fields: Fields }[];

  beforeEach(async () => {
    clock = new VirtualClock();
    const wire = new MemoryStream();
    frames = [];
    let text = "";
    wire.onWrite = (bytes) => {
      text += String.fromCharCode(...bytes);
      for (let nl = text.indexOf("\n"); nl >= 0; nl = text.indexOf("\n")) {
        const decoded = decodeFrame(text.slice(0, nl));
        text = text.slice(nl + 1);
        if (!decoded.ok) continue;
        frames.push({ type: decoded.frame.type, fields: decoded.frame.fields });
        // A gateway stand-in that acknowledges every reliable frame, so the next one goes.
        if (decoded.frame.seq !== 0) wire.inject(new TextEncoder().encode(encodeFrame({ seq: 0, type: "ACK", fields: { ack: String(decoded.frame.seq) } }) + "\n"));
      }
    };
    board = await SimulatedExitController.start({ transport: wire, clock, lane: "L1" });
    clock.advance(400);
  });

  afterEach(async () => { await board.close(); });

  it("says role=exit in its HELLO, sends SCAN for a scanned ticket and BUTTON lost for the button", () => {
    expect(frames.find((f) => f.type === "HELLO")?.fields).to.include({ role: "exit" });
    board.scan("SPK1.TABC"); // no vehicle: not at the pay station
    expect(frames.some((f) => f.type === "SCAN")).to.equal(false);
    board.vehicleArrives();
    clock.advance(400);
    board.scan("SPK1.TABCDEFGHIJKLMNOPQRSTUVWXYZ");
    board.pressLost();
    const up = frames.filter((f) => f.type === "SCAN" || f.type === "BUTTON").map((f) => [f.type, f.fields]);
    expect(up).to.deep.equal([["SCAN", { code: "SPK1.TABCDEFGHIJKLMNOPQRSTUVWXYZ" }], ["BUTTON", { name: "lost" }]]);
    expect(board.state).to.equal("identifying");
    expect(board.controller.stats.ignoredInputs).to.equal(1);
  });
});
