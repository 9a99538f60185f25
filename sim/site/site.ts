/**
 * The whole site on one machine, on embedded defaults (`syspark up`): the cloud (PGlite, its
 * in-process MQTT broker, the Stripe test emulator), the gateway, and per exit lane a simulated
 * exit controller and barrier executor — the real firmware, on socat pty pairs (in-memory
 * cables where socat is missing) — with the barrier's plant model and a vehicle driver.
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
import { SimulatedExitController } from "../boards/exit-controller-sim";
import type { ByteStream } from "../../host/link/byte-stream";
import { memoryCable } from "../../host/link/streams";
import { RealClock } from "../boards/virtual-clock";
import { LaneVehicle } from "./vehicle";

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
  links: "pty" | "memory";
  /** A car that entered `minutesAgo` arrives at the exit loop of `laneId`; its plate is read. */
  carArrives(laneId: string, minutesAgo: number): Promise<string>;
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
    // Each lane board ↔ gateway link: the two ends' device paths (pty), or the two ends of a cable.
    const ends = new Map<string, { boardPath: string; gatewayPath: string; board?: ByteStream; gateway?: ByteStream }>();
    const ptyDir = join(opts.dataDir, "tty");
    mkdirSync(ptyDir, { recursive: true });
    for (const id of laneIds) {
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
      lanes: laneIds.map((id) => ({ id, exit_controller: { port: end(id, "exit").gatewayPath }, barrier_executor: { port: end(id, "barrier").gatewayPath } })),
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
    const drive = setInterval(() => { for (const lane of lanes.values()) lane.vehicle.step(); keepParked(); }, 50);
    closers.push(async () => clearInterval(drive));

    let plates = 0;
    return {
      cloud, gateway, lanes, links,
      async carArrives(laneId, minutesAgo) {
        const lane = lanes.get(laneId);
        if (!lane) throw new Error(`no lane ${laneId}`);
        if (!(minutesAgo >= 0 && minutesAgo <= 60 * 24 * 30)) throw new Error("minutesAgo must be between 0 and 43200");
        const plate = `DM-${String(++plates).padStart(3, "0")}-${randomBytes(1).toString("hex").toUpperCase()}`;
        // The entry lane saw it come in earlier (entry → a session in the cloud).
        await gateway.services.emitEvent("entry", { ts: Date.now() - minutesAgo * 60_000, src: `gw-${DEMO_SITE.siteId}`, event_id: `demo-entry-${Date.now().toString(36)}-${plates}`, lane_id: "E1", identity: { method: "plate", value: plate } });
        await new Promise((r) => setTimeout(r, 300)); // the entry reaches the cloud before the exit request
        lane.vehicle.arrive(plate);
        keepParked();
        // The exit camera reads the plate as the car stops on the loop.
        await gateway.services.siteBroker.publish(siteTopic("lprPlate"), JSON.stringify({ ts: Date.now(), src: `lpr-${laneId}`, lane_id: laneId, plate, confidence: 0.97 }), { qos: 1, retain: false });
        return plate;
      },
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}
