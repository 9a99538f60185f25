/**
 * A simulated entry terminal: the lane controller's real firmware in its entry role
 * (firmware/exit-controller/entry-board.ts) on the Node `device` provider, configured from
 * manifests/entry-terminal.json (lin block). What it shares with the exit controller — the
 * gateway wire, the loop, the help button, the RFID reader, the code scanner, the display read
 * back — is in ./lane-controller-sim.ts; here the ticket button and the receipt printer: the
 * tickets are read from the ESC/POS bytes written to the printer's UART (./escpos-decoder.ts),
 * and the harness can empty the paper roll or switch the printer off.
 */
import { startEntryTerminal, type EntryBoard } from "../../firmware/exit-controller/entry-board";
import type { LaneHost } from "../../firmware/exit-controller/board-common";
import type { ByteStream } from "../../host/link/byte-stream";
import { MemoryStream } from "../../host/link/streams";
import { EscPosDecoder, type PrintedTicket } from "./escpos-decoder";
import { openLaneTransport, SimulatedLaneController, type SimLaneOptions } from "./lane-controller-sim";

export type { PrintedTicket };
export type SimEntryOptions = SimLaneOptions;

export class SimulatedEntryTerminal extends SimulatedLaneController<EntryBoard> {
  readonly printerPort = new MemoryStream();
  /** The printer as the firmware sees it: paper, power, and what it printed. */
  readonly printer: { paperOut(on: boolean): void; offline(on: boolean): void; decoder: EscPosDecoder };
  private readonly decoder: EscPosDecoder;

  private constructor(options: SimEntryOptions, transport: ByteStream) {
    super(options, transport, "entry-terminal");
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
    const sim = new SimulatedEntryTerminal(options, await openLaneTransport(options, "simulated entry terminal"));
    sim.boot();
    return sim;
  }

  /** Every ticket that came out of the printer, oldest first. */
  get printed(): PrintedTicket[] { return this.decoder.printed; }

  private get ticketButton(): number | string { return (this.config.pins as { ticketButton: number | string }).ticketButton; }

  protected override roleSerials(): [string, ByteStream][] { return [["printerSerial", this.printerPort]]; }
  protected override roleButtons(): (number | string | undefined)[] { return [this.ticketButton]; }
  protected override startFirmware(host: LaneHost): EntryBoard { return startEntryTerminal(host); }

  pressTicket(): void { this.press(this.ticketButton); }
}
