/**
 * Debounces a raw digital input: a new level counts only once it has held for `stableMs`.
 * Pure: samples and ticks carry the time, so it runs the same on a board timer and on a
 * virtual clock.
 *
 * Built without an initial level, the input is unknown until its first sample has held for
 * `stableMs`, and that first settled level is reported by tick() whatever it is: a board that
 * reboots with a vehicle on the loop must not say "absent" before it has looked.
 */
export class Debouncer {
  private stable: 0 | 1;
  private pending: 0 | 1;
  private changedAt = 0;
  private settled: boolean;
  private sampled = false;

  constructor(private readonly stableMs: number, initial?: 0 | 1) {
    this.stable = initial ?? 0;
    this.pending = this.stable;
    this.settled = initial !== undefined;
  }

  /** The stable level (0 while still unknown: see `known`). */
  get level(): 0 | 1 { return this.stable; }

  /** False until the first sample has held for `stableMs` (when built without an initial level). */
  get known(): boolean { return this.settled; }

  /** Record a raw sample. */
  sample(level: 0 | 1, now: number): void {
    if (!this.sampled) {
      this.sampled = true;
      this.pending = level;
      this.changedAt = now;
    } else if (level !== this.pending) {
      this.pending = level;
      this.changedAt = now;
    }
  }

  /** Returns the new stable level when it just changed (or first settled), otherwise undefined. */
  tick(now: number): 0 | 1 | undefined {
    if (!this.settled) {
      if (!this.sampled || now - this.changedAt < this.stableMs) return undefined;
      this.settled = true;
      this.stable = this.pending;
      return this.stable;
    }
    if (this.pending !== this.stable && now - this.changedAt >= this.stableMs) {
      this.stable = this.pending;
      return this.stable;
    }
    return undefined;
  }

  /** When tick() may next report a change; Infinity when nothing is pending. */
  nextDeadline(): number {
    if (!this.settled) return this.sampled ? this.changedAt + this.stableMs : Infinity;
    return this.pending !== this.stable ? this.changedAt + this.stableMs : Infinity;
  }
}
