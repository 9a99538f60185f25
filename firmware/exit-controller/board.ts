/**
 * Board layer of the exit controller: wires the pure state machine to ECMA-419 I/O. It takes
 * the host's `device`, the manifest config and a clock, so the very same code runs on the MCU
 * (xs/main.ts) and in the Node simulator (sim/boards).
 */
import { LinkSession } from "../common/link/session";
import { writeSerialLine } from "../common/link/serial-write";
import type { BoardClock, BoardDevice, DigitalIO, SerialIO, Trace } from "../common/io/board-host";
import { CodeScannerFramer } from "../common/io/code-scanner";
import { KeypadMatrix } from "../common/io/keypad-matrix";
import { Rdm6300Framer } from "../common/io/rdm6300";
import { showScreen } from "../common/io/serlcd";
import { bytesOf, guard, openDisplay } from "./board-common";
import { decodeRdm6300 } from "./core/badge";
import { parseExitConfig } from "./core/config";
import { ExitController } from "./core/controller";

export interface ExitBoard {
  role: "exit";
  controller: ExitController;
  link: LinkSession;
  close(): void;
}

export function startExitController(host: { device: BoardDevice; config: Record<string, unknown>; clock: BoardClock; bootCount: number; trace?: Trace }): ExitBoard {
  const { device, clock } = host;
  const config = parseExitConfig(host.config);
  const { Digital, Serial } = device.io;
  const trace = host.trace ?? (() => {});
  let wakeTimer: unknown;
  let scanTimer: unknown;

  const gateway: SerialIO = new Serial({
    ...config.gatewaySerial, format: "buffer",
    onReadable() { link.receiveBytes(bytesOf(this.read()) ?? new Uint8Array(0), clock.now()); reschedule(); },
  });
  const display: SerialIO = openDisplay(device, config, "exit-controller");
  const link: LinkSession = new LinkSession({
    self: { kind: "exit-controller", fw: config.fwVersion, boot: host.bootCount, lane: config.lane, role: "exit" },
    receives: "down",
    timing: config.link,
    write: (line) => writeSerialLine(gateway, line),
    onMessage: (type, fields, now) => controller.onMessage(type, fields, now),
    onPeerHello: (_fields, now) => controller.onPeerHello(now),
    onLinkChange: (up, now) => { trace(`link ${up ? "up" : "down"}\n`); controller.onLinkChange(up, now); },
    onGiveUp: (type) => trace(`link: gave up on ${type}\n`),
  });
  const controller: ExitController = new ExitController(config, {
    send: (type, fields) => { link.send(type, fields, clock.now()); },
    show: (screen) => showScreen(display, screen.lines, screen.qr),
  });

  const framer = new Rdm6300Framer((body) => {
    const uid = decodeRdm6300(body);
    if (uid !== undefined) controller.badge(uid, clock.now());
    else controller.stats.badBadges++;
    reschedule();
  });
  const rfid: SerialIO = new Serial({
    ...config.rfidSerial, format: "buffer",
    onReadable() { const bytes = bytesOf(this.read()); if (bytes) framer.push(bytes); },
  });

  const active = (level: 0 | 1): 0 | 1 => (config.pins.presenceActiveLow ? (level ? 0 : 1) : level);
  const presence = new Digital({
    pin: config.pins.presence, mode: config.pins.presencePull === "up" ? Digital.InputPullUp : Digital.Input, edge: Digital.Rising | Digital.Falling,
    onReadable() { controller.presenceSample(active(this.read()), clock.now()); reschedule(); },
  });
  const help = new Digital({
    pin: config.pins.help, mode: Digital.InputPullUp, edge: Digital.Falling,
    onReadable() { controller.button("help", clock.now()); reschedule(); },
  });
  const keypad = new KeypadMatrix(Digital, config.pins.keypadRows, config.pins.keypadCols, (key) => {
    controller.key(key, clock.now());
    reschedule();
  });

  // The pay station's code scanner (a ticket `SPK1.…`, a validation `SPV1.…`) and the
  // lost-ticket button, where the manifest fits them.
  const scannerFramer = new CodeScannerFramer((code) => controller.scan(code, clock.now()));
  const scanner: SerialIO | undefined = config.scannerSerial && new Serial({
    ...config.scannerSerial, format: "buffer",
    onReadable() { guard(trace, "scanner", () => { const bytes = bytesOf(this.read()); if (bytes) scannerFramer.push(bytes); }); reschedule(); },
  });
  const lostPin = config.pins.lostButton;
  const lost: DigitalIO | undefined = lostPin === undefined ? undefined : new Digital({
    pin: lostPin, mode: Digital.InputPullUp, edge: Digital.Falling,
    onReadable() { guard(trace, "lost button", () => controller.button("lost", clock.now())); reschedule(); },
  });

  function reschedule(): void {
    if (wakeTimer !== undefined) clock.cancel(wakeTimer);
    const now = clock.now();
    const next = Math.min(link.nextDeadline(), controller.nextDeadline());
    wakeTimer = clock.schedule(wake, Math.max(0, Math.min(next - now, 60000)));
  }
  function wake(): void {
    wakeTimer = undefined;
    const now = clock.now();
    link.tick(now);
    controller.tick(now);
    reschedule();
  }
  function scan(): void {
    keypad.scan();
    scanTimer = clock.schedule(scan, config.keypadScanMs);
  }

  const now = clock.now();
  controller.presenceSample(active(presence.read()), now);
  controller.start(now);
  link.start(now);
  scan();
  reschedule();
  trace(`exit-controller ${config.fwVersion} lane ${config.lane} boot ${host.bootCount}\n`);

  return {
    role: "exit",
    controller, link,
    close() {
      clock.cancel(wakeTimer);
      clock.cancel(scanTimer);
      keypad.close();
      presence.close();
      help.close();
      lost?.close();
      scanner?.close();
      rfid.close();
      display.close();
      gateway.close();
    },
  };
}
