/**
 * What a board's firmware needs from its host, whichever it is: the Moddable runtime on a real
 * MCU, the Moddable Linux simulator, or the Node simulator. These are structural subsets of the
 * ECMA-419 classes (embedded:io/*) and of the Moddable `device` host provider, so the real
 * `device` object satisfies them and a simulated one can be written on Node.
 */

export interface SerialIO {
  read(): ArrayBuffer | number | undefined;
  write(data: ArrayBuffer | ArrayBufferView | number): void;
  close(): void;
}

export interface SerialOptions {
  port?: number | string;
  receive?: number | string;
  transmit?: number | string;
  baud: number;
  format?: "buffer" | "number";
  onReadable?: (this: SerialIO, bytes: number) => void;
}

export interface DigitalIO {
  read(): 0 | 1;
  write(value: 0 | 1): void;
  close(): void;
}

export interface DigitalOptions {
  pin: number | string;
  mode: unknown;
  edge?: number;
  onReadable?: (this: DigitalIO) => void;
}

export interface DigitalClass {
  new (options: DigitalOptions): DigitalIO;
  readonly Input: unknown;
  readonly InputPullUp: unknown;
  readonly Output: unknown;
  readonly Rising: number;
  readonly Falling: number;
}

export interface SerialClass {
  new (options: SerialOptions): SerialIO;
}

/** ECMA-419 I2C (embedded:io/i2c): one instance per target address. */
export interface I2CIO {
  write(data: ArrayBuffer | ArrayBufferView, stop?: boolean): void;
  close(): void;
}

export interface I2COptions {
  port?: number;
  data: number | string;
  clock: number | string;
  hz: number;
  address: number;
}

export interface I2CClass {
  new (options: I2COptions): I2CIO;
}

export interface BoardDevice {
  /** I2C is optional: the simulators have none (their manifests keep every device on a serial). */
  io: { Digital: DigitalClass; Serial: SerialClass; I2C?: I2CClass };
}

/** Time and timers. On XS: Date.now + Timer.set/clear; on Node: a real or virtual clock. */
export interface BoardClock {
  now(): number;
  schedule(callback: () => void, delayMs: number): unknown;
  cancel(handle: unknown): void;
}

/** Diagnostic output (trace() on XS). Never given secrets. */
export type Trace = (text: string) => void;
