/**
 * A board clock that runs `speed` times faster than the wall clock: the simulated boards'
 * firmware timers and the plant (boom travel, auto-close, debounce, "Merci" screens) move at
 * `speed`× while the gateway and the cloud, which have no virtual clock, stay on wall time.
 * The link's own timings are scaled back up in the boards' config (see `linkConfigFor`), so
 * heartbeats and link timeouts keep their wall-clock meaning towards the gateway.
 */
import type { BoardClock } from "../../firmware/common/io/board-host";

export class ScaledClock implements BoardClock {
  private readonly wall0 = Date.now();
  constructor(readonly speed: number, private readonly start = Date.now()) {
    if (!(speed >= 1 && speed <= 20)) throw new Error(`speed must be between 1 and 20, got ${speed}`);
  }
  now(): number { return this.start + (Date.now() - this.wall0) * this.speed; }
  /** Board time elapsed → wall ms. */
  toWall(ms: number): number { return ms / this.speed; }
  schedule(callback: () => void, delayMs: number): unknown {
    const t = setTimeout(callback, Math.max(0, delayMs) / this.speed);
    t.unref?.();
    return t;
  }
  cancel(handle: unknown): void {
    if (handle) clearTimeout(handle as NodeJS.Timeout);
  }
}

/** The link timings of a board on a scaled clock: the manifest's, times `speed` (wall-clock meaning unchanged). */
export function linkConfigFor(speed: number): Record<string, number> {
  const base = { heartbeatMs: 1000, linkTimeoutMs: 3500, retransmitMs: 150, maxBackoffMs: 2000 };
  return { ...Object.fromEntries(Object.entries(base).map(([k, v]) => [k, v * speed])), maxRetries: 6 };
}
