/**
 * The gateway process: the MQTT services (site broker, bridge, durable outbox), one serial link
 * per lane board, and one lane orchestrator per lane between them. Everything a board reports
 * that must reach the cloud is written to the outbox before the board's frame is acknowledged
 * (the link's deferred ACK); cloud messages reach the lanes already validated by the bridge.
 */
import { join } from "node:path";
import type { Logger } from "pino";
import { parsePayload, siteTopic, type Payload, type TopicKey } from "../contracts/mqtt-topics";
import { describeMessage } from "../firmware/common/link/messages";
import type { Fields } from "../firmware/common/link/frame";
import type { LinkOptions } from "../firmware/common/link/session";
import type { ByteStream } from "../host/link/byte-stream";
import { StreamLink } from "../host/link/stream-link";
import { SerialDeviceStream } from "../host/link/streams";
import { silentLogger } from "../host/log";
import { STATUS_TOPICS } from "./bridge/bridge";
import { startGatewayServices, type GatewayServices, type GatewayServicesOptions } from "./bridge/services";
import type { SiteConfig } from "./config/schema";
import { resolveSecrets } from "./config/load";
import { nextBootCount } from "./boot-count";
import { AccessList } from "./lane/access-list";
import { LaneOrchestrator } from "./lane/orchestrator";

export const GATEWAY_VERSION = "0.1.0";

type BoardLink = StreamLink;

export interface Gateway {
  /** The boot number this instance announces in its HELLOs. */
  boot: number;
  services: GatewayServices;
  lanes: Map<string, LaneOrchestrator>;
  links: Map<string, { exit: BoardLink; barrier: BoardLink }>;
  acl: AccessList;
  close(graceful?: boolean): Promise<void>;
}

export interface GatewayOptions extends GatewayServicesOptions {
  logger?: Logger;
  /** Boot counter announced in the gateway's HELLO; by default the one persisted in the data
   *  directory, plus one (./boot-count.ts). */
  boot?: number;
  /** In-process byte transports instead of the configured serial ports (a laptop demo without
   *  socat); a lane/board it returns undefined for uses its serial port. */
  transports?: (laneId: string, board: "exit" | "barrier") => ByteStream | undefined;
  /** Every line on a lane's serial links, raw (transcripts, the latency bench's per-hop trace). */
  onLine?: (laneId: string, board: "exit" | "barrier", direction: "rx" | "tx", line: string) => void;
}

/** This start's boot number from the data directory's count (a warning when it had to skip ahead). */
function countBoot(dataDir: string, log: Logger): number {
  const counted = nextBootCount(dataDir);
  if (counted.warning) log.warn({ boot: counted.boot }, `boot count: ${counted.warning}`);
  return counted.boot;
}

export async function startGateway(config: SiteConfig, opts: GatewayOptions = {}): Promise<Gateway> {
  const log = opts.logger ?? silentLogger;
  const env = opts.env ?? process.env;
  resolveSecrets(config, env); // fail fast on missing credentials, with the variable's name
  // Counted before anything else touches the data directory: a number a board may already know
  // is never announced again, or the boards would skip their re-sync (docs/protocol.md).
  const boot = opts.boot ?? countBoot(config.data_dir, log);
  const acl = new AccessList(join(config.data_dir, "acl.json"), env[config.offline_policy.acl_hmac_key_env]);
  if (!env[config.offline_policy.acl_hmac_key_env]) log.warn(`${config.offline_policy.acl_hmac_key_env} is not set: access-list updates from the cloud will be refused`);
  const services = await startGatewayServices(config, { ...opts, logger: log, aclVersion: () => acl.version });
  const src = `gw-${config.site_id}`;
  let counter = 0;
  const newId = (prefix: string) => `${prefix}-${Date.now().toString(36)}${(counter++ % 1296).toString(36).padStart(2, "0")}`;

  const lanes = new Map<string, LaneOrchestrator>();
  const links = new Map<string, { exit: BoardLink; barrier: BoardLink }>();
  // Events a handler emits are collected so that the board's frame is acknowledged only once they are on disk.
  let batch: Promise<unknown>[] | undefined;
  const collect = (handler: () => void): Promise<unknown> | undefined => {
    batch = [];
    try { handler(); } finally { /* batch read below */ }
    const pending = batch;
    batch = undefined;
    return pending.length ? Promise.all(pending) : undefined;
  };

  let cloudOnline = false;
  let offlineTimer: NodeJS.Timeout | undefined;
  const setOnline = (online: boolean) => {
    cloudOnline = online;
    for (const lane of lanes.values()) lane.setCloudOnline(online);
  };

  for (const laneConfig of config.lanes) {
    const id = laneConfig.id;
    // The links and the lane refer to each other: the lane's ports reach the links through this holder.
    const io: { exit?: BoardLink; barrier?: BoardLink } = {};
    const lane = new LaneOrchestrator(id, {
      toExit: (type, fields) => io.exit?.send(type, fields),
      toBarrier: (type, fields) => io.barrier?.send(type, fields),
      emit: (key, payload) => {
        const full = { ts: Date.now(), src, ...payload } as unknown as Payload<TopicKey>;
        // The lane state is a retained status (latest value), not an event: the board's STATE
        // frame is acknowledged at once, nothing waits on the disk for it.
        if (STATUS_TOPICS.has(key)) {
          try {
            services.publishStatus(key, full as never);
          } catch (err) {
            log.error({ err: (err as Error).message, key }, "lane state refused by the contract; not published");
          }
          return;
        }
        const written = services.emitEvent(key, full as never).catch((err: Error) => {
          log.error({ err: err.message, key }, "outbox write failed: the board frame stays unacknowledged");
          throw err;
        });
        if (batch) batch.push(written); else written.catch(() => {});
      },
      now: () => Date.now(),
      newId,
      log: (message) => log.info({ lane: id }, message),
    }, acl, {
      trustedBadges: config.offline_policy.trusted_badges,
      exitPins: config.offline_policy.exit_pins,
      operatorOverride: config.offline_policy.operator_override,
      plateWindowMs: 10_000,
    });
    lane.setCloudOnline(cloudOnline);
    // The same link on a harness transport or on the configured serial port (reopened on unplug).
    const linkFor = (board: "exit" | "barrier", port: { port: string; baud: number }): BoardLink => {
      const onLine = opts.onLine && ((direction: "rx" | "tx", line: string) => opts.onLine!(id, board, direction, line));
      const onPortChange = (open: boolean, error?: string) => log[open ? "info" : "warn"]({ lane: id, board, port: port.port, error }, open ? "serial port open" : "serial port lost; reopening");
      const stream = opts.transports?.(id, board) ?? new SerialDeviceStream({ path: port.port, baudRate: port.baud, onPortChange });
      return new StreamLink(stream, { ...linkOptions(board), onLine });
    };
    const linkOptions = (board: "exit" | "barrier"): Omit<LinkOptions, "write"> => ({
      self: { kind: "gateway" as const, fw: GATEWAY_VERSION, boot, lane: id },
      receives: "up" as const,
      onMessage: (type: string, fields: Fields) => {
        if (type !== "HB") log.debug({ lane: id, board }, describeMessage(type, fields));
        return collect(() => (board === "exit" ? lane.onExitMessage(type, fields) : lane.onBarrierMessage(type, fields)));
      },
      onLinkChange: (up) => {
        log.info({ lane: id, board, up }, `${board} link ${up ? "up" : "down"}`);
        if (board === "exit") lane.onExitLink(up); else lane.onBarrierLink(up);
      },
      onPeerHello: (fields) => log.info({ lane: id, board, hello: fields }, `${board} board announced itself`),
      onGiveUp: (type) => log.warn({ lane: id, board, type }, "frame given up after retries"),
    });
    const exitLink = (io.exit = linkFor("exit", laneConfig.exit_controller));
    const barrierLink = (io.barrier = linkFor("barrier", laneConfig.barrier_executor));
    lanes.set(id, lane);
    links.set(id, { exit: exitLink, barrier: barrierLink });
  }

  services.onCloudMessage((msg) => {
    if (msg.key === "aclAdd" || msg.key === "aclDel" || msg.key === "aclFull") {
      const result = acl.apply(msg.key === "aclAdd" ? "add" : msg.key === "aclDel" ? "del" : "full", msg.payload as never);
      log[result === "bad_signature" ? "warn" : "info"]({ key: msg.key, result, version: acl.version }, "access list update");
      return;
    }
    for (const lane of lanes.values()) lane.onCloudMessage(msg.key, msg.payload as never);
  });
  services.bridge.on("connected", () => { clearTimeout(offlineTimer); setOnline(true); });
  services.bridge.on("disconnected", () => {
    clearTimeout(offlineTimer);
    offlineTimer = setTimeout(() => setOnline(false), config.offline_policy.offline_after_s * 1000);
    offlineTimer.unref?.();
  });
  if (services.bridge.connected) setOnline(true);
  const unsubscribePlates = await services.siteBroker.subscribe(siteTopic("lprPlate"), (topic, payload) => {
    const parsed = parsePayload(topic, payload);
    if (!parsed.ok || parsed.key !== "lprPlate") return log.warn({ error: parsed.ok ? "not a plate" : parsed.error }, "LPR message refused");
    lanes.get((parsed.payload as Payload<"lprPlate">).lane_id)?.onPlate((parsed.payload as Payload<"lprPlate">).plate);
  });

  // Ports that are not there yet (a board unplugged at boot) are retried by the links themselves.
  for (const link of links.values()) {
    await link.exit.openEventually();
    await link.barrier.openEventually();
  }

  return {
    boot, services, lanes, links, acl,
    async close(graceful = true) {
      clearTimeout(offlineTimer);
      await unsubscribePlates();
      for (const link of links.values()) { await link.exit.close(); await link.barrier.close(); }
      await services.close(graceful);
    },
  };
}
