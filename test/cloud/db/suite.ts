/**
 * The ONE database test suite (like aedes-persistence's abstract suite): every behaviour the
 * server relies on, run unchanged against the embedded PGlite (pglite.test.ts) and against the
 * PostgreSQL server (postgres.test.ts). The database is opened once per run (PGlite starts in
 * seconds, not milliseconds); each test works on its own site / identities so tests do not
 * depend on each other.
 */
import { randomBytes } from "node:crypto";
import { expect } from "chai";
import fc from "fast-check";
import {
  ActiveSessionExistsError,
  ConflictError,
  IdempotencyConflictError,
  IllegalTransitionError,
  MIGRATIONS,
  MigrationError,
  PoolInsideTransactionError,
  ValidationError,
  appendAudit,
  chainPendingAudit,
  pendingAuditCount,
  queueAudit,
  applyPaymentEvent,
  applyRefundEvent,
  attachProviderRef,
  claimOutbox,
  reclaimOwnLeases,
  closeSession,
  createEntrySession,
  createOperator,
  createPayment,
  createRefund,
  deleteOperator,
  enqueueOutbox,
  findActiveSession,
  findAuditEntries,
  latestSessionOfIdentity,
  sessionStatusOf,
  findOperatorByUsername,
  findSessionByPayToken,
  getAccessList,
  getPayment,
  getSession,
  getWebhookEvent,
  hashSecret,
  insertTariff,
  markOutboxPublished,
  markWebhookEvent,
  priceSession,
  recordOverride,
  recordSiteEvent,
  recordWebhookEvent,
  recordWebhookFailure,
  removeAccessEntry,
  runMigrations,
  streamAudit,
  tariffInForce,
  transitionPayment,
  updateOperator,
  upsertAccessEntry,
  upsertLane,
  upsertSite,
  verifyAuditChain,
  verifySecret,
  type AuditRow,
  type Database,
  type Identity,
  type Tx,
} from "../../../cloud/db/index";
import { PAYMENT_MACHINE, classify, type PaymentState } from "../../../cloud/domain/state-machines";

export interface SuiteTarget {
  /** Opens the database (migrated), or calls ctx.skip() when the target is unavailable. */
  open(ctx: Mocha.Context): Promise<Database>;
  /** Releases it (closes, drops the test schema). */
  close(db: Database): Promise<void>;
  /** True when transactions really run concurrently (a server pool; PGlite serialises, §8). */
  concurrent: boolean;
}

const FAST_SCRYPT = { N: 1024, r: 8, p: 1 };
const uniq = (prefix: string) => `${prefix}${randomBytes(4).toString("hex")}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function expectReject<E extends Error>(p: Promise<unknown>, type: new (...args: never[]) => E, message?: RegExp): Promise<E> {
  try {
    await p;
  } catch (err) {
    expect(err, String(err)).to.be.instanceOf(type);
    if (message) expect((err as Error).message).to.match(message);
    return err as E;
  }
  expect.fail(`expected a ${type.name}`);
}

export function databaseSuite(label: string, target: SuiteTarget): void {
  describe(label, function () {
    this.timeout(30_000);
    let db: Database;

    before(async function () {
      this.timeout(120_000);
      db = await target.open(this);
    });
    after(async () => {
      if (db) await target.close(db);
    });

    /** A fresh site with an entry and an exit lane. */
    async function site(): Promise<{ siteId: string; entry: string; exit: string }> {
      const siteId = uniq("site-");
      await upsertSite(db.sql, { siteId, name: "Test site", timeZone: "Europe/Paris", currency: "EUR" });
      await upsertLane(db.sql, { siteId, laneId: "in-1", kind: "entry" });
      await upsertLane(db.sql, { siteId, laneId: "out-1", kind: "exit" });
      return { siteId, entry: "in-1", exit: "out-1" };
    }
    const plate = (): Identity => ({ method: "plate", value: `AB-${randomBytes(3).toString("hex")}` });

    /** A session priced at `amount` with a tariff, pending_payment. */
    async function pricedSession(amount = 450) {
      const s = await site();
      const tariff = await insertTariff(db.sql, { siteId: s.siteId, effectiveFrom: new Date("2020-01-01T00:00:00Z"), document: { kind: "test" } });
      const { session } = await db.tx((tx) => createEntrySession(tx, { siteId: s.siteId, laneId: s.entry, identity: plate(), entryTs: new Date(Date.now() - 3_600_000) }));
      const priced = await db.tx((tx) =>
        priceSession(tx, {
          sessionId: session.sessionId,
          amount,
          currency: "EUR",
          tariffId: tariff.tariffId,
          tariffVersion: tariff.version,
          breakdown: { lines: [{ label: "1 h", amount }] },
          pricedAt: new Date(),
          exitLaneId: s.exit,
        }),
      );
      return { ...s, tariff, session: priced.session, payToken: priced.payToken };
    }

    async function pendingPayment(amount = 450) {
      const p = await pricedSession(amount);
      const ref = uniq("pi_");
      const payment = await db.tx(async (tx) => {
        const { payment } = await createPayment(tx, { sessionId: p.session.sessionId, provider: "stripe", idempotencyKey: uniq("idem-") });
        return attachProviderRef(tx, payment.paymentId, ref);
      });
      return { ...p, payment, ref };
    }

    describe("migrations", () => {
      it("are applied once: a second run applies nothing and keeps one row per version", async () => {
        expect(db.migrations.version).to.equal(MIGRATIONS.at(-1)?.version);
        const again = await runMigrations(db.sql);
        expect(again).to.deep.equal({ applied: [], version: MIGRATIONS.at(-1)?.version });
        const rows = await db.sql<{ version: number; n: number }[]>`SELECT version, count(*)::int4 AS n FROM schema_migrations GROUP BY version ORDER BY version`;
        expect(rows.map((r) => [r.version, r.n])).to.deep.equal(MIGRATIONS.map((m) => [m.version, 1]));
      });

      it("refuse to start when a released migration was edited", async () => {
        const edited = MIGRATIONS.map((m, i) => (i === 0 ? { ...m, sql: m.sql + "\n-- edited" } : m));
        await expectReject(runMigrations(db.sql, edited), MigrationError, /was changed after it was applied/);
      });

      it("roll a failing migration back entirely (transactional)", async () => {
        const broken = [...MIGRATIONS, { version: 9999, name: "broken", sql: "CREATE TABLE half_done (x int); SELECT * FROM no_such_table;" }];
        await expectReject(runMigrations(db.sql, broken), MigrationError, /migration 9999 \(broken\) failed/);
        const [{ exists }] = await db.sql<{ exists: boolean }[]>`SELECT to_regclass('half_done') IS NOT NULL AS exists`;
        expect(exists).to.equal(false);
        const [{ n }] = await db.sql<{ n: number }[]>`SELECT count(*)::int4 AS n FROM schema_migrations WHERE version = 9999`;
        expect(n).to.equal(0);
      });
    });

    describe("connection", () => {
      it("refuses the pool (or a nested tx) inside a transaction instead of hanging", async () => {
        await expectReject(db.tx(async () => db.sql`SELECT 1`), PoolInsideTransactionError);
        await expectReject(db.tx(async () => db.tx(async (tx) => tx`SELECT 1`)), PoolInsideTransactionError);
        // …and the pool still works afterwards.
        const [{ one }] = await db.sql<{ one: number }[]>`SELECT 1::int4 AS one`;
        expect(one).to.equal(1);
        await db.ping();
      });

      it("parses int8 to numbers and timestamps to Dates, in UTC", async () => {
        const [row] = await db.sql<{ big: number; at: Date; tz: string }[]>`
          SELECT 9007199254740991::int8 AS big, '2025-03-30 01:30:00+00'::timestamptz AS at, current_setting('TimeZone') AS tz`;
        expect(row).to.deep.equal({ big: Number.MAX_SAFE_INTEGER, at: new Date("2025-03-30T01:30:00Z"), tz: "UTC" });
        await expectReject(db.sql`SELECT 9007199254740993::int8 AS big`, RangeError, /outside the safe integer range/);
      });
    });

    describe("sites, lanes, tariffs", () => {
      it("finds the tariff in force at an instant (versioned)", async () => {
        const s = await site();
        const v1 = await insertTariff(db.sql, { siteId: s.siteId, effectiveFrom: new Date("2024-01-01T00:00:00Z"), document: { v: 1 } });
        const v2 = await insertTariff(db.sql, { siteId: s.siteId, effectiveFrom: new Date("2025-01-01T00:00:00Z"), document: { v: 2 } });
        expect([v1.version, v2.version]).to.deep.equal([1, 2]);
        expect(await tariffInForce(db.sql, s.siteId, new Date("2023-06-01T00:00:00Z"))).to.equal(undefined);
        expect((await tariffInForce(db.sql, s.siteId, new Date("2024-06-01T00:00:00Z")))?.document).to.deep.equal({ v: 1 });
        expect((await tariffInForce(db.sql, s.siteId, new Date("2025-01-01T00:00:00Z")))?.version).to.equal(2);
      });

      it("rejects an unknown time zone and a bad currency before writing", async () => {
        await expectReject(upsertSite(db.sql, { siteId: uniq("s-"), name: "x", timeZone: "Mars/Olympus", currency: "EUR" }), ValidationError, /unknown time zone/);
        await expectReject(upsertSite(db.sql, { siteId: uniq("s-"), name: "x", timeZone: "UTC", currency: "eur" }), Error, /ISO 4217/);
      });
    });

    describe("sessions", () => {
      it("one open session per identity per site; the same identity elsewhere or after close is fine", async () => {
        const s = await site();
        const id = plate();
        const first = await db.tx((tx) => createEntrySession(tx, { siteId: s.siteId, identity: id, entryTs: new Date() }));
        expect(first.created).to.equal(true);
        expect(first.session.status).to.equal("active");
        const err = await expectReject(
          db.tx((tx) => createEntrySession(tx, { siteId: s.siteId, identity: { method: "plate", value: id.value.toLowerCase().replace("-", " ") }, entryTs: new Date() })),
          ActiveSessionExistsError,
        );
        expect(err.existingSessionId).to.equal(first.session.sessionId);
        const other = await site();
        await db.tx((tx) => createEntrySession(tx, { siteId: other.siteId, identity: id, entryTs: new Date() }));
        // The index itself refuses a second open row, whoever writes it.
        await expectReject(
          db.sql`INSERT INTO sessions (session_id, site_id, identity_method, identity_value, entry_ts) VALUES (${uniq("x")}, ${s.siteId}, 'plate', ${first.session.identityValue}, now())`,
          Error,
          /sessions_one_open_per_identity/,
        );
        // "flag-previous" flags the stale session and opens the new one.
        const again = await db.tx((tx) => createEntrySession(tx, { siteId: s.siteId, identity: id, entryTs: new Date(), onConflict: "flag-previous" }));
        expect(again.flaggedSessionId).to.equal(first.session.sessionId);
        expect((await getSession(db.sql, first.session.sessionId)).status).to.equal("flagged");
        expect((await findActiveSession(db.sql, s.siteId, id))?.sessionId).to.equal(again.session.sessionId);
      });

      it("a replayed entry with the same session id creates nothing", async () => {
        const s = await site();
        const id = plate();
        const sessionId = uniq("ses-");
        const a = await db.tx((tx) => createEntrySession(tx, { sessionId, siteId: s.siteId, identity: id, entryTs: new Date() }));
        const b = await db.tx((tx) => createEntrySession(tx, { sessionId, siteId: s.siteId, identity: id, entryTs: new Date() }));
        expect([a.created, b.created]).to.deep.equal([true, false]);
        expect(b.session.entryTs.getTime()).to.equal(a.session.entryTs.getTime());
      });

      it("racing entries for the same identity: exactly one session", async () => {
        const s = await site();
        const id = plate();
        const results = await Promise.allSettled(
          Array.from({ length: 4 }, () => db.tx((tx) => createEntrySession(tx, { siteId: s.siteId, identity: id, entryTs: new Date() }))),
        );
        expect(results.filter((r) => r.status === "fulfilled")).to.have.length(1);
        for (const r of results) if (r.status === "rejected") expect(r.reason).to.be.instanceOf(ActiveSessionExistsError);
      });

      it("pricing sets pending_payment with the quote, a fresh pay token, and a zero fee goes straight to paid", async () => {
        const p = await pricedSession(450);
        expect(p.session).to.include({ status: "pending_payment", amount: 450, currency: "EUR", tariffVersion: p.tariff.version, exitLaneId: p.exit });
        expect(p.session.quoteBreakdown).to.deep.equal({ lines: [{ label: "1 h", amount: 450 }] });
        expect(p.payToken).to.be.a("string").with.length.greaterThan(20);
        expect(p.session.payTokenHash).to.match(/^[0-9a-f]{64}$/);
        expect((await findSessionByPayToken(db.sql, p.session.sessionId, p.payToken ?? ""))?.sessionId).to.equal(p.session.sessionId);
        expect(await findSessionByPayToken(db.sql, p.session.sessionId, "guess")).to.equal(undefined);

        const z = await site();
        const { session } = await db.tx((tx) => createEntrySession(tx, { siteId: z.siteId, identity: plate(), entryTs: new Date() }));
        const zero = await db.tx((tx) => priceSession(tx, { sessionId: session.sessionId, amount: 0, currency: "EUR", tariffId: p.tariff.tariffId, tariffVersion: 1, breakdown: [], pricedAt: new Date() }));
        expect(zero.outcome).to.equal("paid");
        expect(zero.payToken).to.equal(undefined);
        expect(zero.session.status).to.equal("paid");
      });

      it("a late exit request never un-pays a session (IllegalTransitionError)", async () => {
        const p = await pendingPayment();
        await db.tx((tx) => applyPaymentEvent(tx, p.ref, "paid"));
        await expectReject(
          db.tx((tx) => priceSession(tx, { sessionId: p.session.sessionId, amount: 999, currency: "EUR", tariffId: p.tariff.tariffId, tariffVersion: 1, breakdown: {}, pricedAt: new Date() })),
          IllegalTransitionError,
          /illegal session transition paid → pending_payment/,
        );
        expect((await getSession(db.sql, p.session.sessionId)).amount).to.equal(450);
      });

      it("exit done closes a paid session once; unpaid exits are flagged; an override closes", async () => {
        const p = await pendingPayment();
        await db.tx((tx) => applyPaymentEvent(tx, p.ref, "paid"));
        const exitTs = new Date();
        const closed = await db.tx((tx) => closeSession(tx, { sessionId: p.session.sessionId, exitTs, barrierResult: "opened", exitMethod: "plate" }));
        expect(closed.outcome).to.equal("closed");
        expect(closed.session).to.include({ status: "closed", barrierResult: "opened", exitMethod: "plate" });
        expect(closed.session.exitTs?.getTime()).to.equal(exitTs.getTime());
        const replay = await db.tx((tx) => closeSession(tx, { sessionId: p.session.sessionId, exitTs: new Date(), barrierResult: "opened" }));
        expect(replay.outcome).to.equal("duplicate");
        expect(replay.session.exitTs?.getTime()).to.equal(exitTs.getTime());

        const unpaid = await pricedSession();
        const flagged = await db.tx((tx) => closeSession(tx, { sessionId: unpaid.session.sessionId, exitTs: new Date(), barrierResult: "opened" }));
        expect(flagged.outcome).to.equal("flagged");
        expect(flagged.session.flagReason).to.match(/without validated payment/);
        const resolved = await db.tx((tx) => closeSession(tx, { sessionId: unpaid.session.sessionId, exitTs: new Date(), barrierResult: "opened", override: { operatorId: 1, reason: "paid cash at the desk" } }));
        expect(resolved.outcome).to.equal("closed");
        expect(resolved.session.exitMethod).to.equal("operator");
      });

      it("reads a session's status, and the newest session of an identity as typed (case and separators aside)", async () => {
        const s = await site();
        const id = plate();
        const older = await db.tx((tx) => createEntrySession(tx, { siteId: s.siteId, identity: id, entryTs: new Date(Date.now() - 7_200_000) }));
        const newer = await db.tx((tx) => createEntrySession(tx, { siteId: s.siteId, identity: id, entryTs: new Date(Date.now() - 60_000), onConflict: "flag-previous" }));
        expect(await sessionStatusOf(db.sql, older.session.sessionId)).to.equal("flagged");
        expect(await sessionStatusOf(db.sql, newer.session.sessionId)).to.equal("active");
        expect(await sessionStatusOf(db.sql, uniq("no-such-"))).to.equal(undefined);
        expect(await latestSessionOfIdentity(db.sql, id.value.toLowerCase())).to.equal(newer.session.sessionId);
        expect(await latestSessionOfIdentity(db.sql, id.value.replace("-", " "))).to.equal(newer.session.sessionId);
        expect(await latestSessionOfIdentity(db.sql, uniq("ZZ"))).to.equal(undefined);
      });
    });

    describe("payments", () => {
      it("the amount comes from the session's quote; the idempotency key returns the same payment", async () => {
        const p = await pricedSession(1234);
        const key = uniq("idem-");
        const a = await db.tx((tx) => createPayment(tx, { sessionId: p.session.sessionId, provider: "stripe", idempotencyKey: key }));
        const b = await db.tx((tx) => createPayment(tx, { sessionId: p.session.sessionId, provider: "stripe", idempotencyKey: key }));
        expect(a.payment).to.include({ amount: 1234, currency: "EUR", state: "requested" });
        expect([a.created, b.created]).to.deep.equal([true, false]);
        expect(b.payment.paymentId).to.equal(a.payment.paymentId);
        const other = await pricedSession();
        await expectReject(db.tx((tx) => createPayment(tx, { sessionId: other.session.sessionId, provider: "stripe", idempotencyKey: key })), IdempotencyConflictError);
      });

      it("paid settles the session in the same transaction; replays are noop; stale failed/canceled are ignored", async () => {
        const p = await pendingPayment();
        expect(p.payment.state).to.equal("pending");
        const paid = await db.tx((tx) => applyPaymentEvent(tx, p.ref, "paid", { validatedAt: new Date("2025-05-05T10:00:00Z") }));
        expect(paid.outcome).to.equal("applied");
        expect(paid.sessionOutcome).to.equal("applied");
        expect(paid.session.status).to.equal("paid");
        expect(paid.payment.validatedTs?.toISOString()).to.equal("2025-05-05T10:00:00.000Z");
        expect((await db.tx((tx) => applyPaymentEvent(tx, p.ref, "paid"))).outcome).to.equal("noop");
        for (const late of ["failed", "canceled", "pending"] as const) {
          const r = await db.tx((tx) => applyPaymentEvent(tx, p.ref, late, { failureReason: "card_declined" }));
          expect(r.outcome, late).to.equal("stale");
        }
        const after = await getPayment(db.sql, p.payment.paymentId);
        expect(after).to.include({ state: "paid", failureReason: null });
        expect((await getSession(db.sql, p.session.sessionId)).status).to.equal("paid");
        await expectReject(db.tx((tx) => transitionPayment(tx, p.payment.paymentId, "failed")), IllegalTransitionError, /illegal payment transition paid → failed/);
      });

      it("declined keeps the session pending_payment; a retry goes back to pending and can then succeed", async () => {
        const p = await pendingPayment();
        const failed = await db.tx((tx) => applyPaymentEvent(tx, p.ref, "failed", { failureReason: "card_declined" }));
        expect(failed.payment).to.include({ state: "failed", failureReason: "card_declined" });
        expect(failed.session.status).to.equal("pending_payment");
        const retry = await db.tx((tx) => transitionPayment(tx, p.payment.paymentId, "pending"));
        expect(retry.payment.state).to.equal("pending");
        expect((await db.tx((tx) => applyPaymentEvent(tx, p.ref, "paid"))).session.status).to.equal("paid");
      });

      it("racing: two transactions marking the same payment paid have exactly one effect", async function () {
        const p = await pendingPayment();
        const attempt = () =>
          db.tx(async (tx: Tx) => {
            const r = await applyPaymentEvent(tx, p.ref, "paid");
            if (r.outcome === "applied") await enqueueOutbox(tx, { topic: `syspark/${p.siteId}/parking/payment/success`, payload: { session_id: p.session.sessionId } });
            return r.outcome;
          });
        const outcomes = await Promise.all([attempt(), attempt(), attempt()]);
        expect(outcomes.filter((o) => o === "applied")).to.have.length(1);
        expect(outcomes.filter((o) => o === "noop")).to.have.length(2);
        const rows = await db.sql`SELECT id FROM outbox WHERE payload->>'session_id' = ${p.session.sessionId}`;
        expect(rows).to.have.length(1);
        if (!target.concurrent) console.log("      (PGlite serialises transactions: this race is only real on the server)");
      });

      it("property: any sequence of provider events leaves the rows where the state machine says", async () => {
        await fc.assert(
          fc.asyncProperty(fc.array(fc.constantFrom<"pending" | "paid" | "failed" | "canceled">("pending", "paid", "failed", "canceled"), { minLength: 1, maxLength: 6 }), async (events) => {
            const p = await pendingPayment();
            let model: PaymentState = "pending";
            for (const e of events) {
              const r = await db.tx((tx) => applyPaymentEvent(tx, p.ref, e, { failureReason: "x" }));
              const verdict = classify(PAYMENT_MACHINE, model, e);
              expect(r.outcome).to.equal(verdict === "apply" ? "applied" : verdict);
              if (verdict === "apply") model = e;
            }
            const payment = await getPayment(db.sql, p.payment.paymentId);
            const session = await getSession(db.sql, p.session.sessionId);
            expect(payment.state).to.equal(model);
            expect(session.status).to.equal(model === "paid" ? "paid" : "pending_payment");
            expect(payment.validatedTs !== null).to.equal(model === "paid");
          }),
          { numRuns: 12 },
        );
      });

      it("a re-quote never lets an old, smaller payment settle the session; the next payment asks for the rest", async () => {
        const p = await pendingPayment(450);
        const requote = (amount: number) =>
          db.tx((tx) => priceSession(tx, { sessionId: p.session.sessionId, amount, currency: "EUR", tariffId: p.tariff.tariffId, tariffVersion: 1, breakdown: {}, pricedAt: new Date() }));
        expect((await requote(900)).session.amount).to.equal(900);
        // The attempt made for the old quote succeeds: 450 does not cover 900.
        const late = await db.tx((tx) => applyPaymentEvent(tx, p.ref, "paid"));
        expect(late).to.deep.include({ outcome: "applied", sessionOutcome: "underpaid", amountDue: 450 });
        expect(late.session.status).to.equal("pending_payment");
        // The next payment asks only for what is left, and settles the session.
        const rest = await db.tx(async (tx) => {
          const { payment } = await createPayment(tx, { sessionId: p.session.sessionId, provider: "stripe", idempotencyKey: uniq("idem-") });
          return attachProviderRef(tx, payment.paymentId, uniq("pi_"));
        });
        expect(rest.amount).to.equal(450);
        const done = await db.tx((tx) => applyPaymentEvent(tx, rest.providerRef ?? "", "paid"));
        expect(done.sessionOutcome).to.equal("applied");
        expect(done.session.status).to.equal("paid");
      });

      it("racing: a re-quote and a late success of a failed attempt — paid if and only if covered", async () => {
        const p = await pendingPayment(450);
        await db.tx((tx) => applyPaymentEvent(tx, p.ref, "failed"));
        const [q, r] = await Promise.allSettled([
          db.tx((tx) => priceSession(tx, { sessionId: p.session.sessionId, amount: 900, currency: "EUR", tariffId: p.tariff.tariffId, tariffVersion: 1, breakdown: {}, pricedAt: new Date() })),
          db.tx((tx) => applyPaymentEvent(tx, p.ref, "paid")),
        ]);
        expect(r.status).to.equal("fulfilled");
        if (q.status === "rejected") expect(q.reason).to.be.instanceOf(IllegalTransitionError);
        const s = await getSession(db.sql, p.session.sessionId);
        expect((await getPayment(db.sql, p.payment.paymentId)).state).to.equal("paid");
        // Either the payment came first (paid, re-quote refused) or the re-quote did (900 > 450: still due).
        if (q.status === "rejected") expect([s.status, s.amount]).to.deep.equal(["paid", 450]);
        else expect([s.status, s.amount]).to.deep.equal(["pending_payment", 900]);
      });

      it("refunds never exceed the paid amount and are idempotent by key", async () => {
        const p = await pendingPayment(1000);
        await expectReject(db.tx((tx) => createRefund(tx, { paymentId: p.payment.paymentId, amount: 100, reason: "goodwill", idempotencyKey: uniq("r-") })), ValidationError, /only a paid payment/);
        await db.tx((tx) => applyPaymentEvent(tx, p.ref, "paid"));
        const key = uniq("r-");
        const r1 = await db.tx((tx) => createRefund(tx, { paymentId: p.payment.paymentId, amount: 600, reason: "goodwill", idempotencyKey: key }));
        const r1again = await db.tx((tx) => createRefund(tx, { paymentId: p.payment.paymentId, amount: 600, reason: "goodwill", idempotencyKey: key }));
        expect(r1again.created).to.equal(false);
        await expectReject(db.tx((tx) => createRefund(tx, { paymentId: p.payment.paymentId, amount: 401, reason: "too much", idempotencyKey: uniq("r-") })), ValidationError, /exceeds/);
        const done = await db.tx((tx) => applyRefundEvent(tx, r1.refund.refundId, "succeeded", { providerRef: uniq("re_") }));
        expect(done.outcome).to.equal("applied");
        expect((await db.tx((tx) => applyRefundEvent(tx, r1.refund.refundId, "failed"))).outcome).to.equal("stale");
        expect((await getPayment(db.sql, p.payment.paymentId)).state).to.equal("paid");
      });
    });

    describe("webhook events and site events", () => {
      it("a replayed provider event is detected; processing happens once", async () => {
        const p = await pendingPayment();
        const eventId = uniq("evt_");
        const deliver = () =>
          db.tx(async (tx) => {
            const rec = await recordWebhookEvent(tx, { provider: "stripe", eventId, type: "payment_intent.succeeded", payload: { id: eventId, data: { object: { id: p.ref } } } });
            if (rec.duplicate && (rec.event.status === "processed" || rec.event.status === "ignored")) return "acknowledged";
            const r = await applyPaymentEvent(tx, p.ref, "paid");
            if (r.outcome === "applied") await enqueueOutbox(tx, { topic: "t/success", payload: { session_id: p.session.sessionId }, dedupeKey: `success:${p.session.sessionId}` });
            await markWebhookEvent(tx, "stripe", eventId, r.outcome === "stale" ? "ignored" : "processed");
            return "processed";
          });
        const results = [];
        for (let i = 0; i < 10; i++) results.push(await deliver());
        expect(results).to.deep.equal(["processed", ...Array(9).fill("acknowledged")]);
        const ev = await getWebhookEvent(db.sql, "stripe", eventId);
        expect(ev).to.include({ status: "processed", attempts: 10, type: "payment_intent.succeeded" });
        expect(ev?.processedAt).to.be.instanceOf(Date);
        const rows = await db.sql`SELECT id FROM outbox WHERE dedupe_key = ${`success:${p.session.sessionId}`}`;
        expect(rows).to.have.length(1);
      });

      it("concurrent deliveries of the same event: one records it, the others see a duplicate", async () => {
        const eventId = uniq("evt_");
        const results = await Promise.all(
          Array.from({ length: 3 }, () => db.tx((tx) => recordWebhookEvent(tx, { provider: "stripe", eventId, type: "x", payload: {} }))),
        );
        expect(results.filter((r) => !r.duplicate)).to.have.length(1);
      });

      it("a failed processing is stored with its error and retried later", async () => {
        const eventId = uniq("evt_");
        const failed = await recordWebhookFailure(db.sql, { provider: "stripe", eventId, type: "payment_intent.succeeded", payload: { a: 1 }, error: "boom" });
        expect(failed).to.include({ status: "failed", lastError: "boom" });
        const retry = await db.tx((tx) => recordWebhookEvent(tx, { provider: "stripe", eventId, type: "payment_intent.succeeded", payload: { a: 1 } }));
        expect(retry.duplicate).to.equal(true);
        expect(retry.event.status).to.equal("failed");
      });

      it("site event ids are acted on once (MQTT QoS 1 duplicates)", async () => {
        const eventId = uniq("e-");
        const first = await db.tx((tx) => recordSiteEvent(tx, { siteId: "site-a", eventId, topic: "parking/exit/req" }));
        const dup = await db.tx((tx) => recordSiteEvent(tx, { siteId: "site-a", eventId, topic: "parking/exit/req" }));
        const otherSite = await db.tx((tx) => recordSiteEvent(tx, { siteId: "site-b", eventId, topic: "parking/exit/req" }));
        expect([first, dup, otherSite]).to.deep.equal([true, false, true]);
        // Recorded in a transaction that rolls back → not recorded.
        const e2 = uniq("e-");
        await db.tx(async (tx) => {
          await recordSiteEvent(tx, { siteId: "site-a", eventId: e2, topic: "t" });
          throw new Error("effect failed");
        }).catch(() => undefined);
        expect(await db.tx((tx) => recordSiteEvent(tx, { siteId: "site-a", eventId: e2, topic: "t" }))).to.equal(true);
      });
    });

    describe("outbox", () => {
      async function drain(): Promise<void> {
        for (;;) {
          const rows = await claimOutbox(db.sql, { limit: 1000 });
          if (rows.length === 0) return;
          await markOutboxPublished(db.sql, rows.map((r) => r.id));
        }
      }

      it("delivers in id order, at least once with the same ids, and nothing from rolled-back transactions", async () => {
        await drain();
        const ids = await db.tx(async (tx) => {
          const out: number[] = [];
          for (let i = 0; i < 5; i++) out.push((await enqueueOutbox(tx, { topic: "syspark/s/parking/payment/req", payload: { n: i } })).id);
          return out;
        });
        await db.tx(async (tx) => {
          await enqueueOutbox(tx, { topic: "lost", payload: {} });
          throw new Error("rollback");
        }).catch(() => undefined);

        const first = await claimOutbox(db.sql, { limit: 3, leaseMs: 1 });
        expect(first.map((r) => r.id)).to.deep.equal(ids.slice(0, 3));
        expect(first.map((r) => r.payload)).to.deep.equal([{ n: 0 }, { n: 1 }, { n: 2 }]);
        // The relay "crashed" before marking: once the lease expires the same rows come back.
        await sleep(20);
        const again = await claimOutbox(db.sql, { limit: 10, leaseMs: 60_000 });
        expect(again.map((r) => r.id)).to.deep.equal(ids);
        expect(again.slice(0, 3).map((r) => r.attempts)).to.deep.equal([2, 2, 2]);
        expect(again.slice(0, 3).map((r) => r.payload)).to.deep.equal(first.map((r) => r.payload));
        // While leased, nobody else gets them.
        expect(await claimOutbox(db.sql)).to.deep.equal([]);
        expect(await markOutboxPublished(db.sql, ids)).to.equal(5);
        expect(await markOutboxPublished(db.sql, ids)).to.equal(0);
        await sleep(5);
        expect(await claimOutbox(db.sql, { leaseMs: 1 })).to.deep.equal([]);
      });

      it("a lease names its owner; reclaimOwnLeases frees that owner's unpublished leases only", async () => {
        await drain();
        const ids = await db.tx(async (tx) => {
          const out: number[] = [];
          for (let i = 0; i < 3; i++) out.push((await enqueueOutbox(tx, { topic: "t", payload: { i } })).id);
          return out;
        });
        const mine = await claimOutbox(db.sql, { limit: 2, leaseMs: 60_000, owner: "cloud-a" });
        const theirs = await claimOutbox(db.sql, { limit: 1, leaseMs: 60_000, owner: "cloud-b" });
        expect(mine.map((r) => [r.id, r.claimedBy])).to.deep.equal([[ids[0], "cloud-a"], [ids[1], "cloud-a"]]);
        expect(theirs.map((r) => r.claimedBy)).to.deep.equal(["cloud-b"]);
        await markOutboxPublished(db.sql, [ids[1]]);
        // cloud-a restarted: only its still-unpublished row comes back, cloud-b's stays leased.
        expect(await reclaimOwnLeases(db.sql, "cloud-a")).to.equal(1);
        expect((await claimOutbox(db.sql, { limit: 10, owner: "cloud-a" })).map((r) => r.id)).to.deep.equal([ids[0]]);
        expect(await reclaimOwnLeases(db.sql, "cloud-c")).to.equal(0);
        await db.sql`UPDATE outbox SET claimed_until = NULL WHERE id = ANY(${db.sql.array(ids, 20)}::int8[])`;
        await drain();
      });

      it("a dedupe key enqueues once", async () => {
        const key = uniq("k-");
        const a = await db.tx((tx) => enqueueOutbox(tx, { topic: "t", payload: { a: 1 }, dedupeKey: key }));
        const b = await db.tx((tx) => enqueueOutbox(tx, { topic: "t", payload: { a: 2 }, dedupeKey: key }));
        expect(b).to.deep.equal({ id: a.id, duplicate: true });
      });

      it("concurrent relays get disjoint batches (SKIP LOCKED)", async () => {
        await drain();
        await db.tx(async (tx) => {
          for (let i = 0; i < 20; i++) await enqueueOutbox(tx, { topic: "t", payload: { i } });
        });
        const [a, b] = await Promise.all([claimOutbox(db.sql, { limit: 10 }), claimOutbox(db.sql, { limit: 10 })]);
        const all = [...a, ...b].map((r) => r.id);
        expect(new Set(all).size).to.equal(20);
        await drain();
      });
    });

    describe("audit log", () => {
      it("finds audit entries, chained or still pending, by session, kind or site event id", async () => {
        const sessionId = uniq("s-find-");
        const ev = [uniq("ev-"), uniq("ev-")];
        const t0 = Date.now() - 10_000;
        await db.tx((tx) => appendAudit(tx, { kind: "test.find_a", sessionId, payload: { event_id: ev[0] }, ts: new Date(t0) }));
        await db.tx((tx) => queueAudit(tx, { kind: "test.find_b", sessionId, payload: { event_id: ev[1], n: 2 }, ts: new Date(t0 + 1000) }));
        await db.tx((tx) => appendAudit(tx, { kind: "test.find_c", sessionId, payload: {}, ts: new Date(t0 + 2000) }));
        expect((await findAuditEntries(db.sql, { sessionId })).map((r) => r.kind)).to.deep.equal(["test.find_a", "test.find_b", "test.find_c"]);
        const b = await findAuditEntries(db.sql, { sessionId, kind: "test.find_b" });
        expect(b.map((r) => [r.kind, r.sessionId, r.eventId, r.payload])).to.deep.equal([["test.find_b", sessionId, ev[1], { event_id: ev[1], n: 2 }]]);
        expect((await findAuditEntries(db.sql, { eventIds: ev })).map((r) => [r.kind, r.eventId])).to.deep.equal([["test.find_a", ev[0]], ["test.find_b", ev[1]]]);
        expect(await findAuditEntries(db.sql, { eventIds: [] })).to.deep.equal([]);
        expect((await findAuditEntries(db.sql, { kind: "test.find_c" })).some((r) => r.sessionId === sessionId)).to.equal(true);
        await expectReject(findAuditEntries(db.sql, {}), ValidationError, /sessionId, kind or eventIds/);
      });

      it("chains rows, verifies, and streams a time range in batches", async () => {
        const base = Date.UTC(2001, 0, 1);
        const appended: AuditRow[] = [];
        for (let i = 0; i < 7; i++) {
          appended.push(await db.tx((tx) => appendAudit(tx, { kind: "test.range", sessionId: "s-range", payload: { i, nested: { b: 2, a: 1 } }, ts: new Date(base + i * 60_000) })));
        }
        for (let i = 1; i < appended.length; i++) {
          expect(appended[i].seq).to.equal(appended[i - 1].seq + 1);
          expect(appended[i].prevHash).to.equal(appended[i - 1].hash);
        }
        const batches: AuditRow[][] = [];
        for await (const b of streamAudit(db.sql, { from: new Date(base + 60_000), to: new Date(base + 5 * 60_000), batchSize: 2 })) batches.push(b);
        expect(batches.map((b) => b.length)).to.deep.equal([2, 2]);
        expect(batches.flat().map((r) => (r.payload as { i: number }).i)).to.deep.equal([1, 2, 3, 4]);
        const v = await verifyAuditChain(db.sql, { batchSize: 3 });
        expect(v.ok, JSON.stringify(v.firstBroken)).to.equal(true);
        expect(v.head.hash).to.equal((await verifyAuditChain(db.sql)).head.hash);
      });

      it("concurrent appends never fork the chain", async () => {
        await Promise.all(Array.from({ length: 12 }, (_, i) => db.tx((tx) => appendAudit(tx, { kind: "test.race", payload: { i } }))));
        const v = await verifyAuditChain(db.sql);
        expect(v.ok, JSON.stringify(v.firstBroken)).to.equal(true);
      });

      it("an audit row written in a rolled-back transaction leaves no trace and no gap", async () => {
        await db.tx(async (tx) => {
          await appendAudit(tx, { kind: "test.rollback", payload: {} });
          throw new Error("rollback");
        }).catch(() => undefined);
        const row = await db.tx((tx) => appendAudit(tx, { kind: "test.after", payload: {} }));
        expect((await verifyAuditChain(db.sql)).ok).to.equal(true);
        expect(row.seq).to.equal((await verifyAuditChain(db.sql)).head.seq);
      });

      it("queued rows (queueAudit) join the chain in batches; rolled-back ones never do", async () => {
        const drain = async () => {
          let total = 0;
          for (;;) {
            const { chained } = await db.tx((tx) => chainPendingAudit(tx, { limit: 4 }));
            total += chained;
            if (chained < 4) return total;
          }
        };
        await drain();
        const sessionId = uniq("s-q");
        await db.tx(async (tx) => {
          for (let i = 0; i < 6; i++) await queueAudit(tx, { kind: "test.queued", sessionId, payload: { i } });
        });
        await db.tx(async (tx) => {
          await queueAudit(tx, { kind: "test.queued", sessionId, payload: { i: "lost" } });
          throw new Error("rollback");
        }).catch(() => undefined);
        // Direct appends and queued rows interleave safely.
        await Promise.all([
          db.tx((tx) => appendAudit(tx, { kind: "test.direct", sessionId, payload: {} })),
          db.tx((tx) => queueAudit(tx, { kind: "test.queued", sessionId, payload: { i: 6 } })),
        ]);
        expect(await pendingAuditCount(db.sql)).to.equal(7);
        await expectReject(db.sql`UPDATE audit_pending SET payload = '{}'`, Error, /cannot be modified/);
        expect(await drain()).to.equal(7);
        expect(await pendingAuditCount(db.sql)).to.equal(0);
        const rows: AuditRow[] = [];
        for await (const b of streamAudit(db.sql, { sessionId })) rows.push(...b);
        expect(rows.filter((r) => r.kind === "test.queued").map((r) => (r.payload as { i: number }).i)).to.deep.equal([0, 1, 2, 3, 4, 5, 6]);
        const v = await verifyAuditChain(db.sql);
        expect(v.ok, JSON.stringify(v.firstBroken)).to.equal(true);
      });

      it("the append-only trigger rejects UPDATE, DELETE and TRUNCATE", async () => {
        const row = await db.tx((tx) => appendAudit(tx, { kind: "test.immutable", payload: { x: 1 } }));
        await expectReject(db.sql`UPDATE audit_log SET payload = '{"x":2}' WHERE seq = ${row.seq}`, Error, /append-only: UPDATE rejected/);
        await expectReject(db.sql`DELETE FROM audit_log WHERE seq = ${row.seq}`, Error, /append-only: DELETE rejected/);
        await expectReject(db.sql`TRUNCATE audit_log`, Error, /append-only: TRUNCATE rejected/);
        expect((await verifyAuditChain(db.sql)).ok).to.equal(true);
      });

      it("verification names the first broken row after tampering with the trigger disabled", async () => {
        const rows: AuditRow[] = [];
        for (let i = 0; i < 4; i++) rows.push(await db.tx((tx) => appendAudit(tx, { kind: "test.tamper", payload: { amount: 100 + i } })));
        const victim = rows[1];
        const bypass = async (fn: (tx: Tx) => Promise<unknown>) =>
          db.tx(async (tx) => {
            await tx`ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only`;
            await fn(tx);
            await tx`ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only`;
          });
        try {
          await bypass((tx) => tx`UPDATE audit_log SET payload = '{"amount": 1}' WHERE seq = ${victim.seq}`);
          let v = await verifyAuditChain(db.sql);
          expect(v.ok).to.equal(false);
          expect(v.firstBroken).to.deep.equal({ seq: victim.seq, reason: "content does not match its hash (row altered)" });
          // Re-hashing the altered row moves the break to the next row, never hides it.
          await bypass(async (tx) => {
            await tx`UPDATE audit_log SET hash = ${"f".repeat(64)} WHERE seq = ${victim.seq}`;
          });
          v = await verifyAuditChain(db.sql);
          expect(v.firstBroken?.seq).to.equal(victim.seq);
          // A deleted row is named as missing.
          await bypass((tx) => tx`UPDATE audit_log SET payload = ${tx.json(victim.payload)}, hash = ${victim.hash} WHERE seq = ${victim.seq}`);
          expect((await verifyAuditChain(db.sql)).ok).to.equal(true);
          await bypass((tx) => tx`DELETE FROM audit_log WHERE seq = ${rows[2].seq}`);
          v = await verifyAuditChain(db.sql);
          expect(v.firstBroken?.seq).to.equal(rows[2].seq);
          expect(v.firstBroken?.reason).to.match(/missing/);
        } finally {
          // Put the chain back for the other tests.
          await bypass(async (tx) => {
            await tx`UPDATE audit_log SET payload = ${tx.json(victim.payload)}, hash = ${victim.hash} WHERE seq = ${victim.seq}`;
            const r = rows[2];
            await tx`INSERT INTO audit_log (seq, ts, kind, session_id, payload, prev_hash, hash)
                     VALUES (${r.seq}, ${r.ts}, ${r.kind}, ${r.sessionId}, ${tx.json(r.payload)}, ${r.prevHash}, ${r.hash}) ON CONFLICT (seq) DO NOTHING`;
          });
        }
        expect((await verifyAuditChain(db.sql)).ok).to.equal(true);
      });
    });

    describe("operators, overrides, access list", () => {
      it("operators CRUD with hashed passwords", async () => {
        const username = uniq("op.");
        const hash = await hashSecret("correct horse", FAST_SCRYPT);
        const op = await createOperator(db.sql, { username: username.toUpperCase(), passwordHash: hash, role: "operator" });
        expect(op.username).to.equal(username);
        await expectReject(createOperator(db.sql, { username, passwordHash: hash, role: "admin" }), ConflictError, /already exists/);
        await expectReject(createOperator(db.sql, { username: uniq("op."), passwordHash: "plain-text-password!!", role: "admin" }), ValidationError);
        const found = await findOperatorByUsername(db.sql, username);
        expect(await verifySecret("correct horse", found?.passwordHash ?? "")).to.equal(true);
        expect(await verifySecret("wrong", found?.passwordHash ?? "")).to.equal(false);
        expect((await updateOperator(db.sql, op.operatorId, { role: "admin", disabled: true })).role).to.equal("admin");
        await deleteOperator(db.sql, op.operatorId);
        expect(await findOperatorByUsername(db.sql, username)).to.equal(undefined);
      });

      it("overrides are idempotent by cmd_id; an operator with overrides cannot be deleted", async () => {
        const s = await site();
        const op = await createOperator(db.sql, { username: uniq("op."), passwordHash: await hashSecret("pw", FAST_SCRYPT), role: "operator" });
        const cmdId = uniq("cmd-");
        const a = await db.tx((tx) => recordOverride(tx, { cmdId, siteId: s.siteId, laneId: s.exit, operatorId: op.operatorId, action: "open", reason: "ticket machine broken" }));
        const b = await db.tx((tx) => recordOverride(tx, { cmdId, siteId: s.siteId, laneId: s.exit, operatorId: op.operatorId, action: "open", reason: "ticket machine broken" }));
        expect([a.created, b.created]).to.deep.equal([true, false]);
        await expectReject(db.tx((tx) => recordOverride(tx, { cmdId: uniq("c"), siteId: s.siteId, laneId: s.exit, operatorId: op.operatorId, action: "open", reason: " " })), ValidationError);
        await expectReject(deleteOperator(db.sql, op.operatorId), ConflictError, /disable it/);
      });

      it("access list: badges and hashed PINs, versioned, with tombstones", async () => {
        const s = await site();
        const pinHash = await hashSecret("4711", FAST_SCRYPT);
        await db.tx((tx) => upsertAccessEntry(tx, { siteId: s.siteId, entryId: "b1", badgeUid: "04:a1:b2:c3", label: "staff" }));
        await db.tx((tx) => upsertAccessEntry(tx, { siteId: s.siteId, entryId: "p1", pinHash }));
        await expectReject(db.tx((tx) => upsertAccessEntry(tx, { siteId: s.siteId, entryId: "p2", pinHash: "4711" })), ValidationError, /never store a plain PIN/);
        let list = await getAccessList(db.sql, s.siteId);
        expect(list.version).to.equal(2);
        expect(list.entries.map((e) => [e.entryId, e.badgeUid])).to.deep.equal([["b1", "04A1B2C3"], ["p1", null]]);
        await db.tx((tx) => removeAccessEntry(tx, s.siteId, "b1"));
        list = await getAccessList(db.sql, s.siteId);
        expect(list.version).to.equal(3);
        expect(list.entries.map((e) => e.entryId)).to.deep.equal(["p1"]);
        const delta = await getAccessList(db.sql, s.siteId, 2);
        expect(delta.entries.map((e) => [e.entryId, e.deleted])).to.deep.equal([["b1", true]]);
      });
    });
  });
}
