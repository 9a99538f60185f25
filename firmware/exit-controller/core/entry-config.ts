/**
 * The entry role's tunables (manifest `config` with `role: "entry"`), checked at start-up like
 * the exit role's (./config.ts): a bad value refuses to start with the exact key.
 *
 * The receipt printer only listens (its RX), the RFID reader and the code scanner only talk
 * (their TX): where UARTs are short (the RP2040 has two, the ESP32 two once its debug UART is
 * kept free) the printer shares the RFID reader's UART — board TX → printer RX, reader TX →
 * board RX, both at 9600 baud — written `"printerSerial": "rfidSerial"`. The printer's status
 * line is then not wired, so paper is not checked before printing there.
 */
import { configFields, type ConfigFields } from "../../common/io/config-fields";
import { display, pull, type I2CDeviceConfig, type LinkTimingConfig, type SerialPortConfig } from "./config";

const fields: ConfigFields = configFields("entry-terminal");
const { num, pin, obj, serial, linkTiming } = fields;

export interface EntryPins {
  presence: number | string;
  presenceActiveLow: boolean;
  presencePull: "up" | "external" | "none";
  help: number | string;
  /** "Ticket" push-button, to ground. */
  ticketButton: number | string;
}

export interface EntryConfig {
  role: "entry";
  lane: string;
  fwVersion: string;
  presenceDebounceMs: number;
  identifyTimeoutMs: number;
  authorisedTimeoutMs: number;
  doneDisplayMs: number;
  deniedDisplayMs: number;
  /** A ticket not printed within this is given up (PRINTED ok=0): the display QR stands in. */
  printTimeoutMs: number;
  /** How long the printer may take to answer its paper status (own UART only). */
  printerStatusTimeoutMs: number;
  link: LinkTimingConfig;
  pins: EntryPins;
  gatewaySerial: SerialPortConfig;
  rfidSerial: SerialPortConfig;
  /** The printer's own UART (status line wired) … */
  printerSerial?: SerialPortConfig;
  /** … or the TX of the RFID reader's UART. Neither: tickets on the display only. */
  printerSharesRfidUart: boolean;
  scannerSerial?: SerialPortConfig;
  displaySerial?: SerialPortConfig;
  displayI2c?: I2CDeviceConfig;
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
    lane: fields.lane(raw),
    fwVersion: typeof raw.fwVersion === "string" ? raw.fwVersion : "0.0.0",
    presenceDebounceMs: num(raw, "presenceDebounceMs", 10, 5000, ""),
    identifyTimeoutMs: num(raw, "identifyTimeoutMs", 1000, 3600000, ""),
    authorisedTimeoutMs: num(raw, "authorisedTimeoutMs", 1000, 600000, ""),
    doneDisplayMs: num(raw, "doneDisplayMs", 100, 60000, ""),
    deniedDisplayMs: num(raw, "deniedDisplayMs", 100, 60000, ""),
    printTimeoutMs: num(raw, "printTimeoutMs", 500, 60000, ""),
    printerStatusTimeoutMs: num(raw, "printerStatusTimeoutMs", 50, 5000, ""),
    link: linkTiming(obj(raw.link, "link")),
    pins: {
      presence: pin(pins.presence, "pins.presence"),
      presenceActiveLow: pins.presenceActiveLow === true,
      presencePull: pull(pins.presencePull),
      help: pin(pins.help, "pins.help"),
      ticketButton: pin(pins.ticketButton, "pins.ticketButton"),
    },
    gatewaySerial: serial(raw.gatewaySerial, "gatewaySerial"),
    rfidSerial: serial(raw.rfidSerial, "rfidSerial"),
    ...printer(raw),
    ...(raw.scannerSerial === undefined ? {} : { scannerSerial: serial(raw.scannerSerial, "scannerSerial") }),
    ...display(raw, "entry-terminal"),
  };
}
