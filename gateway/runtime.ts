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
import type { LaneConfig, SiteConfig } from "./config/schema";
import { resolveSecrets } from "./config/load";
import { nextBootCount } from "./boot-count";
import { AccessList } from "./lane/access-list";
import { LaneOrchestrator, type LanePorts } from "./lane/orchestrator";

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

/**
 * Start the gateway, in this order: the data directory (secrets, boot number, access list), the
 * MQTT services (site broker, bridge, relay, outbox), the lanes and their board links, the cloud
 * and LPR subscriptions, then the serial ports. close() undoes it the other way round.
 */
export async function startGateway(config: SiteConfig, opts: GatewayOptions = {}): Promise<Gateway> {
  const log = opts.logger ?? silentLogger;
  const { boot, acl } = prepareDataDir(config, opts, log);
  const services = await startGatewayServices(config, { ...opts, logger: log, aclVersion: () => acl.version });
  const batches = frameBatches();
  const ctx: LaneContext = {
    opts, log, boot, acl, batches,
    policy: config.offline_policy,
    emit: laneEmitter(services, `gw-${config.site_id}`, batches, log),
    newId: idMaker(),
  };
  const lanes = new Map<string, LaneOrchestrator>();
  const links = new Map<string, { exit: BoardLink; barrier: BoardLink }>();
  for (const laneConfig of config.lanes) {
    const started = startLane(laneConfig, ctx);
    lanes.set(laneConfig.id, started.lane);
    links.set(laneConfig.id, started.links);
  }
  const cloud = followCloud(services, config, lanes, acl, log);
  const unsubscribePlates = await routePlates(services, lanes, log);

  // Ports that are not there yet (a board unplugged at boot) are retried by the links themselves.
  for (const link of links.values()) {
    await link.exit.openEventually();
    await link.barrier.openEventually();
  }

  return {
    boot, services, lanes, links, acl,
    async close(graceful = true) {
      cloud.stop();
      await unsubscribePlates();
      for (const link of links.values()) { await link.exit.close(); await link.barrier.close(); }
      await services.close(graceful);
    },
  };
}

/** Credentials, the boot number and the access list: everything read from the environment and the data directory. */
function prepareDataDir(config: SiteConfig, opts: GatewayOptions, log: Logger): { boot: number; acl: AccessList } {
  const env = opts.env ?? process.env;
  resolveSecrets(config, env); // fail fast on missing credentials, with the variable's name
  // Counted before anything else touches the data directory: a number a board may already know
  // is never announced again, or the boards would skip their re-sync (docs/protocol.md).
  const boot = opts.boot ?? countBoot(config.data_dir, log);
  const keyEnv = config.offline_policy.acl_hmac_key_env;
  const acl = new AccessList(join(config.data_dir, "acl.json"), env[keyEnv]);
  if (!env[keyEnv]) log.warn(`${keyEnv} is not set: access-list updates from the cloud will be refused`);
  return { boot, acl };
}

/** Event and flow ids: time-ordered, unique within this process. */
function idMaker(): (prefix: string) => string {
  let counter = 0;
  return (prefix) => `${prefix}-${Date.now().toString(36)}${(counter++ % 1296).toString(36).padStart(2, "0")}`;
}

/**
 * Events a lane emits while it handles one board frame are collected, so that the frame is
 * acknowledged (the link's deferred ACK) only once they are on disk.
 */
function frameBatches() {
  let batch: Promise<unknown>[] | undefined;
  return {
    /** Run a frame's handler; what it wrote, to wait on before the ACK (undefined: ACK at once). */
    collect(handler: () => void): Promise<unknown> | undefined {
      batch = [];
      try { handler(); } finally { /* batch read below */ }
      const pending = batch;
      batch = undefined;
      return pending.length ? Promise.all(pending) : undefined;
    },
    /** An outbox write: part of the frame being handled, if any (else its failure is only logged). */
    add(written: Promise<unknown>): void {
      if (batch) batch.push(written); else written.catch(() => {});
    },
  };
}
type FrameBatches = ReturnType<typeof frameBatches>;

/** The lanes' `emit` port: statuses are published as they are, events go through the durable outbox. */
function laneEmitter(services: GatewayServices, src: string, batches: FrameBatches, log: Logger): LanePorts["emit"] {
  return (key, payload) => {
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
    batches.add(written);
  };
}

/** What every lane of this gateway shares. */
interface LaneContext {
  opts: GatewayOptions;
  log: Logger;
  boot: number;
  acl: AccessList;
  batches: FrameBatches;
  policy: SiteConfig["offline_policy"];
  emit: LanePorts["emit"];
  newId: (prefix: string) => string;
}

/** One lane: its orchestrator and the links to its two boards (not opened yet). */
function startLane(laneConfig: LaneConfig, ctx: LaneContext): { lane: LaneOrchestrator; links: { exit: BoardLink; barrier: BoardLink } } {
  const id = laneConfig.id;
  // The links and the lane refer to each other: the lane's ports reach the links through this holder.
  const io: { exit?: BoardLink; barrier?: BoardLink } = {};
  const lane = new LaneOrchestrator(id, {
    toExit: (type, fields) => io.exit?.send(type, fields),
    toBarrier: (type, fields) => io.barrier?.send(type, fields),
    emit: ctx.emit,
    now: () => Date.now(),
    newId: ctx.newId,
    log: (message) => ctx.log.info({ lane: id }, message),
  }, ctx.acl, {
    trustedBadges: ctx.policy.trusted_badges,
    exitPins: ctx.policy.exit_pins,
    operatorOverride: ctx.policy.operator_override,
    plateWindowMs: 10_000,
  });
  // Offline until the bridge reports the cloud broker connected (followCloud).
  lane.setCloudOnline(false);
  const exit = (io.exit = boardLink(lane, id, "exit", laneConfig.exit_controller, ctx));
  const barrier = (io.barrier = boardLink(lane, id, "barrier", laneConfig.barrier_executor, ctx));
  return { lane, links: { exit, barrier } };
}

/** The same link on a harness transport or on the configured serial port (reopened on unplug). */
function boardLink(lane: LaneOrchestrator, id: string, board: "exit" | "barrier", port: { port: string; baud: number }, ctx: LaneContext): BoardLink {
  const { opts, log } = ctx;
  const onLine = opts.onLine && ((direction: "rx" | "tx", line: string) => opts.onLine!(id, board, direction, line));
  const onPortChange = (open: boolean, error?: string) => log[open ? "info" : "warn"]({ lane: id, board, port: port.port, error }, open ? "serial port open" : "serial port lost; reopening");
  const stream = opts.transports?.(id, board) ?? new SerialDeviceStream({ path: port.port, baudRate: port.baud, onPortChange });
  const linkOptions: Omit<LinkOptions, "write"> = {
    self: { kind: "gateway" as const, fw: GATEWAY_VERSION, boot: ctx.boot, lane: id },
    receives: "up" as const,
    onMessage: (type: string, fields: Fields) => {
      if (type !== "HB") log.debug({ lane: id, board }, describeMessage(type, fields));
      return ctx.batches.collect(() => (board === "exit" ? lane.onExitMessage(type, fields) : lane.onBarrierMessage(type, fields)));
    },
    onLinkChange: (up) => {
      log.info({ lane: id, board, up }, `${board} link ${up ? "up" : "down"}`);
      if (board === "exit") lane.onExitLink(up); else lane.onBarrierLink(up);
    },
    onPeerHello: (fields) => log.info({ lane: id, board, hello: fields }, `${board} board announced itself`),
    onGiveUp: (type) => log.warn({ lane: id, board, type }, "frame given up after retries"),
  };
  return new StreamLink(stream, { ...linkOptions, onLine });
}

/**
 * Cloud messages to the access list or the lanes, and the lanes' online flag: on as soon as the
 * bridge connects, off only after `offline_after_s` without it (a short blip keeps the lanes online).
 */
function followCloud(services: GatewayServices, config: SiteConfig, lanes: Map<string, LaneOrchestrator>, acl: AccessList, log: Logger): { stop(): void } {
  let offlineTimer: NodeJS.Timeout | undefined;
  const setOnline = (online: boolean) => {
    for (const lane of lanes.values()) lane.setCloudOnline(online);
  };
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
  return { stop: () => clearTimeout(offlineTimer) };
}

/** LPR plate reads on the site broker, to the lane they name. */
function routePlates(services: GatewayServices, lanes: Map<string, LaneOrchestrator>, log: Logger): Promise<() => Promise<void>> {
  return services.siteBroker.subscribe(siteTopic("lprPlate"), (topic, payload) => {
    const parsed = parsePayload(topic, payload);
    if (!parsed.ok || parsed.key !== "lprPlate") return log.warn({ error: parsed.ok ? "not a plate" : parsed.error }, "LPR message refused");
    lanes.get((parsed.payload as Payload<"lprPlate">).lane_id)?.onPlate((parsed.payload as Payload<"lprPlate">).plate);
  });
}
