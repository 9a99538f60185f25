/**
 * Host provider for the Moddable Linux simulator (`mcconfig -p lin`), which has serial ports
 * but no digital I/O. The manifest's `platforms.lin` block maps `embedded:provider/builtin`
 * here, exactly as a real board gets its own provider:
 * - Serial on a device path ("/dev/…", "/tmp/…") is the real ECMA-419 serial of the
 *   simulator (the gateway link, e.g. one end of a socat pty pair);
 * - the display UART is traced to the console, the RFID UART is silent;
 * - Digital pins are simulated: inputs rest at their idle level, outputs keep what is written.
 */
import Serial from "embedded:io/serial";

interface Options { pin?: number | string; mode?: unknown; port?: number | string; baud?: number; format?: "buffer" | "number"; onReadable?: (this: unknown, n?: number) => void }

const INPUT = 0, INPUT_PULLUP = 1, OUTPUT = 8;

class SimulatedDigital {
  static readonly Input = INPUT;
  static readonly InputPullUp = INPUT_PULLUP;
  static readonly Output = OUTPUT;
  static readonly Rising = 1;
  static readonly Falling = 2;
  private level: 0 | 1;
  constructor(options: Options) {
    this.level = options.mode === INPUT_PULLUP ? 1 : 0;
  }
  read(): 0 | 1 { return this.level; }
  write(value: 0 | 1): void { this.level = value; }
  close(): void {}
}

class SimulatorSerial {
  private readonly real: Serial | undefined;
  private readonly isDisplay: boolean;
  constructor(options: Options) {
    const port = options.port;
    this.isDisplay = port === "display";
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
    if (this.real) {
      // lin's serial.write takes an ArrayBuffer only, not a view.
      if (ArrayBuffer.isView(data)) data = new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice().buffer as ArrayBuffer;
      this.real.write(data as ArrayBuffer);
    } else if (this.isDisplay && typeof data !== "number") {
      const bytes = ArrayBuffer.isView(data) ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength) : new Uint8Array(data);
      let text = "";
      for (let i = 2; i < bytes.length && i < 82; i++) text += String.fromCharCode(bytes[i]);
      trace(`[display] ${text.substring(0, 20)} | ${text.substring(20, 40)} | ${text.substring(40, 60)} | ${text.substring(60, 80)}\n`);
    }
  }
  close(): void {
    this.real?.close();
  }
}

const device = Object.freeze({
  io: Object.freeze({ Digital: SimulatedDigital, Serial: SimulatorSerial }),
  pin: Object.freeze({}),
});

export default device;
