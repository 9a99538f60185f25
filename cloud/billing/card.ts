/**
 * The card a payment was made with (brand and last 4), as the provider reports it: the
 * PaymentIntent's Charge, `payment_method_details.card`. Asked by the receipt worker
 * (./receipt-worker.ts), after the payment's commit and off the pay path: for a batch, the
 * provider's recent charges are listed (one call per hundred charges, cardsOfPayments) and only
 * what they do not show is asked one payment at a time. Best effort: a provider that does not
 * answer leaves the receipt without the card line rather than holding it up.
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

/** A charge the list shows is at most this old before the payment's validation (the driver's confirm → the webhook). */
const LIST_WINDOW_S = 300;
/** Pages of a hundred charges read for a batch; what they do not show is asked payment by payment. */
const LIST_MAX_PAGES = 3;
/** Single lookups in flight at once. */
const LOOKUP_CONCURRENCY = 4;

type PaymentRefs = { paymentId: string; providerRef: string | null; providerPaymentIntent: string | null; validatedTs: Date | null };

const intentOf = (p: PaymentRefs): string | null => p.providerPaymentIntent ?? (p.providerRef?.startsWith("pi_") ? p.providerRef : null);

/**
 * The cards of a batch of paid payments, by payment id (null: none known). The account's charges
 * since the batch's oldest validation are listed newest first — a batch issued a moment after its
 * payments finds them on the first page, one call where a lookup per payment took one each — and
 * the payments not found there (a Checkout Session's, an old or long-retried one) are asked one
 * by one (cardOfPayment).
 */
export async function cardsOfPayments(stripe: Stripe, payments: readonly PaymentRefs[]): Promise<Map<string, CardSummary | null>> {
  const cards = new Map<string, CardSummary | null>();
  const wanted = new Map<string, string>(); // PaymentIntent → payment
  let oldest = Infinity; // the earliest validation among them (ms)
  for (const p of payments) {
    const pi = intentOf(p);
    if (!pi || !p.validatedTs) continue;
    wanted.set(pi, p.paymentId);
    oldest = Math.min(oldest, p.validatedTs.getTime());
  }
  if (wanted.size > 1) {
    // (For one payment its own lookup is the one call: the list would only add one.)
    const since = Math.floor(oldest / 1000) - LIST_WINDOW_S;
    try {
      let after: string | undefined;
      for (let page = 0; page < LIST_MAX_PAGES && cards.size < wanted.size; page++) {
        const list = await stripe.charges.list({ created: { gte: since }, limit: 100, ...(after ? { starting_after: after } : {}) }, CARD_LOOKUP);
        for (const ch of list.data) {
          const paymentId = typeof ch.payment_intent === "string" ? wanted.get(ch.payment_intent) : undefined;
          const card = ch.payment_method_details?.card;
          if (paymentId && ch.status === "succeeded" && card?.brand && card.last4) cards.set(paymentId, { brand: card.brand, last4: card.last4 });
        }
        if (!list.has_more || list.data.length === 0) break;
        after = list.data[list.data.length - 1].id;
      }
    } catch {
      // the list is a shortcut: the lookups below still ask for each payment
    }
  }
  const rest = payments.filter((p) => !cards.has(p.paymentId));
  for (let i = 0; i < rest.length; i += LOOKUP_CONCURRENCY) {
    const slice = rest.slice(i, i + LOOKUP_CONCURRENCY);
    (await Promise.all(slice.map((p) => cardOfPayment(stripe, p)))).forEach((c, j) => cards.set(slice[j].paymentId, c));
  }
  return cards;
}
