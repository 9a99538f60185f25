/**
 * The exit controller's tunables. They come from the manifest's `config` block (read with
 * `mc/config` on XS, read from the same manifest file by the Node simulator): lane id, pins,
 * timeouts and debounce intervals are never constants in code.
 */
import { configFields, type ConfigFields, type LinkTimingConfig, type SerialPortConfig } from "../../common/io/config-fields";
import { parseLaneConfig, parseLanePins, type I2CDeviceConfig, type LaneConfig, type LanePins } from "./lane-config";

export type { I2CDeviceConfig, LinkTimingConfig, SerialPortConfig };

const fields: ConfigFields = configFields("exit-controller");
const { num, pin, obj } = fields;

export interface ExitPins extends LanePins {
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

export interface ExitConfig extends LaneConfig {
  role: "exit";
  pinEntryTimeoutMs: number;
  keypadScanMs: number;
  pins: ExitPins;
}

/** Validate the raw manifest config at start-up: a board with a bad config refuses to run,
 *  with the exact key, instead of misbehaving on the lane. */
export function parseExitConfig(raw: Record<string, unknown>): ExitConfig {
  const pins = obj(raw.pins, "pins");
  const rows = pins.keypadRows, cols = pins.keypadCols;
  if (!Array.isArray(rows) || rows.length !== 4) fields.fail("pins.keypadRows", "expected 4 pins");
  if (!Array.isArray(cols) || cols.length !== 3) fields.fail("pins.keypadCols", "expected 3 pins");
  return {
    role: "exit",
    ...parseLaneConfig(fields, raw, "exit-controller"),
    pinEntryTimeoutMs: num(raw, "pinEntryTimeoutMs", 1000, 120000, ""),
    keypadScanMs: num(raw, "keypadScanMs", 5, 200, ""),
    pins: {
      ...parseLanePins(fields, pins),
      keypadRows: rows.map((p, i) => pin(p, `pins.keypadRows[${i}]`)),
      keypadCols: cols.map((p, i) => pin(p, `pins.keypadCols[${i}]`)),
      ...(pins.lostButton === undefined ? {} : { lostButton: pin(pins.lostButton, "pins.lostButton") }),
    },
  };
}
