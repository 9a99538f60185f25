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

/** Cancels every hold whose authorisation has lapsed; returns how many. */
export function sweepExpiredHolds(s: EmulatorState): number {
  const now = s.seconds();
  const due: string[] = [];
  for (const id of s.paymentIntents.keys()) {
    const pi = s.paymentIntents.peek(id)?.pi;
    const at = pi ? holdExpiresAt(s, pi) : null;
    if (at !== null && now >= at) due.push(id);
  }
  for (const id of due) cancel(s, id, "automatic", PAGE_CONTEXT);
  return due.length;
}
