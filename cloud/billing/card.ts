/**
 * The card a payment was made with (brand and last 4), as the provider reports it: the
 * PaymentIntent's latest Charge, `payment_method_details.card`. Asked by the receipt worker
 * (./receipt-worker.ts), after the payment's commit and off the pay path. Best effort: a provider
 * that does not answer leaves the receipt without the card line rather than holding it up.
 */
import type Stripe from "stripe";
import type { CardSummary } from "./issue";

/** A short, single try: the payment (and the barrier) must not wait on a slow provider for a receipt line. */
const CARD_LOOKUP = { timeout: 2_000, maxNetworkRetries: 0 } as const;

export async function cardOfPaymentIntent(stripe: Stripe, paymentIntent: string | Stripe.PaymentIntent | null | undefined): Promise<CardSummary | null> {
  if (!paymentIntent) return null;
  try {
    let pi = typeof paymentIntent === "string" ? undefined : paymentIntent;
    if (!pi || typeof pi.latest_charge !== "object" || pi.latest_charge === null) pi = await stripe.paymentIntents.retrieve(typeof paymentIntent === "string" ? paymentIntent : paymentIntent.id, { expand: ["latest_charge"] }, CARD_LOOKUP);
    const charge = pi.latest_charge as Stripe.Charge | null;
    const card = charge?.payment_method_details?.card;
    return card?.brand && card.last4 ? { brand: card.brand, last4: card.last4 } : null;
  } catch {
    return null;
  }
}

/** The card of a paid payment: its PaymentIntent (`pi_` ref or the one linked to a Checkout Session), else the Checkout Session's. */
export async function cardOfPayment(stripe: Stripe, p: { providerRef: string | null; providerPaymentIntent: string | null }): Promise<CardSummary | null> {
  if (p.providerPaymentIntent) return cardOfPaymentIntent(stripe, p.providerPaymentIntent);
  if (!p.providerRef) return null;
  if (p.providerRef.startsWith("pi_")) return cardOfPaymentIntent(stripe, p.providerRef);
  if (!p.providerRef.startsWith("cs_")) return null;
  try {
    const cs = await stripe.checkout.sessions.retrieve(p.providerRef, {}, CARD_LOOKUP);
    return cardOfPaymentIntent(stripe, cs.payment_intent);
  } catch {
    return null;
  }
}
