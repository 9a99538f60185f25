/**
 * The cloud's embedded broker (ARCHITECTURE §7, embedded default): aedes 1.2 in-process on a
 * node:net server, loopback only by default, never on 1883. MQTT 3.1.1 only (§8): no shared
 * subscriptions, so the cloud consumes with plain subscriptions on it. Production points
 * MQTT_URL at Mosquitto / EMQX instead.
 */
import { createServer, type Server, type Socket } from "node:net";
import type { AddressInfo } from "node:net";
import { Aedes } from "aedes";
import type { Logger } from "../../host/log";

export interface EmbeddedBroker {
  readonly host: string;
  readonly port: number;
  readonly url: string;
  close(): Promise<void>;
}

export async function startEmbeddedBroker(opts: { host?: string; port: number; logger: Logger }): Promise<EmbeddedBroker> {
  const aedes = await Aedes.createBroker({});
  aedes.on("clientError", (client, err) => opts.logger.debug({ clientId: client.id, err: err.message }, "embedded broker: client error"));
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    aedes.handle(socket);
  });
  const host = opts.host ?? "127.0.0.1";
  await new Promise<void>((resolve, reject) => {
    server.once("error", (err) => reject(new Error(`embedded MQTT broker: cannot listen on ${host}:${opts.port}: ${err.message} (choose another port with --mqtt-port, or set MQTT_URL)`)));
    server.listen(opts.port, host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  let closing: Promise<void> | undefined;
  return {
    host,
    port,
    url: `mqtt://${host}:${port}`,
    close() {
      closing ??= (async () => {
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        await new Promise<void>((resolve) => aedes.close(() => resolve()));
        for (const s of sockets) s.destroy();
        await closed;
      })();
      return closing;
    },
  };
}
