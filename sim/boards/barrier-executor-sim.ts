/**
 * A simulated barrier executor: the real firmware (board layer + core) running on Node behind
 * the simulated `device` provider. Its gateway UART is a real serial device (a socat pty in
 * tests) or an in-memory cable; its SPI reaches the cycle-accurate model of the FPGA safety
 * core, whose field inputs come from the physical plant model (boom, limit switches, motor
 * current, obstruction sensor, emergency input). The harness drives the field — a vehicle
 * under the boom, a jam, an emergency, broken sensors, a frozen MCU heartbeat — and observes
 * the boom, the motor outputs and the core's state.
 */
import { startBarrierExecutor, type BarrierBoard, type BarrierDevice } from "../../firmware/barrier-executor/board";
import { serveSpiFrame, type SpiIO, type SpiOptions } from "../../firmware/barrier-executor/spi-bus";
import type { BoardClock, Trace } from "../../firmware/common/io/board-host";
import { SimulatedSafetyCore } from "../plant/barrier-core";
import type { SafetyCoreParams } from "../../firmware/barrier-executor/fpga/regmap";
import type { LimitSwitchFault, MotorDrive, PlantConfig } from "../plant/barrier-plant";
import type { ByteStream } from "../../host/link/byte-stream";
import { openSerialStream } from "../../host/link/streams";
import { createSimDevice, SimPins } from "./sim-device";
import { SimulatedBoard } from "./sim-board";

export interface SimBarrierOptions {
  /** Serial device for the gateway link, e.g. one end of a socat pty pair. */
  serialPath?: string;
  /** Or an already open transport (in-memory cable). */
  transport?: ByteStream;
  clock: BoardClock;
  lane?: string;
  bootCount?: number;
  /** Overrides of the manifest config (lin platform). */
  config?: Record<string, unknown>;
  plant?: Partial<PlantConfig>;
  /** Initial boom position, % open (default closed). */
  initialPct?: number;
  /** Safety-core build parameters for the model (clock and timings in cycles). */
  core?: Partial<SafetyCoreParams>;
  trace?: Trace;
}

export class SimulatedBarrierExecutor extends SimulatedBoard<BarrierBoard, SimBarrierOptions, ByteStream> {
  core!: SimulatedSafetyCore;

  private constructor(options: SimBarrierOptions, transport: ByteStream) {
    super(options, transport);
  }

  static async start(options: SimBarrierOptions): Promise<SimulatedBarrierExecutor> {
    const transport = options.transport ?? (options.serialPath ? await openSerialStream(options.serialPath) : undefined);
    if (!transport) throw new Error("simulated barrier executor: give serialPath or transport");
    const sim = new SimulatedBarrierExecutor(options, transport);
    sim.core = new SimulatedSafetyCore({ startMs: options.clock.now(), plant: options.plant, initialPct: options.initialPct, params: options.core });
    sim.boot();
    return sim;
  }

  get executor() { return this.board.executor; }
  get link() { return this.board.link; }
  get plant() { return this.core.plant; }

  protected boot(): void {
    this.loadConfig("barrier-executor");
    const serial = this.config.gatewaySerial as { port: unknown };
    const spi = this.config.spi as { port: unknown };
    const base = createSimDevice(new SimPins(), new Map([[String(serial.port), this.transport]]));
    const core = this.core;
    const clock = this.options.clock;
    const spiPort = String(spi.port);
    // The FPGA's SPI-to-CSR bridge: each 5-byte frame is one register access, at board time now.
    class SimSpi implements SpiIO {
      constructor(options: SpiOptions) {
        if (String(options.port) !== spiPort) throw new Error(`SPI: no simulated device on port "${String(options.port)}"`);
      }
      transfer(buffer: ArrayBuffer | ArrayBufferView): void {
        const bytes = ArrayBuffer.isView(buffer) ? new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength) : new Uint8Array(buffer);
        core.catchUp(clock.now());
        serveSpiFrame(bytes, core);
      }
      close(): void {}
    }
    const device: BarrierDevice = { io: { Serial: base.io.Serial, SPI: SimSpi } };
    this.board = startBarrierExecutor({ device, config: this.config, clock, bootCount: this.bootCount, trace: this.options.trace });
  }

  /** Bring the FPGA and the plant up to the clock's now (observables read through this). */
  private settle(): SimulatedSafetyCore {
    this.core.catchUp(this.options.clock.now());
    return this.core;
  }

  // ---- field inputs (each takes effect at the clock's now)

  vehicleUnder(present: boolean): void { this.settle().plant.setVehicleUnder(present); }
  jam(): void { this.settle().plant.jam(); }
  clearJam(): void { this.settle().plant.clearJam(); }
  emergency(active: boolean): void { this.settle().plant.setEmergency(active); }
  breakLimitSwitch(which: "open" | "closed", fault: LimitSwitchFault = "missing"): void { this.settle().plant.breakLimitSwitch(which, fault); }
  failObstructionSensor(failed = true): void { this.settle().plant.failObstructionSensor(failed); }
  /** A hung MCU task: heartbeat writes stop reaching the core (everything else goes on). */
  freezeHeartbeat(frozen = true): void { this.settle().heartbeatFrozen = frozen; }

  // ---- observables

  /** Boom position, % open (the plant's truth, not the firmware's estimate). */
  get boomPct(): number { return this.settle().plant.positionPct; }
  get motor(): MotorDrive { return this.settle().drive; }
  /** The core's state name as in the RTL (SAFE, STOPPED, CLOSED, OPENING, OPEN, CLOSING, REVERSING, FAULT). */
  get coreState(): string { return this.settle().stateName; }
  get faultCode(): number { return this.settle().faultCode; }
  get motorCurrentA(): number { return this.settle().plant.currentA; }
  get barrierState(): string { return this.board.executor.state; }

  status(): string {
    const m = this.motor;
    const fault = this.faultCode;
    return `lane ${this.lane} · barrier ${this.barrierState} (${this.executor.positionPercent} %) · core ${this.coreState}${fault ? ` fault ${fault}` : ""} · boom ${this.boomPct.toFixed(1)} % · motor ${m.motorUp ? "up" : m.motorDown ? "down" : "off"}${m.brake ? " brake" : ""} ${this.motorCurrentA.toFixed(1)} A · vehicle ${this.plant.vehicleUnder ? "under" : "clear"}${this.plant.isJammed ? " · JAMMED" : ""}${this.core.heartbeatFrozen ? " · heartbeat frozen" : ""}`;
  }
}
