/**
 * Charges (https://docs.stripe.com/api/charges): made by a PaymentIntent's attempt (succeeded or
 * failed); read-only over the API.
 */
import type Stripe from "stripe";
import { notFound } from "../errors";
import { clone, newId, randomToken } from "../ids";
import * as P from "../params";
import { ID, list, type Route } from "../route";
import type { EmulatorState, PaymentIntentRecord, PaymentMethodRecord } from "../state";

/** The Charge of one attempt to pay `rec` with `pmRec`. */
export function newCharge(s: EmulatorState, rec: PaymentIntentRecord, pmRec: PaymentMethodRecord, status: "succeeded" | "failed", failure: { code: string; declineCode: string; message: string } | null): Stripe.Charge {
  const pi = rec.pi;
  const card = pmRec.pm.card as Stripe.PaymentMethod.Card;
  const captured = status === "succeeded" && pi.capture_method !== "manual";
  const charge: Stripe.Charge = {
    id: newId("ch"),
    object: "charge",
    amount: pi.amount,
    amount_captured: captured ? pi.amount : 0,
    amount_refunded: 0,
    application: null,
    application_fee: null,
    application_fee_amount: null,
    balance_transaction: null,
    billing_details: pmRec.pm.billing_details,
    calculated_statement_descriptor: "SYSPARK TEST EMULATOR",
    captured,
    created: s.seconds(),
    currency: pi.currency,
    customer: null,
    description: pi.description,
    disputed: false,
    failure_balance_transaction: null,
    failure_code: failure ? failure.code : null,
    failure_message: failure ? failure.message : null,
    fraud_details: {},
    livemode: false,
    metadata: clone(pi.metadata),
    on_behalf_of: null,
    outcome: failure
      ? { advice_code: null, network_advice_code: null, network_decline_code: null, network_status: "declined_by_network", reason: failure.declineCode, risk_level: "normal", risk_score: 20, seller_message: "The bank did not return any further details with this decline.", type: "issuer_declined" }
      : { advice_code: null, network_advice_code: null, network_decline_code: null, network_status: "approved_by_network", reason: null, risk_level: "normal", risk_score: 20, seller_message: "Payment complete.", type: "authorized" },
    paid: status === "succeeded",
    payment_intent: pi.id,
    payment_method: pmRec.pm.id,
    payment_method_details: {
      type: "card",
      card: {
        amount_authorized: status === "succeeded" ? pi.amount : null,
        authorization_code: status === "succeeded" ? "123456" : null,
        brand: card.brand,
        checks: card.checks,
        country: card.country,
        electronic_commerce_indicator: null,
        exp_month: card.exp_month,
        exp_year: card.exp_year,
        fingerprint: card.fingerprint,
        funding: card.funding,
        installments: null,
        last4: card.last4,
        mandate: null,
        network: card.brand,
        network_transaction_id: status === "succeeded" ? randomToken(15) : null,
        regulated_status: "unregulated",
        three_d_secure: rec.authenticatedPm === pmRec.pm.id ? { authentication_flow: "challenge", electronic_commerce_indicator: "05", exemption_indicator: null, result: "authenticated", result_reason: null, transaction_id: randomToken(32), version: "2.2.0" } : null,
        transaction_link_id: null,
        wallet: null,
      },
    },
    receipt_email: pi.receipt_email,
    receipt_number: null,
    receipt_url: null,
    refunded: false,
    review: null,
    shipping: null,
    source: null,
    source_transfer: null,
    statement_descriptor: pi.statement_descriptor,
    statement_descriptor_suffix: pi.statement_descriptor_suffix,
    status,
    transfer_data: null,
    transfer_group: null,
  };
  s.charges.set(charge.id, charge);
  return charge;
}

export function charge(s: EmulatorState, id: string): Stripe.Charge {
  const c = s.charges.get(id);
  if (!c) throw notFound("charge", id);
  return clone(c);
}

export function chargeRoutes(s: EmulatorState): Route[] {
  return [
    {
      method: "GET",
      pattern: /^\/v1\/charges$/,
      handler: (p) => list(s.charges.values(), p, P.chargeList, "/v1/charges", (q, c) => q.payment_intent === undefined || c.payment_intent === q.payment_intent),
    },
    { method: "GET", pattern: new RegExp(`^/v1/charges/${ID}$`), handler: (p, _ctx, [id]) => (P.parseParams(P.retrieveParams, p), charge(s, id)) },
  ];
}
