/**
 * 20×4 character display on a UART (SparkFun SerLCD command set): 0x7C 0x2D clears and homes,
 * then 80 characters fill the four rows. A pay-station QR screen on the same UART takes
 * ESC 'Q' <url> LF (and ESC 'Q' LF to clear it).
 */
import type { SerialIO } from "./board-host";

export function encodeScreen(lines: readonly string[], qr: string | undefined): Uint8Array {
  const out = new Uint8Array(2 + 80 + 3 + (qr ? qr.length : 0));
  let n = 0;
  out[n++] = 0x7c;
  out[n++] = 0x2d;
  for (let row = 0; row < 4; row++) {
    const text = lines[row] ?? "";
    for (let col = 0; col < 20; col++) {
      const c = col < text.length ? text.charCodeAt(col) : 0x20;
      out[n++] = c >= 0x20 && c <= 0x7e ? c : 0x3f;
    }
  }
  out[n++] = 0x1b;
  out[n++] = 0x51;
  if (qr) for (let i = 0; i < qr.length; i++) out[n++] = qr.charCodeAt(i) & 0x7f;
  out[n++] = 0x0a;
  return out.subarray(0, n);
}

export function showScreen(serial: SerialIO, lines: readonly string[], qr: string | undefined): void {
  serial.write(encodeScreen(lines, qr));
}
