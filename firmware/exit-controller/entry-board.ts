/**
 * Board layer of the lane controller in its entry role: the entry state machine
 * (core/entry-controller.ts) on ECMA-419 I/O, on the MCU (xs/main.ts) and in the Node simulator.
 * The parts both roles have (link, display, RFID reader, code scanner, loop and help inputs) are
 * wired by ./board-common.ts; the entry adds the ticket button and the receipt printer.
 * Every I/O callback runs under `guard`: nothing thrown reaches the XS VM.
 */
import type { SerialIO } from "../common/io/board-host";
import { ReceiptPrinter } from "../common/io/escpos";
import type { LinkSession } from "../common/link/session";
import { bytesOf, guard, startLane, type LaneHost } from "./board-common";
import { parseEntryConfig } from "./core/entry-config";
import { EntryController, type TicketJob } from "./core/entry-controller";
import { encodeTicket } from "./core/ticket-receipt";

export interface EntryBoard {
  role: "entry";
  controller: EntryController;
  link: LinkSession;
  printer: ReceiptPrinter | undefined;
  close(): void;
}

export function startEntryTerminal(host: LaneHost): EntryBoard {
  const config = parseEntryConfig(host.config);
  let printer: ReceiptPrinter | undefined;
  const lane = startLane(host, {
    board: "entry-terminal",
    role: "entry",
    config,
    attach({ Digital, Serial, clock, trace, ports, rfid, reschedule }) {
      const printerPort: SerialIO | undefined = config.printerSerial && new Serial({
        ...config.printerSerial, format: "buffer",
        onReadable() { guard(trace, "printer", () => { const bytes = bytesOf(this.read()); if (bytes) printer?.receive(bytes, clock.now()); }); reschedule(); },
      });
      // On boards with few UARTs the RFID reader's TX line drives the printer's RX.
      const printerOut = printerPort ?? (config.printerSharesRfidUart ? rfid : undefined);
      printer = printerOut && new ReceiptPrinter(printerOut, {
        statusLine: printerPort !== undefined,
        statusTimeoutMs: config.printerStatusTimeoutMs,
        jobTimeoutMs: config.printTimeoutMs,
      });

      function print(ticket: TicketJob): boolean {
        if (!printer) return false;
        const job = encodeTicket({ id: ticket.id, code: ticket.code, lane: config.lane, now: clock.now() });
        if (!job) return false;
        return printer.print(job, clock.now(), (outcome) => {
          guard(trace, "printed", () => controller.onPrinted(ticket.id, outcome.ok, outcome.ok ? undefined : outcome.why, clock.now()));
        });
      }
      const controller = new EntryController(config, { ...ports, print });

      const ticketButton = new Digital({
        pin: config.pins.ticketButton, mode: Digital.InputPullUp, edge: Digital.Falling,
        onReadable() { guard(trace, "ticket button", () => controller.button("ticket", clock.now())); reschedule(); },
      });
      return {
        controller,
        nextDeadline: () => printer?.nextDeadline() ?? Infinity,
        tick: (now) => printer?.tick(now),
        bootNote: printer ? "" : " (no printer: tickets on the display)",
        close() {
          ticketButton.close();
          printerPort?.close();
        },
      };
    },
  });
  return { role: "entry", ...lane, printer };
}
