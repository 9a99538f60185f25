/**
 * A LinkSession (firmware/common/link/session.ts, the serial-link contract) on a byte stream,
 * Node side: lines assembled from the stream (bounded), every line in and out offered to a
 * transcript hook, the session's clock run by a LinkTicker at its next deadline. The one way
 * the project puts a session on a stream: the gateway runtime on a serial device
 * (SerialDeviceStream, reopened on unplug) or on a harness transport, and the test peer of the
 * HIL harness (hil/harness/serial-peer.ts) on its own clock.
 */
import type { Fields } from "../../firmware/common/link/frame";
import { asciiBytes } from "../../firmware/common/link/line-buffer";
import { MAX_FRAME_LENGTH } from "../../firmware/common/link/limits";
import { LinkSession, type LinkOptions } from "../../firmware/common/link/session";
import type { ByteStream, DeviceStream } from "./byte-stream";
import { LinkTicker } from "./ticker";

/** Longest unfinished line held before it is dropped as noise (one over-long frame counted). */
const NOISE_LIMIT = 16 * MAX_FRAME_LENGTH;

/**
 * Splits bytes into LF-terminated latin1 lines, empty lines skipped (as
 * `@serialport/parser-readline` does). An unfinished line longer than `limit` is dropped and
 * reported: a stream of noise without LF must not grow memory. Over-long lines under the limit
 * are passed on whole, for the frame decoder to count.
 */
export class LineSplitter {
  private partial = "";

  constructor(private readonly limit: number, private readonly onLine: (line: string) => void, private readonly onNoise: () => void) {}

  push(bytes: Uint8Array): void {
    const text = this.partial + Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("latin1");
    let start = 0;
    for (let lf = text.indexOf("\n"); lf >= 0; lf = text.indexOf("\n", start)) {
      if (lf > start) this.onLine(text.slice(start, lf));
      start = lf + 1;
    }
    this.partial = text.slice(start);
    if (this.partial.length > this.limit) {
      this.partial = "";
      this.onNoise();
    }
  }
}

export interface StreamLinkOptions extends Omit<LinkOptions, "write"> {
  now?: () => number;
  /** Run the session's clock on real timers (default). false: the owner calls tick() (a test on
   *  a virtual clock). */
  ticking?: boolean;
  /** Every line in and out, raw, for transcripts and logs. */
  onLine?: (direction: "rx" | "tx", line: string, now: number) => void;
  /** Return false to drop a line before it is logged and written or received (a muted cable). */
  pass?: (direction: "rx" | "tx", line: string) => boolean;
}

function isDevice(stream: ByteStream): stream is DeviceStream {
  return typeof (stream as Partial<DeviceStream>).openEventually === "function";
}

export class StreamLink {
  readonly session: LinkSession;
  private readonly ticker: LinkTicker | undefined;
  private readonly now: () => number;
  private started = false;

  constructor(readonly stream: ByteStream, private readonly options: StreamLinkOptions) {
    this.now = options.now ?? Date.now;
    this.session = new LinkSession({ ...options, write: (line) => this.write(line) });
    this.ticker = options.ticking === false ? undefined : new LinkTicker(this.session, this.now);
    const lines = new LineSplitter(NOISE_LIMIT, (line) => this.receive(line), () => {
      this.session.receiveLine("x".repeat(MAX_FRAME_LENGTH + 1), this.now()); // counted as over-long
    });
    stream.setReceiver((bytes) => lines.push(bytes));
  }

  /** Whether the stream can carry bytes now (a device stream may be unplugged). */
  get isOpen(): boolean { return isDevice(this.stream) ? this.stream.isOpen : true; }

  /** Opens a device stream (throws naming it if it cannot), then starts the session. */
  async open(): Promise<void> {
    if (isDevice(this.stream)) await this.stream.open();
    this.start();
  }

  /** Like open(), but a device that is not there yet (a board unplugged at boot) is retried in the
   *  background while the session runs (and sees the link down); resolves to whether it is open. */
  async openEventually(): Promise<boolean> {
    const open = isDevice(this.stream) ? await this.stream.openEventually() : true;
    this.start();
    return open;
  }

  /** Announces us (HELLO) and starts the session's clock; once. */
  start(): void {
    if (!this.started) {
      this.started = true;
      this.session.start(this.now());
    }
    this.ticker?.schedule();
  }

  send(type: string, fields: Fields): boolean {
    const ok = this.session.send(type, fields, this.now());
    this.ticker?.schedule();
    return ok;
  }

  /** Runs the session's timers now (for owners that drive the clock themselves). */
  tick(): void {
    this.session.tick(this.now());
    this.ticker?.schedule();
  }

  /** Writes a line as is, past the session and the hooks (replays, corrupted frames). */
  writeRaw(line: string): void {
    this.stream.write(asciiBytes(line + "\n"));
  }

  async close(): Promise<void> {
    this.ticker?.stop();
    await this.stream.close();
  }

  private receive(line: string): void {
    if (this.options.pass && !this.options.pass("rx", line)) return;
    const now = this.now();
    this.options.onLine?.("rx", line, now);
    this.session.receiveLine(line, now);
    this.ticker?.schedule();
  }

  private write(line: string): void {
    const bare = line.replace(/\n$/, "");
    if (this.options.pass && !this.options.pass("tx", bare)) return;
    this.options.onLine?.("tx", bare, this.now());
    this.stream.write(asciiBytes(line));
  }
}
