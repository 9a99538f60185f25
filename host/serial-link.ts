/**
 * A LinkSession (the shared serial-link contract) on a real serial device, Node side: opened
 * with `serialport`, lines split by `@serialport/parser-readline`, ticked by a timer at the
 * session's next deadline. When the device disappears (USB unplugged) it is reopened every
 * `reopenMs` until it comes back; the session's heartbeats declare the link down meanwhile and
 * the board's HELLO re-synchronises it afterwards. Used by the gateway and the HIL harness.
 */
import { ReadlineParser } from "@serialport/parser-readline";
import type { SerialPort } from "serialport";
import { serialPort } from "./serial-port";
import { MAX_FRAME_LENGTH } from "../firmware/common/link/limits";
import { LinkSession, type LinkOptions } from "../firmware/common/link/session";
import type { Fields } from "../firmware/common/link/frame";
import { LinkTicker } from "./link-ticker";

export interface SerialLinkOptions extends Omit<LinkOptions, "write"> {
  path: string;
  baudRate?: number;
  /** Delay between attempts to reopen a vanished port. */
  reopenMs?: number;
  /** Every line in and out, raw, for transcripts and logs. */
  onLine?: (direction: "rx" | "tx", line: string, now: number) => void;
  /** The device vanished or came back. */
  onPortChange?: (open: boolean, error?: string) => void;
  now?: () => number;
}

export class SerialLink {
  readonly session: LinkSession;
  private port: SerialPort | undefined;
  private readonly ticker: LinkTicker;
  private reopenTimer: NodeJS.Timeout | undefined;
  private readonly now: () => number;
  private closed = false;
  private started = false;

  constructor(private readonly options: SerialLinkOptions) {
    this.now = options.now ?? Date.now;
    this.session = new LinkSession({ ...options, write: (line) => this.write(line) });
    this.ticker = new LinkTicker(this.session, this.now);
  }

  get isOpen(): boolean { return this.port?.isOpen ?? false; }

  /** Opens the port (throws with the device path if it cannot), then keeps it open. */
  async open(): Promise<void> {
    await this.openPort();
    this.startSession();
  }

  /** Like open(), but a port that is not there yet (board unplugged at boot) is retried every
   *  `reopenMs` instead of failing; resolves to whether it is open now. */
  async openEventually(): Promise<boolean> {
    try {
      await this.open();
      return true;
    } catch (err) {
      this.options.onPortChange?.(false, (err as Error).message);
      this.startSession();
      this.scheduleReopen();
      return false;
    }
  }

  private startSession(): void {
    if (!this.started) {
      this.started = true;
      this.session.start(this.now());
    }
    this.schedule();
  }

  send(type: string, fields: Fields): boolean {
    const ok = this.session.send(type, fields, this.now());
    this.schedule();
    return ok;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.ticker.stop();
    clearTimeout(this.reopenTimer);
    const port = this.port;
    this.port = undefined;
    if (port?.isOpen) await new Promise<void>((resolve) => port.close(() => resolve()));
  }

  private async openPort(): Promise<void> {
    const port = serialPort(this.options.path, this.options.baudRate ?? 115200);
    await new Promise<void>((resolve, reject) => port.open((err) => (err ? reject(new Error(`cannot open serial port ${this.options.path}: ${err.message}`)) : resolve())));
    this.port = port;
    let sinceNewline = 0;
    const parser = port.pipe(new ReadlineParser({ delimiter: "\n", encoding: "latin1" }));
    // parser-readline buffers without limit; a stream of noise without LF must not grow memory.
    port.on("data", (chunk: Buffer) => {
      const lf = chunk.lastIndexOf(10);
      sinceNewline = lf >= 0 ? chunk.length - lf - 1 : sinceNewline + chunk.length;
      if (sinceNewline > 16 * MAX_FRAME_LENGTH) {
        port.unpipe(parser);
        parser.destroy();
        sinceNewline = 0;
        this.session.receiveLine("x".repeat(MAX_FRAME_LENGTH + 1), this.now()); // counted as over-long
        const fresh = port.pipe(new ReadlineParser({ delimiter: "\n", encoding: "latin1" }));
        fresh.on("data", (line: string) => this.onLine(line));
      }
    });
    parser.on("data", (line: string) => this.onLine(line));
    port.on("error", () => { /* a vanished device also emits close */ });
    port.on("close", (err: Error | null) => {
      if (this.closed) return;
      this.options.onPortChange?.(false, err?.message);
      this.scheduleReopen();
    });
    this.options.onPortChange?.(true);
  }

  private onLine(line: string): void {
    const now = this.now();
    this.options.onLine?.("rx", line, now);
    this.session.receiveLine(line, now);
    this.schedule();
  }

  private scheduleReopen(): void {
    clearTimeout(this.reopenTimer);
    this.reopenTimer = setTimeout(() => {
      if (this.closed) return;
      this.openPort().then(() => this.startSession(), () => this.scheduleReopen());
    }, this.options.reopenMs ?? 1000);
    this.reopenTimer.unref?.();
  }

  private write(line: string): void {
    this.options.onLine?.("tx", line.replace(/\n$/, ""), this.now());
    if (this.port?.isOpen) this.port.write(line, "latin1");
  }

  private schedule(): void {
    this.ticker.schedule();
  }

}
