/**
 * The receipts still owed (table billing_receipt_queue, migration 12). A payment that takes money
 * queues its receipt in its own transaction — one insert of a row keyed by the payment, which
 * locks nothing shared — and the receipt worker (./receipt-worker.ts) issues it after the commit.
 * Numbering stays in the issuing transaction (./documents.ts), so receipts stay gapless, but the
 * site's counter lock is no longer held by the webhook that confirms a payment.
 */
import type { PaymentRow, Q, Tx } from "../db/index";
import { receiptOfPayment } from "./documents";

/** In the payment's transaction: its receipt is owed (once: a replay queues nothing more). */
export async function queueReceipt(tx: Tx, paymentId: string): Promise<void> {
  await tx`INSERT INTO billing_receipt_queue (payment_id) VALUES (${paymentId}) ON CONFLICT (payment_id) DO NOTHING`;
}

/**
 * Claims up to `limit` owed receipts for `leaseS` seconds (oldest first). SKIP LOCKED and the
 * lease let several cloud instances share the queue without issuing twice (the issuing
 * transaction re-locks the row and finds it gone if another instance finished first); a claim
 * left by a crashed instance is taken over once its lease has run out.
 */
export async function claimReceipts(q: Q, limit: number, leaseS: number): Promise<string[]> {
  const rows = await q<{ paymentId: string }[]>`
    UPDATE billing_receipt_queue SET claimed_until = now() + make_interval(secs => ${leaseS}), attempts = attempts + 1
    WHERE payment_id IN (
      SELECT payment_id FROM billing_receipt_queue
      WHERE claimed_until IS NULL OR claimed_until < now()
      ORDER BY queued_at LIMIT ${limit} FOR UPDATE SKIP LOCKED)
    RETURNING payment_id`;
  return rows.map((r) => r.paymentId);
}

/** Gives claims back (a stopping worker): another pass or instance may take them at once. */
export async function releaseClaims(q: Q, paymentIds: string[]): Promise<void> {
  await q`UPDATE billing_receipt_queue SET claimed_until = NULL WHERE payment_id IN ${q(paymentIds)}`;
}

/** In the issuing transaction: removes (and so locks) the batch's rows; returns those still owed. */
export async function takeQueued(tx: Tx, paymentIds: string[]): Promise<string[]> {
  const rows = await tx<{ paymentId: string }[]>`DELETE FROM billing_receipt_queue WHERE payment_id IN ${tx(paymentIds)} RETURNING payment_id`;
  return rows.map((r) => r.paymentId);
}

/** The claimed payments, in one round trip, in the order claimed. */
export async function listPaymentsById(q: Q, paymentIds: string[]): Promise<PaymentRow[]> {
  const rows = await q<PaymentRow[]>`SELECT * FROM payments WHERE payment_id IN ${q(paymentIds)}`;
  const byId = new Map(rows.map((r) => [r.paymentId, r]));
  return paymentIds.flatMap((id) => byId.get(id) ?? []);
}

/** A failed issue: kept for a later pass (after its lease), with the error for operators. */
export async function noteReceiptFailure(q: Q, paymentId: string, error: string): Promise<void> {
  await q`UPDATE billing_receipt_queue SET last_error = ${error.slice(0, 500)} WHERE payment_id = ${paymentId}`;
}

/** Whether the payment's receipt is still owed (the success page's "being prepared"). */
export async function isReceiptQueued(q: Q, paymentId: string): Promise<boolean> {
  const rows = await q`SELECT 1 FROM billing_receipt_queue WHERE payment_id = ${paymentId}`;
  return rows.length > 0;
}

/**
 * A payment's receipt as a page shows it: issued, or still owed (the page then reloads). The queue
 * is read BEFORE the receipt: the worker removes the queue row and inserts the receipt in one
 * commit, so "not queued" read first means a receipt read after sees it. Read the other way round,
 * a commit falling between the two reads answered "no receipt, none owed" and the page stopped
 * reloading without ever showing it.
 */
export async function receiptStateOf(q: Q, paymentId: string): Promise<{ receipt: Awaited<ReturnType<typeof receiptOfPayment>>; pending: boolean }> {
  const queued = await isReceiptQueued(q, paymentId);
  const receipt = await receiptOfPayment(q, paymentId);
  return { receipt, pending: !receipt && queued };
}

export async function receiptQueueLength(q: Q): Promise<number> {
  const [row] = await q<{ n: number }[]>`SELECT count(*)::int AS n FROM billing_receipt_queue`;
  return row.n;
}
