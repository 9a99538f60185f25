/**
 * Consumers of the site → cloud topics (ARCHITECTURE §3, §4): subscribe under the site prefix
 * (`syspark/+/parking/…`, shared on MQTT v5), validate each payload against the topic map, hand
 * it to the flow handler, and acknowledge only once the handler resolved (its transaction,
 * which also recorded the event id, committed). A payload that breaks the contract is dropped
 * (acknowledged, counted, logged) — it can never succeed. A handler failure that looks
 * transient (database down) is retried with a backoff while the message stays unacknowledged.
 */
import type { MqttClient } from "mqtt";
import { TOPICS, fromCloudTopic, parsePayload, toCloudTopic, type TopicKey } from "../../contracts/mqtt-topics";
import type { Logger } from "../../host/log";

export type SiteEventHandler = (siteId: string, key: TopicKey, payload: unknown) => Promise<string>;

/** The site → cloud topics the cloud acts on. */
export const CONSUMED: readonly TopicKey[] = ["entry", "exitReq", "exitDone", "exitLeft", "sensorError", "barrierAck", "syncReq"];

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

export async function attachConsumer(opts: {
  client: MqttClient;
  version: 4 | 5;
  shareGroup: string;
  handle: SiteEventHandler;
  logger: Logger;
  metrics?: ConsumerMetrics;
  isStopping: () => boolean;
}): Promise<void> {
  const { client, logger } = opts;
  client.handleMessage = (packet, done) => {
    const topic = packet.topic;
    void (async () => {
      const parsedTopic = fromCloudTopic(topic);
      if (!parsedTopic) {
        opts.metrics?.consumed("unknown", "dropped");
        return;
      }
      const parsed = parsePayload(parsedTopic.topic, packet.payload as Buffer);
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
          if (opts.isStopping() || (!transient && attempt >= 3)) {
            logger.error({ site: parsedTopic.siteId, topic: parsedTopic.topic, err: (err as Error).message, attempt }, "site event handler failed: dropped");
            opts.metrics?.consumed(TOPICS[parsed.key].topic, "error");
            if (opts.isStopping()) throw err; // not acknowledged: redelivered to the next instance
            return;
          }
          logger.warn({ site: parsedTopic.siteId, topic: parsedTopic.topic, err: (err as Error).message, attempt }, "site event handler failed: retrying");
          await new Promise((r) => setTimeout(r, Math.min(100 * 2 ** attempt, 5000)));
        }
      }
    })().then(
      () => done(),
      (err: Error) => done(err),
    );
  };
  const filters = CONSUMED.map((k) => subscriptionFilter(k, opts.version, opts.shareGroup));
  const subscribe = async () => {
    const grants = await client.subscribeAsync(Object.fromEntries(filters.map((f) => [f, { qos: 1 as const }])));
    const refused = grants.filter((g) => g.qos === 128);
    if (refused.length) throw new Error(`the broker refused the subscriptions ${refused.map((g) => g.topic).join(", ")}`);
  };
  await subscribe();
  // A clean session loses subscriptions on reconnect: subscribe again.
  client.on("connect", (connack) => {
    if (!connack.sessionPresent) subscribe().catch((err: Error) => logger.error({ err: err.message }, "re-subscribe failed"));
  });
}
