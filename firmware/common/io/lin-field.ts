/**
 * The host provider's I/O for a board running in the Moddable Linux simulator (`mcconfig -p lin`),
 * which has serial ports but no digital I/O, no SPI, no I2C. Both boards' `xs/lin-provider.ts`
 * build their `device` here, from the simulator's real ECMA-419 serial:
 *
 * - the gateway link is a real serial device (`<linDevices>/link`, a pty the gateway or the HIL
 *   harness holds the other end of);
 * - the field — inputs, keypad contacts, the RFID and display UARTs, the FPGA's registers — goes
 *   over the field-I/O channel (`<linDevices>/field`, ./field-protocol.ts), which the HIL harness
 *   drives as a rig's I/O emulator drives a real board's wires;
 * - without a field device (none configured, or it cannot be opened), inputs rest at their idle
 *   level and the simulated UARTs are silent, so the board still boots and links up.
 *
 * Nothing here may throw into the VM once the board runs: a field write that does not fit waits in
 * a bounded queue (drained when the serial says it is writable again) and past its bound is dropped
 * and counted; a malformed field line is dropped and counted.
 */
import { LineBuffer, asciiBytes } from "../link/line-buffer";
import { FIELD_MAX_BYTES, FIELD_MAX_LINE, formatFieldLine, parseFieldLine } from "./field-protocol";

/** The Linux simulator's serial (modules/io/serial/lin): a `device` path, buffers only; `write`
 *  throws "would overflow" while an earlier write is still draining, then calls onWritable. */
export interface LinSerial {
  read(): ArrayBuffer | number | undefined;
  write(data: ArrayBuffer): void;
  close(): void;
}
export interface LinSerialClass {
  new (options: { device: string; baud: number; format: "buffer"; onReadable?: (this: LinSerial, n: number) => void; onWritable?: (this: LinSerial, n: number) => void }): LinSerial;
}

/** Port names of the lin manifests that are real serial devices under `linDevices`. */
const DEVICE_PORTS = ["link", "field"];
const OUTBOX_LINES = 64;
/** CFG_CLK_HZ: the last register of the image the harness sends on BOOT. */
const LAST_IMAGE_REGISTER = 9;
/** How long the barrier's SPI waits for the core at boot (the FPGA's configuration time). */
const CORE_READY_TIMEOUT_MS = 2000;
/**
 * How long an SPI read waits for the harness to apply the writes before it. A pty round trip is
 * ~1 ms, but the harness shares its process with the site's gateway and cloud: on a loaded
 * 2-core machine its answer took over 250 ms (the first bound), and OPEN ended `core_refused`.
 */
const SYNC_TIMEOUT_MS = 1000;
const UART_INBOX_BYTES = 256;
const INPUT = 0, INPUT_PULLUP = 1, OUTPUT = 8, RISING = 1, FALLING = 2;

type Level = 0 | 1;

function copyBuffer(data: ArrayBuffer | ArrayBufferView): ArrayBuffer {
  const view = ArrayBuffer.isView(data) ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength) : new Uint8Array(data);
  return view.slice().buffer as ArrayBuffer;
}

/** The board's end of the field-I/O channel, and the field state it has heard. */
export class LinField {
  /** Field lines dropped: malformed or over-long received, or sent with the queue full. */
  badLines = 0;
  dropped = 0;
  private serial: LinSerial | undefined;
  private readonly lines = new LineBuffer(FIELD_MAX_LINE + 1);
  private readonly outbox: string[] = [];
  private readonly inputs = new Map<string, Level>();
  private readonly idle = new Map<string, Level>();
  private readonly contacts = new Set<string>();
  private readonly outputs = new Map<string, Level>();
  private readonly pinListeners = new Map<string, ((from: Level, to: Level) => void)[]>();
  private readonly uartListeners = new Map<string, (bytes: Uint8Array) => void>();
  readonly registers: number[] = new Array<number>(16).fill(0);
  private registersHeard = false;
  /** W lines sent since BOOT, and the last SYNC heard: a read waits until they are equal. */
  private writesSent = 0;
  private writesSynced = 0;
  /** Reads that gave up waiting for a SYNC (no harness on the channel). */
  syncTimeouts = 0;

  constructor(Serial: LinSerialClass | undefined, device: string | undefined, hello: { board: string; lane: string }, private readonly trace: (text: string) => void) {
    if (!Serial || !device) return;
    // The simulator calls these with the serial as `this`.
    const received = (data: ArrayBuffer | number | undefined) => this.receive(data);
    const writable = () => this.flush();
    try {
      this.serial = new Serial({
        device, baud: 115200, format: "buffer",
        onReadable() { received(this.read()); },
        onWritable() { writable(); },
      });
    } catch (err) {
      trace(`field: cannot open ${device} (${String(err)}): inputs stay idle\n`);
      return;
    }
    this.send(formatFieldLine({ kind: "BOOT", board: hello.board, lane: hello.lane }));
  }

  get connected(): boolean { return this.serial !== undefined; }

  /**
   * Waits, busy and bounded, until the harness has sent the core's register image — on a real
   * board the FPGA is configured before the MCU first reads it, and the barrier executor checks
   * the core's identity at boot. The harness sends the image in address order, CFG_CLK_HZ (9)
   * last. False when nothing came within `timeoutMs` (the executor then reports CORE_ID).
   */
  awaitRegisters(timeoutMs: number): boolean {
    return this.pumpUntil(() => this.registersHeard, timeoutMs);
  }

  /** Before an SPI read: the harness has applied every write sent so far (bounded wait). */
  awaitWrites(): void {
    if (this.writesSynced === this.writesSent) return;
    if (!this.pumpUntil(() => this.writesSynced === this.writesSent, SYNC_TIMEOUT_MS)) {
      this.syncTimeouts++;
      this.writesSynced = this.writesSent; // no harness answering: do not wait on every read
    }
  }

  /** Reads the field serial in a loop until `done` or `timeoutMs`; the outbox is flushed first. */
  private pumpUntil(done: () => boolean, timeoutMs: number): boolean {
    const s = this.serial;
    this.flush();
    const end = Date.now() + timeoutMs;
    while (s && !done() && Date.now() < end) {
      let data: ArrayBuffer | number | undefined;
      try { data = s.read(); } catch { return false; }
      this.receive(data);
    }
    return done();
  }

  /** An input's idle level, until the field says otherwise: high with a pull-up, else low. */
  declareInput(pin: string, pulledUp: boolean): void {
    this.idle.set(pin, pulledUp ? 1 : 0);
  }

  /** The level an input reads: the field's, or its idle level. */
  inputLevel(pin: string): Level {
    const v = this.inputs.get(pin);
    return v === undefined ? (this.idle.get(pin) ?? 0) : v;
  }

  /** A keypad column reads low while a closed contact joins it to a row driven low. */
  pulledDownByMatrix(col: string): boolean {
    for (const key of this.contacts) {
      const slash = key.indexOf("/");
      if (key.substring(slash + 1) === col && this.outputs.get(key.substring(0, slash)) === 0) return true;
    }
    return false;
  }

  setOutput(pin: string, level: Level): void { this.outputs.set(pin, level); }

  onPin(pin: string, listener: (from: Level, to: Level) => void): () => void {
    const list = this.pinListeners.get(pin) ?? [];
    list.push(listener);
    this.pinListeners.set(pin, list);
    return () => { const i = list.indexOf(listener); if (i >= 0) list.splice(i, 1); };
  }

  onUart(port: string, listener: ((bytes: Uint8Array) => void) | undefined): void {
    if (listener) this.uartListeners.set(port, listener); else this.uartListeners.delete(port);
  }

  /** Bytes the board writes on a simulated UART, as TX lines. */
  transmit(port: string, bytes: Uint8Array): void {
    for (let at = 0; at < bytes.length; at += FIELD_MAX_BYTES) this.send(formatFieldLine({ kind: "TX", port, bytes: bytes.subarray(at, at + FIELD_MAX_BYTES) }));
  }

  /** An SPI register write, for the core on the harness's side. */
  writeRegister(addr: number, value: number): void {
    if (!this.serial) return;
    this.writesSent = (this.writesSent + 1) >>> 0;
    this.send(formatFieldLine({ kind: "W", addr, value }));
  }

  close(): void {
    const s = this.serial;
    this.serial = undefined;
    try { s?.close(); } catch { /* closing twice, or a device already gone */ }
  }

  /** The barrier found no core on the channel at boot. */
  noCore(): void {
    this.trace(`field: no safety-core register image within ${CORE_READY_TIMEOUT_MS} ms\n`);
  }

  private send(line: string): void {
    if (!this.serial) return;
    if (this.outbox.length >= OUTBOX_LINES) { this.dropped++; return; }
    this.outbox.push(line + "\n");
    if (this.outbox.length === 1) this.flush();
  }

  /** Writes queued lines until the serial refuses one (it calls onWritable once it has drained). */
  private flush(): void {
    const s = this.serial;
    while (s && this.outbox.length > 0) {
      try {
        s.write(copyBuffer(asciiBytes(this.outbox[0])));
      } catch {
        return;
      }
      this.outbox.shift();
    }
  }

  private receive(data: ArrayBuffer | number | undefined): void {
    if (data === undefined) return;
    const bytes = typeof data === "number" ? new Uint8Array([data]) : new Uint8Array(data);
    const before = this.lines.overlong;
    this.lines.push(bytes, (line) => this.dispatch(line));
    this.badLines += this.lines.overlong - before;
  }

  private dispatch(line: string): void {
    const m = parseFieldLine(line);
    if (!m) { this.badLines++; return; }
    try {
      if (m.kind === "IN") {
        const from = this.inputLevel(m.pin);
        this.inputs.set(m.pin, m.level);
        if (from !== m.level) for (const l of this.pinListeners.get(m.pin) ?? []) l(from, m.level);
      } else if (m.kind === "KEY") {
        if (m.closed) this.contacts.add(`${m.row}/${m.col}`); else this.contacts.delete(`${m.row}/${m.col}`);
      } else if (m.kind === "RX") {
        this.uartListeners.get(m.port)?.(m.bytes);
      } else if (m.kind === "REG") {
        this.registers[m.addr] = m.value >>> 0;
        if (m.addr === LAST_IMAGE_REGISTER) this.registersHeard = true;
      } else if (m.kind === "SYNC") {
        this.writesSynced = m.writes;
      } else {
        this.badLines++; // a board-to-harness message sent to the board
      }
    } catch (err) {
      // A listener is the firmware's own code: whatever it throws stops here, not in the VM.
      this.trace(`field: ${m.kind} handler threw ${String(err)}\n`);
    }
  }
}

interface DigitalOptions { pin: number | string; mode?: unknown; edge?: number; onReadable?: (this: unknown) => void }
interface SerialOptions { port?: number | string; baud?: number; format?: "buffer" | "number"; onReadable?: (this: unknown, n?: number) => void }

/** Digital pins on the field channel: inputs read the field, outputs keep what is written. */
function digitalClass(field: LinField) {
  return class LinDigital {
    static readonly Input = INPUT;
    static readonly InputPullUp = INPUT_PULLUP;
    static readonly Output = OUTPUT;
    static readonly Rising = RISING;
    static readonly Falling = FALLING;
    private readonly pin: string;
    private readonly output: boolean;
    private readonly pulledUp: boolean;
    private level: Level = 1;
    private unlisten: (() => void) | undefined;
    constructor(options: DigitalOptions) {
      this.pin = String(options.pin);
      this.output = options.mode === OUTPUT;
      this.pulledUp = options.mode === INPUT_PULLUP;
      const edge = options.edge ?? 0;
      const onReadable = options.onReadable;
      if (this.output) field.setOutput(this.pin, this.level);
      else field.declareInput(this.pin, this.pulledUp);
      if (!this.output && onReadable && edge) {
        this.unlisten = field.onPin(this.pin, (from, to) => {
          if ((to === 1 && from === 0 && edge & RISING) || (to === 0 && from === 1 && edge & FALLING)) onReadable.call(this);
        });
      }
    }
    read(): Level {
      if (this.output) return this.level;
      return field.pulledDownByMatrix(this.pin) ? 0 : field.inputLevel(this.pin);
    }
    write(value: Level): void {
      if (!this.output) return;
      this.level = value ? 1 : 0;
      field.setOutput(this.pin, this.level);
    }
    close(): void { this.unlisten?.(); this.unlisten = undefined; }
  };
}

/** Serial ports: `link` (and any absolute path) is a real device; other names are UARTs on the field channel. */
function serialClass(Serial: LinSerialClass, field: LinField, devicePath: (port: string) => string | undefined, trace: (text: string) => void) {
  return class LinSerialPort {
    private readonly real: LinSerial | undefined;
    private readonly port: string;
    private readonly inbox = new Uint8Array(UART_INBOX_BYTES);
    private held = 0;
    private readonly onDevice: boolean;
    constructor(options: SerialOptions) {
      this.port = String(options.port);
      const onReadable = options.onReadable;
      const device = devicePath(this.port);
      this.onDevice = device !== undefined;
      if (device) {
        // The board layer's onReadable reads through this port object, not the simulator's serial.
        const readable = () => onReadable?.call(this);
        try {
          this.real = new Serial({ device, baud: options.baud ?? 115200, format: "buffer", ...(onReadable ? { onReadable() { readable(); } } : {}) });
        } catch (err) {
          // No such device (its pty not created yet): thrown out of the board's boot it would
          // abort the VM. The port stays silent, the link stays down, and the trace says why.
          trace(`serial: cannot open ${device} (${String(err)})\n`);
        }
        return;
      }
      field.onUart(this.port, (bytes) => {
        // A UART's receive FIFO: bytes past its size are lost, as on the wire.
        const n = Math.min(bytes.length, this.inbox.length - this.held);
        this.inbox.set(bytes.subarray(0, n), this.held);
        this.held += n;
        if (this.held > 0 && onReadable) onReadable.call(this, this.held);
      });
    }
    read(): ArrayBuffer | number | undefined {
      if (this.real) return this.real.read();
      if (this.held === 0) return undefined;
      const out = this.inbox.slice(0, this.held).buffer as ArrayBuffer;
      this.held = 0;
      return out;
    }
    write(data: ArrayBuffer | ArrayBufferView | number): void {
      // The real serial throws when it cannot take the bytes: the callers (writeSerialLine) catch it.
      if (this.real) { this.real.write(typeof data === "number" ? new Uint8Array([data]).buffer as ArrayBuffer : copyBuffer(data)); return; }
      if (this.onDevice) return; // its device could not be opened
      const bytes = typeof data === "number" ? new Uint8Array([data]) : ArrayBuffer.isView(data) ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength) : new Uint8Array(data);
      field.transmit(this.port, bytes);
    }
    close(): void {
      if (this.real) this.real.close(); else if (!this.onDevice) field.onUart(this.port, undefined);
    }
  };
}

/** SPI to the FPGA on the harness's side: reads from the register image, writes as W lines. */
function spiClass(field: LinField) {
  return class LinSpi {
    constructor(_options: unknown) {
      if (field.connected && !field.awaitRegisters(CORE_READY_TIMEOUT_MS)) field.noCore();
    }
    transfer(buffer: ArrayBuffer | ArrayBufferView): void {
      const f = ArrayBuffer.isView(buffer) ? new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength) : new Uint8Array(buffer);
      if (f.length !== 5) return;
      const addr = f[0] & 0x0f;
      if (f[0] & 0x80) {
        field.writeRegister(addr, ((f[1] << 24) | (f[2] << 16) | (f[3] << 8) | f[4]) >>> 0);
        return;
      }
      field.awaitWrites();
      const v = field.registers[addr] >>> 0;
      f[1] = (v >>> 24) & 0xff; f[2] = (v >>> 16) & 0xff; f[3] = (v >>> 8) & 0xff; f[4] = v & 0xff;
    }
    close(): void {}
  };
}

export interface LinDeviceOptions {
  Serial: LinSerialClass;
  /** `exit-controller` or `barrier-executor` (said in the BOOT line). */
  board: string;
  /** The manifest config (mc/config): `lane`, `linDevices`. */
  config: Record<string, unknown>;
  trace: (text: string) => void;
}

/** The directory of this board's devices (`linDevices` in the manifest config, overridable on the mcconfig command line). */
function devicePathFor(config: Record<string, unknown>): (port: string) => string | undefined {
  const dir = typeof config.linDevices === "string" ? config.linDevices : "";
  return (port) => (port.charAt(0) === "/" ? port : dir && DEVICE_PORTS.indexOf(port) >= 0 ? `${dir}/${port}` : undefined);
}

/** The `device` of a board in the Linux simulator: Digital, Serial and SPI over the field channel. */
export function createLinDevice(o: LinDeviceOptions) {
  const devicePath = devicePathFor(o.config);
  const lane = typeof o.config.lane === "string" ? o.config.lane : "?";
  const field = new LinField(o.Serial, devicePath("field"), { board: o.board, lane }, o.trace);
  return Object.freeze({
    io: Object.freeze({ Digital: digitalClass(field), Serial: serialClass(o.Serial, field, devicePath, o.trace), SPI: spiClass(field) }),
    pin: Object.freeze({}),
    field,
  });
}
