/**
 * Host provider for the Moddable Linux simulator (`mcconfig -p lin`), which has serial ports
 * but no SPI and no FPGA. The manifest's `platforms.lin` block maps `embedded:provider/builtin`
 * here, exactly as a real board gets its own provider:
 * - Serial on a device path ("/dev/…", "/tmp/…") is the real ECMA-419 serial of the
 *   simulator (the gateway link, e.g. one end of a socat pty pair);
 * - SPI reaches the cycle-accurate model of the safety core (fpga/model.ts) through the same
 *   5-byte frame as the FPGA's SPI-to-CSR bridge, with an ideal boom closing the loop: it
 *   travels in `travelMs` (manifest config), makes its limit switches 1 % from each end, and
 *   nothing ever obstructs or jams it. Fault injection is the Node simulator's job
 *   (hil/sim/barrier-executor-sim.ts, `syspark board barrier-executor`).
 */
import Serial from "embedded:io/serial";
import config from "mc/config";
// Imported by module name: this module is itself named "embedded:provider/builtin", so a relative
// specifier would resolve against that name on XS, not against this folder.
import { SafetyCoreModel } from "firmware/barrier-executor/fpga/model";
import { serveSpiFrame, type CoreBus } from "firmware/barrier-executor/spi-bus";

interface SerialOptions { port?: number | string; baud?: number; format?: "buffer" | "number"; onReadable?: (this: unknown, n?: number) => void }

class SimulatorSerial {
  private readonly real: Serial | undefined;
  constructor(options: SerialOptions) {
    const port = options.port;
    if (typeof port === "string" && port.charAt(0) === "/") {
      const onReadable = options.onReadable;
      const readable = (): void => { if (onReadable) onReadable.call(this); };
      // The Linux simulator's serial takes a `device` path (not port/receive/transmit pins), so the
      // options do not match the ECMA-419 typings.
      this.real = new Serial(<never>{
        device: port,
        baud: options.baud ?? 115200,
        format: "buffer",
        onReadable: onReadable ? readable : undefined,
      });
    }
  }
  read(): ArrayBuffer | number | undefined {
    return this.real ? this.real.read() : undefined;
  }
  write(data: ArrayBuffer | ArrayBufferView | number): void {
    if (!this.real) return;
    // lin's serial.write takes an ArrayBuffer only, not a view.
    if (ArrayBuffer.isView(data)) data = new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice().buffer as ArrayBuffer;
    this.real.write(data as ArrayBuffer);
  }
  close(): void {
    this.real?.close();
  }
}

/** The safety-core model with an ideal boom, caught up to wall-clock time on every access. */
class IdealBarrierCore implements CoreBus {
  private readonly model = new SafetyCoreModel();
  private readonly start = Date.now();
  private readonly speed: number; // % per ms
  private pos = 0;

  constructor(travelMs: number) {
    this.speed = 100 / travelMs;
    this.feed();
  }

  read(addr: number): number {
    this.catchUp();
    return this.model.readRegister(addr);
  }

  write(addr: number, value: number): void {
    this.catchUp();
    this.model.writeRegister(addr, value);
    this.model.step();
    this.feed();
  }

  private feed(): void {
    this.model.setInputs({ limitOpen: this.pos >= 99, limitClosed: this.pos <= 1, obstruction: false, overCurrent: false, emergency: false, sensorOk: true });
  }

  private catchUp(): void {
    const m = this.model;
    const perMs = m.params.clockHz / 1000;
    const target = Math.floor((Date.now() - this.start) * perMs);
    while (m.cycle < target) {
      const dir = m.motorUp ? 1 : m.motorDown ? -1 : 0;
      let n = target - m.cycle;
      if (dir !== 0) {
        // next limit-switch edge or end of travel ahead
        const marks = dir > 0 ? [1, 99, 100] : [99, 1, 0];
        for (let i = 0; i < marks.length; i++) {
          const d = (marks[i] - this.pos) * dir;
          if (d > 0) { n = Math.min(n, Math.max(1, Math.ceil((d / this.speed) * perMs))); break; }
        }
      }
      const quiet = m.quietHorizon();
      n = Math.min(n, quiet > 1 ? quiet : 1);
      m.fastForward(n);
      this.pos = Math.max(0, Math.min(100, this.pos + (dir * n * this.speed) / perMs));
      this.feed();
    }
  }
}

class SimulatedSpi {
  private readonly core: IdealBarrierCore;
  constructor(_options: unknown) {
    const travelMs = (config as Record<string, unknown>).travelMs;
    if (typeof travelMs !== "number" || !(travelMs > 0)) throw new Error("lin provider: manifest config travelMs missing");
    this.core = new IdealBarrierCore(travelMs);
  }
  transfer(buffer: ArrayBuffer | ArrayBufferView): void {
    const bytes = ArrayBuffer.isView(buffer) ? new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength) : new Uint8Array(buffer);
    serveSpiFrame(bytes, this.core);
  }
  close(): void {}
}

const device = Object.freeze({
  io: Object.freeze({ Serial: SimulatorSerial, SPI: SimulatedSpi }),
  pin: Object.freeze({}),
});

export default device;
