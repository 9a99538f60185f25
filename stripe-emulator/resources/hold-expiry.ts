/**
 * A hold's end: Stripe cancels an uncaptured card authorisation after about 7 days
 * (https://docs.stripe.com/payments/place-a-hold-on-a-payment-method): the PaymentIntent goes
 * `requires_capture → canceled` with `cancellation_reason: "automatic"` and
 * `payment_intent.canceled` is sent. The emulator does it lazily, by its own clock: before every
 * API request and whenever a test advances the clock (server.ts), so "7 days later" is a test
 * knob, not a wait.
 */
import type Stripe from "stripe";
import { PAGE_CONTEXT, type EmulatorState } from "../state";
import { cancel } from "./payment-intents";

/** How long an uncaptured card authorisation lives (Stripe: 7 days for online card payments). */
export const HOLD_LIFETIME_S = 7 * 24 * 3600;

/** When the authorisation of an intent in requires_capture lapses (its charge's time + 7 days). */
export function holdExpiresAt(s: EmulatorState, pi: Stripe.PaymentIntent): number | null {
  if (pi.status !== "requires_capture" || typeof pi.latest_charge !== "string") return null;
  const charge = s.charges.peek(pi.latest_charge);
  return charge ? charge.created + HOLD_LIFETIME_S : null;
}

/** The emulator second each state was last swept at. */
const lastSweep = new WeakMap<EmulatorState, number>();

/**
 * Cancels every hold whose authorisation has lapsed; returns how many. At most once per second of
 * the emulator's clock: the sweep reads every PaymentIntent, and ran before every API request (at
 * a hundred requests a second, most of the emulator's time). Nothing can lapse between two sweeps
 * in the same second: an authorisation made since lapses 7 days later, and advancing the clock
 * changes the second.
 */
export function sweepExpiredHolds(s: EmulatorState): number {
  const now = s.seconds();
  if (lastSweep.get(s) === now) return 0;
  lastSweep.set(s, now);
  const due: string[] = [];
  for (const id of s.paymentIntents.keys()) {
    const pi = s.paymentIntents.peek(id)?.pi;
    const at = pi ? holdExpiresAt(s, pi) : null;
    if (at !== null && now >= at) due.push(id);
  }
  for (const id of due) cancel(s, id, "automatic", PAGE_CONTEXT);
  return due.length;
}
