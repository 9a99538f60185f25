/**
 * The refund limit of role `operator` (issue 17: "operator — refunds up to a limit"), enforced in
 * the refund flow before anything is recorded: an operator may bring a payment's refunds up to
 * SYSPARK_OPERATOR_REFUND_LIMIT (minor units, default 5000) in all, an admin without limit. A
 * refund allowed through is recorded and then meets a provider out of reach (a real Stripe
 * client pointed at a closed port), which leaves it `requested`: proof it passed the limit.
 */
import { randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import Stripe from "stripe";
import { applyPaymentEvent, attachProviderRef, createEntrySession, createPayment, insertTariff, listRefundsOfSession, openDatabase, priceSession, upsertSite, type Database, type PaymentRow } from "../../../cloud/db/index";
import { HttpError } from "../../../cloud/flows/errors";
import { DEFAULT_OPERATOR_REFUND_LIMIT, operatorRefundLimitFromEnv, requestRefund, type RefundContext } from "../../../cloud/flows/refunds";
import { silentLogger } from "../../../host/log";

const OPERATOR = { username: "op-limit", operatorId: null, role: "operator", via: "api" as const };
const ADMIN = { username: "admin-limit", operatorId: null, role: "admin", via: "api" as const };

describe("refund limit of role operator (SYSPARK_OPERATOR_REFUND_LIMIT)", function () {
  this.timeout(60_000);
  let db: Database;
  let ctx: RefundContext;
  const siteId = `rl-${randomBytes(3).toString("hex")}`;
  let tariffId = 0;

  before(async function () {
    this.timeout(120_000);
    db = await openDatabase({ pgliteTemplateDir: join(tmpdir(), "syspark-test-cache") });
    await upsertSite(db.sql, { siteId, name: "Refund limit", timeZone: "Europe/Paris", currency: "EUR" });
    tariffId = (await insertTariff(db.sql, { siteId, effectiveFrom: new Date(0), document: { test: true } })).tariffId;
    const down = new Stripe("sk_test_down", { host: "127.0.0.1", port: 9, protocol: "http", maxNetworkRetries: 0, timeout: 2000 });
    ctx = { db, stripe: down, auditMode: "inline", logger: silentLogger };
  });
  after(async () => {
    if (db) await db.close();
  });

  /** A session paid `amount` by card (the state machines' path; provider ref pi_…). */
  async function paid(amount: number): Promise<PaymentRow> {
    const ref = `pi_${randomBytes(8).toString("hex")}`;
    return db.tx(async (tx) => {
      const { session } = await createEntrySession(tx, { siteId, identity: { method: "plate", value: `RL${randomBytes(3).toString("hex")}`.toUpperCase() }, entryTs: new Date(Date.now() - 3600_000) });
      await priceSession(tx, { sessionId: session.sessionId, amount, currency: "EUR", tariffId, tariffVersion: 1, breakdown: { lane_id: "L1" }, pricedAt: new Date() });
      const { payment } = await createPayment(tx, { sessionId: session.sessionId, provider: "stripe", idempotencyKey: `k-${ref}` });
      await attachProviderRef(tx, payment.paymentId, ref);
      return (await applyPaymentEvent(tx, ref, "paid", { validatedAt: new Date() })).payment;
    });
  }

  const key = () => `op:limit-${randomBytes(6).toString("hex")}`;
  const refused = async (p: Promise<unknown>): Promise<HttpError> => {
    const err = await p.then(() => undefined, (e: unknown) => e);
    expect(err).to.be.instanceOf(HttpError);
    return err as HttpError;
  };

  it("refuses an operator's refund over the limit (403 naming the amount and the setting), recording nothing", async () => {
    const p = await paid(8000);
    const err = await refused(requestRefund(ctx, { paymentId: p.paymentId, amount: 5001, reason: "over the limit", key: key() }, OPERATOR));
    expect(err.status).to.equal(403);
    expect(err.code).to.equal("refund_limit");
    expect(err.message).to.match(/^body\.amount: role operator may refund at most 5000 EUR .*SYSPARK_OPERATOR_REFUND_LIMIT/);
    expect(await listRefundsOfSession(db.sql, p.sessionId)).to.have.length(0);
    // "What is left" (no amount) is over the limit too.
    expect((await refused(requestRefund(ctx, { paymentId: p.paymentId, reason: "everything", key: key() }, OPERATOR))).status).to.equal(403);
  });

  it("lets an operator refund up to the limit in all on a payment, and an admin beyond it", async () => {
    const p = await paid(8000);
    const first = await requestRefund(ctx, { paymentId: p.paymentId, amount: DEFAULT_OPERATOR_REFUND_LIMIT, reason: "at the limit", key: key() }, OPERATOR);
    expect(first.refund).to.include({ amount: 5000, state: "requested" });
    expect(first.providerUnavailable).to.equal(true);
    // A second small refund would take the payment past the limit: refused before the in-flight rule.
    const err = await refused(requestRefund(ctx, { paymentId: p.paymentId, amount: 1, reason: "one more cent", key: key() }, OPERATOR));
    expect(err.status).to.equal(403);
    expect(err.message).to.match(/5000 already refunded, 1 asked/);
    const q = await paid(8000);
    const admin = await requestRefund(ctx, { paymentId: q.paymentId, amount: 8000, reason: "admin, all of it", key: key() }, ADMIN);
    expect(admin.refund).to.include({ amount: 8000, state: "requested" });
  });

  it("takes the limit from the context (0: operators refund nothing) and from SYSPARK_OPERATOR_REFUND_LIMIT", async () => {
    const p = await paid(500);
    expect((await refused(requestRefund({ ...ctx, operatorRefundLimit: 0 }, { paymentId: p.paymentId, amount: 1, reason: "no refunds", key: key() }, OPERATOR))).status).to.equal(403);
    const ok = await requestRefund({ ...ctx, operatorRefundLimit: 500 }, { paymentId: p.paymentId, amount: 500, reason: "raised limit", key: key() }, OPERATOR);
    expect(ok.refund.amount).to.equal(500);
    expect(operatorRefundLimitFromEnv({})).to.equal(5000);
    expect(operatorRefundLimitFromEnv({ SYSPARK_OPERATOR_REFUND_LIMIT: "12000" })).to.equal(12000);
    expect(operatorRefundLimitFromEnv({ SYSPARK_OPERATOR_REFUND_LIMIT: "0" })).to.equal(0);
    expect(() => operatorRefundLimitFromEnv({ SYSPARK_OPERATOR_REFUND_LIMIT: "50.00" })).to.throw(/^SYSPARK_OPERATOR_REFUND_LIMIT must be a whole number of minor units/);
  });
});
