/**
 * The live half of the console (issue 17): one plain (not shared) subscription per cloud
 * instance to the sites' statuses on the cloud broker — lane state, presence, gateway status,
 * heartbeat, alarms, command acknowledgements, weather — handed to the hub as they arrive, so a
 * console sees a lane change within a few milliseconds of the broker. Persistence is the shared
 * consumers' job (cloud/flows/site-status.ts); this connection only looks: a clean session,
 * QoS 0 (a missed live update is repaired by the next one, and a reload reads the database).
 */
import type { MqttClient } from "mqtt";
import { fromCloudTopic, parsePayload, TOPICS, type TopicKey } from "../../contracts/mqtt-topics";
import type { Logger } from "../../host/log";
import { connectClient, type MqttConnectOptions, type ProtocolVersion } from "../mqtt/client";
import type { LiveEvent, LiveHub } from "./hub";

const WATCHED = ["laneState", "present", "gatewayStatus", "heartbeat", "sensorError", "barrierAck", "meteo"] as const;

function filterFor(key: string): string | undefined {
  const spec = (TOPICS as Record<string, { topic: string }>)[key];
  return spec ? `syspark/+/${spec.topic}` : undefined;
}

/** A parsed site message as a live event (undefined for what the console does not show). */
export function liveEventOf(siteId: string, key: TopicKey | string, p: Record<string, unknown>): LiveEvent | undefined {
  const laneId = typeof p.lane_id === "string" ? p.lane_id : "";
  switch (key) {
    case "laneState":
      return { type: "lane", siteId, laneId, data: p };
    case "present":
      return { type: "presence", siteId, laneId, data: { present: p.present === true, ts: Number(p.ts) } };
    case "gatewayStatus":
    case "heartbeat":
      return { type: "gateway", siteId, data: { ...p, kind: key } };
    case "sensorError":
      return { type: "alarm", siteId, laneId, data: p };
    case "barrierAck":
      return { type: "ack", siteId, laneId, data: p };
    case "meteo":
      return { type: "meteo", siteId, data: p };
    default:
      return undefined;
  }
}

export class SiteWatch {
  private client: MqttClient | undefined;

  constructor(private readonly o: { mqtt: MqttConnectOptions; version: ProtocolVersion; clientId: string; hub: LiveHub; logger: Logger }) {}

  async start(): Promise<void> {
    const { hub, logger } = this.o;
    this.client = await connectClient(this.o.mqtt, this.o.version, this.o.clientId, {
      sessionExpiryS: 0,
      handleMessage: (_client, packet, done) => {
        try {
          const t = fromCloudTopic(packet.topic);
          const parsed = t ? parsePayload(t.topic, packet.payload as Buffer) : undefined;
          if (t && parsed?.ok) {
            const e = liveEventOf(t.siteId, parsed.key, parsed.payload as Record<string, unknown>);
            if (e) {
              hub.receivedAt.set(e, Date.now());
              hub.publish(e);
            }
          }
        } catch (err) {
          logger.warn({ err: (err as Error).message, topic: packet.topic }, "console watch: message not shown");
        }
        done();
      },
    });
    const filters = WATCHED.map(filterFor).filter((f): f is string => f !== undefined);
    await this.client.subscribeAsync(Object.fromEntries(filters.map((f) => [f, { qos: 0 as const }])));
    // A broker that lost the session (restart) comes back without the subscriptions.
    this.client.on("connect", (connack) => {
      if (!connack.sessionPresent) this.client?.subscribeAsync(Object.fromEntries(filters.map((f) => [f, { qos: 0 as const }]))).catch((err: Error) => logger.warn({ err: err.message }, "console watch: re-subscribe failed"));
    });
  }

  async stop(): Promise<void> {
    await this.client?.endAsync(true);
    this.client = undefined;
  }
}
