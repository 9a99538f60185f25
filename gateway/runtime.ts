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
import { EntryOrchestrator } from "./lane/entry-orchestrator";
import { SiteOccupancy } from "./lane/site-occupancy";
import { FileAdmissionStore, type AdmissionStore } from "./lane/entry-admissions";
import { issueTicket } from "../contracts/ticket";

export const GATEWAY_VERSION = "0.1.0";

type BoardLink = StreamLink;
/** Either kind of lane: both hear their two boards, the camera and the cloud the same way. */
type AnyLane = LaneOrchestrator | EntryOrchestrator;

export interface Gateway {
  /** The boot number this instance announces in its HELLOs. */
  boot: number;
  services: GatewayServices;
  /** The exit lanes. */
  lanes: Map<string, LaneOrchestrator>;
  /** The entry lanes (`kind: "entry"`). */
  entryLanes: Map<string, EntryOrchestrator>;
  /** The car park's occupancy as this gateway knows it (the entry lanes' offline decisions). */
  occupancy: SiteOccupancy;
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
  const { boot, acl, aclKey, occupancy } = prepareDataDir(config, opts, log);
  const services = await startGatewayServices(config, { ...opts, logger: log, aclVersion: () => acl.version });
  const batches = frameBatches();
  const entryLanes = new Map<string, EntryOrchestrator>();
  const site = siteBoard(occupancy, entryLanes);
  const ctx: LaneContext = {
    opts, log, boot, acl, batches, occupancy,
    policy: config.offline_policy,
    emit: countingMoves(laneEmitter(services, `gw-${config.site_id}`, batches, log), site),
    newId: idMaker(),
    issueTicket: aclKey ? (now) => issueTicket(config.site_id, aclKey, now) : undefined,
    admissions: new FileAdmissionStore(config.data_dir, Date.now, (m) => log.warn(m)),
  };
  const lanes = new Map<string, LaneOrchestrator>();
  const allLanes = new Map<string, AnyLane>();
  const links = new Map<string, { exit: BoardLink; barrier: BoardLink }>();
  for (const laneConfig of config.lanes) {
    const started = startLane(laneConfig, ctx);
    if (started.lane instanceof EntryOrchestrator) entryLanes.set(laneConfig.id, started.lane);
    else lanes.set(laneConfig.id, started.lane);
    allLanes.set(laneConfig.id, started.lane);
    links.set(laneConfig.id, started.links);
  }
  // The state kept from before the restart, on the terminals' idle screens (again on their HELLO).
  site.show();
  const cloud = followCloud(services, config, allLanes, { acl, site }, log);
  const unsubscribePlates = await routePlates(services, allLanes, log);

  // Ports that are not there yet (a board unplugged at boot) are retried by the links themselves.
  for (const link of links.values()) {
    await link.exit.openEventually();
    await link.barrier.openEventually();
  }

  return {
    boot, services, lanes, entryLanes, occupancy, links, acl,
    async close(graceful = true) {
      cloud.stop();
      await unsubscribePlates();
      for (const link of links.values()) { await link.exit.close(); await link.barrier.close(); }
      await services.close(graceful);
    },
  };
}

/** Credentials, the boot number and the access list: everything read from the environment and the data directory. */
function prepareDataDir(config: SiteConfig, opts: GatewayOptions, log: Logger): { boot: number; acl: AccessList; aclKey?: string; occupancy: SiteOccupancy } {
  const env = opts.env ?? process.env;
  resolveSecrets(config, env); // fail fast on missing credentials, with the variable's name
  // Counted before anything else touches the data directory: a number a board may already know
  // is never announced again, or the boards would skip their re-sync (docs/protocol.md).
  const boot = opts.boot ?? countBoot(config.data_dir, log);
  const keyEnv = config.offline_policy.acl_hmac_key_env;
  const acl = new AccessList(join(config.data_dir, "acl.json"), env[keyEnv]);
  if (!env[keyEnv]) log.warn(`${keyEnv} is not set: access-list updates from the cloud will be refused, and entry lanes issue no tickets`);
  const occupancy = new SiteOccupancy(join(config.data_dir, "occupancy.json"));
  if (occupancy.warning) log.warn(occupancy.warning);
  return { boot, acl, aclKey: env[keyEnv] || undefined, occupancy };
}

/** The car park's state on every entry terminal: shown when it changes (the cloud's word or a local move). */
function siteBoard(occupancy: SiteOccupancy, entryLanes: Map<string, EntryOrchestrator>) {
  let shown = "";
  const show = (force = false) => {
    const view = occupancy.view();
    const key = JSON.stringify(view);
    if (!force && key === shown) return;
    shown = key;
    for (const lane of entryLanes.values()) lane.onSite(view);
  };
  return { occupancy, show: () => show(true), changed: () => show(false) };
}
type SiteBoard = ReturnType<typeof siteBoard>;

/** Entries and exits the lanes report, counted in the local occupancy as they go to the outbox. */
function countingMoves(emit: LanePorts["emit"], site: SiteBoard): LanePorts["emit"] {
  return (key, payload) => {
    emit(key, payload);
    const passedExit = key === "exitDone" && (payload as { passed?: boolean }).passed === true;
    if (key !== "entry" && !passedExit) return;
    site.occupancy.onMove(key === "entry" ? 1 : -1, Date.now());
    site.changed();
  };
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
  occupancy: SiteOccupancy;
  /** Signs entry tickets with the access-list key; undefined without the key. */
  issueTicket?: ConstructorParameters<typeof EntryOrchestrator>[2]["issueTicket"];
  admissions: AdmissionStore;
}

/** One lane: its orchestrator and the links to its two boards (not opened yet). */
function startLane(laneConfig: LaneConfig, ctx: LaneContext): { lane: AnyLane; links: { exit: BoardLink; barrier: BoardLink } } {
  const id = laneConfig.id;
  // The links and the lane refer to each other: the lane's ports reach the links through this holder.
  const io: { exit?: BoardLink; barrier?: BoardLink } = {};
  const ports: LanePorts = {
    toExit: (type, fields) => io.exit?.send(type, fields),
    toBarrier: (type, fields) => io.barrier?.send(type, fields),
    emit: ctx.emit,
    now: () => Date.now(),
    newId: ctx.newId,
    log: (message) => ctx.log.info({ lane: id }, message),
  };
  const policy = {
    trustedBadges: ctx.policy.trusted_badges,
    exitPins: ctx.policy.exit_pins,
    operatorOverride: ctx.policy.operator_override,
    plateWindowMs: 10_000,
  };
  const lane: AnyLane = laneConfig.kind === "entry"
    ? new EntryOrchestrator(id, ports, { acl: ctx.acl, site: () => ctx.occupancy.view(), issueTicket: ctx.issueTicket, admissions: ctx.admissions }, policy)
    : new LaneOrchestrator(id, ports, ctx.acl, policy);
  // Offline until the bridge reports the cloud broker connected (followCloud).
  lane.setCloudOnline(false);
  const exit = (io.exit = boardLink(lane, laneConfig, "exit", ctx));
  const barrier = (io.barrier = boardLink(lane, laneConfig, "barrier", ctx));
  return { lane, links: { exit, barrier } };
}

/** The same link on a harness transport or on the configured serial port (reopened on unplug). */
function boardLink(lane: AnyLane, laneConfig: LaneConfig, board: "exit" | "barrier", ctx: LaneContext): BoardLink {
  const { opts, log } = ctx;
  const id = laneConfig.id;
  const port = board === "exit" ? laneConfig.exit_controller : laneConfig.barrier_executor;
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
    onPeerHello: (fields) => {
      log.info({ lane: id, board, hello: fields }, `${board} board announced itself`);
      if (board !== "exit") return;
      // A lane controller in the other role than the site file says would run the wrong flow.
      if ((fields.role ?? "exit") !== laneConfig.kind) log.error({ lane: id, role: fields.role ?? "exit", kind: laneConfig.kind }, "the lane controller's role differs from the lane's kind in the site file");
      if (lane instanceof EntryOrchestrator) lane.onExitHello();
    },
    onGiveUp: (type) => log.warn({ lane: id, board, type }, "frame given up after retries"),
  };
  return new StreamLink(stream, { ...linkOptions, onLine });
}

/**
 * Cloud messages to the access list or the lanes, and the lanes' online flag: on as soon as the
 * bridge connects, off only after `offline_after_s` without it (a short blip keeps the lanes online).
 */
function followCloud(services: GatewayServices, config: SiteConfig, lanes: Map<string, AnyLane>, local: { acl: AccessList; site: SiteBoard }, log: Logger): { stop(): void } {
  const { acl, site } = local;
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
    if (msg.key === "siteState") {
      if (site.occupancy.onSiteState(msg.payload as Payload<"siteState">)) site.show();
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
function routePlates(services: GatewayServices, lanes: Map<string, AnyLane>, log: Logger): Promise<() => Promise<void>> {
  return services.siteBroker.subscribe(siteTopic("lprPlate"), (topic, payload) => {
    const parsed = parsePayload(topic, payload);
    if (!parsed.ok || parsed.key !== "lprPlate") return log.warn({ error: parsed.ok ? "not a plate" : parsed.error }, "LPR message refused");
    lanes.get((parsed.payload as Payload<"lprPlate">).lane_id)?.onPlate((parsed.payload as Payload<"lprPlate">).plate);
  });
}
