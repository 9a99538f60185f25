/**
 * Refunds end to end (issue 16), run on PGlite (embedded) and on PostgreSQL + Mosquitto: the
 * operator API (full, partial, over-refund refused naming the field, Idempotency-Key replays),
 * the provider unreachable then retried once, a refund made in Stripe's dashboard reported by
 * webhook, replays and out-of-order events, the late-payment refund, the CLI.
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { expect } from "chai";
import Stripe from "stripe";
import { findAuditEntries, getPayment, listPayments, listRefundsOfSession, refundBacklog } from "../../../cloud/db/index";
import { requestRefund, retryRequestedRefunds } from "../../../cloud/flows/refunds";
import { RefundSweeper } from "../../../cloud/flows/refund-sweeper";
import { silentLogger } from "../../../host/log";
import { SiteClient, login, until, type TestCloud } from "./helpers";
import { Phone } from "./driver";
import { latePaidSession, paidSession, postEvent, pricedSessionWithLink, refundObject } from "./refund-fixtures";

const run = promisify(execFile);

interface Answer {
  refund: { refund_id: string; amount: number; state: string; provider_ref: string | null; reason: string; requested_by: string | null };
  payment: { payment_id: string; amount: number; refunded_amount: number; refund_status: string };
  replayed: boolean;
  error?: string;
}

export function refundSuite(title: string, start: (ctx: Mocha.Context) => Promise<TestCloud>): void {
  describe(title, function () {
    this.timeout(60_000);
    let t: TestCloud;
    let site: SiteClient;
    let token: string;
    const refund = async (body: unknown, key: string | undefined, bearer = token): Promise<{ status: number; body: Answer }> => {
      const r = await fetch(`${t.cloud.url}/api/operator/refunds`, { method: "POST", headers: { Authorization: `Bearer ${bearer}`, "Content-Type": "application/json", ...(key ? { "Idempotency-Key": key } : {}) }, body: JSON.stringify(body) });
      return { status: r.status, body: (await r.json()) as Answer };
    };
    const key = () => `test-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}`;

    before(async function () {
      this.timeout(180_000);
      t = await start(this);
      site = await SiteClient.connect(t.cloud.mqttUrl, t.siteId);
      token = await login(t.cloud.url, t.admin.username, t.admin.password);
    });
    after(async () => {
      await site?.close();
      await t?.close();
    });

    it("refunds part, then the rest (amount as 'x.yy'); the payment stays paid and shows partial then full; audited with operator and reason", async () => {
      const { session, payment, pi } = await paidSession(t, site);
      const part = await refund({ session_id: session.sessionId, amount: 100, reason: "goodwill: barrier slow" }, key());
      expect(part.status, JSON.stringify(part.body)).to.equal(201);
      expect(part.body.refund).to.include({ amount: 100, state: "succeeded", requested_by: t.admin.username });
      expect(part.body.payment).to.include({ refunded_amount: 100, refund_status: "partial" });
      const leftDecimal = ((payment.amount - 100) / 100).toFixed(2);
      const rest = await refund({ payment_id: payment.paymentId, amount: leftDecimal, reason: "driver charged twice" }, key());
      expect(rest.status, JSON.stringify(rest.body)).to.equal(201);
      expect(rest.body.payment).to.include({ refunded_amount: payment.amount, refund_status: "full" });
      const p = await getPayment(t.cloud.db.sql, payment.paymentId);
      expect(p).to.include({ state: "paid", refundedAmount: payment.amount, refundStatus: "full" });
      const charge = (await t.cloud.stripe.charges.list({ payment_intent: pi })).data[0];
      expect(charge).to.include({ amount_refunded: payment.amount, refunded: true });
      const view = (await (await fetch(`${t.cloud.url}/api/operator/sessions/${session.sessionId}/refunds`, { headers: { Authorization: `Bearer ${token}` } })).json()) as { refund_status: string; refunds: unknown[] };
      expect(view.refund_status).to.equal("full");
      expect(view.refunds).to.have.length(2);
      const audit = await findAuditEntries(t.cloud.db.sql, { sessionId: session.sessionId });
      const kinds = audit.map((a) => a.kind).filter((k) => k.startsWith("refund."));
      expect(kinds).to.deep.equal(["refund.requested", "refund.succeeded", "refund.requested", "refund.succeeded"]);
      expect(audit.find((a) => a.kind === "refund.requested")?.payload).to.include({ operator: t.admin.username, reason: "goodwill: barrier slow", amount: 100, via: "api" });
      // The provider's own webhooks for these refunds (refund.created, charge.refunded) change nothing more.
      await t.cloud.emulator?.whenWebhooksIdle(10_000);
      expect((await listRefundsOfSession(t.cloud.db.sql, session.sessionId)).map((r) => r.state)).to.deep.equal(["succeeded", "succeeded"]);
      expect((await findAuditEntries(t.cloud.db.sql, { sessionId: session.sessionId })).filter((a) => a.kind === "refund.succeeded")).to.have.length(2);
    });

    it("a repeated request (same Idempotency-Key) acts once: one Stripe refund, 200 with replayed", async () => {
      const { payment, pi } = await paidSession(t, site);
      const k = key();
      const first = await refund({ payment_id: payment.paymentId, reason: "duplicate charge" }, k);
      expect(first.status).to.equal(201);
      expect(first.body.refund.amount).to.equal(payment.amount);
      const again = await refund({ payment_id: payment.paymentId, reason: "duplicate charge" }, k);
      expect(again.status).to.equal(200);
      expect(again.body.replayed).to.equal(true);
      expect(again.body.refund.refund_id).to.equal(first.body.refund.refund_id);
      expect((await t.cloud.stripe.refunds.list({ payment_intent: pi })).data).to.have.length(1);
      const other = await refund({ payment_id: payment.paymentId, amount: 5, reason: "duplicate charge" }, k);
      expect(other.status).to.equal(409);
    });

    it("refuses an over-refund (400 naming body.amount), a missing Idempotency-Key, a viewer, an unknown field — nothing recorded", async () => {
      const { payment, session } = await paidSession(t, site);
      let r = await refund({ payment_id: payment.paymentId, amount: payment.amount + 1, reason: "too much" }, key());
      expect(r.status).to.equal(400);
      expect(r.body.error).to.match(/^body\.amount: .*exceeds/);
      r = await refund({ payment_id: payment.paymentId, amount: "1.234", reason: "three decimals" }, key());
      expect(r.status).to.equal(400);
      expect(r.body.error).to.match(/^body\.amount/);
      r = await refund({ payment_id: payment.paymentId, reason: "no key" }, undefined);
      expect(r.status).to.equal(400);
      expect(r.body.error).to.match(/Idempotency-Key/);
      r = await refund({ payment_id: payment.paymentId, reason: "x" }, key());
      expect(r.status).to.equal(400);
      expect(r.body.error).to.match(/body\.reason/);
      r = await refund({ payment_id: payment.paymentId, session_id: session.sessionId, reason: "both given" }, key());
      expect(r.status).to.equal(400);
      expect(r.body.error).to.match(/exactly one of payment_id and session_id/);
      r = await refund({ payment_id: "pay_nobody", reason: "unknown payment" }, key());
      expect(r.status).to.equal(404);
      expect(r.body.error).to.match(/^body\.payment_id: no payment pay_nobody/);
      r = await refund({ payment_id: payment.paymentId, reason: "extra field", cents: 5 }, key());
      expect(r.status).to.equal(400);
      expect(r.body.error).to.match(/unknown field "cents"/);
      const made = await fetch(`${t.cloud.url}/api/operators`, { method: "POST", headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" }, body: JSON.stringify({ username: `viewer-${Date.now().toString(36)}`, password: "a viewer password 123", role: "viewer" }) });
      expect(made.status).to.be.oneOf([200, 201]);
      const viewer = await login(t.cloud.url, ((await made.json()) as { username: string }).username, "a viewer password 123");
      r = await refund({ payment_id: payment.paymentId, reason: "viewer tries" }, key(), viewer);
      expect(r.status).to.equal(403);
      expect(await listRefundsOfSession(t.cloud.db.sql, session.sessionId)).to.have.length(0);
    });

    it("the provider unreachable leaves the refund requested; the same request later refunds it once", async () => {
      const { payment, pi } = await paidSession(t, site);
      const down = new Stripe("sk_test_down", { host: "127.0.0.1", port: 9, protocol: "http", maxNetworkRetries: 0, timeout: 2000 });
      const actor = { username: "ops-test", operatorId: null, role: "operator", via: "api" as const };
      const req = { paymentId: payment.paymentId, amount: 50, reason: "provider down test", key: `op:${key()}` };
      const r1 = await requestRefund({ db: t.cloud.db, stripe: down, auditMode: "inline", logger: silentLogger }, req, actor);
      expect(r1.providerUnavailable).to.equal(true);
      expect(r1.refund.state).to.equal("requested");
      expect((await refundBacklog(t.cloud.db.sql)).requested).to.be.at.least(1);
      const blocked = await refund({ payment_id: payment.paymentId, amount: 10, reason: "another one meanwhile" }, key());
      expect(blocked.status).to.equal(409);
      const r2 = await requestRefund({ db: t.cloud.db, stripe: t.cloud.stripe, auditMode: "inline", logger: silentLogger }, req, actor);
      expect(r2.refund).to.include({ refundId: r1.refund.refundId, state: "succeeded" });
      const r3 = await requestRefund({ db: t.cloud.db, stripe: t.cloud.stripe, auditMode: "inline", logger: silentLogger }, req, actor);
      expect(r3.replayed).to.equal(true);
      expect((await t.cloud.stripe.refunds.list({ payment_intent: pi })).data.map((x) => x.amount)).to.deep.equal([50]);
      // The sweep: a refund left requested by an outage is driven again once the provider answers.
      const req2 = { paymentId: payment.paymentId, amount: 25, reason: "provider down, swept later", key: `op:${key()}` };
      const stuck = await requestRefund({ db: t.cloud.db, stripe: down, auditMode: "inline", logger: silentLogger }, req2, actor);
      expect(stuck.refund.state).to.equal("requested");
      const swept = await retryRequestedRefunds({ db: t.cloud.db, stripe: t.cloud.stripe, auditMode: "inline", logger: silentLogger }, 0);
      expect(swept.find((r) => r.refundId === stuck.refund.refundId)?.state).to.equal("succeeded");
      expect(await refundBacklog(t.cloud.db.sql)).to.deep.equal({ requested: 0, pending: 0, oldestRequestedAt: null });
      expect((await t.cloud.stripe.refunds.list({ payment_intent: pi })).data.map((x) => x.amount)).to.deep.equal([25, 50]);
    });

    it("a refund left requested by an outage is finished by the periodic sweep, with nobody repeating it; once", async () => {
      const { payment, pi } = await paidSession(t, site);
      const down = new Stripe("sk_test_down", { host: "127.0.0.1", port: 9, protocol: "http", maxNetworkRetries: 0, timeout: 2000 });
      const actor = { username: "ops-test", operatorId: null, role: "operator", via: "api" as const };
      const stuck = await requestRefund({ db: t.cloud.db, stripe: down, auditMode: "inline", logger: silentLogger }, { paymentId: payment.paymentId, amount: 30, reason: "swept by the timer", key: `op:${key()}` }, actor);
      expect(stuck.refund.state).to.equal("requested");
      const sweeper = new RefundSweeper({ ctx: { db: t.cloud.db, stripe: t.cloud.stripe, auditMode: "inline", logger: silentLogger }, periodMs: 20, olderThanMs: 0 });
      sweeper.start();
      try {
        await until(async () => (await listRefundsOfSession(t.cloud.db.sql, payment.sessionId)).find((r) => r.refundId === stuck.refund.refundId && r.state === "succeeded"), 15_000, "the swept refund");
        await sweeper.pass(); // a further pass finds nothing left to do
      } finally {
        await sweeper.stop();
      }
      expect((await t.cloud.stripe.refunds.list({ payment_intent: pi })).data.map((x) => x.amount)).to.deep.equal([30]);
    });

    it("a refund made in Stripe's dashboard gets its row from the webhooks; redelivered events act once", async () => {
      const { payment, pi, session } = await paidSession(t, site);
      const re = await t.cloud.stripe.refunds.create({ payment_intent: pi, amount: 70 });
      const row = await until(async () => (await listRefundsOfSession(t.cloud.db.sql, session.sessionId)).find((r) => r.providerRef === re.id), 15_000, "the dashboard refund's row");
      expect(row).to.include({ amount: 70, state: "succeeded", source: "provider" });
      await t.cloud.emulator?.whenWebhooksIdle(10_000);
      for (const e of t.cloud.emulator?.events().filter((ev) => ev.type === "refund.created" || ev.type === "charge.refunded") ?? []) await t.cloud.emulator?.resendEvent(e.id);
      expect(await listRefundsOfSession(t.cloud.db.sql, session.sessionId)).to.have.length(1);
      expect(await getPayment(t.cloud.db.sql, payment.paymentId)).to.include({ refundedAmount: 70, refundStatus: "partial" });
      expect((await findAuditEntries(t.cloud.db.sql, { sessionId: session.sessionId })).filter((a) => a.kind === "refund.succeeded")).to.have.length(1);
    });

    it("out of order: refund.updated (succeeded) before refund.created (pending) never moves back; refund.failed after succeeded is stale", async () => {
      const { payment, pi, session } = await paidSession(t, site);
      const id = `re_ooo${Date.now().toString(36)}`;
      const ev = (n: string) => `evt_${id}_${n}`;
      expect((await postEvent(t, { id: ev("upd"), type: "refund.updated", object: refundObject({ id, amount: 30, pi, status: "succeeded" }) })).outcome).to.equal("refund_applied");
      expect((await postEvent(t, { id: ev("upd"), type: "refund.updated", object: refundObject({ id, amount: 30, pi, status: "succeeded" }) })).outcome).to.equal("duplicate");
      expect((await postEvent(t, { id: ev("cre"), type: "refund.created", object: refundObject({ id, amount: 30, pi, status: "pending" }) })).outcome).to.equal("stale");
      expect((await postEvent(t, { id: ev("fail"), type: "refund.failed", object: refundObject({ id, amount: 30, pi, status: "failed" }) })).outcome).to.equal("stale");
      const rows = await listRefundsOfSession(t.cloud.db.sql, session.sessionId);
      expect(rows.map((r) => [r.providerRef, r.state])).to.deep.equal([[id, "succeeded"]]);
      expect(await getPayment(t.cloud.db.sql, payment.paymentId)).to.include({ refundedAmount: 30, refundStatus: "partial" });
      // pending first, then succeeded: moves forward.
      const id2 = `${id}b`;
      expect((await postEvent(t, { id: `evt_${id2}_c`, type: "refund.created", object: refundObject({ id: id2, amount: 20, pi, status: "pending" }) })).outcome).to.equal("refund_applied");
      expect((await postEvent(t, { id: `evt_${id2}_u`, type: "refund.updated", object: refundObject({ id: id2, amount: 20, pi, status: "succeeded" }) })).outcome).to.equal("refund_applied");
      expect(await getPayment(t.cloud.db.sql, payment.paymentId)).to.include({ refundedAmount: 50 });
      expect((await postEvent(t, { id: `evt_${id}_unknown`, type: "refund.created", object: refundObject({ id: `${id}c`, amount: 1, pi: "pi_nobody", status: "succeeded" }) })).outcome).to.equal("unknown_payment");
    });

    it("a payment made on Stripe's Checkout page (provider_ref cs_…): refunded from the dashboard by payment_intent, then the rest by the API", async () => {
      const { session, payUrl } = await pricedSessionWithLink(t, site);
      const phone = new Phone("en-GB");
      await phone.payOnCardPage(await phone.openCheckoutPage(payUrl));
      const payment = await until(async () => (await listPayments(t.cloud.db.sql, session.sessionId)).find((p) => p.state === "paid"), 15_000, "the Checkout payment paid");
      expect(payment.providerRef).to.match(/^cs_/);
      expect(payment.providerPaymentIntent, "linked at checkout.session.completed").to.match(/^pi_/);
      const pi = payment.providerPaymentIntent as string;
      const re = await t.cloud.stripe.refunds.create({ payment_intent: pi, amount: 40 });
      await until(async () => (await listRefundsOfSession(t.cloud.db.sql, session.sessionId)).find((r) => r.providerRef === re.id && r.state === "succeeded"), 15_000, "the dashboard refund of a Checkout payment");
      const rest = await refund({ session_id: session.sessionId, reason: "refund the rest" }, key());
      expect(rest.status, JSON.stringify(rest.body)).to.equal(201);
      expect(rest.body.refund.amount).to.equal(payment.amount - 40);
      expect(rest.body.payment).to.include({ refunded_amount: payment.amount, refund_status: "full" });
      expect((await t.cloud.stripe.charges.list({ payment_intent: pi })).data[0]).to.include({ amount_refunded: payment.amount, refunded: true });
    });

    it("a late payment (paid after an override) is refunded in one call, exactly once", async () => {
      const { session, payment, pi } = await latePaidSession(t, site);
      expect((await findAuditEntries(t.cloud.db.sql, { sessionId: session.sessionId, kind: "payment.late" })).length).to.equal(1);
      const call = () => fetch(`${t.cloud.url}/api/operator/sessions/${session.sessionId}/refund-late`, { method: "POST", headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" }, body: JSON.stringify({ reason: "driver left under override" }) });
      const r1 = await call();
      expect(r1.status).to.equal(201);
      const b1 = (await r1.json()) as { refunds: Answer[] };
      expect(b1.refunds.map((x) => [x.refund.amount, x.refund.state])).to.deep.equal([[payment.amount, "succeeded"]]);
      const r2 = await call();
      expect(r2.status).to.equal(200);
      expect((await t.cloud.stripe.refunds.list({ payment_intent: pi })).data).to.have.length(1);
      const none = await fetch(`${t.cloud.url}/api/operator/sessions/${(await paidSession(t, site)).session.sessionId}/refund-late`, { method: "POST", headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" }, body: JSON.stringify({ reason: "not late" }) });
      expect(none.status).to.equal(404);
    });

    it("the CLI: syspark refund <session> --amount 0.50 then --late, through the cloud's API, saying which cloud", async () => {
      const env = { ...process.env, SYSPARK_OPERATOR_USERNAME: t.admin.username, SYSPARK_OPERATOR_PASSWORD: t.admin.password, DATABASE_URL: "", SYSPARK_CLOUD_URL: "" };
      const { session, payment } = await paidSession(t, site);
      const cli = (args: string[]) => run("node", ["bin/syspark.js", "refund", ...args, "--url", t.cloud.url], { env, encoding: "utf8" });
      const r = await cli([session.sessionId, "--amount", "0.50", "--reason", "CLI goodwill"]);
      expect(r.stderr).to.include(`through its API (--url)`);
      expect(r.stdout).to.match(new RegExp(`refund re_\\S+ of 50 EUR .* on payment ${payment.paymentId}: succeeded; payment refunded 50/${payment.amount} \\(partial\\)`));
      const again = await cli([session.sessionId, "--amount", "0.50", "--reason", "CLI goodwill"]);
      expect(again.stdout).to.include("already requested: nothing new");
      expect(await getPayment(t.cloud.db.sql, payment.paymentId)).to.include({ refundedAmount: 50 });
      const bad = await cli([session.sessionId, "--amount", "lots", "--reason", "x"]).catch((e: { stderr: string; code: number }) => e);
      expect((bad as { code: number }).code).to.not.equal(0);
      expect((bad as { stderr: string }).stderr).to.match(/--amount must be/);
      const over = await cli([session.sessionId, "--amount", String(payment.amount), "--reason", "too much now"]).catch((e: { stderr: string; code: number }) => e);
      expect((over as { stderr: string }).stderr).to.match(/HTTP 400.*body\.amount/);
      const late = await latePaidSession(t, site);
      const lr = await cli([late.session.sessionId, "--late", "--reason", "left under override"]);
      expect(lr.stdout).to.match(new RegExp(`of ${late.payment.amount} EUR .*: succeeded; payment refunded ${late.payment.amount}/${late.payment.amount} \\(full\\)`));
    });
  });
}
