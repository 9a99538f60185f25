/**
 * A background pass that runs again when woken or after an idle period — the shape of every
 * worker that drains a table after commits (the audit chainer, the receipt worker): one pass at a
 * time; `wake()` after a commit is coalesced over `wakeDelayMs` so that under load one pass takes
 * a batch rather than one row per commit; `periodMs` finds what another instance or a crash left.
 * A failed pass is logged and retried on the next round; `stop()` waits for the pass under way,
 * which is told through `more()` that it should not start another batch.
 */
import type { Logger } from "./log";

export interface WakeableLoopOptions {
  /** For the log line of a failed pass. */
  name: string;
  logger: Logger;
  /** One pass; `more()` turns false once stop() was called. */
  pass(more: () => boolean): Promise<unknown>;
  /** Idle poll between passes (ms). */
  periodMs: number;
  /** How long a wake waits for more commits before the pass (ms). */
  wakeDelayMs: number;
}

export class WakeableLoop {
  private running = false;
  private timer: NodeJS.Timeout | null = null;
  private wakeUp: (() => void) | null = null;
  private loop: Promise<void> | null = null;

  constructor(private readonly o: WakeableLoopOptions) {}

  get isRunning(): boolean {
    return this.running;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  /** Something was committed: pass soon (coalesced; nothing while a pass is under way — the next idle wait ends at once). */
  wake(): void {
    if (this.timer || !this.wakeUp) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.fire();
    }, this.o.wakeDelayMs);
  }

  async stop(): Promise<void> {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.fire();
    await this.loop;
  }

  private fire(): void {
    const w = this.wakeUp;
    this.wakeUp = null;
    w?.();
  }

  private async run(): Promise<void> {
    while (this.running) {
      try {
        await this.o.pass(() => this.running);
      } catch (err) {
        if (this.running) this.o.logger.warn({ err: (err as Error).message }, `${this.o.name}: pass failed (will retry)`);
      }
      if (!this.running) break;
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          this.wakeUp = null;
          resolve();
        }, this.o.periodMs);
        this.wakeUp = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
  }
}
