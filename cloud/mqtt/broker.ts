/**
 * The cloud's embedded broker (ARCHITECTURE §7, embedded default): aedes 1.2 in-process on a
 * node:net server, loopback only by default, never on 1883. MQTT 3.1.1 only (§8): no shared
 * subscriptions, so the cloud consumes with plain subscriptions on it. Production points
 * MQTT_URL at Mosquitto / EMQX instead.
 */
import { Aedes } from "aedes";
import { listenAedes } from "../../host/aedes-listen";
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
  const { host, port, close } = await listenAedes(aedes, {
    host: opts.host,
    port: opts.port,
    listenError: (err, host) => new Error(`embedded MQTT broker: cannot listen on ${host}:${opts.port}: ${err.message} (choose another port with --mqtt-port, or set MQTT_URL)`),
  });
  return { host, port, url: `mqtt://${host}:${port}`, close };
}
