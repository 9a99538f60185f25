/**
 * PaymentIntents through the real `stripe` client: each test card's outcome, the status
 * machine (confirm, 3-D Secure, manual capture, cancel), Stripe-shaped errors and test-key-only
 * authentication.
 */
import { expect } from "chai";
import Stripe from "stripe";
import { TEST_KEY, http, startFixture, typesFor, type Fixture } from "./helpers";

const CARD_ONLY = { payment_method_types: ["card"] };

async function rejection<T>(p: Promise<T>): Promise<Stripe.errors.StripeError> {
  try {
    await p;
  } catch (err) {
    expect(err).to.be.instanceOf(Stripe.errors.StripeError);
    return err as Stripe.errors.StripeError;
  }
  throw new Error("expected the call to fail");
}

describe("stripe emulator: PaymentIntents", () => {
  let f: Fixture;
  beforeEach(async () => {
    f = await startFixture();
  });
  afterEach(async () => {
    await f.close();
  });

  it("4242 (pm_card_visa) succeeds, with a charge, metadata kept, and signed events in order", async () => {
    const created = await f.stripe.paymentIntents.create({ amount: 1250, currency: "EUR", metadata: { session_id: "s-1", plate: "AB-123-CD" }, ...CARD_ONLY });
    expect(created.object).to.equal("payment_intent");
    expect(created.id).to.match(/^pi_/);
    expect(created.client_secret).to.match(new RegExp(`^${created.id}_secret_`));
    expect(created.status).to.equal("requires_payment_method");
    expect(created.currency).to.equal("eur");
    expect(created.livemode).to.equal(false);

    const pi = await f.stripe.paymentIntents.confirm(created.id, { payment_method: "pm_card_visa" });
    expect(pi.status).to.equal("succeeded");
    expect(pi.amount_received).to.equal(1250);
    expect(pi.metadata).to.deep.equal({ session_id: "s-1", plate: "AB-123-CD" });
    expect(pi.last_payment_error).to.equal(null);
    expect(pi.latest_charge).to.match(/^ch_/);
    expect(pi.payment_method).to.match(/^pm_/);

    const charge = await f.stripe.charges.retrieve(pi.latest_charge as string);
    expect(charge).to.include({ status: "succeeded", paid: true, captured: true, amount: 1250, payment_intent: pi.id });
    expect(charge.payment_method_details?.card?.last4).to.equal("4242");

    const again = await f.stripe.paymentIntents.retrieve(pi.id, { expand: ["latest_charge"] });
    expect((again.latest_charge as Stripe.Charge).id).to.equal(charge.id);

    await f.emu.whenWebhooksIdle();
    expect(f.receiver.rejected).to.deep.equal([]);
    expect(typesFor(f.receiver, pi.id)).to.deep.equal(["payment_intent.created", "payment_intent.succeeded"]);
    const succeeded = f.receiver.received.find((r) => r.event.type === "payment_intent.succeeded");
    expect((succeeded?.event.data.object as Stripe.PaymentIntent).metadata.session_id).to.equal("s-1");
    const order = f.receiver.received.map((r) => r.event.type);
    expect(order.indexOf("charge.succeeded")).to.be.lessThan(order.indexOf("payment_intent.succeeded"));
  });

  it("4000 0000 0000 0002 is declined (card_declined / generic_decline): 402, intent back to requires_payment_method, retry works", async () => {
    const created = await f.stripe.paymentIntents.create({ amount: 900, currency: "eur", ...CARD_ONLY });
    const err = (await rejection(f.stripe.paymentIntents.confirm(created.id, { payment_method: "pm_card_chargeDeclined" }))) as Stripe.errors.StripeCardError;
    expect(err).to.be.instanceOf(Stripe.errors.StripeCardError);
    expect(err.statusCode).to.equal(402);
    expect(err.code).to.equal("card_declined");
    expect(err.decline_code).to.equal("generic_decline");
    expect(err.message).to.equal("Your card was declined.");
    expect(err.payment_intent?.id).to.equal(created.id);
    expect(err.payment_intent?.status).to.equal("requires_payment_method");

    const pi = await f.stripe.paymentIntents.retrieve(created.id);
    expect(pi.status).to.equal("requires_payment_method");
    expect(pi.payment_method).to.equal(null);
    expect(pi.last_payment_error).to.include({ type: "card_error", code: "card_declined", decline_code: "generic_decline" });
    const failedCharge = await f.stripe.charges.retrieve(pi.latest_charge as string);
    expect(failedCharge).to.include({ status: "failed", paid: false, failure_code: "card_declined" });

    const retried = await f.stripe.paymentIntents.confirm(created.id, { payment_method: "pm_card_visa" });
    expect(retried.status).to.equal("succeeded");
    expect(retried.last_payment_error).to.equal(null);

    await f.emu.whenWebhooksIdle();
    expect(typesFor(f.receiver, created.id)).to.deep.equal(["payment_intent.created", "payment_intent.payment_failed", "payment_intent.succeeded"]);
  });

  it("4000 0000 0000 9995 is declined for insufficient funds", async () => {
    const err = (await rejection(
      f.stripe.paymentIntents.create({ amount: 700, currency: "eur", payment_method: "pm_card_chargeDeclinedInsufficientFunds", confirm: true, ...CARD_ONLY }),
    )) as Stripe.errors.StripeCardError;
    expect(err.code).to.equal("card_declined");
    expect(err.decline_code).to.equal("insufficient_funds");
    expect(err.message).to.equal("Your card has insufficient funds.");
    expect(err.payment_intent?.last_payment_error?.decline_code).to.equal("insufficient_funds");
  });

  it("4000 0025 0000 3155 requires authentication: requires_action, then the 3-D Secure page completes it", async () => {
    const pi = await f.stripe.paymentIntents.create({
      amount: 1500,
      currency: "eur",
      payment_method: "pm_card_authenticationRequired",
      confirm: true,
      return_url: "http://cloud.test/pay/done?s=1",
      ...CARD_ONLY,
    });
    expect(pi.status).to.equal("requires_action");
    expect(pi.next_action?.type).to.equal("redirect_to_url");
    const challenge = pi.next_action?.redirect_to_url?.url as string;
    expect(challenge.startsWith(f.emu.url)).to.equal(true);

    const page = await http(challenge);
    expect(page.status).to.equal(200);
    expect(page.body).to.contain("Stripe TEST EMULATOR");
    const done = await http(challenge, { body: "outcome=complete" });
    expect(done.status).to.equal(303);
    const back = new URL(done.headers.location as string);
    expect(back.origin + back.pathname).to.equal("http://cloud.test/pay/done");
    expect(back.searchParams.get("s")).to.equal("1");
    expect(back.searchParams.get("payment_intent")).to.equal(pi.id);
    expect(back.searchParams.get("payment_intent_client_secret")).to.equal(pi.client_secret);
    expect(back.searchParams.get("redirect_status")).to.equal("succeeded");

    const after = await f.stripe.paymentIntents.retrieve(pi.id);
    expect(after.status).to.equal("succeeded");
    expect(after.next_action).to.equal(null);
    await f.emu.whenWebhooksIdle();
    expect(typesFor(f.receiver, pi.id)).to.deep.equal(["payment_intent.created", "payment_intent.requires_action", "payment_intent.succeeded"]);
  });

  it("a failed 3-D Secure challenge returns redirect_status=failed and a payment_intent_authentication_failure", async () => {
    const pi = await f.stripe.paymentIntents.create({ amount: 1500, currency: "eur", payment_method: "pm_card_authenticationRequired", confirm: true, return_url: "http://cloud.test/r", ...CARD_ONLY });
    const res = await http(pi.next_action?.redirect_to_url?.url as string, { body: "outcome=fail" });
    expect(new URL(res.headers.location as string).searchParams.get("redirect_status")).to.equal("failed");
    const after = await f.stripe.paymentIntents.retrieve(pi.id);
    expect(after.status).to.equal("requires_payment_method");
    expect(after.last_payment_error?.code).to.equal("payment_intent_authentication_failure");
    await f.emu.whenWebhooksIdle();
    expect(typesFor(f.receiver, pi.id)).to.include("payment_intent.payment_failed");
  });

  it("error_on_requires_action turns the 3-D Secure card into an authentication_required decline", async () => {
    const err = (await rejection(
      f.stripe.paymentIntents.create({ amount: 600, currency: "eur", payment_method: "pm_card_authenticationRequired", confirm: true, error_on_requires_action: true, ...CARD_ONLY }),
    )) as Stripe.errors.StripeCardError;
    expect(err.code).to.equal("authentication_required");
  });

  it("manual capture: requires_capture, partial capture, and the rest released", async () => {
    const pi = await f.stripe.paymentIntents.create({ amount: 3000, currency: "eur", capture_method: "manual", payment_method: "pm_card_visa", confirm: true, ...CARD_ONLY });
    expect(pi.status).to.equal("requires_capture");
    expect(pi.amount_capturable).to.equal(3000);
    const tooMuch = await rejection(f.stripe.paymentIntents.capture(pi.id, { amount_to_capture: 3001 }));
    expect(tooMuch.code).to.equal("amount_too_large");
    const captured = await f.stripe.paymentIntents.capture(pi.id, { amount_to_capture: 2200 });
    expect(captured.status).to.equal("succeeded");
    expect(captured.amount_received).to.equal(2200);
    const charge = await f.stripe.charges.retrieve(captured.latest_charge as string);
    expect(charge).to.include({ captured: true, amount_captured: 2200, amount_refunded: 800 });
    const twice = await rejection(f.stripe.paymentIntents.capture(pi.id));
    expect(twice.code).to.equal("payment_intent_unexpected_state");
    await f.emu.whenWebhooksIdle();
    expect(typesFor(f.receiver, pi.id)).to.deep.equal(["payment_intent.created", "payment_intent.amount_capturable_updated", "payment_intent.succeeded"]);
  });

  it("cancel: from requires_payment_method to canceled; a canceled or succeeded intent cannot be confirmed or canceled", async () => {
    const pi = await f.stripe.paymentIntents.create({ amount: 800, currency: "eur", ...CARD_ONLY });
    const canceled = await f.stripe.paymentIntents.cancel(pi.id, { cancellation_reason: "abandoned" });
    expect(canceled.status).to.equal("canceled");
    expect(canceled.cancellation_reason).to.equal("abandoned");
    expect(canceled.canceled_at).to.be.a("number");
    const confirm = await rejection(f.stripe.paymentIntents.confirm(pi.id, { payment_method: "pm_card_visa" }));
    expect(confirm.code).to.equal("payment_intent_unexpected_state");
    expect(confirm.statusCode).to.equal(400);

    const paid = await f.stripe.paymentIntents.create({ amount: 800, currency: "eur", payment_method: "pm_card_visa", confirm: true, ...CARD_ONLY });
    const cancelPaid = await rejection(f.stripe.paymentIntents.cancel(paid.id));
    expect(cancelPaid.code).to.equal("payment_intent_unexpected_state");
    expect(cancelPaid.message).to.contain("status of succeeded");
    await f.emu.whenWebhooksIdle();
    expect(typesFor(f.receiver, pi.id)).to.deep.equal(["payment_intent.created", "payment_intent.canceled"]);
  });

  it("update: amount and metadata (an empty value deletes a key); payment_method moves to requires_confirmation", async () => {
    const pi = await f.stripe.paymentIntents.create({ amount: 800, currency: "eur", metadata: { a: "1", b: "2" }, ...CARD_ONLY });
    const updated = await f.stripe.paymentIntents.update(pi.id, { amount: 950, metadata: { a: "", c: "3" }, payment_method: "pm_card_visa" });
    expect(updated.amount).to.equal(950);
    expect(updated.metadata).to.deep.equal({ b: "2", c: "3" });
    expect(updated.status).to.equal("requires_confirmation");
    const confirmed = await f.stripe.paymentIntents.confirm(pi.id);
    expect(confirmed.status).to.equal("succeeded");
    expect(confirmed.amount_received).to.equal(950);
    const late = await rejection(f.stripe.paymentIntents.update(pi.id, { amount: 1 }));
    expect(late.code).to.equal("payment_intent_unexpected_state");
  });

  it("without payment_method_types, a server-side confirm needs a return_url (as on Stripe)", async () => {
    const err = await rejection(f.stripe.paymentIntents.create({ amount: 800, currency: "eur", payment_method: "pm_card_visa", confirm: true }));
    expect(err.type).to.equal("StripeInvalidRequestError");
    expect(err.param).to.equal("return_url");
    const ok = await f.stripe.paymentIntents.create({ amount: 800, currency: "eur", payment_method: "pm_card_visa", confirm: true, automatic_payment_methods: { enabled: true, allow_redirects: "never" } });
    expect(ok.status).to.equal("succeeded");
  });

  it("bad parameters get Stripe-shaped 400s naming the parameter", async () => {
    const cases: Array<[Promise<unknown>, string, string]> = [
      [f.stripe.paymentIntents.create({ amount: "abc" as unknown as number, currency: "eur" }), "parameter_invalid_integer", "amount"],
      [f.stripe.paymentIntents.create({ currency: "eur" } as Stripe.PaymentIntentCreateParams), "parameter_missing", "amount"],
      [f.stripe.paymentIntents.create({ amount: 100, currency: "eur", colour: "red" } as Stripe.PaymentIntentCreateParams), "parameter_unknown", "colour"],
      [f.stripe.paymentIntents.create({ amount: 10, currency: "eur" }), "amount_too_small", "amount"],
      [f.stripe.paymentIntents.create({ amount: 100, currency: "eur", metadata: { ["k".repeat(41)]: "v" } }), "parameter_invalid_string", `metadata[${"k".repeat(41)}]`],
      [f.stripe.paymentIntents.create({ amount: 100, currency: "eur", confirm: "maybe" as unknown as boolean }), "parameter_invalid_boolean", "confirm"],
      [f.stripe.paymentIntents.create({ amount: 100, currency: "eur", payment_method: "pm_nope", ...CARD_ONLY }), "resource_missing", "payment_method"],
    ];
    for (const [p, code, param] of cases) {
      const err = await rejection(p);
      expect(err.statusCode, code).to.be.oneOf([400, 404]);
      expect(err.type, code).to.equal("StripeInvalidRequestError");
      expect(err.code).to.equal(code);
      expect(err.param).to.equal(param);
    }
    const missing = await rejection(f.stripe.paymentIntents.retrieve("pi_doesnotexist"));
    expect(missing.statusCode).to.equal(404);
    expect(missing.code).to.equal("resource_missing");
    expect(missing.message).to.equal("No such payment_intent: 'pi_doesnotexist'");
    expect(f.emu.state.listPaymentIntents()).to.have.length(0); // nothing was created by a bad request
  });

  it("refuses live keys, publishable keys and missing keys with 401; labels every answer as the test emulator", async () => {
    const live = await rejection(new Stripe("sk_live_51ABCDEFabcdef0123456789", { ...f.emu.clientConfig, maxNetworkRetries: 0 }).paymentIntents.list());
    expect(live).to.be.instanceOf(Stripe.errors.StripeAuthenticationError);
    expect(live.statusCode).to.equal(401);
    expect(live.message).to.contain("TEST EMULATOR");
    expect(live.message).not.to.contain("0123456789"); // the key is redacted
    const pk = await rejection(new Stripe("pk_test_abc", { ...f.emu.clientConfig, maxNetworkRetries: 0 }).paymentIntents.list());
    expect(pk.statusCode).to.equal(401);
    const none = await http(`${f.emu.url}/v1/payment_intents`);
    expect(none.status).to.equal(401);
    expect(JSON.parse(none.body).error.type).to.equal("invalid_request_error");
    expect(none.headers["x-stripe-emulator"]).to.contain("TEST EMULATOR");
    const ok = await http(`${f.emu.url}/v1/payment_intents`, { headers: { Authorization: `Bearer ${TEST_KEY}` } });
    expect(ok.status).to.equal(200);
    expect(ok.headers["request-id"]).to.match(/^req_/);
    expect(JSON.parse(ok.body)).to.deep.include({ object: "list", data: [], has_more: false });
  });

  it("an unknown endpoint is a Stripe-shaped 404 and a JSON body is refused", async () => {
    const res = await http(`${f.emu.url}/v1/balance_transactions`, { headers: { Authorization: `Bearer ${TEST_KEY}` } });
    expect(res.status).to.equal(404);
    expect(JSON.parse(res.body).error.message).to.contain("Unrecognized request URL");
    const json = await http(`${f.emu.url}/v1/payment_intents`, { body: '{"amount":100}', headers: { Authorization: `Bearer ${TEST_KEY}`, "Content-Type": "application/json" } });
    expect(json.status).to.equal(400);
    expect(JSON.parse(json.body).error.message).to.contain("application/x-www-form-urlencoded");
  });

  it("with processingMs, a card payment passes through processing before succeeded", async () => {
    await f.close();
    f = await startFixture({ processingMs: 30 });
    const pi = await f.stripe.paymentIntents.create({ amount: 1000, currency: "eur", payment_method: "pm_card_visa", confirm: true, ...CARD_ONLY });
    expect(pi.status).to.equal("processing");
    const delivered = await f.emu.waitForDelivery((d) => d.type === "payment_intent.succeeded" && d.objectId === pi.id, 5000);
    expect(delivered.state).to.equal("delivered");
    expect((await f.stripe.paymentIntents.retrieve(pi.id)).status).to.equal("succeeded");
    await f.emu.whenWebhooksIdle();
    expect(typesFor(f.receiver, pi.id)).to.deep.equal(["payment_intent.created", "payment_intent.processing", "payment_intent.succeeded"]);
  });

  it("lists with pagination, newest first", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await f.stripe.paymentIntents.create({ amount: 100 + i, currency: "eur", ...CARD_ONLY })).id);
    const page1 = await f.stripe.paymentIntents.list({ limit: 2 });
    expect(page1.data.map((p) => p.id)).to.deep.equal([ids[4], ids[3]]);
    expect(page1.has_more).to.equal(true);
    const all: string[] = [];
    for await (const pi of f.stripe.paymentIntents.list({ limit: 2 })) all.push(pi.id);
    expect(all).to.deep.equal([...ids].reverse());
  });
  it("lists charges by `created` (Stripe's range filter), each page a copy; a bad range is a 400 naming it", async () => {
    const pay = async () => (await f.stripe.paymentIntents.create({ amount: 500, currency: "eur", payment_method: "pm_card_visa", confirm: true, ...CARD_ONLY })).id;
    const first = await pay();
    const cut = (await f.emu.advanceClock(3600)).now;
    const second = await pay();
    const recent = await f.stripe.charges.list({ created: { gte: cut } });
    expect(recent.data.map((c) => c.payment_intent)).to.deep.equal([second]);
    const older = await f.stripe.charges.list({ created: { lt: cut } });
    expect(older.data.map((c) => c.payment_intent)).to.deep.equal([first]);
    // A page is a copy: changing it changes nothing stored.
    recent.data[0].payment_method_details!.card!.last4 = "0000";
    expect((await f.stripe.charges.list({ created: { gte: cut } })).data[0].payment_method_details?.card?.last4).to.equal("4242");
    const err = await f.stripe.charges.list({ created: { gte: "soon" as unknown as number } }).catch((e: Stripe.errors.StripeError) => e);
    expect(err).to.include({ statusCode: 400, param: "created[gte]" });
  });
});
