import { expect } from "chai";
import { EscPosBuilder, parsePaperStatus, ReceiptPrinter, type PrintOutcome } from "../../firmware/common/io/escpos";
import { encodeTicket } from "../../firmware/exit-controller/core/ticket-receipt";
import { EscPosDecoder } from "../../sim/boards/escpos-decoder";

const hex = (bytes: Uint8Array) => [...bytes].map((b) => b.toString(16).padStart(2, "0")).join(" ");

describe("ESC/POS encoder", () => {
  it("encodes a QR code exactly as the ESC/POS GS ( k functions 165, 167, 169, 180, 181 say", () => {
    const bytes = new EscPosBuilder().qr("SPK1.AB", 6, "M").bytes();
    expect(hex(bytes)).to.equal([
      "1d 28 6b 04 00 31 41 32 00", // fn 165: model 2
      "1d 28 6b 03 00 31 43 06", // fn 167: module size 6 dots
      "1d 28 6b 03 00 31 45 31", // fn 169: error correction M (49)
      "1d 28 6b 0a 00 31 50 30 53 50 4b 31 2e 41 42", // fn 180: store 7 bytes (pL = 7 + 3)
      "1d 28 6b 03 00 31 51 30", // fn 181: print
    ].join(" "));
  });

  it("encodes init, alignment, emphasis, size, text, feed and a partial cut", () => {
    const bytes = new EscPosBuilder().init().align("center").bold(true).size(2, 2).line("Hi\u00e9").feed(3).partialCut().bytes();
    expect(hex(bytes)).to.equal("1b 40 1b 61 01 1b 45 01 1d 21 11 48 69 3f 0a 1b 64 03 1d 56 42 00");
  });

  it("refuses a receipt that does not fit its buffer instead of printing half of it", () => {
    const b = new EscPosBuilder(16).init().line("a line far too long for sixteen bytes");
    expect(b.overflow).to.equal(true);
    expect(b.bytes().length).to.be.at.most(16);
    expect(new EscPosBuilder().qr("x".repeat(129)).overflow).to.equal(true);
  });

  it("prints a ticket the simulated printer reads back: QR SPK1.<id>, the code, the lane, the UTC time", () => {
    const job = encodeTicket({ id: "TABCDEFGHIJKLMNOPQRSTUVWXYZ", code: "12345678", lane: "E1", now: Date.UTC(2026, 10, 21, 8, 5) })!;
    const decoder = new EscPosDecoder();
    decoder.write(job);
    expect(decoder.errors).to.deep.equal([]);
    expect(decoder.printed).to.have.length(1);
    const t = decoder.printed[0];
    expect(t).to.include({ ticketId: "TABCDEFGHIJKLMNOPQRSTUVWXYZ", code: "12345678", qr: "SPK1.TABCDEFGHIJKLMNOPQRSTUVWXYZ" });
    expect(t.lines).to.include("Voie / Lane E1");
    expect(t.lines).to.include("2026-11-21 08:05 UTC");
    // A clock never set prints no time rather than 1970.
    expect(encodeTicket({ id: "T1", lane: "E1", now: 5000 })).to.not.equal(undefined);
  });

  it("parses the DLE EOT 4 paper status byte", () => {
    expect(parsePaperStatus(0x12)).to.equal("ok");
    expect(parsePaperStatus(0x1e)).to.equal("ok"); // near end: still prints
    expect(parsePaperStatus(0x72)).to.equal("paper_out");
    expect(parsePaperStatus(0x00)).to.equal("invalid");
  });
});

/** A UART whose output buffer takes `room` bytes per pump and throws beyond, as XS does. */
class FakeUart {
  written: number[] = [];
  room = 64;
  writes = 0;
  get writable(): number { return this.room; }
  write(data: ArrayBuffer | ArrayBufferView | number): void {
    const bytes = data instanceof Uint8Array ? data : new Uint8Array(data as ArrayBuffer);
    if (bytes.length > this.room) throw new Error("would overflow (in write)");
    this.room -= bytes.length;
    this.writes++;
    this.written.push(...bytes);
  }
}

describe("receipt printer driver", () => {
  const job = new Uint8Array(300).map((_, i) => 0x20 + (i % 90));

  it("writes a job in chunks that fit the UART's output buffer, resuming as it drains", () => {
    const uart = new FakeUart();
    const outcomes: PrintOutcome[] = [];
    const printer = new ReceiptPrinter(uart, { statusLine: false, statusTimeoutMs: 500, jobTimeoutMs: 5000, chunk: 48 });
    expect(printer.print(job, 0, (o) => outcomes.push(o))).to.equal(true);
    expect(uart.written.length).to.be.at.most(64);
    expect(printer.print(job, 0, () => {})).to.equal(false); // one job at a time
    let now = 0;
    while (printer.busy && now < 5000) {
      now = printer.nextDeadline();
      uart.room = 64; // the UART sent its buffer meanwhile
      printer.tick(now);
    }
    expect(outcomes).to.deep.equal([{ ok: true }]);
    expect(uart.written).to.deep.equal([...job]);
  });

  it("never lets the UART's overflow exception out, and reports offline when it never drains", () => {
    const uart = new FakeUart();
    uart.room = 0;
    // A UART that does not say its room: the write itself throws.
    const silent = { write: (d: unknown) => uart.write(d as Uint8Array) };
    const outcomes: PrintOutcome[] = [];
    const printer = new ReceiptPrinter(silent, { statusLine: false, statusTimeoutMs: 500, jobTimeoutMs: 1000 });
    expect(() => printer.print(job, 0, (o) => outcomes.push(o))).to.not.throw();
    let now = 0;
    while (printer.busy) { now = printer.nextDeadline(); printer.tick(now); }
    expect(outcomes).to.deep.equal([{ ok: false, why: "offline" }]);
    expect(now).to.equal(1000);
  });

  it("asks the paper sensor first where the status line is wired: paper out, no answer, ok", () => {
    for (const [answer, expected] of [[0x72, { ok: false, why: "paper_out" }], [undefined, { ok: false, why: "offline" }], [0x12, { ok: true }]] as const) {
      const uart = new FakeUart();
      uart.room = 1000;
      const outcomes: PrintOutcome[] = [];
      const printer = new ReceiptPrinter(uart, { statusLine: true, statusTimeoutMs: 500, jobTimeoutMs: 5000 });
      printer.print(job, 0, (o) => outcomes.push(o));
      expect(uart.written).to.deep.equal([0x10, 0x04, 0x04]);
      if (answer !== undefined) printer.receive(new Uint8Array([0xff, answer]), 10); // noise first
      else printer.tick(500);
      expect(outcomes).to.deep.equal([expected]);
      expect(uart.written.length).to.equal(expected.ok ? 3 + job.length : 3);
    }
  });
});
