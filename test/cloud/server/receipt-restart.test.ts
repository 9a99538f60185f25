/**
 * Receipts off the pay path, and nothing lost (issue 16): a payment commits with its receipt only
 * owed (the receipt worker is off here, standing for a crash — SIGKILL — between the payment's
 * commit and its receipt). Meanwhile the success page says the receipt is being prepared (in the
 * page's language, reloading itself) and the JSON API says pending. A new cloud started on the
 * same database (and the emulator's saved state) issues every owed receipt exactly once, with the
 * card asked of the provider, gapless. On PGlite (a data directory) and on PostgreSQL.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import postgres from "postgres";
import { getPayment } from "../../../cloud/db/index";
import { seedSite, startCloud, type CloudHandle } from "../../../cloud/server/index";
type CloudOptions = NonNullable<Parameters<typeof startCloud>[0]>;
import { silentLogger } from "../../../host/log";
import { Phone } from "./driver";
import { LOW_SCRYPT, MOSQUITTO_URL, PG_URL, SiteClient, until, type TestCloud } from "./helpers";
import { confirmAndWaitPaid, openPayment, pricedSessionWithLink } from "./refund-fixtures";

const rnd = () => randomBytes(4).toString("hex");

interface Kind {
  name: string;
  /** Options of both clouds (same database, same emulator state). */
  options(ctx: Mocha.Context): Promise<{ options: CloudOptions; siteId: string; seed: boolean; cleanup(): Promise<void> }>;
}

const KINDS: Kind[] = [
  {
    name: "PGlite (data directory)",
    async options() {
      const dir = mkdtempSync(join(tmpdir(), "syspark-receipts-"));
      const options: CloudOptions = { dataDir: join(dir, "db"), port: 0, mqttPort: 0, stripe: { emulatorPort: 0 }, seedDemo: true, createFirstAdmin: true };
      return { options, siteId: "paris-centre", seed: false, cleanup: async () => rmSync(dir, { recursive: true, force: true }) };
    },
  },
  {
    name: "PostgreSQL + Mosquitto",
    async options(ctx) {
      const probe = postgres(PG_URL, { max: 1, onnotice: () => undefined, connect_timeout: 3 });
      const up = await probe`SELECT 1`.then(() => true, () => false);
      await probe.end({ timeout: 5 });
      if (!up) {
        if (process.env.SYSPARK_REQUIRE_POSTGRES === "1") throw new Error(`PostgreSQL not reachable at ${PG_URL}`);
        ctx.skip();
      }
      const dir = mkdtempSync(join(tmpdir(), "syspark-receipts-"));
      const schema = `syspark_receipts_test_${rnd()}`;
      const options: CloudOptions = { databaseUrl: PG_URL, dbSchema: schema, dbCreateSchema: true, dbPoolMax: 4, mqttUrl: MOSQUITTO_URL, shareGroup: `g${rnd()}`, mqttSessionExpiryS: 0, port: 0, stripe: { emulatorPort: 0, emulatorStateDir: join(dir, "stripe") }, seedDemo: false, createFirstAdmin: true };
      return {
        options,
        siteId: `t-${rnd()}`,
        seed: true,
        async cleanup() {
          const admin = postgres(PG_URL, { max: 1, onnotice: () => undefined });
          await admin.unsafe(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
          await admin.end({ timeout: 5 });
          rmSync(dir, { recursive: true, force: true });
        },
      };
    },
  },
];

for (const kind of KINDS) {
  describe(`receipts after a crash before them: a new cloud issues them exactly once (${kind.name})`, function () {
    this.timeout(120_000);
    let setup: Awaited<ReturnType<Kind["options"]>> | undefined;
    let cloud: CloudHandle | undefined;
    let site: SiteClient | undefined;

    const start = async (receiptWorker: boolean): Promise<TestCloud> => {
      const s = setup as NonNullable<typeof setup>;
      cloud = await startCloud({ ...s.options, logger: silentLogger, scryptCost: LOW_SCRYPT, instanceId: `t-${rnd()}`, relayPollMs: 50, receiptWorker, receiptPollMs: 100 });
      return { cloud, siteId: s.siteId, kind: "embedded", admin: { username: "", password: "" }, close: () => (cloud as CloudHandle).close() };
    };
    const receipts = async (c: CloudHandle, paymentIds: string[]) =>
      c.db.sql<{ paymentId: string; number: string; seq: number; content: { payment?: { card: { brand: string; last4: string } | null } } }[]>`SELECT payment_id, number, seq, content FROM billing_documents WHERE kind = 'receipt' AND payment_id IN ${c.db.sql(paymentIds)} ORDER BY seq`;

    before(async function () {
      setup = await kind.options(this);
    });
    after(async () => {
      await site?.close();
      await cloud?.close();
      await setup?.cleanup();
    });

    it("pending while owed (page in its language, reloading; API says pending); after a restart: one receipt per payment, card line and gapless numbers", async () => {
      const s = setup as NonNullable<typeof setup>;
      let t = await start(false);
      if (s.seed) await seedSite(t.cloud.db, { siteId: s.siteId, name: "Test site", timeZone: "Europe/Paris", currency: "EUR" });
      site = await SiteClient.connect(t.cloud.mqttUrl, t.siteId);
      const paid: { paymentId: string; payUrl: string }[] = [];
      for (let i = 0; i < 3; i++) {
        const { session, payUrl } = await pricedSessionWithLink(t, site);
        const { payment, pi } = await openPayment(t, session);
        await confirmAndWaitPaid(t, payment.paymentId, pi.id);
        paid.push({ paymentId: payment.paymentId, payUrl });
      }
      const ids = paid.map((p) => p.paymentId);
      expect(await receipts(t.cloud, ids), "no receipt while the worker is down").to.have.length(0);
      expect((await t.cloud.db.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM billing_receipt_queue WHERE payment_id IN ${t.cloud.db.sql(ids)}`)[0].n).to.equal(3);

      const withLang = (url: string, lang: string) => `${url}${url.includes("?") ? "&" : "?"}lang=${lang}`;
      const fr = await new Phone("fr-FR").go(withLang(paid[0].payUrl, "fr"));
      expect(fr.body).to.contain('data-result="paid"').and.to.contain('id="receipt-pending"').and.to.contain("Votre reçu est en cours de préparation");
      expect(fr.body).to.match(/<meta http-equiv="refresh" content="\d+">/);
      expect(fr.body).not.to.contain('id="receipt-html"');
      const en = await new Phone("en-GB").go(withLang(paid[0].payUrl, "en"));
      expect(en.body).to.contain("Your receipt is being prepared");
      const u = new URL(paid[0].payUrl);
      const api = (await (await fetch(`${u.origin}/api/pay${u.pathname.slice(4)}${u.search}`)).json()) as { status: string; receipt: unknown };
      expect(api).to.deep.include({ status: "paid", receipt: { status: "pending" } });
      const health = (await (await fetch(`${t.cloud.url}/health`)).json()) as { receipts: { owed: number; worker: { running: boolean } } };
      expect(health.receipts).to.deep.include({ owed: 3 });
      expect(health.receipts.worker.running).to.equal(false);

      // The "crash": this cloud goes away with the receipts still owed; a new one starts on the same database.
      await site.close();
      site = undefined;
      await t.close();
      t = await start(true);
      const issued = await until(async () => {
        const rows = await receipts(t.cloud, ids);
        return rows.length === 3 ? rows : undefined;
      }, 30_000, "the owed receipts issued by the new cloud");
      expect(await t.cloud.receipts.drain(), "nothing left to issue").to.equal(0);
      expect(await receipts(t.cloud, ids)).to.have.length(3);
      expect(issued.map((r) => r.paymentId).sort()).to.deep.equal([...ids].sort());
      expect(issued.map((r) => r.seq - issued[0].seq), "gapless").to.deep.equal([0, 1, 2]);
      for (const r of issued) expect(r.content.payment?.card, "card asked of the provider after the restart").to.deep.equal({ brand: "visa", last4: "4242" });
      expect((await t.cloud.db.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM billing_receipt_queue`)[0].n).to.equal(0);
      for (const id of ids) expect((await getPayment(t.cloud.db.sql, id)).state).to.equal("paid");
      const link = new URL(paid[0].payUrl); // the same pay link, served by the new cloud (a new port here)
      const page = await new Phone("en-GB").go(withLang(`${t.cloud.url}${link.pathname}${link.search}`, "en"));
      expect(page.body).to.contain('id="receipt-html"').and.not.to.contain('id="receipt-pending"');
    });
  });
}
