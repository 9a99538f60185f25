/**
 * The field-I/O channel of a board running in the Moddable Linux simulator (`mcconfig -p lin`):
 * what a rig's wires carry between the field and a real board — presence loop, help button,
 * keypad contacts, RFID reader, display, the FPGA's SPI bus — as ASCII lines on a second serial
 * device (a pty whose other end the HIL harness holds). The barrier plant and the FPGA safety
 * core stay on the harness's side: the board sees the core's registers, as over SPI.
 *
 * One line per message, LF-terminated, at most FIELD_MAX_LINE bytes:
 *
 *   harness → board
 *     IN <pin> <0|1>              a field input's electrical level (presence loop, help button)
 *     KEY <rowPin> <colPin> <0|1> a keypad contact closed (1) or open (0)
 *     RX <port> <hex bytes>       bytes arriving on a simulated UART (the RFID reader)
 *     REG <addr> <value>          the FPGA's register <addr> now reads <value> (decimal, u32)
 *     SYNC <n>                    the n-th W since BOOT is applied, the registers it changed sent
 *   board → harness
 *     BOOT <kind> <lane>          the board (re)started: the harness sends the field state again
 *     TX <port> <hex bytes>       bytes the board wrote on a simulated UART (the display)
 *     W <addr> <value>            an SPI register write (decimal, u32) — one bus cycle in the core
 *
 * SPI reads are served from the board's image of the registers, which the harness keeps up to
 * date (reads have no side effect in the core, docs/barrier-executor.md): the core as of a pty
 * round trip ago. One exception keeps the bus's semantics — on SPI a read after a write sees the
 * write's effect (the firmware checks that the core took a command by reading STATUS at once) —
 * so a read that follows writes waits (bounded) for the SYNC of the last of them.
 *
 * Shared by the board (firmware/common/io/lin-field.ts, on XS) and the harness (hil/xs): no Node
 * built-ins, no allocation beyond the message it returns.
 */

/** Longest line either side sends: a display frame (85 bytes + a QR text) as hex, and its header. */
export const FIELD_MAX_LINE = 512;
/** Bytes one RX / TX line carries at most. */
export const FIELD_MAX_BYTES = 240;

export type FieldMessage =
  | { kind: "IN"; pin: string; level: 0 | 1 }
  | { kind: "KEY"; row: string; col: string; closed: boolean }
  | { kind: "RX"; port: string; bytes: Uint8Array }
  | { kind: "REG"; addr: number; value: number }
  | { kind: "SYNC"; writes: number }
  | { kind: "BOOT"; board: string; lane: string }
  | { kind: "TX"; port: string; bytes: Uint8Array }
  | { kind: "W"; addr: number; value: number };

const NAME = /^[A-Za-z0-9_.-]{1,32}$/;
const U32 = /^[0-9]{1,10}$/;
const HEX = /^(?:[0-9A-Fa-f]{2}){1,240}$/;

function level(text: string | undefined): 0 | 1 | undefined {
  return text === "0" ? 0 : text === "1" ? 1 : undefined;
}

function u32(text: string | undefined, max: number): number | undefined {
  if (text === undefined || !U32.test(text)) return undefined;
  const v = Number(text);
  return v <= max ? v : undefined;
}

export function hexBytes(text: string): Uint8Array {
  const out = new Uint8Array(text.length >> 1);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.substring(i * 2, i * 2 + 2), 16);
  return out;
}

export function bytesHex(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i++) s += (bytes[i] < 16 ? "0" : "") + bytes[i].toString(16).toUpperCase();
  return s;
}

/** Parses one line (without its LF); undefined for anything malformed (the caller counts it). */
export function parseFieldLine(line: string): FieldMessage | undefined {
  if (line.length > FIELD_MAX_LINE) return undefined;
  const p = line.split(" ");
  const name = (i: number): string | undefined => (p[i] !== undefined && NAME.test(p[i]) ? p[i] : undefined);
  switch (p[0]) {
    case "IN": {
      const pin = name(1), l = level(p[2]);
      return p.length === 3 && pin !== undefined && l !== undefined ? { kind: "IN", pin, level: l } : undefined;
    }
    case "KEY": {
      const row = name(1), col = name(2), l = level(p[3]);
      return p.length === 4 && row !== undefined && col !== undefined && l !== undefined ? { kind: "KEY", row, col, closed: l === 1 } : undefined;
    }
    case "RX":
    case "TX": {
      const port = name(1);
      if (p.length !== 3 || port === undefined || !HEX.test(p[2])) return undefined;
      return { kind: p[0], port, bytes: hexBytes(p[2]) };
    }
    case "REG":
    case "W": {
      const addr = u32(p[1], 15), value = u32(p[2], 0xffffffff);
      return p.length === 3 && addr !== undefined && value !== undefined ? { kind: p[0], addr, value } : undefined;
    }
    case "SYNC": {
      const n = u32(p[1], 0xffffffff);
      return p.length === 2 && n !== undefined ? { kind: "SYNC", writes: n } : undefined;
    }
    case "BOOT": {
      const board = name(1), lane = name(2);
      return p.length === 3 && board !== undefined && lane !== undefined ? { kind: "BOOT", board, lane } : undefined;
    }
    default:
      return undefined;
  }
}

/** The line for a message (without its LF). RX / TX carry at most FIELD_MAX_BYTES: split longer writes. */
export function formatFieldLine(m: FieldMessage): string {
  switch (m.kind) {
    case "IN": return `IN ${m.pin} ${m.level}`;
    case "KEY": return `KEY ${m.row} ${m.col} ${m.closed ? 1 : 0}`;
    case "RX":
    case "TX": return `${m.kind} ${m.port} ${bytesHex(m.bytes)}`;
    case "REG":
    case "W": return `${m.kind} ${m.addr} ${m.value >>> 0}`;
    case "SYNC": return `SYNC ${m.writes >>> 0}`;
    case "BOOT": return `BOOT ${m.board} ${m.lane}`;
  }
}
