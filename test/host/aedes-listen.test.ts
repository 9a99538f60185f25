/**
 * host/aedes-listen.ts: the one listen / close of an aedes broker on a node:net server (the
 * cloud's embedded broker and the gateway's site broker both use it; issue 15).
 */
import { strict as assert } from "node:assert";
import { connect, createServer, type AddressInfo, type Socket } from "node:net";
import { Aedes } from "aedes";
import { listenAedes } from "../../host/aedes-listen";

describe("host/aedes-listen", () => {
  it("listens on a free port, and close() ends open connections and is the same promise every time", async () => {
    const aedes = await Aedes.createBroker({});
    const l = await listenAedes(aedes, { port: 0 });
    assert.equal(l.host, "127.0.0.1");
    assert.ok(l.port > 0);
    const socket: Socket = await new Promise((resolve, reject) => {
      const s = connect(l.port, l.host, () => resolve(s));
      s.once("error", reject);
    });
    const ended = new Promise<void>((resolve) => socket.once("close", () => resolve()));
    const first = l.close();
    assert.equal(l.close(), first);
    await first;
    await ended;
    assert.equal(aedes.closed, true);
  });

  it("a port in use: the error the caller words, naming host and port", async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", () => resolve()));
    const port = (taken.address() as AddressInfo).port;
    const aedes = await Aedes.createBroker({});
    try {
      await assert.rejects(listenAedes(aedes, { port, listenError: (err, host) => new Error(`cannot listen on ${host}:${port}: ${err.message}`) }), new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port}: .*EADDRINUSE`));
      await assert.rejects(listenAedes(aedes, { port }), /EADDRINUSE/);
    } finally {
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
      await new Promise<void>((resolve) => taken.close(() => resolve()));
    }
  });
});
