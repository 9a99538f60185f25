/**
 * What the lane controller's two board layers (exit: ./board.ts, entry: ./entry-board.ts) share:
 * bytes out of an ECMA-419 read, the display's port, and the guard every I/O callback runs in
 * (an exception thrown out of an onReadable or a Timer callback aborts the XS VM).
 */
import type { BoardDevice, SerialIO, Trace } from "../common/io/board-host";
import { serlcdOverI2c } from "../common/io/serlcd-i2c";
import type { I2CDeviceConfig, SerialPortConfig } from "./core/config";

export function bytesOf(data: ArrayBuffer | number | undefined): Uint8Array | undefined {
  if (data === undefined) return undefined;
  if (typeof data === "number") return new Uint8Array([data]);
  return new Uint8Array(data);
}

/** The SerLCD on its UART (simulator) or on I2C (boards: no UART left for it, see manifest). */
export function openDisplay(device: BoardDevice, config: { displaySerial?: SerialPortConfig; displayI2c?: I2CDeviceConfig }, board: string): SerialIO {
  if (config.displaySerial) return new device.io.Serial({ ...config.displaySerial, format: "buffer" });
  const I2C = device.io.I2C;
  if (!I2C || !config.displayI2c) throw new Error(`${board}: displayI2c configured but this host has no I2C`);
  return serlcdOverI2c(new I2C(config.displayI2c));
}

/** Runs `fn`; what it throws is traced, counted by the caller if it wants, and goes no further. */
export function guard(trace: Trace, what: string, fn: () => void): void {
  try {
    fn();
  } catch (err) {
    trace(`${what}: ${String(err)}\n`);
  }
}
