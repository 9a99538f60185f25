/**
 * A simulated entry terminal: the lane controller's real firmware in its entry role
 * (firmware/exit-controller/entry-board.ts) on the Node `device` provider, configured from
 * manifests/entry-terminal.json (lin block). Its gateway UART is a real serial device (a socat
 * pty in tests) or an in-memory cable; the harness drives the loop, the buttons, the RFID reader
 * and the code scanner, reads the display back from the SerLCD bytes and the tickets from the
 * ESC/POS bytes written to the printer's UART (./escpos-decoder.ts), and can empty the paper roll
 * or switch the printer off.
 */
import { startEntryTerminal, type EntryBoard } from "../../firmware/exit-controller/entry-board";
import type { BoardClock, Trace } from "../../firmware/common/io/board-host";
import type { ExitState } from "../../firmware/common/link/messages";
import type { ByteStream } from "../../host/link/byte-stream";
import { MemoryStream, openSerialStream } from "../../host/link/streams";
import { decodeDisplayBytes, type DisplayContent } from "./exit-controller-sim";
import { EscPosDecoder, type PrintedTicket } from "./escpos-decoder";
import { rdm6300Frame } from "./rdm6300-reader";
import { createSimDevice, SimPins } from "./sim-device";
import { SimulatedBoard } from "./sim-board";

export type { PrintedTicket };

export interface SimEntryOptions {
  serialPath?: string;
  transport?: ByteStream;
  lane?: string;
  clock: BoardClock;
  bootCount?: number;
  config?: Record<string, unknown>;
  trace?: Trace;
  vehiclePresent?: boolean;
}

interface EntryPinConfig { presence: number | string; presenceActiveLow: boolean; help: number | string; ticketButton: number | string }

export class SimulatedEntryTerminal extends SimulatedBoard<EntryBoard, SimEntryOptions, ByteStream> {
  readonly pins = new SimPins();
  readonly rfid = new MemoryStream();
  readonly printerPort = new MemoryStream();
  readonly scanner = new MemoryStream();
  readonly displayPort = new MemoryStream();
  display: DisplayContent = { lines: ["", "", "", ""] };
  readonly screens: DisplayContent[] = [];
  /** The printer as the firmware sees it: paper, power, and what it printed. */
  readonly printer: { paperOut(on: boolean): void; offline(on: boolean): void; decoder: EscPosDecoder };
  private readonly decoder: EscPosDecoder;
  private fieldWired = false;

  private constructor(options: SimEntryOptions, transport: ByteStream) {
    super(options, transport);
    this.displayPort.onWrite = (bytes) => {
      const content = decodeDisplayBytes(bytes);
      if (!content) return;
      this.display = content;
      this.screens.push(content);
      if (this.screens.length > 200) this.screens.shift();
    };
    // The printer answers on its own TX line, a moment after the request (as on the wire).
    this.decoder = new EscPosDecoder((bytes) => queueMicrotask(() => this.printerPort.inject(bytes)));
    this.printerPort.onWrite = (bytes) => this.decoder.write(bytes);
    // Where the printer shares the RFID reader's UART, what the board writes there is for it.
    this.rfid.onWrite = (bytes) => this.decoder.write(bytes);
    const decoder = this.decoder;
    this.printer = {
      paperOut: (on) => { decoder.paperOut = on; },
      offline: (on) => { decoder.offline = on; },
      decoder,
    };
  }

  static async start(options: SimEntryOptions): Promise<SimulatedEntryTerminal> {
    const transport = options.transport ?? (options.serialPath ? await openSerialStream(options.serialPath) : undefined);
    if (!transport) throw new Error("simulated entry terminal: give serialPath or transport");
    const sim = new SimulatedEntryTerminal(options, transport);
    sim.boot();
    return sim;
  }

  get controller() { return this.board.controller; }
  get state(): ExitState { return this.board.controller.state; }
  get link() { return this.board.link; }
  /** Every ticket that came out of the printer, oldest first. */
  get printed(): PrintedTicket[] { return this.decoder.printed; }

  private get pinConfig(): EntryPinConfig { return this.config.pins as never; }

  protected boot(): void {
    this.loadConfig("entry-terminal");
    const port = (key: string): string | undefined => {
      const section = this.config[key] as { port?: unknown } | undefined;
      return section && typeof section === "object" && section.port !== undefined ? String(section.port) : undefined;
    };
    const transports = new Map<string, ByteStream>([[port("gatewaySerial")!, this.transport], [port("rfidSerial")!, this.rfid], [port("displaySerial")!, this.displayPort]]);
    const printer = port("printerSerial"), scanner = port("scannerSerial");
    if (printer) transports.set(printer, this.printerPort);
    if (scanner) transports.set(scanner, this.scanner);
    const { presence, presenceActiveLow, help, ticketButton } = this.pinConfig;
    if (!this.fieldWired) {
      this.fieldWired = true;
      this.pins.set(help, 1);
      this.pins.set(ticketButton, 1);
      this.pins.set(presence, (this.options.vehiclePresent === true) !== presenceActiveLow ? 1 : 0);
    }
    this.board = startEntryTerminal({
      device: createSimDevice(this.pins, transports),
      config: this.config,
      clock: this.options.clock,
      bootCount: this.bootCount,
      trace: this.options.trace,
    });
  }

  private setPresence(present: boolean): void {
    const { presence, presenceActiveLow } = this.pinConfig;
    this.pins.set(presence, (present !== presenceActiveLow) ? 1 : 0);
  }

  vehicleArrives(): void { this.setPresence(true); }
  vehicleLeaves(): void { this.setPresence(false); }

  presentBadge(uid10hex: string): void {
    this.rfid.inject(rdm6300Frame(uid10hex));
  }

  private press(pin: number | string): void {
    this.pins.set(pin, 0);
    this.pins.set(pin, 1);
  }

  pressTicket(): void { this.press(this.pinConfig.ticketButton); }
  pressHelp(): void { this.press(this.pinConfig.help); }

  /** A code held under the scanner: it sends the text and its CR LF suffix. */
  scan(text: string): void {
    this.scanner.inject(new Uint8Array([...text, "\r", "\n"].map((c) => c.charCodeAt(0))));
  }
}
