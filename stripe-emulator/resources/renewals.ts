/**
 * Subscription renewals on the emulator clock (Stripe's Test Clocks, simplified to one clock
 * for the whole emulator): `advanceClock` moves time forward and runs, oldest first, everything
 * that fell due meanwhile.
 *
 * Policy (Stripe lets each account choose; this is the emulator's, documented in
 * docs/stripe-emulator.md):
 * - at the end of a period an `active` subscription with cancel_at_period_end is canceled
 *   (customer.subscription.deleted); otherwise the next period starts and its invoice is charged
 *   on the default card: paid → still active (invoice.paid, customer.subscription.updated with
 *   the period); failed → `past_due` (invoice.payment_failed, customer.subscription.updated).
 * - a past_due subscription's invoice is retried every RETRY_EVERY_S; paid → `active` again;
 *   after MAX_ATTEMPTS failed attempts the subscription is canceled and the invoice voided.
 * - no new period is billed while the subscription is past_due.
 */
import type Stripe from "stripe";
import { clone } from "../ids";
import { PAGE_CONTEXT, type EmulatorState, type SubscriptionRecord } from "../state";
import { chargeInvoice, createSubscriptionInvoice } from "./invoices";
import { cancelSubscription, currentPeriod, emitUpdated, periodEndAfter, setPeriod } from "./subscriptions";

export const RETRY_EVERY_S = 3 * 86_400;
export const MAX_ATTEMPTS = 4;

type Due = { at: number; rec: SubscriptionRecord; kind: "period_end" | "retry" };

function nextDue(s: EmulatorState): Due | undefined {
  let best: Due | undefined;
  for (const rec of s.subscriptions.values()) {
    let d: Due | undefined;
    if (rec.sub.status === "active") d = { at: currentPeriod(rec.sub).end, rec, kind: "period_end" };
    else if (rec.sub.status === "past_due" && rec.retryInvoice) {
      const inv = s.invoices.peek(rec.retryInvoice);
      if (inv?.next_payment_attempt) d = { at: inv.next_payment_attempt, rec, kind: "retry" };
    }
    if (d && (!best || d.at < best.at)) best = d;
  }
  return best;
}

function renew(s: EmulatorState, rec: SubscriptionRecord, at: number): void {
  const sub = rec.sub;
  if (sub.cancel_at_period_end) {
    cancelSubscription(s, rec, "cancellation_requested", PAGE_CONTEXT);
    return;
  }
  const before = clone(sub.items);
  const start = currentPeriod(sub).end;
  setPeriod(sub, start, periodEndAfter(sub, start));
  const inv = createSubscriptionInvoice(s, sub, "subscription_cycle", currentPeriod(sub), PAGE_CONTEXT);
  sub.latest_invoice = inv.id as string;
  const previous: Record<string, unknown> = { items: before, latest_invoice: sub.latest_invoice };
  if (!chargeInvoice(s, inv, PAGE_CONTEXT)) failed(s, rec, inv, at, previous);
  else emitUpdated(s, rec, previous, PAGE_CONTEXT);
}

function failed(s: EmulatorState, rec: SubscriptionRecord, inv: Stripe.Invoice, at: number, previous: Record<string, unknown>): void {
  const give_up = inv.attempt_count >= MAX_ATTEMPTS;
  inv.next_payment_attempt = give_up ? null : at + RETRY_EVERY_S;
  s.invoices.set(inv.id as string, inv);
  s.emit("invoice.payment_failed", inv, rec.sub.id, PAGE_CONTEXT);
  rec.retryInvoice = inv.id as string;
  if (give_up) {
    cancelSubscription(s, rec, "payment_failed", PAGE_CONTEXT);
    return;
  }
  if (rec.sub.status !== "past_due") {
    previous.status = rec.sub.status;
    rec.sub.status = "past_due";
  }
  emitUpdated(s, rec, previous, PAGE_CONTEXT);
}

function retry(s: EmulatorState, rec: SubscriptionRecord, at: number): void {
  const inv = s.invoices.get(rec.retryInvoice as string) as Stripe.Invoice;
  if (chargeInvoice(s, inv, PAGE_CONTEXT)) {
    rec.retryInvoice = null;
    rec.sub.status = "active";
    emitUpdated(s, rec, { status: "past_due" }, PAGE_CONTEXT);
    return;
  }
  // still past_due: only the invoice changes (no customer.subscription.updated without a change)
  const give_up = inv.attempt_count >= MAX_ATTEMPTS;
  inv.next_payment_attempt = give_up ? null : at + RETRY_EVERY_S;
  s.invoices.set(inv.id as string, inv);
  s.emit("invoice.payment_failed", inv, rec.sub.id, PAGE_CONTEXT);
  if (give_up) cancelSubscription(s, rec, "payment_failed", PAGE_CONTEXT);
}

/** Runs every renewal and retry due at the emulator's current time, oldest first. */
export function runDueRenewals(s: EmulatorState): number {
  let n = 0;
  for (let due = nextDue(s); due && due.at <= s.seconds(); due = nextDue(s)) {
    if (due.kind === "period_end") renew(s, due.rec, due.at);
    else retry(s, due.rec, due.at);
    if (++n > 10_000) throw new Error("runDueRenewals: runaway billing loop");
  }
  return n;
}

/** Moves the emulator clock forward by `seconds` (> 0) and runs what fell due. */
export function advanceClock(s: EmulatorState, seconds: number): { now: number; ran: number } {
  if (!Number.isInteger(seconds) || seconds <= 0) throw new RangeError("advanceClock: seconds must be a positive integer");
  s.clockOffsetMs += seconds * 1000;
  return { now: s.seconds(), ran: runDueRenewals(s) };
}
