/**
 * Nothing stuck (issue 16 refunds): a refund asked while the provider was out of reach stays
 * `requested` (refunds.ts), and repeating the request finishes it — but nobody may repeat it. The
 * sweeper does, periodically: every refund still `requested` after `olderThanMs` is driven again
 * with its own idempotency key (retryRequestedRefunds), so a refund the provider did make
 * meanwhile comes back as that refund, never a second one. One pass at a time; stop() waits for it.
 */
import type { RefundContext } from "./refunds";
import { retryRequestedRefunds } from "./refunds";

export class RefundSweeper {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(private readonly o: { ctx: RefundContext; periodMs: number; olderThanMs: number }) {}

  start(): void {
    this.timer ??= setInterval(() => void this.pass(), this.o.periodMs);
    this.timer.unref();
  }

  /** One sweep (also what the timer runs); a pass already under way is joined, not doubled. */
  pass(): Promise<void> {
    this.running ??= retryRequestedRefunds(this.o.ctx, this.o.olderThanMs)
      .then((done) => {
        if (done.length > 0) this.o.ctx.logger.info({ refunds: done.map((r) => [r.refundId, r.state]) }, "refunds: requested refunds driven again");
      })
      .catch((err: Error) => this.o.ctx.logger.warn({ err: err.message }, "refunds: sweep failed; the next one retries"))
      .finally(() => {
        this.running = undefined;
      });
    return this.running;
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }
}
