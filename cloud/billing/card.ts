/**
 * The card a payment was made with (brand and last 4), as the provider reports it: the
 * PaymentIntent's latest Charge, `payment_method_details.card`. Asked server-side before the
 * transaction that marks the payment paid, so the receipt issued in that transaction carries
 * it. Best effort: a provider that does not answer leaves the receipt without the card line
 * rather than holding up the payment (and the barrier).
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

/** The card behind a success event (payment_intent.succeeded, checkout.session.completed / async_payment_succeeded); null for any other event. */
export async function cardOfEvent(stripe: Stripe, event: Stripe.Event): Promise<CardSummary | null> {
  switch (event.type) {
    case "payment_intent.succeeded":
      return cardOfPaymentIntent(stripe, event.data.object.id);
    case "checkout.session.completed":
    case "checkout.session.async_payment_succeeded":
      return event.data.object.payment_status === "paid" ? cardOfPaymentIntent(stripe, event.data.object.payment_intent) : null;
    default:
      return null;
  }
}
