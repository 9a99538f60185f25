/**
 * Consumers of the site → cloud topics (ARCHITECTURE §3, §4): subscribe under the site prefix
 * (`syspark/+/parking/…`, shared on MQTT v5), validate each payload against the topic map, hand
 * it to the flow handler, and acknowledge only once the handler resolved (its transaction,
 * which also recorded the event id, committed). A payload that breaks the contract is dropped
 * (acknowledged, counted, logged) — it can never succeed. A handler failure that looks
 * transient (database down) is retried with a backoff while the message stays unacknowledged.
 *
 * Nothing is acknowledged unprocessed, at any point of a connection's life:
 * - start: the handler goes in with the CONNECT (connectClient), so the queue a resumed session
 *   delivers right after the CONNACK is processed, not dropped by mqtt.js's default handler;
 * - reconnect: the same handler stays on the client, and the subscriptions are made again (a
 *   peer may have drained this session while it thought the instance gone: ./session-drain.ts);
 *   a message whose connection was lost while it was processed is not acknowledged on the next
 *   one (a PUBACK there would carry a packet id the broker may have given to another message):
 *   the broker delivers it again, and its event id makes the second delivery act as a duplicate;
 * - stop: messages that arrive once stop() began are refused (not acknowledged: they stay in
 *   the broker session for the next instance); the one in flight finishes and is acknowledged
 *   before the connection closes.
 */
import type { ISubscriptionMap, MqttClient } from "mqtt";
import { TOPICS, fromCloudTopic, parsePayload, toCloudTopic, type TopicKey } from "../../contracts/mqtt-topics";
import type { Logger } from "../../host/log";
import type { MessageHandler } from "./client";

export type SiteEventHandler = (siteId: string, key: TopicKey, payload: unknown) => Promise<string>;

/** The site → cloud topics the cloud acts on, and the statuses it keeps as last-known state (issue 17). */
export const CONSUMED: readonly TopicKey[] = ["entry", "entryReq", "exitReq", "exitLost", "exitValidation", "exitDone", "exitLeft", "sensorError", "barrierAck", "syncReq", "laneState", "present", "gatewayStatus", "heartbeat"];

export interface ConsumerMetrics {
  consumed(topic: string, outcome: string, seconds?: number): void;
}

/** `syspark/+/parking/…` (the `+` is the site id), shared on v5. */
export function subscriptionFilter(key: TopicKey, version: 4 | 5, shareGroup: string): string {
  const filter = toCloudTopic("x", TOPICS[key].topic).replace(/^syspark\/x\//, "syspark/+/");
  return version === 5 ? `$share/${shareGroup}/${filter}` : filter;
}

export function isTransient(err: unknown): boolean {
  const e = err as { code?: string; name?: string; message?: string };
  if (e?.name === "DatabaseConnectionError" || e?.name === "PoolInsideTransactionError") return e.name === "DatabaseConnectionError";
  const code = e?.code ?? "";
  return /^(ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|CONNECTION_|57P0|08|40001|40P01|53)/.test(code);
}

export interface SiteEventConsumer {
  readonly client: MqttClient;
  /** Refuses new messages, lets the one in flight finish (and be acknowledged), disconnects. */
  stop(): Promise<void>;
}

export interface ConsumerOptions extends ConsumingOptions {
  /**
   * Opens the connection with `handleMessage` installed before its CONNECT (connectClient with
   * a session), and resolves at its first CONNACK.
   */
  connect: (handleMessage: MessageHandler) => Promise<MqttClient>;
  version: 4 | 5;
  shareGroup: string;
}

/** What a consuming connection needs to act on a message (a live consumer's, or a drain's). */
export interface ConsumingOptions {
  handle: SiteEventHandler;
  logger: Logger;
  metrics?: ConsumerMetrics;
}

/** The message side of a consuming connection: validate, handle (retrying the transient), acknowledge after commit. */
export interface Consuming {
  handleMessage: MessageHandler;
  /** Messages being processed now. */
  readonly inFlight: Set<Promise<unknown>>;
  /** performance.now() of the last message that arrived (0: none yet). */
  readonly lastArrival: number;
  /** From now on a message is refused (left in the broker); the ones in flight finish. */
  stop(): void;
}

export function consuming(opts: ConsumingOptions): Consuming {
  const { logger } = opts;
  let stopping = false;
  let lastArrival = 0;
  const inFlight = new Set<Promise<unknown>>();
  /** The effect of one message; resolves once it is recorded (or can never be), rejects to leave it unacknowledged. */
  const consume = async (topic: string, payload: Buffer): Promise<void> => {
    const parsedTopic = fromCloudTopic(topic);
    if (!parsedTopic) {
      opts.metrics?.consumed("unknown", "dropped");
      return;
    }
    const parsed = parsePayload(parsedTopic.topic, payload);
    if (!parsed.ok) {
      logger.warn({ site: parsedTopic.siteId, topic: parsedTopic.topic, err: parsed.error }, "site event dropped: payload breaks the contract");
      opts.metrics?.consumed(parsedTopic.topic, "invalid");
      return;
    }
    const started = performance.now();
    for (let attempt = 1; ; attempt++) {
      try {
        const outcome = await opts.handle(parsedTopic.siteId, parsed.key, parsed.payload);
        opts.metrics?.consumed(TOPICS[parsed.key].topic, outcome, (performance.now() - started) / 1000);
        return;
      } catch (err) {
        const transient = isTransient(err);
        if (stopping) {
          logger.warn({ site: parsedTopic.siteId, topic: parsedTopic.topic, err: (err as Error).message, attempt }, "site event handler failed while stopping: left in the broker for the next instance");
          throw err;
        }
        if (!transient && attempt >= 3) {
          logger.error({ site: parsedTopic.siteId, topic: parsedTopic.topic, err: (err as Error).message, attempt }, "site event handler failed: dropped");
          opts.metrics?.consumed(TOPICS[parsed.key].topic, "error");
          return;
        }
        logger.warn({ site: parsedTopic.siteId, topic: parsedTopic.topic, err: (err as Error).message, attempt }, "site event handler failed: retrying");
        await new Promise((r) => setTimeout(r, Math.min(100 * 2 ** attempt, 5000)));
      }
    }
  };

  // mqtt.js calls this one message at a time per connection (the next after done()).
  const handleMessage: MessageHandler = (client, packet, done) => {
    lastArrival = performance.now();
    if (stopping) {
      done(new Error("consumer stopping: left in the broker for the next instance"));
      return;
    }
    const stream = client.stream;
    const work = consume(packet.topic, packet.payload as Buffer);
    inFlight.add(work);
    work.then(
      () => {
        inFlight.delete(work);
        if (client.stream === stream && client.connected) return done();
        logger.warn({ topic: packet.topic, messageId: packet.messageId }, "site event processed after its connection was lost: not acknowledged (the broker delivers it again; its event id makes that a duplicate)");
        done(new Error("connection lost while the message was processed"));
      },
      (err: Error) => {
        inFlight.delete(work);
        done(err);
      },
    );
  };

  return {
    handleMessage,
    inFlight,
    get lastArrival() {
      return lastArrival;
    },
    stop() {
      stopping = true;
    },
  };
}

/** The client id of an instance's i-th consumer connection (its persistent session's name). */
export function consumerClientId(instanceId: string, i: number): string {
  return `syspark-${instanceId}-c${i}`.slice(0, 64);
}

/** The SUBSCRIBE filters of a consumer: every consumed topic, shared on v5. */
export function consumerFilters(version: 4 | 5, shareGroup: string): string[] {
  return CONSUMED.map((k) => subscriptionFilter(k, version, shareGroup));
}

/** Connects one consumer connection, subscribes it, and consumes until stop(). */
export async function startConsumer(opts: ConsumerOptions): Promise<SiteEventConsumer> {
  const { logger } = opts;
  const c = consuming(opts);
  const client = await opts.connect(c.handleMessage);
  const filters = consumerFilters(opts.version, opts.shareGroup);
  /**
   * `again` (a reconnect): `resubscribe` makes mqtt.js send the SUBSCRIBE although it recorded these
   * filters as subscribed already (it would skip them, and a drained session would stay deaf); on
   * v5, retain handling 1: a subscription that still exists is not sent the retained messages again.
   */
  const subscribe = async (again: boolean) => {
    const map: ISubscriptionMap = Object.fromEntries(filters.map((f) => [f, { qos: 1 as const, ...(again && opts.version === 5 ? { rh: 1 } : {}) }]));
    if (again) map.resubscribe = true;
    const grants = await client.subscribeAsync(map);
    const refused = grants.filter((g) => g.qos === 128);
    if (refused.length) throw new Error(`the broker refused the subscriptions ${refused.map((g) => g.topic).join(", ")}`);
  };
  try {
    await subscribe(false);
  } catch (err) {
    await client.endAsync(true);
    throw err;
  }
  // Subscribe again on every reconnect: a session the broker no longer has (expired, broker
  // restarted without persistence) comes back without subscriptions, and so does one a peer
  // drained and unsubscribed while it thought this instance dead (./session-drain.ts).
  client.on("connect", () => {
    subscribe(true).catch((err: Error) => logger.error({ err: err.message }, "re-subscribe failed"));
  });
  let stopped: Promise<void> | undefined;
  return {
    client,
    stop() {
      c.stop();
      stopped ??= Promise.allSettled([...c.inFlight]).then(() => client.endAsync());
      return stopped;
    },
  };
}
