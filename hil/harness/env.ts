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
import { exec } from "node:child_process";
import { accessSync, constants, existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import type { Logger } from "pino";
import { startCloud, type CloudHandle, DEMO_SITE } from "../../cloud/server/index";
import { findAuditEntries, latestSessionOfIdentity, sessionStatusOf } from "../../cloud/db/index";
import { encodePayload, siteTopic, toCloudTopic, TOPICS, type Payload, type TopicKey } from "../../contracts/mqtt-topics";
import { parseSiteConfig } from "../../gateway/config/load";
import type { Phase } from "../../gateway/lane/orchestrator";
import { startGateway, type Gateway } from "../../gateway/runtime";
import { silentLogger } from "../../host/log";
import { openPtyPair } from "../../host/link/pty";
import { which } from "../../host/tools";
import { SimulatedBarrierExecutor } from "../../sim/boards/barrier-executor-sim";
import { SimulatedExitController } from "../../sim/boards/exit-controller-sim";
import type { ByteStream } from "../../host/link/byte-stream";
import { memoryCable, openSerialStream } from "../../host/link/streams";
import { RealClock } from "../../sim/boards/virtual-clock";
import type { Rig, RigBoard } from "../rig/schema";
import { Dut, type DutLine, type TappedTransport } from "./dut";
import { infra, InfrastructureError } from "./errors";
import { TcpProxy } from "./tcp-proxy";
import type { LaneField } from "./lane-field";
import { Timeline } from "./timeline";

export type { LaneField };
import { VcdWriter } from "../../fpga/vcd";
import type { SimulatedSafetyCore } from "../../sim/plant/barrier-core";
import { currentSiteClock } from "./site-clock";
import type { BoardClock } from "../../firmware/common/io/board-host";

export type Target = "sim" | "rig" | "xs";

/**
 * How long people and cars take, in lane time: what a lane (and a scenario on a rig) really goes
 * through. With the virtual site clock these waits cost almost no wall time, so scenarios keep
 * the real pace instead of shortened timings.
 */
export const PACE = {
  /** The driver reads the screen, takes out the phone, scans the QR code and pays the card. */
  payOnPhoneMs: 45_000,
  /** After a declined card: reads the message, tries another card. */
  retryCardMs: 20_000,
  /** A car crossing the loop under the boom (4.5 m at ~10 km/h). */
  crossingMs: 1_800,
  /** An operator sees the call or the alarm on the dashboard and acts. */
  operatorMs: 90_000,
  /** The next car pulls up to the same lane. */
  nextCarMs: 30_000,
  /** A driver who cannot pay hesitates before reversing away. */
  hesitateMs: 20_000,
} as const;

/** The timeline's sampling period (lane time): 40 points over a 2 s boom travel. */
const SAMPLE_MS = 50;
/** ... and while every lane is at rest (idle, boom down, motor off): steps and faults sample at once. */
const REST_SAMPLE_MS = 500;
/** How often `waitUntil` looks at its condition (lane time). */
const POLL_MS = 50;

export interface HilCloud {
  cloud: CloudHandle;
  /** SYSPARK_ACL_HMAC_KEY of the run: the cloud signs the access lists with it, every gateway verifies with it. */
  aclKey: string;
  close(): Promise<void>;
}

export async function startHilCloud(logger: Logger = silentLogger): Promise<HilCloud> {
  const aclKey = randomBytes(24).toString("hex");
  const cloud = await infra("starting the cloud (PGlite, MQTT broker, Stripe emulator)", () =>
    // One cloud instance: every commit wakes the relay and the audit chainer, so their safety-net
    // polls (for other instances' commits) can be slow — they cost real work on every virtual tick.
    startCloud({ port: 0, host: "127.0.0.1", mqttPort: 0, seedDemo: true, createFirstAdmin: true, logger, relayPollMs: 30_000, auditChainPeriodMs: 30_000, aclHmacKey: aclKey }));
  return { cloud, aclKey, close: () => cloud.close() };
}


export interface Lane {
  id: string;
  exitDut: Dut;
  barrierDut: Dut;
  exitLink: TappedTransport;
  barrierLink: TappedTransport;
  field: LaneField;
  /** Simulated boards (sim target only). */
  sim?: { exit: SimulatedExitController; barrier: SimulatedBarrierExecutor };
  vehicle: { phase: "none" | "at_loop" | "under_boom" | "gone"; plate?: string };
}

export interface MqttRecord { t: number; topic: string; payload: Record<string, unknown> }

export interface LaneSetOptions {
  target: Target;
  lanes: string[];
  /** Per-scenario directory (DUT logs, gateway data). */
  dir: string;
  rig?: Rig;
  logger?: Logger;
  links?: "auto" | "pty" | "memory";
  offlineAfterS?: number;
}

export class LaneSet {
  readonly timeline = new Timeline();
  readonly lanes = new Map<string, Lane>();
  readonly mqtt: MqttRecord[] = [];
  gateway!: Gateway;
  proxy!: TcpProxy;
  links: "pty" | "memory" | "rig" | "xs" = "memory";
  private closers: (() => Promise<unknown>)[] = [];
  private gatewayTransports = new Map<string, ByteStream>();
  private sampler: NodeJS.Timeout | undefined;
  private plates = 0;
  /** The boards' clock: the global timers (virtual under the site clock). */
  clock!: BoardClock;
  private boardStart = 0;
  private readonly laneStart = Date.now();
  private constructor(readonly hc: HilCloud, readonly options: LaneSetOptions) {}

  /** The key the gateway checks access lists with (the run's cloud signs them with it). */
  get aclKey(): string { return this.hc.aclKey; }

  get cloud(): CloudHandle { return this.hc.cloud; }

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

  lane(id: string): Lane {
    const l = this.lanes.get(id);
    if (!l) throw new Error(`no lane ${id} in this scenario (lanes: ${[...this.lanes.keys()].join(", ")})`);
    return l;
  }

  private async boot(): Promise<void> {
    const o = this.options;
    mkdirSync(o.dir, { recursive: true });
    const u = new URL(this.cloud.mqttUrl);
    this.proxy = new TcpProxy({ host: u.hostname, port: Number(u.port) });
    await infra("starting the cloud broker relay", () => this.proxy.start());
    this.closers.push(() => this.proxy.stop());
    const t0 = () => this.timeline.t0;
    // The boards' timers are the global ones: virtual under the site clock, else the wall clock.
    const clock = new RealClock();
    this.clock = clock;
    this.boardStart = clock.now();
    const fields = new Map<string, LaneField>();
    const sims = new Map<string, Lane["sim"]>();
    const duts = new Map<string, { exit: Dut; barrier: Dut; exitLink?: TappedTransport; barrierLink?: TappedTransport }>();
    const xsStarts: (() => Promise<void>)[] = [];
    const onLine = (lane: string) => (l: DutLine) => { if (l.type !== "HB" && l.type !== "ACK") { this.timeline.event("serial", `${l.dir} ${l.text}`, lane); this.sampleSoon(); } };
    for (const id of o.lanes) duts.set(id, { exit: new Dut(`${id}-exit`, join(o.dir, `${id}-exit.log`), t0, onLine(id)), barrier: new Dut(`${id}-barrier`, join(o.dir, `${id}-barrier.log`), t0, onLine(id)) });

    if (o.target === "sim") {
      const usePty = o.links === "pty" || (o.links !== "memory" && which("socat") !== undefined);
      if (o.links === "pty" && !which("socat")) throw new InfrastructureError("pty links need socat: apt-get install -y socat");
      this.links = usePty ? "pty" : "memory";
      if (usePty) mkdirSync(join(o.dir, "tty"), { recursive: true });
      for (const id of o.lanes) {
        const d = duts.get(id)!;
        const boardEnds: Partial<Record<"exit" | "barrier", TappedTransport>> = {};
        for (const board of ["exit", "barrier"] as const) {
          let boardEnd: ByteStream, gatewayEnd: ByteStream;
          if (usePty) {
            // socat is another process: virtual time follows the wall clock while it starts.
            const realTime = <T>(fn: () => Promise<T>) => currentSiteClock()?.realTime(fn) ?? fn();
            const pair = await infra(`opening a socat pty pair for ${id} ${board}`, () => realTime(() => openPtyPair(`${board}-${id}`, join(o.dir, "tty"))));
            this.closers.push(() => pair.close());
            const [a, b] = await infra(`opening ${pair.a} and ${pair.b}`, () => realTime(async () => [await openSerialStream(pair.a), await openSerialStream(pair.b)]));
            // Bytes inside socat are invisible to the site clock: it counts them in flight.
            const [ce, cg] = countedPair(a, b);
            boardEnd = ce; gatewayEnd = cg;
            const untrack = currentSiteClock()?.track(() => ce.inFlight + cg.inFlight);
            if (untrack) this.closers.push(async () => untrack());
          } else {
            [boardEnd, gatewayEnd] = memoryCable();
          }
          boardEnds[board] = (board === "exit" ? d.exit : d.barrier).tap(boardEnd);
          this.gatewayTransports.set(`${id}/${board}`, gatewayEnd);
          this.closers.push(() => gatewayEnd.close());
        }
        d.exitLink = boardEnds.exit; d.barrierLink = boardEnds.barrier;
      }
    } else if (o.target === "xs") {
      const { moddableTools } = await import("../xs/xs-firmware");
      const { openXsLane } = await import("../xs/xs-lane");
      const tools = moddableTools();
      this.links = "xs";
      for (const id of o.lanes) {
        const d = duts.get(id)!;
        const lane = await openXsLane({ tools, lane: id, dir: o.dir, duts: { exit: d.exit, barrier: d.barrier }, closers: this.closers, progress: (line) => process.stderr.write(`${line}\n`) });
        this.gatewayTransports.set(`${id}/exit`, lane.exitLink);
        this.gatewayTransports.set(`${id}/barrier`, lane.barrierLink);
        d.exitLink = lane.exitLink; d.barrierLink = lane.barrierLink;
        fields.set(id, lane.field);
        xsStarts.push(lane.start);
      }
    } else {
      const rig = o.rig;
      if (!rig) throw new InfrastructureError("--target rig needs a rig file (--rig rig.json)");
      this.links = "rig";
      for (const id of o.lanes) {
        const d = duts.get(id)!;
        for (const board of ["exit", "barrier"] as const) {
          const spec = rigBoard(rig, id, board);
          const t = await infra(`opening ${spec.port} (${spec.kind} of lane ${id})`, () => openSerialStream(spec.port, spec.baud));
          const tapped = (board === "exit" ? d.exit : d.barrier).tapGatewaySide(t);
          this.gatewayTransports.set(`${id}/${board}`, tapped);
          this.closers.push(() => tapped.close());
          if (board === "exit") d.exitLink = tapped; else d.barrierLink = tapped;
          this.rigPorts.set(`${id}/${board}`, { spec, port: t.port });
        }
      }
      const { openIoEmulator } = await import("../rig/io-emulator");
      const io = await openIoEmulator(rig.io_emulator);
      this.closers.push(() => io.close());
      for (const id of o.lanes) fields.set(id, io.field(id, (board) => this.resetRigBoard(id, board)));
    }

    const config = parseSiteConfig({
      site_id: DEMO_SITE.siteId, name: DEMO_SITE.name, data_dir: gatewayDataDir(o.dir),
      lanes: o.lanes.map((id) => ({ id, exit_controller: { port: `harness:${id}:exit` }, barrier_executor: { port: `harness:${id}:barrier` } })),
      site_broker: { host: "127.0.0.1", port: 0, allow_anonymous: true },
      cloud: { url: this.proxy.url, anonymous: true, protocol_version: 4, reconnect_ms: 200 },
      bridge: { heartbeat_s: 30 },
      ...(o.offlineAfterS ? { offline_policy: { offline_after_s: o.offlineAfterS } } : {}),
    });
    this.config = config;
    if (config.data_dir.startsWith("/dev/shm/")) this.closers.push(async () => rmSync(config.data_dir, { recursive: true, force: true }));
    await this.startGatewayInstance();
    this.closers.push(() => this.gateway.close(true));
    this.closers.push(() => this.unsubscribeRecorder());

    if (o.target === "sim") {
      for (const id of o.lanes) {
        const d = duts.get(id)!;
        const exit = await SimulatedExitController.start({ transport: d.exitLink!, clock, lane: id });
        const barrier = await SimulatedBarrierExecutor.start({ transport: d.barrierLink!, clock, lane: id });
        this.recordCoreVcd(id, barrier.core);
        this.closers.push(() => exit.close(), () => barrier.close());
        sims.set(id, { exit, barrier });
        fields.set(id, simField(exit, barrier));
      }
    }
    // XS boards start once the gateway holds their links (mcsim takes a second or two to boot).
    for (const start of xsStarts) await infra("starting the boards on XS", start);
    for (const id of o.lanes) {
      const d = duts.get(id)!;
      this.lanes.set(id, { id, exitDut: d.exit, barrierDut: d.barrier, exitLink: d.exitLink!, barrierLink: d.barrierLink!, field: fields.get(id)!, ...(sims.get(id) ? { sim: sims.get(id) } : {}), vehicle: { phase: "none" } });
    }
    const sample = () => { this.sampler = setTimeout(sample, this.tick() ? REST_SAMPLE_MS : SAMPLE_MS); };
    this.sampler = setTimeout(sample, SAMPLE_MS);
    this.closers.push(async () => clearTimeout(this.sampler));
    await this.waitUntil(() => this.gateway.services.bridge.connected, 10_000, "the gateway's bridge to connect to the cloud broker");
    for (const id of o.lanes) await this.waitUntil(() => { const s = this.gateway.lanes.get(id)!.snapshot(); return s.exit_link && s.barrier_link; }, o.target === "xs" ? 30_000 : 10_000, `both board links of lane ${id} to come up`, true);
  }

  private config!: ReturnType<typeof parseSiteConfig>;
  private unsubscribeRecorder: () => Promise<void> = async () => {};

  /** A gateway on the scenario's data directory: its boot number is the one persisted there plus
   *  one, as with `syspark gateway` (1 for a scenario's first, 2 after a restart, …). */
  private async startGatewayInstance(): Promise<void> {
    // The gateway closes its transports on shutdown; the harness keeps the links (a restarted
    // gateway finds the same cables), so it hands the gateway a view whose close only detaches.
    const view = (t: ByteStream): ByteStream => ({ write: (b) => t.write(b), setReceiver: (r) => t.setReceiver(r), close: async () => t.setReceiver(() => {}) });
    this.gateway = await infra("starting the gateway", () => startGateway(this.config, {
      siteBrokerPort: 0, logger: this.options.logger ?? silentLogger, env: { ...process.env, SYSPARK_ACL_HMAC_KEY: this.aclKey },
      // The site clock sees one event loop: a relay in its own thread would work while the
      // site looks idle, and virtual time would jump past its deliveries.
      relayInProcess: currentSiteClock() !== undefined,
      transports: (id, board) => { const t = this.gatewayTransports.get(`${id}/${board}`); return t ? view(t) : undefined; },
    }));
    this.unsubscribeRecorder = await this.gateway.services.siteBroker.subscribe("parking/#", (topic, payload) => {
      let parsed: Record<string, unknown>;
      try { parsed = JSON.parse(payload.toString()) as Record<string, unknown>; } catch { parsed = { raw: payload.toString().slice(0, 200) }; }
      this.mqtt.push({ t: this.timeline.now(), topic, payload: parsed });
      const lane = typeof parsed.lane_id === "string" ? parsed.lane_id : undefined;
      if (!topic.endsWith("/heartbeat") && !/lane\/[^/]+\/state$/.test(topic)) { this.timeline.event("mqtt", `${topic} ${summary(parsed)}`, lane); this.sampleSoon(); }
    });
  }

  /** The gateway process dies (no graceful offline) and starts again on the same data directory and cables. */
  async restartGateway(): Promise<void> {
    this.fault("gateway restart");
    await this.unsubscribeRecorder();
    await this.gateway.close(false);
    await this.startGatewayInstance();
    await this.waitUntil(() => this.gateway.services.bridge.connected, 10_000, "the restarted gateway's bridge to connect");
  }

  private rigPorts = new Map<string, { spec: RigBoard; port: import("serialport").SerialPort }>();

  private async resetRigBoard(id: string, board: "exit" | "barrier"): Promise<void> {
    const r = this.rigPorts.get(`${id}/${board}`);
    if (!r) throw new InfrastructureError(`no rig port for ${id} ${board}`);
    const reset = r.spec.reset;
    if (reset.method === "none") throw new InfrastructureError(`${r.spec.kind} of lane ${id} has no reset method in the rig file`);
    if (reset.method === "power") {
      const run = promisify(exec);
      await infra(`power switch off (${reset.off})`, () => run(reset.off, { timeout: 30_000 }));
      await new Promise((res) => setTimeout(res, reset.off_ms));
      await infra(`power switch on (${reset.on})`, () => run(reset.on, { timeout: 30_000 }));
      return;
    }
    const line = reset.method; // dtr | rts
    const set = (level: boolean) => new Promise<void>((resolve, reject) => r.port.set({ [line]: level }, (err) => (err ? reject(new InfrastructureError(`${line.toUpperCase()} on ${r.spec.port}: ${err.message}`)) : resolve())));
    await set(reset.active);
    await new Promise((res) => setTimeout(res, reset.pulse_ms));
    await set(!reset.active);
  }

  private lastSample = -Infinity;
  private sampleQueued = false;

  /**
   * A frame or a message went by: the lane may have changed, sample it (at most every 10 ms).
   * Deferred to a microtask: the tap calls this from inside a board's or the gateway's write,
   * and the tick drives the field (a vehicle moving on), which must never re-enter a firmware
   * in the middle of handling a frame.
   */
  private sampleSoon(): void {
    if (this.sampleQueued || !this.lanes.size || !this.gateway || Date.now() - this.lastSample < 10) return;
    this.sampleQueued = true;
    queueMicrotask(() => { this.sampleQueued = false; this.tick(); });
  }

  /**
   * Sample every lane into the timeline and drive the vehicles. True when every lane is at rest
   * (idle, no vehicle moving, motor off, boom down): nothing for the diagram to follow closely.
   */
  private tick(): boolean {
    this.lastSample = Date.now();
    let atRest = true;
    for (const lane of this.lanes.values()) {
      const snap = this.gateway.lanes.get(lane.id)?.snapshot();
      const obs = lane.field.observe();
      const pct = obs ? obs.boomPct : snap?.barrier_pos ?? 0;
      const v = lane.vehicle;
      if (v.phase === "at_loop" && pct >= 95) {
        lane.field.presence(false);
        lane.field.vehicleUnder(true);
        v.phase = "under_boom";
        this.underSince.set(lane.id, this.clock.now());
        this.timeline.event("step", "vehicle drives under the boom", lane.id);
      } else if (v.phase === "under_boom" && this.clock.now() - (this.underSince.get(lane.id) ?? 0) >= PACE.crossingMs) {
        lane.field.vehicleUnder(false);
        v.phase = "gone";
        this.timeline.event("step", "vehicle has passed", lane.id);
      }
      const sample = {
        phase: snap?.phase ?? "unknown",
        barrierPct: Math.max(0, Math.min(100, pct)),
        motorUp: obs?.motorUp ?? snap?.barrier_state === "opening",
        motorDown: obs?.motorDown ?? snap?.barrier_state === "closing",
        presence: obs?.presence ?? snap?.present ?? false,
        vehicleUnder: obs?.vehicleUnder ?? v.phase === "under_boom",
        emergency: obs?.emergency ?? false,
        fault: snap?.phase === "fault" || obs?.coreState === "FAULT",
      };
      this.timeline.sample(lane.id, sample);
      const moving = v.phase !== "none" && v.phase !== "gone";
      if (sample.phase !== "idle" || moving || sample.motorUp || sample.motorDown || sample.barrierPct > 1) atRest = false;
    }
    return atRest;
  }
  private underSince = new Map<string, number>();
  private vcds = new Map<string, VcdWriter>();
  /** Per sim lane: the safety core's VCD (GTKWave), written at close. */
  readonly vcdFiles: { name: string; path: string }[] = [];

  /** Per sim lane: the safety core's outputs and the plant, recorded at every model chunk (exact to the cycle). */
  private recordCoreVcd(laneId: string, core: SimulatedSafetyCore): void {
    const vcd = new VcdWriter(1e9 / core.model.params.clockHz, `SysPark ${laneId} safety core (model outputs, exact to the ${core.model.params.clockHz} Hz cycle) and plant (boom %, at the same points)`);
    for (const [name, width] of [["state", 4], ["motor_up", 1], ["motor_down", 1], ["brake", 1], ["fault_code", 8], ["boom_pct", 8], ["vehicle_under", 1], ["emergency", 1], ["limit_open", 1], ["limit_closed", 1]] as const) vcd.add(laneId, name, width);
    this.vcds.set(laneId, vcd);
    let last = 0;
    core.onAdvance = () => {
      const m = core.model, o = core.plant.outputs();
      const t = last = Math.max(last, Math.round((core.timeMs - this.boardStart) * 1e6));
      vcd.sample(t, {
        [`${laneId}.state`]: m.state, [`${laneId}.motor_up`]: m.motorUp, [`${laneId}.motor_down`]: m.motorDown, [`${laneId}.brake`]: m.brake,
        [`${laneId}.fault_code`]: m.faultCode, [`${laneId}.boom_pct`]: Math.max(0, Math.min(255, Math.round(core.plant.positionPct))),
        [`${laneId}.vehicle_under`]: core.plant.vehicleUnder ? 1 : 0, [`${laneId}.emergency`]: o.emergency ? 1 : 0,
        [`${laneId}.limit_open`]: o.limOpen ? 1 : 0, [`${laneId}.limit_closed`]: o.limClosed ? 1 : 0,
      });
    };
    this.closers.push(async () => { core.onAdvance = undefined; });
  }

  // ------------------------------------------------------------------ lane helpers

  step(text: string, lane?: string): void { this.timeline.event("step", text, lane); this.tick(); }
  fault(text: string, lane?: string): void { this.timeline.event("fault", text, lane); this.tick(); }

  /** A car that entered `minutesAgo` drives onto the exit loop of `laneId`; the exit camera reads its plate. */
  async vehicleArrives(laneId: string, opts: { minutesAgo?: number; plate?: string; readPlate?: boolean; entry?: boolean; badge?: string } = {}): Promise<string> {
    const lane = this.lane(laneId);
    const plate = opts.plate ?? `HIL-${String(++this.plates).padStart(3, "0")}-${randomBytes(2).toString("hex").toUpperCase()}`;
    const minutesAgo = opts.minutesAgo ?? 30;
    this.step(`vehicle ${plate} arrives (entered ${minutesAgo} min ago)`, laneId);
    if (opts.entry !== false) await this.recordEntry(opts.badge ? { method: "badge", value: opts.badge } : { method: "plate", value: plate }, minutesAgo);
    lane.vehicle = { phase: "at_loop", plate };
    lane.field.presence(true);
    if (opts.readPlate !== false) {
      await this.gateway.services.siteBroker.publish(siteTopic("lprPlate"), JSON.stringify({ ts: Date.now(), src: `lpr-${laneId}`, lane_id: laneId, plate, confidence: 0.97 }), { qos: 1, retain: false });
    }
    return plate;
  }

  /** The entry lane saw the car come in `minutesAgo` (a session in the cloud). */
  private async recordEntry(identity: { method: "plate" | "badge"; value: string }, minutesAgo: number): Promise<void> {
    await this.gateway.services.emitEvent("entry", { ts: Date.now() - minutesAgo * 60_000, src: `gw-${DEMO_SITE.siteId}`, event_id: `hil-entry-${Date.now().toString(36)}-${this.plates}-${randomBytes(2).toString("hex")}`, lane_id: "E1", identity });
    await this.waitUntil(async () => (await latestSessionOfIdentity(this.cloud.db.sql, identity.value).catch(() => undefined)) !== undefined, 5000, `the cloud to open a session for ${identity.method} ${identity.value}`).catch(() => new Promise((r) => setTimeout(r, 500)));
  }

  /** Publish a cloud → site message on the cloud broker (as the cloud would), signed ACLs included. */
  async publishFromCloud<K extends TopicKey>(key: K, payload: Payload<K>): Promise<void> {
    const mqtt = await import("mqtt");
    const c = await mqtt.connectAsync(this.cloud.mqttUrl, { protocolVersion: 4 });
    try {
      await c.publishAsync(toCloudTopic(DEMO_SITE.siteId, TOPICS[key].topic), encodePayload(key, payload), { qos: 1 });
    } finally {
      await c.endAsync();
    }
  }

  /** An operator (the cloud's first admin) logs in and overrides the lane through the cloud API (audited). */
  async operatorOverride(laneId: string, action: "open" | "reset", reason: string, opts: { afterMs?: number } = {}): Promise<Record<string, unknown>> {
    await this.sleep(opts.afterMs ?? PACE.operatorMs);
    const admin = this.cloud.firstAdmin;
    if (!admin) throw new InfrastructureError("the cloud has no first admin to log in with");
    this.step(`operator ${action}: ${reason}`, laneId);
    const login = await fetch(`${this.cloud.url}/api/login`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(admin) });
    if (!login.ok) throw new Error(`operator login: ${login.status} ${await login.text()}`);
    const { token } = (await login.json()) as { token: string };
    const r = await fetch(`${this.cloud.url}/api/lanes/${laneId}/override`, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${token}` }, body: JSON.stringify({ action, reason }) });
    const body = (await r.json()) as Record<string, unknown>;
    if (!r.ok) throw new Error(`override ${action} on ${laneId}: ${r.status} ${JSON.stringify(body)}`);
    return body;
  }

  /** An operator (the cloud's first admin) calls the cloud's API at once (no PACE wait): `{status, body}`. */
  async operatorApi(method: "GET" | "POST" | "DELETE", path: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
    const admin = this.cloud.firstAdmin;
    if (!admin) throw new InfrastructureError("the cloud has no first admin to log in with");
    const login = await fetch(`${this.cloud.url}/api/login`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(admin) });
    if (!login.ok) throw new Error(`operator login: ${login.status} ${await login.text()}`);
    const { token } = (await login.json()) as { token: string };
    const r = await fetch(`${this.cloud.url}${path}`, { method, headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { "content-type": "application/json" } : {}) }, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
    return { status: r.status, body: (await r.json()) as Record<string, unknown> };
  }

  /** An operator adds a badge or an exit PIN to the site's access list through the cloud; waits until the gateway has the cloud's version. */
  async grantAccess(entry: { kind: "badge"; badge_uid: string; label: string; subscriber?: boolean; valid_until?: string } | { kind: "pin"; pin: string; label: string; valid_until?: string }): Promise<{ version: number; entryId: string }> {
    this.step(entry.kind === "badge" ? `operator grants badge ${entry.badge_uid}${entry.subscriber ? " (subscriber)" : ""}` : "operator adds an exit PIN");
    const r = await this.operatorApi("POST", `/api/sites/${DEMO_SITE.siteId}/access`, entry);
    if (r.status !== 201) throw new Error(`access add: ${r.status} ${JSON.stringify(r.body)}`);
    const version = r.body.version as number;
    await this.waitUntil(() => this.gateway.acl.version >= version, 10_000, `the gateway's access list to reach version ${version}`);
    return { version, entryId: String((r.body.entry as Record<string, unknown>).entry_id) };
  }

  /** An operator revokes an access-list entry through the cloud; waits until the gateway has the new version. */
  async revokeAccess(entryId: string): Promise<number> {
    this.step(`operator revokes ${entryId}`);
    const r = await this.operatorApi("DELETE", `/api/sites/${DEMO_SITE.siteId}/access/${encodeURIComponent(entryId)}`);
    if (r.status !== 200) throw new Error(`access revoke: ${r.status} ${JSON.stringify(r.body)}`);
    const version = r.body.version as number;
    await this.waitUntil(() => this.gateway.acl.version >= version, 10_000, `the gateway's access list to reach version ${version}`);
    return version;
  }

  /** The driver reverses away from the pay station without paying. */
  vehicleLeaves(laneId: string): void {
    const lane = this.lane(laneId);
    this.step("vehicle reverses away", laneId);
    lane.field.presence(false);
    lane.vehicle.phase = "gone";
  }

  /** The vehicle drives through the open barrier (it also does so by itself once the boom is up). */
  async vehiclePasses(laneId: string, timeoutMs = 15_000): Promise<void> {
    await this.waitUntil(() => this.lane(laneId).vehicle.phase === "gone", timeoutMs, `the vehicle to pass lane ${laneId}`);
  }

  presentBadge(laneId: string, uid: string): void {
    this.step(`badge ${uid}`, laneId);
    this.lane(laneId).field.badge(uid);
  }

  async enterPin(laneId: string, pin: string): Promise<void> {
    this.step("PIN typed", laneId);
    await this.lane(laneId).field.typeKeys(pin);
  }

  /** The payment request the cloud sent for a lane (the newest, or the newest after index `from` of `mqtt`). */
  async paymentRequest(laneId: string, timeoutMs = 10_000): Promise<Record<string, unknown>> {
    let found: MqttRecord | undefined;
    await this.waitUntil(() => (found = [...this.mqtt].reverse().find((m) => m.topic === "parking/payment/req" && m.payload.lane_id === laneId)) !== undefined, timeoutMs, `parking/payment/req for lane ${laneId}`);
    return found!.payload;
  }

  /** The driver pays on the cloud's payment page with a card, through the Stripe emulator's card page (plain HTTP, as a browser would). */
  async payWithCard(laneId: string, card = "4242424242424242", opts: { afterMs?: number } = {}): Promise<{ ok: boolean; status: number; page: string }> {
    const req = await this.paymentRequest(laneId);
    await this.sleep(opts.afterMs ?? PACE.payOnPhoneMs);
    const payUrl = String(req.pay_url ?? "");
    if (!payUrl) throw new Error(`payment request for ${laneId} has no pay_url`);
    this.step(`driver pays with card ${card.slice(0, 4)}…${card.slice(-4)}`, laneId);
    const u = new URL(payUrl);
    const start = new URL(`${u.pathname}/start${u.search}`, u);
    const form = await fetch(start, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: "" });
    if (!form.ok) throw new Error(`payment page ${start.pathname}/start answered ${form.status}`);
    const cardPage = form.url;
    const body = new URLSearchParams({ card_number: card, exp: "12/34", cvc: "123", locale: "en" });
    const returnUrl = new URL(cardPage).searchParams.get("return_url");
    if (returnUrl) body.set("return_url", returnUrl);
    const paid = await fetch(cardPage, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body });
    const page = await paid.text();
    return { ok: paid.ok && new URL(paid.url).origin === u.origin, status: paid.status, page };
  }

  /** Messages seen on the site broker on a topic (suffix after `parking/`), optionally for a lane. */
  seen(topic: string, laneId?: string): Record<string, unknown>[] {
    return this.mqtt.filter((m) => m.topic === `parking/${topic}` && (!laneId || m.payload.lane_id === laneId)).map((m) => m.payload);
  }

  phase(laneId: string): Phase { return this.gateway.lanes.get(laneId)!.snapshot().phase; }
  snapshot(laneId: string) { return this.gateway.lanes.get(laneId)!.snapshot(); }

  async waitPhase(laneId: string, phase: Phase | Phase[], timeoutMs = 15_000): Promise<void> {
    const want = Array.isArray(phase) ? phase : [phase];
    await this.waitUntil(() => want.includes(this.phase(laneId)), timeoutMs, `lane ${laneId} phase ${want.join(" or ")} (now ${this.phase(laneId)})`);
  }

  async waitBarrier(laneId: string, state: string, timeoutMs = 15_000): Promise<void> {
    await this.waitUntil(() => this.snapshot(laneId).barrier_state === state, timeoutMs, `lane ${laneId} barrier ${state} (now ${this.snapshot(laneId).barrier_state})`);
  }

  /** Audit rows (chained or still pending) for a session. */
  async auditKinds(sessionId: string): Promise<string[]> {
    return (await findAuditEntries(this.cloud.db.sql, { sessionId })).map((r) => r.kind);
  }

  /** The newest session the cloud holds for this identity (plate or badge, as entered). */
  async sessionOf(identityValue: string): Promise<string | undefined> {
    return latestSessionOfIdentity(this.cloud.db.sql, identityValue);
  }

  async sessionStatus(sessionId: string): Promise<string | undefined> {
    return sessionStatusOf(this.cloud.db.sql, sessionId);
  }

  // ------------------------------------------------------------------ fault injectors

  /** Noise on the gateway → board wire (garbage, a frame with a bad CRC, an over-long line). */
  serialNoise(laneId: string, board: "exit" | "barrier"): void {
    const link = board === "exit" ? this.lane(laneId).exitLink : this.lane(laneId).barrierLink;
    this.fault(`serial noise on the ${board} link`, laneId);
    const enc = (s: string) => new Uint8Array([...s].map((c) => c.charCodeAt(0) & 0xff));
    link.injectToBoard(enc("\x00\xff~~garbage~~\n"));
    link.injectToBoard(enc("1 OPEN cmd=9*0000\n"));
    link.injectToBoard(enc(`${"X".repeat(400)}\n`));
    link.injectFromBoard(enc("7 BARRIER state=open pos=100*FFFF\n"));
  }

  jam(laneId: string, on = true): void { this.fault(on ? "boom jammed" : "jam cleared", laneId); this.lane(laneId).field.jam(on); }
  obstruct(laneId: string, on = true): void { this.fault(on ? "obstruction under the boom" : "obstruction cleared", laneId); this.lane(laneId).field.vehicleUnder(on); }
  emergency(laneId: string, on = true): void { this.fault(on ? "emergency input active" : "emergency input released", laneId); this.lane(laneId).field.emergency(on); }
  freezeHeartbeat(laneId: string, on = true): void { this.fault(on ? "barrier MCU heartbeat frozen" : "heartbeat resumes", laneId); this.lane(laneId).field.freezeHeartbeat(on); }
  async resetBoard(laneId: string, board: "exit" | "barrier"): Promise<void> { this.fault(`${board} board reset`, laneId); await this.lane(laneId).field.reset(board); }
  async cloudBrokerDown(): Promise<void> { this.fault("cloud broker unreachable"); await this.proxy.stop(); }
  async cloudBrokerUp(): Promise<void> { this.fault("cloud broker back"); await this.proxy.start(); }

  // ------------------------------------------------------------------

  async waitUntil(cond: () => boolean | Promise<boolean>, timeoutMs: number, what: string, infraOnTimeout = false): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await cond())) {
      if (Date.now() > deadline) {
        const msg = `timed out after ${timeoutMs} ms waiting for ${what}`;
        throw infraOnTimeout ? new InfrastructureError(msg) : new Error(msg);
      }
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
  }

  /** Wait `ms` of lane time. */
  async sleep(ms: number): Promise<void> { await new Promise((r) => setTimeout(r, ms)); }

  /** Lane time covered since the scenario started, ms (virtual time under the site clock). */
  get laneTimeMs(): number { return Date.now() - this.laneStart; }

  async close(): Promise<void> {
    for (const c of this.closers.reverse()) await c().catch(() => {});
    this.closers = [];
    for (const [lane, vcd] of this.vcds) {
      const path = join(this.options.dir, `${lane}-core.vcd`);
      try { vcd.write(path); this.vcdFiles.push({ name: `${lane} safety core (VCD)`, path }); } catch { /* report without it */ }
    }
    this.vcds.clear();
  }
}

function rigBoard(rig: Rig, lane: string, board: "exit" | "barrier"): RigBoard {
  const kind = board === "exit" ? "exit-controller" : "barrier-executor";
  const b = rig.boards.find((x) => x.lane === lane && x.kind === kind);
  if (!b) throw new InfrastructureError(`the rig "${rig.name}" has no ${kind} for lane ${lane}`);
  return b;
}

function simField(exit: SimulatedExitController, barrier: SimulatedBarrierExecutor): LaneField {
  let present = false, emergency = false;
  return {
    presence: (on) => { present = on; if (on) exit.vehicleArrives(); else exit.vehicleLeaves(); },
    vehicleUnder: (on) => barrier.vehicleUnder(on),
    badge: (uid) => exit.presentBadge(uid),
    typeKeys: (keys) => exit.typeKeys(keys, (ms) => new Promise((r) => setTimeout(r, ms))),
    jam: (on) => (on ? barrier.jam() : barrier.clearJam()),
    emergency: (on) => { emergency = on; barrier.emergency(on); },
    freezeHeartbeat: (on) => barrier.freezeHeartbeat(on),
    reset: async (board) => { if (board === "exit") exit.powerCycle(); else barrier.powerCycle(); },
    display: () => exit.display.lines,
    observe: () => {
      const m = barrier.motor;
      return { boomPct: barrier.boomPct, motorUp: m.motorUp, motorDown: m.motorDown, coreState: barrier.coreState, presence: present, vehicleUnder: barrier.plant.vehicleUnder, emergency };
    },
  };
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

/** Two ends of a socat pair that count the bytes each wrote and the other has not received yet. */
function countedPair(a: ByteStream, b: ByteStream): [ByteStream & { inFlight: number }, ByteStream & { inFlight: number }] {
  const wrap = (self: ByteStream) => {
    const end = {
      sent: 0, received: 0, peer: undefined as unknown as { sent: number },
      get inFlight() { return Math.max(0, end.peer.sent - end.received); },
      write: (bytes: Uint8Array) => { end.sent += bytes.length; self.write(bytes); },
      setReceiver: (r: (bytes: Uint8Array) => void) => self.setReceiver((bytes) => { end.received += bytes.length; r(bytes); }),
      close: () => self.close(),
    };
    return end;
  };
  const x = wrap(a), y = wrap(b);
  x.peer = y; y.peer = x;
  // Until a receiver is set, bytes still count as received (they reach the port and are dropped).
  x.setReceiver(() => {}); y.setReceiver(() => {});
  return [x, y];
}

function summary(p: Record<string, unknown>): string {
  const keys = ["session_id", "amount", "reason", "decided_by", "barrier_result", "cmd", "result", "state", "status", "method"];
  return keys.filter((k) => p[k] !== undefined).map((k) => `${k}=${typeof p[k] === "object" ? JSON.stringify(p[k]) : String(p[k])}`).join(" ");
}
