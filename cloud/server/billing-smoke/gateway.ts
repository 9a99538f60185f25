/**
 * The billing smoke test's stand-in for a site gateway: it speaks the site's side of the MQTT
 * contract (contracts/mqtt-topics.ts) to the throwaway cloud — publishes entry / exit requests,
 * and keeps what the cloud publishes for the site so that a step can wait for one message.
 */
import { randomBytes } from "node:crypto";
import mqtt, { type MqttClient } from "mqtt";
import { TOPICS, encodePayload, toCloudTopic, type Payload, type TopicKey } from "../../../contracts/mqtt-topics";

export interface SiteMessage {
  key: TopicKey;
  payload: Record<string, unknown>;
}

type Waiter = { match: (m: SiteMessage) => boolean; resolve: (m: SiteMessage) => void };

/** Only what the cloud sends a site: the smoke waits for some of these. */
const LISTENED: TopicKey[] = ["paymentReq", "paymentSuccess", "paymentFailed", "displayText"];

export class SmokeGateway {
  private readonly received: SiteMessage[] = [];
  private waiters: Waiter[] = [];
  private constructor(
    private readonly client: MqttClient,
    readonly siteId: string,
  ) {}

  static async connect(url: string, siteId: string): Promise<SmokeGateway> {
    const client = await mqtt.connectAsync(url, { clientId: `smoke-${siteId}-${randomBytes(4).toString("hex")}`, reconnectPeriod: 0, connectTimeout: 5000, protocolVersion: 4 });
    const g = new SmokeGateway(client, siteId);
    client.on("message", (topic, raw) => g.onMessage(topic, raw));
    await client.subscribeAsync(LISTENED.map((k) => toCloudTopic(siteId, TOPICS[k].topic)), { qos: 1 });
    return g;
  }

  private onMessage(topic: string, raw: Buffer): void {
    const siteTopic = topic.slice(`syspark/${this.siteId}/`.length);
    const key = LISTENED.find((k) => TOPICS[k].topic === siteTopic);
    if (!key) return;
    let payload: Record<string, unknown>;
    try {
      payload = JSON.parse(raw.toString()) as Record<string, unknown>;
    } catch {
      return; // not ours to judge: the step waiting for it times out naming what it waited for
    }
    const m: SiteMessage = { key, payload };
    this.received.push(m);
    this.waiters = this.waiters.filter((w) => {
      if (!w.match(m)) return true;
      w.resolve(m);
      return false;
    });
  }

  async publish<K extends TopicKey>(key: K, payload: Payload<K>): Promise<void> {
    await this.client.publishAsync(toCloudTopic(this.siteId, TOPICS[key].topic), encodePayload(key, payload), { qos: 1 });
  }

  /** The first message of `key` for the session (already received or to come), or an error after timeoutMs. */
  waitFor(key: TopicKey, sessionId: string, timeoutMs: number): Promise<SiteMessage> {
    const match = (m: SiteMessage) => m.key === key && m.payload.session_id === sessionId;
    const found = this.received.find(match);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w.resolve !== done);
        reject(new Error(`no ${TOPICS[key].topic} for session ${sessionId} within ${timeoutMs} ms`));
      }, timeoutMs);
      const done = (m: SiteMessage) => {
        clearTimeout(timer);
        resolve(m);
      };
      this.waiters.push({ match, resolve: done });
    });
  }

  /** Whether the cloud told the site that this session's payment failed (names why the smoke stops). */
  failureOf(sessionId: string): Record<string, unknown> | undefined {
    return this.received.find((m) => m.key === "paymentFailed" && m.payload.session_id === sessionId)?.payload;
  }

  close(): Promise<void> {
    return this.client.endAsync(true);
  }
}
