/**
 * The emulator's state survives a restart on the same state directory (issue 13 item 2): a
 * PaymentIntent created before is retrieved and confirmed after, idempotency keys still replay,
 * webhooks still owed are delivered with a signature that verifies with the same secret — also
 * after a SIGKILL of a `syspark stripe-emulator --state-dir` process. A corrupt state file is
 * refused with its path, never silently reset.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import Stripe from "stripe";
import { createStripeEmulator, type StripeEmulator } from "../../stripe-emulator";
import { silentLogger } from "../../host/log";
import { spawnEmulator, type EmulatorProcess } from "../cloud/server/emulator-process";
import { SECRET, TEST_KEY, startReceiver, type Receiver } from "./helpers";

const CARD_ONLY = { payment_method_types: ["card"] };

describe("Stripe test emulator: state kept across restarts (--state-dir)", function () {
  this.timeout(60_000);
  let dir: string;
  const open: StripeEmulator[] = [];
  let receiver: Receiver | undefined;
  let child: EmulatorProcess | undefined;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "syspark-emu-state-"));
  });
  afterEach(async () => {
    for (const e of open.splice(0)) await e.close();
    await receiver?.close();
    receiver = undefined;
    await child?.stop();
    child = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  const start = async (extra: Partial<Parameters<typeof createStripeEmulator>[0]> = {}) => {
    const emu = await createStripeEmulator({ stateDir: dir, logger: silentLogger, webhookRetry: { maxAttempts: 1, initialDelayMs: 5, maxDelayMs: 5, timeoutMs: 2000 }, ...extra });
    open.push(emu);
    return { emu, stripe: new Stripe(TEST_KEY, { ...emu.clientConfig, maxNetworkRetries: 0 }) };
  };
  /** A promise's rejection (or undefined when it started: then it is closed with the others). */
  const refusal = (p: Promise<StripeEmulator>): Promise<Error | undefined> => p.then((e) => (open.push(e), undefined), (e: Error) => e);
  const stop = async (emu: StripeEmulator) => {
    open.splice(open.indexOf(emu), 1);
    await emu.close();
  };

  it("retrieves and confirms after a restart a PaymentIntent created before; the idempotency key replays the same one; secret kept", async () => {
    const a = await start();
    const pi = await a.stripe.paymentIntents.create({ amount: 450, currency: "eur", ...CARD_ONLY, metadata: { session_id: "s1" } }, { idempotencyKey: "pi:s1:1" });
    const cs = await a.stripe.checkout.sessions.create({ mode: "payment", success_url: "http://x.test/ok", cancel_url: "http://x.test/no", line_items: [{ quantity: 1, price_data: { currency: "eur", unit_amount: 300, product_data: { name: "Parking" } } }] }, { idempotencyKey: "cs:s1:1" });
    const secret = a.emu.webhookSecret;
    expect(secret).to.match(/^whsec_/);
    await stop(a.emu);

    const b = await start();
    expect(b.emu.webhookSecret).to.equal(secret);
    const again = await b.stripe.paymentIntents.retrieve(pi.id);
    expect([again.id, again.amount, again.status, again.client_secret, again.metadata.session_id]).to.deep.equal([pi.id, 450, "requires_payment_method", pi.client_secret, "s1"]);
    const replay = await b.stripe.paymentIntents.create({ amount: 450, currency: "eur", ...CARD_ONLY, metadata: { session_id: "s1" } }, { idempotencyKey: "pi:s1:1" });
    expect(replay.id).to.equal(pi.id);
    expect(replay.lastResponse.headers["idempotent-replayed"]).to.equal("true");
    const paid = await b.stripe.paymentIntents.confirm(pi.id, { payment_method: "pm_card_visa" });
    expect(paid.status).to.equal("succeeded");
    expect((await b.stripe.checkout.sessions.retrieve(cs.id)).id).to.equal(cs.id);
    const types = (await b.stripe.events.list({ limit: 100 })).data.map((e) => e.type);
    expect(types).to.include.members(["payment_intent.created", "payment_intent.succeeded"]);
    // The card page handed out before the restart still works.
    const page = await fetch(b.emu.payUrl(pi.client_secret as string));
    expect(page.status).to.equal(409); // already paid: the page says so
  });

  it("a PaymentIntent left processing when it stopped succeeds once after the restart: resumed from the journal, never charged twice", async () => {
    // Long processing: the emulator stops while the payment is still processing (journal only).
    const a = await start({ processingMs: 60_000 });
    const pi = await a.stripe.paymentIntents.create({ amount: 450, currency: "eur", ...CARD_ONLY }, { idempotencyKey: "pi:proc:1" });
    const processing = await a.stripe.paymentIntents.confirm(pi.id, { payment_method: "pm_card_visa" });
    expect(processing.status).to.equal("processing");
    await stop(a.emu);

    const b = await start({ processingMs: 50 });
    const end = Date.now() + 5000;
    let now = await b.stripe.paymentIntents.retrieve(pi.id);
    while (now.status === "processing" && Date.now() < end) {
      await new Promise((r) => setTimeout(r, 50));
      now = await b.stripe.paymentIntents.retrieve(pi.id);
    }
    expect(now.status, "resumed after the restart").to.equal("succeeded");
    await new Promise((r) => setTimeout(r, 300));
    const charges = (await b.stripe.charges.list({ payment_intent: pi.id, limit: 10 })).data;
    expect(charges.map((c) => c.status), "one charge").to.deep.equal(["succeeded"]);
    const succeeded = (await b.stripe.events.list({ limit: 100 })).data.filter((e) => e.type === "payment_intent.succeeded");
    expect(succeeded, "one payment_intent.succeeded").to.have.length(1);
  });

  it("delivers after a restart the webhooks it still owed, signed with the same secret (they verify)", async () => {
    receiver = await startReceiver(SECRET);
    receiver.respond = () => 500; // the cloud is down
    const a = await start({ webhookSecret: SECRET, webhookUrl: receiver.url });
    const pi = await a.stripe.paymentIntents.create({ amount: 300, currency: "eur", ...CARD_ONLY, payment_method: "pm_card_visa", confirm: true });
    await a.emu.whenWebhooksIdle(10_000);
    expect(receiver.received.filter((r) => r.status === 500).length).to.be.greaterThan(0);
    await stop(a.emu);

    receiver.respond = () => 200; // the cloud is back
    const b = await start({ webhookUrl: receiver.url }); // no secret given: the one it kept
    expect(b.emu.webhookSecret).to.equal(SECRET);
    await b.emu.whenWebhooksIdle(10_000);
    const ok = receiver.received.filter((r) => r.status === 200).map((r) => r.event.type);
    expect(ok).to.include("payment_intent.succeeded");
    expect(receiver.rejected).to.deep.equal([]);
    const succeeded = receiver.received.find((r) => r.status === 200 && r.event.type === "payment_intent.succeeded");
    expect((succeeded?.event.data.object as { id: string }).id).to.equal(pi.id);
    expect((await b.stripe.events.list({ delivery_success: false })).data.length).to.equal(0);
  });

  it("refuses a corrupt or foreign state file with its path and the reason, and leaves it as it is", async () => {
    const file = join(dir, "state.json");
    writeFileSync(file, '{"format":"syspark-stripe-emulator-state","version":1,"webhookSecret":"whsec_x","apiKey":null,"state":{"paymentIntents":[');
    let err = await refusal(createStripeEmulator({ stateDir: dir, logger: silentLogger }));
    expect(err?.message).to.contain(file);
    expect(err?.message).to.match(/not valid JSON/);
    expect(err?.message).to.match(/Nothing was reset/);
    expect(readFileSync(file, "utf8")).to.match(/paymentIntents":\[$/);
    writeFileSync(file, JSON.stringify({ format: "something-else", version: 1 }));
    err = await refusal(createStripeEmulator({ stateDir: dir, logger: silentLogger }));
    expect(err?.message).to.match(new RegExp(`${file.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")} is not usable: "format"`));
    // And a second emulator on a directory in use is refused, not allowed to overwrite it.
    rmSync(file);
    await start();
    err = await refusal(createStripeEmulator({ stateDir: dir, logger: silentLogger }));
    expect(err?.message).to.match(/is already open in this process|in use by process/);
  });

  it("replays its journal over the snapshot; a last line a crash cut short is ignored, a bad line before it refused with its number", async () => {
    const a = await start();
    const pi = await a.stripe.paymentIntents.create({ amount: 610, currency: "eur", ...CARD_ONLY });
    await a.stripe.paymentIntents.confirm(pi.id, { payment_method: "pm_card_visa" });
    await stop(a.emu);
    const journal = join(dir, "state.journal");
    // The last request's line, cut short by a crash before it was answered.
    writeFileSync(journal, readFileSync(journal, "utf8") + '{"k":"pi","v":{"pi":{"id":"pi_torn"');
    const b = await start();
    expect((await b.stripe.paymentIntents.retrieve(pi.id)).status).to.equal("succeeded");
    await b.stripe.paymentIntents.create({ amount: 620, currency: "eur", ...CARD_ONLY }); // a line in the journal again
    await stop(b.emu);
    writeFileSync(journal, 'not json\n' + readFileSync(journal, "utf8"));
    const err = await refusal(createStripeEmulator({ stateDir: dir, logger: silentLogger }));
    expect(err?.message).to.contain(journal);
    expect(err?.message).to.match(/line 1 is not valid JSON/);
  });

  it("a `syspark stripe-emulator --state-dir` killed with SIGKILL restarts with its PaymentIntents (and its port)", async () => {
    const args = ["--port", "0", "--api-key", TEST_KEY, "--state-dir", dir];
    child = await spawnEmulator(args);
    const url = new URL(child.url);
    const stripe = () => new Stripe(TEST_KEY, { host: url.hostname, port: Number(url.port), protocol: "http", maxNetworkRetries: 0 });
    const created = await Promise.all(Array.from({ length: 20 }, (_, i) => stripe().paymentIntents.create({ amount: 200 + i, currency: "eur", ...CARD_ONLY }, { idempotencyKey: `k${i}` })));
    await child.stop(); // SIGKILL: no shutdown hook ran
    child = await spawnEmulator(args);
    expect(child.url).to.equal(url.origin); // the port it had, so open card pages still lead to it
    for (const pi of created) expect((await stripe().paymentIntents.retrieve(pi.id)).amount).to.equal(pi.amount);
    const paid = await stripe().paymentIntents.confirm(created[0].id, { payment_method: "pm_card_visa" });
    expect(paid.status).to.equal("succeeded");
  });
});
