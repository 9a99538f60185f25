/**
 * Nagle's algorithm off on SysPark's latency-bound connections (issue 20): the cloud's MQTT
 * clients (host/tcp-nodelay.ts, on every reconnect too) and its PostgreSQL sockets
 * (cloud/db/tcp-socket.ts). With it on, `npm run bench -- cloud` measured ~40 ms per hop on an
 * idle machine (the peer's delayed ACK). Node exposes no getter for TCP_NODELAY: the socket's own
 * record of the setting (its kSetNoDelay slot, what `setNoDelay` and the `noDelay` option write)
 * is read instead.
 */
import { strict as assert } from "node:assert";
import { createServer, type AddressInfo, type Socket } from "node:net";
import { readFileSync } from "node:fs";
import { Aedes } from "aedes";
import mqtt from "mqtt";
import { listenAedes } from "../../host/aedes-listen";
import { CLOUD_BROKER_FLOW_CONF } from "../../host/mosquitto";
import { sendMqttPacketsAtOnce } from "../../host/tcp-nodelay";
import { noDelaySocketFactory } from "../../cloud/db/tcp-socket";
import { connectClient } from "../../cloud/mqtt/client";
import { silentLogger } from "../../host/log";

function noDelayOf(socket: unknown): boolean {
  const key = Object.getOwnPropertySymbols(socket).find((s) => s.description === "kSetNoDelay");
  if (!key) throw new Error("this Node keeps no kSetNoDelay slot on its sockets: the test cannot read TCP_NODELAY");
  return Boolean((socket as Record<symbol, unknown>)[key]);
}

describe("TCP_NODELAY on the cloud's connections", () => {
  let aedes: Aedes;
  let broker: Awaited<ReturnType<typeof listenAedes>>;
  before(async () => {
    aedes = await Aedes.createBroker({});
    broker = await listenAedes(aedes, { port: 0 });
  });
  after(async () => {
    await broker.close();
  });

  it("a plain mqtt.js client keeps Nagle on (what the fix is for)", async () => {
    const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.port}`, { reconnectPeriod: 0 });
    try {
      assert.equal(noDelayOf(c.stream), false);
    } finally {
      await c.endAsync(true);
    }
  });

  it("sendMqttPacketsAtOnce: off at once, and again on the connection mqtt.js opens after a drop", async () => {
    const c = sendMqttPacketsAtOnce(mqtt.connect(`mqtt://127.0.0.1:${broker.port}`, { reconnectPeriod: 50 }));
    try {
      await new Promise((resolve) => c.once("connect", resolve));
      const first = c.stream;
      assert.equal(noDelayOf(first), true);
      (first as unknown as Socket).destroy();
      await new Promise((resolve) => c.once("connect", resolve));
      assert.notEqual(c.stream, first);
      assert.equal(noDelayOf(c.stream), true);
    } finally {
      await c.endAsync(true);
    }
  });

  it("the cloud's MQTT connections (connectClient) send at once", async () => {
    const c = await connectClient({ url: `mqtt://127.0.0.1:${broker.port}`, protocol: 4, clientIdPrefix: "t", logger: silentLogger }, 4, "nodelay-test", null);
    try {
      assert.equal(noDelayOf(c.stream), true);
    } finally {
      await c.endAsync(true);
    }
  });

  it("the cloud broker's settings turn Nagle off on Mosquitto's side (set_tcp_nodelay)", () => {
    assert.match(readFileSync(CLOUD_BROKER_FLOW_CONF, "utf8"), /^set_tcp_nodelay true$/m);
  });

  describe("PostgreSQL sockets (postgres.js's socket factory)", () => {
    it("connects with Nagle off, and refuses with the connection's own error", async () => {
      const server = createServer((s) => s.end());
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
      const port = (server.address() as AddressInfo).port;
      try {
        const factory = noDelaySocketFactory(`postgres://u@127.0.0.1:${port}/db`, 5);
        assert.ok(factory);
        const socket = await factory({ host: ["127.0.0.1"], port: [port] });
        assert.equal(noDelayOf(socket), true);
        socket.destroy();
      } finally {
        await new Promise<void>((resolve) => server.close(() => resolve()));
      }
      const factory = noDelaySocketFactory(`postgres://u@127.0.0.1:${port}/db`, 5)!;
      await assert.rejects(factory({ host: ["127.0.0.1"], port: [port] }), /ECONNREFUSED/);
    });

    it("leaves several hosts to postgres.js (it fails over between them)", () => {
      assert.equal(noDelaySocketFactory("postgres://u:p@db1:5432,db2:5432/app", 5), undefined);
      assert.ok(noDelaySocketFactory("postgresql://u:p@db1:5432/app?sslmode=require", 5));
    });
  });
});
