/**
 * The simulated entry terminal — the lane controller's real firmware in its entry role — on one
 * end of a socat pty pair, a gateway stand-in on the other, as the exit controller's pty test.
 * The ticket is read back from the ESC/POS bytes the firmware wrote to the printer's UART.
 */
import { expect } from "chai";
import { SerialPeer } from "../../hil/harness/serial-peer";
import { SimulatedEntryTerminal } from "../../sim/boards/entry-terminal-sim";
import { VirtualClock } from "../../sim/boards/virtual-clock";
import { openPtyPair, type PtyPair } from "../../host/link/pty";
import { requireToolOrSkip } from "../../host/tools";

const realDelay = (ms: number) => new Promise((r) => setTimeout(r, ms));
const TICKET = "TABCDEFGHIJKLMNOPQRSTUVWXYZ";

describe("entry terminal on a simulated board over a socat pty", function () {
  this.timeout(30000);
  let pty: PtyPair;
  let clock: VirtualClock;
  let board: SimulatedEntryTerminal;
  let gw: SerialPeer;

  async function advance(ms: number, step = 100): Promise<void> {
    for (let t = 0; t < ms; t += step) {
      clock.advance(Math.min(step, ms - t));
      gw.tick();
      await gw.settle(() => board.link.stats);
    }
  }

  beforeEach(async function () {
    requireToolOrSkip(this, "socat");
    pty = await openPtyPair("entry");
    clock = new VirtualClock();
    gw = await SerialPeer.open({ path: pty.b, clock });
    board = await SimulatedEntryTerminal.start({ serialPath: pty.a, clock, lane: "E1" });
    await realDelay(100);
    gw.markBaseline(board.link.stats);
    await advance(1000);
    const resync = await gw.waitFor("STATE", { why: "resync" });
    expect(resync.fields.state).to.equal("idle");
    expect(gw.hellos[0]).to.include({ kind: "exit-controller", role: "entry", lane: "E1", boot: "1" });
  });

  afterEach(async () => {
    try {
      await board?.close();
      await gw?.close();
    } finally {
      await pty?.close();
    }
  });

  it("issues a ticket: BUTTON ticket, ADMIT, printed QR SPK1.<id> and code, PRINTED, AUTHORISED, open, ENTERED", async () => {
    gw.send("SITE", { state: "open", free: "17" });
    await advance(200);
    expect(board.display.lines[1]).to.equal("Places libres: 17");
    const from = gw.messages.length;
    board.vehicleArrives();
    await advance(400);
    await gw.waitFor("STATE", { state: "present" }, { from });
    board.pressTicket();
    await gw.waitFor("BUTTON", { name: "ticket" }, { from });
    await gw.waitFor("STATE", { state: "identifying", why: "ticket" }, { from });
    gw.send("ADMIT", { session: "S1", ticket: TICKET, code: "12345678" });
    await advance(300);
    await gw.waitFor("PRINTED", { ticket: TICKET, ok: "1" }, { from });
    await gw.waitFor("AUTHORISED", { session: "S1" }, { from });
    expect(board.printed).to.have.length(1);
    expect(board.printed[0]).to.include({ ticketId: TICKET, code: "12345678", qr: "SPK1." + TICKET });
    expect(board.printer.decoder.statusRequests).to.equal(1); // the lin printer has its status line
    expect(board.display.qr).to.equal("SPK1." + TICKET);
    gw.send("OPENING", { session: "S1" });
    await gw.waitFor("STATE", { state: "opening" }, { from });
    gw.send("OPENED", { session: "S1" });
    await gw.waitFor("STATE", { state: "passing" }, { from });
    board.vehicleLeaves();
    await advance(400);
    await gw.waitFor("ENTERED", { session: "S1" }, { from });
    await advance(3500);
    await gw.waitFor("STATE", { state: "idle", why: "next" }, { from });
    const types = gw.messages.slice(from).map((m) => m.type);
    expect(types.indexOf("PRINTED")).to.be.lessThan(types.indexOf("AUTHORISED"));
    expect(board.link.stats).to.include({ rxCrc: 0, rxSyntax: 0, txGaveUp: 0 });
  });

  it("with the paper out, says PRINTED ok=0 paper_out and still authorises with the QR on the display", async () => {
    board.printer.paperOut(true);
    const from = gw.messages.length;
    board.vehicleArrives();
    await advance(400);
    board.scan("SPR1.RESA42");
    await gw.waitFor("SCAN", { code: "SPR1.RESA42" }, { from });
    gw.send("ADMIT", { session: "S2", ticket: TICKET, code: "12345678" });
    await advance(300);
    await gw.waitFor("PRINTED", { ticket: TICKET, ok: "0", why: "paper_out" }, { from });
    await gw.waitFor("AUTHORISED", { session: "S2" }, { from });
    expect(board.printed).to.have.length(0);
    expect(board.display.qr).to.equal("SPK1." + TICKET);
    expect(board.display.lines[0]).to.equal("Ticket sur l'ecran");
  });
});
