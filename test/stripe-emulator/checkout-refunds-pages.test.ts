/**
 * Checkout Sessions (hosted page included), refunds, the card page that stands in for
 * Stripe.js (its documented contract), and the form decoder of the wire format.
 */
import { expect } from "chai";
import Stripe from "stripe";
import { decodeForm } from "../../stripe-emulator/form";
import { futureExpiry, form, http, startFixture, typesFor, type Fixture } from "./helpers";

const CARD_ONLY = { payment_method_types: ["card"] };

describe("stripe emulator: Checkout Sessions", () => {
  let f: Fixture;
  beforeEach(async () => {
    f = await startFixture();
  });
  afterEach(async () => {
    await f.close();
  });

  const create = () =>
    f.stripe.checkout.sessions.create({
      mode: "payment",
      success_url: "http://cloud.test/done?cs={CHECKOUT_SESSION_ID}",
      cancel_url: "http://cloud.test/cancel",
      client_reference_id: "session-42",
      metadata: { session_id: "session-42" },
      payment_intent_data: { metadata: { session_id: "session-42" } },
      line_items: [
        { quantity: 2, price_data: { currency: "eur", unit_amount: 450, product_data: { name: "Parking 2 h" } } },
        { quantity: 1, price_data: { currency: "eur", unit_amount: 100, product_data: { name: "Service" } } },
      ],
    });

  it("creates an open session with totals and a hosted page URL; pays it on the page; completes with webhooks", async () => {
    const cs = await create();
    expect(cs.object).to.equal("checkout.session");
    expect(cs.id).to.match(/^cs_test_/);
    expect(cs).to.include({ status: "open", payment_status: "unpaid", amount_total: 1000, currency: "eur", mode: "payment", client_reference_id: "session-42" });
    expect(cs.payment_intent).to.equal(null);
    expect(cs.url?.startsWith(`${f.emu.url}/emulator/checkout/`)).to.equal(true);

    const page = await http(cs.url as string);
    expect(page.status).to.equal(200);
    expect(page.body).to.contain("Stripe TEST EMULATOR").and.contain("Parking 2 h").and.contain("€10.00");

    const declined = await http(cs.url as string, { body: form({ card_number: "4000 0000 0000 0002", exp: futureExpiry(), cvc: "123" }) });
    expect(declined.status).to.equal(402);
    expect(declined.body).to.contain("Your card was declined.");
    expect((await f.stripe.checkout.sessions.retrieve(cs.id)).status).to.equal("open");

    const paid = await http(cs.url as string, { body: form({ card_number: "4242424242424242", exp: futureExpiry(), cvc: "123" }) });
    expect(paid.status).to.equal(303);
    expect(paid.headers.location).to.equal(`http://cloud.test/done?cs=${cs.id}`);

    const done = await f.stripe.checkout.sessions.retrieve(cs.id, { expand: ["payment_intent", "line_items"] });
    expect(done).to.include({ status: "complete", payment_status: "paid", url: null });
    const pi = done.payment_intent as Stripe.PaymentIntent;
    expect(pi.status).to.equal("succeeded");
    expect(pi.amount).to.equal(1000);
    expect(pi.metadata).to.deep.equal({ session_id: "session-42" });
    expect(done.line_items?.data.map((li) => [li.description, li.quantity, li.amount_total])).to.deep.equal([
      ["Parking 2 h", 2, 900],
      ["Service", 1, 100],
    ]);
    const items = await f.stripe.checkout.sessions.listLineItems(cs.id);
    expect(items.data).to.have.length(2);

    await f.emu.whenWebhooksIdle();
    expect(typesFor(f.receiver, cs.id)).to.deep.equal(["checkout.session.completed"]);
    const completed = f.receiver.received.find((r) => r.event.type === "checkout.session.completed")?.event.data.object as Stripe.Checkout.Session;
    expect(completed.payment_intent).to.equal(pi.id);
    expect(completed.metadata).to.deep.equal({ session_id: "session-42" });
    expect(typesFor(f.receiver, pi.id)).to.deep.equal(["payment_intent.created", "payment_intent.payment_failed", "payment_intent.succeeded"]);
  });

  it("a 3-D Secure card on the hosted page goes through the challenge and lands on success_url", async () => {
    const cs = await create();
    const step = await http(cs.url as string, { body: form({ card_number: "4000002500003155", exp: futureExpiry(), cvc: "123" }) });
    expect(step.status).to.equal(303);
    const challenge = new URL(step.headers.location as string, f.emu.url).toString();
    expect(challenge).to.contain("/emulator/3ds/");
    const back = await http(challenge, { body: "outcome=complete" });
    expect(back.status).to.equal(303);
    const final = await http(new URL(back.headers.location as string, f.emu.url).toString());
    expect(final.status).to.equal(303);
    expect(final.headers.location).to.equal(`http://cloud.test/done?cs=${cs.id}`);
    expect((await f.stripe.checkout.sessions.retrieve(cs.id)).status).to.equal("complete");
  });

  it("cancel link goes to cancel_url; expire closes the session; bad sessions are Stripe-shaped 400s", async () => {
    const cs = await create();
    const cancel = await http(`${f.emu.url}/emulator/checkout/${cs.id}/cancel`);
    expect(cancel.headers.location).to.equal("http://cloud.test/cancel");
    const expired = await f.stripe.checkout.sessions.expire(cs.id);
    expect(expired).to.include({ status: "expired", url: null });
    expect((await http(cs.url as string)).status).to.equal(410);
    await f.emu.whenWebhooksIdle();
    expect(typesFor(f.receiver, cs.id)).to.deep.equal(["checkout.session.expired"]);

    const bad = await f.stripe.checkout.sessions.create({ mode: "payment", success_url: "http://x/", line_items: [{ quantity: 1, price_data: { currency: "eur", product_data: { name: "x" } } }] }).catch((e: Stripe.errors.StripeError) => e);
    expect((bad as Stripe.errors.StripeError).code).to.equal("parameter_missing");
    expect((bad as Stripe.errors.StripeError).param).to.equal("line_items[0][price_data][unit_amount]");
    const noUrl = await f.stripe.checkout.sessions.create({ mode: "payment", line_items: [{ quantity: 1, price_data: { currency: "eur", unit_amount: 100, product_data: { name: "x" } } }] }).catch((e: Stripe.errors.StripeError) => e);
    expect((noUrl as Stripe.errors.StripeError).param).to.equal("success_url");
  });
});

describe("stripe emulator: refunds", () => {
  let f: Fixture;
  beforeEach(async () => {
    f = await startFixture();
  });
  afterEach(async () => {
    await f.close();
  });

  it("partial then full refunds, never more than was paid, with refund.created and charge.refunded events", async () => {
    const pi = await f.stripe.paymentIntents.create({ amount: 2000, currency: "eur", payment_method: "pm_card_visa", confirm: true, ...CARD_ONLY });
    const part = await f.stripe.refunds.create({ payment_intent: pi.id, amount: 500, reason: "requested_by_customer", metadata: { operator: "op-1" } });
    expect(part).to.include({ object: "refund", amount: 500, status: "succeeded", payment_intent: pi.id, charge: pi.latest_charge, reason: "requested_by_customer" });
    expect(part.id).to.match(/^re_/);
    const tooMuch = await f.stripe.refunds.create({ payment_intent: pi.id, amount: 1501 }).catch((e: Stripe.errors.StripeError) => e);
    expect((tooMuch as Stripe.errors.StripeError).code).to.equal("amount_too_large");
    expect((tooMuch as Stripe.errors.StripeError).message).to.contain("€15.00");
    const rest = await f.stripe.refunds.create({ payment_intent: pi.id });
    expect(rest.amount).to.equal(1500);
    const charge = await f.stripe.charges.retrieve(pi.latest_charge as string);
    expect(charge).to.include({ amount_refunded: 2000, refunded: true });
    const again = await f.stripe.refunds.create({ charge: charge.id }).catch((e: Stripe.errors.StripeError) => e);
    expect((again as Stripe.errors.StripeError).code).to.equal("charge_already_refunded");
    expect((await f.stripe.refunds.retrieve(part.id)).metadata).to.deep.equal({ operator: "op-1" });
    expect((await f.stripe.refunds.list({ payment_intent: pi.id })).data.map((r) => r.amount)).to.deep.equal([1500, 500]);
    await f.emu.whenWebhooksIdle();
    const types = f.receiver.received.map((r) => r.event.type).filter((t) => t.startsWith("refund.") || t === "charge.refunded");
    expect(types).to.deep.equal(["refund.created", "charge.refunded", "refund.created", "charge.refunded"]);
  });

  it("a partial refund leaves charge.refunded false (amount_refunded counts it); updating a refund sends refund.updated", async () => {
    const pi = await f.stripe.paymentIntents.create({ amount: 980, currency: "eur", payment_method: "pm_card_visa", confirm: true, ...CARD_ONLY });
    const re = await f.stripe.refunds.create({ payment_intent: pi.id, amount: 300 });
    expect(await f.stripe.charges.retrieve(pi.latest_charge as string)).to.include({ amount_refunded: 300, refunded: false });
    const over = await f.stripe.refunds.create({ charge: pi.latest_charge as string, amount: 681 }).catch((e: Stripe.errors.StripeError) => e);
    expect(over).to.include({ code: "amount_too_large", param: "amount" });
    const updated = await f.stripe.refunds.update(re.id, { metadata: { note: "customer called" } });
    expect(updated.metadata).to.deep.equal({ note: "customer called" });
    await f.emu.whenWebhooksIdle();
    const events = f.receiver.received.map((r) => r.event).filter((e) => e.type.startsWith("refund.") || e.type === "charge.refunded");
    expect(events.map((e) => e.type)).to.deep.equal(["refund.created", "charge.refunded", "refund.updated"]);
    const last = events[2].data.object as Stripe.Refund;
    expect(last).to.include({ id: re.id, status: "succeeded", amount: 300 });
    expect(last.metadata).to.deep.equal({ note: "customer called" });
    const refundedCharge = events[1].data.object as Stripe.Charge;
    expect(refundedCharge).to.include({ amount_refunded: 300, refunded: false });
  });

  it("an unpaid intent cannot be refunded; a refund needs payment_intent or charge", async () => {
    const pi = await f.stripe.paymentIntents.create({ amount: 2000, currency: "eur", ...CARD_ONLY });
    const err = await f.stripe.refunds.create({ payment_intent: pi.id }).catch((e: Stripe.errors.StripeError) => e);
    expect((err as Stripe.errors.StripeError).code).to.equal("charge_not_refundable");
    const none = await f.stripe.refunds.create({}).catch((e: Stripe.errors.StripeError) => e);
    expect((none as Stripe.errors.StripeError).code).to.equal("parameter_missing");
  });
});

describe("stripe emulator: card page (stands in for Stripe.js)", () => {
  let f: Fixture;
  beforeEach(async () => {
    f = await startFixture();
  });
  afterEach(async () => {
    await f.close();
  });

  const newIntent = () => f.stripe.paymentIntents.create({ amount: 1234, currency: "eur", description: "Sortie voie 2", ...CARD_ONLY });
  const card = (number: string) => form({ card_number: number, exp: futureExpiry(), cvc: "123", return_url: "http://cloud.test/pay/s-1/return" });

  it("shows the amount, marked as a test emulator, phone-sized, in English or French", async () => {
    const pi = await newIntent();
    const page = await http(f.emu.payUrl(pi.client_secret as string, "http://cloud.test/r"));
    expect(page.status).to.equal(200);
    expect(page.headers["content-type"]).to.contain("text/html");
    expect(page.body).to.contain("Stripe TEST EMULATOR").and.contain("€12.34").and.contain("Sortie voie 2");
    expect(page.body).to.contain('name="viewport"').and.contain('name="card_number"').and.contain('name="exp"').and.contain('name="cvc"');
    const fr = await http(f.emu.payUrl(pi.client_secret as string, "http://cloud.test/r", "fr"));
    expect(fr.body).to.contain("ÉMULATEUR DE TEST").and.contain("Payer");
    const byHeader = await http(f.emu.payUrl(pi.client_secret as string), { headers: { "Accept-Language": "fr-FR,fr;q=0.9" } });
    expect(byHeader.body).to.contain("Numéro de carte");
  });

  it("a declined card stays on the page with the message; a good card redirects to return_url like Stripe", async () => {
    const pi = await newIntent();
    const action = `${f.emu.url}/emulator/pay/${pi.client_secret}`;
    const declined = await http(action, { body: card("4000000000009995") });
    expect(declined.status).to.equal(402);
    expect(declined.body).to.contain("Your card has insufficient funds.");
    const declinedFr = await http(action, { body: card("4000000000000002") + "&locale=fr" });
    expect(declinedFr.body).to.contain("Votre carte a été refusée.");
    expect((await f.stripe.paymentIntents.retrieve(pi.id)).status).to.equal("requires_payment_method");

    const ok = await http(action, { body: card("4242 4242 4242 4242") });
    expect(ok.status).to.equal(303);
    const loc = new URL(ok.headers.location as string);
    expect(`${loc.origin}${loc.pathname}`).to.equal("http://cloud.test/pay/s-1/return");
    expect(Object.fromEntries(loc.searchParams)).to.deep.equal({ payment_intent: pi.id, payment_intent_client_secret: pi.client_secret, redirect_status: "succeeded" });
    expect((await f.stripe.paymentIntents.retrieve(pi.id)).status).to.equal("succeeded");
    // Coming back to the page of a paid intent goes straight to return_url.
    const revisit = await http(f.emu.payUrl(pi.client_secret as string, "http://cloud.test/pay/s-1/return"));
    expect(revisit.status).to.equal(303);
    await f.emu.whenWebhooksIdle();
    expect(typesFor(f.receiver, pi.id)).to.deep.equal(["payment_intent.created", "payment_intent.payment_failed", "payment_intent.payment_failed", "payment_intent.succeeded"]);
  });

  it("checks the typed card before charging: bad number, past expiry, missing CVC, non-test card", async () => {
    const pi = await newIntent();
    const action = `${f.emu.url}/emulator/pay/${pi.client_secret}`;
    const bad = await http(action, { body: form({ card_number: "1234", exp: futureExpiry(), cvc: "123" }) });
    expect(bad.status).to.equal(400);
    const past = await http(action, { body: form({ card_number: "4242424242424242", exp: "01/20", cvc: "123" }) });
    expect(past.body).to.contain("in the past");
    const noCvc = await http(action, { body: form({ card_number: "4242424242424242", exp: futureExpiry(), cvc: "" }) });
    expect(noCvc.status).to.equal(400);
    const luhn = await http(action, { body: form({ card_number: "4242424242424241", exp: futureExpiry(), cvc: "123" }) });
    expect(luhn.body).to.contain("Your card number is incorrect.");
    const live = await http(action, { body: form({ card_number: "4111111111111111", exp: futureExpiry(), cvc: "123" }) });
    expect(live.body).to.contain("non test (live) card");
    expect(f.emu.state.listCharges().filter((c) => c.status === "succeeded")).to.have.length(0);
  });

  it("the 3-D Secure card goes to the challenge page, then back to return_url", async () => {
    const pi = await newIntent();
    const step = await http(`${f.emu.url}/emulator/pay/${pi.client_secret}`, { body: card("4000002500003155") });
    expect(step.status).to.equal(303);
    const challenge = new URL(step.headers.location as string, f.emu.url).toString();
    const page = await http(challenge);
    expect(page.body).to.contain("3-D Secure").and.contain('id="complete"').and.contain('id="fail"');
    const back = await http(challenge, { body: "outcome=complete" });
    const loc = new URL(back.headers.location as string);
    expect(loc.searchParams.get("redirect_status")).to.equal("succeeded");
  });

  it("unknown client secrets are 404 pages; canceled intents say so", async () => {
    expect((await http(`${f.emu.url}/emulator/pay/pi_nope_secret_nope`)).status).to.equal(404);
    const pi = await newIntent();
    await f.stripe.paymentIntents.cancel(pi.id);
    const page = await http(f.emu.payUrl(pi.client_secret as string));
    expect(page.status).to.equal(410);
    expect(page.body).to.contain("canceled");
  });
});

describe("stripe emulator: form decoding (wire format)", () => {
  it("decodes nested hashes, indexed and appended arrays", () => {
    const body = "amount=100&metadata[plate]=AB-123-CD&metadata[lane]=2&payment_method_types[0]=card&expand[]=latest_charge&expand[]=payment_method&line_items[0][price_data][currency]=eur&line_items[1][quantity]=2&note=a+b%26c";
    expect(decodeForm(body)).to.deep.equal({
      amount: "100",
      metadata: { plate: "AB-123-CD", lane: "2" },
      payment_method_types: ["card"],
      expand: ["latest_charge", "payment_method"],
      line_items: [{ price_data: { currency: "eur" } }, { quantity: "2" }],
      note: "a b&c",
    });
    expect(decodeForm("")).to.deep.equal({});
    expect(decodeForm("metadata=")).to.deep.equal({ metadata: "" });
  });

  it("refuses a key that is both a value and a hash, malformed brackets and bad escapes", () => {
    expect(() => decodeForm("a=1&a[b]=2")).to.throw(/both a value and a hash/);
    expect(() => decodeForm("a[b=1")).to.throw(/malformed/);
    expect(() => decodeForm("a=%E0%A4%A")).to.throw(/URL-decode/);
    expect(() => decodeForm("[]=1")).to.throw(/malformed/);
  });

  it("keeps __proto__ as plain data", () => {
    const out = decodeForm("__proto__[polluted]=yes&metadata[__proto__]=x");
    expect(({} as Record<string, unknown>).polluted).to.equal(undefined);
    expect(Object.keys(out)).to.deep.equal(["__proto__", "metadata"]);
  });
});
