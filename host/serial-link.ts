/**
 * A LinkSession (the shared serial-link contract) on a real serial device, Node side: opened
 * with `serialport`, lines split by `@serialport/parser-readline`, ticked by a timer at the
 * session's next deadline. Used by the gateway and by the HIL harness; the transport is kept
 * apart from the protocol, so the session never knows it is on a pty, a UART or a USB adapter.
 */
import { ReadlineParser } from "@serialport/parser-readline";
import { SerialPort } from "serialport";
import { LinkSession, type LinkOptions } from "../firmware/common/link/session";
import type { Fields } from "../firmware/common/link/frame";

export interface SerialLinkOptions extends Omit<LinkOptions, "write"> {
  path: string;
  baudRate?: number;
  /** Every line in and out, raw, for transcripts and `expect()` in the HIL harness. */
  onLine?: (direction: "rx" | "tx", line: string, now: number) => void;
  /** Clock; defaults to Date.now. */
  now?: () => number;
}

export class SerialLink {
  readonly session: LinkSession;
  private port: SerialPort | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly options: SerialLinkOptions;
  private readonly now: () => number;
  private closed = false;

  constructor(options: SerialLinkOptions) {
    this.options = options;
    this.now = options.now ?? Date.now;
    this.session = new LinkSession({
      ...options,
      write: (line) => this.write(line),
    });
  }

  async open(): Promise<void> {
    const port = new SerialPort({ path: this.options.path, baudRate: this.options.baudRate ?? 115200, autoOpen: false });
    await new Promise<void>((resolve, reject) => port.open((err) => (err ? reject(new Error(`cannot open serial port ${this.options.path}: ${err.message}`)) : resolve())));
    this.port = port;
    const parser = port.pipe(new ReadlineParser({ delimiter: "\n", encoding: "latin1" }));
    parser.on("data", (line: string) => {
      const now = this.now();
      this.options.onLine?.("rx", line, now);
      this.session.receiveLine(line, now);
      this.schedule();
    });
    port.on("error", () => { /* surfaced by close; the link-down timer reports the silence */ });
    this.session.start(this.now());
    this.schedule();
  }

  send(type: string, fields: Fields): boolean {
    const ok = this.session.send(type, fields, this.now());
    this.schedule();
    return ok;
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    const port = this.port;
    this.port = undefined;
    if (port?.isOpen) await new Promise<void>((resolve) => port.close(() => resolve()));
  }

  private write(line: string): void {
    this.options.onLine?.("tx", line.replace(/\n$/, ""), this.now());
    this.port?.write(line, "latin1");
  }

  private schedule(): void {
    if (this.closed) return;
    if (this.timer) clearTimeout(this.timer);
    const delay = Math.max(0, this.session.nextDeadline() - this.now());
    this.timer = setTimeout(() => {
      this.session.tick(this.now());
      this.schedule();
    }, delay);
    this.timer.unref?.();
  }
}
