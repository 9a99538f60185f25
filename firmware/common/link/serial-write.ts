/**
 * The boards' link write path: one line to an ECMA-419 serial, never blocking and never
 * throwing. A real UART driver throws on a full output buffer, and so does the Linux simulator's
 * serial when the peer's end of the pty is closed (`would overflow`); thrown out of a Timer
 * callback that aborts the XS VM. The caller (LinkSession) counts a refused line and recovers it
 * by retransmission, so refusing is always safe.
 */
import { asciiBytes } from "./line-buffer";

/** The part of an ECMA-419 serial this needs. `writable` (bytes of room in the output buffer)
 *  is read where the implementation offers it as a number. */
export interface WritableSerial {
  write(data: ArrayBuffer | ArrayBufferView | number): void;
  readonly writable?: unknown;
}

/** Writes `line` whole, or nothing: false if there is no room or the write threw. */
export function writeSerialLine(serial: WritableSerial, line: string): boolean {
  return writeSerialBytes(serial, asciiBytes(line));
}

/** The same for raw bytes (a printer job's chunk): all of them, or none. */
export function writeSerialBytes(serial: WritableSerial, bytes: Uint8Array): boolean {
  const room = serial.writable;
  // Checked first where offered: a write that does not fit may otherwise block or send half of it.
  if (typeof room === "number" && room < bytes.length) return false;
  try {
    serial.write(bytes);
    return true;
  } catch {
    return false;
  }
}
