/**
 * What the lane controller's two board layers (exit: ./board.ts, entry: ./entry-board.ts) share:
 * the wiring of the parts both roles have — the gateway link, the display, the RFID reader, the
 * code scanner, the loop and help inputs, the wake timer — around the role's state machine
 * (core/lane-controller.ts), and the guard every I/O callback runs in (an exception thrown out
 * of an onReadable or a Timer callback aborts the XS VM). Each role adds its own parts (keypad
 * and lost-ticket button; ticket button and printer) through `LaneRoleParts`.
 */
import type { BoardClock, BoardDevice, DigitalClass, SerialClass, SerialIO, Trace } from "../common/io/board-host";
import { CodeScannerFramer } from "../common/io/code-scanner";
import type { SerialPortConfig } from "../common/io/config-fields";
import { Rdm6300Framer } from "../common/io/rdm6300";
import { showScreen } from "../common/io/serlcd";
import { serlcdOverI2c } from "../common/io/serlcd-i2c";
import { LinkSession } from "../common/link/session";
import { writeSerialLine } from "../common/link/serial-write";
import { decodeRdm6300 } from "./core/badge";
import type { I2CDeviceConfig, LaneConfig, LanePins } from "./core/lane-config";
import type { LaneController, LanePorts } from "./core/lane-controller";

/** What the host gives a board layer: the MCU's `device`, the manifest config, a clock. */
export interface LaneHost {
  device: BoardDevice;
  config: Record<string, unknown>;
  clock: BoardClock;
  bootCount: number;
  trace?: Trace;
}

export function bytesOf(data: ArrayBuffer | number | undefined): Uint8Array | undefined {
  if (data === undefined) return undefined;
  if (typeof data === "number") return new Uint8Array([data]);
  return new Uint8Array(data);
}

/** The SerLCD on its UART (simulator) or on I2C (boards: no UART left for it, see manifest). */
export function openDisplay(device: BoardDevice, config: { displaySerial?: SerialPortConfig; displayI2c?: I2CDeviceConfig }, board: string): SerialIO {
  if (config.displaySerial) return new device.io.Serial({ ...config.displaySerial, format: "buffer" });
  const I2C = device.io.I2C;
  if (!I2C || !config.displayI2c) throw new Error(`${board}: displayI2c configured but this host has no I2C`);
  return serlcdOverI2c(new I2C(config.displayI2c));
}

/** Runs `fn`; what it throws is traced, counted by the caller if it wants, and goes no further. */
export function guard(trace: Trace, what: string, fn: () => void): void {
  try {
    fn();
  } catch (err) {
    trace(`${what}: ${String(err)}\n`);
  }
}

/** The role's state machine, as the shared wiring drives it. */
type WiredController = Pick<LaneController<LaneConfig, LanePorts, { badBadges: number; badScans: number; ignoredInputs: number }>,
  "onMessage" | "onPeerHello" | "onLinkChange" | "presenceSample" | "badge" | "scan" | "start" | "tick" | "nextDeadline" | "stats"> & {
  button(name: "help", now: number): void;
};

/** What the shared wiring hands a role to build its controller and its own parts on. */
export interface LaneWiring {
  Digital: DigitalClass;
  Serial: SerialClass;
  clock: BoardClock;
  trace: Trace;
  /** The link and the display, as the controller's ports. */
  ports: LanePorts;
  /** The RFID reader's UART (the entry's printer may share its TX). */
  rfid: SerialIO;
  /** Re-arms the wake timer: every I/O callback ends with it. */
  reschedule(): void;
}

export interface LaneRoleParts<L extends WiredController> {
  controller: L;
  /** Runs once the link has started (the exit's keypad scan). */
  start?(): void;
  /** The role's own timed parts (the entry's printer), ticked before the controller. */
  nextDeadline?(): number;
  tick?(now: number): void;
  /** Said after the boot line's lane and boot count. */
  bootNote?: string;
  close(): void;
}

export interface LaneRoleSpec<C extends LaneConfig & { pins: LanePins }, L extends WiredController> {
  /** The manifest's name for the board, in the boot line and the display's error. */
  board: "exit-controller" | "entry-terminal";
  role: "exit" | "entry";
  config: C;
  /** Builds the role's controller on `wiring.ports` and opens its own parts. */
  attach(wiring: LaneWiring): LaneRoleParts<L>;
}

export interface WiredLane<L> {
  controller: L;
  link: LinkSession;
  close(): void;
}

/** Starts a lane controller board: the shared parts, the role's, then the link and the timer. */
export function startLane<C extends LaneConfig & { pins: LanePins }, L extends WiredController>(host: LaneHost, spec: LaneRoleSpec<C, L>): WiredLane<L> {
  const { device, clock } = host;
  const { config } = spec;
  const { Digital, Serial } = device.io;
  const trace = host.trace ?? (() => {});
  let wakeTimer: unknown;

  const gateway: SerialIO = new Serial({
    ...config.gatewaySerial, format: "buffer",
    onReadable() { guard(trace, "link", () => link.receiveBytes(bytesOf(this.read()) ?? new Uint8Array(0), clock.now())); reschedule(); },
  });
  const display: SerialIO = openDisplay(device, config, spec.board);
  const link: LinkSession = new LinkSession({
    self: { kind: "exit-controller", fw: config.fwVersion, boot: host.bootCount, lane: config.lane, role: spec.role },
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
  const rfid: SerialIO = new Serial({
    ...config.rfidSerial, format: "buffer",
    onReadable() { guard(trace, "rfid", () => { const bytes = bytesOf(this.read()); if (bytes) badges.push(bytes); }); reschedule(); },
  });
  const codes = new CodeScannerFramer((code) => controller.scan(code, clock.now()));
  const scanner: SerialIO | undefined = config.scannerSerial && new Serial({
    ...config.scannerSerial, format: "buffer",
    onReadable() { guard(trace, "scanner", () => { const bytes = bytesOf(this.read()); if (bytes) codes.push(bytes); }); reschedule(); },
  });

  const parts = spec.attach({
    Digital, Serial, clock, trace, rfid, reschedule,
    ports: {
      send: (type, fields) => { link.send(type, fields, clock.now()); },
      show: (screen) => showScreen(display, screen.lines, screen.qr),
    },
  });
  const controller: L = parts.controller;

  const active = (level: 0 | 1): 0 | 1 => (config.pins.presenceActiveLow ? (level ? 0 : 1) : level);
  const presence = new Digital({
    pin: config.pins.presence, mode: config.pins.presencePull === "up" ? Digital.InputPullUp : Digital.Input, edge: Digital.Rising | Digital.Falling,
    onReadable() { guard(trace, "presence", () => controller.presenceSample(active(this.read()), clock.now())); reschedule(); },
  });
  const help = new Digital({
    pin: config.pins.help, mode: Digital.InputPullUp, edge: Digital.Falling,
    onReadable() { guard(trace, "help", () => controller.button("help", clock.now())); reschedule(); },
  });

  function reschedule(): void {
    guard(trace, "reschedule", () => {
      if (wakeTimer !== undefined) clock.cancel(wakeTimer);
      const now = clock.now();
      const next = Math.min(link.nextDeadline(), controller.nextDeadline(), parts.nextDeadline?.() ?? Infinity);
      wakeTimer = clock.schedule(wake, Math.max(0, Math.min(next - now, 60000)));
    });
  }
  function wake(): void {
    wakeTimer = undefined;
    const now = clock.now();
    guard(trace, "tick", () => {
      link.tick(now);
      parts.tick?.(now);
      controller.tick(now);
    });
    reschedule();
  }

  const now = clock.now();
  controller.presenceSample(active(presence.read()), now);
  controller.start(now);
  link.start(now);
  parts.start?.();
  reschedule();
  trace(`${spec.board} ${config.fwVersion} lane ${config.lane} boot ${host.bootCount}${parts.bootNote ?? ""}\n`);

  return {
    controller, link,
    close() {
      clock.cancel(wakeTimer);
      parts.close();
      presence.close();
      help.close();
      scanner?.close();
      rfid.close();
      display.close();
      gateway.close();
    },
  };
}
