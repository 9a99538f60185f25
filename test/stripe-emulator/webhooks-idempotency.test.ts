/**
 * Webhook delivery (signatures verified by stripe.webhooks.constructEvent, retries with
 * backoff, per-object ordering, resend for replay tests) and Idempotency-Key handling.
 */
import { randomUUID } from "node:crypto";
import { createServer } from "node:net";
import { expect } from "chai";
import Stripe from "stripe";
import { signPayload } from "../../stripe-emulator";
import { SECRET, TEST_KEY, http, startFixture, typesFor, type Fixture } from "./helpers";

const CARD_ONLY = { payment_method_types: ["card"] };

describe("stripe emulator: webhooks", () => {
  let f: Fixture;
  afterEach(async () => {
    await f.close();
  });

  it("signs every delivery exactly as Stripe does (t=…,v1=HMAC-SHA256 of `${t}.${payload}`)", async () => {
    f = await startFixture();
    await f.stripe.paymentIntents.create({ amount: 500, currency: "eur", payment_method: "pm_card_visa", confirm: true, ...CARD_ONLY });
    await f.emu.whenWebhooksIdle();
    expect(f.receiver.rejected).to.deep.equal([]);
    expect(f.receiver.received.length).to.be.greaterThan(0);
    for (const r of f.receiver.received) {
      const t = Number(/^t=(\d+),/.exec(r.signature)?.[1]);
      expect(r.signature).to.equal(signPayload(r.raw, SECRET, t));
      expect(r.event.object).to.equal("event");
      expect(r.event.id).to.match(/^evt_/);
      expect(r.event.livemode).to.equal(false);
      expect(r.event.api_version).to.equal(Stripe.API_VERSION);
      // A receiver with another secret rejects it.
      expect(() => f.stripe.webhooks.constructEvent(r.raw, r.signature, "whsec_other")).to.throw(Stripe.errors.StripeSignatureVerificationError);
    }
    const created = f.receiver.received.find((r) => r.event.type === "payment_intent.created");
    expect(created?.event.request?.idempotency_key).to.match(/^stripe-node-retry-/);
  });

  it("retries after a 500 with backoff, then delivers; later events of the same object wait their turn", async () => {
    f = await startFixture();
    f.receiver.respond = (event, n) => (event.type === "payment_intent.created" && n <= 2 ? 500 : 200);
    const pi = await f.stripe.paymentIntents.create({ amount: 500, currency: "eur", payment_method: "pm_card_visa", confirm: true, ...CARD_ONLY });
    await f.emu.whenWebhooksIdle();
    const attempts = f.receiver.received.filter((r) => r.event.type === "payment_intent.created").map((r) => r.status);
    expect(attempts).to.deep.equal([500, 500, 200]);
    expect(typesFor(f.receiver, pi.id)).to.deep.equal(["payment_intent.created", "payment_intent.succeeded"]);
    // charge.succeeded belongs to the same PaymentIntent lane: it arrived after the created event went through.
    const order = f.receiver.received.map((r) => `${r.event.type}:${r.status}`);
    expect(order.indexOf("charge.succeeded:200")).to.be.greaterThan(order.indexOf("payment_intent.created:200"));
    const record = f.emu.deliveries().find((d) => d.type === "payment_intent.created");
    expect(record?.state).to.equal("delivered");
    expect(record?.attempts.map((a) => a.status)).to.deep.equal([500, 500, 200]);
    const event = await f.stripe.events.retrieve(record?.eventId as string);
    expect(event.pending_webhooks).to.equal(0);
  });

  it("gives up after the configured number of attempts on a dead endpoint, and records why", async () => {
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
    const port = (probe.address() as { port: number }).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    f = await startFixture({ webhookRetry: { maxAttempts: 3, initialDelayMs: 2, maxDelayMs: 10, timeoutMs: 500 } });
    f.emu.setWebhookUrl(`http://127.0.0.1:${port}/webhooks/stripe`);
    await f.stripe.paymentIntents.create({ amount: 500, currency: "eur", ...CARD_ONLY });
    await f.emu.whenWebhooksIdle();
    const [record] = f.emu.deliveries();
    expect(record.state).to.equal("failed");
    expect(record.attempts).to.have.length(3);
    expect(record.attempts.every((a) => a.status === null && /ECONNREFUSED/.test(a.error ?? ""))).to.equal(true);
  });

  it("delivers the events of one object in order even when several objects interleave", async () => {
    f = await startFixture();
    const pis = await Promise.all([0, 1, 2].map((i) => f.stripe.paymentIntents.create({ amount: 500 + i, currency: "eur", ...CARD_ONLY })));
    f.receiver.respond = (event, n) => (event.type === "payment_intent.payment_failed" && n === 1 ? 503 : 200);
    for (const pi of pis) {
      await f.stripe.paymentIntents.confirm(pi.id, { payment_method: "pm_card_chargeDeclined" }).catch(() => undefined);
      await f.stripe.paymentIntents.confirm(pi.id, { payment_method: "pm_card_visa" });
    }
    await f.emu.whenWebhooksIdle();
    for (const pi of pis) {
      expect(typesFor(f.receiver, pi.id)).to.deep.equal(["payment_intent.created", "payment_intent.payment_failed", "payment_intent.succeeded"]);
    }
  });

  it("resendEvent delivers the same event id again with a fresh valid signature (for replay tests)", async () => {
    f = await startFixture();
    const pi = await f.stripe.paymentIntents.create({ amount: 500, currency: "eur", payment_method: "pm_card_visa", confirm: true, ...CARD_ONLY });
    await f.emu.whenWebhooksIdle();
    const succeeded = f.receiver.received.find((r) => r.event.type === "payment_intent.succeeded");
    const eventId = succeeded?.event.id as string;
    for (let i = 0; i < 3; i++) {
      const record = await f.emu.resendEvent(eventId);
      expect(record.state).to.equal("delivered");
      expect(record.resend).to.equal(true);
    }
    const copies = f.receiver.received.filter((r) => r.event.id === eventId);
    expect(copies).to.have.length(4);
    expect(new Set(copies.map((c) => c.raw)).size).to.equal(1); // same body
    expect((copies[3].event.data.object as Stripe.PaymentIntent).id).to.equal(pi.id);
    // Over HTTP too (the CLI-run emulator), authenticated with a test key.
    const res = await http(`${f.emu.url}/emulator/events/${eventId}/resend`, { body: "", headers: { Authorization: `Bearer ${TEST_KEY}` } });
    expect(res.status).to.equal(200);
    expect(JSON.parse(res.body)).to.include({ eventId, state: "delivered" });
    const anon = await http(`${f.emu.url}/emulator/events/${eventId}/resend`, { body: "" });
    expect(anon.status).to.equal(401);
  });

  it("waitForDelivery resolves for past and future deliveries", async () => {
    f = await startFixture();
    const future = f.emu.waitForDelivery((d) => d.type === "payment_intent.succeeded", 5000);
    await f.stripe.paymentIntents.create({ amount: 500, currency: "eur", payment_method: "pm_card_visa", confirm: true, ...CARD_ONLY });
    expect((await future).state).to.equal("delivered");
    const past = await f.emu.waitForDelivery((d) => d.type === "payment_intent.created", 100);
    expect(past.state).to.equal("delivered");
  });

  it("events can be listed (filtered by type) and retrieved", async () => {
    f = await startFixture();
    const pi = await f.stripe.paymentIntents.create({ amount: 500, currency: "eur", payment_method: "pm_card_visa", confirm: true, ...CARD_ONLY });
    const list = await f.stripe.events.list({ type: "payment_intent.succeeded" });
    expect(list.data).to.have.length(1);
    expect((list.data[0].data.object as Stripe.PaymentIntent).id).to.equal(pi.id);
    const wildcard = await f.stripe.events.list({ type: "payment_intent.*" });
    expect(wildcard.data.map((e) => e.type)).to.deep.equal(["payment_intent.succeeded", "payment_intent.created"]);
    const one = await f.stripe.events.retrieve(list.data[0].id);
    expect(one.type).to.equal("payment_intent.succeeded");
  });
});

describe("stripe emulator: idempotency", () => {
  let f: Fixture;
  beforeEach(async () => {
    f = await startFixture();
  });
  afterEach(async () => {
    await f.close();
  });

  it("the same key and parameters replay the first answer (Idempotent-Replayed: true) and act once", async () => {
    const key = `pi:session-${randomUUID()}`;
    const params = { amount: 1200, currency: "eur", metadata: { session_id: "s-9" }, ...CARD_ONLY };
    const first = await f.stripe.paymentIntents.create(params, { idempotencyKey: key });
    const second = await f.stripe.paymentIntents.create(params, { idempotencyKey: key });
    expect(second.id).to.equal(first.id);
    expect(second.lastResponse.headers["idempotent-replayed"]).to.equal("true");
    expect(first.lastResponse.headers["idempotent-replayed"]).to.equal(undefined);
    expect(second.lastResponse.requestId).not.to.equal(first.lastResponse.requestId);
    expect(f.emu.state.listPaymentIntents()).to.have.length(1);
    await f.emu.whenWebhooksIdle();
    expect(f.receiver.received.filter((r) => r.event.type === "payment_intent.created")).to.have.length(1);
  });

  it("the same key with other parameters is a 400 idempotency_error", async () => {
    const key = randomUUID();
    await f.stripe.paymentIntents.create({ amount: 1200, currency: "eur", ...CARD_ONLY }, { idempotencyKey: key });
    let err: unknown;
    try {
      await f.stripe.paymentIntents.create({ amount: 1300, currency: "eur", ...CARD_ONLY }, { idempotencyKey: key });
    } catch (e) {
      err = e;
    }
    expect(err).to.be.instanceOf(Stripe.errors.StripeIdempotencyError);
    expect((err as Stripe.errors.StripeError).statusCode).to.equal(400);
    expect((err as Stripe.errors.StripeError).message).to.contain("same parameters");
  });

  it("a card decline is replayed too (the endpoint ran), a parameter error is not saved", async () => {
    const key = randomUUID();
    const params = { amount: 1200, currency: "eur", payment_method: "pm_card_chargeDeclined", confirm: true, ...CARD_ONLY };
    const a = await f.stripe.paymentIntents.create(params, { idempotencyKey: key }).catch((e: Stripe.errors.StripeCardError) => e);
    const b = await f.stripe.paymentIntents.create(params, { idempotencyKey: key }).catch((e: Stripe.errors.StripeCardError) => e);
    expect(a).to.be.instanceOf(Stripe.errors.StripeCardError);
    expect(b).to.be.instanceOf(Stripe.errors.StripeCardError);
    expect((b as Stripe.errors.StripeCardError).payment_intent?.id).to.equal((a as Stripe.errors.StripeCardError).payment_intent?.id);
    expect((b as Stripe.errors.StripeCardError).headers?.["idempotent-replayed"]).to.equal("true");
    expect(f.emu.state.listPaymentIntents()).to.have.length(1);

    const key2 = randomUUID();
    const bad = await f.stripe.paymentIntents.create({ amount: 10, currency: "eur" }, { idempotencyKey: key2 }).catch((e: Stripe.errors.StripeError) => e);
    expect((bad as Stripe.errors.StripeError).code).to.equal("amount_too_small");
    const fixed = await f.stripe.paymentIntents.create({ amount: 100, currency: "eur", ...CARD_ONLY }, { idempotencyKey: key2 });
    expect(fixed.amount).to.equal(100);
  });

  it("a request repeated with the key the stripe client generated is a replay (what the client's own retries rely on)", async () => {
    // The client keys every POST itself; a retried request with that key is a replay.
    const client = new Stripe(TEST_KEY, { ...f.emu.clientConfig, maxNetworkRetries: 2 });
    const pi = await client.paymentIntents.create({ amount: 700, currency: "eur", ...CARD_ONLY });
    const key = pi.lastResponse.idempotencyKey as string;
    expect(key).to.match(/^stripe-node-retry-/);
    const replay = await client.paymentIntents.create({ amount: 700, currency: "eur", ...CARD_ONLY }, { idempotencyKey: key });
    expect(replay.id).to.equal(pi.id);
  });
});
