/**
 * The gateway of a scenario: its site configuration (the harness's lanes, a site broker on a free
 * port, the cloud through the broker relay), where it keeps its data, and its lifecycle — started
 * on the harness's board links, with every site-broker message recorded into the scenario's MQTT
 * record and timeline, and restarted (a process death) on the same data directory and cables.
 */
import { accessSync, constants, existsSync, mkdtempSync } from "node:fs";
import { join } from "node:path";
import type { Logger } from "pino";
import { DEMO_SITE } from "../../cloud/server/index";
import { parseSiteConfig } from "../../gateway/config/load";
import { startGateway, type Gateway } from "../../gateway/runtime";
import type { ByteStream } from "../../host/link/byte-stream";
import { silentLogger } from "../../host/log";
import { infra } from "./errors";
import type { LaneSetOptions, MqttRecord } from "./lane-types";
import { currentSiteClock } from "./site-clock";
import type { Timeline } from "./timeline";

export type SiteConfig = ReturnType<typeof parseSiteConfig>;

/** The site configuration of a scenario's gateway: its lanes on the harness's links, the cloud at `cloudUrl` (the broker relay). */
export function scenarioSiteConfig(o: LaneSetOptions, cloudUrl: string): SiteConfig {
  return parseSiteConfig({
    site_id: DEMO_SITE.siteId, name: DEMO_SITE.name, data_dir: gatewayDataDir(o.dir),
    lanes: o.lanes.map((id) => ({ id, kind: o.entryLanes?.includes(id) ? "entry" : "exit", exit_controller: { port: `harness:${id}:exit` }, barrier_executor: { port: `harness:${id}:barrier` } })),
    site_broker: { host: "127.0.0.1", port: 0, allow_anonymous: true },
    cloud: { url: cloudUrl, anonymous: true, protocol_version: 4, reconnect_ms: 200 },
    bridge: { heartbeat_s: 30 },
    ...(o.offlineAfterS ? { offline_policy: { offline_after_s: o.offlineAfterS } } : {}),
  });
}

export interface ScenarioGatewayOptions {
  config: SiteConfig;
  /** The gateway's end of each board link, by `lane/board`. */
  transports: Map<string, ByteStream>;
  logger?: Logger;
  aclKey: string;
  /** Where the site broker's messages are recorded. */
  mqtt: MqttRecord[];
  timeline: Timeline;
  /** A message other than a heartbeat or a lane state went by. */
  onMessage: () => void;
}

export class ScenarioGateway {
  gateway!: Gateway;
  private unsubscribeRecorder: () => Promise<void> = async () => {};

  constructor(private readonly o: ScenarioGatewayOptions) {}

  /** A gateway on the scenario's data directory: its boot number is the one persisted there plus
   *  one, as with `syspark gateway` (1 for a scenario's first, 2 after a restart, …). */
  async start(): Promise<Gateway> {
    // The gateway closes its transports on shutdown; the harness keeps the links (a restarted
    // gateway finds the same cables), so it hands the gateway a view whose close only detaches.
    const view = (t: ByteStream): ByteStream => ({ write: (b) => t.write(b), setReceiver: (r) => t.setReceiver(r), close: async () => t.setReceiver(() => {}) });
    this.gateway = await infra("starting the gateway", () => startGateway(this.o.config, {
      siteBrokerPort: 0, logger: this.o.logger ?? silentLogger, env: { ...process.env, SYSPARK_ACL_HMAC_KEY: this.o.aclKey },
      // The site clock sees one event loop: a relay in its own thread would work while the
      // site looks idle, and virtual time would jump past its deliveries.
      relayInProcess: currentSiteClock() !== undefined,
      transports: (id, board) => { const t = this.o.transports.get(`${id}/${board}`); return t ? view(t) : undefined; },
    }));
    this.unsubscribeRecorder = await this.gateway.services.siteBroker.subscribe("parking/#", (topic, payload) => this.record(topic, payload));
    return this.gateway;
  }

  /** Stop recording the site broker's messages. */
  async stopRecorder(): Promise<void> { await this.unsubscribeRecorder(); }

  /** Close the gateway: `graceful` as at a shutdown (it tells the cloud it goes offline), else as a process death. */
  async close(graceful: boolean): Promise<void> { await this.gateway.close(graceful); }

  private record(topic: string, payload: Buffer): void {
    let parsed: Record<string, unknown>;
    try { parsed = JSON.parse(payload.toString()) as Record<string, unknown>; } catch { parsed = { raw: payload.toString().slice(0, 200) }; }
    this.o.mqtt.push({ t: this.o.timeline.now(), topic, payload: parsed });
    const lane = typeof parsed.lane_id === "string" ? parsed.lane_id : undefined;
    if (!topic.endsWith("/heartbeat") && !/lane\/[^/]+\/state$/.test(topic)) { this.o.timeline.event("mqtt", `${topic} ${summary(parsed)}`, lane); this.o.onMessage(); }
  }
}

/**
 * Where the gateway keeps its outbox and lane state: on a RAM disk when the machine has one, so
 * each fsync the gateway still issues (same code path) does not wait for a disk; the scenario's
 * directory otherwise. What a scenario checks (nothing lost across a gateway restart) is about the
 * process, not the power supply.
 */
function gatewayDataDir(scenarioDir: string): string {
  const shm = "/dev/shm";
  if (process.env.SYSPARK_HIL_GATEWAY_DATA !== "disk" && existsSync(shm)) {
    try { accessSync(shm, constants.W_OK); return mkdtempSync(join(shm, "syspark-hil-gw-")); } catch { /* fall back to disk */ }
  }
  return join(scenarioDir, "gateway");
}

function summary(p: Record<string, unknown>): string {
  const keys = ["session_id", "amount", "reason", "decided_by", "barrier_result", "cmd", "result", "state", "status", "method"];
  return keys.filter((k) => p[k] !== undefined).map((k) => `${k}=${typeof p[k] === "object" ? JSON.stringify(p[k]) : String(p[k])}`).join(" ");
}
