/**
 * The harness's end of a board's field-I/O channel (firmware/common/io/field-protocol.ts) when the
 * board runs on XS in the Moddable Linux simulator: what a rig's I/O emulator and wiring are to a
 * real board.
 *
 * - ExitFieldHost: the presence loop and help button levels, keypad contacts closed and opened at
 *   the keypad scan's pace, RFID frames on the reader's UART, and the display read back from the
 *   bytes the firmware writes to its UART.
 * - BarrierFieldHost: the FPGA. The cycle-accurate safety-core model with the barrier plant
 *   (sim/plant/barrier-core.ts) runs here on the wall clock; the board's SPI writes arrive as `W`
 *   lines and are applied at once, each answered by the registers it changed and a `SYNC` (the
 *   board's next read waits for it, as a read after a write on SPI sees the write), and every
 *   register the board may read is sent again whenever it changes (checked every
 *   REGISTER_PUSH_MS). The FPGA is its own chip: a board reset does not reset it.
 *
 * A BOOT line (the board started) gets the whole field state again.
 */
import { FIELD_MAX_BYTES, FIELD_MAX_LINE, formatFieldLine, parseFieldLine, type FieldMessage } from "../../firmware/common/io/field-protocol";
import { KEYPAD_LAYOUT } from "../../firmware/common/io/keypad-matrix";
import { REG } from "../../firmware/barrier-executor/fpga/regmap";
import { SimulatedSafetyCore } from "../../sim/plant/barrier-core";
import { decodeDisplayBytes, type DisplayContent } from "../../sim/boards/exit-controller-sim";
import { rdm6300Frame } from "../../sim/boards/rdm6300-reader";
import type { ByteStream } from "../../host/link/byte-stream";
import { LineSplitter } from "../../host/link/stream-link";

const REGISTER_PUSH_MS = 2;
/** Registers the board reads (CTRL reads as 0; HB_REMAIN counts down every cycle and the firmware
 *  never reads it: pushing it would flood the channel). */
const READABLE = Object.values(REG).filter((a) => a !== REG.CTRL && a !== REG.HB_REMAIN);

/** Lines in and out over a ByteStream (split as the links split theirs), the malformed ones counted. */
class FieldLines {
  badLines = 0;
  constructor(private readonly transport: ByteStream, onMessage: (m: FieldMessage) => void) {
    const splitter = new LineSplitter(FIELD_MAX_LINE, (line) => {
      const m = parseFieldLine(line);
      if (m) onMessage(m); else this.badLines++;
    }, () => this.badLines++);
    transport.setReceiver((bytes) => splitter.push(bytes));
  }
  send(m: FieldMessage): void {
    this.transport.write(new Uint8Array(Buffer.from(`${formatFieldLine(m)}\n`, "latin1")));
  }
}

export interface ExitFieldPins {
  presence: number | string;
  presenceActiveLow: boolean;
  help: number | string;
  keypadRows: (number | string)[];
  keypadCols: (number | string)[];
}

export class ExitFieldHost {
  display: DisplayContent = { lines: ["", "", "", ""] };
  readonly screens: DisplayContent[] = [];
  /** BOOT lines heard: the board's starts since the harness opened the channel. */
  boots = 0;
  private readonly lines: FieldLines;
  private present = false;
  private displayBytes: number[] = [];

  constructor(transport: ByteStream, private readonly pins: ExitFieldPins, private readonly keypadScanMs: number) {
    this.lines = new FieldLines(transport, (m) => this.onMessage(m));
  }

  get badLines(): number { return this.lines.badLines; }

  setPresence(present: boolean): void {
    this.present = present;
    this.sendPresence();
  }

  pressHelp(): void {
    this.lines.send({ kind: "IN", pin: String(this.pins.help), level: 0 });
    this.lines.send({ kind: "IN", pin: String(this.pins.help), level: 1 });
  }

  /** A 125 kHz badge in front of the reader: an RDM6300 frame with its XOR checksum. */
  presentBadge(uid10hex: string): void {
    this.lines.send({ kind: "RX", port: "rfid", bytes: rdm6300Frame(uid10hex) });
  }


  /** Each key closed, then opened, long enough for the board's keypad scan (keypadScanMs) to see it. */
  async typeKeys(keys: string, wait: (ms: number) => Promise<void>): Promise<void> {
    for (const key of keys) {
      const k = KEYPAD_LAYOUT.indexOf(key);
      if (k < 0) throw new Error(`typeKeys: no key "${key}" on the keypad`);
      const contact = { kind: "KEY" as const, row: String(this.pins.keypadRows[Math.floor(k / 3)]), col: String(this.pins.keypadCols[k % 3]) };
      this.lines.send({ ...contact, closed: true });
      await wait(this.keypadScanMs * 4);
      this.lines.send({ ...contact, closed: false });
      await wait(this.keypadScanMs * 4);
    }
  }

  private sendPresence(): void {
    this.lines.send({ kind: "IN", pin: String(this.pins.presence), level: this.present !== this.pins.presenceActiveLow ? 1 : 0 });
  }

  private onMessage(m: FieldMessage): void {
    if (m.kind === "BOOT") {
      this.boots++;
      this.sendPresence();
      this.lines.send({ kind: "IN", pin: String(this.pins.help), level: 1 });
    } else if (m.kind === "TX" && m.port === "display") {
      // One screen is one write (split into TX lines of FIELD_MAX_BYTES): a clear command starts it.
      if (m.bytes[0] === 0x7c && m.bytes[1] === 0x2d) this.displayBytes = [];
      this.displayBytes.push(...m.bytes);
      if (m.bytes.length === FIELD_MAX_BYTES) return;
      const content = decodeDisplayBytes(new Uint8Array(this.displayBytes));
      if (!content) return;
      this.display = content;
      this.screens.push(content);
      if (this.screens.length > 200) this.screens.shift();
    }
  }
}

export class BarrierFieldHost {
  readonly core: SimulatedSafetyCore;
  boots = 0;
  private readonly lines: FieldLines;
  private readonly sent = new Map<number, number>();
  /** W lines applied since the board's last BOOT (each answered by SYNC with this count). */
  private writes = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(transport: ByteStream, private readonly now: () => number = Date.now) {
    this.core = new SimulatedSafetyCore({ startMs: now() });
    this.lines = new FieldLines(transport, (m) => this.onMessage(m));
    this.timer = setInterval(() => this.push(false), REGISTER_PUSH_MS);
    this.timer.unref();
  }

  get badLines(): number { return this.lines.badLines; }

  /** The core and the plant caught up to now (what an observer of the lane sees). */
  settle(): SimulatedSafetyCore {
    this.core.catchUp(this.now());
    return this.core;
  }

  close(): void { clearInterval(this.timer); }

  private onMessage(m: FieldMessage): void {
    if (m.kind === "W") {
      this.settle().write(m.addr, m.value);
      this.push(false);
      this.writes = (this.writes + 1) >>> 0;
      this.lines.send({ kind: "SYNC", writes: this.writes });
    } else if (m.kind === "BOOT") {
      this.boots++;
      this.writes = 0;
      this.push(true);
    }
  }

  /** Sends each readable register that changed since it was last sent (all of them with `all`). */
  private push(all: boolean): void {
    const core = this.settle();
    for (const addr of READABLE) {
      const value = core.read(addr) >>> 0;
      if (!all && this.sent.get(addr) === value) continue;
      this.sent.set(addr, value);
      this.lines.send({ kind: "REG", addr, value });
    }
  }
}
