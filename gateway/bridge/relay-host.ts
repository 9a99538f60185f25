/**
 * Where the bridge's RelayLink (relay-link.ts) runs: in a worker thread of its own
 * (RelayThread, the default), or in-process (InProcessRelay) where the whole site must share one
 * event loop — the HIL harness's virtual clock moves time only when it sees every part idle, and
 * it cannot see into another thread.
 *
 * Why a thread (relay-worker.ts): on the gateway's single thread, taking in site events (site
 * broker, validation, outbox appends) and relaying them to the cloud (reading the outbox,
 * MQTT.js publishes, the kernel's TCP sends, PUBACKs) shared one core, and the relay was about
 * half of it (docs/gateway.md §8). With the relay on a second thread, a board's frame or a
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
import { RelayLink } from "./relay-link";
import type { FromRelay, RelayMqttOptions, RelayWorkerData, StatusMessage, ToRelay } from "./relay-protocol";

/** What the bridge needs of its relay, wherever it runs. */
export interface RelayHost {
  /** True while the relay connection to the cloud broker is up (its watch subscribed). */
  readonly connected: boolean;
  start(): void;
  /** A retained status for the cloud (already validated and prefixed by the bridge). */
  publishStatus(status: StatusMessage): void;
  /** Stop relaying. graceful: in-flight publishes get a bounded wait and the link a clean DISCONNECT. */
  stop(graceful: boolean): Promise<void>;
}

export interface RelayHostOptions {
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

type StatusPost = Extract<ToRelay, { t: "status" }>;

const WORKER_URL = new URL("./relay-worker-boot.js", import.meta.url);
/** How long stop() waits for the worker to finish in-flight publishes and disconnect. */
const STOP_TIMEOUT_MS = 8000;

export class RelayThread implements RelayHost {
  private worker: Worker | undefined;
  private linkUp = false;
  private stopping = false;
  private restartTimer: NodeJS.Timeout | undefined;
  private unlisten: (() => void) | undefined;
  private onStopped: (() => void) | undefined;
  /** Latest status per cloud topic, handed again to a restarted worker. */
  private readonly statuses = new Map<string, StatusPost>();
  private readonly log: Logger;

  constructor(private readonly opts: RelayHostOptions) {
    this.log = opts.logger.child({ part: "relay" });
  }

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
      this.opts.metrics.relayWindow.set(0);
      if (this.linkUp) this.opts.onLink?.(false);
      this.linkUp = false;
      if (this.stopping) return this.onStopped?.();
      this.log.error({ exit_code: code, outbox_depth: this.opts.outbox.depth }, "relay thread exited: restarting it from the delivery watermark");
      this.restartTimer = setTimeout(() => this.start(), this.opts.restartDelayMs ?? 1000);
      this.restartTimer.unref();
    });
    for (const s of this.statuses.values()) worker.postMessage(s);
  }

  publishStatus(status: StatusMessage): void {
    const m: StatusPost = { t: "status", ...status };
    this.statuses.set(m.topic, m);
    this.post(m);
  }

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
        metrics.relayWindow.set(m.up ? (m.window ?? 0) : 0);
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

/** The RelayLink on the caller's own event loop, over the Outbox itself. */
export class InProcessRelay implements RelayHost {
  private link: RelayLink | undefined;
  private linkUp = false;
  /** Statuses published before start(): the latest per topic. */
  private readonly pending = new Map<string, StatusMessage>();

  constructor(private readonly opts: RelayHostOptions) {}

  get connected(): boolean {
    return this.linkUp;
  }

  start(): void {
    if (this.link) return;
    const { metrics } = this.opts;
    this.link = new RelayLink({
      ...this.opts,
      source: this.opts.outbox,
      logger: this.opts.logger.child({ part: "relay" }),
      onDelivered: (n) => metrics.outboxDelivered.inc(n),
      onDeadLetter: () => metrics.outboxDeadLettered.inc(),
      onForwarded: (topic) => metrics.forwarded.inc({ direction: "site_to_cloud", topic }),
      onLink: (up, window) => {
        this.linkUp = up;
        metrics.relayWindow.set(up ? (window ?? 0) : 0);
        this.opts.onLink?.(up);
      },
    });
    for (const s of this.pending.values()) this.link.publishStatus(s);
    this.pending.clear();
  }

  publishStatus(status: StatusMessage): void {
    if (this.link) this.link.publishStatus(status);
    else this.pending.set(status.topic, status);
  }

  async stop(graceful: boolean): Promise<void> {
    await this.link?.stop(graceful);
  }
}
