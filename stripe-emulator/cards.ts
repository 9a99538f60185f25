/**
 * Stripe's documented test cards (https://docs.stripe.com/testing) and the magic test
 * PaymentMethod ids, with the outcome each one produces when a PaymentIntent is confirmed.
 * A Luhn-valid number that is not in this table is declined the way Stripe test mode declines a
 * real card (`card_declined` / `test_mode_live_card`).
 */

export type CardOutcome =
  | { kind: "succeed" }
  | { kind: "decline"; code: string; declineCode: string; message: string }
  /**
   * 3-D Secure required: on-session the PaymentIntent goes to requires_action. Off-session it is
   * declined `authentication_required` unless the card was set up for future use (a SetupIntent
   * or setup_future_usage) — except when `always`, which asks on every transaction (Stripe's 3184).
   */
  | { kind: "authenticate"; always?: boolean };

export interface TestCard {
  number: string;
  brand: "visa" | "mastercard" | "amex";
  funding: "credit" | "debit";
  country: string;
  outcome: CardOutcome;
  /** A short description for the emulator's pages and docs. */
  label: string;
}

const DECLINED = "Your card was declined.";

const decline = (code: string, declineCode: string, message: string): CardOutcome => ({ kind: "decline", code, declineCode, message });

export const TEST_CARDS: readonly TestCard[] = [
  { number: "4242424242424242", brand: "visa", funding: "credit", country: "US", outcome: { kind: "succeed" }, label: "Visa — succeeds" },
  { number: "5555555555554444", brand: "mastercard", funding: "credit", country: "US", outcome: { kind: "succeed" }, label: "Mastercard — succeeds" },
  { number: "4000056655665556", brand: "visa", funding: "debit", country: "US", outcome: { kind: "succeed" }, label: "Visa debit — succeeds" },
  { number: "4000002500003155", brand: "visa", funding: "credit", country: "US", outcome: { kind: "authenticate" }, label: "Visa — requires 3-D Secure authentication" },
  { number: "4000002760003184", brand: "visa", funding: "credit", country: "US", outcome: { kind: "authenticate", always: true }, label: "Visa — requires 3-D Secure on every transaction, even once set up" },
  { number: "4000000000000002", brand: "visa", funding: "credit", country: "US", outcome: decline("card_declined", "generic_decline", DECLINED), label: "Declined (generic_decline)" },
  { number: "4000000000009995", brand: "visa", funding: "credit", country: "US", outcome: decline("card_declined", "insufficient_funds", "Your card has insufficient funds."), label: "Declined (insufficient_funds)" },
  { number: "4000000000009987", brand: "visa", funding: "credit", country: "US", outcome: decline("card_declined", "lost_card", DECLINED), label: "Declined (lost_card)" },
  { number: "4000000000009979", brand: "visa", funding: "credit", country: "US", outcome: decline("card_declined", "stolen_card", DECLINED), label: "Declined (stolen_card)" },
  { number: "4000000000000069", brand: "visa", funding: "credit", country: "US", outcome: decline("expired_card", "expired_card", "Your card has expired."), label: "Declined (expired_card)" },
  { number: "4000000000000127", brand: "visa", funding: "credit", country: "US", outcome: decline("incorrect_cvc", "incorrect_cvc", "Your card's security code is incorrect."), label: "Declined (incorrect_cvc)" },
  // Attaches to a customer, but every charge of it fails (Stripe's test card for failed renewals).
  { number: "4000000000000341", brand: "visa", funding: "credit", country: "US", outcome: decline("card_declined", "generic_decline", DECLINED), label: "Attaches to a customer; charges fail (renewals)" },
  { number: "4000000000000119", brand: "visa", funding: "credit", country: "US", outcome: decline("processing_error", "processing_error", "An error occurred while processing your card. Try again in a little bit."), label: "Declined (processing_error)" },
];

/** Stripe's magic test PaymentMethod ids → the card they stand for. */
export const TEST_PAYMENT_METHODS: Readonly<Record<string, string>> = {
  pm_card_visa: "4242424242424242",
  pm_card_mastercard: "5555555555554444",
  pm_card_visa_debit: "4000056655665556",
  pm_card_chargeDeclined: "4000000000000002",
  pm_card_chargeDeclinedInsufficientFunds: "4000000000009995",
  pm_card_chargeDeclinedLostCard: "4000000000009987",
  pm_card_chargeDeclinedStolenCard: "4000000000009979",
  pm_card_chargeDeclinedExpiredCard: "4000000000000069",
  pm_card_chargeDeclinedIncorrectCvc: "4000000000000127",
  pm_card_chargeDeclinedProcessingError: "4000000000000119",
  pm_card_authenticationRequiredOnSetup: "4000002500003155",
  pm_card_authenticationRequired: "4000002760003184",
  pm_card_chargeCustomerFail: "4000000000000341",
};

/** What a Luhn-valid number outside the table gets: Stripe test mode declines real cards. */
export const LIVE_CARD_IN_TEST_MODE: CardOutcome = decline(
  "card_declined",
  "test_mode_live_card",
  "Your card was declined. Your request was in test mode, but used a non test (live) card. For a list of valid test cards, visit: https://docs.stripe.com/testing.",
);

export function luhnValid(number: string): boolean {
  if (!/^\d{12,19}$/.test(number)) return false;
  let sum = 0;
  for (let i = 0; i < number.length; i++) {
    let d = number.charCodeAt(number.length - 1 - i) - 48;
    if (i % 2 === 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return sum % 10 === 0;
}

export function findTestCard(number: string): TestCard | undefined {
  return TEST_CARDS.find((c) => c.number === number);
}

/** Brand guessed from the number for a Luhn-valid card outside the table. */
export function brandOf(number: string): TestCard["brand"] {
  if (number.startsWith("4")) return "visa";
  if (/^3[47]/.test(number)) return "amex";
  return "mastercard";
}
