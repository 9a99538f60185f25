import { expect } from "chai";
import fc from "fast-check";
import { crc16 } from "../../firmware/common/link/crc16";
import { decodeFrame, encodeFrame, type Frame } from "../../firmware/common/link/frame";
import { MAX_FIELDS, MAX_FRAME_LENGTH, MAX_SEQ } from "../../firmware/common/link/limits";
import { LineBuffer } from "../../firmware/common/link/line-buffer";

const upper = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const lower = "abcdefghijklmnopqrstuvwxyz";
const nameChars = (first: string) => fc.tuple(fc.constantFrom(...first), fc.array(fc.constantFrom(...(first + "0123456789_")), { maxLength: 15 })).map(([a, b]) => a + b.join(""));

/** Any frame the grammar allows: Latin-1 values of any content, up to MAX_FIELDS fields. */
export const arbitraryFrame: fc.Arbitrary<Frame> = fc.record({
  seq: fc.integer({ min: 0, max: MAX_SEQ }),
  type: nameChars(upper),
  fields: fc.dictionary(nameChars(lower), fc.string({ unit: fc.integer({ min: 0, max: 255 }).map((c) => String.fromCharCode(c)), maxLength: 24 }), { maxKeys: MAX_FIELDS }),
});

describe("serial link codec", () => {
  it("computes CRC-16/CCITT-FALSE (check value 0x29B1)", () => {
    expect(crc16("123456789")).to.equal(0x29b1);
    expect(crc16("")).to.equal(0xffff);
  });

  it("every valid frame round-trips", () => {
    fc.assert(fc.property(arbitraryFrame, (frame) => {
      const line = encodeFrame(frame);
      expect(line.length + 1).to.be.at.most(MAX_FRAME_LENGTH);
      const decoded = decodeFrame(line);
      expect(decoded).to.deep.equal({ ok: true, frame });
    }), { numRuns: 5000 });
  });

  it("encodes to printable ASCII only, with the CRC trailer", () => {
    fc.assert(fc.property(arbitraryFrame, (frame) => {
      const line = encodeFrame(frame);
      expect(line).to.match(/^[\x20-\x7e]+\*[0-9A-F]{4}$/);
    }), { numRuns: 2000 });
  });

  it("never accepts a valid frame with 1 to 3 bits flipped", () => {
    fc.assert(fc.property(arbitraryFrame, fc.array(fc.nat(), { minLength: 1, maxLength: 3 }), (frame, flips) => {
      const line = encodeFrame(frame);
      const bytes = [...line].map((c) => c.charCodeAt(0));
      const positions = new Set(flips.map((f) => f % (bytes.length * 8)));
      for (const p of positions) bytes[p >> 3] ^= 1 << (p & 7);
      const damaged = String.fromCharCode(...bytes);
      fc.pre(damaged !== line);
      const decoded = decodeFrame(damaged);
      expect(decoded.ok, `accepted ${JSON.stringify(damaged)}`).to.equal(false);
    }), { numRuns: 10000 });
  });

  it("never accepts random lines", () => {
    fc.assert(fc.property(fc.string({ unit: fc.integer({ min: 0, max: 255 }).map((c) => String.fromCharCode(c)), maxLength: 120 }), (line) => {
      expect(decodeFrame(line).ok).to.equal(false);
    }), { numRuns: 10000 });
  });

  it("never accepts a truncated frame", () => {
    fc.assert(fc.property(arbitraryFrame, fc.nat(), (frame, cut) => {
      const line = encodeFrame(frame);
      const truncated = line.substring(0, cut % line.length);
      expect(decodeFrame(truncated).ok).to.equal(false);
    }), { numRuns: 3000 });
  });

  it("refuses frames over the length limit, both ways", () => {
    const big = { seq: 1, type: "DISPLAY", fields: { l1: "x".repeat(MAX_FRAME_LENGTH) } };
    expect(() => encodeFrame(big)).to.throw(/over the 400-byte limit/);
    const long = "1 HB " + "a=b ".repeat(200);
    const body = long.trimEnd();
    const line = `${body}*${crc16(body).toString(16).toUpperCase().padStart(4, "0")}`;
    expect(decodeFrame(line)).to.deep.include({ ok: false, error: "overlong" });
  });

  it("rejects precise syntax errors with a reason", () => {
    const cases: [string, RegExp][] = [
      ["01 HB", /sequence/],
      ["70000 HB", /over 65535/],
      ["1 hb", /bad type/],
      ["1 HB a=1 a=2", /repeated/],
      ["1 HB A=1", /field name/],
      ["1 HB a=%G1", /escape/],
      ["1 HB novalue", /key=value/],
    ];
    for (const [body, reason] of cases) {
      const line = `${body}*${crc16(body).toString(16).toUpperCase().padStart(4, "0")}`;
      const r = decodeFrame(line);
      expect(r.ok, body).to.equal(false);
      if (!r.ok) {
        expect(r.error, body).to.equal("syntax");
        expect(r.detail, body).to.match(reason);
      }
    }
  });

  it("tolerates a trailing CR but nothing else after the CRC", () => {
    const line = encodeFrame({ seq: 3, type: "HB", fields: {} });
    expect(decodeFrame(line + "\r").ok).to.equal(true);
    expect(decodeFrame(line + " ").ok).to.equal(false);
  });

  it("line buffer splits a byte stream at LF and drops over-long lines", () => {
    const lines: string[] = [];
    const buffer = new LineBuffer(16);
    const push = (s: string) => buffer.push(new Uint8Array([...s].map((c) => c.charCodeAt(0))), (l) => lines.push(l));
    push("abc\nde");
    push("f\n");
    push("0123456789abcdefXYZ\nok\n");
    expect(lines).to.deep.equal(["abc", "def", "ok"]);
    expect(buffer.overlong).to.equal(1);
    // exactly 15 bytes + LF fits in a 16-byte buffer
    push("0123456789abcde\n");
    expect(lines[3]).to.equal("0123456789abcde");
  });
});
