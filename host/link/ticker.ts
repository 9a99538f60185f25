/**
 * Runs a LinkSession's clock on Node: one timer, always set for the session's next deadline
 * (heartbeat, retransmission, link timeout), re-armed after every event.
 */
import type { LinkSession } from "../../firmware/common/link/session";

export class LinkTicker {
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(private readonly session: LinkSession, private readonly now: () => number) {}

  /** Re-arm for the session's next deadline (capped at a minute). */
  schedule(): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    const delay = Math.min(Math.max(0, this.session.nextDeadline() - this.now()), 60_000);
    this.timer = setTimeout(() => {
      this.session.tick(this.now());
      this.schedule();
    }, delay);
    this.timer.unref?.();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }
}
