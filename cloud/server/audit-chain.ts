/**
 * Audit writes for the hot paths. "queued" (default): the row is inserted into audit_pending in
 * the business transaction — committed atomically with the state change it explains, so nothing
 * is lost, and without taking the chain-head lock that would serialise every exit — and a
 * background chainer moves queued rows into the hash chain in batches (cloud/db
 * chainPendingAudit). "inline": appendAudit in the transaction (one global lock per commit).
 * Exports and verification flush the queue first.
 */
import type { Logger } from "../../host/log";
import { appendAudit, chainPendingAudit, queueAudit, type AuditInput, type Database, type Tx } from "../db/index";

export type AuditMode = "queued" | "inline";

export function writeAudit(mode: AuditMode, tx: Tx, input: AuditInput): Promise<unknown> {
  return mode === "inline" ? appendAudit(tx, input) : queueAudit(tx, input);
}

/** Chains every queued row now (loops while batches are full). */
export async function flushAudit(db: Database, batch = 1000): Promise<number> {
  let total = 0;
  for (;;) {
    const { chained } = await db.tx((tx) => chainPendingAudit(tx, { limit: batch }));
    total += chained;
    if (chained < batch) return total;
  }
}

export class AuditChainer {
  private running = false;
  private timer: NodeJS.Timeout | null = null;
  private wakeUp: (() => void) | null = null;
  private loop: Promise<void> | null = null;

  constructor(
    private readonly db: Database,
    private readonly logger: Logger,
    private readonly periodMs = 200,
  ) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  /** Something was queued: chain soon (coalesced to one pass per period). */
  wake(): void {
    if (this.timer || !this.wakeUp) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      const w = this.wakeUp;
      this.wakeUp = null;
      w?.();
    }, 20);
  }

  async stop(): Promise<void> {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const w = this.wakeUp;
    this.wakeUp = null;
    w?.();
    await this.loop;
  }

  private async run(): Promise<void> {
    while (this.running) {
      try {
        await flushAudit(this.db);
      } catch (err) {
        if (this.running) this.logger.warn({ err: (err as Error).message }, "audit chainer: pass failed (will retry)");
      }
      if (!this.running) break;
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          this.wakeUp = null;
          resolve();
        }, this.periodMs);
        this.wakeUp = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
    await flushAudit(this.db).catch(() => undefined);
  }
}
