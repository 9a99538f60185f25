/**
 * host/link/stream-link.ts: one LinkSession on any byte stream — two of them on an in-memory
 * cable come up and carry a message, every line reaches the transcript hook, a muted end drops
 * lines, and noise without LF is bounded (one over-long frame counted, memory not grown).
 */
import { strict as assert } from "node:assert";
import { MAX_FRAME_LENGTH } from "../../firmware/common/link/limits";
import { LineSplitter, StreamLink } from "../../host/link/stream-link";
import { createServer, type Socket } from "node:net";
import { freePort } from "../../host/ports";
import { memoryCable, openTcpStream } from "../../host/link/streams";

const until = async (done: () => boolean, ms = 2000): Promise<void> => {
  const deadline = Date.now() + ms;
  while (!done()) {
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 5));
  }
};

describe("host/link: StreamLink and LineSplitter", () => {
  it("splits lines across chunks, skips empty ones and drops an unfinished line past the limit", () => {
    const lines: string[] = [];
    let noise = 0;
    const splitter = new LineSplitter(8, (l) => lines.push(l), () => noise++);
    splitter.push(Buffer.from("ab\n\ncd"));
    splitter.push(Buffer.from("e\nf"));
    assert.deepEqual(lines, ["ab", "cde"]);
    splitter.push(Buffer.from("123456789"));
    assert.equal(noise, 1);
    splitter.push(Buffer.from("g\n"));
    assert.deepEqual(lines, ["ab", "cde", "g"]);
  });

  it("two links on a memory cable come up and carry a message; the transcript hook sees both ways", async () => {
    const [a, b] = memoryCable();
    const transcript: string[] = [];
    const heard: string[] = [];
    const gateway = new StreamLink(a, { self: { kind: "gateway", fw: "t", boot: 1 }, receives: "up", onMessage: () => undefined, onLine: (dir, line) => { transcript.push(`${dir} ${line}`); } });
    const board = new StreamLink(b, { self: { kind: "exit-controller", fw: "t", boot: 1, lane: "L1" }, receives: "down", onMessage: (type) => { heard.push(type); } });
    assert.equal(await gateway.openEventually(), true);
    await board.openEventually();
    await until(() => gateway.session.linkUp && board.session.linkUp);
    gateway.send("DISPLAY", { l1: "hello" });
    await until(() => heard.includes("DISPLAY"));
    assert.ok(transcript.some((l) => l.startsWith("tx ") && l.includes("HELLO")));
    assert.ok(transcript.some((l) => l.startsWith("rx ") && l.includes("HELLO")));
    await gateway.close();
    await board.close();
  });

  it("puts a link on a TCP stream (a board's UART behind a serial-to-network bridge); refuses an unreachable one naming it", async () => {
    const sockets: Socket[] = [];
    let board: StreamLink | undefined;
    const heard: string[] = [];
    const server = createServer((socket) => {
      sockets.push(socket);
      // The board's end: a link on the accepted socket.
      const stream = { write: (b: Uint8Array) => { socket.write(b); }, setReceiver: (r: (b: Uint8Array) => void) => { socket.on("data", (d: Buffer) => r(new Uint8Array(d))); }, close: async () => { socket.destroy(); } };
      board = new StreamLink(stream, { self: { kind: "exit-controller", fw: "t", boot: 1, lane: "L1" }, receives: "down", onMessage: (type) => { heard.push(type); } });
      void board.openEventually();
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
    const port = (server.address() as { port: number }).port;
    try {
      const gateway = new StreamLink(await openTcpStream("127.0.0.1", port), { self: { kind: "gateway", fw: "t", boot: 1 }, receives: "up", onMessage: () => undefined });
      await gateway.openEventually();
      await until(() => gateway.session.linkUp && board !== undefined && board.session.linkUp);
      gateway.send("DISPLAY", { l1: "over tcp" });
      await until(() => heard.includes("DISPLAY"));
      await gateway.close();
      await board?.close();
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
    const closed = await freePort();
    await assert.rejects(openTcpStream("127.0.0.1", closed), new RegExp(`cannot connect to 127\\.0\\.0\\.1:${closed}`));
  });

  it("drops the lines a muted end refuses, and counts noise without LF as one over-long frame", async () => {
    const [a, b] = memoryCable();
    let muted = true;
    const link = new StreamLink(a, { self: { kind: "gateway", fw: "t", boot: 1 }, receives: "up", onMessage: () => undefined, ticking: false, pass: () => !muted });
    const written: string[] = [];
    b.setReceiver((bytes) => written.push(Buffer.from(bytes).toString("latin1")));
    link.start();
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(written, [], "a muted end writes nothing");
    muted = false;
    b.write(Buffer.alloc(16 * MAX_FRAME_LENGTH + 1, 0x41));
    await new Promise((r) => setImmediate(r));
    assert.equal(link.session.stats.rxOverlong, 1);
    await link.close();
  });
});
