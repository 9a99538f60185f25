/**
 * The stream makers (host/link/byte-stream.ts): a serial device opened once with `serialport`, a
 * serial device that is reopened when it vanishes (USB unplugged), a TCP connection (a board's
 * UART behind a serial-to-network bridge such as ser2net, or a board on a network port), and an
 * in-memory cable. Pseudo-terminal pairs, which give two serial device paths, are in
 * host/link/pty.ts.
 */
import { connect } from "node:net";
import type { SerialPort } from "serialport";
import type { ByteStream, DeviceStream } from "./byte-stream";
import { serialPort } from "./serial-port";

function bytesOf(chunk: Buffer): Uint8Array {
  return new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.length);
}

/** A real serial device (a pty, a USB adapter) opened with `serialport`; throws naming the path
 *  if it cannot be opened. Writes after the device closed are dropped. */
export async function openSerialStream(path: string, baudRate = 115200): Promise<ByteStream & { port: SerialPort }> {
  const port = serialPort(path, baudRate);
  await new Promise<void>((resolve, reject) => port.open((err) => (err ? reject(new Error(`cannot open ${path}: ${err.message}`)) : resolve())));
  let receiver: (bytes: Uint8Array) => void = () => {};
  port.on("data", (data: Buffer) => receiver(new Uint8Array(data))); // a copy: a simulated UART keeps chunks until read
  port.on("error", () => {});
  return {
    port,
    write: (bytes) => { if (port.isOpen) port.write(Buffer.from(bytes)); },
    setReceiver: (r) => { receiver = r; },
    close: () => new Promise<void>((resolve) => (port.isOpen ? port.close(() => resolve()) : resolve())),
  };
}

export interface SerialDeviceOptions {
  path: string;
  baudRate?: number;
  /** Delay between attempts to reopen a vanished (or not yet present) device. */
  reopenMs?: number;
  /** The device vanished (with the reason) or came back. */
  onPortChange?: (open: boolean, error?: string) => void;
}

/**
 * A serial device that stays: when it disappears (USB unplugged) it is reopened every
 * `reopenMs` until it comes back. Bytes written meanwhile are dropped — the link's heartbeats
 * declare it down and the board's HELLO re-synchronises it afterwards. Used by the gateway.
 */
export class SerialDeviceStream implements DeviceStream {
  private port: SerialPort | undefined;
  private receiver: (bytes: Uint8Array) => void = () => {};
  private reopenTimer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly options: SerialDeviceOptions) {}

  get isOpen(): boolean { return this.port?.isOpen ?? false; }

  async open(): Promise<void> {
    const port = serialPort(this.options.path, this.options.baudRate ?? 115200);
    await new Promise<void>((resolve, reject) => port.open((err) => (err ? reject(new Error(`cannot open serial port ${this.options.path}: ${err.message}`)) : resolve())));
    this.port = port;
    port.on("data", (chunk: Buffer) => this.receiver(bytesOf(chunk))); // consumed at once by the link
    port.on("error", () => { /* a vanished device also emits close */ });
    port.on("close", (err: Error | null) => {
      if (this.closed) return;
      this.options.onPortChange?.(false, err?.message);
      this.scheduleReopen();
    });
    this.options.onPortChange?.(true);
  }

  async openEventually(): Promise<boolean> {
    try {
      await this.open();
      return true;
    } catch (err) {
      this.options.onPortChange?.(false, (err as Error).message);
      this.scheduleReopen();
      return false;
    }
  }

  write(bytes: Uint8Array): void {
    if (this.port?.isOpen) this.port.write(Buffer.from(bytes));
  }

  setReceiver(receiver: (bytes: Uint8Array) => void): void { this.receiver = receiver; }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.reopenTimer);
    const port = this.port;
    this.port = undefined;
    if (port?.isOpen) await new Promise<void>((resolve) => port.close(() => resolve()));
  }

  private scheduleReopen(): void {
    clearTimeout(this.reopenTimer);
    this.reopenTimer = setTimeout(() => {
      if (this.closed) return;
      this.open().catch(() => this.scheduleReopen());
    }, this.options.reopenMs ?? 1000);
    this.reopenTimer.unref?.();
  }
}

/** An in-memory stream: the harness pushes bytes in and sees what the board wrote. */
export class MemoryStream implements ByteStream {
  private receiver: (bytes: Uint8Array) => void = () => {};
  onWrite: (bytes: Uint8Array) => void = () => {};
  write(bytes: Uint8Array): void { this.onWrite(bytes); }
  setReceiver(receiver: (bytes: Uint8Array) => void): void { this.receiver = receiver; }
  /** Bytes arriving at this end. */
  inject(bytes: Uint8Array): void { this.receiver(bytes); }
  async close(): Promise<void> {}
}

/** A TCP connection as a byte stream; rejects naming host and port if it cannot connect. Writes
 *  after the peer closed are dropped (the link's heartbeats then declare it down). */
export async function openTcpStream(host: string, port: number, timeoutMs = 5000): Promise<ByteStream> {
  const socket = connect({ host, port });
  socket.setNoDelay(true);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => { socket.destroy(); reject(new Error(`cannot connect to ${host}:${port}: no answer within ${timeoutMs} ms`)); }, timeoutMs);
    socket.once("connect", () => { clearTimeout(timer); resolve(); });
    socket.once("error", (err) => { clearTimeout(timer); reject(new Error(`cannot connect to ${host}:${port}: ${err.message}`)); });
  });
  let receiver: (bytes: Uint8Array) => void = () => {};
  socket.on("data", (chunk: Buffer) => receiver(bytesOf(chunk)));
  socket.on("error", () => { /* a reset peer also emits close */ });
  return {
    write: (bytes) => { if (!socket.destroyed && socket.writable) socket.write(bytes); },
    setReceiver: (r) => { receiver = r; },
    close: () => new Promise<void>((resolve) => { if (socket.destroyed) resolve(); else socket.end(() => { socket.destroy(); resolve(); }); }),
  };
}

/** Two connected in-memory streams (a null-modem cable), for machines without socat. */
export function memoryCable(): [MemoryStream, MemoryStream] {
  const a = new MemoryStream(), b = new MemoryStream();
  a.onWrite = (bytes) => queueMicrotask(() => b.inject(bytes));
  b.onWrite = (bytes) => queueMicrotask(() => a.inject(bytes));
  return [a, b];
}
