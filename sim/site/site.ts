/**
 * The whole site on one machine, on embedded defaults (`syspark up`): the cloud (PGlite, its
 * in-process MQTT broker, the Stripe test emulator), the gateway, per exit lane a simulated
 * exit controller and barrier executor, and one entry lane (E1: the lane controller in its entry
 * role, with its printer and scanner, and a barrier executor) — the real firmware, on socat pty
 * pairs (in-memory cables where socat is missing) — with the barrier's plant model and a vehicle
 * driver per lane. A car that went in through E1 can be driven to an exit lane, where it leaves
 * the way it came in: its plate read, else its ticket's QR at the pay station's scanner.
 */
import { randomBytes } from "node:crypto";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { Logger } from "pino";
import { startCloud, type CloudHandle, DEMO_SITE } from "../../cloud/server/index";
import { loadParkedVehicles, saveParkedVehicles } from "./parked-vehicles";
import { siteTopic } from "../../contracts/mqtt-topics";
import { parseSiteConfig } from "../../gateway/config/load";
import { startGateway, type Gateway } from "../../gateway/runtime";
import { openPtyPair, type PtyPair } from "../../host/link/pty";
import { silentLogger } from "../../host/log";
import { which } from "../../host/tools";
import { SimulatedBarrierExecutor } from "../boards/barrier-executor-sim";
import { SimulatedEntryTerminal } from "../boards/entry-terminal-sim";
import { SimulatedExitController } from "../boards/exit-controller-sim";
import type { ByteStream } from "../../host/link/byte-stream";
import { memoryCable } from "../../host/link/streams";
import { RealClock } from "../boards/virtual-clock";
import { LaneVehicle } from "./vehicle";
import { ENTRY_LANE_ID, SiteEntryLane, type EnteredCar } from "./entry-lane";

export type { EnteredCar, SiteEntryLane };

export interface SiteOptions {
  lanes: number;
  /** Where PGlite, the gateway outbox and the access list live (persisted between runs). */
  dataDir: string;
  cloudPort: number;
  cloudMqttPort: number;
  siteBrokerPort: number;
  host?: string;
  /** In-memory database (tests). */
  memoryDb?: boolean;
  /** Board links: socat pty pairs (real serial devices), or in-memory cables; "auto" takes ptys
   *  when socat is installed. */
  links?: "auto" | "pty" | "memory";
  logger?: Logger;
}

export interface SiteLane {
  id: string;
  exit: SimulatedExitController;
  barrier: SimulatedBarrierExecutor;
  vehicle: LaneVehicle;
  alarms: string[];
}

export interface Site {
  cloud: CloudHandle;
  gateway: Gateway;
  lanes: Map<string, SiteLane>;
  /** The entry lane E1. */
  entry: SiteEntryLane;
  links: "pty" | "memory";
  /** A car that entered `minutesAgo` arrives at the exit loop of `laneId`; its plate is read.
   *  (Its entry is injected as a past parking/entry: how a demo gets a car parked for two hours.) */
  carArrives(laneId: string, minutesAgo: number): Promise<string>;
  /** A car drives onto the entry loop; the entry camera reads its plate unless `readPlate` is false. */
  carAtEntry(opts?: { plate?: string; readPlate?: boolean }): Promise<string>;
  /** The driver at the entry presses the ticket key. */
  takeTicket(): void;
  /** The driver at the entry presents a badge (10 hex digits). */
  entryBadge(uid: string): void;
  /** The entry terminal's scanner reads `text` (a reservation's QR `SPR1.…`). */
  scanAtEntry(text: string): void;
  /** The last car that went in through E1 drives to the exit loop of `laneId`: its plate is read
   *  there if it was at the entry; else, unless `scanTicket` is false (a lost ticket), the
   *  driver holds its ticket (or badge) to the pay station once the lane asks for it. */
  carFromEntry(laneId: string, opts?: { scanTicket?: boolean }): Promise<EnteredCar>;
  /** The pay station's scanner at `laneId` reads `text` (a ticket `SPK1.…`, a validation `SPV1.…`). */
  scanAtExit(laneId: string, text: string): void;
  /** The driver at `laneId` presses the lost-ticket key. */
  lostTicket(laneId: string): void;
  close(): Promise<void>;
}

export async function startSite(opts: SiteOptions): Promise<Site> {
  const log = opts.logger ?? silentLogger;
  const links = opts.links === "memory" || (opts.links !== "pty" && !which("socat")) ? "memory" : "pty";
  if (links === "pty" && !which("socat")) throw new Error("pty links need socat: apt-get install -y socat (or use in-memory links)");
  if (links === "memory") log.warn("socat is not installed: the simulated boards reach the gateway through in-memory cables instead of pty pairs");
  mkdirSync(opts.dataDir, { recursive: true });
  const closers: (() => Promise<unknown>)[] = [];
  const close = async () => { for (const c of closers.reverse()) await c().catch((err: Error) => log.warn({ err: err.message }, "shutdown step failed")); };
  try {
    // One access-list key for the cloud (signs parking/acl/*) and the gateway (verifies them).
    const aclKey = process.env.SYSPARK_ACL_HMAC_KEY || randomBytes(24).toString("hex");
    const cloud = await startCloud({
      // The Stripe test emulator keeps its state beside the database (a restart strands no driver mid-payment).
      ...(opts.memoryDb ? {} : { dataDir: join(opts.dataDir, "cloud"), stripe: { emulatorStateDir: join(opts.dataDir, "stripe-emulator") } }),
      port: opts.cloudPort, host: opts.host ?? "127.0.0.1", mqttPort: opts.cloudMqttPort,
      seedDemo: true, createFirstAdmin: true, logger: log, aclHmacKey: aclKey,
    });
    closers.push(() => cloud.close());

    const laneIds = Array.from({ length: opts.lanes }, (_, i) => `L${i + 1}`);
    // The entry terminal is on the link the lane controller uses (the "exit" board end).
    const boardLaneIds = [...laneIds, ENTRY_LANE_ID];
    // Each lane board ↔ gateway link: the two ends' device paths (pty), or the two ends of a cable.
    const ends = new Map<string, { boardPath: string; gatewayPath: string; board?: ByteStream; gateway?: ByteStream }>();
    const ptyDir = join(opts.dataDir, "tty");
    mkdirSync(ptyDir, { recursive: true });
    for (const id of boardLaneIds) {
      for (const board of ["exit", "barrier"] as const) {
        if (links === "pty") {
          const pair: PtyPair = await openPtyPair(`${board}-${id}`, ptyDir);
          closers.push(() => pair.close());
          ends.set(`${id}/${board}`, { boardPath: pair.a, gatewayPath: pair.b });
        } else {
          const [boardEnd, gatewayEnd] = memoryCable();
          ends.set(`${id}/${board}`, { boardPath: `memory:${id}:${board}`, gatewayPath: `memory:${id}:${board}`, board: boardEnd, gateway: gatewayEnd });
        }
      }
    }
    const end = (id: string, board: "exit" | "barrier") => ends.get(`${id}/${board}`)!;
    const config = parseSiteConfig({
      site_id: DEMO_SITE.siteId, name: DEMO_SITE.name, data_dir: join(opts.dataDir, "gateway"),
      lanes: [
        ...laneIds.map((id) => ({ id, exit_controller: { port: end(id, "exit").gatewayPath }, barrier_executor: { port: end(id, "barrier").gatewayPath } })),
        { id: ENTRY_LANE_ID, kind: "entry", exit_controller: { port: end(ENTRY_LANE_ID, "exit").gatewayPath }, barrier_executor: { port: end(ENTRY_LANE_ID, "barrier").gatewayPath } },
      ],
      // Development site: the LAN broker takes anonymous clients (the live page, a local LPR).
      site_broker: { host: opts.host ?? "127.0.0.1", port: opts.siteBrokerPort, allow_anonymous: true },
      // The cloud's embedded broker is aedes (MQTT 3.1.1), on this machine.
      cloud: { url: cloud.mqttUrl, anonymous: true, protocol_version: 4, reconnect_ms: 500 },
      bridge: { heartbeat_s: 30 },
    });
    const gateway = await startGateway(config, {
      siteBrokerPort: opts.siteBrokerPort, logger: log, env: { ...process.env, SYSPARK_ACL_HMAC_KEY: aclKey },
      transports: (id, board) => end(id, board).gateway,
    });
    closers.push(() => gateway.close(true));

    const clock = new RealClock();
    const lanes = new Map<string, SiteLane>();
    for (const id of laneIds) {
      const exitEnd = end(id, "exit"), barrierEnd = end(id, "barrier");
      const exit = await SimulatedExitController.start({ ...(exitEnd.board ? { transport: exitEnd.board } : { serialPath: exitEnd.boardPath }), clock, lane: id });
      const barrier = await SimulatedBarrierExecutor.start({ ...(barrierEnd.board ? { transport: barrierEnd.board } : { serialPath: barrierEnd.boardPath }), clock, lane: id });
      closers.push(() => exit.close(), () => barrier.close());
      lanes.set(id, { id, exit, barrier, vehicle: new LaneVehicle(exit, barrier, () => clock.now()), alarms: [] });
    }
    const entryEnd = end(ENTRY_LANE_ID, "exit"), entryBarrierEnd = end(ENTRY_LANE_ID, "barrier");
    const terminal = await SimulatedEntryTerminal.start({ ...(entryEnd.board ? { transport: entryEnd.board } : { serialPath: entryEnd.boardPath }), clock, lane: ENTRY_LANE_ID });
    const entryBarrier = await SimulatedBarrierExecutor.start({ ...(entryBarrierEnd.board ? { transport: entryBarrierEnd.board } : { serialPath: entryBarrierEnd.boardPath }), clock, lane: ENTRY_LANE_ID });
    closers.push(() => terminal.close(), () => entryBarrier.close());
    const entry = new SiteEntryLane(terminal, entryBarrier, () => gateway.entryLanes.get(ENTRY_LANE_ID), () => clock.now());
    // What a driver sent from the entry does at the exit once the lane asks for it (the lane
    // takes a scan or a badge only while it identifies): lane id → the ticket QR, or the badge.
    const atExitWhenAsked = new Map<string, { scan: string } | { badge: string }>();
    const actWhenAsked = () => {
      for (const [id, act] of atExitWhenAsked) {
        const lane = lanes.get(id)!;
        if (lane.vehicle.phase !== "at_loop") { atExitWhenAsked.delete(id); continue; }
        const phase = gateway.lanes.get(id)?.snapshot().phase;
        if (phase !== "identifying" || !["present", "identifying"].includes(lane.exit.state)) continue;
        atExitWhenAsked.delete(id);
        if ("scan" in act) lane.exit.scan(act.scan); else lane.exit.presentBadge(act.badge);
      }
    };

    // Cars on an exit loop outlive a restart (they are not software): back on their loop, their
    // plate already read before the restart (the camera reads a car as it stops).
    const parked = () => Object.fromEntries([...lanes.values()].filter((l) => l.vehicle.phase === "at_loop" && l.vehicle.plate).map((l) => [l.id, l.vehicle.plate as string]));
    let parkedJson = "{}";
    const keepParked = () => {
      if (opts.memoryDb) return; // the sessions die with the process: so do the cars
      const now = JSON.stringify(parked());
      if (now === parkedJson) return;
      parkedJson = now;
      saveParkedVehicles(opts.dataDir, parked());
    };
    if (!opts.memoryDb) for (const [id, plate] of Object.entries(loadParkedVehicles(opts.dataDir))) lanes.get(id)?.vehicle.arrive(plate);
    keepParked();
    const drive = setInterval(() => {
      for (const lane of lanes.values()) lane.vehicle.step();
      entry.step();
      actWhenAsked();
      keepParked();
    }, 50);
    closers.push(async () => clearInterval(drive));

    let plates = 0;
    const newPlate = (prefix: string) => `${prefix}-${String(++plates).padStart(3, "0")}-${randomBytes(1).toString("hex").toUpperCase()}`;
    const lprRead = (laneId: string, plate: string) =>
      gateway.services.siteBroker.publish(siteTopic("lprPlate"), JSON.stringify({ ts: Date.now(), src: `lpr-${laneId}`, lane_id: laneId, plate, confidence: 0.97 }), { qos: 1, retain: false });
    const exitLane = (laneId: string) => {
      const lane = lanes.get(laneId);
      if (!lane) throw new Error(`no exit lane ${laneId}`);
      return lane;
    };
    return {
      cloud, gateway, lanes, entry, links,
      async carArrives(laneId, minutesAgo) {
        const lane = exitLane(laneId);
        if (!(minutesAgo >= 0 && minutesAgo <= 60 * 24 * 30)) throw new Error("minutesAgo must be between 0 and 43200");
        const plate = newPlate("DM");
        // The entry lane saw it come in earlier (entry → a session in the cloud).
        await gateway.services.emitEvent("entry", { ts: Date.now() - minutesAgo * 60_000, src: `gw-${DEMO_SITE.siteId}`, event_id: `demo-entry-${Date.now().toString(36)}-${plates}`, lane_id: "E1", identity: { method: "plate", value: plate } });
        await new Promise((r) => setTimeout(r, 300)); // the entry reaches the cloud before the exit request
        lane.vehicle.arrive(plate);
        keepParked();
        // The exit camera reads the plate as the car stops on the loop.
        await lprRead(laneId, plate);
        return plate;
      },
      async carAtEntry({ plate = newPlate("IN"), readPlate = true } = {}) {
        if (entry.vehicle.phase === "at_loop" || entry.vehicle.phase === "under_boom") throw new Error(`a vehicle is already in lane ${ENTRY_LANE_ID}`);
        // The camera reads the plate as the car comes up to the terminal, before it stops on the loop.
        if (readPlate) await lprRead(ENTRY_LANE_ID, plate);
        entry.arrive(plate, readPlate);
        return plate;
      },
      takeTicket: () => terminal.pressTicket(),
      entryBadge: (uid) => entry.badge(uid),
      scanAtEntry: (text) => terminal.scan(text),
      async carFromEntry(laneId, { scanTicket = true } = {}) {
        const lane = exitLane(laneId);
        const car = entry.lastIn;
        if (!car) throw new Error(`no car has gone in through ${ENTRY_LANE_ID} yet`);
        lane.vehicle.arrive(car.plate); // throws while the exit lane has a car: this one stays inside
        entry.lastIn = undefined;
        keepParked();
        if (car.plateRead) await lprRead(laneId, car.plate);
        else if (scanTicket && car.ticket) atExitWhenAsked.set(laneId, { scan: car.ticket.qr });
        else if (scanTicket && car.badge) atExitWhenAsked.set(laneId, { badge: car.badge });
        return car;
      },
      scanAtExit: (laneId, text) => exitLane(laneId).exit.scan(text),
      lostTicket: (laneId) => exitLane(laneId).exit.pressLost(),
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}
