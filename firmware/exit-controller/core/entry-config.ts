/**
 * The entry role's tunables (manifest `config` with `role: "entry"`), checked at start-up like
 * the exit role's (./config.ts; the keys both share are read by ./lane-config.ts): a bad value
 * refuses to start with the exact key.
 *
 * The receipt printer only listens (its RX), the RFID reader and the code scanner only talk
 * (their TX): where UARTs are short (the RP2040 has two, the ESP32 two once its debug UART is
 * kept free) the printer shares the RFID reader's UART — board TX → printer RX, reader TX →
 * board RX, both at 9600 baud — written `"printerSerial": "rfidSerial"`. The printer's status
 * line is then not wired, so paper is not checked before printing there.
 */
import { configFields, type ConfigFields, type SerialPortConfig } from "../../common/io/config-fields";
import { parseLaneConfig, parseLanePins, type LaneConfig, type LanePins } from "./lane-config";

const fields: ConfigFields = configFields("entry-terminal");
const { num, pin, obj, serial } = fields;

export interface EntryPins extends LanePins {
  /** "Ticket" push-button, to ground. */
  ticketButton: number | string;
}

export interface EntryConfig extends LaneConfig {
  role: "entry";
  /** A ticket not printed within this is given up (PRINTED ok=0): the display QR stands in. */
  printTimeoutMs: number;
  /** How long the printer may take to answer its paper status (own UART only). */
  printerStatusTimeoutMs: number;
  pins: EntryPins;
  /** The printer's own UART (status line wired) … */
  printerSerial?: SerialPortConfig;
  /** … or the TX of the RFID reader's UART. Neither: tickets on the display only. */
  printerSharesRfidUart: boolean;
}

function printer(raw: Record<string, unknown>): Pick<EntryConfig, "printerSerial" | "printerSharesRfidUart"> {
  const v = raw.printerSerial;
  if (v === undefined) return { printerSharesRfidUart: false };
  if (v === "rfidSerial") return { printerSharesRfidUart: true };
  if (typeof v === "string") fields.fail("printerSerial", `expected a UART section or "rfidSerial" (share its TX), got ${JSON.stringify(v)}`);
  return { printerSerial: serial(v, "printerSerial"), printerSharesRfidUart: false };
}

export function parseEntryConfig(raw: Record<string, unknown>): EntryConfig {
  if (raw.role !== "entry") fields.fail("role", `expected "entry", got ${JSON.stringify(raw.role)}`);
  const pins = obj(raw.pins, "pins");
  return {
    role: "entry",
    ...parseLaneConfig(fields, raw, "entry-terminal"),
    printTimeoutMs: num(raw, "printTimeoutMs", 500, 60000, ""),
    printerStatusTimeoutMs: num(raw, "printerStatusTimeoutMs", 50, 5000, ""),
    pins: {
      ...parseLanePins(fields, pins),
      ticketButton: pin(pins.ticketButton, "pins.ticketButton"),
    },
    ...printer(raw),
  };
}
