/**
 * What the two simulated lane controller roles (exit: ./exit-controller-sim.ts, entry:
 * ./entry-terminal-sim.ts) share: the real firmware on the Node `device` provider, its gateway
 * UART on a real serial device (a socat pty in tests) or an in-memory cable, the RFID reader,
 * the code scanner and the display UARTs, the loop and the help button driven by the harness,
 * and the display read back from the SerLCD bytes. Each role adds its own inputs (keypad and
 * lost-ticket button; ticket button and printer).
 */
import type { LaneHost } from "../../firmware/exit-controller/board-common";
import type { BoardClock, Trace } from "../../firmware/common/io/board-host";
import type { ExitState } from "../../firmware/common/link/messages";
import type { LinkSession } from "../../firmware/common/link/session";
import type { ByteStream } from "../../host/link/byte-stream";
import { MemoryStream, openSerialStream } from "../../host/link/streams";
import { rdm6300Frame } from "./rdm6300-reader";
import { createSimDevice, SimPins } from "./sim-device";
import { SimulatedBoard } from "./sim-board";

export interface SimLaneOptions {
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

/** The gateway wire the options name: an open transport, or the serial device opened here. */
export async function openLaneTransport(options: SimLaneOptions, what: string): Promise<ByteStream> {
  const transport = options.transport ?? (options.serialPath ? await openSerialStream(options.serialPath) : undefined);
  if (!transport) throw new Error(`${what}: give serialPath or transport`);
  return transport;
}

interface LanePinConfig { presence: number | string; presenceActiveLow: boolean; help: number | string }

export abstract class SimulatedLaneController<B extends { controller: { state: ExitState }; link: LinkSession; close(): void }>
  extends SimulatedBoard<B, SimLaneOptions, ByteStream> {
  readonly pins = new SimPins();
  readonly rfid = new MemoryStream();
  readonly displayPort = new MemoryStream();
  /** The QR / barcode scanner (its UART, when the manifest fits one). */
  readonly scanner = new MemoryStream();
  display: DisplayContent = { lines: ["", "", "", ""] };
  /** Every screen shown, oldest first (bounded). */
  readonly screens: DisplayContent[] = [];
  private fieldWired = false;

  protected constructor(options: SimLaneOptions, transport: ByteStream, private readonly firmware: "exit-controller" | "entry-terminal") {
    super(options, transport);
    this.displayPort.onWrite = (bytes) => {
      const content = decodeDisplayBytes(bytes);
      if (!content) return;
      this.display = content;
      this.screens.push(content);
      if (this.screens.length > 200) this.screens.shift();
    };
  }

  get controller(): B["controller"] { return this.board.controller; }
  get state(): ExitState { return this.board.controller.state; }
  get link(): LinkSession { return this.board.link; }

  /** The role's own UARTs, by their config key (the entry's printer). */
  protected abstract roleSerials(): [key: string, stream: ByteStream][];
  /** The role's own buttons (to ground: released reads 1), where the manifest fits them. */
  protected abstract roleButtons(): (number | string | undefined)[];
  /** Anything the role's inputs compute from the board's outputs (the exit's keypad matrix). */
  protected wireRoleInputs(): void {}
  protected abstract startFirmware(host: LaneHost): B;

  protected get lanePins(): LanePinConfig { return this.config.pins as never; }

  protected boot(): void {
    this.loadConfig(this.firmware);
    const port = (key: string): string | undefined => {
      const section = this.config[key] as { port?: unknown } | undefined;
      return section && typeof section === "object" && section.port !== undefined ? String(section.port) : undefined;
    };
    const transports = new Map<string, ByteStream>();
    const serials: [string, ByteStream][] = [
      ["gatewaySerial", this.transport], ["rfidSerial", this.rfid], ["displaySerial", this.displayPort], ["scannerSerial", this.scanner],
      ...this.roleSerials(),
    ];
    for (const [key, stream] of serials) {
      const at = port(key);
      if (at !== undefined) transports.set(at, stream);
    }
    this.wireRoleInputs();
    // The field (loop, buttons) is physical: a power cycle of the board does not change it.
    if (!this.fieldWired) {
      this.fieldWired = true;
      const { presence, presenceActiveLow, help } = this.lanePins;
      this.pins.set(help, 1);
      for (const button of this.roleButtons()) if (button !== undefined) this.pins.set(button, 1);
      this.pins.set(presence, (this.options.vehiclePresent === true) !== presenceActiveLow ? 1 : 0);
    }
    this.board = this.startFirmware({
      device: createSimDevice(this.pins, transports),
      config: this.config,
      clock: this.options.clock,
      bootCount: this.bootCount,
      trace: this.options.trace,
    });
  }

  // ---- field inputs, as a rig's I/O emulator would drive them

  private setPresence(present: boolean): void {
    const { presence, presenceActiveLow } = this.lanePins;
    this.pins.set(presence, (present !== presenceActiveLow) ? 1 : 0);
  }

  vehicleArrives(): void { this.setPresence(true); }
  vehicleLeaves(): void { this.setPresence(false); }

  /** A 125 kHz badge in front of the reader: an RDM6300 frame with its XOR checksum. */
  presentBadge(uid10hex: string): void {
    this.rfid.inject(rdm6300Frame(uid10hex));
  }

  /** A code held under the scanner: it sends the text and its CR LF suffix. */
  scan(text: string): void {
    this.scanner.inject(new Uint8Array([...text, "\r", "\n"].map((c) => c.charCodeAt(0))));
  }

  /** A button to ground, pressed and released. */
  protected press(pin: number | string): void {
    this.pins.set(pin, 0);
    this.pins.set(pin, 1);
  }

  pressHelp(): void { this.press(this.lanePins.help); }
}
