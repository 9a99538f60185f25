/**
 * Hold-and-capture and saved cards, through the real `stripe` client (issue 16 item 4): capture
 * above the authorisation refused, a hold canceled `automatic` after 7 emulator days,
 * SetupIntents (3-D Secure, declines), Checkout in setup mode, and off-session payments with a
 * saved card — 4242 succeeds, 3155 needs no challenge once set up, 3184 always does, 0002 / 9995
 * decline — the way Stripe documents the test cards.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import Stripe from "stripe";
import { createStripeEmulator } from "../../stripe-emulator";
import { silentLogger } from "../../host/log";
import { form, futureExpiry, http, startFixture, TEST_KEY, typesFor, type Fixture } from "./helpers";

const CARD_ONLY = { payment_method_types: ["card"] };

const refusal = (p: Promise<unknown>): Promise<Stripe.errors.StripeError> =>
  p.then(
    () => {
      throw new Error("expected the emulator to refuse");
    },
    (e: Stripe.errors.StripeError) => e,
  );

async function eventually(cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise((r) => setTimeout(r, 10)); // bounded by the mocha timeout
}

describe("Stripe test emulator: holds, SetupIntents and off-session payments", function () {
  this.timeout(30_000);
  let f: Fixture;
  beforeEach(async () => {
    f = await startFixture();
  });
  afterEach(async () => f.close());

  async function hold(amount: number): Promise<Stripe.PaymentIntent> {
    const pi = await f.stripe.paymentIntents.create({ amount, currency: "eur", capture_method: "manual", payment_method: "pm_card_visa", confirm: true, ...CARD_ONLY });
    expect(pi.status).to.equal("requires_capture");
    return pi;
  }

  it("refuses to capture more than the authorised amount, and captures less releasing the rest", async () => {
    const pi = await hold(3000);
    const e = await refusal(f.stripe.paymentIntents.capture(pi.id, { amount_to_capture: 3001 }));
    expect([e.statusCode, e.code, e.param]).to.deep.equal([400, "amount_too_large", "amount_to_capture"]);
    const done = await f.stripe.paymentIntents.capture(pi.id, { amount_to_capture: 1250 });
    expect([done.status, done.amount_received]).to.deep.equal(["succeeded", 1250]);
  });

  it("an uncaptured hold is canceled `automatic` after 7 emulator days, with payment_intent.canceled; not a second before", async () => {
    const pi = await hold(2000);
    await f.emu.advanceClock(7 * 24 * 3600 - 60);
    expect((await f.stripe.paymentIntents.retrieve(pi.id)).status).to.equal("requires_capture");
    const r = await http(`${f.emu.url}/emulator/clock/advance`, { body: form({ seconds: "60" }), headers: { Authorization: `Bearer ${TEST_KEY}` } });
    expect(r.status).to.equal(200);
    const after = await f.stripe.paymentIntents.retrieve(pi.id);
    expect([after.status, after.cancellation_reason, after.amount_capturable]).to.deep.equal(["canceled", "automatic", 0]);
    const late = await refusal(f.stripe.paymentIntents.capture(pi.id));
    expect(late.code).to.equal("payment_intent_unexpected_state");
    await eventually(() => typesFor(f.receiver, pi.id).includes("payment_intent.canceled"));
    const bad = await http(`${f.emu.url}/emulator/clock/advance`, { body: form({ seconds: "-3" }), headers: { Authorization: `Bearer ${TEST_KEY}` } });
    expect([bad.status, (JSON.parse(bad.body) as { error: { param: string } }).error.param]).to.deep.equal([400, "seconds"]);
  });

  it("a SetupIntent saves a 4242 card on the customer; 0002 fails with setup_intent.setup_failed; 3155 asks 3-D Secure first", async () => {
    const c = await f.stripe.customers.create({ email: "hold@example.test" });
    const ok = await f.stripe.setupIntents.create({ customer: c.id, usage: "off_session", payment_method: "pm_card_visa", confirm: true });
    expect(ok.status).to.equal("succeeded");
    expect((await f.stripe.customers.listPaymentMethods(c.id)).data.map((p) => p.id)).to.deep.equal([ok.payment_method]);

    const bad = await f.stripe.setupIntents.create({ customer: c.id, usage: "off_session" });
    const e = await refusal(f.stripe.setupIntents.confirm(bad.id, { payment_method: "pm_card_chargeDeclined" }));
    expect([e.statusCode, e.type, e.code]).to.deep.equal([402, "StripeCardError", "card_declined"]);
    expect((await f.stripe.setupIntents.retrieve(bad.id)).status).to.equal("requires_payment_method");

    const tds = await f.stripe.setupIntents.create({ customer: c.id, usage: "off_session", payment_method: "pm_card_authenticationRequiredOnSetup", confirm: true, return_url: "http://cloud.test/saved" });
    expect(tds.status).to.equal("requires_action");
    const challenge = (tds.next_action as { redirect_to_url: { url: string } }).redirect_to_url.url;
    const done = await http(challenge, { body: form({ outcome: "complete" }) });
    expect(done.status).to.equal(303);
    expect(String(done.headers.location)).to.contain(`setup_intent=${tds.id}`);
    expect((await f.stripe.setupIntents.retrieve(tds.id)).status).to.equal("succeeded");
    await eventually(() => typesFor(f.receiver, bad.id).includes("setup_intent.setup_failed") && typesFor(f.receiver, tds.id).includes("setup_intent.succeeded"));
    expect(typesFor(f.receiver, ok.id)).to.include.members(["setup_intent.created", "setup_intent.succeeded"]);
  });

  it("off-session with a saved card: 4242 succeeds, 3155 set up succeeds, 3184 and an unset 3155 decline authentication_required, 0002 / 9995 decline", async () => {
    const c = await f.stripe.customers.create({});
    const save = async (pm: string) => (await f.stripe.setupIntents.create({ customer: c.id, payment_method: pm, confirm: true, usage: "off_session" })).payment_method as string;
    const offSession = (pm: string, customer: string | undefined = c.id) =>
      f.stripe.paymentIntents.create({ amount: 1800, currency: "eur", customer, payment_method: pm, off_session: true, confirm: true, ...CARD_ONLY });

    const visa = await save("pm_card_visa");
    expect((await offSession(visa)).status).to.equal("succeeded");

    // 3155 and 3184 cannot be set up without the challenge: pass it on the emulator's page.
    const setUp = async (pm: string): Promise<string> => {
      const si = await f.stripe.setupIntents.create({ customer: c.id, payment_method: pm, confirm: true, usage: "off_session", return_url: "http://cloud.test/r" });
      await http((si.next_action as { redirect_to_url: { url: string } }).redirect_to_url.url, { body: form({ outcome: "complete" }) });
      return si.payment_method as string;
    };
    expect((await offSession(await setUp("pm_card_authenticationRequiredOnSetup"))).status).to.equal("succeeded");
    for (const pm of [await setUp("pm_card_authenticationRequired"), "pm_card_authenticationRequiredOnSetup"]) {
      const e = await refusal(offSession(pm, pm.startsWith("pm_card") ? undefined : c.id));
      expect([e.statusCode, e.code]).to.deep.equal([402, "authentication_required"]);
      const pi = (e.raw as { payment_intent: Stripe.PaymentIntent }).payment_intent;
      expect([pi.status, pi.last_payment_error?.code]).to.deep.equal(["requires_payment_method", "authentication_required"]);
    }
    for (const [pm, decline] of [["pm_card_chargeDeclined", "generic_decline"], ["pm_card_chargeDeclinedInsufficientFunds", "insufficient_funds"]]) {
      const e = await refusal(offSession(pm, undefined));
      expect([e.code, e.decline_code]).to.deep.equal(["card_declined", decline]);
    }
    const other = await f.stripe.customers.create({});
    const wrong = await refusal(offSession(visa, other.id));
    expect([wrong.code, wrong.param]).to.deep.equal(["payment_method_unexpected_state", "customer"]);
    const noConfirm = await refusal(f.stripe.paymentIntents.create({ amount: 100, currency: "eur", off_session: true, ...CARD_ONLY }));
    expect(noConfirm.param).to.equal("off_session");
  });

  it("a hold with setup_future_usage paid on the card page saves the card, reusable off-session after the hold lapsed", async () => {
    const c = await f.stripe.customers.create({});
    const pi = await f.stripe.paymentIntents.create({ amount: 2500, currency: "eur", capture_method: "manual", customer: c.id, setup_future_usage: "off_session", ...CARD_ONLY });
    const paid = await http(f.emu.payUrl(pi.client_secret as string), { body: form({ card_number: "4242424242424242", exp: futureExpiry(), cvc: "123" }) });
    expect(paid.status).to.equal(200);
    const held = await f.stripe.paymentIntents.retrieve(pi.id);
    expect(held.status).to.equal("requires_capture");
    await f.emu.advanceClock(8 * 24 * 3600);
    expect((await f.stripe.paymentIntents.retrieve(pi.id)).cancellation_reason).to.equal("automatic");
    const charged = await f.stripe.paymentIntents.create({ amount: 4100, currency: "eur", customer: c.id, payment_method: held.payment_method as string, off_session: true, confirm: true, ...CARD_ONLY });
    expect([charged.status, charged.amount_received]).to.deep.equal(["succeeded", 4100]);
  });

  it("Checkout in setup mode: the hosted page saves the card, the session completes with setup_intent and no charge", async () => {
    const c = await f.stripe.customers.create({});
    const refused = await refusal(f.stripe.checkout.sessions.create({ mode: "setup", success_url: "http://cloud.test/ok", line_items: [{ quantity: 1, price_data: { currency: "eur", unit_amount: 100, product_data: { name: "x" } } }] }));
    expect(refused.param).to.equal("line_items");
    const cs = await f.stripe.checkout.sessions.create({ mode: "setup", customer: c.id, currency: "eur", success_url: "http://cloud.test/ok?cs={CHECKOUT_SESSION_ID}" });
    expect([cs.mode, cs.payment_status, cs.amount_total]).to.deep.equal(["setup", "no_payment_required", null]);
    const page = await http(cs.url as string);
    expect(page.status).to.equal(200);
    const posted = await http(cs.url as string, { body: form({ card_number: "4242424242424242", exp: futureExpiry(), cvc: "123" }) });
    expect([posted.status, posted.headers.location]).to.deep.equal([303, `http://cloud.test/ok?cs=${cs.id}`]);
    const done = await f.stripe.checkout.sessions.retrieve(cs.id);
    expect(done.status).to.equal("complete");
    const si = await f.stripe.setupIntents.retrieve(done.setup_intent as string);
    expect([si.status, si.customer]).to.deep.equal(["succeeded", c.id]);
    expect((await f.stripe.customers.listPaymentMethods(c.id)).data).to.have.length(1);
    expect((await f.stripe.paymentIntents.list({ customer: c.id })).data).to.have.length(0);
    await eventually(() => f.receiver.received.some((r) => r.event.type === "checkout.session.completed" && (r.event.data.object as Stripe.Checkout.Session).mode === "setup"));
  });

  it("SetupIntents and the set-up card are kept across a restart of an emulator with a state directory", async () => {
    const dir = mkdtempSync(join(tmpdir(), "syspark-emu-seti-"));
    try {
      const a = await createStripeEmulator({ stateDir: dir, logger: silentLogger });
      const sa = new Stripe(TEST_KEY, { ...a.clientConfig, maxNetworkRetries: 0 });
      const c = await sa.customers.create({});
      const si = await sa.setupIntents.create({ customer: c.id, payment_method: "pm_card_authenticationRequiredOnSetup", confirm: true, usage: "off_session", return_url: "http://cloud.test/r" });
      await http((si.next_action as { redirect_to_url: { url: string } }).redirect_to_url.url, { body: form({ outcome: "complete" }) });
      await a.close();
      const b = await createStripeEmulator({ stateDir: dir, logger: silentLogger });
      try {
        const sb = new Stripe(TEST_KEY, { ...b.clientConfig, maxNetworkRetries: 0 });
        expect((await sb.setupIntents.retrieve(si.id)).status).to.equal("succeeded");
        // Still set up after the restart: off-session needs no 3-D Secure.
        const pi = await sb.paymentIntents.create({ amount: 900, currency: "eur", customer: c.id, payment_method: si.payment_method as string, off_session: true, confirm: true, ...CARD_ONLY });
        expect(pi.status).to.equal("succeeded");
      } finally {
        await b.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
