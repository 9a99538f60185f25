/**
 * Opening a serial device, Node side (gateway, HIL harness, simulated boards, rig emulator).
 *
 * `serialport`'s own Linux/macOS binding reads and writes through the libuv thread pool
 * (`fs.read` / `fs.write`): every frame costs a hand-off to a worker thread and a wake-up back
 * to the event loop — two thread wake-ups per line in each direction, which on a loaded or
 * virtualised 2-core box is most of a frame's latency. The port is already opened O_NONBLOCK
 * and watched by the binding's poller, so this binding keeps the stock open/close/termios code
 * and only replaces the data path: read and write are attempted at once on the event loop (one
 * non-blocking syscall), and only when the kernel says EAGAIN does it wait for the poller, as
 * the stock code does after its own EAGAIN. Errors keep the stock meaning (`disconnect` on
 * EBADF / ENXIO / EIO, reads after close cancelled). Windows keeps the stock binding.
 */
import { readSync, writeSync } from "node:fs";
import { autoDetect, BindingsError, type LinuxPortBinding } from "@serialport/bindings-cpp";
import { SerialPort } from "serialport";

// The interface types, read off the stock binding (the interface package's typings do not
// resolve under Node's ESM "exports" rules).
type BindingInterface = ReturnType<typeof autoDetect>;
type OpenOptions = Parameters<BindingInterface["open"]>[0];
type UpdateOptions = Parameters<LinuxPortBinding["update"]>[0];
type SetOptions = Parameters<LinuxPortBinding["set"]>[0];
type PortStatus = Awaited<ReturnType<LinuxPortBinding["get"]>>;

/** What this module relies on in the stock Unix port binding (LinuxPortBinding / DarwinPortBinding). */
interface StockUnixPort {
  fd: number | null;
  readonly isOpen: boolean;
  readonly openOptions: Required<OpenOptions>;
  poller: { once(event: "readable" | "writable", cb: (err: Error | null) => void): unknown; poll(flags: number): void };
  close(): Promise<void>;
  update(options: UpdateOptions): Promise<void>;
  set(options: SetOptions): Promise<void>;
  get(): Promise<PortStatus>;
  getBaudRate(): Promise<{ baudRate: number }>;
  flush(): Promise<void>;
  drain(): Promise<void>;
}

const RETRY = new Set(["EAGAIN", "EWOULDBLOCK", "EINTR"]);
const DISCONNECT = new Set(["EBADF", "ENXIO", "EIO", "UNKNOWN"]);

function failure(err: NodeJS.ErrnoException): Error {
  if (DISCONNECT.has(err.code ?? "") || err.errno === -1) (err as NodeJS.ErrnoException & { disconnect?: boolean }).disconnect = true;
  return err;
}

const UV_READABLE = 1, UV_WRITABLE = 2;

/** A stock Unix port whose read/write are non-blocking syscalls on the event loop. */
class EventLoopPort {
  writeOperation: Promise<void> | null = null;
  private readonly waiting = { readable: false, writable: false };
  constructor(private readonly stock: StockUnixPort) {}

  /** Wait for the poller. Its native poll() hands libuv only the flag just asked for, dropping
   *  the other one's interest: with a read and a write both waiting, ask for both again. */
  private wait(event: "readable" | "writable"): Promise<void> {
    return new Promise((resolve, reject) => {
      this.waiting[event] = true;
      this.stock.poller.once(event, (err) => {
        this.waiting[event] = false;
        if (err) reject(err);
        else resolve();
      });
      if (this.waiting.readable && this.waiting.writable) this.stock.poller.poll(UV_READABLE | UV_WRITABLE);
    });
  }

  get isOpen(): boolean { return this.stock.isOpen; }
  get openOptions(): Required<OpenOptions> { return this.stock.openOptions; }

  async read(buffer: Buffer, offset: number, length: number): Promise<{ bytesRead: number; buffer: Buffer }> {
    if (buffer.length < offset + length) throw new Error("buffer is too small");
    for (;;) {
      if (!this.stock.isOpen) throw new BindingsError("Port is not open", { canceled: true });
      try {
        const bytesRead = readSync(this.stock.fd!, buffer, offset, length, null);
        if (bytesRead > 0) return { bytesRead, buffer };
      } catch (err) {
        if (!RETRY.has((err as NodeJS.ErrnoException).code ?? "")) throw failure(err as NodeJS.ErrnoException);
      }
      await this.wait("readable");
    }
  }

  write(buffer: Buffer): Promise<void> {
    if (!this.stock.isOpen) return Promise.reject(new Error("Port is not open"));
    this.writeOperation = (async () => {
      let offset = 0;
      while (offset < buffer.length) {
        if (!this.stock.isOpen) throw new Error("Port is not open");
        try {
          offset += writeSync(this.stock.fd!, buffer, offset, buffer.length - offset);
          continue;
        } catch (err) {
          if (!RETRY.has((err as NodeJS.ErrnoException).code ?? "")) throw failure(err as NodeJS.ErrnoException);
        }
        await this.wait("writable");
      }
      this.writeOperation = null;
    })();
    return this.writeOperation;
  }

  close(): Promise<void> { return this.stock.close(); }
  update(options: UpdateOptions): Promise<void> { return this.stock.update(options); }
  set(options: SetOptions): Promise<void> { return this.stock.set(options); }
  get(): Promise<PortStatus> { return this.stock.get(); }
  getBaudRate(): Promise<{ baudRate: number }> { return this.stock.getBaudRate(); }
  flush(): Promise<void> { return this.stock.flush(); }
  drain(): Promise<void> { return this.writeOperation ? this.writeOperation.then(() => this.stock.drain()) : this.stock.drain(); }
}

const stock = autoDetect();

/** The binding every serial port of the project is opened with (see the header). */
export const eventLoopBinding: BindingInterface = process.platform === "win32" ? stock : {
  list: () => stock.list(),
  open: async (options: OpenOptions) => new EventLoopPort((await stock.open(options)) as unknown as StockUnixPort),
} as BindingInterface;

/** A `serialport` SerialPort on `path`, not yet opened, using the event-loop binding. */
export function serialPort(path: string, baudRate: number): SerialPort {
  return new SerialPort({ path, baudRate, autoOpen: false, binding: eventLoopBinding } as ConstructorParameters<typeof SerialPort>[0]);
}
