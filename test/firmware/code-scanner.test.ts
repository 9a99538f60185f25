import { expect } from "chai";
import fc from "fast-check";
import { CodeScannerFramer, isScanCode, SCAN_MAX_LENGTH } from "../../firmware/common/io/code-scanner";

const bytes = (text: string) => new Uint8Array([...text].map((c) => c.charCodeAt(0)));

describe("code scanner framer", () => {
  it("passes each CR, LF or CR LF terminated code on, whatever the chunking", () => {
    const codes: string[] = [];
    const f = new CodeScannerFramer((c) => codes.push(c));
    f.push(bytes("SPK1.TABC\r\nSPR1.X"));
    f.push(bytes("Y\rSPV1.Z\n\n"));
    expect(codes).to.deep.equal(["SPK1.TABC", "SPR1.XY", "SPV1.Z"]);
    expect(f.dropped).to.equal(0);
  });

  it("drops and counts an over-long line whole, and one with a non-printable byte", () => {
    const codes: string[] = [];
    const f = new CodeScannerFramer((c) => codes.push(c));
    f.push(bytes("A".repeat(SCAN_MAX_LENGTH) + "\r\n"));
    f.push(bytes("A".repeat(SCAN_MAX_LENGTH + 1) + "\r\nok\r\n"));
    f.push(new Uint8Array([0x53, 0x00, 0x54, 0x0d, 0x41, 0x0d]));
    expect(codes).to.deep.equal(["A".repeat(SCAN_MAX_LENGTH), "ok", "A"]);
    expect(f.dropped).to.equal(2);
  });

  it("only ever passes on codes a SCAN frame can carry, whatever the bytes", () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 400 }), fc.integer({ min: 1, max: 50 }), (data, split) => {
      const codes: string[] = [];
      const f = new CodeScannerFramer((c) => codes.push(c));
      for (let at = 0; at < data.length; at += split) f.push(data.subarray(at, at + split));
      return codes.every(isScanCode);
    }));
  });
});
