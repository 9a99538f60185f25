/**
 * ESC/POS for the entry terminal's thermal receipt printer on a UART (Epson TM-T20 class and
 * the many 58/80 mm printers that follow its command set).
 *
 * - `EscPosBuilder` encodes a receipt into one fixed buffer (bounded memory: a receipt that does
 *   not fit is refused whole, never printed half);
 * - `ReceiptPrinter` sends it in chunks the UART's output buffer can take — an ECMA-419 serial
 *   throws "would overflow (in write)" when it cannot, and on XS an exception out of a callback
 *   aborts the VM, so a refused chunk only waits for the next pump — and, where the printer's
 *   TX line is wired to the board, first asks its paper sensor (DLE EOT 4) so an empty roll is
 *   reported instead of "printed".
 * Commands: Epson ESC/POS Application Programming Guide (ESC @, ESC a, ESC E, GS !, ESC d, GS V,
 * GS ( k function 165/167/169/180/181 for QR code model 2, DLE EOT n real-time status).
 */
import { writeSerialBytes, type WritableSerial } from "../link/serial-write";

const ESC = 0x1b, GS = 0x1d, LF = 0x0a, DLE = 0x10, EOT = 0x04;

export type Align = "left" | "center" | "right";
export type QrErrorLevel = "L" | "M" | "Q" | "H";

/** Longest QR payload encoded (a ticket's `SPK1.<27 chars>` is 32): bounded, and small enough
 *  for a model-2 code at a size a phone reads off 58 mm paper. */
export const QR_MAX_DATA = 128;

export class EscPosBuilder {
  private readonly buffer: Uint8Array;
  private length = 0;
  /** Set once something did not fit: the receipt must not be printed. */
  overflow = false;

  constructor(capacity = 512) {
    this.buffer = new Uint8Array(capacity);
  }

  /** ESC @: back to the power-on settings (a previous job may have left bold or big type on). */
  init(): this { return this.put(ESC, 0x40); }

  /** ESC a n: 0 left, 1 centre, 2 right. */
  align(a: Align): this { return this.put(ESC, 0x61, a === "left" ? 0 : a === "center" ? 1 : 2); }

  /** ESC E n: emphasised on (1) or off (0). */
  bold(on: boolean): this { return this.put(ESC, 0x45, on ? 1 : 0); }

  /** GS ! n: character width and height multipliers, 1..8 each. */
  size(width: number, height: number): this {
    const w = clamp(width, 1, 8) - 1, h = clamp(height, 1, 8) - 1;
    return this.put(GS, 0x21, (w << 4) | h);
  }

  /** One line of text and LF. Printable ASCII only: anything else prints as "?" (no code page
   *  is selected, and a control byte in text would be taken as a command). */
  line(text: string): this {
    if (!this.room(text.length + 1)) return this;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      this.buffer[this.length++] = c >= 0x20 && c <= 0x7e ? c : 0x3f;
    }
    this.buffer[this.length++] = LF;
    return this;
  }

  /** QR code, model 2, `moduleSize` dots per module (1..16), error correction `level`:
   *  GS ( k  fn 165 (model), 167 (size), 169 (level), 180 (store), 181 (print). */
  qr(data: string, moduleSize = 6, level: QrErrorLevel = "M"): this {
    if (data.length === 0 || data.length > QR_MAX_DATA) { this.overflow = true; return this; }
    const levelByte = level === "L" ? 48 : level === "M" ? 49 : level === "Q" ? 50 : 51;
    this.put(GS, 0x28, 0x6b, 4, 0, 0x31, 0x41, 50, 0); // model 2
    this.put(GS, 0x28, 0x6b, 3, 0, 0x31, 0x43, clamp(moduleSize, 1, 16));
    this.put(GS, 0x28, 0x6b, 3, 0, 0x31, 0x45, levelByte);
    const n = data.length + 3; // pL pH count cn, fn and m with the data
    this.put(GS, 0x28, 0x6b, n & 0xff, n >> 8, 0x31, 0x50, 0x30);
    if (this.room(data.length)) for (let i = 0; i < data.length; i++) this.buffer[this.length++] = data.charCodeAt(i) & 0x7f;
    return this.put(GS, 0x28, 0x6b, 3, 0, 0x31, 0x51, 0x30);
  }

  /** ESC d n: print and feed n lines. */
  feed(lines: number): this { return this.put(ESC, 0x64, clamp(lines, 0, 255)); }

  /** GS V 66 n: feed to the cutter (+ n dots) and cut partially: the ticket stays hanging on a
   *  tab for the driver to tear off instead of falling on the ground. */
  partialCut(extraDots = 0): this { return this.put(GS, 0x56, 66, clamp(extraDots, 0, 255)); }

  /** The receipt so far (a view into the builder's buffer). */
  bytes(): Uint8Array { return this.buffer.subarray(0, this.length); }

  private room(n: number): boolean {
    if (this.overflow || this.length + n > this.buffer.length) { this.overflow = true; return false; }
    return true;
  }

  private put(...bytes: number[]): this {
    if (!this.room(bytes.length)) return this;
    for (let i = 0; i < bytes.length; i++) this.buffer[this.length++] = bytes[i];
    return this;
  }
}

function clamp(v: number, min: number, max: number): number {
  const n = Math.floor(v);
  return n < min ? min : n > max ? max : n;
}

/** DLE EOT 4: the paper roll sensor's status byte, answered at once even while printing. */
export const PAPER_STATUS_REQUEST = Object.freeze([DLE, EOT, 4]);

export type PaperStatus = "ok" | "paper_out" | "invalid";

/** A DLE EOT 4 answer: bits 1 and 4 always set, bit 0 and 7 clear; bits 5-6 = roll end. */
export function parsePaperStatus(byte: number): PaperStatus {
  if ((byte & 0x93) !== 0x12) return "invalid";
  return (byte & 0x60) !== 0 ? "paper_out" : "ok";
}

export type PrintFailure = "paper_out" | "offline" | "busy" | "too_long";
export type PrintOutcome = { ok: true } | { ok: false; why: PrintFailure };

export interface ReceiptPrinterOptions {
  /** True when the printer's TX reaches the board (its own UART): paper is checked first. */
  statusLine: boolean;
  /** How long the printer may take to answer DLE EOT 4. */
  statusTimeoutMs: number;
  /** The whole job (status + every byte written) must be done within this. */
  jobTimeoutMs: number;
  /** Bytes per write when the serial does not tell its room (ECMA-419 `writable`). */
  chunk?: number;
  /** Pause before a refused chunk is tried again. */
  retryMs?: number;
}

const IDLE = 0, QUERYING = 1, SENDING = 2;

/**
 * One receipt at a time, driven by time (`tick` at `nextDeadline`) and by the printer's bytes
 * (`receive`). `print` answers through `done` exactly once per accepted job.
 */
export class ReceiptPrinter {
  private phase = IDLE;
  private job: Uint8Array = new Uint8Array(0);
  private offset = 0;
  private startedAt = 0;
  private dueAt = Infinity;
  private done: ((outcome: PrintOutcome) => void) | undefined;
  private readonly chunk: number;
  private readonly retryMs: number;

  constructor(private readonly serial: WritableSerial, private readonly options: ReceiptPrinterOptions) {
    this.chunk = options.chunk ?? 64;
    this.retryMs = options.retryMs ?? 20;
  }

  get busy(): boolean { return this.phase !== IDLE; }

  /** Start a job (the bytes are copied). False, with `done` not called, while one is running. */
  print(job: Uint8Array, now: number, done: (outcome: PrintOutcome) => void): boolean {
    if (this.phase !== IDLE) return false;
    this.job = job.slice();
    this.offset = 0;
    this.startedAt = now;
    this.done = done;
    if (this.options.statusLine) {
      // Ready for the answer before asking: it may come back within the write.
      this.phase = QUERYING;
      this.dueAt = now + this.options.statusTimeoutMs;
      if (!writeSerialBytes(this.serial, new Uint8Array(PAPER_STATUS_REQUEST))) this.finish({ ok: false, why: "offline" });
      return true;
    }
    this.phase = SENDING;
    this.pump(now);
    return true;
  }

  /** Bytes from the printer's TX (its status answers). */
  receive(bytes: Uint8Array, now: number): void {
    if (this.phase !== QUERYING) return;
    for (let i = 0; i < bytes.length; i++) {
      const status = parsePaperStatus(bytes[i]);
      if (status === "invalid") continue;
      if (status === "paper_out") { this.finish({ ok: false, why: "paper_out" }); return; }
      this.phase = SENDING;
      this.pump(now);
      return;
    }
  }

  tick(now: number): void {
    if (this.phase === IDLE || now < this.dueAt) return;
    if (this.phase === QUERYING) { this.finish({ ok: false, why: "offline" }); return; }
    this.pump(now);
  }

  nextDeadline(): number { return this.phase === IDLE ? Infinity : this.dueAt; }

  /** Writes chunks until the serial refuses one or the job is out. */
  private pump(now: number): void {
    while (this.phase === SENDING && this.offset < this.job.length) {
      const room = (this.serial as { writable?: unknown }).writable;
      let n = Math.min(this.chunk, this.job.length - this.offset);
      if (typeof room === "number") n = Math.min(n, room);
      if (n <= 0 || !writeSerialBytes(this.serial, this.job.subarray(this.offset, this.offset + n))) {
        if (now - this.startedAt >= this.options.jobTimeoutMs) { this.finish({ ok: false, why: "offline" }); return; }
        this.dueAt = Math.min(now + this.retryMs, this.startedAt + this.options.jobTimeoutMs);
        return;
      }
      this.offset += n;
    }
    if (this.phase === SENDING) this.finish({ ok: true });
  }

  private finish(outcome: PrintOutcome): void {
    const done = this.done;
    this.phase = IDLE;
    this.dueAt = Infinity;
    this.done = undefined;
    this.job = new Uint8Array(0);
    try {
      done?.(outcome);
    } catch {
      // The caller's code: whatever it throws stops here, not in the VM.
    }
  }
}
