/**
 * The relay connection to the cloud broker and everything on it: the OutboxRelay streaming the
 * outbox, the gateway's retained statuses (latest per topic, re-sent after every reconnection)
 * and, in MQTT v5, the watch on the whole site prefix that lets the bridge count forbidden
 * topics. It runs in the relay's worker thread (relay-worker.ts, over an OutboxMirror) or, where
 * the whole site must share one event loop (the HIL harness's virtual clock), in-process over
 * the Outbox itself (relay-host.ts).
 */
import mqtt, { type IClientOptions, type IPublishPacket, type MqttClient } from "mqtt";
import { TOPICS, cachedSpecForTopic, toCloudTopic } from "../../contracts/mqtt-topics";
import type { Logger } from "../../host/log";
import type { OutboxEntry, RelaySource } from "../outbox/outbox";
import { LinkErrorLog } from "../../host/mqtt-tls-errors";
import { cloudTlsNames } from "./cloud-tls";
import { OutboxRelay } from "./relay";
import { noDelay } from "../../host/tcp-nodelay";
import { explainedOnWatch, type RelayMqttOptions, type StatusMessage } from "./relay-protocol";

export interface RelayLinkOptions {
  siteId: string;
  url: string;
  mqtt: RelayMqttOptions;
  /** Upper bound of unacknowledged publishes (further capped by the broker's Receive Maximum). */
  inflight: number;
  source: RelaySource;
  logger: Logger;
  retryDelayMs?: number;
  onDelivered: (n: number) => void;
  onDeadLetter: () => void;
  /** A publish acknowledged by the cloud broker, by contract topic (the forwarded counter's label). */
  onForwarded: (topic: string) => void;
  /** A publish under the site prefix that no allowlist explains (the bridge drops and counts it). */
  onWatch: (topic: string, payload: Buffer) => void;
  /** The link came up (with its watch subscribed; `window`: the in-flight bound it got) or went down. */
  onLink: (up: boolean, window?: number) => void;
}

const delay = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref());

export class RelayLink {
  private readonly client: MqttClient;
  private readonly relay: OutboxRelay;
  /** Latest status per cloud topic (one per lane): re-sent after every reconnection. */
  private readonly statuses = new Map<string, StatusMessage>();
  /** Concrete topic → spec key. */
  private readonly keyOf = cachedSpecForTopic();
  private readonly log: Logger;

  constructor(private readonly o: RelayLinkOptions) {
    this.log = o.logger;
    const v5 = (o.mqtt.protocolVersion ?? 5) === 5;
    // reschedulePings off: MQTT.js would otherwise re-arm its keepalive timer on every packet
    // sent (a few % of the relay's CPU while the outbox drains); a PINGREQ every keepalive costs
    // nothing. Its `debug` trace calls (a dozen per publish) only when DEBUG asks for them.
    const traceMqtt = /mqttjs/.test(process.env.DEBUG ?? "");
    const options: IClientOptions = { ...o.mqtt, reschedulePings: false, ...(traceMqtt ? {} : { log: () => undefined }) };
    const client = mqtt.connect(o.url, options);
    this.client = client;
    this.relay = new OutboxRelay(o.source, (e) => this.publishEntry(e), {
      inflight: o.inflight,
      logger: o.logger,
      retryDelayMs: o.retryDelayMs,
      onDelivered: o.onDelivered,
      onDeadLetter: o.onDeadLetter,
    });
    client.handleMessage = (packet, done) => {
      const p = packet as IPublishPacket;
      if (!explainedOnWatch(o.siteId, p.topic, this.keyOf)) o.onWatch(p.topic, typeof p.payload === "string" ? Buffer.from(p.payload) : p.payload);
      done();
    };
    // Once per distinct error while it reconnects; the main connection names the CA file.
    const linkErrors = new LinkErrorLog(this.log, cloudTlsNames(o.url, o.mqtt), "cloud link (relay connection)");
    client.on("connect", (connack) => {
      linkErrors.reset();
      noDelay(client);
      // Never more in flight than the broker accepts (MQTT v5 Receive Maximum; stock Mosquitto: 20).
      const window = Math.min(o.inflight, connack.properties?.receiveMaximum ?? 65_535);
      if (window < o.inflight) this.log.info({ inflight: o.inflight, receive_maximum: window }, "the cloud broker's Receive Maximum caps the relay's in-flight window");
      // Everything under our own prefix: forbidden topics are then seen, dropped and counted.
      // No Local keeps this connection's own events out; without it (MQTT 3.1.1) it watches
      // nothing. The link is reported up once the watch is in place.
      if (v5) {
        client.subscribe(toCloudTopic(o.siteId, "#"), { qos: 2, nl: true }, (err) => {
          if (err) this.log.error({ err: err.message }, "cloud subscription failed");
          o.onLink(true, window);
        });
      } else o.onLink(true, window);
      this.relay.setWindow(window);
      this.relay.setConnected(true);
      for (const s of this.statuses.values()) this.sendStatus(s);
    });
    client.on("close", () => {
      this.relay.setConnected(false);
      o.onLink(false);
    });
    client.on("error", (err) => linkErrors.report(err));
  }

  /** A retained status (cloud topic): sent now if the link is up, and again after every reconnection. */
  publishStatus(s: StatusMessage): void {
    this.statuses.set(s.topic, s);
    if (this.client.connected) this.sendStatus(s);
  }

  /** Stop publishing; graceful: wait (bounded) for what is in flight, then disconnect cleanly. */
  async stop(graceful: boolean): Promise<void> {
    await this.relay.stop();
    const outstanding = () => Object.keys(this.client.outgoing).length;
    if (graceful) for (let i = 0; i < 40 && outstanding() > 0 && this.client.connected; i++) await delay(50);
    // A clean DISCONNECT only when nothing is left in flight (MQTT.js would wait for it forever);
    // what is still in flight stays in the outbox and is re-sent on the next start.
    const clean = graceful && this.client.connected && outstanding() === 0;
    await Promise.race([new Promise<void>((resolve) => this.client.end(!clean, {}, () => resolve())), delay(3000)]);
  }

  private publishEntry(e: OutboxEntry): Promise<void> {
    const key = this.keyOf(e.topic);
    const spec = key ? TOPICS[key] : undefined;
    const qos = Math.max(1, spec?.qos ?? 1) as 1 | 2;
    return new Promise((resolve, reject) => {
      this.client.publish(toCloudTopic(this.o.siteId, e.topic), e.payload, { qos, retain: spec?.retain ?? false }, (err) => {
        if (err) return reject(err);
        if (spec) this.o.onForwarded(spec.topic);
        resolve();
      });
    });
  }

  private sendStatus(s: StatusMessage): void {
    this.client.publish(s.topic, s.json, { qos: s.qos, retain: s.retain }, (err) => {
      if (err) this.log.warn({ topic: s.topic, err: err.message }, "status not acknowledged by the cloud broker (the next change or reconnection re-sends it)");
      else this.o.onForwarded(s.label);
    });
  }
}
