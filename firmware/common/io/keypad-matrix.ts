/**
 * Scans a 3×4 matrix keypad: each row is driven low in turn and the columns (inputs with
 * pull-ups) are read; a key counts as pressed after two identical scans, and is reported once
 * on its press edge. State is one 12-bit mask: no allocation while scanning.
 */
import type { DigitalClass, DigitalIO } from "./board-host";

export const KEYPAD_LAYOUT = "123456789*0#";

export class KeypadMatrix {
  private readonly rows: DigitalIO[] = [];
  private readonly cols: DigitalIO[] = [];
  private previousScan = 0;
  private stableMask = 0;

  constructor(Digital: DigitalClass, rowPins: readonly (number | string)[], colPins: readonly (number | string)[], private readonly onKey: (key: string) => void) {
    for (const pin of rowPins) {
      const row = new Digital({ pin, mode: Digital.Output });
      row.write(1);
      this.rows.push(row);
    }
    for (const pin of colPins) this.cols.push(new Digital({ pin, mode: Digital.InputPullUp }));
  }

  scan(): void {
    let mask = 0;
    for (let r = 0; r < this.rows.length; r++) {
      this.rows[r].write(0);
      for (let c = 0; c < this.cols.length; c++) {
        if (this.cols[c].read() === 0) mask |= 1 << (r * 3 + c);
      }
      this.rows[r].write(1);
    }
    if (mask === this.previousScan) {
      const pressed = mask & ~this.stableMask;
      this.stableMask = mask;
      for (let k = 0; k < 12; k++) if (pressed & (1 << k)) this.onKey(KEYPAD_LAYOUT[k]);
    }
    this.previousScan = mask;
  }

  close(): void {
    for (const io of this.rows) io.close();
    for (const io of this.cols) io.close();
  }
}
