/**
 * Clocks for simulated boards. The virtual clock lets a test run minutes of lane time in
 * milliseconds: time moves only when the test advances it, and timers fire in order.
 * Implements the firmware's BoardClock.
 */
import type { BoardClock } from "../../firmware/common/io/board-host";

interface Pending { at: number; seq: number; callback: () => void; cancelled: boolean }

export class VirtualClock implements BoardClock {
  private time: number;
  private seq = 0;
  private timers: Pending[] = [];

  constructor(start = Date.UTC(2026, 10, 21, 8, 0, 0)) {
    this.time = start;
  }

  now(): number { return this.time; }

  schedule(callback: () => void, delayMs: number): unknown {
    const timer: Pending = { at: this.time + Math.max(0, delayMs), seq: this.seq++, callback, cancelled: false };
    this.timers.push(timer);
    return timer;
  }

  cancel(handle: unknown): void {
    if (handle) (handle as Pending).cancelled = true;
  }

  /** Move time forward by `ms`, firing every timer that falls due, in time order. */
  advance(ms: number): void {
    const end = this.time + ms;
    for (;;) {
      this.timers = this.timers.filter((t) => !t.cancelled);
      let next: Pending | undefined;
      for (const t of this.timers) if (t.at <= end && (!next || t.at < next.at || (t.at === next.at && t.seq < next.seq))) next = t;
      if (!next) break;
      this.time = Math.max(this.time, next.at);
      next.cancelled = true;
      next.callback();
    }
    this.time = end;
  }

  /** Timers still pending (for leak checks in tests). */
  get pendingTimers(): number {
    return this.timers.filter((t) => !t.cancelled).length;
  }
}

/** Wall-clock time for simulated boards run interactively or against real-time peers. */
export class RealClock implements BoardClock {
  now(): number { return Date.now(); }
  schedule(callback: () => void, delayMs: number): unknown {
    const t = setTimeout(callback, delayMs);
    t.unref?.();
    return t;
  }
  cancel(handle: unknown): void {
    if (handle) clearTimeout(handle as NodeJS.Timeout);
  }
}
