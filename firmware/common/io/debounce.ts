/**
 * Debounces a raw digital input: a new level counts only once it has held for `stableMs`.
 * Pure: samples and ticks carry the time, so it runs the same on a board timer and on a
 * virtual clock.
 */
export class Debouncer {
  private stable: 0 | 1;
  private pending: 0 | 1;
  private changedAt = 0;

  constructor(private readonly stableMs: number, initial: 0 | 1 = 0) {
    this.stable = initial;
    this.pending = initial;
  }

  get level(): 0 | 1 { return this.stable; }

  /** Record a raw sample. */
  sample(level: 0 | 1, now: number): void {
    if (level !== this.pending) {
      this.pending = level;
      this.changedAt = now;
    }
  }

  /** Returns the new stable level when it just changed, otherwise undefined. */
  tick(now: number): 0 | 1 | undefined {
    if (this.pending !== this.stable && now - this.changedAt >= this.stableMs) {
      this.stable = this.pending;
      return this.stable;
    }
    return undefined;
  }

  /** When tick() may next report a change; Infinity when nothing is pending. */
  nextDeadline(): number {
    return this.pending !== this.stable ? this.changedAt + this.stableMs : Infinity;
  }
}
