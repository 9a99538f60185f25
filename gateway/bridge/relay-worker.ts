/**
 * The relay's worker thread (started by RelayThread, relay-host.ts, through
 * relay-worker-boot.js): a RelayLink over an OutboxMirror. It reads the outbox's files and never
 * writes them: delivery watermarks, counters and log lines go back to the main thread.
 */
import { parentPort, workerData } from "node:worker_threads";
import pino from "pino";
import { OutboxMirror } from "../outbox/outbox-mirror";
import { RelayLink } from "./relay-link";
import type { FromRelay, LogLevel, RelayWorkerData, ToRelay } from "./relay-protocol";

const port = parentPort;
if (!port) throw new Error("relay-worker.ts runs as a worker thread (see relay-host.ts)");
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

const mirror = new OutboxMirror(
  data.layout,
  (seq) => {
    doneSeq = seq;
    flushSoon();
  },
  log,
);

// Structured clone turns the TLS Buffers into Uint8Arrays.
const asBuffer = <T,>(v: T) => (v instanceof Uint8Array ? Buffer.from(v) : v);
const link = new RelayLink({
  siteId: data.siteId,
  url: data.url,
  mqtt: { ...data.mqtt, ca: asBuffer(data.mqtt.ca), cert: asBuffer(data.mqtt.cert), key: asBuffer(data.mqtt.key) },
  inflight: data.inflight,
  source: mirror,
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
  onForwarded: (topic) => {
    forwarded.set(topic, (forwarded.get(topic) ?? 0) + 1);
    flushSoon();
  },
  onWatch: (topic, payload) => post({ t: "watch", topic, payload }),
  onLink: (up, window) => post({ t: "link", up, window }),
});

port.on("message", (m: ToRelay) => {
  switch (m.t) {
    case "layout":
      mirror.update(m.layout);
      break;
    case "status":
      link.publishStatus(m);
      break;
    case "stop":
      void link.stop(m.graceful).then(() => {
        flush();
        post({ t: "stopped" });
      });
      break;
  }
});
