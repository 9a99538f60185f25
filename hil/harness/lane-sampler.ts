/**
 * A scenario's timeline and VCD sampling: every lane's state, barrier, motor and sensors into the
 * timeline (at a fixed lane-time period, and at once when a frame or a message goes by), the
 * vehicles driven on as the boom rises, and per sim lane the safety core's outputs into a VCD.
 */
import { join } from "node:path";
import type { Gateway } from "../../gateway/runtime";
import { VcdWriter } from "../../fpga/vcd";
import type { SimulatedSafetyCore } from "../../sim/plant/barrier-core";
import type { BoardClock } from "../../firmware/common/io/board-host";
import { PACE, type Lane } from "./lane-types";
import type { Timeline } from "./timeline";

/** The timeline's sampling period (lane time): 40 points over a 2 s boom travel. */
const SAMPLE_MS = 50;
/** ... and while every lane is at rest (idle, boom down, motor off): steps and faults sample at once. */
const REST_SAMPLE_MS = 500;

/** What the sampler reads of the lane set. */
export interface SampledSet {
  readonly lanes: Map<string, Lane>;
  readonly timeline: Timeline;
  readonly gateway?: Gateway;
  readonly clock: BoardClock;
}

export class LaneSampler {
  private timer: NodeJS.Timeout | undefined;
  private lastSample = -Infinity;
  private sampleQueued = false;
  private readonly underSince = new Map<string, number>();
  private readonly vcds = new Map<string, VcdWriter>();
  /** Per sim lane: the safety core's VCD (GTKWave), written at close. */
  readonly vcdFiles: { name: string; path: string }[] = [];

  constructor(private readonly set: SampledSet) {}

  /** Sample every SAMPLE_MS of lane time (REST_SAMPLE_MS while every lane is at rest) until `stop`. */
  start(): void {
    const sample = () => { this.timer = setTimeout(sample, this.tick() ? REST_SAMPLE_MS : SAMPLE_MS); };
    this.timer = setTimeout(sample, SAMPLE_MS);
  }

  stop(): void { clearTimeout(this.timer); }

  /**
   * A frame or a message went by: the lane may have changed, sample it (at most every 10 ms).
   * Deferred to a microtask: the tap calls this from inside a board's or the gateway's write,
   * and the tick drives the field (a vehicle moving on), which must never re-enter a firmware
   * in the middle of handling a frame.
   */
  sampleSoon(): void {
    if (this.sampleQueued || !this.set.lanes.size || !this.set.gateway || Date.now() - this.lastSample < 10) return;
    this.sampleQueued = true;
    queueMicrotask(() => { this.sampleQueued = false; this.tick(); });
  }

  /**
   * Sample every lane into the timeline and drive the vehicles. True when every lane is at rest
   * (idle, no vehicle moving, motor off, boom down): nothing for the diagram to follow closely.
   */
  tick(): boolean {
    this.lastSample = Date.now();
    let atRest = true;
    for (const lane of this.set.lanes.values()) {
      const snap = (this.set.gateway?.lanes.get(lane.id) ?? this.set.gateway?.entryLanes.get(lane.id))?.snapshot();
      const obs = lane.field.observe();
      const pct = obs ? obs.boomPct : snap?.barrier_pos ?? 0;
      const v = lane.vehicle;
      this.driveVehicle(lane, pct);
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
      this.set.timeline.sample(lane.id, sample);
      const moving = v.phase !== "none" && v.phase !== "gone";
      if (sample.phase !== "idle" || moving || sample.motorUp || sample.motorDown || sample.barrierPct > 1) atRest = false;
    }
    return atRest;
  }

  /** The car on the loop drives under the boom once it is up, and is gone after crossing it. */
  private driveVehicle(lane: Lane, pct: number): void {
    const v = lane.vehicle, now = this.set.clock.now();
    if (v.phase === "at_loop" && pct >= 95) {
      lane.field.presence(false);
      lane.field.vehicleUnder(true);
      v.phase = "under_boom";
      this.underSince.set(lane.id, now);
      this.set.timeline.event("step", "vehicle drives under the boom", lane.id);
    } else if (v.phase === "under_boom" && now - (this.underSince.get(lane.id) ?? 0) >= PACE.crossingMs) {
      lane.field.vehicleUnder(false);
      v.phase = "gone";
      this.set.timeline.event("step", "vehicle has passed", lane.id);
    }
  }

  /**
   * Per sim lane: the safety core's outputs and the plant, recorded at every model chunk (exact to
   * the cycle), times from `boardStart`. Returns the closer that detaches it.
   */
  recordCoreVcd(laneId: string, core: SimulatedSafetyCore, boardStart: number): () => Promise<void> {
    const vcd = new VcdWriter(1e9 / core.model.params.clockHz, `SysPark ${laneId} safety core (model outputs, exact to the ${core.model.params.clockHz} Hz cycle) and plant (boom %, at the same points)`);
    for (const [name, width] of [["state", 4], ["motor_up", 1], ["motor_down", 1], ["brake", 1], ["fault_code", 8], ["boom_pct", 8], ["vehicle_under", 1], ["emergency", 1], ["limit_open", 1], ["limit_closed", 1]] as const) vcd.add(laneId, name, width);
    this.vcds.set(laneId, vcd);
    let last = 0;
    core.onAdvance = () => {
      const m = core.model, o = core.plant.outputs();
      const t = last = Math.max(last, Math.round((core.timeMs - boardStart) * 1e6));
      vcd.sample(t, {
        [`${laneId}.state`]: m.state, [`${laneId}.motor_up`]: m.motorUp, [`${laneId}.motor_down`]: m.motorDown, [`${laneId}.brake`]: m.brake,
        [`${laneId}.fault_code`]: m.faultCode, [`${laneId}.boom_pct`]: Math.max(0, Math.min(255, Math.round(core.plant.positionPct))),
        [`${laneId}.vehicle_under`]: core.plant.vehicleUnder ? 1 : 0, [`${laneId}.emergency`]: o.emergency ? 1 : 0,
        [`${laneId}.limit_open`]: o.limOpen ? 1 : 0, [`${laneId}.limit_closed`]: o.limClosed ? 1 : 0,
      });
    };
    return async () => { core.onAdvance = undefined; };
  }

  /** Write each lane's VCD into `dir` (listed in `vcdFiles`); a VCD that cannot be written is left out of the report. */
  writeVcds(dir: string): void {
    for (const [lane, vcd] of this.vcds) {
      const path = join(dir, `${lane}-core.vcd`);
      try { vcd.write(path); this.vcdFiles.push({ name: `${lane} safety core (VCD)`, path }); } catch { /* report without it */ }
    }
    this.vcds.clear();
  }
}
