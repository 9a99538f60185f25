/**
 * Audit writes for the hot paths. "queued" (default): the row is inserted into audit_pending in
 * the business transaction — committed atomically with the state change it explains, so nothing
 * is lost, and without taking the chain-head lock that would serialise every exit — and a
 * background chainer moves queued rows into the hash chain in batches (cloud/db
 * chainPendingAudit). "inline": appendAudit in the transaction (one global lock per commit).
 * Exports and verification flush the queue first.
 */
import type { Logger } from "../../host/log";
import { WakeableLoop } from "../../host/wakeable-loop";
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
  private readonly loop: WakeableLoop;

  constructor(
    private readonly db: Database,
    logger: Logger,
    periodMs = 200,
  ) {
    this.loop = new WakeableLoop({ name: "audit chainer", logger, periodMs, wakeDelayMs: 20, pass: () => flushAudit(db) });
  }

  start(): void {
    this.loop.start();
  }

  /** Something was queued: chain soon (coalesced to one pass per period). */
  wake(): void {
    this.loop.wake();
  }

  /** Stops the loop, then chains what is still pending (a last pass). */
  async stop(): Promise<void> {
    await this.loop.stop();
    await flushAudit(this.db).catch(() => undefined);
  }
}
