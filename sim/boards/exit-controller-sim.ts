/**
 * A simulated exit controller: the real firmware (board layer + core) running on Node behind
 * the simulated `device` provider. Its gateway UART is a real serial device (a socat pty in
 * tests) or an in-memory cable; its field inputs — loop detector, RFID reader, keypad, help
 * button — are driven by the harness, and its display is read back from the bytes the
 * firmware sends to the display UART.
 */
import { startExitController, type ExitBoard } from "../../firmware/exit-controller/board";
import type { BoardClock, Trace } from "../../firmware/common/io/board-host";
import { KEYPAD_LAYOUT } from "../../firmware/common/io/keypad-matrix";
import type { ExitState } from "../../firmware/common/link/messages";
import { rdm6300Frame } from "./rdm6300-reader";
import type { ByteStream } from "../../host/link/byte-stream";
import { MemoryStream, openSerialStream } from "../../host/link/streams";
import { createSimDevice, SimPins } from "./sim-device";
import { SimulatedBoard } from "./sim-board";
import { VirtualClock } from "./virtual-clock";

export interface SimExitOptions {
  /** Serial device for the gateway link, e.g. one end of a socat pty pair. */
  serialPath?: string;
  /** Or an already open transport (in-memory cable). */
  transport?: ByteStream;
  lane?: string;
  clock: BoardClock;
  bootCount?: number;
  config?: Record<string, unknown>;
  trace?: Trace;
  /** A vehicle is already on the loop when the board boots. */
  vehiclePresent?: boolean;
}

export interface DisplayContent {
  lines: string[];
  qr?: string;
}

/** Decode what the firmware wrote to the SerLCD display UART (see firmware/common/io/serlcd). */
export function decodeDisplayBytes(bytes: Uint8Array): DisplayContent | undefined {
  if (bytes.length < 85 || bytes[0] !== 0x7c || bytes[1] !== 0x2d) return undefined;
  const text = String.fromCharCode(...bytes.subarray(2, 82));
  const lines = [0, 1, 2, 3].map((r) => text.substring(r * 20, r * 20 + 20).trimEnd());
  const qr = String.fromCharCode(...bytes.subarray(84, bytes.length - 1));
  return { lines, qr: qr.length ? qr : undefined };
}

export class SimulatedExitController extends SimulatedBoard<ExitBoard, SimExitOptions, ByteStream> {
  readonly pins = new SimPins();
  readonly rfid = new MemoryStream();
  readonly displayPort = new MemoryStream();
  /** The pay station's QR / barcode scanner (its UART, when the manifest fits one). */
  readonly scanner = new MemoryStream();
  display: DisplayContent = { lines: ["", "", "", ""] };
  /** Every screen shown, oldest first (bounded). */
  readonly screens: DisplayContent[] = [];
  private pressed = new Set<string>();
  private fieldWired = false;

  private constructor(options: SimExitOptions, transport: ByteStream) {
    super(options, transport);
    this.displayPort.onWrite = (bytes) => {
      const content = decodeDisplayBytes(bytes);
      if (!content) return;
      this.display = content;
      this.screens.push(content);
      if (this.screens.length > 200) this.screens.shift();
    };
  }

  static async start(options: SimExitOptions): Promise<SimulatedExitController> {
    const transport = options.transport ?? (options.serialPath ? await openSerialStream(options.serialPath) : undefined);
    if (!transport) throw new Error("simulated exit controller: give serialPath or transport");
    const sim = new SimulatedExitController(options, transport);
    sim.boot();
    return sim;
  }

  get controller() { return this.board.controller; }
  get state(): ExitState { return this.board.controller.state; }
  get link() { return this.board.link; }

  private get pinConfig(): { presence: number | string; presenceActiveLow: boolean; help: number | string; lostButton?: number | string; keypadRows: (number | string)[]; keypadCols: (number | string)[] } {
    return this.config.pins as never;
  }

  protected boot(): void {
    this.loadConfig("exit-controller");
    const serial = this.config.gatewaySerial as { port: string };
    const rfid = this.config.rfidSerial as { port: string };
    const display = this.config.displaySerial as { port: string };
    const transports = new Map<string, ByteStream>([
      [String(serial.port), this.transport],
      [String(rfid.port), this.rfid],
      [String(display.port), this.displayPort],
    ]);
    const scanner = this.config.scannerSerial as { port: string } | undefined;
    if (scanner) transports.set(String(scanner.port), this.scanner);
    const { keypadRows, keypadCols, presence, presenceActiveLow, help, lostButton } = this.pinConfig;
    // The keypad matrix: a column reads low while a pressed key's row is driven low.
    keypadCols.forEach((col, c) => this.pins.attachResolver(col, () => {
      for (let r = 0; r < 4; r++) {
        if (this.pressed.has(KEYPAD_LAYOUT[r * 3 + c]) && this.pins.level(keypadRows[r]) === 0) return 0;
      }
      return 1;
    }));
    // The field (loop, button) is physical: a power cycle of the board does not change it.
    if (!this.fieldWired) {
      this.fieldWired = true;
      this.pins.set(help, 1);
      if (lostButton !== undefined) this.pins.set(lostButton, 1);
      this.pins.set(presence, (this.options.vehiclePresent === true) !== presenceActiveLow ? 1 : 0);
    }
    this.board = startExitController({
      device: createSimDevice(this.pins, transports),
      config: this.config,
      clock: this.options.clock,
      bootCount: this.bootCount,
      trace: this.options.trace,
    });
  }

  // ---- field inputs, as a rig's I/O emulator would drive them

  private setPresence(present: boolean): void {
    const { presence, presenceActiveLow } = this.pinConfig;
    this.pins.set(presence, (present !== presenceActiveLow) ? 1 : 0);
  }

  vehicleArrives(): void { this.setPresence(true); }
  vehicleLeaves(): void { this.setPresence(false); }

  /** A 125 kHz badge in front of the reader: an RDM6300 frame with its XOR checksum. */
  presentBadge(uid10hex: string): void {
    this.rfid.inject(rdm6300Frame(uid10hex));
  }


  /** Press and release each key long enough for the keypad scan to see it. */
  async typeKeys(keys: string, wait: (ms: number) => Promise<void> | void): Promise<void> {
    const scan = Number(this.config.keypadScanMs);
    for (const key of keys) {
      if (!KEYPAD_LAYOUT.includes(key)) throw new Error(`typeKeys: no key "${key}" on the keypad`);
      this.pressed.add(key);
      await wait(scan * 3);
      this.pressed.delete(key);
      await wait(scan * 3);
    }
  }

  /** A code held under the scanner: it sends the text and its CR LF suffix. */
  scan(text: string): void {
    this.scanner.inject(new Uint8Array([...text, "\r", "\n"].map((c) => c.charCodeAt(0))));
  }

  /** The "lost ticket" button. */
  pressLost(): void {
    const { lostButton } = this.pinConfig;
    if (lostButton === undefined) throw new Error("pressLost: this lane's manifest has no pins.lostButton");
    this.pins.set(lostButton, 0);
    this.pins.set(lostButton, 1);
  }

  pressHelp(): void {
    const { help } = this.pinConfig;
    this.pins.set(help, 0);
    this.pins.set(help, 1);
  }
}

/** A `wait` for typeKeys on a virtual clock. */
export function virtualWait(clock: VirtualClock): (ms: number) => void {
  return (ms) => clock.advance(ms);
}
