/**
 * The cloud's MQTT connections (mqtt.js 5): one publisher (the outbox relay) and N consumers of
 * the site → cloud topics under `syspark/+/parking/…` (ARCHITECTURE §3).
 *
 * - Protocol: "auto" probes MQTT v5 first; a broker that refuses it (aedes is 3.1.1 only, §8)
 *   is used with 3.1.1. On v5 the consumers subscribe with shared subscriptions
 *   `$share/<group>/syspark/+/parking/…` so several cloud instances (and several consumer
 *   connections of one instance) split the load; on 3.1.1 with plain subscriptions.
 * - At-least-once consumption: a QoS 1 message is acknowledged (PUBACK) only after its handler
 *   resolved, i.e. after the database transaction that recorded its effect committed. mqtt.js
 *   calls `handleMessage` one message at a time per connection, so a connection consumes
 *   serially; more consumers (v5 only) give parallelism.
 * - Persistent consumer sessions (clean: false, session expiry) so messages published while
 *   the cloud restarts wait in the broker.
 * - A connection's message handler is in place BEFORE its CONNECT: a resumed session delivers
 *   its queue right after the CONNACK, and mqtt.js's default `handleMessage` would acknowledge
 *   and drop whatever arrived before a handler was attached (issue 13: the first messages of
 *   every restart were lost). A connection without a handler of its own refuses (never
 *   acknowledges) any message.
 * - TLS (mqtts://, MQTT_CA_FILE…): the broker's certificate is always verified. A certificate
 *   refused at start fails the start at once with what to fix (host/mqtt-tls-errors.ts), never
 *   a plaintext retry; later, while mqtt.js reconnects, each distinct error is logged once.
 */
import mqtt, { type DoneCallback, type IClientOptions, type IPublishPacket, type MqttClient } from "mqtt";
import type { Logger } from "../../host/log";
import { LinkErrorLog, explainTlsError, isTlsUrl, type TlsSettingNames } from "../../host/mqtt-tls-errors";
import { sendMqttPacketsAtOnce } from "../../host/tcp-nodelay";

export type ProtocolVersion = 4 | 5;

export interface MqttConnectOptions {
  url: string;
  username?: string;
  password?: string;
  protocol: "auto" | ProtocolVersion;
  clientIdPrefix: string;
  logger: Logger;
  connectTimeoutMs?: number;
  /** mqtts:// / wss://: the broker's CA, and the client certificate when the broker asks for one (MQTT_CA_FILE, MQTT_CERT_FILE, MQTT_KEY_FILE). */
  tls?: { ca?: Buffer; cert?: Buffer; key?: Buffer; servername?: string };
}

/** The cloud's TLS settings, by the names an operator sets (cloud/server/config.ts). */
function tlsNames(o: MqttConnectOptions): TlsSettingNames {
  return { url: redact(o.url), caSetting: "MQTT_CA_FILE", caGiven: Boolean(o.tls?.ca), certSetting: "MQTT_CERT_FILE / MQTT_KEY_FILE", certGiven: Boolean(o.tls?.cert) };
}

/** mqtt.js would take a CA with an mqtt:// URL and connect in plaintext, the CA unused: refuse. */
function refusePlaintextWithTls(o: MqttConnectOptions): void {
  if (o.tls && !isTlsUrl(o.url)) throw new Error(`MQTT_CA_FILE / MQTT_CERT_FILE are set but MQTT_URL ${redact(o.url)} is not mqtts:// or wss://: the connection would not be encrypted`);
}

function baseOptions(o: MqttConnectOptions, version: ProtocolVersion): IClientOptions {
  refusePlaintextWithTls(o);
  return {
    protocolVersion: version,
    username: o.username,
    password: o.password,
    connectTimeout: o.connectTimeoutMs ?? 10_000,
    reconnectPeriod: 1000,
    keepalive: 30,
    // Certificates are always verified: a broker whose certificate does not chain to the CA is refused, never used in plaintext.
    ...(o.tls ? { ...o.tls, rejectUnauthorized: true } : {}),
  };
}

/** Which protocol version the broker accepts (v5 preferred). */
export async function detectProtocol(o: MqttConnectOptions): Promise<ProtocolVersion> {
  refusePlaintextWithTls(o);
  if (o.protocol !== "auto") return o.protocol;
  const probe = async (version: ProtocolVersion): Promise<boolean> => {
    try {
      const c = await mqtt.connectAsync(o.url, { ...baseOptions(o, version), clientId: `${o.clientIdPrefix}-probe-${process.pid}`, reconnectPeriod: 0, clean: true, connectTimeout: o.connectTimeoutMs ?? 5000 }, false);
      await c.endAsync(true);
      return true;
    } catch (err) {
      // A certificate refused for v5 is refused for 3.1.1 too: say why now.
      const tls = explainTlsError(err, tlsNames(o));
      if (tls) throw new Error(`cannot connect to the MQTT broker: ${tls}`, { cause: err });
      o.logger.debug({ version, err: (err as Error).message }, "mqtt probe refused");
      return false;
    }
  };
  if (await probe(5)) return 5;
  if (await probe(4)) return 4;
  throw new Error(`cannot connect to the MQTT broker at ${redact(o.url)} (neither MQTT 5 nor 3.1.1 accepted): check MQTT_URL, MQTT_USERNAME / MQTT_PASSWORD and that the broker is running`);
}

function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "****";
    return u.toString();
  } catch {
    return "(bad URL)";
  }
}

/**
 * What a connection does with each incoming PUBLISH (mqtt.js's `handleMessage` contract, with the
 * client it arrived on): `done()` acknowledges it (PUBACK), `done(err)` leaves it unacknowledged,
 * in the broker's session, to be delivered again.
 */
export type MessageHandler = (client: MqttClient, packet: IPublishPacket, done: DoneCallback) => void;

/** A persistent session (clean: false; MQTT 5 session expiry) and who handles its messages. */
export interface ConsumerSession {
  /** 0: a clean session (the broker forgets it, and its queue, at disconnect). */
  sessionExpiryS: number;
  handleMessage: MessageHandler;
}

/**
 * Connects a client and waits for the first CONNACK (then mqtt.js reconnects by itself). With a
 * `session`, its handler is installed before the CONNECT is sent, so the first message of a
 * resumed session already reaches it; without, the client takes no messages.
 */
export async function connectClient(o: MqttConnectOptions, version: ProtocolVersion, clientId: string, session: ConsumerSession | null): Promise<MqttClient> {
  const opts: IClientOptions = {
    ...baseOptions(o, version),
    clientId,
    clean: session === null || session.sessionExpiryS === 0,
    ...(version === 5 && session ? { properties: { sessionExpiryInterval: session.sessionExpiryS } } : {}),
    manualConnect: true,
  };
  const client = sendMqttPacketsAtOnce(mqtt.connect(o.url, opts));
  client.handleMessage = session
    ? (packet, done) => session.handleMessage(client, packet, done)
    : (packet, done) => {
        o.logger.warn({ clientId, topic: packet.topic }, "mqtt: a message on a connection that consumes nothing: not acknowledged");
        done(new Error("this connection consumes no messages"));
      };
  // Each distinct error once while mqtt.js reconnects (a bad certificate fails every attempt).
  const errors = new LinkErrorLog(o.logger, tlsNames(o), "mqtt client", { clientId });
  let refusedAtStart: ((err: Error) => void) | undefined;
  client.on("error", (err) => {
    const tls = errors.explain(err);
    if (tls && refusedAtStart) return refusedAtStart(new Error(`cannot connect to the MQTT broker: ${tls}`, { cause: err }));
    errors.report(err, tls);
  });
  client.on("connect", () => errors.reset());
  client.on("offline", () => o.logger.warn({ clientId }, "mqtt client offline (reconnecting)"));
  client.on("reconnect", () => o.logger.debug({ clientId }, "mqtt reconnecting"));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      client.end(true);
      reject(new Error(`MQTT broker at ${redact(o.url)} did not accept the connection within ${opts.connectTimeout} ms`));
    }, (opts.connectTimeout ?? 10_000) + 1000);
    // Refused at start: fail now, without the reconnect loop.
    refusedAtStart = (err) => {
      clearTimeout(timer);
      client.end(true);
      reject(err);
    };
    client.once("connect", () => {
      clearTimeout(timer);
      refusedAtStart = undefined;
      resolve();
    });
    client.connect();
  });
  return client;
}
