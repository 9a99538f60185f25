import { expect } from "chai";
import fc from "fast-check";
import { encodeFrame, type Fields } from "../../firmware/common/link/frame";
import { LinkSession, type LinkOptions } from "../../firmware/common/link/session";

interface End {
  session: LinkSession;
  received: { type: string; fields: Fields }[];
  written: string[];
  link: boolean[];
  hellos: Fields[];
}

function makeEnd(kind: "exit-controller" | "gateway", onWrite: (line: string) => void, extra: Partial<LinkOptions> = {}): End {
  const end: End = { session: undefined as never, received: [], written: [], link: [], hellos: [] };
  end.session = new LinkSession({
    self: { kind, fw: "test", boot: 1, lane: kind === "gateway" ? undefined : "L1" },
    receives: kind === "gateway" ? "up" : "down",
    write: (line) => { end.written.push(line); onWrite(line); },
    onMessage: (type, fields) => { end.received.push({ type, fields }); },
    onPeerHello: (fields) => end.hellos.push(fields),
    onLinkChange: (up) => end.link.push(up),
    ...extra,
  });
  return end;
}

/** Two ends joined by a channel that can lose, duplicate or corrupt lines. */
function pair(channel: (line: string, deliver: (l: string) => void) => void = (l, d) => d(l)) {
  let now = 0;
  const toBoard: string[] = [], toGateway: string[] = [];
  const board = makeEnd("exit-controller", (l) => channel(l, (x) => toBoard.length < 10000 && toGateway.push(x)));
  const gateway = makeEnd("gateway", (l) => channel(l, (x) => toBoard.push(x)));
  const flush = () => {
    for (let guard = 0; guard < 10000 && (toBoard.length || toGateway.length); guard++) {
      const a = toGateway.shift();
      if (a !== undefined) gateway.session.receiveLine(a.replace(/\n$/, ""), now);
      const b = toBoard.shift();
      if (b !== undefined) board.session.receiveLine(b.replace(/\n$/, ""), now);
    }
  };
  const advance = (ms: number, step = 10) => {
    for (let t = 0; t < ms; t += step) {
      now += step;
      board.session.tick(now);
      gateway.session.tick(now);
      flush();
    }
  };
  return { board, gateway, flush, advance, get now() { return now; } };
}

describe("serial link session", () => {
  it("announces itself with HELLO and answers a peer HELLO once (no ping-pong)", () => {
    const p = pair();
    p.board.session.start(0);
    p.gateway.session.start(0);
    p.flush();
    p.advance(500);
    expect(p.gateway.hellos.map((h) => h.kind)).to.deep.equal(["exit-controller", "exit-controller"]);
    expect(p.gateway.hellos[0]).to.include({ kind: "exit-controller", proto: "1", boot: "1", lane: "L1" });
    expect(p.board.hellos.map((h) => h.re ?? "")).to.deep.equal(["", "1"]);
    expect(p.board.session.linkUp && p.gateway.session.linkUp).to.equal(true);
  });

  it("delivers reliable frames once, in order, over a lossy, duplicating channel", () => {
    fc.assert(fc.property(fc.array(fc.constantFrom("ok", "drop", "dup"), { minLength: 50, maxLength: 400 }), fc.integer({ min: 1, max: 30 }), (fates, count) => {
      let i = 0;
      const p = pair((line, deliver) => {
        const fate = fates[i++ % fates.length];
        if (fate !== "drop") deliver(line);
        if (fate === "dup") deliver(line);
      });
      p.board.session.start(0);
      p.gateway.session.start(0);
      const sent: string[] = [];
      for (let n = 0; n < count; n++) {
        const value = n % 2 ? "1" : "0";
        if (p.board.session.send("PRESENCE", { present: value }, p.now)) sent.push(value);
      }
      expect(sent.length + p.board.session.stats.txQueueFull).to.equal(count);
      p.advance(60000, 50);
      const presences = p.gateway.received.filter((m) => m.type === "PRESENCE").map((m) => m.fields.present);
      // A give-up happens only if the channel lost maxRetries+1 copies in a row, and it is counted.
      const gaveUp = p.board.session.stats.txGaveUp;
      expect(presences.length + gaveUp).to.be.at.least(sent.length);
      if (gaveUp === 0) expect(presences).to.deep.equal(sent);
    }), { numRuns: 300 });
  });

  it("acknowledges a duplicate again but acts on it once", () => {
    const gw = makeEnd("gateway", () => {});
    gw.session.start(0);
    const line = encodeFrame({ seq: 7, type: "BADGE", fields: { uid: "04A21F9C" } });
    gw.session.receiveLine(line, 1);
    gw.session.receiveLine(line, 2);
    expect(gw.received.map((m) => m.type)).to.deep.equal(["BADGE"]);
    expect(gw.session.stats.rxDuplicate).to.equal(1);
    expect(gw.written.filter((l) => l.includes(" ACK ack=7*")).length).to.equal(2);
  });

  it("drops and counts corrupt, unknown, invalid, wrong-direction and out-of-window frames", () => {
    const gw = makeEnd("gateway", () => {});
    gw.session.start(0);
    gw.session.receiveLine(encodeFrame({ seq: 1, type: "PRESENCE", fields: { present: "1" } }), 1);
    const good = encodeFrame({ seq: 2, type: "PRESENCE", fields: { present: "0" } });
    gw.session.receiveLine(good.replace("present=0", "present=1"), 2); // CRC mismatch
    gw.session.receiveLine(encodeFrame({ seq: 2, type: "FROB", fields: {} }), 3);
    gw.session.receiveLine(encodeFrame({ seq: 2, type: "PRESENCE", fields: { present: "2" } }), 4);
    gw.session.receiveLine(encodeFrame({ seq: 2, type: "PRESENCE", fields: { present: "1", extra: "x" } }), 4);
    gw.session.receiveLine(encodeFrame({ seq: 2, type: "PAY_OK", fields: { session: "S1" } }), 5);
    gw.session.receiveLine(encodeFrame({ seq: 500, type: "PRESENCE", fields: { present: "0" } }), 6);
    gw.session.receiveLine(encodeFrame({ seq: 0, type: "PRESENCE", fields: { present: "0" } }), 7);
    gw.session.receiveBytes(new Uint8Array(1000).fill(0x41), 8);
    gw.session.receiveBytes(new Uint8Array([10]), 8);
    expect(gw.received.map((m) => m.type)).to.deep.equal(["PRESENCE"]);
    expect(gw.session.stats).to.include({ rxCrc: 1, rxUnknown: 1, rxInvalid: 4, rxOutOfWindow: 1, rxOverlong: 1, rxAccepted: 1 });
  });

  it("retransmits with a doubling backoff and gives up after maxRetries, counting it", () => {
    const times: number[] = [];
    let now = 0;
    const gaveUp: string[] = [];
    const board = makeEnd("exit-controller", (l) => { if (l.includes(" BADGE ")) times.push(now); }, {
      timing: { retransmitMs: 100, maxBackoffMs: 800, maxRetries: 4, heartbeatMs: 100000, linkTimeoutMs: 1000000 },
      onGiveUp: (type) => gaveUp.push(type),
    });
    board.session.start(0);
    // Link up (the gateway spoke), but never acknowledges: HELLO is first in the queue, so ack it.
    board.session.receiveLine(encodeFrame({ seq: 0, type: "ACK", fields: { ack: "1" } }), 0);
    board.session.send("BADGE", { uid: "04A21F9C" }, 0);
    for (now = 0; now <= 5000; now += 10) board.session.tick(now);
    expect(times).to.deep.equal([0, 100, 300, 700, 1500]);
    expect(gaveUp).to.deep.equal(["BADGE"]);
    expect(board.session.stats.txGaveUp).to.equal(1);
  });

  it("declares the link down after the silence limit and up again on the next valid frame", () => {
    const board = makeEnd("exit-controller", () => {}, { timing: { linkTimeoutMs: 3000, heartbeatMs: 1000 } });
    board.session.start(0);
    board.session.receiveLine(encodeFrame({ seq: 0, type: "HB", fields: {} }), 100);
    for (let t = 0; t <= 3000; t += 100) board.session.tick(t);
    expect(board.link).to.deep.equal([true]);
    board.session.tick(3100);
    expect(board.link).to.deep.equal([true, false]);
    board.session.receiveLine("garbage", 3200);
    expect(board.link).to.deep.equal([true, false]);
    board.session.receiveLine(encodeFrame({ seq: 0, type: "HB", fields: {} }), 3300);
    expect(board.link).to.deep.equal([true, false, true]);
  });

  it("keeps events while the link is down and delivers them when it returns", () => {
    let connected = false;
    const p = pair((line, deliver) => { if (connected) deliver(line); });
    p.board.session.start(0);
    p.gateway.session.start(0);
    p.advance(5000);
    expect(p.board.link).to.deep.equal([false]);
    for (let n = 0; n < 5; n++) p.board.session.send("BUTTON", { name: "help" }, p.now);
    p.advance(20000);
    expect(p.board.session.stats.txGaveUp).to.equal(0);
    connected = true;
    p.advance(10000);
    expect(p.gateway.received.filter((m) => m.type === "BUTTON")).to.have.length(5);
  });

  it("refuses to send a message that breaks the catalogue", () => {
    const board = makeEnd("exit-controller", () => {});
    expect(() => board.session.send("PRESENCE", { present: "maybe" }, 0)).to.throw(/bad value for present/);
    expect(() => board.session.send("NOPE", {}, 0)).to.throw(/unknown message type/);
  });

  it("bounds the transmit queue and counts overflow", () => {
    const board = makeEnd("exit-controller", () => {}, { queueCapacity: 4 });
    board.session.start(0); // HELLO takes one slot
    const results = [1, 2, 3, 4].map(() => board.session.send("BUTTON", { name: "help" }, 0));
    expect(results).to.deep.equal([true, true, true, false]);
    expect(board.session.stats.txQueueFull).to.equal(1);
  });

  it("acknowledges a frame only once the application made it durable, and never a refused one", async () => {
    const written: string[] = [];
    let resolveDurable!: () => void, rejectDurable!: (e: Error) => void;
    let calls = 0;
    const gw = new LinkSession({
      self: { kind: "gateway", fw: "t", boot: 1 }, receives: "up",
      write: (l) => { written.push(l); },
      onMessage: () => {
        calls++;
        return new Promise<void>((resolve, reject) => { resolveDurable = resolve; rejectDurable = reject; });
      },
    });
    gw.start(0);
    const first = encodeFrame({ seq: 1, type: "PRESENCE", fields: { present: "1" } });
    gw.receiveLine(first, 1);
    gw.receiveLine(first, 2); // retransmission while the write is in flight: no ACK yet
    expect(written.filter((l) => l.includes(" ACK "))).to.have.length(0);
    resolveDurable();
    await Promise.resolve();
    expect(written.filter((l) => l.includes(" ACK ack=1*"))).to.have.length(1);
    const second = encodeFrame({ seq: 2, type: "PRESENCE", fields: { present: "0" } });
    gw.receiveLine(second, 3);
    rejectDurable(new Error("disk full"));
    await Promise.resolve();
    await Promise.resolve();
    gw.receiveLine(second, 4);
    expect(written.filter((l) => l.includes(" ACK ack=2*"))).to.have.length(0);
    expect(calls).to.equal(2);
  });
});

describe("serial link session: held frames (ACK hold=1)", () => {
  /** A board and a gateway whose every accepted frame becomes durable only when the test says so. */
  function deferredPair(channel: (line: string, deliver: (l: string) => void) => void = (l, d) => d(l)) {
    let now = 0;
    const toBoard: string[] = [], toGateway: string[] = [];
    const durable: (() => void)[] = [];
    const received: { type: string; fields: Fields }[] = [];
    const board = makeEnd("exit-controller", (l) => channel(l, (x) => toGateway.push(x)));
    const gwWritten: string[] = [];
    const gateway = new LinkSession({
      self: { kind: "gateway", fw: "test", boot: 1 }, receives: "up",
      write: (l) => { gwWritten.push(l); channel(l, (x) => toBoard.push(x)); },
      onMessage: (type, fields) => {
        received.push({ type, fields });
        return new Promise<void>((resolve) => durable.push(resolve));
      },
    });
    const flush = () => {
      for (let guard = 0; guard < 10000 && (toBoard.length || toGateway.length); guard++) {
        const a = toGateway.shift();
        if (a !== undefined) gateway.receiveLine(a.replace(/\n$/, ""), now);
        const b = toBoard.shift();
        if (b !== undefined) board.session.receiveLine(b.replace(/\n$/, ""), now);
      }
    };
    const settle = async (n = durable.length) => {
      for (const r of durable.splice(0, n)) r();
      for (let i = 0; i < 5; i++) await Promise.resolve();
      flush();
    };
    const advance = async (ms: number, step = 10, settleEvery = 1) => {
      for (let t = 0, k = 0; t < ms; t += step, k++) {
        now += step;
        board.session.tick(now);
        gateway.tick(now);
        flush();
        if (k % settleEvery === 0) await settle();
      }
    };
    return { board, gateway, gwWritten, received, durable, flush, settle, advance, get now() { return now; } };
  }

  it("lets the sender go on while the receiver makes a frame durable, and acknowledges it only once durable", async () => {
    const p = deferredPair();
    p.board.session.start(0);
    p.gateway.start(0);
    p.flush();
    await p.settle();
    expect(p.board.hellos[0]).to.include({ kind: "gateway", hold: "1" });
    p.board.session.send("STATE", { state: "awaiting_payment", why: "pay_req" }, p.now);
    p.board.session.send("AUTHORISED", { session: "S1" }, p.now);
    p.flush();
    // Both frames reached the gateway although neither is durable yet: the first was held.
    expect(p.received.map((m) => m.type).slice(-2)).to.deep.equal(["STATE", "AUTHORISED"]);
    expect(p.gwWritten.some((l) => / ACK ack=\d+ hold=1\*/.test(l))).to.equal(true);
    expect(p.gwWritten.filter((l) => /^0 ACK ack=[34]\*/.test(l))).to.have.length(0); // not durable yet
    expect(p.board.session.pending).to.equal(2); // kept until the final ACKs
    await p.settle();
    expect(p.board.session.pending).to.equal(0);
    expect(p.board.session.stats.txRetransmits).to.equal(0);
  });

  it("probes a held frame slowly and gives it up only after maxRetries unanswered probes", async () => {
    let now = 0;
    const written: string[] = [];
    const gaveUp: string[] = [];
    const board = makeEnd("exit-controller", (l) => written.push(`${now} ${l}`), {
      timing: { retransmitMs: 100, maxBackoffMs: 800, maxRetries: 2, heartbeatMs: 100000, linkTimeoutMs: 1000000 },
      onGiveUp: (type) => gaveUp.push(type),
    });
    board.session.start(0);
    board.session.receiveLine(encodeFrame({ seq: 0, type: "ACK", fields: { ack: "1" } }), 0); // HELLO
    board.session.send("BADGE", { uid: "04A21F9C" }, 0);
    board.session.receiveLine(encodeFrame({ seq: 0, type: "ACK", fields: { ack: "2", hold: "1" } }), 5);
    board.session.send("BUTTON", { name: "help" }, 6); // goes at once: BADGE is held
    expect(written.filter((l) => l.includes(" BUTTON "))).to.have.length(1);
    board.session.receiveLine(encodeFrame({ seq: 0, type: "ACK", fields: { ack: "3" } }), 7);
    for (now = 10; now <= 5000; now += 10) board.session.tick(now);
    const probes = written.filter((l) => l.includes(" BADGE ")).map((l) => Number(l.split(" ")[0]));
    expect(probes).to.deep.equal([0, 810, 1610, 2410]); // sent, then probed every maxBackoffMs once held
    expect(gaveUp).to.deep.equal(["BADGE"]);
    expect(board.session.pending).to.equal(0);
  });

  it("delivers once and in order over a lossy, duplicating channel while durability lags", async () => {
    await fc.assert(fc.asyncProperty(fc.array(fc.constantFrom("ok", "ok", "drop", "dup"), { minLength: 50, maxLength: 300 }), fc.integer({ min: 1, max: 20 }), fc.integer({ min: 1, max: 7 }), async (fates, count, settleEvery) => {
      let i = 0;
      const p = deferredPair((line, deliver) => {
        const fate = fates[i++ % fates.length];
        if (fate !== "drop") deliver(line);
        if (fate === "dup") deliver(line);
      });
      p.board.session.start(0);
      p.gateway.start(0);
      const sent: string[] = [];
      const uid = (n: number) => n.toString(16).toUpperCase().padStart(8, "0");
      for (let n = 0; n < count; n++) if (p.board.session.send("BADGE", { uid: uid(n) }, p.now)) sent.push(uid(n));
      await p.advance(30000, 50, settleEvery);
      const got = p.received.filter((m) => m.type === "BADGE").map((m) => m.fields.uid);
      const gaveUp = p.board.session.stats.txGaveUp;
      if (gaveUp === 0) {
        expect(got).to.deep.equal(sent);
        expect(p.board.session.pending).to.equal(0);
      } else {
        expect(got.length + gaveUp).to.be.at.least(sent.length);
        expect(new Set(got).size).to.equal(got.length);
      }
    }), { numRuns: 150 });
  });

  it("sends held frames again, before its HELLO answer, when the receiver restarts (nothing lost if it died before the write)", async () => {
    const p = deferredPair();
    p.board.session.start(0);
    p.gateway.start(0);
    p.flush();
    await p.settle();
    p.board.session.send("BUTTON", { name: "help" }, p.now);
    p.flush();
    expect(p.received.map((m) => m.type)).to.include("BUTTON");
    expect(p.board.session.pending).to.equal(1); // held, never made durable: the gateway dies here
    const got: string[] = [];
    const toFresh: string[] = [], toBoard: string[] = [];
    const from = p.board.written.length;
    const fresh = new LinkSession({
      self: { kind: "gateway", fw: "test", boot: 2 }, receives: "up",
      write: (l) => { toBoard.push(l); },
      onMessage: (type) => { got.push(type); },
    });
    fresh.start(p.now);
    for (let guard = 0; guard < 100 && (toBoard.length || p.board.written.length > from + toFresh.length); guard++) {
      const b = toBoard.shift();
      if (b !== undefined) p.board.session.receiveLine(b.replace(/\n$/, ""), p.now);
      while (p.board.written.length > from + toFresh.length) {
        const l = p.board.written[from + toFresh.length];
        toFresh.push(l);
        fresh.receiveLine(l.replace(/\n$/, ""), p.now);
      }
    }
    expect(got).to.deep.equal(["BUTTON"]);
    expect(toFresh.findIndex((l) => l.includes(" BUTTON "))).to.be.lessThan(toFresh.findIndex((l) => l.includes(" HELLO ")));
    expect(p.board.session.pending).to.equal(0);
  });

  it("still sends a deferred ACK when the peer only answers our HELLO (re=1, same boot) meanwhile", async () => {
    const written: string[] = [];
    let durable!: () => void;
    const got: string[] = [];
    const gw = new LinkSession({
      self: { kind: "gateway", fw: "t", boot: 1 }, receives: "up",
      write: (l) => { written.push(l); },
      onMessage: (type) => {
        got.push(type);
        return type === "PRESENCE" ? new Promise<void>((resolve) => (durable = resolve)) : undefined;
      },
    });
    gw.start(0);
    // As seen on a bench start-up: the board's HELLO, a PRESENCE whose event is being written,
    // then the board's answer to the gateway's (retransmitted) HELLO.
    gw.receiveLine(encodeFrame({ seq: 1, type: "HELLO", fields: { kind: "exit-controller", fw: "t", proto: "1", boot: "1", hold: "1" } }), 1);
    gw.receiveLine(encodeFrame({ seq: 2, type: "PRESENCE", fields: { present: "1" } }), 2);
    expect(written.some((l) => l.startsWith("0 ACK ack=2 hold=1*"))).to.equal(true);
    gw.receiveLine(encodeFrame({ seq: 3, type: "HELLO", fields: { kind: "exit-controller", fw: "t", proto: "1", boot: "1", re: "1", hold: "1" } }), 3);
    durable();
    for (let i = 0; i < 5; i++) await Promise.resolve();
    expect(written.filter((l) => /^0 ACK ack=2\*/.test(l))).to.have.length(1);
    // Its numbering went on: the next frame is new, not a duplicate.
    gw.receiveLine(encodeFrame({ seq: 4, type: "STATE", fields: { state: "present", why: "resync" } }), 4);
    expect(got.filter((t) => t === "STATE")).to.have.length(1);
    expect(gw.stats.rxDuplicate).to.equal(0);
  });

  it("probes a held head quickly once the ring is half full, so a lost final ACK does not fill it", async () => {
    // The final ACK of the first BUTTON is lost on the line; the next ones arrive. The held
    // BUTTON stays at the head and keeps the acknowledged frames behind it in the 16-frame ring.
    let lostFinal: number | undefined;
    const p = deferredPair((line, deliver) => {
      const final = /^0 ACK ack=(\d+)\*/.exec(line);
      if (final && lostFinal === undefined && p.received.some((m) => m.type === "BUTTON")) {
        lostFinal = Number(final[1]);
        return;
      }
      deliver(line);
    });
    p.board.session.start(0);
    p.gateway.start(0);
    p.flush();
    await p.settle();
    for (let i = 0; i < 30; i++) {
      expect(p.board.session.send("BUTTON", { name: i % 2 ? "help" : "cancel" }, p.now), `BUTTON ${i} queued`).to.equal(true);
      p.flush();
      await p.advance(60); // one event every 60 ms: 16 of them within the slow probe's 2 s
    }
    await p.advance(500);
    expect(lostFinal).to.be.a("number");
    expect(p.board.session.stats.txQueueFull).to.equal(0);
    expect(p.board.session.stats.txGaveUp).to.equal(0);
    expect(p.board.session.pending).to.equal(0);
    expect(p.received.filter((m) => m.type === "BUTTON").map((m) => m.fields.name)).to.deep.equal(Array.from({ length: 30 }, (_, i) => (i % 2 ? "help" : "cancel")));
  });

  it("keeps probing a held frame the peer still answers with a hold, and never gives it up", async () => {
    let now = 0;
    const written: string[] = [];
    const board = makeEnd("exit-controller", (l) => written.push(`${now} ${l}`), {
      timing: { retransmitMs: 100, maxBackoffMs: 800, maxRetries: 2, heartbeatMs: 100000, linkTimeoutMs: 1000000 },
    });
    board.session.start(0);
    board.session.receiveLine(encodeFrame({ seq: 0, type: "ACK", fields: { ack: "1" } }), 0); // HELLO
    board.session.send("BADGE", { uid: "04A21F9C" }, 0);
    board.session.receiveLine(encodeFrame({ seq: 0, type: "ACK", fields: { ack: "2", hold: "1" } }), 5);
    for (now = 10; now <= 6000; now += 10) {
      const before = written.length;
      board.session.tick(now);
      // The gateway's disk is slow: every probe is answered "still holding".
      if (written.slice(before).some((l) => l.includes(" BADGE "))) board.session.receiveLine(encodeFrame({ seq: 0, type: "ACK", fields: { ack: "2", hold: "1" } }), now);
    }
    expect(written.filter((l) => l.includes(" BADGE ")).length).to.be.greaterThan(5);
    expect(board.session.stats.txGaveUp).to.equal(0);
    expect(board.session.pending).to.equal(1);
    board.session.receiveLine(encodeFrame({ seq: 0, type: "ACK", fields: { ack: "2" } }), now);
    expect(board.session.pending).to.equal(0);
  });

  it("never sends a deferred ACK owed to a peer that restarted meanwhile (its numbering restarts)", async () => {
    const written: string[] = [];
    let durable!: () => void;
    const gw = new LinkSession({
      self: { kind: "gateway", fw: "t", boot: 1 }, receives: "up",
      write: (l) => { written.push(l); },
      onMessage: (type) => (type === "BADGE" ? new Promise<void>((resolve) => (durable = resolve)) : undefined),
    });
    gw.start(0);
    gw.receiveLine(encodeFrame({ seq: 1, type: "HELLO", fields: { kind: "exit-controller", fw: "t", proto: "1", boot: "1", hold: "1" } }), 1);
    gw.receiveLine(encodeFrame({ seq: 2, type: "BADGE", fields: { uid: "04A21F9C" } }), 2);
    expect(written.some((l) => l.startsWith("0 ACK ack=2 hold=1*"))).to.equal(true);
    // The board reboots before the write is durable: its new HELLO, then a new frame numbered 2.
    gw.receiveLine(encodeFrame({ seq: 1, type: "HELLO", fields: { kind: "exit-controller", fw: "t", proto: "1", boot: "2", hold: "1" } }), 3);
    durable();
    for (let i = 0; i < 5; i++) await Promise.resolve();
    expect(written.filter((l) => /^0 ACK ack=2\*/.test(l))).to.have.length(0);
  });
});

describe("serial link session: re-sync on a peer HELLO", () => {
  const gatewayHello = (seq: number, extra: Fields = {}) =>
    encodeFrame({ seq, type: "HELLO", fields: { kind: "gateway", fw: "t", proto: "1", boot: "4", hold: "1", ...extra } });
  const ack = (seq: number) => encodeFrame({ seq: 0, type: "ACK", fields: { ack: String(seq) } });

  it("re-syncs on a restarted gateway's HELLO even when its boot and sequence are the ones already known", () => {
    const board = makeEnd("exit-controller", () => {});
    board.session.start(0);
    board.session.receiveLine(ack(1), 1); // our HELLO
    // The gateway's HELLO is its last reliable frame before it restarts; the board answers it.
    board.session.receiveLine(gatewayHello(1), 2);
    board.session.receiveLine(ack(2), 3);
    expect(board.hellos).to.have.length(1);
    // Restarted with the same boot count (not persisted, or the board's own view of it): its
    // numbering starts again at 1, so its new HELLO carries exactly the numbers already known.
    board.written.length = 0;
    board.session.receiveLine(gatewayHello(1), 5000);
    expect(board.hellos, "re-synchronised (PRESENCE, STATE, barrier re-announced)").to.have.length(2);
    expect(board.written.filter((l) => / HELLO .*re=1/.test(l)), "answered, so the gateway learns who we are").to.have.length(1);
    expect(board.session.stats.rxDuplicate).to.equal(0);
  });

  it("still takes a repeated answer (re=1) from the known boot for a duplicate", () => {
    const board = makeEnd("exit-controller", () => {});
    board.session.start(0);
    board.session.receiveLine(gatewayHello(1, { re: "1" }), 1);
    board.session.receiveLine(gatewayHello(1, { re: "1" }), 2);
    expect(board.hellos).to.have.length(1);
    expect(board.session.stats.rxDuplicate).to.equal(1);
    expect(board.written.filter((l) => l.includes(" ACK ack=1*"))).to.have.length(2);
    expect(board.written.filter((l) => l.includes(" HELLO ") && l.includes("re=1")), "an answer is never answered").to.have.length(0);
  });
});

describe("serial link session: serial back-pressure", () => {
  const timing = { heartbeatMs: 1000, linkTimeoutMs: 3500, retransmitMs: 150, maxBackoffMs: 2000, maxRetries: 6 };

  it("grows the retransmission backoff (bounded) while the link is down and restarts it when the link returns", () => {
    let now = 0;
    const hellos: number[] = [];
    const board = makeEnd("exit-controller", (l) => { if (l.includes(" HELLO ")) hellos.push(now); }, { timing });
    board.session.start(0);
    for (now = 0; now < 19000; now += 10) board.session.tick(now);
    expect(hellos).to.deep.equal([0, 150, 450, 1050, 2250, 4250, 6250, 8250, 10250, 12250, 14250, 16250, 18250]);
    // The gateway comes back (its heartbeat): the frame goes again within the first delay, and
    // its backoff starts over.
    now = 19000;
    board.session.receiveLine(encodeFrame({ seq: 0, type: "HB", fields: {} }), now);
    for (; now < 19700; now += 10) board.session.tick(now);
    expect(hellos.slice(13)).to.deep.equal([19150, 19300, 19600]);
  });

  it("never lets a serial write that throws or has no room escape; counts the drops and recovers once the line drains", () => {
    let now = 0;
    let line: "throws" | "full" | "drains" = "throws";
    let attempts = 0;
    const out: string[] = [];
    const board = new LinkSession({
      self: { kind: "exit-controller", fw: "t", boot: 1, lane: "L1" }, receives: "down", timing,
      write: (l) => {
        attempts++;
        // What the XS simulator's serial does with the gateway's end closed.
        if (line === "throws") throw new Error("would overflow (in write)");
        if (line === "full") return false;
        out.push(l);
        return true;
      },
      onMessage: () => {},
    });
    board.start(now);
    for (; now < 130000; now += 10) board.tick(now);
    expect(board.send("BUTTON", { name: "help" }, now)).to.equal(true);
    line = "full";
    for (; now < 140000; now += 10) board.tick(now);
    expect(board.stats.txDropped).to.equal(attempts);
    expect(board.stats.txFrames).to.equal(0);
    expect(board.pending, "the HELLO and the BUTTON are kept").to.equal(2);
    line = "drains";
    for (const end = now + 2010; now < end; now += 10) board.tick(now);
    expect(out.filter((l) => l.includes(" HELLO ")), "the HELLO goes again once the line drains").to.have.length(1);
    board.receiveLine(encodeFrame({ seq: 0, type: "ACK", fields: { ack: "1" } }), now);
    expect(out.filter((l) => l.includes(" BUTTON ")), "and the frame behind it").to.have.length(1);
    expect(board.stats.txFrames).to.equal(out.length);
  });
});
