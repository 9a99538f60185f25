/**
 * The manifest `config` keys both lane controller roles read alike (exit: ./config.ts, entry:
 * ./entry-config.ts): lane, firmware version, loop and state timeouts, link timings, the loop and
 * help pins, the gateway, RFID, scanner and display ports. Each role passes its own
 * `configFields`, so an error names the board the manifest is for.
 */
import type { ConfigFields, LinkTimingConfig, SerialPortConfig } from "../../common/io/config-fields";

/** A SerLCD on I2C (Qwiic): on the RP2040 and the ESP32 the spare UARTs are taken by the
 *  gateway link, the RFID reader and (ESP32) the debugger, so the display goes on I2C there. */
export interface I2CDeviceConfig {
  port?: number;
  data: number | string;
  clock: number | string;
  hz: number;
  address: number;
}

/** The tunables the shared state machine reads (./lane-controller.ts). */
export interface LaneTimings {
  lane: string;
  presenceDebounceMs: number;
  identifyTimeoutMs: number;
  authorisedTimeoutMs: number;
  doneDisplayMs: number;
  deniedDisplayMs: number;
}

export interface LanePins {
  /** Loop detector output. */
  presence: number | string;
  presenceActiveLow: boolean;
  /** "up": the MCU's internal pull-up; "external": a resistor on the board; "none": the
   *  detector drives the line both ways. An active-low input needs one (check-firmware). */
  presencePull: "up" | "external" | "none";
  /** Help / intercom button, to ground. */
  help: number | string;
}

export interface LaneConfig extends LaneTimings {
  fwVersion: string;
  link: LinkTimingConfig;
  gatewaySerial: SerialPortConfig;
  rfidSerial: SerialPortConfig;
  /** QR / barcode scanner, when the lane has one. */
  scannerSerial?: SerialPortConfig;
  /** Exactly one of the two: the display's UART (lin simulator) or its I2C bus (boards). */
  displaySerial?: SerialPortConfig;
  displayI2c?: I2CDeviceConfig;
}

/** The keys of `LaneConfig`, checked: a bad value refuses to start with the exact key. */
export function parseLaneConfig(fields: ConfigFields, raw: Record<string, unknown>, board: string): LaneConfig {
  const { num, obj, serial } = fields;
  return {
    lane: fields.lane(raw),
    fwVersion: typeof raw.fwVersion === "string" ? raw.fwVersion : "0.0.0",
    presenceDebounceMs: num(raw, "presenceDebounceMs", 10, 5000, ""),
    identifyTimeoutMs: num(raw, "identifyTimeoutMs", 1000, 3600000, ""),
    authorisedTimeoutMs: num(raw, "authorisedTimeoutMs", 1000, 600000, ""),
    doneDisplayMs: num(raw, "doneDisplayMs", 100, 60000, ""),
    deniedDisplayMs: num(raw, "deniedDisplayMs", 100, 60000, ""),
    link: fields.linkTiming(obj(raw.link, "link")),
    gatewaySerial: serial(raw.gatewaySerial, "gatewaySerial"),
    rfidSerial: serial(raw.rfidSerial, "rfidSerial"),
    ...(raw.scannerSerial === undefined ? {} : { scannerSerial: serial(raw.scannerSerial, "scannerSerial") }),
    ...display(fields, raw, board),
  };
}

/** The loop and help pins of the `pins` section. */
export function parseLanePins(fields: ConfigFields, pins: Record<string, unknown>): LanePins {
  return {
    presence: fields.pin(pins.presence, "pins.presence"),
    presenceActiveLow: pins.presenceActiveLow === true,
    presencePull: pull(fields, pins.presencePull),
    help: fields.pin(pins.help, "pins.help"),
  };
}

function pull(fields: ConfigFields, v: unknown): "up" | "external" | "none" {
  if (v === undefined) return "none";
  if (v === "up" || v === "external" || v === "none") return v;
  return fields.fail("pins.presencePull", `expected "up", "external" or "none", got ${JSON.stringify(v)}`);
}

/** The display's port: on a UART (simulators) or on I2C (boards). */
function display(fields: ConfigFields, raw: Record<string, unknown>, board: string): Pick<LaneConfig, "displaySerial" | "displayI2c"> {
  if ((raw.displaySerial === undefined) === (raw.displayI2c === undefined)) {
    throw new Error(`${board} config: expected exactly one of displaySerial, displayI2c`);
  }
  return raw.displayI2c !== undefined ? { displayI2c: i2c(fields, raw.displayI2c, "displayI2c") } : { displaySerial: fields.serial(raw.displaySerial, "displaySerial") };
}

function i2c(fields: ConfigFields, raw: unknown, where: string): I2CDeviceConfig {
  const { num, pin } = fields;
  const o = fields.obj(raw, where);
  return {
    ...(o.port === undefined ? {} : { port: num(o, "port", 0, 7, where + ".") }),
    data: pin(o.data, where + ".data"),
    clock: pin(o.clock, where + ".clock"),
    hz: num(o, "hz", 10000, 1000000, where + "."),
    address: num(o, "address", 0x08, 0x77, where + "."),
  };
}
