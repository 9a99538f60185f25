/**
 * The world a scenario runs in. The cloud (PGlite, its MQTT broker, the Stripe test emulator)
 * starts once per run; each scenario gets a fresh `LaneSet`: a gateway with its site broker and
 * outbox in a fresh directory, and per lane an exit controller and a barrier executor —
 * simulated boards (the real firmware, on socat pty pairs or in-memory cables, with the plant
 * model) on `sim`, the firmware on XS in the Moddable simulator on `xs` (hil/xs: the plant and
 * the FPGA model on the harness's side of each board's field-I/O channel), or the real boards of
 * the rig file on `rig`. Every board link is tapped
 * into a DUT log; the lane's state, barrier, motor and sensors are sampled into a timeline.
 *
 * Time: every part reads the global clock (`Date`, `setTimeout`). On `sim` the runner installs one
 * virtual site clock (./site-clock.ts) over all of them, so a scenario's minutes of lane time take
 * a fraction of a second; on `xs`, `rig`, or `sim --clock wall`, it is the wall clock.
 */
import { randomBytes } from "node:crypto";
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { Logger } from "pino";
import { startCloud } from "../../cloud/server/index";
import type { ByteStream } from "../../host/link/byte-stream";
import { silentLogger } from "../../host/log";
import { RealClock } from "../../sim/boards/virtual-clock";
import { Dut, type DutLine } from "./dut";
import { infra } from "./errors";
import { LaneFaults } from "./lane-faults";
import { ScenarioGateway, scenarioSiteConfig } from "./lane-gateway";
import { openLaneLinks, startSimBoards, type LaneDuts } from "./lane-resources";
import type { HilCloud, Lane, LaneSetOptions } from "./lane-types";
import { TcpProxy } from "./tcp-proxy";

export { PACE, type HilCloud, type Lane, type LaneSetOptions, type MqttRecord, type Target } from "./lane-types";
export type { LaneField } from "./lane-field";

export async function startHilCloud(logger: Logger = silentLogger): Promise<HilCloud> {
  const aclKey = randomBytes(24).toString("hex");
  const cloud = await infra("starting the cloud (PGlite, MQTT broker, Stripe emulator)", () =>
    // One cloud instance: every commit wakes the relay and the audit chainer, so their safety-net
    // polls (for other instances' commits) can be slow — they cost real work on every virtual tick.
    startCloud({ port: 0, host: "127.0.0.1", mqttPort: 0, seedDemo: true, createFirstAdmin: true, logger, relayPollMs: 30_000, auditChainPeriodMs: 30_000, aclHmacKey: aclKey }));
  return { cloud, aclKey, close: () => cloud.close() };
}

/**
 * A scenario's lanes, gateway and boards, booted on the run's target. What a scenario calls on it
 * is layered: what it reads back and waits for (./lane-core.ts), the lane verbs
 * (./lane-verbs.ts), the fault injectors (./lane-faults.ts); the lanes' resources per target are
 * in ./lane-resources.ts, the gateway's lifecycle in ./lane-gateway.ts, the sampling in
 * ./lane-sampler.ts.
 */
export class LaneSet extends LaneFaults {
  private boardStart = 0;

  static async start(hc: HilCloud, options: LaneSetOptions): Promise<LaneSet> {
    const set = new LaneSet(hc, options);
    try {
      await set.boot();
    } catch (err) {
      await set.close();
      throw err;
    }
    return set;
  }

  private async boot(): Promise<void> {
    const o = this.options;
    mkdirSync(o.dir, { recursive: true });
    const u = new URL(this.cloud.mqttUrl);
    this.proxy = new TcpProxy({ host: u.hostname, port: Number(u.port) });
    await infra("starting the cloud broker relay", () => this.proxy.start());
    this.closers.push(() => this.proxy.stop());
    // The boards' timers are the global ones: virtual under the site clock, else the wall clock.
    const clock = new RealClock();
    this.clock = clock;
    this.boardStart = clock.now();
    const duts = this.openDuts();
    const gatewayTransports = new Map<string, ByteStream>();
    const { links, fields, xsStarts } = await openLaneLinks({ options: o, duts, closers: this.closers, gatewayTransports });
    this.links = links;
    await this.startSiteGateway(gatewayTransports);
    const sims = o.target === "sim"
      ? await startSimBoards({ lanes: o.lanes, ...(o.entryLanes ? { entryLanes: o.entryLanes } : {}), duts, clock, closers: this.closers, fields, recordCore: (id, core) => this.closers.push(this.sampler.recordCoreVcd(id, core, this.boardStart)) })
      : new Map<string, NonNullable<Lane["sim"]>>();
    // XS boards start once the gateway holds their links (mcsim takes a second or two to boot).
    for (const start of xsStarts) await infra("starting the boards on XS", start);
    for (const id of o.lanes) {
      const d = duts.get(id)!;
      this.lanes.set(id, { id, kind: o.entryLanes?.includes(id) ? "entry" : "exit", exitDut: d.exit, barrierDut: d.barrier, exitLink: d.exitLink!, barrierLink: d.barrierLink!, field: fields.get(id)!, ...(sims.get(id) ? { sim: sims.get(id) } : {}), vehicle: { phase: "none" } });
    }
    this.sampler.start();
    this.closers.push(async () => this.sampler.stop());
    await this.waitUntil(() => this.gateway.services.bridge.connected, 10_000, "the gateway's bridge to connect to the cloud broker");
    for (const id of o.lanes) await this.waitUntil(() => { const s = (this.gateway.lanes.get(id) ?? this.gateway.entryLanes.get(id))!.snapshot(); return s.exit_link && s.barrier_link; }, o.target === "xs" ? 30_000 : 10_000, `both board links of lane ${id} to come up`, true);
  }

  /** Each lane's two DUT logs; every frame but heartbeats and acks goes on the timeline. */
  private openDuts(): Map<string, LaneDuts> {
    const o = this.options;
    const t0 = () => this.timeline.t0;
    const onLine = (lane: string) => (l: DutLine) => { if (l.type !== "HB" && l.type !== "ACK") { this.timeline.event("serial", `${l.dir} ${l.text}`, lane); this.sampler.sampleSoon(); } };
    const duts = new Map<string, LaneDuts>();
    for (const id of o.lanes) duts.set(id, { exit: new Dut(`${id}-exit`, join(o.dir, `${id}-exit.log`), t0, onLine(id)), barrier: new Dut(`${id}-barrier`, join(o.dir, `${id}-barrier.log`), t0, onLine(id)) });
    return duts;
  }

  private async startSiteGateway(transports: Map<string, ByteStream>): Promise<void> {
    const config = scenarioSiteConfig(this.options, this.proxy.url);
    if (config.data_dir.startsWith("/dev/shm/")) this.closers.push(async () => rmSync(config.data_dir, { recursive: true, force: true }));
    this.site = new ScenarioGateway({ config, transports, ...(this.options.logger ? { logger: this.options.logger } : {}), aclKey: this.aclKey, mqtt: this.mqtt, timeline: this.timeline, onMessage: () => this.sampler.sampleSoon() });
    this.gateway = await this.site.start();
    this.closers.push(() => this.site.close(true));
    this.closers.push(() => this.site.stopRecorder());
  }

  async close(): Promise<void> {
    for (const c of this.closers.reverse()) await c().catch(() => {});
    this.closers = [];
    this.sampler.writeVcds(this.options.dir);
  }
}
