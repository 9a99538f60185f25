/**
 * The relay's thread (started by relay-thread.ts through relay-worker-boot.js): the relay
 * connection to the cloud broker, the OutboxRelay streaming the outbox's files to it, the
 * gateway's retained statuses, and the watch on the site prefix. It reads the outbox through an
 * OutboxMirror and never writes to it: delivery watermarks go back to the main thread.
 */
import { parentPort, workerData } from "node:worker_threads";
import mqtt, { type IClientOptions, type IPublishPacket } from "mqtt";
import pino from "pino";
import { TOPICS, specForTopic, toCloudTopic, type TopicKey } from "../../contracts/mqtt-topics";
import type { OutboxEntry } from "../outbox/outbox";
import { OutboxMirror } from "../outbox/outbox-mirror";
import { OutboxRelay } from "./relay";
import { explainedOnWatch, noDelay, type FromRelay, type LogLevel, type RelayWorkerData, type ToRelay } from "./relay-protocol";

const port = parentPort;
if (!port) throw new Error("relay-worker.ts runs as a worker thread (see relay-thread.ts)");
const data = workerData as RelayWorkerData;
const post = (m: FromRelay) => port.postMessage(m);

// Log calls go to the main thread's logger (its level is applied here first: nothing is posted
// for a debug line the main logger would drop).
const log = pino({
  level: data.logLevel,
  hooks: {
    logMethod(args, _method, level) {
      const [first, second] = args as unknown[];
      const obj = typeof first === "object" && first !== null ? (first as Record<string, unknown>) : {};
      const msg = typeof first === "string" ? first : typeof second === "string" ? second : "";
      post({ t: "log", level: pino.levels.labels[level] as LogLevel, obj, msg });
    },
  },
});

/** Concrete topic → spec key (topics repeat). Bounded. */
const keyCache = new Map<string, TopicKey | undefined>();
function keyOf(topic: string): TopicKey | undefined {
  if (keyCache.has(topic)) return keyCache.get(topic);
  const key = specForTopic(topic);
  if (keyCache.size < 4096) keyCache.set(topic, key);
  return key;
}

// ---- progress back to the main thread, at most one message per PROGRESS_MS ----
// Each message wakes the main thread; per PUBACK that would be thousands a second while the
// outbox drains. The watermark may lag by that much: a crash then means a few more re-sends.
const PROGRESS_MS = 10;

let doneSeq: number | undefined;
let delivered = 0;
let deadLettered = 0;
const forwarded = new Map<string, number>();
let flushScheduled = false;
function flushSoon(): void {
  if (flushScheduled) return;
  flushScheduled = true;
  setTimeout(flush, PROGRESS_MS);
}
function flush(): void {
  flushScheduled = false;
  if (doneSeq === undefined && delivered === 0 && deadLettered === 0 && forwarded.size === 0) return;
  post({ t: "progress", doneSeq, delivered, deadLettered, forwarded: [...forwarded] });
  doneSeq = undefined;
  delivered = deadLettered = 0;
  forwarded.clear();
}
function countForwarded(label: string): void {
  forwarded.set(label, (forwarded.get(label) ?? 0) + 1);
  flushSoon();
}

// ---- the relay connection ----

const v5 = (data.mqtt.protocolVersion ?? 5) === 5;
const tlsBuffer = (v: unknown) => (v instanceof Uint8Array ? Buffer.from(v) : v); // structured clone turns Buffers into Uint8Arrays
// reschedulePings off: MQTT.js would otherwise re-arm its keepalive timer on every packet sent
// (a few % of this thread while the outbox drains); a PINGREQ every keepalive costs nothing.
const options = { ...data.mqtt, reschedulePings: false, ca: tlsBuffer(data.mqtt.ca), cert: tlsBuffer(data.mqtt.cert), key: tlsBuffer(data.mqtt.key) } as IClientOptions;
const client = mqtt.connect(data.url, options);

const mirror = new OutboxMirror(
  data.layout,
  (seq) => {
    doneSeq = seq;
    flushSoon();
  },
  log,
);

function publishEntry(e: OutboxEntry): Promise<void> {
  const key = keyOf(e.topic);
  const spec = key ? TOPICS[key] : undefined;
  const qos = Math.max(1, spec?.qos ?? 1) as 1 | 2;
  return new Promise((resolve, reject) => {
    client.publish(
      toCloudTopic(data.siteId, e.topic),
      e.payload,
      { qos, retain: spec?.retain ?? false },
      (err) => {
        if (err) return reject(err);
        if (spec) countForwarded(spec.topic);
        resolve();
      },
    );
  });
}

const relay = new OutboxRelay(mirror, publishEntry, {
  inflight: data.inflight,
  logger: log,
  retryDelayMs: data.retryDelayMs,
  onDelivered: (n) => {
    delivered += n;
    flushSoon();
  },
  onDeadLetter: () => {
    deadLettered++;
    flushSoon();
  },
});

/** Latest status per cloud topic (one per lane): re-sent after every reconnection. */
const statuses = new Map<string, Extract<ToRelay, { t: "status" }>>();
function sendStatus(s: Extract<ToRelay, { t: "status" }>): void {
  client.publish(s.topic, s.json, { qos: s.qos, retain: s.retain }, (err) => {
    if (err) log.warn({ topic: s.topic, err: err.message }, "status not acknowledged by the cloud broker (the next change or reconnection re-sends it)");
    else countForwarded(s.label);
  });
}

client.handleMessage = (packet, done) => {
  const p = packet as IPublishPacket;
  if (!explainedOnWatch(data.siteId, p.topic, keyOf)) {
    const payload = typeof p.payload === "string" ? Buffer.from(p.payload) : p.payload;
    post({ t: "watch", topic: p.topic, payload });
  }
  done();
};
client.on("connect", (connack) => {
  noDelay(client);
  // Everything under our own prefix: forbidden topics are then seen, dropped and counted.
  // No Local keeps this connection's own events out; without it (MQTT 3.1.1) it watches nothing.
  // The link is reported up once the watch is in place (at once without one).
  if (v5) {
    client.subscribe(toCloudTopic(data.siteId, "#"), { qos: 2, nl: true }, (err) => {
      if (err) log.error({ err: err.message }, "cloud subscription failed");
      post({ t: "link", up: true });
    });
  } else post({ t: "link", up: true });
  // Never more in flight than the broker accepts (MQTT v5 Receive Maximum; Mosquitto: 20).
  relay.setWindow(Math.min(data.inflight, connack.properties?.receiveMaximum ?? 65_535));
  relay.setConnected(true);
  for (const s of statuses.values()) sendStatus(s);
});
client.on("close", () => {
  relay.setConnected(false);
  post({ t: "link", up: false });
});
client.on("error", (err) => log.warn({ err: err.message }, "cloud link (relay connection) error"));

const delay = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref());
const outstanding = () => Object.keys(client.outgoing).length;

async function stop(graceful: boolean): Promise<void> {
  await relay.stop();
  if (graceful) for (let i = 0; i < 40 && outstanding() > 0 && client.connected; i++) await delay(50);
  // A clean DISCONNECT only when nothing is left in flight (MQTT.js would wait for it forever);
  // what is still in flight stays in the outbox and is re-sent on the next start.
  const clean = graceful && client.connected && outstanding() === 0;
  await Promise.race([new Promise<void>((resolve) => client.end(!clean, {}, () => resolve())), delay(3000)]);
  flush();
  post({ t: "stopped" });
}

port.on("message", (m: ToRelay) => {
  switch (m.t) {
    case "layout":
      mirror.update(m.layout);
      break;
    case "status":
      statuses.set(m.topic, m);
      if (client.connected) sendStatus(m);
      break;
    case "stop":
      void stop(m.graceful);
      break;
  }
});
