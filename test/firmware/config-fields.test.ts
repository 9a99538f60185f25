/**
 * firmware/common/io/config-fields.ts: the manifest config field readers both boards share
 * (issue 15). Each error names the board and the exact key.
 */
import { expect } from "chai";
import { configFields } from "../../firmware/common/io/config-fields";

describe("firmware/common/io/config-fields", () => {
  const f = configFields("test-board");

  it("whole numbers in range, pins and ports by number or name, sections", () => {
    expect(f.num({ a: 5 }, "a", 1, 10, "")).to.equal(5);
    expect(() => f.num({ a: 11 }, "a", 1, 10, "link.")).to.throw("test-board config link.a: expected a whole number in 1..10, got 11");
    expect(() => f.num({ a: 1.5 }, "a", 1, 10, "")).to.throw(/config a: expected a whole number/);
    expect(f.pin(4, "p")).to.equal(4);
    expect(f.pin("GP4", "p")).to.equal("GP4");
    expect(() => f.pin(-1, "pins.help")).to.throw("test-board config pins.help: expected a pin or port number or name, got -1");
    expect(f.obj({ x: 1 }, "s")).to.deep.equal({ x: 1 });
    for (const bad of [undefined, null, 3, [1]]) expect(() => f.obj(bad, "spi")).to.throw("test-board config spi: missing section");
  });

  it("lane, serial port and link timings", () => {
    expect(f.lane({ lane: "L1" })).to.equal("L1");
    expect(() => f.lane({ lane: "lane one" })).to.throw('test-board config lane: expected 1-16 of A-Z a-z 0-9 . _ : -, got "lane one"');
    expect(f.serial({ port: 1, receive: 5, transmit: 4, baud: 115200 }, "gatewaySerial")).to.deep.equal({ port: 1, receive: 5, transmit: 4, baud: 115200 });
    expect(() => f.serial({ port: 1, receive: 5, transmit: 4, baud: 10 }, "rfidSerial")).to.throw("test-board config rfidSerial.baud: expected a whole number in 1200..1000000, got 10");
    const link = { heartbeatMs: 1000, linkTimeoutMs: 3000, retransmitMs: 200, maxBackoffMs: 2000, maxRetries: 5 };
    expect(f.linkTiming(link)).to.deep.equal(link);
    expect(() => f.linkTiming({ ...link, linkTimeoutMs: "3s" })).to.throw(/config link\.linkTimeoutMs: expected a whole number in 300\.\.600000/);
  });
});
