/**
 * Byte-stream framer for RDM6300-class 125 kHz readers on a UART: STX (0x02), 12 ASCII hex
 * characters, ETX (0x03). Fixed 12-byte buffer; noise between frames is skipped.
 */
export class Rdm6300Framer {
  private readonly body = new Uint8Array(12);
  private length = -1;

  constructor(private readonly onFrame: (body: string) => void) {}

  push(bytes: Uint8Array): void {
    for (let i = 0; i < bytes.length; i++) {
      const b = bytes[i];
      if (b === 0x02) { this.length = 0; continue; }
      if (this.length < 0) continue;
      if (b === 0x03) {
        if (this.length === 12) {
          let text = "";
          for (let j = 0; j < 12; j++) text += String.fromCharCode(this.body[j]);
          this.onFrame(text);
        }
        this.length = -1;
        continue;
      }
      if (this.length === 12) { this.length = -1; continue; }
      this.body[this.length++] = b;
    }
  }
}
