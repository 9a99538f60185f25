/**
 * The FPGA of a simulated barrier executor: the cycle-accurate TypeScript model of the safety
 * core (firmware/barrier-executor/fpga/model.ts) with the physical plant (./barrier-plant)
 * closing the loop, behind a `CoreBus` — what the MCU reaches over SPI on a real board.
 *
 * Time: model cycle n happens at `t0 + n / clockHz` s of board time. Before every bus access
 * and every observation, the model is caught up to the clock's now: the plant's outputs feed
 * the model's raw inputs and the model's motor outputs drive the plant, chunk by chunk. A chunk
 * ends where the plant's outputs next change (a limit switch edge, an end stop, an over-current
 * trip: `msUntilChange`) or where the model's quiet horizon ends (past it the core may change
 * an output), so the coupling is exact to the clock cycle, and the model's fast-forward jumps
 * every stretch where only counters count: a minute of lane time costs a few thousand calls.
 */
import { SafetyCoreModel } from "../../firmware/barrier-executor/fpga/model";
import { CTRL, REG, STATE_NAMES, type SafetyCoreParams } from "../../firmware/barrier-executor/fpga/regmap";
import type { CoreBus } from "../../firmware/barrier-executor/spi-bus";
import { BarrierPlant, type MotorDrive, type PlantConfig, type PlantOutputs } from "./barrier-plant";

export interface SimCoreOptions {
  /** Board time (ms) of model cycle 0. */
  startMs: number;
  plant?: Partial<PlantConfig>;
  /** Initial boom position, % open. */
  initialPct?: number;
  /** Core build parameters (clock, timings in cycles); the RTL's defaults otherwise. */
  params?: Partial<SafetyCoreParams>;
}

export class SimulatedSafetyCore implements CoreBus {
  readonly plant: BarrierPlant;
  readonly model: SafetyCoreModel;
  /** While frozen, the heartbeat bit of CTRL writes never reaches the core (a hung MCU task). */
  heartbeatFrozen = false;
  /** Board time (ms) of the last heartbeat that reached the core. */
  lastHeartbeatMs = -Infinity;
  /** Chunks the loop was closed in (model fast-forward calls), for tests and benchmarks. */
  chunks = 0;
  /**
   * Called after every chunk and every bus write, with the model at its new cycle. Outputs are
   * constant inside a chunk, so what it records at these points is exact to the clock cycle.
   * It must read `model` and `plant` directly (catching up from inside would re-enter the loop).
   */
  onAdvance: (() => void) | undefined;
  private readonly startMs: number;
  private readonly clockHz: number;

  constructor(options: SimCoreOptions) {
    this.startMs = options.startMs;
    this.plant = new BarrierPlant(options.plant, options.initialPct ?? 0);
    this.model = new SafetyCoreModel(options.params ?? {});
    this.clockHz = this.model.params.clockHz;
    this.feed();
  }

  /** Board time (ms) the model has reached. */
  get timeMs(): number { return this.startMs + (this.model.cycle * 1000) / this.clockHz; }
  get drive(): MotorDrive { return { motorUp: this.model.motorUp === 1, motorDown: this.model.motorDown === 1, brake: this.model.brake === 1 }; }
  /** The core's state, named as in the RTL (SAFE, STOPPED, …). */
  get stateName(): string { return STATE_NAMES[this.model.state].toUpperCase(); }
  get faultCode(): number { return this.model.faultCode; }

  /**
   * Run model and plant together up to board time `nowMs`. Each chunk ends at the first of: the
   * target, the plant's next output change (rounded up to a whole cycle), the model's quiet
   * horizon (beyond it the core may change its outputs, so the plant must see every such edge).
   * Within a chunk neither side's outputs change, so the coupling is exact to the cycle.
   */
  catchUp(nowMs: number): void {
    const target = Math.floor(((nowMs - this.startMs) * this.clockHz) / 1000);
    const model = this.model;
    this.feed(); // the harness may have changed the field since the last chunk
    while (model.cycle < target) {
      let n = target - model.cycle;
      const untilPlant = this.plant.msUntilChange();
      if (untilPlant !== Infinity) n = Math.min(n, Math.max(1, Math.ceil((untilPlant * this.clockHz) / 1000)));
      const quiet = model.quietHorizon();
      n = Math.min(n, quiet > 1 ? quiet : 1);
      model.fastForward(n);
      this.chunks++;
      this.plant.advance((n * 1000) / this.clockHz);
      this.feed();
      this.onAdvance?.();
    }
  }

  // ---- CoreBus: what the SPI-to-CSR bridge does on the FPGA (one access = one cycle for a write)

  read(addr: number): number {
    return this.model.readRegister(addr);
  }

  write(addr: number, value: number): void {
    let v = value >>> 0;
    if (addr === REG.CTRL && v & CTRL.HEARTBEAT) {
      if (this.heartbeatFrozen) v &= ~CTRL.HEARTBEAT;
      else this.lastHeartbeatMs = this.timeMs;
    }
    this.model.writeRegister(addr, v);
    this.model.step();
    this.plant.advance(1000 / this.clockHz);
    this.feed();
    this.onAdvance?.();
  }

  /** Plant outputs → the core's raw inputs; the core's motor outputs → the plant. */
  feed(): void {
    this.plant.setDrive(this.drive);
    const o: PlantOutputs = this.plant.outputs();
    this.model.setInputs({ limitOpen: o.limOpen, limitClosed: o.limClosed, obstruction: o.obstruction, overCurrent: o.overCurrent, emergency: o.emergency, sensorOk: o.sensorOk });
  }
}
