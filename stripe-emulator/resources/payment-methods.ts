/**
 * PaymentMethods (https://docs.stripe.com/api/payment_methods): cards typed on the emulator's
 * pages and the magic test ids (`pm_card_visa` …); each carries the outcome its test card gives.
 */
import { createHash } from "node:crypto";
import type Stripe from "stripe";
import { brandOf, findTestCard, LIVE_CARD_IN_TEST_MODE, TEST_PAYMENT_METHODS, type CardOutcome } from "../cards";
import { notFound } from "../errors";
import { clone, newId } from "../ids";
import * as P from "../params";
import { ID, type Route } from "../route";
import type { CardInput, EmulatorState, PaymentMethodRecord } from "../state";

export function createCardPaymentMethod(s: EmulatorState, card: CardInput): PaymentMethodRecord {
  const test = findTestCard(card.number);
  const outcome: CardOutcome = test ? test.outcome : LIVE_CARD_IN_TEST_MODE;
  const brand = test?.brand ?? brandOf(card.number);
  const pm: Stripe.PaymentMethod = {
    id: newId("pm"),
    object: "payment_method",
    allow_redisplay: "unspecified",
    billing_details: { address: { city: null, country: null, line1: null, line2: null, postal_code: null, state: null }, email: null, name: null, phone: null, tax_id: null },
    card: {
      brand,
      checks: { address_line1_check: null, address_postal_code_check: null, cvc_check: "pass" },
      country: test?.country ?? "US",
      display_brand: brand,
      exp_month: card.expMonth,
      exp_year: card.expYear,
      fingerprint: createHash("sha256").update(`syspark-emulator:${card.number}`).digest("base64url").slice(0, 16),
      funding: test?.funding ?? "credit",
      generated_from: null,
      last4: card.number.slice(-4),
      networks: { available: [brand], preferred: null },
      regulated_status: "unregulated",
      three_d_secure_usage: { supported: true },
      wallet: null,
    },
    created: s.seconds(),
    customer: null,
    customer_account: null,
    livemode: false,
    metadata: {},
    type: "card",
  };
  const rec = { pm, outcome };
  s.paymentMethods.set(pm.id, rec);
  return rec;
}

/** A magic test id (pm_card_visa …) makes a fresh PaymentMethod each time it is used, like Stripe. */
export function resolvePaymentMethodId(s: EmulatorState, id: string, param: string): string {
  const existing = s.paymentMethods.get(id);
  if (existing) return existing.pm.id;
  const number = TEST_PAYMENT_METHODS[id];
  if (number === undefined) throw notFound("PaymentMethod", id, param);
  const year = new Date(s.opts.now()).getUTCFullYear();
  return createCardPaymentMethod(s, { number, expMonth: 12, expYear: year + 2, cvc: "123" }).pm.id;
}

export function paymentMethod(s: EmulatorState, id: string): Stripe.PaymentMethod {
  const r = s.paymentMethods.get(id);
  if (!r) throw notFound("payment_method", id);
  return clone(r.pm);
}

export function paymentMethodRoutes(s: EmulatorState): Route[] {
  return [{ method: "GET", pattern: new RegExp(`^/v1/payment_methods/${ID}$`), handler: (p, _ctx, [id]) => (P.parseParams(P.retrieveParams, p), paymentMethod(s, id)) }];
}
