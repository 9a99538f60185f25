/**
 * The exit controller's tunables. They come from the manifest's `config` block (read with
 * `mc/config` on XS, read from the same manifest file by the Node simulator): lane id, pins,
 * timeouts and debounce intervals are never constants in code.
 */
import { configFields, type ConfigFields, type LinkTimingConfig, type SerialPortConfig } from "../../common/io/config-fields";

export type { LinkTimingConfig, SerialPortConfig };

const fields: ConfigFields = configFields("exit-controller");
const { num, pin, obj, serial, linkTiming } = fields;

export interface ExitPins {
  /** Exit loop detector output. */
  presence: number | string;
  presenceActiveLow: boolean;
  /** "up": the MCU's internal pull-up; "external": a resistor on the board; "none": the
   *  detector drives the line both ways. An active-low input needs one (check-firmware). */
  presencePull: "up" | "external" | "none";
  /** Help / intercom button, to ground. */
  help: number | string;
  /** 3×4 keypad matrix: rows are driven, columns read with pull-ups. */
  keypadRows: (number | string)[];
  keypadCols: (number | string)[];
  /** "I lost my ticket" button, to ground (optional: lanes without tickets have none). */
  lostButton?: number | string;
}

/** The lane controller's two roles (one board class, one firmware): `role` in the config. */
export type LaneRole = "exit" | "entry";

export function laneRole(raw: Record<string, unknown>): LaneRole {
  const role = raw.role;
  if (role === undefined || role === "exit") return "exit";
  if (role === "entry") return "entry";
  return fields.fail("role", `expected "exit" or "entry", got ${JSON.stringify(role)}`);
}

/** A SerLCD on I2C (Qwiic): on the RP2040 and the ESP32 the spare UARTs are taken by the
 *  gateway link, the RFID reader and (ESP32) the debugger, so the display goes on I2C there. */
export interface I2CDeviceConfig {
  port?: number;
  data: number | string;
  clock: number | string;
  hz: number;
  address: number;
}

export interface ExitConfig {
  role: "exit";
  lane: string;
  fwVersion: string;
  presenceDebounceMs: number;
  identifyTimeoutMs: number;
  authorisedTimeoutMs: number;
  doneDisplayMs: number;
  deniedDisplayMs: number;
  pinEntryTimeoutMs: number;
  keypadScanMs: number;
  link: LinkTimingConfig;
  pins: ExitPins;
  gatewaySerial: SerialPortConfig;
  rfidSerial: SerialPortConfig;
  /** Exactly one of the two: the display's UART (lin simulator) or its I2C bus (boards). */
  displaySerial?: SerialPortConfig;
  displayI2c?: I2CDeviceConfig;
  /** QR / barcode scanner (tickets, merchant validations), when the lane has one. */
  scannerSerial?: SerialPortConfig;
}

function i2c(raw: unknown, where: string): I2CDeviceConfig {
  const o = obj(raw, where);
  return {
    ...(o.port === undefined ? {} : { port: num(o, "port", 0, 7, where + ".") }),
    data: pin(o.data, where + ".data"),
    clock: pin(o.clock, where + ".clock"),
    hz: num(o, "hz", 10000, 1000000, where + "."),
    address: num(o, "address", 0x08, 0x77, where + "."),
  };
}

export function pull(v: unknown): "up" | "external" | "none" {
  if (v === undefined) return "none";
  if (v === "up" || v === "external" || v === "none") return v;
  return fields.fail("pins.presencePull", `expected "up", "external" or "none", got ${JSON.stringify(v)}`);
}

/** Validate the raw manifest config at start-up: a board with a bad config refuses to run,
 *  with the exact key, instead of misbehaving on the lane. */
export function parseExitConfig(raw: Record<string, unknown>): ExitConfig {
  const lane = fields.lane(raw);
  const fwVersion = typeof raw.fwVersion === "string" ? raw.fwVersion : "0.0.0";
  const link = obj(raw.link, "link");
  const pins = obj(raw.pins, "pins");
  const rows = pins.keypadRows, cols = pins.keypadCols;
  if (!Array.isArray(rows) || rows.length !== 4) fields.fail("pins.keypadRows", "expected 4 pins");
  if (!Array.isArray(cols) || cols.length !== 3) fields.fail("pins.keypadCols", "expected 3 pins");
  return {
    role: "exit",
    lane,
    fwVersion,
    presenceDebounceMs: num(raw, "presenceDebounceMs", 10, 5000, ""),
    identifyTimeoutMs: num(raw, "identifyTimeoutMs", 1000, 3600000, ""),
    authorisedTimeoutMs: num(raw, "authorisedTimeoutMs", 1000, 600000, ""),
    doneDisplayMs: num(raw, "doneDisplayMs", 100, 60000, ""),
    deniedDisplayMs: num(raw, "deniedDisplayMs", 100, 60000, ""),
    pinEntryTimeoutMs: num(raw, "pinEntryTimeoutMs", 1000, 120000, ""),
    keypadScanMs: num(raw, "keypadScanMs", 5, 200, ""),
    link: linkTiming(link),
    pins: {
      presence: pin(pins.presence, "pins.presence"),
      presenceActiveLow: pins.presenceActiveLow === true,
      presencePull: pull(pins.presencePull),
      help: pin(pins.help, "pins.help"),
      keypadRows: rows.map((p, i) => pin(p, `pins.keypadRows[${i}]`)),
      keypadCols: cols.map((p, i) => pin(p, `pins.keypadCols[${i}]`)),
      ...(pins.lostButton === undefined ? {} : { lostButton: pin(pins.lostButton, "pins.lostButton") }),
    },
    gatewaySerial: serial(raw.gatewaySerial, "gatewaySerial"),
    rfidSerial: serial(raw.rfidSerial, "rfidSerial"),
    ...(raw.scannerSerial === undefined ? {} : { scannerSerial: serial(raw.scannerSerial, "scannerSerial") }),
    ...display(raw),
  };
}

/** The display's port: on a UART (simulators) or on I2C (boards). Shared by both roles. */
export function display(raw: Record<string, unknown>, board = "exit-controller"): Pick<ExitConfig, "displaySerial" | "displayI2c"> {
  if ((raw.displaySerial === undefined) === (raw.displayI2c === undefined)) {
    throw new Error(`${board} config: expected exactly one of displaySerial, displayI2c`);
  }
  return raw.displayI2c !== undefined ? { displayI2c: i2c(raw.displayI2c, "displayI2c") } : { displaySerial: serial(raw.displaySerial, "displaySerial") };
}
