/**
 * Customers and attached PaymentMethods, through the real `stripe` client: what saved cards and
 * subscriptions hang on. Kept across a restart like every other object (the collections table).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import Stripe from "stripe";
import { createStripeEmulator } from "../../stripe-emulator";
import { silentLogger } from "../../host/log";
import { startFixture, TEST_KEY, typesFor, type Fixture } from "./helpers";

const refusal = (p: Promise<unknown>): Promise<Stripe.errors.StripeError> => p.then(
  () => {
    throw new Error("expected the emulator to refuse");
  },
  (e: Stripe.errors.StripeError) => e,
);

describe("Stripe test emulator: Customers and attached cards", function () {
  this.timeout(30_000);
  let f: Fixture;
  beforeEach(async () => {
    f = await startFixture();
  });
  afterEach(async () => f.close());

  it("creates, retrieves, updates and lists a customer; a card attaches once and becomes the default", async () => {
    const c = await f.stripe.customers.create({ email: "driver@example.test", name: "A Driver", metadata: { plate: "AB123CD" } });
    expect(c.id).to.match(/^cus_/);
    const pm = await f.stripe.paymentMethods.attach("pm_card_visa", { customer: c.id });
    expect(pm.customer).to.equal(c.id);
    const updated = await f.stripe.customers.update(c.id, { invoice_settings: { default_payment_method: pm.id }, metadata: { site: "paris-centre" } });
    expect(updated.invoice_settings.default_payment_method).to.equal(pm.id);
    expect(updated.metadata).to.deep.equal({ plate: "AB123CD", site: "paris-centre" });
    expect((await f.stripe.customers.retrieve(c.id)).id).to.equal(c.id);
    expect((await f.stripe.customers.list({ email: "driver@example.test" })).data.map((x) => x.id)).to.deep.equal([c.id]);
    expect((await f.stripe.customers.listPaymentMethods(c.id)).data.map((x) => x.id)).to.deep.equal([pm.id]);

    const other = await f.stripe.customers.create({});
    const e = await refusal(f.stripe.paymentMethods.attach(pm.id, { customer: other.id }));
    expect(e.code).to.equal("payment_method_unexpected_state");
    const unattached = await f.stripe.paymentMethods.attach("pm_card_visa", { customer: other.id });
    const notMine = await refusal(f.stripe.customers.update(c.id, { invoice_settings: { default_payment_method: unattached.id } }));
    expect(notMine.param).to.equal("invoice_settings[default_payment_method]");
  });

  it("detaching clears the default and the card cannot be attached again; unknown ids are 404 naming the parameter", async () => {
    const c = await f.stripe.customers.create({ payment_method: "pm_card_visa" });
    const [pm] = (await f.stripe.customers.listPaymentMethods(c.id)).data;
    await f.stripe.customers.update(c.id, { invoice_settings: { default_payment_method: pm.id } });
    await f.stripe.paymentMethods.detach(pm.id);
    expect((await f.stripe.customers.retrieve(c.id) as Stripe.Customer).invoice_settings.default_payment_method).to.equal(null);
    const again = await refusal(f.stripe.paymentMethods.attach(pm.id, { customer: c.id }));
    expect(again.code).to.equal("payment_method_unexpected_state");
    const missing = await refusal(f.stripe.customers.retrieve("cus_missing"));
    expect([missing.statusCode, missing.code]).to.deep.equal([404, "resource_missing"]);
    const bad = await refusal(f.stripe.customers.create({ email: "x".repeat(600) }));
    expect(bad.param).to.equal("email");
    // Webhooks are delivered after the answer: wait for both (the mocha timeout bounds it).
    while (!["customer.created", "customer.updated"].every((t) => typesFor(f.receiver, c.id).includes(t))) await new Promise((r) => setTimeout(r, 10));
  });

  it("a customer and its card survive a restart of an emulator with a state directory", async () => {
    const dir = mkdtempSync(join(tmpdir(), "syspark-emu-cus-"));
    try {
      const a = await createStripeEmulator({ stateDir: dir, logger: silentLogger });
      const sa = new Stripe(TEST_KEY, { ...a.clientConfig, maxNetworkRetries: 0 });
      const c = await sa.customers.create({ email: "kept@example.test", payment_method: "pm_card_visa" });
      await a.close();
      const b = await createStripeEmulator({ stateDir: dir, logger: silentLogger });
      try {
        const sb = new Stripe(TEST_KEY, { ...b.clientConfig, maxNetworkRetries: 0 });
        expect(((await sb.customers.retrieve(c.id)) as Stripe.Customer).email).to.equal("kept@example.test");
        expect((await sb.customers.listPaymentMethods(c.id)).data).to.have.length(1);
      } finally {
        await b.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
