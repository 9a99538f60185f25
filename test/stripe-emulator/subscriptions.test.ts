/**
 * Prices, Checkout in subscription mode, Subscriptions, Invoices, renewals on the emulator clock
 * and the customer portal — through the real `stripe` client, with the webhooks verified.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import Stripe from "stripe";
import { createStripeEmulator } from "../../stripe-emulator";
import { silentLogger } from "../../host/log";
import { form, futureExpiry, http, startFixture, TEST_KEY, type Fixture } from "./helpers";

const DAY = 86_400;

async function monthlyPrice(f: Fixture, amount = 4900): Promise<Stripe.Price> {
  return f.stripe.prices.create({ currency: "eur", unit_amount: amount, recurring: { interval: "month" }, product_data: { name: "Permis mensuel" }, lookup_key: `monthly-${amount}` });
}

/** Creates a subscription Checkout Session and pays it on the hosted page with `card`. */
async function buyOnPage(f: Fixture, price: Stripe.Price, card = "4242424242424242"): Promise<{ cs: Stripe.Checkout.Session; page: { status: number; headers: Record<string, unknown> } }> {
  const cs = await f.stripe.checkout.sessions.create({ mode: "subscription", line_items: [{ price: price.id, quantity: 1 }], success_url: "https://cloud.example/permits/ok?cs={CHECKOUT_SESSION_ID}", customer_email: "holder@example.test", subscription_data: { metadata: { permit_id: "pmt_1" } } });
  const page = await http(cs.url as string, { body: form({ card_number: card, exp: futureExpiry(), cvc: "123" }) });
  return { cs, page };
}

function typesReceived(f: Fixture): string[] {
  return f.receiver.received.filter((r) => r.status < 300).map((r) => r.event.type);
}

describe("Stripe test emulator: subscriptions (prices, checkout, renewals, portal)", function () {
  this.timeout(30_000);
  let f: Fixture;
  beforeEach(async () => {
    f = await startFixture();
  });
  afterEach(async () => f.close());

  it("creates, retrieves and lists prices by lookup key; a lookup key is unique unless transferred", async () => {
    const p = await monthlyPrice(f);
    expect([p.type, p.recurring?.interval, p.unit_amount, p.currency]).to.deep.equal(["recurring", "month", 4900, "eur"]);
    expect((await f.stripe.prices.retrieve(p.id)).product).to.match(/^prod_/);
    expect((await f.stripe.prices.list({ lookup_keys: ["monthly-4900"] })).data.map((x) => x.id)).to.deep.equal([p.id]);
    const dup = await f.stripe.prices.create({ currency: "eur", unit_amount: 1, recurring: { interval: "month" }, product: p.product as string, lookup_key: "monthly-4900" }).catch((e: Stripe.errors.StripeError) => e);
    expect((dup as Stripe.errors.StripeError).param).to.equal("lookup_key");
    const moved = await f.stripe.prices.create({ currency: "eur", unit_amount: 5900, recurring: { interval: "month" }, product: p.product as string, lookup_key: "monthly-4900", transfer_lookup_key: true });
    expect((await f.stripe.prices.list({ lookup_keys: ["monthly-4900"] })).data.map((x) => x.id)).to.deep.equal([moved.id]);
    const bad = await f.stripe.prices.create({ currency: "eur", unit_amount: 100, product: "prod_nope" }).catch((e: Stripe.errors.StripeError) => e);
    expect((bad as Stripe.errors.StripeError).param).to.equal("product");
  });

  it("a subscription Checkout paid with 4242 creates the customer, an active subscription and its paid invoice, and sends the webhooks", async () => {
    const price = await monthlyPrice(f);
    const { cs, page } = await buyOnPage(f, price);
    expect(page.status).to.equal(303);
    expect(String(page.headers.location)).to.equal(`https://cloud.example/permits/ok?cs=${cs.id}`);
    const done = await f.stripe.checkout.sessions.retrieve(cs.id);
    expect([done.status, done.mode, done.payment_status]).to.deep.equal(["complete", "subscription", "paid"]);
    const sub = await f.stripe.subscriptions.retrieve(done.subscription as string);
    expect([sub.status, sub.customer, sub.metadata.permit_id]).to.deep.equal(["active", done.customer, "pmt_1"]);
    const item = sub.items.data[0];
    expect(item.current_period_end - item.current_period_start).to.be.within(28 * DAY, 31 * DAY);
    const invoices = await f.stripe.invoices.list({ subscription: sub.id });
    expect(invoices.data.map((i) => [i.status, i.amount_paid, i.billing_reason])).to.deep.equal([["paid", 4900, "subscription_create"]]);
    await f.emu.whenWebhooksIdle();
    const types = typesReceived(f);
    for (const t of ["checkout.session.completed", "customer.subscription.created", "invoice.paid", "invoice.payment_succeeded"]) expect(types).to.include(t);
    const completed = f.receiver.received.find((r) => r.event.type === "checkout.session.completed")?.event.data.object as Stripe.Checkout.Session;
    expect([completed.subscription, completed.customer]).to.deep.equal([sub.id, done.customer]);
  });

  it("a declined card on the subscription page creates no subscription; a one-time price is refused by name", async () => {
    const price = await monthlyPrice(f);
    const { cs, page } = await buyOnPage(f, price, "4000000000000002");
    expect(page.status).to.equal(402);
    expect((await f.stripe.checkout.sessions.retrieve(cs.id)).status).to.equal("open");
    expect((await f.stripe.subscriptions.list()).data).to.have.length(0);
    const oneTime = await f.stripe.prices.create({ currency: "eur", unit_amount: 500, product_data: { name: "Ticket" } });
    const e = await f.stripe.checkout.sessions.create({ mode: "subscription", line_items: [{ price: oneTime.id, quantity: 1 }], success_url: "https://x.example/ok" }).catch((err: Stripe.errors.StripeError) => err);
    expect((e as Stripe.errors.StripeError).param).to.equal("line_items[0][price]");
  });

  it("the clock advances a month: the renewal is charged (invoice.paid, period moves on)", async () => {
    const price = await monthlyPrice(f);
    const { cs } = await buyOnPage(f, price);
    const subId = (await f.stripe.checkout.sessions.retrieve(cs.id)).subscription as string;
    const before = (await f.stripe.subscriptions.retrieve(subId)).items.data[0];
    const r = await f.emu.advanceClock(31 * DAY);
    expect(r.ran).to.equal(1);
    const after = await f.stripe.subscriptions.retrieve(subId);
    expect(after.status).to.equal("active");
    expect(after.items.data[0].current_period_start).to.equal(before.current_period_end);
    const invoices = await f.stripe.invoices.list({ subscription: subId });
    expect(invoices.data.map((i) => [i.billing_reason, i.status])).to.deep.equal([["subscription_cycle", "paid"], ["subscription_create", "paid"]]);
  });

  it("a card that fails on renewal: past_due, retried, then canceled after the last attempt; the portal's new card would have saved it", async () => {
    const price = await monthlyPrice(f);
    const { cs } = await buyOnPage(f, price);
    const done = await f.stripe.checkout.sessions.retrieve(cs.id);
    const customer = done.customer as string;
    const failing = await f.stripe.paymentMethods.attach("pm_card_chargeCustomerFail", { customer });
    await f.stripe.customers.update(customer, { invoice_settings: { default_payment_method: failing.id } });
    await f.emu.advanceClock(31 * DAY);
    const sub = await f.stripe.subscriptions.retrieve(done.subscription as string);
    expect(sub.status).to.equal("past_due");
    const [open] = (await f.stripe.invoices.list({ subscription: sub.id, status: "open" })).data;
    expect([open.attempt_count, open.next_payment_attempt !== null]).to.deep.equal([1, true]);
    await f.emu.whenWebhooksIdle();
    const updated = f.receiver.received.filter((x) => x.event.type === "customer.subscription.updated").map((x) => x.event.data);
    expect(updated.some((d) => (d.object as Stripe.Subscription).status === "past_due" && (d.previous_attributes as { status?: string } | undefined)?.status === "active")).to.equal(true);
    expect(typesReceived(f)).to.include("invoice.payment_failed");
    await f.emu.advanceClock(20 * DAY); // three more attempts, every 3 days
    const ended = await f.stripe.subscriptions.retrieve(sub.id);
    expect([ended.status, ended.cancellation_details?.reason]).to.deep.equal(["canceled", "payment_failed"]);
    expect((await f.stripe.invoices.retrieve(open.id)).status).to.equal("void");
    await f.emu.whenWebhooksIdle();
    expect(typesReceived(f)).to.include("customer.subscription.deleted");
  });

  it("a past_due subscription recovers when the portal's new card is charged at the retry; the portal cancels", async () => {
    const price = await monthlyPrice(f);
    const { cs } = await buyOnPage(f, price);
    const done = await f.stripe.checkout.sessions.retrieve(cs.id);
    const customer = done.customer as string;
    const failing = await f.stripe.paymentMethods.attach("pm_card_chargeCustomerFail", { customer });
    await f.stripe.customers.update(customer, { invoice_settings: { default_payment_method: failing.id } });
    await f.emu.advanceClock(31 * DAY);
    expect((await f.stripe.subscriptions.retrieve(done.subscription as string)).status).to.equal("past_due");
    const portal = await f.stripe.billingPortal.sessions.create({ customer, return_url: "https://cloud.example/permits" });
    const page = await http(portal.url);
    expect(page.body).to.include(done.subscription as string);
    const saved = await http(portal.url, { body: form({ action: "card", card_number: "4242424242424242", exp: futureExpiry(), cvc: "123", locale: "en" }) });
    expect(saved.status).to.equal(200);
    await f.emu.advanceClock(3 * DAY);
    expect((await f.stripe.subscriptions.retrieve(done.subscription as string)).status).to.equal("active");
    await http(portal.url, { body: form({ action: "cancel", subscription: done.subscription as string, locale: "fr" }) });
    expect((await f.stripe.subscriptions.retrieve(done.subscription as string)).status).to.equal("canceled");
  });

  it("subscriptions by API: create on a customer's card, cancel_at_period_end then canceled at period end; DELETE cancels at once", async () => {
    const price = await monthlyPrice(f);
    const c = await f.stripe.customers.create({ payment_method: "pm_card_visa" });
    const [pm] = (await f.stripe.customers.listPaymentMethods(c.id)).data;
    await f.stripe.customers.update(c.id, { invoice_settings: { default_payment_method: pm.id } });
    const a = await f.stripe.subscriptions.create({ customer: c.id, items: [{ price: price.id }] });
    expect(a.status).to.equal("active");
    const u = await f.stripe.subscriptions.update(a.id, { cancel_at_period_end: true });
    expect(u.cancel_at).to.equal(u.items.data[0].current_period_end);
    await f.emu.advanceClock(32 * DAY);
    expect((await f.stripe.subscriptions.retrieve(a.id)).status).to.equal("canceled");
    const b = await f.stripe.subscriptions.create({ customer: c.id, items: [{ price: price.id }] });
    const canceled = await f.stripe.subscriptions.cancel(b.id);
    expect(canceled.status).to.equal("canceled");
    const again = await f.stripe.subscriptions.cancel(b.id).catch((e: Stripe.errors.StripeError) => e);
    expect((again as Stripe.errors.StripeError).statusCode).to.equal(400);
    expect((await f.stripe.subscriptions.list({ customer: c.id, status: "all" })).data).to.have.length(2);
    expect((await f.stripe.subscriptions.list({ customer: c.id })).data).to.have.length(0);
  });

  it("the clock control refuses a bad value by name and needs the key", async () => {
    const noKey = await http(`${f.emu.url}/emulator/clock/advance`, { body: "seconds=10" });
    expect(noKey.status).to.equal(401);
    const bad = await http(`${f.emu.url}/emulator/clock/advance`, { body: "seconds=-1", headers: { Authorization: `Bearer ${TEST_KEY}` } });
    expect(bad.status).to.equal(400);
    expect(bad.body).to.include("seconds");
    const ok = await http(`${f.emu.url}/emulator/clock/advance`, { body: "seconds=60", headers: { Authorization: `Bearer ${TEST_KEY}` } });
    expect(ok.status).to.equal(200);
  });
});

describe("Stripe test emulator: subscriptions kept across a restart", function () {
  this.timeout(30_000);
  it("prices, subscriptions, invoices and the clock's lead survive a restart; the renewal runs after it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "syspark-emu-subs-"));
    try {
      const a = await createStripeEmulator({ stateDir: dir, logger: silentLogger });
      const sa = new Stripe(TEST_KEY, { ...a.clientConfig, maxNetworkRetries: 0 });
      const price = await sa.prices.create({ currency: "eur", unit_amount: 4900, recurring: { interval: "month" }, product_data: { name: "M" } });
      const c = await sa.customers.create({ payment_method: "pm_card_visa" });
      const [pm] = (await sa.customers.listPaymentMethods(c.id)).data;
      await sa.customers.update(c.id, { invoice_settings: { default_payment_method: pm.id } });
      const sub = await sa.subscriptions.create({ customer: c.id, items: [{ price: price.id }] });
      await a.advanceClock(10 * DAY);
      await a.close();

      const b = await createStripeEmulator({ stateDir: dir, logger: silentLogger });
      try {
        const sb = new Stripe(TEST_KEY, { ...b.clientConfig, maxNetworkRetries: 0 });
        expect((await sb.prices.retrieve(price.id)).unit_amount).to.equal(4900);
        expect((await sb.subscriptions.retrieve(sub.id)).status).to.equal("active");
        expect(b.state.clockOffsetMs).to.equal(10 * DAY * 1000);
        const r = await b.advanceClock(21 * DAY); // 31 days after the start: one renewal
        expect(r.ran).to.equal(1);
        expect((await sb.invoices.list({ subscription: sub.id })).data.map((i) => i.billing_reason)).to.deep.equal(["subscription_cycle", "subscription_create"]);
      } finally {
        await b.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
