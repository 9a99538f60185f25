/**
 * host/link/serial-port.ts: the event-loop binding moves bytes both ways on a real pty pair,
 * including writes far larger than the pty's buffer (the EAGAIN → poller path) and reads that
 * are pending when the port closes (cancelled, not an error).
 */
import { expect } from "chai";
import { openPtyPair, type PtyPair } from "../../host/link/pty";
import { serialPort } from "../../host/link/serial-port";
import { requireToolOrSkip } from "../../host/tools";

describe("host/link/serial-port: the event-loop binding on a pty pair", function () {
  this.timeout(20_000);
  let pair: PtyPair | undefined;
  beforeEach(function () {
    requireToolOrSkip(this, "socat");
  });
  afterEach(async () => pair?.close());

  const opened = async (path: string) => {
    const port = serialPort(path, 115200);
    await new Promise<void>((resolve, reject) => port.open((err) => (err ? reject(err) : resolve())));
    return port;
  };

  it("carries lines both ways and a 1 MiB burst byte for byte, in order", async () => {
    pair = await openPtyPair("sp");
    const a = await opened(pair.a), b = await opened(pair.b);
    const atB: Buffer[] = [], atA: Buffer[] = [];
    b.on("data", (d: Buffer) => atB.push(d));
    a.on("data", (d: Buffer) => atA.push(d));
    a.write("1 HELLO kind=gateway*0000\n");
    b.write("0 ACK ack=1*0000\n");
    const burst = Buffer.alloc(1 << 20);
    for (let i = 0; i < burst.length; i++) burst[i] = 0x20 + (i % 90);
    a.write(burst);
    const total = () => Buffer.concat(atB).length;
    const deadline = Date.now() + 15_000;
    while (total() < 26 + burst.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    const got = Buffer.concat(atB);
    expect(got.subarray(0, 26).toString()).to.equal("1 HELLO kind=gateway*0000\n");
    expect(got.subarray(26).equals(burst)).to.equal(true);
    expect(Buffer.concat(atA).toString()).to.equal("0 ACK ack=1*0000\n");
    await new Promise<void>((r) => a.close(() => r()));
    await new Promise<void>((r) => b.close(() => r()));
  });

  it("closes cleanly with a read pending, and reports a port that cannot be opened", async () => {
    pair = await openPtyPair("sp2");
    const a = await opened(pair.a);
    const errors: Error[] = [];
    a.on("error", (e: Error) => errors.push(e));
    a.on("data", () => undefined); // a read is now waiting on the poller
    await new Promise((r) => setTimeout(r, 50));
    await new Promise<void>((resolve, reject) => a.close((err) => (err ? reject(err) : resolve())));
    await new Promise((r) => setTimeout(r, 50));
    expect(errors).to.deep.equal([]);
    const missing = serialPort(`${pair.a}-missing`, 115200);
    const err = await new Promise<Error | null>((resolve) => missing.open(resolve));
    expect(err?.message).to.match(/ENOENT|No such file/);
  });
});
