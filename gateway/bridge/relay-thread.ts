/**
 * The outbox relay in a worker thread of its own (relay-worker.ts), driven from the bridge.
 *
 * Why a thread: on the gateway's single thread, taking in site events (site broker, validation,
 * outbox appends) and relaying them to the cloud (reading the outbox, MQTT.js publishes, the
 * kernel's TCP sends, PUBACKs) shared one core, and the relay half was more than half of it
 * (profile in docs/gateway.md §8). With the relay on a second thread, a board's frame or a
 * payment success no longer waits behind a burst of cloud publishes, and ingestion and relay
 * use both cores of the gateway box.
 *
 * Only the main thread writes to the outbox: after every durable batch it posts the layout
 * (segment files and their durable sizes); the worker reads the files through an OutboxMirror
 * and posts delivery watermarks back, which the main thread records (Outbox.markDone). If the
 * worker dies it is started again from the last recorded watermark (re-sends: consumers
 * de-duplicate by event id).
 */
import { Worker } from "node:worker_threads";
import type { Logger } from "../../host/log";
import type { Outbox } from "../outbox/outbox";
import type { BridgeMetrics } from "./metrics";
import type { FromRelay, RelayMqttOptions, RelayWorkerData, ToRelay } from "./relay-protocol";

export interface RelayThreadOptions {
  siteId: string;
  url: string;
  mqtt: RelayMqttOptions;
  inflight: number;
  outbox: Outbox;
  metrics: BridgeMetrics;
  logger: Logger;
  /** A forbidden publish seen under the site prefix (the bridge drops and counts it). */
  onWatch: (topic: string, payload: Buffer) => void;
  /** The relay connection came up (its watch subscribed) or went down. */
  onLink?: (up: boolean) => void;
  /** Wait before starting a worker that died again (ms, default 1000). */
  restartDelayMs?: number;
  retryDelayMs?: number;
}

type StatusMessage = Extract<ToRelay, { t: "status" }>;

const WORKER_URL = new URL("./relay-worker-boot.js", import.meta.url);
/** How long stop() waits for the worker to finish in-flight publishes and disconnect. */
const STOP_TIMEOUT_MS = 8000;

export class RelayThread {
  private worker: Worker | undefined;
  private linkUp = false;
  private stopping = false;
  private restartTimer: NodeJS.Timeout | undefined;
  private unlisten: (() => void) | undefined;
  private onStopped: (() => void) | undefined;
  /** Latest status per cloud topic, handed again to a restarted worker. */
  private readonly statuses = new Map<string, StatusMessage>();
  private readonly log: Logger;

  constructor(private readonly opts: RelayThreadOptions) {
    this.log = opts.logger.child({ part: "relay" });
  }

  /** True while the relay connection to the cloud broker is up. */
  get connected(): boolean {
    return this.linkUp;
  }

  start(): void {
    if (this.worker || this.stopping) return;
    this.unlisten ??= this.opts.outbox.onDurable(() => this.post({ t: "layout", layout: this.opts.outbox.layout() }));
    const data: RelayWorkerData = {
      siteId: this.opts.siteId,
      url: this.opts.url,
      mqtt: this.opts.mqtt,
      inflight: this.opts.inflight,
      logLevel: this.log.level,
      layout: this.opts.outbox.layout(),
      retryDelayMs: this.opts.retryDelayMs,
    };
    const worker = new Worker(WORKER_URL, { workerData: data, name: `syspark-relay-${this.opts.siteId}` });
    this.worker = worker;
    worker.on("message", (m: FromRelay) => this.onMessage(m));
    worker.on("error", (err) => this.log.error({ err: err.message }, "relay thread failed"));
    worker.on("exit", (code) => {
      this.worker = undefined;
      if (this.linkUp) this.opts.onLink?.(false);
      this.linkUp = false;
      if (this.stopping) return this.onStopped?.();
      this.log.error({ exit_code: code, outbox_depth: this.opts.outbox.depth }, "relay thread exited: restarting it from the delivery watermark");
      this.restartTimer = setTimeout(() => this.start(), this.opts.restartDelayMs ?? 1000);
      this.restartTimer.unref();
    });
    for (const s of this.statuses.values()) worker.postMessage(s);
  }

  /** A retained status for the cloud (already validated and prefixed by the bridge). */
  publishStatus(status: Omit<StatusMessage, "t">): void {
    const m: StatusMessage = { t: "status", ...status };
    this.statuses.set(m.topic, m);
    this.post(m);
  }

  /** Stop relaying. graceful: in-flight publishes get a bounded wait and the link a clean DISCONNECT. */
  async stop(graceful: boolean): Promise<void> {
    this.stopping = true;
    clearTimeout(this.restartTimer);
    this.unlisten?.();
    const worker = this.worker;
    if (!worker) return;
    const stopped = new Promise<void>((resolve) => (this.onStopped = resolve));
    worker.postMessage({ t: "stop", graceful } satisfies ToRelay);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([stopped, new Promise<void>((r) => (timer = setTimeout(r, STOP_TIMEOUT_MS)))]);
    clearTimeout(timer);
    await worker.terminate();
  }

  private post(m: ToRelay): void {
    this.worker?.postMessage(m);
  }

  private onMessage(m: FromRelay): void {
    const { outbox, metrics } = this.opts;
    switch (m.t) {
      case "progress":
        // After close the outbox takes nothing more; what was in flight is re-sent on the next start.
        if (m.doneSeq !== undefined && !outbox.isClosed) outbox.markDone(m.doneSeq);
        if (m.delivered > 0) metrics.outboxDelivered.inc(m.delivered);
        if (m.deadLettered > 0) metrics.outboxDeadLettered.inc(m.deadLettered);
        for (const [topic, n] of m.forwarded) metrics.forwarded.inc({ direction: "site_to_cloud", topic }, n);
        break;
      case "log":
        this.log[m.level](m.obj, m.msg);
        break;
      case "link":
        this.linkUp = m.up;
        this.opts.onLink?.(m.up);
        break;
      case "watch":
        this.opts.onWatch(m.topic, Buffer.from(m.payload.buffer, m.payload.byteOffset, m.payload.byteLength));
        break;
      case "stopped":
        this.onStopped?.();
        break;
    }
  }
}
