/**
 * The receipt worker (issue 16: the pay-at-exit path must not regress). Issuing a receipt used to
 * happen inside the payment's webhook transaction: every payment of a site queued on the site's
 * counter row until commit, and the card was asked of the provider before the transaction. Now
 * the payment only queues its receipt (./receipt-queue.ts) and this worker, woken after commits
 * plus an idle poll (like the outbox relay and the audit chainer), issues it: for each claimed
 * payment, the card is asked of the provider (one short try; no answer → no card line), then ONE
 * transaction numbers and inserts the receipt and removes the queue row. Nothing is lost: a crash
 * between the payment's commit and the receipt leaves the row, issued by the next pass or the
 * next start.
 */
import type Stripe from "stripe";
import type { Logger } from "../../host/log";
import { getSessions, type Database, type SessionRow } from "../db/index";
import { cardsOfPayments } from "./card";
import { issueReceipts } from "./issue";
import type { LegalDetails } from "./legal";
import { WakeableLoop } from "../../host/wakeable-loop";
import { claimReceipts, isReceiptQueued, listPaymentsById, noteReceiptFailure, releaseClaims, takeQueued } from "./receipt-queue";

/** How long a wake waits for more commits before the pass (ms). */
const WAKE_DELAY_MS = 500;

export interface ReceiptWorkerOptions {
  db: Database;
  stripe: Stripe;
  logger: Logger;
  /** Idle poll (ms): owed receipts left by another instance or a crash are found without a wake. */
  periodMs?: number;
  /** How long a claim is an instance's own before another may take it over (s). */
  leaseS?: number;
  batch?: number;
  legal?: LegalDetails;
}

export class ReceiptWorker {
  private readonly loop: WakeableLoop;
  private lastError: string | null = null;
  private issued = 0;

  constructor(private readonly o: ReceiptWorkerOptions) {
    this.loop = new WakeableLoop({ name: "receipt worker", logger: o.logger, periodMs: o.periodMs ?? 1000, wakeDelayMs: WAKE_DELAY_MS, pass: (more) => this.drain(more) });
  }

  get status(): { running: boolean; issued: number; lastError: string | null } {
    return { running: this.loop.isRunning, issued: this.issued, lastError: this.lastError };
  }

  start(): void {
    this.loop.start();
  }

  /**
   * A transaction just committed (perhaps a payment): look soon. Coalesced over WAKE_DELAY_MS so
   * that under load a pass takes a batch rather than one receipt per commit (fewer transactions
   * beside the pay path); the success page waiting for its receipt reloads every few seconds.
   */
  wake(): void {
    this.loop.wake();
  }

  async stop(): Promise<void> {
    await this.loop.stop();
  }

  /**
   * Issues every owed receipt this instance can claim now; returns how many it issued. The
   * background loop passes `more` (still running?) so that stop() waits for one batch at most,
   * not for a whole backlog: the claims it leaves are released for the next start or instance.
   */
  async drain(more: () => boolean = () => true): Promise<number> {
    const batch = this.o.batch ?? 100;
    let total = 0;
    for (;;) {
      const ids = await claimReceipts(this.o.db.sql, batch, this.o.leaseS ?? 30);
      if (ids.length > 0 && !more()) await releaseClaims(this.o.db.sql, ids); // stopping: the next start (or instance) takes them at once
      else if (ids.length > 0) total += await this.issueBatch(ids);
      if (ids.length < batch || !more()) return total;
    }
  }

  /**
   * A claimed batch: the cards asked of the provider (./card.ts cardsOfPayments: no transaction
   * open while it answers), then ONE transaction issues it (issueClaimed). Should that transaction
   * fail, each receipt is tried alone, so that one bad payment does not hold up the others.
   */
  private async issueBatch(ids: string[]): Promise<number> {
    try {
      return await this.issueClaimed(ids);
    } catch (err) {
      this.o.logger.info({ n: ids.length, err: (err as Error).message }, "receipt worker: a batch failed; issuing its receipts one by one");
      let n = 0;
      for (const id of ids) if (await this.issueOwed(id)) n += 1;
      return n;
    }
  }

  /**
   * The payment's receipt now, if it is still owed (false: it was not, or issuing failed and stays
   * queued, its error noted). A refund asks it first, so that its credit note names the receipt it
   * credits: a receipt already issued costs it one read, not a call to the provider.
   */
  async issueOwed(paymentId: string): Promise<boolean> {
    try {
      if (!(await isReceiptQueued(this.o.db.sql, paymentId))) return false;
      return (await this.issueClaimed([paymentId])) === 1;
    } catch (err) {
      const message = (err as Error).message;
      this.lastError = message;
      this.o.logger.warn({ paymentId, err: message }, "receipt worker: issuing a receipt failed (kept for a later pass)");
      await noteReceiptFailure(this.o.db.sql, paymentId, message).catch(() => undefined);
      return false;
    }
  }

  /**
   * Issues the receipts of these queued payments: their cards first (no transaction open while the
   * provider answers), then ONE transaction takes them off the queue (DELETE … RETURNING locks the
   * rows: what another instance already issued is simply not returned) and issues theirs — the
   * counter lock is only ever contended by receipt workers. A rollback puts them back in the queue.
   */
  private async issueClaimed(ids: string[]): Promise<number> {
    const payments = await listPaymentsById(this.o.db.sql, ids);
    const cards = await cardsOfPayments(this.o.stripe, payments);
    const issued = await this.o.db.tx(async (tx) => {
      const owed = new Set(await takeQueued(tx, ids));
      const due = payments.filter((p) => owed.has(p.paymentId));
      const sessions = await getSessions(tx, due.map((p) => p.sessionId));
      const legal = this.o.legal ? { legal: this.o.legal } : {};
      await issueReceipts(tx, due.map((payment) => ({ payment, session: sessions.get(payment.sessionId) as SessionRow, card: cards.get(payment.paymentId) ?? null, ...legal })));
      return due.length;
    });
    this.issued += issued;
    return issued;
  }
}
