/**
 * Assembles LF-terminated lines from a byte stream in one fixed buffer (no growth: bounded
 * memory on the board). A line longer than the buffer is discarded up to its LF and counted.
 */
import { MAX_FRAME_LENGTH } from "./limits";

export class LineBuffer {
  private readonly buffer: Uint8Array;
  private length = 0;
  private discarding = false;
  overlong = 0;

  constructor(capacity: number = MAX_FRAME_LENGTH) {
    this.buffer = new Uint8Array(capacity);
  }

  /** Feed received bytes; `onLine` gets each complete line without its LF. */
  push(bytes: Uint8Array, onLine: (line: string) => void): void {
    for (let i = 0; i < bytes.length; i++) {
      const b = bytes[i];
      if (b === 10) {
        if (this.discarding) {
          this.discarding = false;
        } else if (this.length > 0) {
          let line = "";
          for (let j = 0; j < this.length; j++) line += String.fromCharCode(this.buffer[j]);
          this.length = 0;
          onLine(line);
        }
        continue;
      }
      if (this.discarding) continue;
      // The LF counts towards MAX_FRAME_LENGTH, so a line may hold capacity - 1 bytes.
      if (this.length >= this.buffer.length - 1) {
        this.discarding = true;
        this.length = 0;
        this.overlong++;
        continue;
      }
      this.buffer[this.length++] = b;
    }
  }
}

/** ASCII string → bytes, for transports that take bytes (ECMA-419 Serial.write). */
export function asciiBytes(text: string): Uint8Array {
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i) & 0xff;
  return out;
}
