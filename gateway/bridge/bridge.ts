/**
 * The selective bridge between the site broker and the cloud broker (ARCHITECTURE §3), in the
 * manner of a Mosquitto bridge (`topic <pattern> <in|out> <qos> <local-prefix> <remote-prefix>`):
 *
 *   site `parking/…`  ⇄  cloud `syspark/<site_id>/parking/…`   (toCloudTopic / fromCloudTopic)
 *
 * - Only two explicit allowlists, derived from the contract (allowlist("cloud_to_site") and
 *   allowlist("site_to_cloud")); they are checked disjoint at start. Everything else is dropped
 *   and counted (BridgeMetrics.dropped, by direction and reason).
 * - Every payload is validated against the contract schema in both directions; an invalid one is
 *   dropped, counted and logged with the precise reason, and what crosses is the re-encoded,
 *   validated JSON.
 * - It cannot loop: (1) the allowlists are disjoint; (2) ownership per topic — on the site broker
 *   only the bridge may publish cloud → site topics (acl.ts), on the cloud broker the bridge only
 *   forwards cloud → site topics of its own prefix; (3) it never re-forwards what it published
 *   itself: the cloud subscription uses MQTT v5 No Local, and its site-side publications are
 *   in-process (they never pass the site tap).
 * - Site → cloud events with QoS ≥ 1 go through the durable outbox (written before the site
 *   client's PUBACK) and the relay, which has its own connection and, by default, a worker
 *   thread of its own (relay-host.ts); QoS 0 (heartbeat) is best effort.
 * - The gateway's own retained statuses (STATUS_TOPICS: the lane state) are not events: the
 *   cloud needs the latest value, not the history. publishStatus keeps the latest per topic in
 *   memory (one per lane), publishes it retained at QoS 1 on the relay connection when the link is
 *   up, and again after every reconnection; nothing is queued on disk for them.
 * - Retained `online` on `syspark/<site>/parking/gateway/status`, last will `offline` (retained).
 */
import { EventEmitter } from "node:events";
import mqtt, { type IClientOptions, type IPublishPacket, type MqttClient } from "mqtt";
import {
  TOPICS,
  allowlist,
  cachedSpecForTopic,
  encodePayload,
  fromCloudTopic,
  parsePayloadFor,
  siteTopic,
  toCloudTopic,
  type Payload,
  type QoS,
  type TopicKey,
} from "../../contracts/mqtt-topics";
import type { Logger } from "../../host/log";
import { silentLogger } from "../../host/log";
import type { SiteBroker, TappedPublish } from "../broker/site-broker";
import { DEFAULT_RELAY_INFLIGHT } from "../config/schema";
import type { Outbox, OutboxEntry } from "../outbox/outbox";
import { LinkErrorLog } from "../../host/mqtt-tls-errors";
import { cloudTlsNames, cloudTlsOptions, type CloudTlsSettings } from "./cloud-tls";
import { BridgeMetrics, type BridgeDirection, type DropReason } from "./metrics";
import { noDelay } from "../../host/tcp-nodelay";
import { relayClientId, type RelayMqttOptions, type StatusMessage } from "./relay-protocol";
import { InProcessRelay, RelayThread, type RelayHost } from "./relay-host";

/** Retained statuses the gateway publishes as latest values (see the header), never through the outbox. */
export const STATUS_TOPICS: ReadonlySet<TopicKey> = new Set<TopicKey>(["laneState"]);

export interface CloudLinkOptions {
  url: string;
  clientId: string;
  username?: string;
  password?: string;
  keepaliveS?: number;
  reconnectMs?: number;
  connectTimeoutMs?: number;
  sessionExpiryS?: number;
  /** 5 (default), or 4 for MQTT 3.1.1 brokers such as the cloud's embedded aedes. */
  protocolVersion?: 4 | 5;
  tls?: CloudTlsSettings;
}

export interface BridgeOptions {
  siteId: string;
  site: SiteBroker;
  outbox: Outbox;
  cloud: CloudLinkOptions;
  inflight?: number;
  heartbeatS?: number;
  maxPayloadBytes?: number;
  metrics?: BridgeMetrics;
  logger?: Logger;
  /** Access-list version sent in parking/sync/req on (re)connect (the lane orchestration owns the ACL). */
  aclVersion?: () => number;
  /** Run the relay on this thread instead of its own (the HIL harness's virtual clock; see relay-host.ts). */
  relayInProcess?: boolean;
}

/** One line of the bridge table, Mosquitto style. */
export interface BridgeRoute {
  key: TopicKey;
  pattern: string;
  direction: "in" | "out";
  qos: QoS;
  retain: boolean;
  localPrefix: string;
  remotePrefix: string;
}

/** Topics only the bridge itself publishes on the cloud side (site clients may not). */
const BRIDGE_OWNED: ReadonlySet<TopicKey> = new Set<TopicKey>(["gatewayStatus"]);
/** A validated site → cloud event, ready for the outbox. */
interface SiteRecord {
  topic: string;
  json: string;
  eventId?: string;
}

/** Site publishes validated and queued per event-loop turn (see Bridge.fromSiteFair). */
const SITE_SLICE = 32;
/** A status reaches the cloud at most this late; newer ones of the same lane meanwhile replace it. */
const STATUS_COALESCE_MS = 20;

/** The bridge table for a site, derived from the contract: `in` = cloud → site, `out` = site → cloud. */
export function bridgeRoutes(siteId: string): BridgeRoute[] {
  const remotePrefix = toCloudTopic(siteId, "");
  const routes: BridgeRoute[] = [];
  for (const [dir, direction] of [["cloud_to_site", "in"], ["site_to_cloud", "out"]] as const) {
    for (const key of allowlist(dir)) {
      const t = TOPICS[key];
      routes.push({ key, pattern: t.topic, direction, qos: t.qos, retain: t.retain, localPrefix: "", remotePrefix });
    }
  }
  return routes;
}

/** `topic parking/payment/req in 1 "" syspark/site-a/` — the same table as a mosquitto.conf bridge. */
export function mosquittoBridgeConf(siteId: string): string {
  return bridgeRoutes(siteId)
    .map((r) => `topic ${r.pattern} ${r.direction} ${r.qos} "${r.localPrefix}" ${r.remotePrefix}`)
    .join("\n");
}

export interface CloudMessage<K extends TopicKey = TopicKey> {
  key: K;
  topic: string;
  payload: Payload<K>;
}

export class Bridge extends EventEmitter<{ "cloud-message": [CloudMessage]; connected: []; disconnected: []; "relay-link": [up: boolean] }> {
  readonly siteId: string;
  readonly metrics: BridgeMetrics;
  private readonly opts: BridgeOptions;
  private readonly log: Logger;
  private readonly inbound: ReadonlySet<TopicKey>;
  private readonly outbound: ReadonlySet<TopicKey>;
  private readonly src: string;
  private client: MqttClient | undefined;
  /** Second connection (by default in its own thread), publishing the outbox and the statuses (see start()). */
  private relay: RelayHost | undefined;
  /** Statuses waiting for the next flush to the relay: the latest per site topic. */
  private readonly pendingStatuses = new Map<string, StatusMessage>();
  private statusTimer: NodeJS.Timeout | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private everConnected = false;
  /** The cloud → site subscriptions of the current connection are granted (SUBACK). */
  private subscribedUp = false;
  private readonly startedAt = Date.now();
  private stopping = false;
  /** Site publishes waiting for the tap (fromSiteFair). */
  private readonly siteWork: { msg: TappedPublish; resolve: () => void; reject: (err: Error) => void }[] = [];
  private siteWorkScheduled = false;
  /** Validated site events of the burst under way, appended together when it is all validated. */
  private readonly siteAppends: { record: SiteRecord; resolve: () => void; reject: (err: Error) => void }[] = [];
  /** Concrete topic → spec key. */
  private readonly keyOf = cachedSpecForTopic();

  constructor(opts: BridgeOptions) {
    super();
    this.opts = opts;
    this.siteId = opts.siteId;
    this.src = `gw-${opts.siteId}`;
    this.metrics = opts.metrics ?? new BridgeMetrics();
    this.log = (opts.logger ?? silentLogger).child({ part: "bridge", site: opts.siteId });
    this.inbound = new Set(allowlist("cloud_to_site"));
    this.outbound = new Set(allowlist("site_to_cloud"));
    const overlap = [...this.inbound].filter((k) => this.outbound.has(k));
    // A topic in both allowlists would be forwarded back and forth forever.
    if (overlap.length > 0) throw new Error(`bridge allowlists overlap (would loop): ${overlap.join(", ")}`);
    toCloudTopic(this.siteId, ""); // validates the site id
    this.metrics.depthSource = () => opts.outbox.depth;
  }

  /**
   * Connected AND subscribed: a message the cloud publishes for this site from now on reaches it.
   * Between the CONNACK and the SUBACK of a first connection (no session at the broker yet), a
   * message published by another client is dropped by the broker; whoever waits for `connected`
   * (the lanes' online flag, waitConnected, tests) must not act in that window.
   */
  get connected(): boolean {
    return (this.client?.connected ?? false) && this.subscribedUp;
  }

  /** Connect to the cloud broker (in the background, reconnecting forever) and start forwarding. */
  start(): void {
    if (this.client) return;
    const o = this.opts;
    const statusTopic = toCloudTopic(this.siteId, siteTopic("gatewayStatus"));
    const options: IClientOptions = {
      clientId: o.cloud.clientId,
      protocolVersion: o.cloud.protocolVersion ?? 5,
      clean: false,
      ...((o.cloud.protocolVersion ?? 5) === 5 ? { properties: { sessionExpiryInterval: o.cloud.sessionExpiryS ?? 3600 } } : {}),
      keepalive: o.cloud.keepaliveS ?? 30,
      reconnectPeriod: o.cloud.reconnectMs ?? 2000,
      connectTimeout: o.cloud.connectTimeoutMs ?? 10_000,
      username: o.cloud.username,
      password: o.cloud.password,
      resubscribe: false, // subscribed again on every connect below
      will: {
        topic: statusTopic,
        payload: Buffer.from(encodePayload("gatewayStatus", { ts: Date.now(), src: this.src, status: "offline" })),
        qos: TOPICS.gatewayStatus.qos,
        retain: true,
      },
    };
    // Read now: a missing CA file stops the start with its setting's name; never plaintext instead.
    Object.assign(options, cloudTlsOptions(o.cloud.url, o.cloud.tls));
    const v5 = (o.cloud.protocolVersion ?? 5) === 5;
    const subscribed = (err: Error | null) => {
      if (err) return this.log.error({ err: err.message }, "cloud subscription failed");
      this.subscribedUp = true;
      this.emit("connected");
    };
    // Two connections to the cloud broker, same credentials:
    //  - the main one (client id, persistent session, last will, `online` status, sync/req)
    //    receives the cloud → site allowlist: payment success, barrier commands…;
    //  - the relay one, in its own thread by default, publishes the outbox (site → cloud events) and the
    //    statuses and, in MQTT v5, watches the whole site prefix with No Local to count what is
    //    forbidden.
    // Commands do not share a TCP stream with the event flow: a broker that does not set
    // TCP_NODELAY (Mosquitto's default) holds a PUBLISH to a client behind Nagle's algorithm
    // while a PUBACK it sent that client is not yet acknowledged at the TCP level, and the
    // client's kernel delays that acknowledgement (delayed ACK, 40 ms on Linux) when it has no
    // reply to piggyback it on. On the main connection every PUBLISH is answered at once by a
    // PUBACK, which carries the TCP acknowledgement.
    const client = mqtt.connect(o.cloud.url, options);
    this.client = client;
    // PUBACK to the cloud only once the message is validated and handed to the site broker.
    client.handleMessage = (packet, done) => {
      this.fromCloud(packet as IPublishPacket).then(() => done(), (err: Error) => {
        this.log.error({ topic: (packet as IPublishPacket).topic, err: err.message }, "could not deliver a cloud message on the site broker");
        done(err);
      });
    };
    const { will: _will, properties: _sessionProperties, ...common } = options;
    const relayMqtt: RelayMqttOptions = { ...common, clientId: relayClientId(o.cloud.clientId), clean: true, ...(v5 ? { properties: { sessionExpiryInterval: 0 } } : {}) };
    const relayOptions = {
      siteId: this.siteId,
      url: o.cloud.url,
      mqtt: relayMqtt,
      inflight: o.inflight ?? DEFAULT_RELAY_INFLIGHT,
      outbox: o.outbox,
      metrics: this.metrics,
      logger: this.log,
      onWatch: (topic: string, payload: Buffer) => void this.fromCloud({ topic, payload } as IPublishPacket, { watchOnly: true }),
      onLink: (up: boolean) => this.emit("relay-link", up),
    };
    this.relay = o.relayInProcess ? new InProcessRelay(relayOptions) : new RelayThread(relayOptions);
    this.relay.start();
    client.on("connect", (connack) => {
      noDelay(client);
      this.metrics.cloudConnected.set(1);
      this.log.info({ url: o.cloud.url, session_present: connack.sessionPresent, outbox_depth: o.outbox.depth }, "cloud link up");
      // The cloud → site allowlist (No Local: the broker never sends back what this client
      // published, [MQTT-3.8.3-3]; MQTT 3.1.1 has none, and needs none: these topics are never
      // published by the bridge).
      // One SUBSCRIBE for the whole list: its SUBACK is when the bridge counts as connected.
      this.subscribedUp = false;
      client.subscribe(Object.fromEntries([...this.inbound].map((key) => [toCloudTopic(this.siteId, TOPICS[key].topic), { qos: TOPICS[key].qos, ...(v5 ? { nl: true } : {}) }])), subscribed);
      client.publish(statusTopic, encodePayload("gatewayStatus", { ts: Date.now(), src: this.src, status: "online" }), { qos: TOPICS.gatewayStatus.qos, retain: true });
      client.publish(
        toCloudTopic(this.siteId, siteTopic("syncReq")),
        encodePayload("syncReq", { ts: Date.now(), src: this.src, reason: this.everConnected ? "reconnect" : "boot", acl_version: o.aclVersion?.() ?? 0, outbox_depth: o.outbox.depth }),
        { qos: TOPICS.syncReq.qos },
      );
      this.everConnected = true;
    });
    let linkUp = false;
    // Once per distinct error while it reconnects (a bad certificate fails every attempt).
    const linkErrors = new LinkErrorLog(this.log, cloudTlsNames(o.cloud.url, { ...o.cloud.tls, ...options }), "cloud link");
    client.on("connect", () => {
      linkUp = true;
      linkErrors.reset();
    });
    client.on("close", () => {
      this.subscribedUp = false;
      if (!linkUp) return; // a failed reconnect attempt: already reported
      linkUp = false;
      this.metrics.cloudConnected.set(0);
      if (!this.stopping) this.log.warn({ outbox_depth: o.outbox.depth }, "cloud link down: events accumulate in the outbox");
      this.emit("disconnected");
    });
    client.on("error", (err) => linkErrors.report(err));
    o.site.setTap((msg) => this.fromSiteFair(msg));
    if ((o.heartbeatS ?? 30) > 0) {
      this.heartbeat = setInterval(() => this.sendHeartbeat(), (o.heartbeatS ?? 30) * 1000);
      this.heartbeat.unref();
    }
  }

  /** Resolves once both cloud connections are up, the relay's watch included (or rejects after timeoutMs). */
  waitConnected(timeoutMs = 10_000): Promise<void> {
    const up = () => this.connected && (this.relay?.connected ?? false);
    if (up()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = () => {
        if (!up()) return;
        clearTimeout(t);
        this.off("connected", check);
        this.off("relay-link", check);
        resolve();
      };
      const t = setTimeout(() => {
        this.off("connected", check);
        this.off("relay-link", check);
        reject(new Error(`cloud broker ${this.opts.cloud.url} not reachable within ${timeoutMs} ms`));
      }, timeoutMs);
      this.on("connected", check);
      this.on("relay-link", check);
    });
  }

  /**
   * For the lane orchestration: record a site → cloud event durably (resolves once on disk —
   * only then acknowledge the board's frame), mirror it on the site broker for LAN dashboards,
   * and let the relay deliver it to the cloud.
   */
  async emitEvent<K extends TopicKey>(key: K, payload: Payload<K>): Promise<OutboxEntry> {
    if (TOPICS[key].direction !== "site_to_cloud") throw new Error(`${TOPICS[key].topic} is not a site → cloud topic`);
    if (BRIDGE_OWNED.has(key)) throw new Error(`${TOPICS[key].topic} is published by the bridge itself`);
    if (STATUS_TOPICS.has(key)) throw new Error(`${TOPICS[key].topic} is a status: use publishStatus`);
    const entry = await this.opts.outbox.append(key, payload);
    this.metrics.outboxAppended.inc();
    this.opts.site.publish(entry.topic, entry.payload, { qos: TOPICS[key].qos, retain: TOPICS[key].retain }).catch(() => undefined);
    return entry;
  }

  /**
   * Publish one of the gateway's retained statuses (STATUS_TOPICS): validated, retained on the
   * site broker at once, and sent to the cloud within STATUS_COALESCE_MS if the link is up, else
   * on reconnection (latest only). A lane goes through several states in a few milliseconds
   * during an exit; the cloud's dashboards need the latest, so only the newest of each lane
   * within the interval crosses (a third of the relay's publishes per exit otherwise).
   */
  publishStatus<K extends TopicKey>(key: K, payload: Payload<K>): void {
    if (!STATUS_TOPICS.has(key)) throw new Error(`${TOPICS[key].topic} is not a status topic: use emitEvent`);
    const spec = TOPICS[key];
    const json = encodePayload(key, payload);
    const topic = siteTopic(key, (payload as { lane_id?: string }).lane_id);
    this.opts.site.publish(topic, json, { qos: spec.qos, retain: spec.retain }).catch(() => undefined);
    this.pendingStatuses.set(topic, { topic: toCloudTopic(this.siteId, topic), json, qos: Math.max(1, spec.qos) as 1 | 2, retain: spec.retain, label: spec.topic });
    this.statusTimer ??= setTimeout(() => this.flushStatuses(), STATUS_COALESCE_MS);
  }

  private flushStatuses(): void {
    this.statusTimer = undefined;
    for (const s of this.pendingStatuses.values()) this.relay?.publishStatus(s);
    this.pendingStatuses.clear();
  }

  /** Stop forwarding. graceful: publish `offline` and disconnect cleanly (no last will). */
  async stop(graceful = true): Promise<void> {
    this.stopping = true;
    if (this.heartbeat) clearInterval(this.heartbeat);
    // The site tap stays installed: events published on the site broker until it closes still go
    // to the outbox (delivered on the next start); once the outbox is closed the tap refuses them,
    // so aedes never acknowledges an event that is not on disk.
    clearTimeout(this.statusTimer);
    this.flushStatuses();
    const client = this.client;
    await Promise.all([this.relay?.stop(graceful), client && this.stopMain(client, graceful)]);
    this.metrics.cloudConnected.set(0);
  }

  /** The main connection: `offline` status and a clean DISCONNECT if graceful (the relay thread ends its own). */
  private async stopMain(client: MqttClient, graceful: boolean): Promise<void> {
    const delay = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref());
    const outstanding = () => Object.keys(client.outgoing).length;
    if (graceful && client.connected) {
      const offline = new Promise<void>((resolve) => {
        client.publish(toCloudTopic(this.siteId, siteTopic("gatewayStatus")), encodePayload("gatewayStatus", { ts: Date.now(), src: this.src, status: "offline" }), { qos: 1, retain: true }, () => resolve());
      });
      await Promise.race([offline, delay(2000)]);
      for (let i = 0; i < 40 && outstanding() > 0 && client.connected; i++) await delay(50);
    }
    // A clean DISCONNECT (no last will) only when nothing is left in flight: MQTT.js would wait for it forever.
    const clean = graceful && client.connected && outstanding() === 0;
    await Promise.race([new Promise<void>((resolve) => client.end(!clean, {}, () => resolve())), delay(3000)]);
  }

  // ---- site → cloud ----

  private drop(direction: BridgeDirection, reason: DropReason, topic: string, detail?: string): undefined {
    this.metrics.drop(direction, reason);
    if (reason === "invalid_payload" || reason === "too_large") this.log.warn({ direction, topic, reason, detail }, "dropped");
    else this.log.debug({ direction, topic, reason }, "dropped");
    return undefined;
  }

  /**
   * The site tap's work (validate, encode) in slices of SITE_SLICE messages, one slice per
   * event-loop turn, then one append of the whole burst. The site broker hands over every
   * publish of one socket read at once (hundreds when a LAN client pipelines); done in one go,
   * that blocks the loop for tens of milliseconds, during which the relay's PUBACKs (20 in
   * flight at most) and the lanes' serial frames wait. Between slices, I/O gets its turn.
   */
  private fromSiteFair(msg: TappedPublish): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.siteWork.push({ msg, resolve, reject });
      if (!this.siteWorkScheduled) {
        this.siteWorkScheduled = true;
        setImmediate(() => this.runSiteWork());
      }
    });
  }

  /** Validates one slice; once the burst is validated, appends it all at once (one fsync). The
   *  site client's PUBACK waits for the append: the tap rejects only if the outbox write fails. */
  private runSiteWork(): void {
    const slice = this.siteWork.splice(0, SITE_SLICE);
    for (const w of slice) {
      let record: SiteRecord | undefined;
      try {
        record = this.checkSite(w.msg);
      } catch (err) {
        w.reject(err as Error);
        continue;
      }
      if (record === undefined) w.resolve();
      else this.siteAppends.push({ record, resolve: w.resolve, reject: w.reject });
    }
    if (this.siteWork.length > 0) {
      setImmediate(() => this.runSiteWork());
      return;
    }
    this.siteWorkScheduled = false;
    for (const a of this.siteAppends.splice(0)) {
      this.opts.outbox.appendValidated(a.record.topic, a.record.json, a.record.eventId).then(() => {
        this.metrics.outboxAppended.inc();
        a.resolve();
      }, a.reject);
    }
  }

  private checkSite(msg: TappedPublish): SiteRecord | undefined {
    const key = this.keyOf(msg.topic);
    if (key === undefined || !this.outbound.has(key)) {
      return this.drop("site_to_cloud", key !== undefined && this.inbound.has(key) ? "wrong_direction" : "not_allowlisted", msg.topic);
    }
    if (BRIDGE_OWNED.has(key)) return this.drop("site_to_cloud", "owned_by_bridge", msg.topic);
    if (msg.payload.length > (this.opts.maxPayloadBytes ?? 65_536)) return this.drop("site_to_cloud", "too_large", msg.topic, `${msg.payload.length} bytes`);
    const parsed = parsePayloadFor(key, msg.topic, msg.payload);
    if (!parsed.ok) return this.drop("site_to_cloud", "invalid_payload", msg.topic, parsed.error);
    const json = JSON.stringify(parsed.payload);
    if (TOPICS[key].qos === 0) {
      // Best effort by contract (health): never queued.
      if (!this.client?.connected) return this.drop("site_to_cloud", "offline_qos0", msg.topic);
      this.client.publish(toCloudTopic(this.siteId, msg.topic), json, { qos: 0, retain: TOPICS[key].retain });
      this.metrics.forwarded.inc({ direction: "site_to_cloud", topic: TOPICS[key].topic });
      return undefined;
    }
    return { topic: msg.topic, json, eventId: (parsed.payload as { event_id?: string }).event_id };
  }

  private sendHeartbeat(): void {
    const client = this.client;
    if (!client?.connected) return;
    const payload = encodePayload("heartbeat", { ts: Date.now(), src: this.src, uptime_s: Math.floor((Date.now() - this.startedAt) / 1000), outbox_depth: this.opts.outbox.depth });
    client.publish(toCloudTopic(this.siteId, siteTopic("heartbeat")), payload, { qos: TOPICS.heartbeat.qos });
  }

  // ---- cloud → site ----

  private async fromCloud(packet: IPublishPacket, how: { watchOnly?: boolean } = {}): Promise<void> {
    const m = fromCloudTopic(packet.topic);
    if (!m) return this.drop("cloud_to_site", "not_allowlisted", packet.topic);
    if (m.siteId !== this.siteId) return this.drop("cloud_to_site", "foreign_site", packet.topic);
    const key = this.keyOf(m.topic);
    if (key === undefined || !this.inbound.has(key)) {
      return this.drop("cloud_to_site", key !== undefined && this.outbound.has(key) ? "wrong_direction" : "not_allowlisted", packet.topic);
    }
    if (how.watchOnly) return;
    const raw = typeof packet.payload === "string" ? Buffer.from(packet.payload) : packet.payload;
    if (raw.length > (this.opts.maxPayloadBytes ?? 65_536)) return this.drop("cloud_to_site", "too_large", packet.topic, `${raw.length} bytes`);
    const parsed = parsePayloadFor(key, m.topic, raw);
    if (!parsed.ok) return this.drop("cloud_to_site", "invalid_payload", packet.topic, parsed.error);
    const spec = TOPICS[key];
    await this.opts.site.publish(m.topic, JSON.stringify(parsed.payload), { qos: spec.qos, retain: spec.retain });
    this.metrics.forwarded.inc({ direction: "cloud_to_site", topic: spec.topic });
    this.emit("cloud-message", { key, topic: m.topic, payload: parsed.payload });
  }
}
