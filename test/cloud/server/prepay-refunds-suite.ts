/**
 * An unused prepayment refunded (issue 16), end to end on a running cloud: the operator API
 * (a double request acts once, at the provider too; a consumed prepayment refused 409 naming
 * why; bad input named), the prepayment refunded through its state machine and audited with the
 * operator and reason, and its refund webhooks (the emulator's own, a replay, an out-of-order
 * one, a full refund made at the provider) acting once without touching session refunds.
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { expect } from "chai";
import { findActiveSession } from "../../../cloud/db/index";
import { getPrepayment, type PrepaymentRow } from "../../../cloud/db/prepayments";
import { SiteClient, eventId, login, until, type TestCloud } from "./helpers";
import { postEvent, refundObject } from "./refund-fixtures";

const rndPlate = () => `Q${Math.random().toString(36).slice(2, 8).toUpperCase()}`;
const run = promisify(execFile);
const rndKey = () => `k-${Math.random().toString(36).slice(2)}-${Date.now()}`;

export function prepayRefundsSuite(title: string, start: (ctx: Mocha.Context) => Promise<TestCloud>): void {
  describe(title, function () {
    this.timeout(60_000);
    let t: TestCloud;
    let site: SiteClient;
    let token: string;

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

    /** A prepayment bought on the public form and paid with the test card (the verified webhook marks it paid). */
    async function paidPrepayment(plate: string): Promise<PrepaymentRow> {
      const r = await fetch(`${t.cloud.url}/pricing/${t.siteId}/prepay?lang=en`, { method: "POST", redirect: "manual", headers: { "Content-Type": "application/x-www-form-urlencoded" }, body: new URLSearchParams({ plate, hours: "2" }).toString() });
      expect(r.status, await r.text()).to.equal(303);
      const [row] = await t.cloud.db.sql<{ prepaymentId: string }[]>`SELECT prepayment_id FROM prepayments WHERE plate = ${plate} ORDER BY created_at DESC LIMIT 1`;
      const p = await getPrepayment(t.cloud.db.sql, row.prepaymentId);
      await t.cloud.stripe.paymentIntents.confirm(p.providerRef as string, { payment_method: "pm_card_visa" });
      return until(async () => {
        const x = await getPrepayment(t.cloud.db.sql, p.prepaymentId);
        return x.state === "paid" ? x : undefined;
      }, 15_000, "the prepayment paid");
    }

    const refund = async (id: string, body: unknown, key: string | null = rndKey(), auth = true) => {
      const r = await fetch(`${t.cloud.url}/api/operator/prepayments/${id}/refund`, { method: "POST", headers: { "Content-Type": "application/json", ...(auth ? { Authorization: `Bearer ${token}` } : {}), ...(key ? { "Idempotency-Key": key } : {}) }, body: JSON.stringify(body) });
      return { status: r.status, body: (await r.json()) as Record<string, unknown> & { error?: string; state?: string; refund?: Record<string, unknown> } };
    };
    const providerRefunds = async (pi: string) => (await t.cloud.stripe.refunds.list({ payment_intent: pi, limit: 100 })).data;
    const audits = (id: string) => t.cloud.db.sql<{ kind: string; payload: Record<string, unknown> }[]>`SELECT kind, payload FROM audit_log WHERE payload->>'prepayment_id' = ${id} UNION ALL SELECT kind, payload FROM audit_pending WHERE payload->>'prepayment_id' = ${id}`;

    it("refunds an unused prepayment in full, once: the same request again (and at once) is a replay, another key is refused", async () => {
      const p = await paidPrepayment(rndPlate());
      const key = rndKey();
      const [a, b] = await Promise.all([refund(p.prepaymentId, { reason: "driver did not come" }, key), refund(p.prepaymentId, { reason: "driver did not come" }, key)]);
      // Both answer the one refund: the first request 201, the second 200 (a replay) or 201 when its provider answer was applied first.
      expect([a.status, b.status]).to.include(201);
      for (const x of [a, b]) expect(x.status).to.be.oneOf([200, 201]);
      expect(a.body.state).to.equal("refunded");
      expect(b.body.state).to.equal("refunded");
      expect(a.body.refund).to.include({ state: "succeeded", reason: "driver did not come", requested_by: t.admin.username });
      const again = await refund(p.prepaymentId, { reason: "driver did not come" }, key);
      expect(again.status).to.equal(200);
      expect(again.body.replayed).to.equal(true);
      const other = await refund(p.prepaymentId, { reason: "asked twice" });
      expect(other.status).to.equal(409);
      expect(other.body.error).to.match(/already refunded/);
      const refunds = await providerRefunds(p.providerRef as string);
      expect(refunds.map((r) => [r.amount, r.status])).to.deep.equal([[p.amount, "succeeded"]]);
      const row = await getPrepayment(t.cloud.db.sql, p.prepaymentId);
      expect(row.state).to.equal("refunded");
      const kinds = (await audits(p.prepaymentId)).filter((x) => x.kind.startsWith("prepayment.refund"));
      expect(kinds.map((x) => x.kind).sort()).to.deep.equal(["prepayment.refund_requested", "prepayment.refunded"]);
      expect(kinds.find((x) => x.kind === "prepayment.refunded")?.payload).to.include({ operator: t.admin.username, reason: "driver did not come", amount: p.amount, state: "refunded" });
      // The emulator's own refund webhooks found the prepayment (no session refund row appeared, nothing moved twice).
      await until(async () => (await t.cloud.db.sql`SELECT 1 FROM webhook_events WHERE type LIKE '%refund%' AND payload::text LIKE ${`%${p.providerRef}%`}`).length > 0 || undefined, 15_000, "the emulator's refund webhook");
      expect((await t.cloud.db.sql`SELECT 1 FROM refunds WHERE provider_ref = ${refunds[0].id}`).length).to.equal(0);
      expect((await audits(p.prepaymentId)).filter((x) => x.kind === "prepayment.refunded").length).to.equal(1);
    });

    it("refuses a consumed prepayment with 409 naming the session that used it; a pending one, an unknown one and bad input by name", async () => {
      const plate = rndPlate();
      const p = await paidPrepayment(plate);
      await site.publish("entry", { ts: Date.now() - 60 * 60_000, src: "test-gateway", event_id: eventId(), lane_id: "E1", identity: { method: "plate", value: plate } });
      const session = await until(() => findActiveSession(t.cloud.db.sql, t.siteId, { method: "plate", value: plate }), 15_000, "the entry session");
      await site.publish("exitReq", { ts: Date.now(), src: "test-gateway", event_id: eventId(), lane_id: "L1", identity: { method: "plate", value: plate } });
      await until(async () => ((await getPrepayment(t.cloud.db.sql, p.prepaymentId)).state === "consumed" ? true : undefined), 15_000, "the prepayment consumed by the exit");
      const r = await refund(p.prepaymentId, { reason: "driver asks" });
      expect(r.status).to.equal(409);
      expect(r.body.error).to.include("is consumed").and.include(session.sessionId);
      expect(await providerRefunds(p.providerRef as string)).to.deep.equal([]);

      const pendingPlate = rndPlate();
      await fetch(`${t.cloud.url}/pricing/${t.siteId}/prepay?lang=en`, { method: "POST", redirect: "manual", headers: { "Content-Type": "application/x-www-form-urlencoded" }, body: new URLSearchParams({ plate: pendingPlate, hours: "1" }).toString() });
      const [pending] = await t.cloud.db.sql<{ prepaymentId: string }[]>`SELECT prepayment_id FROM prepayments WHERE plate = ${pendingPlate}`;
      const rp = await refund(pending.prepaymentId, { reason: "driver asks" });
      expect(rp.status).to.equal(409);
      expect(rp.body.error).to.match(/is pending, not paid/);

      expect((await refund("pp_unknownunknownunknown", { reason: "driver asks" })).status).to.equal(404);
      expect((await refund("nope", { reason: "driver asks" })).body.error).to.match(/prepayment id/);
      expect((await refund(p.prepaymentId, { reason: "driver asks" }, null)).body.error).to.match(/Idempotency-Key/);
      expect((await refund(p.prepaymentId, {})).body.error).to.match(/reason/);
      expect((await refund(p.prepaymentId, { reason: "ok reason", amount: 5 })).body.error).to.match(/amount/);
      expect((await refund(p.prepaymentId, { reason: "driver asks" }, rndKey(), false)).status).to.equal(401);
    });

    it("webhooks: a full refund made at the provider refunds the prepayment once; replays and an out-of-order pending change nothing", async () => {
      const p = await paidPrepayment(rndPlate());
      const re = await t.cloud.stripe.refunds.create({ payment_intent: p.providerRef as string }); // as from the dashboard: no metadata
      const refunded = await until(async () => {
        const x = await getPrepayment(t.cloud.db.sql, p.prepaymentId);
        return x.state === "refunded" ? x : undefined;
      }, 15_000, "the prepayment refunded by the webhook");
      expect(refunded.state).to.equal("refunded");
      const evt = `evt_pprf_${Math.random().toString(36).slice(2)}`;
      const obj = refundObject({ id: re.id, amount: p.amount, pi: p.providerRef as string, status: "succeeded" });
      expect((await postEvent(t, { id: evt, type: "refund.updated", object: obj })).outcome).to.equal("refund_noop");
      expect((await postEvent(t, { id: evt, type: "refund.updated", object: obj })).outcome).to.equal("duplicate");
      expect((await postEvent(t, { id: `${evt}b`, type: "refund.created", object: { ...obj, status: "pending" } })).outcome).to.equal("stale");
      const row = await t.cloud.db.sql<{ refundState: string; refundProviderRef: string }[]>`SELECT refund_state, refund_provider_ref FROM prepayments WHERE prepayment_id = ${p.prepaymentId}`;
      expect(row[0]).to.deep.equal({ refundState: "succeeded", refundProviderRef: re.id });
      expect((await audits(p.prepaymentId)).filter((x) => x.kind === "prepayment.refunded").length).to.equal(1);
      // A partial refund at the provider does not give a prepayment back.
      const p2 = await paidPrepayment(rndPlate());
      const partial = refundObject({ id: `re_partial_${Math.random().toString(36).slice(2)}`, amount: 1, pi: p2.providerRef as string, status: "succeeded" });
      expect((await postEvent(t, { id: `evt_part_${Math.random().toString(36).slice(2)}`, type: "refund.created", object: partial })).outcome).to.equal("refund_noop");
      expect((await getPrepayment(t.cloud.db.sql, p2.prepaymentId)).state).to.equal("paid");
    });
    it("syspark refund --prepayment <id> --reason … refunds it through the cloud's API; the same command again refunds nothing new", async () => {
      const p = await paidPrepayment(rndPlate());
      const env = { ...process.env, SYSPARK_OPERATOR_USERNAME: t.admin.username, SYSPARK_OPERATOR_PASSWORD: t.admin.password, SYSPARK_OPERATOR_TOKEN: "" };
      const cli = (args: string[]) => run(process.execPath, ["bin/syspark.js", "refund", ...args], { env, timeout: 60_000 }).then((r) => ({ code: 0, ...r }), (e: { code: number; stdout: string; stderr: string }) => e);
      const first = await cli(["--prepayment", p.prepaymentId, "--reason", "driver never came", "--url", t.cloud.url]);
      expect(first.code, first.stderr).to.equal(0);
      expect(first.stdout).to.include(`prepayment ${p.prepaymentId} of ${p.amount} EUR (minor units): refunded, refund re_`).and.include("succeeded");
      const again = await cli(["--prepayment", p.prepaymentId, "--reason", "driver never came", "--url", t.cloud.url]);
      expect(again.code, again.stderr).to.equal(0);
      expect(again.stdout).to.include("(already requested: nothing new)");
      expect(await providerRefunds(p.providerRef as string)).to.have.length(1);
      const bad = await cli(["--prepayment", p.prepaymentId, "--amount", "100", "--reason", "driver never came", "--url", t.cloud.url]);
      expect(bad.code).to.not.equal(0);
      expect(bad.stderr).to.include("no --amount");
    });
  });
}
