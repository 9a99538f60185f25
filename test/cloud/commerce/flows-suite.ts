/**
 * Lost tickets, merchant validations and reservations (issue 18) on a real database (run on
 * PGlite and on the PostgreSQL server): the site events and the flows' functions called as the
 * MQTT consumer and the console call them, answers read from the outbox, money from priceStay.
 */
import { randomBytes } from "node:crypto";
import { expect } from "chai";
import fc from "fast-check";
import { createEntrySession, createOperator, findOpenSessionByAnyIdentity, getSession, hashSecret, listTariffs, type Database, type Json } from "../../../cloud/db/index";
import { createMerchant, getMerchant, insertValidationCode, type MerchantRow } from "../../../cloud/db/merchants";
import { countHeldReservations, createReservation, newReservationCode, newReservationId } from "../../../cloud/db/reservations";
import type { FlowContext } from "../../../cloud/flows/flow-context";
import { declareLostTicket, handleLostTicket } from "../../../cloud/flows/lost-ticket";
import { pricingExtrasFor } from "../../../cloud/flows/pricing-extras";
import { claimReservation, reservationForEntry } from "../../../cloud/flows/reservations";
import { handleExitRequest } from "../../../cloud/flows/site-events";
import { applyValidation, handleExitValidation, issueValidationCode } from "../../../cloud/flows/validations";
import { seedSite } from "../../../cloud/server/seed";
import { parseTariff, priceStay, type Tariff } from "../../../cloud/tariffs/index";
import { silentLogger } from "../../../host/log";

const SRC = "test-gateway";
const H = 3_600_000;
let n = 0;
const ev = () => `e${Date.now().toString(36)}${(n++).toString(36)}${randomBytes(3).toString("hex")}`;
const plateOf = () => `C${randomBytes(4).toString("hex").toUpperCase()}`;

export interface CommerceDb {
  open(ctx: Mocha.Context): Promise<Database>;
  close(db: Database): Promise<void>;
}

export function commerceFlowSuite(title: string, opts: CommerceDb): void {
  describe(title, function () {
    this.timeout(60_000);
    let db: Database;
    let ctx: FlowContext;
    let tariff: Tariff;
    let demoMerchant: string;
    const siteId = `c-${randomBytes(4).toString("hex")}`;

    before(async function () {
      db = await opts.open(this);
      const seeded = await seedSite(db, { siteId, name: "Commerce test site", timeZone: "Europe/Paris", currency: "EUR" });
      demoMerchant = seeded.demoMerchant?.merchantId as string;
      tariff = parseTariff((await listTariffs(db.sql, siteId))[0].document);
      ctx = { db, logger: silentLogger, src: "cloud-test", publicBaseUrl: "http://pay.test", wake: () => undefined, auditMode: "inline", billingEnabled: true };
    });
    after(async () => {
      if (db) await opts.close(db);
    });

    async function enter(identity: { method: "plate" | "ticket"; value: string }, entryTs: Date): Promise<string> {
      const r = await db.tx((tx) => createEntrySession(tx, { siteId, laneId: "e1", identity, entryTs, sessionId: `s${randomBytes(8).toString("hex")}` }));
      return r.session.sessionId;
    }
    /** The site's last answer about a session (payment/req or payment/success), from the outbox. */
    async function lastAnswer(sessionId: string): Promise<{ topic: string; payload: Record<string, Json> }> {
      const [row] = await db.sql<{ topic: string; payload: Record<string, Json> }[]>`
        SELECT topic, payload FROM outbox WHERE payload->>'session_id' = ${sessionId} AND (topic LIKE '%/payment/req' OR topic LIKE '%/payment/success') ORDER BY id DESC LIMIT 1`;
      return row;
    }
    async function auditOf(kind: string, sessionId: string): Promise<Record<string, Json>[]> {
      const rows = await db.sql<{ payload: Record<string, Json> }[]>`SELECT payload FROM audit_log WHERE kind = ${kind} AND session_id = ${sessionId} ORDER BY seq`;
      return rows.map((r) => r.payload);
    }
    async function extrasOf(sessionId: string) {
      const session = await getSession(db.sql, sessionId);
      return db.tx((tx) => pricingExtrasFor(tx, session));
    }
    async function exitReq(plate: string, ts: number): Promise<string> {
      return handleExitRequest(ctx, siteId, { ts, src: SRC, event_id: ev(), lane_id: "L1", identity: { method: "plate", value: plate } });
    }
    async function merchant(rule: string, budgetMinor: number): Promise<MerchantRow> {
      return (await createMerchant(db.sql, { siteId, name: `Shop ${rule}`, kind: "shop", rule, budgetMinor })).merchant;
    }
    async function code(m: MerchantRow): Promise<string> {
      const r = await db.tx((tx) => issueValidationCode(tx, "inline", m.merchantId));
      if (!r.ok) throw new Error(r.message);
      return r.code.code;
    }

    describe("lost ticket", () => {
      it("with a plate matching a session: declared on it, priced from its entry with the lost-ticket rule", async () => {
        const plate = plateOf();
        const entry = new Date(Date.now() - 50 * H);
        const sessionId = await enter({ method: "plate", value: plate }, entry);
        const ts = Date.now();
        const outcome = await handleLostTicket(ctx, siteId, { ts, src: SRC, event_id: ev(), lane_id: "L1", plate: plate.toLowerCase() });
        expect(outcome).to.equal("lost_matched+payment_requested");
        const want = priceStay({ tariff, entry, exit: new Date(ts), lostTicket: true }).amount;
        expect(want).to.be.greaterThan(tariff.lost_ticket?.price as number); // 50 h: the stay costs more than the fee
        const answer = await lastAnswer(sessionId);
        expect(answer.topic).to.match(/payment\/req$/);
        expect(answer.payload.amount).to.equal(want);
        const [audit] = await auditOf("ticket.lost_declared", sessionId);
        expect(audit).to.include({ matched_session: true, pricing: "from_entry_with_lost_ticket_rule", declared_by: "pay_station", plate });
        expect((await extrasOf(sessionId)).lostTicket).to.equal(true);
      });

      it("without a match (a plate read, or none): a session opened now, the fixed fee", async () => {
        const plate = plateOf();
        expect(await handleLostTicket(ctx, siteId, { ts: Date.now(), src: SRC, event_id: ev(), lane_id: "L1", plate })).to.equal("lost_unmatched+payment_requested");
        const [withPlate] = await db.sql<{ sessionId: string }[]>`SELECT session_id FROM sessions WHERE site_id = ${siteId} AND identity_value = ${plate}`;
        expect((await lastAnswer(withPlate.sessionId)).payload.amount).to.equal(4000);
        const [audit] = await auditOf("ticket.lost_declared", withPlate.sessionId);
        expect(audit).to.include({ matched_session: false, pricing: "fixed_lost_ticket_fee" });
        const event = ev();
        expect(await handleLostTicket(ctx, siteId, { ts: Date.now(), src: SRC, event_id: event, lane_id: "L1" })).to.equal("lost_unmatched+payment_requested");
        const [noPlate] = await db.sql<{ sessionId: string; identityMethod: string }[]>`SELECT session_id, identity_method FROM sessions WHERE identity_value = ${`LOST-${event}`}`;
        expect(noPlate.identityMethod).to.equal("ticket");
        expect((await lastAnswer(noPlate.sessionId)).payload.amount).to.equal(4000);
        // The same event again (QoS 1): acts once.
        expect(await handleLostTicket(ctx, siteId, { ts: Date.now(), src: SRC, event_id: event, lane_id: "L1" })).to.equal("duplicate");
        const [{ count }] = await db.sql<{ count: number }[]>`SELECT count(*)::int AS count FROM sessions WHERE identity_value = ${`LOST-${event}`}`;
        expect(count).to.equal(1);
      });

      it("declared by an operator: on the plate's session, audited with the operator and the reason, once per form", async () => {
        const op = await createOperator(db.sql, { username: `op${randomBytes(3).toString("hex")}`, passwordHash: await hashSecret("pw-123456789", { N: 1 << 10, r: 8, p: 1 }), role: "operator" });
        const plate = plateOf();
        const sessionId = await enter({ method: "plate", value: plate }, new Date(Date.now() - 2 * H));
        const args = { site: siteId, lane: "L1", plate, operator: { operatorId: op.operatorId, username: op.username }, reason: "ticket lost, driver at the intercom", key: randomBytes(8).toString("hex") };
        const r = await declareLostTicket(ctx, args);
        expect(r).to.deep.equal({ outcome: "lost_matched+payment_requested", sessionId });
        expect((await lastAnswer(sessionId)).payload.amount).to.equal(4000); // 2 h costs less than the fee: at_least
        const [row] = await db.sql`SELECT declared_by, operator_id, reason FROM lost_ticket_declarations WHERE session_id = ${sessionId}`;
        expect(row).to.deep.include({ declaredBy: "operator", operatorId: op.operatorId, reason: args.reason });
        const [audit] = await auditOf("ticket.lost_declared", sessionId);
        expect(audit).to.include({ declared_by: "operator", operator: op.username, reason: args.reason });
        expect((await declareLostTicket(ctx, args)).outcome).to.equal("duplicate");
      });
    });

    describe("merchant validations", () => {
      it("HALF halves the fee at the pay station, charged to the merchant; the same code again is refused", async () => {
        const plate = plateOf();
        const entry = new Date(Date.now() - 2 * H - 7 * 60_000);
        const sessionId = await enter({ method: "plate", value: plate }, entry);
        const ts = Date.now();
        expect(await exitReq(plate, ts)).to.equal("payment_requested");
        const full = priceStay({ tariff, entry, exit: new Date(ts) }).amount;
        expect((await lastAnswer(sessionId)).payload.amount).to.equal(full);
        const c = await code(await getMerchant(db.sql, demoMerchant));
        expect(c).to.match(/^[A-Z0-9]{12}$/);
        expect(await handleExitValidation(ctx, siteId, { ts, src: SRC, event_id: ev(), lane_id: "L1", session_id: sessionId, code: c })).to.equal("validated+payment_requested");
        const half = priceStay({ tariff, entry, exit: new Date(ts), discounts: ["HALF"] }).amount;
        expect(half).to.equal(full - Math.round(full / 2));
        expect((await lastAnswer(sessionId)).payload.amount).to.equal(half);
        expect((await getMerchant(db.sql, demoMerchant)).spentMinor).to.equal(full - half);
        const [applied] = await auditOf("validation.applied", sessionId);
        expect(applied).to.include({ code: c, rule: "HALF", cost: full - half, via: "pay_station", amount_before: full, amount_after: half });

        const again = ev();
        expect(await handleExitValidation(ctx, siteId, { ts, src: SRC, event_id: again, lane_id: "L1", session_id: sessionId, code: c })).to.equal("validation_already_used");
        expect((await lastAnswer(sessionId)).payload.amount).to.equal(half);
        expect((await getMerchant(db.sql, demoMerchant)).spentMinor).to.equal(full - half);
        const [display] = await db.sql<{ payload: { lines: string[] } }[]>`SELECT payload FROM outbox WHERE payload->>'msg_id' = ${`m${again}`}`;
        expect(display.payload.lines).to.deep.equal(["Code deja utilise", "Code already used"]);
        const [refusal] = await auditOf("validation.refused", sessionId);
        expect(refusal).to.include({ reason: "already_used", code: c });
      });

      it("a code used concurrently on two sessions acts once", async () => {
        const m = await merchant("SHOP-1H", 1_000_000);
        const c = await code(m);
        const sessions = await Promise.all([0, 1].map(() => enter({ method: "plate", value: plateOf() }, new Date(Date.now() - 3 * H))));
        const outcomes = await Promise.all(sessions.map((sessionId) => db.tx((tx) => applyValidation(tx, "inline", { siteId, sessionId, code: c, via: "pay_page" }))));
        expect(outcomes.filter((o) => o.ok)).to.have.length(1);
        const loser = outcomes.find((o) => !o.ok);
        expect(loser).to.include({ ok: false, reason: "already_used" });
        const [{ count }] = await db.sql<{ count: number }[]>`SELECT count(*)::int AS count FROM session_validations WHERE code = ${c}`;
        expect(count).to.equal(1);
      });

      it("property: whatever the order of uses, each code acts once and the budget is never exceeded", async () => {
        await fc.assert(
          fc.asyncProperty(fc.integer({ min: 100, max: 1500 }), fc.array(fc.record({ code: fc.nat(2), session: fc.nat(2) }), { minLength: 1, maxLength: 8 }), async (budget, uses) => {
            const m = await merchant("HOTEL-20", budget);
            const codes = await Promise.all([0, 1, 2].map(() => db.tx((tx) => insertValidationCode(tx, m)).then((r) => r.code)));
            const sessions = await Promise.all([0, 1, 2].map(() => enter({ method: "plate", value: plateOf() }, new Date(Date.now() - 5 * H))));
            const okBy = new Map<string, number>();
            let spent = 0;
            for (const u of uses) {
              const o = await db.tx((tx) => applyValidation(tx, "inline", { siteId, sessionId: sessions[u.session], code: codes[u.code], via: "pay_page" }));
              if (o.ok) {
                okBy.set(o.code, (okBy.get(o.code) ?? 0) + 1);
                spent += o.cost;
              }
            }
            for (const v of okBy.values()) expect(v).to.equal(1);
            const after = await getMerchant(db.sql, m.merchantId);
            expect(after.spentMinor).to.equal(spent);
            expect(after.spentMinor).to.be.at.most(budget);
          }),
          { numRuns: 12 },
        );
      });

      it("over budget, an unknown rule, an unknown code: refused with the reason, nothing charged", async () => {
        const sessionId = await enter({ method: "plate", value: plateOf() }, new Date(Date.now() - 4 * H));
        const poor = await merchant("HALF", 10);
        const c1 = await code(poor);
        const r1 = await db.tx((tx) => applyValidation(tx, "inline", { siteId, sessionId, code: c1, via: "pay_page" }));
        expect(r1).to.include({ ok: false, reason: "over_budget" });
        expect((await getMerchant(db.sql, poor.merchantId)).spentMinor).to.equal(0);
        const [still] = await db.sql`SELECT state FROM validation_codes WHERE code = ${c1}`;
        expect(still.state).to.equal("issued");
        const odd = await merchant("NOT-IN-TARIFF", 100_000);
        const oddCode = await code(odd);
        const r2 = await db.tx((tx) => applyValidation(tx, "inline", { siteId, sessionId, code: oddCode, via: "pay_page" }));
        expect(r2).to.include({ ok: false, reason: "unknown_rule" });
        expect((r2 as { message: string }).message).to.match(/NOT-IN-TARIFF is not a validation of tariff paris-centre/);
        const r3 = await db.tx((tx) => applyValidation(tx, "inline", { siteId, sessionId, code: "ZZZZZZZZZZZZ", via: "pay_page" }));
        expect(r3).to.include({ ok: false, reason: "unknown_code" });
        expect((await extrasOf(sessionId)).discounts).to.deep.equal([]);
      });
    });

    describe("reservations", () => {
      async function paidReservation(plate: string | null, startsAt: Date, endsAt: Date): Promise<{ reservationId: string; code: string }> {
        const code = newReservationCode();
        const r = await createReservation(db.sql, { reservationId: newReservationId(), siteId, code, plate, startsAt, endsAt, amount: 500, currency: "EUR", prepaymentId: null });
        await db.sql`UPDATE reservations SET state = 'paid' WHERE reservation_id = ${r.reservationId}`;
        return { reservationId: r.reservationId, code };
      }

      it("reservationForEntry: ok within the window (15 min early too), outside_window, none", async () => {
        const plate = plateOf();
        const now = Date.now();
        const { reservationId, code } = await paidReservation(plate, new Date(now + 10 * 60_000), new Date(now + 2 * H));
        const at = (ms: number) => db.tx((tx) => reservationForEntry(tx, siteId, { method: "plate", value: plate }, new Date(ms)));
        expect(await at(now)).to.deep.equal({ kind: "ok", reservationId, plate });
        expect(await at(now - 10 * 60_000)).to.deep.equal({ kind: "outside_window", reservationId });
        expect(await at(now + 3 * H)).to.deep.equal({ kind: "outside_window", reservationId });
        expect(await db.tx((tx) => reservationForEntry(tx, siteId, { method: "reservation", value: `SPR1.${code}` }, new Date(now)))).to.deep.equal({ kind: "ok", reservationId, plate });
        expect(await db.tx((tx) => reservationForEntry(tx, siteId, { method: "plate", value: plateOf() }, new Date(now)))).to.deep.equal({ kind: "none" });
        expect(await db.tx((tx) => reservationForEntry(tx, siteId, { method: "badge", value: "04AABB" }, new Date(now)))).to.deep.equal({ kind: "none" });
      });

      it("a claimed reservation exits free within its window, and an overstay is priced from the window's end", async () => {
        const now = Date.now();
        const inPlate = plateOf();
        const held0 = await countHeldReservations(db.sql, siteId, new Date(now), 15 * 60_000);
        const a = await paidReservation(inPlate, new Date(now - H), new Date(now + H));
        const held = await countHeldReservations(db.sql, siteId, new Date(now), 15 * 60_000);
        expect(held).to.equal(held0 + 1); // a paid reservation in its window holds a place
        const s1 = await enter({ method: "plate", value: inPlate }, new Date(now - H));
        await db.tx((tx) => claimReservation(tx, a.reservationId, s1));
        await db.tx((tx) => claimReservation(tx, a.reservationId, s1)); // a second claim: no-op
        // The QR code is now an identity of the car that came in by its plate: the pay station's scanner finds it.
        expect((await findOpenSessionByAnyIdentity(db.sql, siteId, { method: "reservation", value: a.code }))?.sessionId).to.equal(s1);
        expect((await extrasOf(s1)).prepaidUntil?.getTime()).to.equal(now + H);
        expect(await countHeldReservations(db.sql, siteId, new Date(now), 15 * 60_000)).to.equal(held - 1); // in: no longer held back
        expect(await exitReq(inPlate, Date.now())).to.equal("zero_fee");

        const overPlate = plateOf();
        const end = new Date(now - H);
        const b = await paidReservation(overPlate, new Date(now - 4 * H), end);
        const s2 = await enter({ method: "plate", value: overPlate }, new Date(now - 4 * H));
        await db.tx((tx) => claimReservation(tx, b.reservationId, s2));
        const ts = Date.now();
        expect(await exitReq(overPlate, ts)).to.equal("payment_requested");
        const fromEnd = priceStay({ tariff, entry: end, exit: new Date(ts) }).amount;
        expect((await lastAnswer(s2)).payload.amount).to.equal(fromEnd);
        expect(fromEnd).to.be.lessThan(priceStay({ tariff, entry: new Date(now - 4 * H), exit: new Date(ts) }).amount);
      });
    });
  });
}
