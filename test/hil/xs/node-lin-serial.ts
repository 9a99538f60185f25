/**
 * TEST DOUBLE of the Moddable Linux simulator's serial (modules/io/serial/lin/serial.c), on Node,
 * so the lin providers' code (firmware/common/io/lin-field.ts) runs in CI without the SDK. Like
 * the C code it opens the device path non-blocking, `read()` reads what has arrived right now (or
 * returns undefined), `onReadable` fires when bytes are waiting (here: polled every 2 ms instead
 * of a GLib watch), and a `write` the device cannot take whole keeps the rest and makes the next
 * `write` throw "would overflow" until it has drained, then calls `onWritable`.
 */
import { closeSync, constants, openSync, readSync, writeSync } from "node:fs";
import type { LinSerial, LinSerialClass } from "../../../firmware/common/io/lin-field";

export function nodeLinSerialClass(opened: Set<{ close(): void }>): LinSerialClass {
  return class NodeLinSerial implements LinSerial {
    private fd: number | undefined;
    private pending: Buffer | undefined;
    private readonly arrived: Buffer[] = [];
    private readonly poller: NodeJS.Timeout;
    constructor(options: { device: string; onReadable?: (this: LinSerial, n: number) => void; onWritable?: (this: LinSerial, n: number) => void }) {
      this.fd = openSync(options.device, constants.O_RDWR | constants.O_NOCTTY | constants.O_NONBLOCK);
      opened.add(this);
      this.poller = setInterval(() => {
        if (this.pending) {
          this.drain();
          if (!this.pending) options.onWritable?.call(this, 1024);
        }
        const got = this.readNow();
        if (got) {
          this.arrived.push(got);
          options.onReadable?.call(this, got.length);
        }
      }, 2);
    }
    read(): ArrayBuffer | undefined {
      const now = this.readNow();
      if (now) this.arrived.push(now);
      if (this.arrived.length === 0) return undefined;
      const all = Buffer.concat(this.arrived.splice(0));
      return all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength) as ArrayBuffer;
    }
    write(data: ArrayBuffer): void {
      if (this.pending || this.fd === undefined) throw new Error("would overflow");
      this.pending = Buffer.from(data);
      this.drain();
    }
    close(): void {
      clearInterval(this.poller);
      opened.delete(this);
      if (this.fd !== undefined) closeSync(this.fd);
      this.fd = undefined;
    }
    private drain(): void {
      if (!this.pending || this.fd === undefined) return;
      try {
        const n = writeSync(this.fd, this.pending);
        this.pending = n >= this.pending.length ? undefined : this.pending.subarray(n);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EAGAIN") throw err;
      }
    }
    private readNow(): Buffer | undefined {
      if (this.fd === undefined) return undefined;
      const buf = Buffer.alloc(4096);
      try {
        const n = readSync(this.fd, buf, 0, buf.length, null);
        return n > 0 ? buf.subarray(0, n) : undefined;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === "EAGAIN") return undefined;
        throw err;
      }
    }
  };
}
