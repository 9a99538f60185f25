/**
 * The cards on a batch of receipts (cloud/billing/card.ts cardsOfPayments), against the Stripe
 * test emulator: the batch's cards come from ONE list of the account's recent charges, not one
 * lookup per payment (the receipt worker's cost beside the pay path: `bench cloud`); what the
 * list does not show (a Checkout Session's payment, a charge older than its window) is still
 * asked payment by payment, and a payment with no card gets none.
 */
import { expect } from "chai";
import type Stripe from "stripe";
import { cardsOfPayments } from "../../../cloud/billing/card";
import { startFixture, type Fixture } from "../../stripe-emulator/helpers";

const CARD_ONLY = { payment_method_types: ["card"] };

describe("receipt cards: one list for a batch", () => {
  let f: Fixture;
  let calls: string[];
  const record = (r: Stripe.RequestEvent) => calls.push(`${r.method} ${r.path.split("?")[0]}`);
  beforeEach(async () => {
    f = await startFixture();
    calls = [];
  });
  afterEach(async () => {
    f.stripe.off("request", record);
    await f.close();
  });

  const paid = async (pm: string) => (await f.stripe.paymentIntents.create({ amount: 700, currency: "eur", payment_method: pm, confirm: true, ...CARD_ONLY })).id;
  const refs = (paymentId: string, pi: string | null, validatedTs: Date | null = new Date()) => ({ paymentId, providerRef: pi, providerPaymentIntent: null, validatedTs });

  it("finds every card of a batch with one call", async () => {
    const a = await paid("pm_card_visa");
    const b = await paid("pm_card_mastercard");
    const c = await paid("pm_card_visa");
    f.stripe.on("request", record);
    const cards = await cardsOfPayments(f.stripe, [refs("p1", a), refs("p2", b), refs("p3", c)]);
    expect(Object.fromEntries(cards)).to.deep.equal({ p1: { brand: "visa", last4: "4242" }, p2: { brand: "mastercard", last4: "4444" }, p3: { brand: "visa", last4: "4242" } });
    expect(calls).to.deep.equal(["GET /v1/charges"]);
  });

  it("asks one by one what the list does not show; a payment with no card gets null", async () => {
    const recent = await paid("pm_card_visa");
    const old = await paid("pm_card_mastercard");
    await f.emu.advanceClock(2 * 86_400); // `old` was validated two days after its charge: outside the list's window
    const late = new Date(Date.now() + 2 * 86_400_000);
    f.stripe.on("request", record);
    const cards = await cardsOfPayments(f.stripe, [refs("p1", old, late), refs("p2", recent, late), refs("p3", null)]);
    expect(Object.fromEntries(cards)).to.deep.equal({ p1: { brand: "mastercard", last4: "4444" }, p2: { brand: "visa", last4: "4242" }, p3: null });
    expect(calls.filter((x) => x === "GET /v1/charges")).to.have.length(1);
    expect(calls.filter((x) => x.startsWith("GET /v1/payment_intents/"))).to.have.length(2);
  });

  it("one payment (a refund's owed receipt): its own lookup, no list", async () => {
    const pi = await paid("pm_card_visa");
    f.stripe.on("request", record);
    const cards = await cardsOfPayments(f.stripe, [refs("p1", pi)]);
    expect(cards.get("p1")).to.deep.equal({ brand: "visa", last4: "4242" });
    expect(calls).to.deep.equal([`GET /v1/payment_intents/${pi}`]);
  });
});
