/**
 * What the bridge (main thread) and the relay's worker thread say to each other (see
 * relay-host.ts for why the relay has a thread of its own). Everything here is structured-
 * clone data: the worker shares no object with the main thread, only the outbox's files.
 */
import type { IClientOptions } from "mqtt";
import { allowlist, fromCloudTopic, type TopicKey } from "../../contracts/mqtt-topics";
import type { OutboxLayout } from "../outbox/outbox";

/** MQTT options of the relay connection (no last will: that belongs to the main connection). */
export type RelayMqttOptions = Pick<
  IClientOptions,
  "clientId" | "protocolVersion" | "clean" | "properties" | "keepalive" | "reconnectPeriod" | "connectTimeout" | "username" | "password" | "resubscribe" | "ca" | "cert" | "key" | "rejectUnauthorized" | "servername"
>;

export interface RelayWorkerData {
  siteId: string;
  url: string;
  mqtt: RelayMqttOptions;
  /** Upper bound of unacknowledged publishes (further capped by the broker's Receive Maximum). */
  inflight: number;
  /** The main logger's level: the worker drops what would not be logged anyway. */
  logLevel: string;
  layout: OutboxLayout;
  retryDelayMs?: number;
}

export type LogLevel = "trace" | "debug" | "info" | "warn" | "error" | "fatal";

/** One of the gateway's retained statuses, validated and prefixed by the bridge. */
export interface StatusMessage {
  /** Cloud topic (`syspark/<site>/parking/…`). */
  topic: string;
  json: string;
  qos: 1 | 2;
  retain: boolean;
  /** The contract topic, for the forwarded counter. */
  label: string;
}

/** Main → worker. */
export type ToRelay =
  /** The outbox after a durable batch (new records to read), a rotation or a compaction. */
  | { t: "layout"; layout: OutboxLayout }
  /** A retained status (cloud topic): sent now if the link is up, and again after every reconnection. */
  | ({ t: "status" } & StatusMessage)
  /** Stop publishing; graceful: wait (bounded) for what is in flight, then disconnect cleanly. */
  | { t: "stop"; graceful: boolean };

/** Worker → main. */
export type FromRelay =
  /** Delivery progress since the last message: new watermark (every seq ≤ doneSeq PUBACKed) and counters. */
  | { t: "progress"; doneSeq: number | undefined; delivered: number; deadLettered: number; forwarded: [label: string, count: number][] }
  | { t: "log"; level: LogLevel; obj: Record<string, unknown>; msg: string }
  /** The relay link came up (window: its in-flight bound, bridge.inflight capped by the broker's Receive Maximum) or went down. */
  | { t: "link"; up: boolean; window?: number }
  /** A publish under the site prefix that no allowlist explains: the bridge counts and drops it. */
  | { t: "watch"; topic: string; payload: Uint8Array }
  | { t: "stopped" };

/** Client id of the relay connection: the configured one with a suffix. */
export function relayClientId(clientId: string): string {
  return `${clientId}-relay`;
}

/** Published on the main cloud connection (not the relay one): seen back by the relay connection's watch. */
const MAIN_PUBLISHES: ReadonlySet<TopicKey> = new Set<TopicKey>(["gatewayStatus", "syncReq", "heartbeat"]);
const INBOUND: ReadonlySet<TopicKey> = new Set(allowlist("cloud_to_site"));

/**
 * The relay connection watches the whole site prefix (`syspark/<site>/#`, No Local). What it
 * sees there is explained when it is a cloud → site topic (the main connection receives and
 * forwards it) or one the main connection publishes itself; anything else is forbidden and goes
 * to the bridge to be dropped and counted.
 */
export function explainedOnWatch(siteId: string, cloudTopic: string, keyOf: (topic: string) => TopicKey | undefined): boolean {
  const m = fromCloudTopic(cloudTopic);
  const key = m && m.siteId === siteId ? keyOf(m.topic) : undefined;
  return key !== undefined && (INBOUND.has(key) || MAIN_PUBLISHES.has(key));
}
