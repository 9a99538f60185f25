/**
 * The console's search and session page on a whole cloud (embedded defaults, the Stripe test
 * emulator): a paid exit is found by its plate in any spelling, by its payment reference and by
 * its amount; its page explains it (payments, audit rows verified against the chain) and
 * refunds part of it from the form, once even if the form is sent twice; a flagged session is
 * resolved with a reason; a viewer sees the page without the forms and cannot post them.
 */
import { expect } from "chai";
import { createOperator, flagSession, getSession, hashSecret, listRefundsOfSession } from "../../../cloud/db/index";
import { COOKIE } from "../../../cloud/server/auth";
import { LOW_SCRYPT, login, SiteClient, startEmbedded, type TestCloud } from "../server/helpers";
import { paidSession } from "../server/refund-fixtures";

describe("console search and session page (cloud on embedded defaults)", function () {
  this.timeout(90_000);
  let t: TestCloud;
  let site: SiteClient;
  let base: string;
  const cookie: Record<"admin" | "operator" | "viewer", string> = { admin: "", operator: "", viewer: "" };

  const page = async (path: string, role: keyof typeof cookie = "operator") => {
    const r = await fetch(`${base}${path}`, { headers: { Cookie: cookie[role] }, redirect: "manual" });
    return { status: r.status, html: await r.text(), csp: r.headers.get("content-security-policy") ?? "" };
  };
  const postForm = async (path: string, form: Record<string, string>, role: keyof typeof cookie = "operator") => {
    const r = await fetch(`${base}${path}`, { method: "POST", headers: { Cookie: cookie[role], Origin: base, "Content-Type": "application/x-www-form-urlencoded" }, body: new URLSearchParams(form).toString(), redirect: "manual" });
    return { status: r.status, location: r.headers.get("location"), html: await r.text() };
  };
  const hiddenKey = (html: string) => /name="key" value="([^"]+)"/.exec(html)?.[1] ?? "";

  before(async () => {
    t = await startEmbedded();
    base = t.cloud.url;
    site = await SiteClient.connect(t.cloud.mqttUrl, t.siteId);
    cookie.admin = `${COOKIE}=${encodeURIComponent(await login(base, t.admin.username, t.admin.password))}`;
    for (const role of ["operator", "viewer"] as const) {
      await createOperator(t.cloud.db.sql, { username: `${role}-sessions`, passwordHash: await hashSecret("a password 123456", LOW_SCRYPT), role });
      cookie[role] = `${COOKIE}=${encodeURIComponent(await login(base, `${role}-sessions`, "a password 123456"))}`;
    }
  });
  after(async () => {
    await site?.close();
    await t?.close();
  });

  it("finds a paid exit by plate (any spelling), payment reference and amount; its page explains it and refunds part of it once", async () => {
    const { session, payment, pi } = await paidSession(t, site);
    const spaced = session.identityValue.replace(/^(..)(...)/, "$1-$2 ").toLowerCase();
    for (const query of [`q=${encodeURIComponent(spaced)}`, `ref=${pi}`, `ref=${payment.paymentId}`, `amount=${(payment.amount / 100).toFixed(2).replace(".", ",")}&site=${t.siteId}`]) {
      const r = await page(`/console/search?${query}`, "viewer");
      expect(r.status, query).to.equal(200);
      expect(r.html, query).to.contain(`/console/sessions/${session.sessionId}`);
    }
    expect((await page(`/console/search?q=NOBODY42`, "viewer")).html).to.not.contain("/console/sessions/");

    const view = await page(`/console/sessions/${session.sessionId}`);
    expect(view.status).to.equal(200);
    expect(view.csp).to.match(/script-src 'self' 'nonce-/);
    expect(view.html).to.contain(payment.paymentId).and.to.contain('id="refund-form"');
    expect(view.html).to.contain('data-verified="true"');
    expect(view.html).to.not.match(/\{"[a-z_]+":/); // no raw JSON on a page a person reads

    const key = hiddenKey(view.html);
    const form = { key, payment_id: payment.paymentId, amount: "1,00", reason: "barrière bloquée 10 min" };
    const first = await postForm(`/console/sessions/${session.sessionId}/refund`, form);
    expect(first.status, first.html.slice(0, 300)).to.equal(303);
    const again = await postForm(`/console/sessions/${session.sessionId}/refund`, form); // the same form sent twice
    expect(again.status).to.equal(303);
    const refunds = await listRefundsOfSession(t.cloud.db.sql, session.sessionId);
    expect(refunds.map((r) => r.amount)).to.deep.equal([100]);
    expect(refunds[0].requestedBy).to.contain("operator-sessions");
    const after = await page(first.location as string);
    expect(after.html).to.contain('id="notice"').and.to.contain("barrière bloquée 10 min");
  });

  it("refuses a refund form with a clear message on the page (no 5xx), and a viewer gets no form and a 403", async () => {
    const { session, payment } = await paidSession(t, site);
    const view = await page(`/console/sessions/${session.sessionId}`);
    const bad = await postForm(`/console/sessions/${session.sessionId}/refund`, { key: hiddenKey(view.html), payment_id: payment.paymentId, amount: "9999", reason: "too much" });
    expect(bad.status).to.be.within(400, 499);
    expect(bad.html).to.contain('id="error"');
    const short = await postForm(`/console/sessions/${session.sessionId}/refund`, { key: hiddenKey(view.html), payment_id: payment.paymentId, reason: "x" });
    expect(short.status).to.equal(400);
    expect(short.html).to.match(/form\.reason/);
    const asViewer = await page(`/console/sessions/${session.sessionId}`, "viewer");
    expect(asViewer.html).to.not.contain('id="refund-form"');
    const refused = await postForm(`/console/sessions/${session.sessionId}/refund`, { key: hiddenKey(view.html), payment_id: payment.paymentId, reason: "viewer tries" }, "viewer");
    expect(refused.status).to.equal(403);
    expect(refused.html).to.contain("Not allowed");
    expect(await listRefundsOfSession(t.cloud.db.sql, session.sessionId)).to.have.length(0);
  });

  it("resolves a flagged session with a reason, audited with the operator", async () => {
    const { session } = await paidSession(t, site);
    await t.cloud.db.tx((tx) => flagSession(tx, session.sessionId, "vehicle left without a recorded exit"));
    const view = await page(`/console/sessions/${session.sessionId}`);
    expect(view.html).to.contain('id="resolve-form"').and.to.contain("vehicle left without a recorded exit");
    const r = await postForm(`/console/sessions/${session.sessionId}/resolve`, { resolution: "waived", reason: "client régulier, geste commercial" });
    expect(r.status).to.equal(303);
    expect((await getSession(t.cloud.db.sql, session.sessionId)).status).to.equal("closed");
    const audit = await t.cloud.db.sql<{ payload: { operator: string; resolution: string } }[]>`
      SELECT payload FROM audit_log WHERE session_id = ${session.sessionId} AND kind = 'session.resolved'
      UNION ALL SELECT payload FROM audit_pending WHERE session_id = ${session.sessionId} AND kind = 'session.resolved'`;
    expect(audit).to.have.length(1);
    expect(audit[0].payload).to.include({ operator: "operator-sessions", resolution: "waived" });
    const twice = await postForm(`/console/sessions/${session.sessionId}/resolve`, { resolution: "waived", reason: "client régulier, geste commercial" });
    expect(twice.status).to.equal(303); // a double submit resolves once
  });

  it("answers a bad search with the form again and the message beside the field", async () => {
    const r = await page(`/console/search?amount=abc`, "viewer");
    expect(r.status).to.equal(400);
    expect(r.html).to.contain('class="field-error"').and.to.contain("4.50");
    expect((await page(`/console/sessions/nope-nope`, "viewer")).status).to.equal(404);
  });
});
