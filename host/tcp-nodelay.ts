/**
 * Turns Nagle's algorithm off on an MQTT client's TCP (or TLS) connection, at every (re)connect.
 *
 * Why: a lane waits at the barrier for each message. With Nagle on (Node's and Mosquitto's
 * default), a small packet written while an earlier one on the same connection is not yet
 * acknowledged at the TCP level waits for that acknowledgement, and the peer's kernel delays it
 * (delayed ACK: 40 ms on Linux) when it has no reply to piggyback it on. `npm run bench -- cloud`
 * measured ~40 ms per hop on an idle machine (issue 20); SysPark's packets are small and each
 * one matters on its own, so none should wait to be coalesced.
 */
import type { MqttClient } from "mqtt";

/** Nagle off on the client's current connection (a WebSocket stream has no such switch: left as it is). */
export function noDelay(client: MqttClient): void {
  const stream = client.stream as { setNoDelay?: (on: boolean) => void } | undefined;
  stream?.setNoDelay?.(true);
}

/** Applies to the connection open now (if any) and to every later one mqtt.js opens. */
export function sendMqttPacketsAtOnce(client: MqttClient): MqttClient {
  noDelay(client);
  // 'connect' follows the CONNACK: only the CONNECT itself went out under Nagle.
  client.on("connect", () => noDelay(client));
  return client;
}
