import { expect } from "chai";
import type { BoardDevice, DigitalOptions, SerialIO, SerialOptions } from "../../firmware/common/io/board-host";
import { encodeFrame } from "../../firmware/common/link/frame";
import { asciiBytes } from "../../firmware/common/link/line-buffer";
import { writeSerialLine } from "../../firmware/common/link/serial-write";
import { startExitController, type ExitBoard } from "../../firmware/exit-controller/board";
import { loadManifestConfig } from "../../sim/boards/manifest-config";
import { SimulatedBarrierExecutor } from "../../sim/boards/barrier-executor-sim";
import { MemoryStream } from "../../host/link/streams";
import { VirtualClock } from "../../sim/boards/virtual-clock";

/** The board's gateway UART as a real driver behaves: it throws on a full output buffer
 *  ("would overflow", as the XS Linux simulator's serial does with the pty's far end closed),
 *  or reports its room in `writable`. */
class FakeGatewaySerial implements SerialIO {
  mode: "throws" | "full" | "drains" = "drains";
  writes = 0;
  readonly lines: string[] = [];
  private inbox: Uint8Array | undefined;
  constructor(private readonly options: SerialOptions) {}
  get writable(): number { return this.mode === "full" ? 0 : 4096; }
  read(): ArrayBuffer | undefined {
    const bytes = this.inbox;
    this.inbox = undefined;
    return bytes?.slice().buffer;
  }
  write(data: ArrayBuffer | ArrayBufferView | number): void {
    this.writes++;
    if (this.mode !== "drains") throw new Error("would overflow (in write)");
    const bytes = data instanceof Uint8Array ? data : new Uint8Array(data as ArrayBuffer);
    this.lines.push(String.fromCharCode(...bytes).trim());
  }
  /** A line from the gateway. */
  deliver(line: string): void {
    this.inbox = asciiBytes(line + "\n");
    this.options.onReadable?.call(this, this.inbox.length);
  }
  close(): void {}
}

type LineMode = FakeGatewaySerial["mode"];

function bootExitController(initial: LineMode): { board: ExitBoard; clock: VirtualClock; gateway: FakeGatewaySerial } {
  const config = loadManifestConfig("exit-controller", "lin");
  const gatewayPort = (config.gatewaySerial as { port: string }).port;
  let gateway!: FakeGatewaySerial;
  class Digital {
    static readonly Input = 0; static readonly InputPullUp = 1; static readonly Output = 8;
    static readonly Rising = 1; static readonly Falling = 2;
    private level: 0 | 1;
    constructor(options: DigitalOptions) { this.level = options.mode === 1 ? 1 : 0; }
    read(): 0 | 1 { return this.level; }
    write(value: 0 | 1): void { this.level = value; }
    close(): void {}
  }
  class Serial {
    constructor(options: SerialOptions) {
      if (options.port !== gatewayPort) return { read: () => undefined, write: () => {}, close: () => {} } as never;
      gateway = new FakeGatewaySerial(options);
      gateway.mode = initial;
      return gateway as never;
    }
  }
  const device = { io: { Digital, Serial } } as unknown as BoardDevice;
  const clock = new VirtualClock();
  const board = startExitController({ device, config, clock, bootCount: 3 });
  return { board, clock, gateway };
}

const gatewayHello = (seq: number) => encodeFrame({ seq, type: "HELLO", fields: { kind: "gateway", fw: "t", proto: "1", boot: "9", hold: "1" } });
const ack = (seq: number) => encodeFrame({ seq: 0, type: "ACK", fields: { ack: String(seq) } });

describe("board link write path (serial back-pressure)", () => {
  it("an exit controller whose gateway serial throws, then has no room, keeps running, counts the drops and recovers when the line drains", () => {
    // The gateway's end is closed from the start: the very first HELLO meets a full output.
    const { board, clock, gateway } = bootExitController("throws");
    // 125 s of a closed gateway end killed the XS board (`XS abort: unhandled exception`).
    clock.advance(200_000);
    const thrown = gateway.writes;
    expect(thrown).to.be.greaterThan(0);
    expect(board.link.stats.txDropped).to.equal(thrown);
    // Backoff grows while the link is down: HELLO every 2 s at most, plus the 1 s heartbeat,
    // not a retransmission every 150 ms (over 1,300 writes in 200 s).
    expect(thrown).to.be.below(320);
    gateway.mode = "full";
    clock.advance(10_000);
    expect(gateway.writes, "no write is tried without room").to.equal(thrown);
    expect(board.link.stats.txDropped).to.be.greaterThan(thrown);
    expect(board.link.stats.txFrames).to.equal(0);
    gateway.mode = "drains";
    clock.advance(2_000);
    expect(gateway.lines.filter((l) => l.includes(" HELLO ")), "its HELLO goes again once the line drains").to.have.length(1);
    // The gateway answers: the board comes up and announces its state.
    gateway.deliver(ack(1));
    gateway.deliver(gatewayHello(1));
    clock.advance(10);
    for (let seq = 2; seq <= 4; seq++) { gateway.deliver(ack(seq)); clock.advance(10); }
    expect(board.link.linkUp).to.equal(true);
    expect(gateway.lines.some((l) => l.includes(" PRESENCE "))).to.equal(true);
    expect(gateway.lines.some((l) => l.includes(" STATE "))).to.equal(true);
    board.close();
  });

  it("an exit controller re-announces PRESENCE and STATE to a gateway restarted with the same boot count and sequence", () => {
    const { board, clock, gateway } = bootExitController("drains");
    clock.advance(400); // the loop settles (a board says nothing of it before)
    gateway.deliver(ack(1));
    gateway.deliver(gatewayHello(1)); // the gateway's last reliable frame before it restarts
    for (let seq = 2; seq <= 5; seq++) { gateway.deliver(ack(seq)); clock.advance(10); }
    const announced = (): number => gateway.lines.filter((l) => l.includes(" PRESENCE ") || l.includes(" STATE ")).length;
    const before = announced();
    expect(before, "the settled loop, then PRESENCE and STATE for the gateway's HELLO").to.equal(3);
    for (let s = 0; s < 5; s++) { clock.advance(1_000); gateway.deliver(encodeFrame({ seq: 0, type: "HB", fields: {} })); }
    gateway.deliver(gatewayHello(1)); // restarted: same boot, numbering from 1 again
    for (let seq = 6; seq <= 8; seq++) { clock.advance(10); gateway.deliver(ack(seq)); }
    clock.advance(10);
    expect(announced() - before).to.equal(2);
    board.close();
  });

  it("a barrier executor whose gateway serial throws keeps running, counts the drops and recovers when the line drains", async () => {
    const clock = new VirtualClock();
    const transport = new MemoryStream();
    let full = true;
    const lines: string[] = [];
    transport.onWrite = (bytes) => {
      if (full) throw new Error("would overflow (in write)");
      lines.push(String.fromCharCode(...bytes).trim());
    };
    const sim = await SimulatedBarrierExecutor.start({ transport, clock });
    clock.advance(200_000);
    expect(sim.link.stats.txDropped).to.be.greaterThan(0);
    expect(sim.link.stats.txFrames).to.equal(0);
    full = false;
    clock.advance(2_000);
    expect(lines.filter((l) => l.includes(" HELLO ")), "its HELLO goes again once the line drains").to.have.length(1);
    sim.board.close();
  });

  it("writeSerialLine writes a line whole or not at all, and never throws", () => {
    const written: Uint8Array[] = [];
    const ok = { writable: 100, write: (d: ArrayBuffer | ArrayBufferView | number) => { written.push(d as Uint8Array); } };
    expect(writeSerialLine(ok, "0 HB*1234\n")).to.equal(true);
    expect(writeSerialLine({ ...ok, writable: 5 }, "0 HB*1234\n")).to.equal(false);
    expect(writeSerialLine({ write: () => { throw new Error("would overflow (in write)"); } }, "0 HB*1234\n")).to.equal(false);
    expect(written).to.have.length(1);
  });
});
