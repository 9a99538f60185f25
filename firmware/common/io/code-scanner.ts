/**
 * Line framer for a QR / barcode scanner on a UART (Newland, Honeywell, Zebra and the cheap
 * GM65-class modules all send each code as ASCII followed by a configurable CR, LF or CR LF).
 * One fixed buffer of SCAN_MAX_LENGTH bytes: a line longer than that, or one holding a byte that
 * is not printable ASCII (noise, a binary barcode, a scanner in the wrong mode), is dropped whole
 * at its terminator and counted — never cut short and passed on as another code.
 */
export const SCAN_MAX_LENGTH = 64;

/** What a code may be (and the SCAN frame carries): 1..SCAN_MAX_LENGTH printable ASCII characters. */
export function isScanCode(text: string): boolean {
  if (text.length === 0 || text.length > SCAN_MAX_LENGTH) return false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

export class CodeScannerFramer {
  /** Lines dropped: too long, or with a byte outside 0x20..0x7E. */
  dropped = 0;
  private readonly buffer = new Uint8Array(SCAN_MAX_LENGTH);
  private length = 0;
  private bad = false;

  constructor(private readonly onCode: (code: string) => void) {}

  push(bytes: Uint8Array): void {
    for (let i = 0; i < bytes.length; i++) {
      const b = bytes[i];
      if (b === 0x0d || b === 0x0a) {
        this.endLine();
        continue;
      }
      if (this.bad) continue;
      if (b < 0x20 || b > 0x7e || this.length === SCAN_MAX_LENGTH) {
        this.bad = true;
        continue;
      }
      this.buffer[this.length++] = b;
    }
  }

  private endLine(): void {
    if (this.bad) {
      this.dropped++;
    } else if (this.length > 0) {
      // The CR of CR LF ends the line; the LF then ends an empty one, which is no code.
      let code = "";
      for (let j = 0; j < this.length; j++) code += String.fromCharCode(this.buffer[j]);
      this.length = 0;
      this.onCode(code);
    }
    this.length = 0;
    this.bad = false;
  }
}
