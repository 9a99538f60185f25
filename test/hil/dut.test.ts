import { expect } from "chai";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { encodeFrame } from "../../firmware/common/link/frame";
import { Dut } from "../../hil/harness/dut";
import { timelineSvg, Timeline } from "../../hil/harness/timeline";
import { memoryCable } from "../../host/link/streams";

const bytes = (s: string) => new Uint8Array([...s].map((c) => c.charCodeAt(0)));
const tick = () => new Promise((r) => setImmediate(r));

describe("hil DUT and timeline", () => {
  let dir: string;
  beforeEach(() => { dir = mkdtempSync(join(tmpdir(), "syspark-dut-")); });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("logs both directions of a tapped link, decoded, secrets masked, noise marked; expect() finds a line", async () => {
    const t0 = Date.now();
    const dut = new Dut("L1-exit", join(dir, "L1-exit.log"), () => t0);
    const [boardEnd, gatewayEnd] = memoryCable();
    const board = dut.tap(boardEnd);
    const atBoard: string[] = [];
    board.setReceiver((b) => atBoard.push(String.fromCharCode(...b)));
    const waiting = dut.expect(/^rx \d+ PAY_REQ session="S1"/, 2000);
    board.write(bytes(encodeFrame({ seq: 7, type: "PIN", fields: { pin: "2468" } }) + "\n"));
    gatewayEnd.write(bytes(encodeFrame({ seq: 3, type: "PAY_REQ", fields: { session: "S1", amount: "300", currency: "EUR" } }) + "\n"));
    board.injectToBoard(bytes("garbage*0000\n"));
    await tick();
    const line = await waiting;
    expect(line.type).to.equal("PAY_REQ");
    expect(atBoard.join(""), "the board still receives what the gateway sent").to.include("PAY_REQ");
    expect(dut.frames("PIN", "tx")).to.have.length(1);
    expect(dut.garbage).to.have.length(1);
    const log = readFileSync(dut.logPath, "utf8");
    expect(log).to.match(/tx 7 PIN pin=\*\*\*\*/).and.not.include("2468");
    expect(log).to.match(/rx !! "garbage\*0000"/);
  });

  it("expect() times out with the last lines in the message", async () => {
    const dut = new Dut("L1-barrier", join(dir, "b.log"), () => Date.now());
    const [boardEnd] = memoryCable();
    dut.tap(boardEnd).write(bytes(encodeFrame({ seq: 1, type: "BARRIER", fields: { state: "closed", pos: "0" } }) + "\n"));
    let err: Error | undefined;
    try { await dut.expect(/OPEN/, 50); } catch (e) { err = e as Error; }
    expect(err?.message).to.match(/L1-barrier: no serial line matching \/OPEN\/ within 50 ms; last lines:\n {2}tx 1 BARRIER state="closed"/);
  });

  it("draws lane state, barrier, motor and messages on one time axis", () => {
    const tl = new Timeline();
    const base = { phase: "idle", barrierPct: 0, motorUp: false, motorDown: false, presence: false, vehicleUnder: false, emergency: false, fault: false };
    tl.sample("L1", base);
    tl.sample("L1", base); // unchanged: not kept
    expect(tl.lanes.L1).to.have.length(1);
    tl.lanes.L1.push({ ...base, t: 500, phase: "opening", barrierPct: 50, motorUp: true }, { ...base, t: 1000, phase: "open", barrierPct: 100 });
    tl.events.push({ t: 400, kind: "mqtt", text: "parking/payment/success <x>", lane: "L1" });
    const svg = timelineSvg({ ...tl.data(), durationMs: 2000 });
    expect(svg).to.match(/^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    expect(svg).to.include('data-row="phase"').and.include(">opening<").and.include('data-row="barrier"').and.include('data-row="motor up"');
    expect(svg, "text escaped").to.include("parking/payment/success &lt;x&gt;");
  });
});
