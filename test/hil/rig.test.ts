import { expect } from "chai";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isInfrastructureError } from "../../hil/harness/errors";
import { loadRig, parseRig } from "../../hil/rig/schema";

const lane = (l: string, n: number) => [
  { kind: "exit-controller", lane: l, port: `/dev/ttyUSB${n}`, reset: { method: "dtr" } },
  { kind: "barrier-executor", lane: l, port: `/dev/ttyUSB${n + 1}`, baud: 57600, reset: { method: "power", off: "uhubctl -a off -p 2", on: "uhubctl -a on -p 2" } },
];

describe("hil rig file", () => {
  it("accepts a rig and fills the defaults", () => {
    const rig = parseRig({ name: "bench A", boards: lane("L1", 0), io_emulator: { type: "serial", port: "/dev/ttyACM0" } });
    expect(rig.boards[0]).to.deep.include({ baud: 115200, reset: { method: "dtr", pulse_ms: 100, active: true } });
    expect(rig.boards[1].reset).to.deep.equal({ method: "power", off: "uhubctl -a off -p 2", on: "uhubctl -a on -p 2", off_ms: 1000 });
    expect(rig.io_emulator).to.deep.equal({ type: "serial", port: "/dev/ttyACM0", baud: 115200 });
  });

  it("names the field path of every problem", () => {
    const bad = { name: "x", boards: [{ kind: "exit-controller", lane: "L1", port: "ttyUSB0", baud: 1234, reset: { method: "dtr", pulse_ms: 0 } }, { kind: "exit-controller", lane: "L1", port: "/dev/a" }, { kind: "toaster", lane: "L2", port: "/dev/b" }] };
    let message = "";
    try { parseRig(bad, "rig.json"); } catch (err) { message = (err as Error).message; }
    expect(message).to.match(/^rig.json is not a valid rig file/);
    expect(message).to.include("boards[0].port: a serial port is an absolute device path");
    expect(message).to.include("boards[0].baud: baud must be a standard rate");
    expect(message).to.include("boards[0].reset.pulse_ms:");
    expect(message).to.include("boards[2].kind:");
  });

  it("refuses two boards on one port, two boards of a kind in a lane, and a lane missing a board", () => {
    const dup = [...lane("L1", 0), { kind: "exit-controller", lane: "L1", port: "/dev/ttyUSB0" }];
    expect(() => parseRig({ name: "x", boards: dup })).to.throw(/boards\[2\]\.kind: lane L1 already has a exit-controller[\s\S]*boards\[2\]\.port: port \/dev\/ttyUSB0 is already used by boards\[0\]/);
    expect(() => parseRig({ name: "x", boards: [lane("L1", 0)[0]] })).to.throw(/boards: lane L1 needs an exit-controller and a barrier-executor/);
    expect(() => parseRig({ name: "x", boards: lane("L1", 0), extra: 1 })).to.throw(/extra|Unrecognized/);
  });

  it("a missing rig file is an infrastructure error, bad JSON is not", () => {
    const dir = mkdtempSync(join(tmpdir(), "syspark-rig-"));
    try {
      let err: unknown;
      try { loadRig(join(dir, "nope.json")); } catch (e) { err = e; }
      expect(isInfrastructureError(err)).to.equal(true);
      writeFileSync(join(dir, "bad.json"), "{ nope");
      try { loadRig(join(dir, "bad.json")); } catch (e) { err = e; }
      expect(isInfrastructureError(err)).to.equal(false);
      expect((err as Error).message).to.match(/bad.json is not JSON/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
