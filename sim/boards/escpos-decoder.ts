/**
 * The simulated receipt printer's side of its UART: decodes the ESC/POS bytes the entry
 * terminal's firmware writes (firmware/common/io/escpos.ts) back into receipts — text lines, the
 * QR code's data — one receipt per cut, and answers the real-time paper status request (DLE
 * EOT 4) like a TM-T20 class printer. Any byte sequence it does not know is recorded in `errors`,
 * so a test sees a malformed command instead of a ticket that "printed".
 */

export interface PrintedTicket {
  /** The ticket id from the QR code `SPK1.<id>` ("" if the QR says something else). */
  ticketId: string;
  /** The short code printed big ("1234 5678" read back as "12345678"; "" if none). */
  code: string;
  /** The QR code's data as stored by GS ( k fn 180. */
  qr: string;
  lines: string[];
}

const ESC = 0x1b, GS = 0x1d, DLE = 0x10, LF = 0x0a;

export class EscPosDecoder {
  readonly printed: PrintedTicket[] = [];
  readonly errors: string[] = [];
  /** Status requests answered (DLE EOT n). */
  statusRequests = 0;
  paperOut = false;
  /** A printer switched off answers nothing and prints nothing. */
  offline = false;
  private pending: number[] = [];
  private lines: string[] = [];
  private line = "";
  private qr = "";

  /** `reply` sends bytes back on the printer's TX (to the board's RX). */
  constructor(private readonly reply: (bytes: Uint8Array) => void = () => {}, private readonly onTicket: (t: PrintedTicket) => void = () => {}) {}

  write(bytes: Uint8Array): void {
    if (this.offline) return;
    for (const b of bytes) this.pending.push(b);
    this.decode();
  }

  private decode(): void {
    const p = this.pending;
    let at = 0;
    for (;;) {
      if (at >= p.length) break;
      const b = p[at];
      const need = this.commandLength(p, at);
      if (need === undefined) break; // wait for the rest of the command
      if (need < 0) { this.errors.push(`unknown command at byte 0x${b.toString(16)} 0x${(p[at + 1] ?? 0).toString(16)}`); at += 1; continue; }
      this.execute(p.slice(at, at + need));
      at += need;
    }
    this.pending = p.slice(at);
  }

  /** Bytes of the command at `at`: undefined if incomplete, -1 if unknown. */
  private commandLength(p: number[], at: number): number | undefined {
    const b = p[at];
    if (b === LF || (b >= 0x20 && b <= 0x7e)) return 1;
    if (at + 1 >= p.length) return undefined;
    const c = p[at + 1];
    if (b === ESC) return c === 0x40 ? 2 : c === 0x61 || c === 0x45 || c === 0x64 ? 3 : -1;
    if (b === DLE) return c === 0x04 ? 3 : -1;
    if (b !== GS) return -1;
    if (c === 0x21) return 3;
    if (c === 0x56) {
      if (at + 2 >= p.length) return undefined;
      const m = p[at + 2];
      return m === 0 || m === 1 || m === 48 || m === 49 ? 3 : m === 65 || m === 66 ? 4 : -1;
    }
    if (c === 0x28) {
      if (at + 4 >= p.length) return undefined;
      if (p[at + 2] !== 0x6b) return -1;
      return 5 + p[at + 3] + (p[at + 4] << 8);
    }
    return -1;
  }

  private execute(cmd: number[]): void {
    const b = cmd[0];
    if (b === LF) { this.lines.push(this.line); this.line = ""; return; }
    if (cmd.length === 1) { this.line += String.fromCharCode(b); return; }
    if (b === DLE) {
      this.statusRequests++;
      if (cmd[2] === 4) this.reply(new Uint8Array([this.paperOut ? 0x72 : 0x12]));
      else this.reply(new Uint8Array([0x12]));
      return;
    }
    if (b === GS && cmd[1] === 0x56) { this.cut(); return; }
    if (b === GS && cmd[1] === 0x28) {
      const cn = cmd[5], fn = cmd[6];
      if (cn !== 0x31) { this.errors.push(`GS ( k: cn ${cn} is not QR code (49)`); return; }
      if (fn === 0x41 && cmd[7] !== 50) this.errors.push(`GS ( k fn 165: model ${cmd[7]}, not model 2 (50)`);
      if (fn === 0x50) this.qr = String.fromCharCode(...cmd.slice(8));
    }
  }

  private cut(): void {
    if (this.paperOut) { this.lines = []; this.line = ""; this.qr = ""; return; }
    if (this.line) this.lines.push(this.line);
    const lines = this.lines.filter((l) => l.length > 0);
    const grouped = lines.find((l) => /^\d{4} \d{4}$/.test(l));
    const ticket: PrintedTicket = {
      ticketId: this.qr.startsWith("SPK1.") ? this.qr.slice(5) : "",
      code: grouped ? grouped.replace(" ", "") : "",
      qr: this.qr,
      lines,
    };
    this.printed.push(ticket);
    this.lines = [];
    this.line = "";
    this.qr = "";
    this.onTicket(ticket);
  }
}
