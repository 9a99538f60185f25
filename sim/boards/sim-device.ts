/**
 * A Node implementation of the Moddable `device` host provider, for simulated boards: the
 * firmware's board layer constructs `device.io.Digital` and `device.io.Serial` exactly as on
 * an MCU, and the harness drives the pins and byte streams from outside. Serial ports are
 * looked up by their configured `port`: a byte stream (host/link/streams.ts) — a real serial
 * device (a socat pty, a USB adapter) or an in-memory stream for peripherals such as the RFID
 * reader and the display.
 */
import type { ByteStream } from "../../host/link/byte-stream";
import type { BoardDevice, DigitalIO, DigitalOptions, SerialIO, SerialOptions } from "../../firmware/common/io/board-host";

const INPUT = Symbol("Input"), INPUT_PULLUP = Symbol("InputPullUp"), OUTPUT = Symbol("Output");
const RISING = 1, FALLING = 2;

interface SimPin {
  level: 0 | 1;
  output: boolean;
  instances: Set<SimDigital>;
  /** Overrides reads of an input pin (a keypad column depends on which row is driven). */
  resolve?: () => 0 | 1;
}

class SimDigital implements DigitalIO {
  constructor(private readonly pin: SimPin, readonly options: DigitalOptions, private readonly pins: SimPins) {
    pin.output = options.mode === OUTPUT;
    if (options.mode === INPUT_PULLUP && !pin.resolve) pin.level = 1;
    pin.instances.add(this);
  }
  read(): 0 | 1 {
    return this.pin.resolve ? this.pin.resolve() : this.pin.level;
  }
  write(value: 0 | 1): void {
    if (!this.pin.output) throw new Error("Digital: write on an input pin");
    this.pin.level = value;
    this.pins.onOutput();
  }
  close(): void {
    this.pin.instances.delete(this);
  }
}

/** The board's pins, by the numbers or names its manifest config gives them. */
export class SimPins {
  private readonly pins = new Map<string, SimPin>();
  onOutput: () => void = () => {};

  get(pin: number | string): SimPin {
    const key = String(pin);
    let p = this.pins.get(key);
    if (!p) {
      p = { level: 0, output: false, instances: new Set() };
      this.pins.set(key, p);
    }
    return p;
  }

  /** Drive an input pin from outside (a loop detector, a button) and fire edge callbacks. */
  set(pin: number | string, level: 0 | 1): void {
    const p = this.get(pin);
    if (p.output) throw new Error(`pin ${pin} is an output`);
    if (p.level === level) return;
    p.level = level;
    const edge = level ? RISING : FALLING;
    for (const io of p.instances) {
      if (io.options.onReadable && ((io.options.edge ?? 0) & edge)) io.options.onReadable.call(io);
    }
  }

  level(pin: number | string): 0 | 1 {
    return this.get(pin).level;
  }

  attachResolver(pin: number | string, resolve: () => 0 | 1): void {
    this.get(pin).resolve = resolve;
  }
}

class SimSerial implements SerialIO {
  private readonly chunks: Uint8Array[] = [];

  constructor(private readonly transport: ByteStream, options: SerialOptions) {
    transport.setReceiver((bytes) => {
      this.chunks.push(bytes);
      options.onReadable?.call(this, bytes.length);
    });
  }
  read(): ArrayBuffer | undefined {
    if (this.chunks.length === 0) return undefined;
    const total = this.chunks.reduce((n, c) => n + c.length, 0);
    const out = new Uint8Array(total);
    let at = 0;
    for (const c of this.chunks.splice(0)) { out.set(c, at); at += c.length; }
    return out.buffer;
  }
  write(data: ArrayBuffer | ArrayBufferView | number): void {
    const bytes = typeof data === "number" ? new Uint8Array([data])
      : ArrayBuffer.isView(data) ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice()
      : new Uint8Array(data.slice(0));
    this.transport.write(bytes);
  }
  close(): void {
    this.transport.setReceiver(() => {});
  }
}

export function createSimDevice(pins: SimPins, transports: Map<string, ByteStream>): BoardDevice {
  const Digital = class extends SimDigital {
    static readonly Input = INPUT;
    static readonly InputPullUp = INPUT_PULLUP;
    static readonly Output = OUTPUT;
    static readonly Rising = RISING;
    static readonly Falling = FALLING;
    constructor(options: DigitalOptions) {
      super(pins.get(options.pin), options, pins);
    }
  };
  const Serial = class extends SimSerial {
    constructor(options: SerialOptions) {
      const transport = transports.get(String(options.port));
      if (!transport) throw new Error(`Serial: no simulated port "${String(options.port)}"`);
      super(transport, options);
    }
  };
  return { io: { Digital, Serial } };
}
