/**
 * PIN entry on the 3×4 keypad: digits fill a fixed buffer (at most 8), `*` clears, `#`
 * submits 4–8 digits, and an entry left alone for `timeoutMs` is wiped. The PIN only ever
 * leaves through `submit`; the display shows one `*` per digit.
 */
export const PIN_MIN = 4;
export const PIN_MAX = 8;

export type KeyResult =
  | { kind: "typing"; length: number }
  | { kind: "cleared" }
  | { kind: "too_short"; length: number }
  | { kind: "submit"; pin: string }
  | { kind: "ignored" };

export class PinEntry {
  private readonly digits = new Uint8Array(PIN_MAX);
  private length = 0;
  private lastKeyAt = 0;

  constructor(private readonly timeoutMs: number) {}

  get typed(): number { return this.length; }

  key(key: string, now: number): KeyResult {
    this.lastKeyAt = now;
    if (key === "*") {
      this.length = 0;
      return { kind: "cleared" };
    }
    if (key === "#") {
      if (this.length < PIN_MIN) return { kind: "too_short", length: this.length };
      let pin = "";
      for (let i = 0; i < this.length; i++) pin += String.fromCharCode(48 + this.digits[i]);
      this.length = 0;
      return { kind: "submit", pin };
    }
    if (key.length === 1 && key >= "0" && key <= "9") {
      if (this.length === PIN_MAX) return { kind: "ignored" };
      this.digits[this.length++] = key.charCodeAt(0) - 48;
      return { kind: "typing", length: this.length };
    }
    return { kind: "ignored" };
  }

  /** Wipes a stale entry; true if it did. */
  tick(now: number): boolean {
    if (this.length > 0 && now - this.lastKeyAt >= this.timeoutMs) {
      this.clear();
      return true;
    }
    return false;
  }

  nextDeadline(): number {
    return this.length > 0 ? this.lastKeyAt + this.timeoutMs : Infinity;
  }

  clear(): void {
    this.digits.fill(0);
    this.length = 0;
  }
}
