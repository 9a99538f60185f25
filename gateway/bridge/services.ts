/**
 * The gateway's MQTT side in one call, for `syspark gateway --config …` (the CLI command and
 * the lane orchestration plug in here): durable outbox → embedded site broker → bridge to the
 * cloud broker. Secrets come from the environment; a missing one stops start-up with the
 * variable's name (ARCHITECTURE §7).
 */
import { join } from "node:path";
import type { Registry } from "prom-client";
import type { Payload, TopicKey } from "../../contracts/mqtt-topics";
import { silentLogger, type Logger } from "../../host/log";
import { startSiteBroker, usersFromConfig, type SiteBroker } from "../broker/site-broker";
import { resolveSecrets } from "../config/load";
import type { SiteConfig } from "../config/schema";
import { Outbox, type OutboxEntry } from "../outbox/outbox";
import { Bridge, type CloudMessage } from "./bridge";
import { BridgeMetrics } from "./metrics";

export interface GatewayServicesOptions {
  env?: NodeJS.ProcessEnv;
  logger?: Logger;
  registry?: Registry;
  /** Override the site broker's port (0 = any free port; tests). */
  siteBrokerPort?: number;
  /** Override the outbox directory (default `<data_dir>/outbox`). */
  outboxDir?: string;
  /** Access-list version for parking/sync/req (the lane orchestration's ACL store). */
  aclVersion?: () => number;
  /** Run the bridge's relay on this thread instead of its own (the HIL harness's virtual clock). */
  relayInProcess?: boolean;
}

export interface GatewayServices {
  config: SiteConfig;
  siteBroker: SiteBroker;
  outbox: Outbox;
  bridge: Bridge;
  metrics: BridgeMetrics;
  /** Durably record a site → cloud event (resolve ⇒ on disk ⇒ the board's frame may be acked). */
  emitEvent<K extends TopicKey>(key: K, payload: Payload<K>): Promise<OutboxEntry>;
  /** Publish the gateway's latest retained status (the lane state): not an event, never queued on disk. */
  publishStatus<K extends TopicKey>(key: K, payload: Payload<K>): void;
  /** Validated cloud → site messages (payment req/success, barrier commands, ACL, display). Returns an unsubscribe function. */
  onCloudMessage(handler: (msg: CloudMessage) => void): () => void;
  /** graceful: publish `offline` and disconnect cleanly; otherwise the last will says `offline`. */
  close(graceful?: boolean): Promise<void>;
}

export async function startGatewayServices(config: SiteConfig, opts: GatewayServicesOptions = {}): Promise<GatewayServices> {
  const logger = opts.logger ?? silentLogger;
  const secrets = resolveSecrets(config, opts.env ?? process.env);
  const metrics = new BridgeMetrics(opts.registry);
  const outbox = await Outbox.open({
    dir: opts.outboxDir ?? join(config.data_dir, "outbox"),
    segmentBytes: config.outbox.segment_bytes,
    fsync: config.outbox.fsync,
    logger,
  });
  let siteBroker: SiteBroker | undefined;
  try {
    siteBroker = await startSiteBroker({
      host: config.site_broker.host,
      port: opts.siteBrokerPort ?? config.site_broker.port,
      users: usersFromConfig(config.site_broker, secrets.brokerPasswords),
      allowAnonymous: config.site_broker.allow_anonymous,
      logger,
    });
    const c = config.cloud;
    const bridge = new Bridge({
      siteId: config.site_id,
      site: siteBroker,
      outbox,
      metrics,
      logger,
      inflight: config.bridge.inflight,
      heartbeatS: config.bridge.heartbeat_s,
      maxPayloadBytes: config.bridge.max_payload_bytes,
      aclVersion: opts.aclVersion,
      relayInProcess: opts.relayInProcess,
      cloud: {
        url: c.url,
        clientId: c.client_id ?? `syspark-gw-${config.site_id}`,
        username: secrets.cloud.username,
        password: secrets.cloud.password,
        keepaliveS: c.keepalive_s,
        reconnectMs: c.reconnect_ms,
        connectTimeoutMs: c.connect_timeout_ms,
        sessionExpiryS: c.session_expiry_s,
        protocolVersion: c.protocol_version,
        tls: c.tls && { caFile: c.tls.ca_file, certFile: c.tls.cert_file, keyFile: c.tls.key_file, rejectUnauthorized: c.tls.reject_unauthorized, servername: c.tls.servername },
      },
    });
    if (/^(mqtt|ws|tcp):/.test(c.url) && !/^[a-z]+:\/\/(127\.0\.0\.1|localhost|\[::1\])[:/]/.test(c.url)) {
      logger.warn({ url: c.url }, "the cloud link is not encrypted: use mqtts:// or wss:// in production");
    }
    bridge.start();
    const broker = siteBroker;
    let closing: Promise<void> | undefined;
    return {
      config,
      siteBroker: broker,
      outbox,
      bridge,
      metrics,
      emitEvent: (key, payload) => bridge.emitEvent(key, payload),
      publishStatus: (key, payload) => bridge.publishStatus(key, payload),
      onCloudMessage(handler) {
        bridge.on("cloud-message", handler);
        return () => bridge.off("cloud-message", handler);
      },
      close(graceful = true) {
        closing ??= (async () => {
          await bridge.stop(graceful);
          await broker.close();
          await outbox.close();
        })();
        return closing;
      },
    };
  } catch (err) {
    await siteBroker?.close();
    await outbox.close();
    throw err;
  }
}
