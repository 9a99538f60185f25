/**
 * A gateway's `parking/sync/req` gets the cloud's word again on the site's recently paid
 * sessions (issue 13, found by the gateway crash campaign): a gateway SIGKILLed after a
 * controller answered AUTHORISED lost the `payment/success` it had heard, and the broker does not
 * deliver an acknowledged message twice. The cloud says `payment/success` again (`resync: true`),
 * through the outbox, for every session of that site that is `paid`, not closed, and paid within
 * the window (cloud/flows/site-events.ts RESYNC_PAID_WINDOW_MS) — whether or not access lists are
 * enabled — and for no closed, pending, old or other site's session.
 */
import { randomBytes } from "node:crypto";
import { expect } from "chai";
import { TOPICS, toCloudTopic } from "../../../contracts/mqtt-topics";
import {
  applyPaymentEvent,
  attachProviderRef,
  closeSession,
  createEntrySession,
  createPayment,
  priceSession,
  tariffInForce,
  type Json,
  type Tx,
} from "../../../cloud/db/index";
import { dbLaneId } from "../../../cloud/flows/site-registry";
import { seedSite, startCloud } from "../../../cloud/server/index";
import { silentLogger } from "../../../host/log";
import { LOW_SCRYPT, SiteClient, TEMPLATE_DIR, startOnServers, type TestCloud } from "./helpers";

const rnd = () => randomBytes(4).toString("hex");

/** Runs `fn` with SYSPARK_ACL_HMAC_KEY set to `key` (or unset), then puts it back. */
async function withAclKey<T>(key: string | undefined, fn: () => Promise<T>): Promise<T> {
  const saved = process.env.SYSPARK_ACL_HMAC_KEY;
  if (key === undefined) delete process.env.SYSPARK_ACL_HMAC_KEY;
  else process.env.SYSPARK_ACL_HMAC_KEY = key;
  try {
    return await fn();
  } finally {
    if (saved === undefined) delete process.env.SYSPARK_ACL_HMAC_KEY;
    else process.env.SYSPARK_ACL_HMAC_KEY = saved;
  }
}

type Kind = "paid" | "zero_fee" | "pending" | "closed" | "old";

function resendSuite(title: string, aclKey: string | undefined, start: (ctx: Mocha.Context) => Promise<TestCloud>): void {
  describe(title, function () {
    this.timeout(60_000);
    let t: TestCloud;
    let site: SiteClient;
    const otherSite = `o-${rnd()}`;

    before(async function () {
      t = await withAclKey(aclKey, () => start(this));
      await seedSite(t.cloud.db, { siteId: otherSite, name: "Other site", timeZone: "Europe/Paris", currency: "EUR" });
      site = await SiteClient.connect(t.cloud.mqttUrl, t.siteId);
      if (aclKey) await site.client.subscribeAsync(toCloudTopic(t.siteId, TOPICS.aclFull.topic), { qos: 1 });
    });
    after(async () => {
      await site?.close();
      await t?.close();
    });

    /** A session of `siteId` at wire lane `lane`, brought to the state `kind` names. */
    async function session(siteId: string, lane: string, kind: Kind): Promise<string> {
      return t.cloud.db.tx(async (tx: Tx) => {
        const now = new Date();
        const { session: s } = await createEntrySession(tx, { siteId, identity: { method: "plate", value: `P${rnd()}`.toUpperCase() }, entryTs: new Date(now.getTime() - 3 * 3600_000) });
        const tariff = (await tariffInForce(tx, siteId, now))!;
        await tx`INSERT INTO lanes (site_id, lane_id, kind) VALUES (${siteId}, ${dbLaneId(lane)}, 'exit') ON CONFLICT DO NOTHING`;
        const amount = kind === "zero_fee" ? 0 : 450;
        await priceSession(tx, {
          sessionId: s.sessionId, amount, currency: "EUR", tariffId: tariff.tariffId, tariffVersion: tariff.version,
          breakdown: { lane_id: lane, price: { amount, currency: "EUR" } } as unknown as Json, pricedAt: now, exitLaneId: dbLaneId(lane),
        });
        if (kind === "pending" || kind === "zero_fee") return s.sessionId;
        const { payment } = await createPayment(tx, { sessionId: s.sessionId, provider: "stripe", idempotencyKey: `pay:${s.sessionId}` });
        await attachProviderRef(tx, payment.paymentId, `pi_${s.sessionId}`);
        await applyPaymentEvent(tx, `pi_${s.sessionId}`, "paid", { validatedAt: now });
        if (kind === "closed") await closeSession(tx, { sessionId: s.sessionId, exitTs: now, barrierResult: "opened" });
        if (kind === "old") await tx`UPDATE sessions SET paid_at = now() - interval '16 minutes' WHERE session_id = ${s.sessionId}`;
        return s.sessionId;
      });
    }

    /** The resync successes the cloud's outbox holds for a site's topic (one transaction wrote them). */
    async function resent(siteId: string): Promise<Record<string, unknown>[]> {
      const rows = await t.cloud.db.sql<{ payload: Record<string, unknown> }[]>`
        SELECT payload FROM outbox WHERE topic = ${toCloudTopic(siteId, TOPICS.paymentSuccess.topic)} AND payload->>'resync' = 'true' ORDER BY id`;
      return rows.map((r) => r.payload);
    }

    it(`says payment/success again for the site's paid, not closed, recent sessions only${aclKey ? "" : " (access lists disabled)"}`, async () => {
      const paid = await session(t.siteId, "L1", "paid");
      // Paid a minute before the zero-fee one: the answer says the oldest first (a lane holds its last few).
      await t.cloud.db.sql`UPDATE sessions SET paid_at = now() - interval '1 minute' WHERE session_id = ${paid}`;
      const free = await session(t.siteId, "L2.A", "zero_fee");
      const pending = await session(t.siteId, "L1", "pending");
      const closed = await session(t.siteId, "L1", "closed");
      const old = await session(t.siteId, "L1", "old");
      const foreign = await session(otherSite, "L1", "paid");
      // Nothing said yet: the sessions were written straight to the database.
      expect(await resent(t.siteId)).to.deep.equal([]);

      // (With access lists enabled, a gateway ahead of the cloud's version 0 also gets a full list.)
      const req = { ts: Date.now(), src: "gw-test", reason: "boot" as const, acl_version: aclKey ? 3 : 0, outbox_depth: 0 };
      await site.publish("syncReq", req);
      const p1 = await site.waitFor("paymentSuccess", (p) => p.session_id === paid && p.resync === true);
      const p2 = await site.waitFor("paymentSuccess", (p) => p.session_id === free && p.resync === true);
      expect(p1.payload).to.deep.include({ session_id: paid, lane_id: "L1", provider_ref: `pi_${paid}`, amount: 450, currency: "EUR", resync: true });
      expect(p2.payload).to.deep.include({ session_id: free, lane_id: "L2.A", provider_ref: "no_charge", amount: 0, currency: "EUR", resync: true });
      // One transaction enqueued the whole answer: the outbox holds exactly these two.
      const said = (await resent(t.siteId)).map((p) => p.session_id);
      expect(said, "oldest paid first").to.deep.equal([paid, free]);
      for (const not of [pending, closed, old]) expect(said).not.to.include(not);
      expect(await resent(otherSite), "another site's session").to.deep.equal([]);
      expect(foreign).to.be.a("string");

      // The same request again (a QoS 1 duplicate) says nothing more; a new one says it again.
      await site.publish("syncReq", req);
      await site.publish("syncReq", { ...req, ts: req.ts + 1, reason: "reconnect" });
      await site.waitFor("paymentSuccess", (p) => p.session_id === paid && p.resync === true && p.ts !== p1.payload.ts);
      const again = (await resent(t.siteId)).map((p) => p.session_id);
      expect(again).to.have.length(4);
      expect(again.filter((s) => s === paid)).to.have.length(2);

      if (aclKey) expect((await site.waitFor("aclFull", (p) => p.version === 4)).payload.entries).to.deep.equal([]);
    });
  });
}

resendSuite("sync/req says recent payment successes again (PostgreSQL + Mosquitto, no access-list key)", undefined, (ctx) => startOnServers(ctx));

resendSuite("sync/req says recent payment successes again (PGlite, aedes, access lists enabled)", randomBytes(16).toString("hex"), async () => {
  const cloud = await startCloud({
    port: 0, mqttPort: 0, pgliteTemplateDir: TEMPLATE_DIR, stripe: { emulatorPort: 0 }, logger: silentLogger, scryptCost: LOW_SCRYPT,
    instanceId: `t-${rnd()}`, relayPollMs: 50, seedDemo: true, createFirstAdmin: true,
  });
  return { cloud, siteId: "paris-centre", kind: "embedded", admin: cloud.firstAdmin!, close: () => cloud.close() };
});
