/**
 * Board layer of the lane controller in its entry role: the entry state machine
 * (core/entry-controller.ts) on ECMA-419 I/O — loop, help and ticket buttons, RFID reader,
 * receipt printer, code scanner, display — on the MCU (xs/main.ts) and in the Node simulator.
 * Every I/O callback runs under `guard`: nothing thrown reaches the XS VM.
 */
import { LinkSession } from "../common/link/session";
import { writeSerialLine } from "../common/link/serial-write";
import type { BoardClock, BoardDevice, SerialIO, Trace } from "../common/io/board-host";
import { CodeScannerFramer } from "../common/io/code-scanner";
import { ReceiptPrinter } from "../common/io/escpos";
import { Rdm6300Framer } from "../common/io/rdm6300";
import { showScreen } from "../common/io/serlcd";
import { bytesOf, guard, openDisplay } from "./board-common";
import { decodeRdm6300 } from "./core/badge";
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

export function startEntryTerminal(host: { device: BoardDevice; config: Record<string, unknown>; clock: BoardClock; bootCount: number; trace?: Trace }): EntryBoard {
  const { device, clock } = host;
  const config = parseEntryConfig(host.config);
  const { Digital, Serial } = device.io;
  const trace = host.trace ?? (() => {});
  let wakeTimer: unknown;

  const gateway: SerialIO = new Serial({
    ...config.gatewaySerial, format: "buffer",
    onReadable() { guard(trace, "link", () => link.receiveBytes(bytesOf(this.read()) ?? new Uint8Array(0), clock.now())); reschedule(); },
  });
  const display: SerialIO = openDisplay(device, config, "entry-terminal");
  const link: LinkSession = new LinkSession({
    self: { kind: "exit-controller", fw: config.fwVersion, boot: host.bootCount, lane: config.lane, role: "entry" },
    receives: "down",
    timing: config.link,
    write: (line) => writeSerialLine(gateway, line),
    onMessage: (type, fields, now) => guard(trace, type, () => controller.onMessage(type, fields, now)),
    onPeerHello: (_fields, now) => guard(trace, "hello", () => controller.onPeerHello(now)),
    onLinkChange: (up, now) => { trace(`link ${up ? "up" : "down"}\n`); guard(trace, "link change", () => controller.onLinkChange(up, now)); },
    onGiveUp: (type) => trace(`link: gave up on ${type}\n`),
  });

  const badges = new Rdm6300Framer((body) => {
    const uid = decodeRdm6300(body);
    if (uid !== undefined) controller.badge(uid, clock.now());
    else controller.stats.badBadges++;
  });
  // The RFID reader's UART; on boards with few UARTs its TX also drives the printer's RX.
  const rfid: SerialIO = new Serial({
    ...config.rfidSerial, format: "buffer",
    onReadable() { guard(trace, "rfid", () => { const bytes = bytesOf(this.read()); if (bytes) badges.push(bytes); }); reschedule(); },
  });
  const printerPort: SerialIO | undefined = config.printerSerial && new Serial({
    ...config.printerSerial, format: "buffer",
    onReadable() { guard(trace, "printer", () => { const bytes = bytesOf(this.read()); if (bytes) printer?.receive(bytes, clock.now()); }); reschedule(); },
  });
  const printerOut = printerPort ?? (config.printerSharesRfidUart ? rfid : undefined);
  const printer = printerOut && new ReceiptPrinter(printerOut, {
    statusLine: printerPort !== undefined,
    statusTimeoutMs: config.printerStatusTimeoutMs,
    jobTimeoutMs: config.printTimeoutMs,
  });

  const codes = new CodeScannerFramer((code) => controller.scan(code, clock.now()));
  const scanner: SerialIO | undefined = config.scannerSerial && new Serial({
    ...config.scannerSerial, format: "buffer",
    onReadable() { guard(trace, "scanner", () => { const bytes = bytesOf(this.read()); if (bytes) codes.push(bytes); }); reschedule(); },
  });

  function print(ticket: TicketJob): boolean {
    if (!printer) return false;
    const job = encodeTicket({ id: ticket.id, code: ticket.code, lane: config.lane, now: clock.now() });
    if (!job) return false;
    return printer.print(job, clock.now(), (outcome) => {
      guard(trace, "printed", () => controller.onPrinted(ticket.id, outcome.ok, outcome.ok ? undefined : outcome.why, clock.now()));
    });
  }

  const controller: EntryController = new EntryController(config, {
    send: (type, fields) => { link.send(type, fields, clock.now()); },
    show: (screen) => showScreen(display, screen.lines, screen.qr),
    print,
  });

  const active = (level: 0 | 1): 0 | 1 => (config.pins.presenceActiveLow ? (level ? 0 : 1) : level);
  const presence = new Digital({
    pin: config.pins.presence, mode: config.pins.presencePull === "up" ? Digital.InputPullUp : Digital.Input, edge: Digital.Rising | Digital.Falling,
    onReadable() { guard(trace, "presence", () => controller.presenceSample(active(this.read()), clock.now())); reschedule(); },
  });
  const help = new Digital({
    pin: config.pins.help, mode: Digital.InputPullUp, edge: Digital.Falling,
    onReadable() { guard(trace, "help", () => controller.button("help", clock.now())); reschedule(); },
  });
  const ticketButton = new Digital({
    pin: config.pins.ticketButton, mode: Digital.InputPullUp, edge: Digital.Falling,
    onReadable() { guard(trace, "ticket button", () => controller.button("ticket", clock.now())); reschedule(); },
  });

  function reschedule(): void {
    guard(trace, "reschedule", () => {
      if (wakeTimer !== undefined) clock.cancel(wakeTimer);
      const now = clock.now();
      const next = Math.min(link.nextDeadline(), controller.nextDeadline(), printer?.nextDeadline() ?? Infinity);
      wakeTimer = clock.schedule(wake, Math.max(0, Math.min(next - now, 60000)));
    });
  }
  function wake(): void {
    wakeTimer = undefined;
    const now = clock.now();
    guard(trace, "tick", () => {
      link.tick(now);
      printer?.tick(now);
      controller.tick(now);
    });
    reschedule();
  }

  const now = clock.now();
  controller.presenceSample(active(presence.read()), now);
  controller.start(now);
  link.start(now);
  reschedule();
  trace(`entry-terminal ${config.fwVersion} lane ${config.lane} boot ${host.bootCount}${printer ? "" : " (no printer: tickets on the display)"}\n`);

  return {
    role: "entry",
    controller, link, printer,
    close() {
      clock.cancel(wakeTimer);
      presence.close();
      help.close();
      ticketButton.close();
      scanner?.close();
      printerPort?.close();
      rfid.close();
      display.close();
      gateway.close();
    },
  };
}
