/**
 * Bridge and outbox counters (prom-client). Each gateway gets its own Registry by default so
 * several bridges (tests, benchmarks) never collide on metric names; the CLI exposes it.
 */
import { Counter, Gauge, Registry } from "prom-client";

export type BridgeDirection = "site_to_cloud" | "cloud_to_site";
export type DropReason =
  | "not_allowlisted" // not in this direction's allowlist (unknown topic, site-local topic, other prefix)
  | "wrong_direction" // an allowlisted topic of the other direction (ownership: never re-forwarded)
  | "foreign_site" // another site's prefix
  | "owned_by_bridge" // parking/gateway/status: only the bridge itself publishes it
  | "invalid_payload" // breaks the contract schema
  | "too_large"
  | "offline_qos0"; // QoS 0 (heartbeat) while the cloud link is down: not queued by design

export class BridgeMetrics {
  readonly registry: Registry;
  readonly forwarded: Counter<"direction" | "topic">;
  readonly dropped: Counter<"direction" | "reason">;
  readonly outboxAppended: Counter;
  readonly outboxDelivered: Counter;
  readonly outboxDeadLettered: Counter;
  readonly cloudConnected: Gauge;
  readonly relayWindow: Gauge;
  readonly outboxDepth: Gauge;
  /** Set by the bridge: the current outbox depth, read at scrape time. */
  depthSource: () => number = () => 0;

  constructor(registry: Registry = new Registry()) {
    this.registry = registry;
    const registers = [registry];
    this.forwarded = new Counter({ name: "syspark_bridge_forwarded_total", help: "Messages forwarded by the bridge", labelNames: ["direction", "topic"], registers });
    this.dropped = new Counter({ name: "syspark_bridge_dropped_total", help: "Messages dropped by the bridge, by reason", labelNames: ["direction", "reason"], registers });
    this.outboxAppended = new Counter({ name: "syspark_outbox_appended_total", help: "Events durably appended to the outbox", registers });
    this.outboxDelivered = new Counter({ name: "syspark_outbox_delivered_total", help: "Outbox events acknowledged by the cloud broker", registers });
    this.outboxDeadLettered = new Counter({ name: "syspark_outbox_dead_lettered_total", help: "Outbox events the cloud broker refused permanently (logged, not retried)", registers });
    this.cloudConnected = new Gauge({ name: "syspark_bridge_cloud_connected", help: "1 while the cloud broker link is up", registers });
    this.relayWindow = new Gauge({
      name: "syspark_bridge_relay_window",
      help: "Outbox publishes the relay may have unacknowledged: bridge.inflight capped by the cloud broker's MQTT v5 Receive Maximum (0 while the relay link is down)",
      registers,
    });
    const depth = () => this.depthSource();
    this.outboxDepth = new Gauge({
      name: "syspark_outbox_depth",
      help: "Events waiting in the outbox",
      registers,
      collect() {
        this.set(depth());
      },
    });
  }

  drop(direction: BridgeDirection, reason: DropReason): void {
    this.dropped.inc({ direction, reason });
  }

  /** Current value of a counter for some labels (tests, benchmarks, status output). */
  static async value(metric: Counter<string> | Gauge<string>, labels: Record<string, string> = {}): Promise<number> {
    const { values } = await metric.get();
    return values.filter((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l)).reduce((a, v) => a + v.value, 0);
  }
}
