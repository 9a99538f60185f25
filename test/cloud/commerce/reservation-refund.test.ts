/**
 * A reservation's prepayment is refundable only while its car has not come in (issue 18): the
 * prepayment of a reservation stays `paid` after the entry (the stay is priced from the window's
 * end), so without beginPrepaymentRefund's guard (sessionOfPrepaidReservation) an operator could
 * give back a reservation that was used. Run on PGlite and on the PostgreSQL server (skipped when
 * unreachable), through refundPrepayment as the operator route calls it; the provider is a stub
 * that records the refunds asked of it, so "refused" also means "the provider was never called".
 */
import { randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import type Stripe from "stripe";
import { createEntrySession, listTariffs, openDatabase, type Database } from "../../../cloud/db/index";
import { getPrepayment, applyPrepaymentEvent, attachPrepaymentRef, createPrepayment, newPrepaymentId } from "../../../cloud/db/prepayments";
import { createReservation, getReservation, markReservationExited, newReservationCode, newReservationId, syncPaidReservations } from "../../../cloud/db/reservations";
import { HttpError } from "../../../cloud/flows/errors";
import { refundPrepayment } from "../../../cloud/flows/prepay-refunds";
import type { RefundActor } from "../../../cloud/flows/refund-effects";
import { claimReservation } from "../../../cloud/flows/reservations";
import { seedSite } from "../../../cloud/server/seed";
import { serverSchema } from "../../setup/pg-schema";

const H = 3_600_000;
const OPERATOR: RefundActor = { username: "op-refunds", operatorId: null, role: "operator", via: "api" };

/** Refunds succeed at once; every call is kept (the prepayment's id from the metadata). */
function stubProvider(): { stripe: Stripe; asked: string[] } {
  const asked: string[] = [];
  const refunds = {
    create: (params: Stripe.RefundCreateParams) => {
      asked.push(String((params.metadata as Record<string, string> | undefined)?.prepayment_id));
      return Promise.resolve({ id: `re_${randomBytes(6).toString("hex")}`, object: "refund", status: "succeeded", amount: params.amount, failure_reason: null } as unknown as Stripe.Refund);
    },
  };
  return { stripe: { refunds } as unknown as Stripe, asked };
}

function reservationRefundSuite(title: string, opts: { open(ctx: Mocha.Context): Promise<Database>; close(db: Database): Promise<void> }): void {
  describe(title, function () {
    this.timeout(60_000);
    let db: Database;
    const siteId = `rr-${randomBytes(4).toString("hex")}`;

    before(async function () {
      db = await opts.open(this);
      await seedSite(db, { siteId, name: "Reservation refunds", timeZone: "Europe/Paris", currency: "EUR" });
    });
    after(async () => {
      if (db) await opts.close(db);
    });

    /** A reservation booked and paid as ReservationService.book does it: its prepayment keyed by the code, paid by the provider's event. */
    async function paidReservation(startsAt: Date, endsAt: Date): Promise<{ reservationId: string; prepaymentId: string; plate: string }> {
      const [tariff] = await listTariffs(db.sql, siteId);
      const code = newReservationCode();
      const plate = `R${randomBytes(3).toString("hex").toUpperCase()}`;
      const prepaymentId = newPrepaymentId();
      const providerRef = `pi_${randomBytes(8).toString("hex")}`;
      await db.tx(async (tx) => {
        await createPrepayment(tx, { prepaymentId, siteId, plate: code, windowFrom: startsAt, windowUntil: endsAt, amount: 800, currency: "EUR", tariffId: tariff.tariffId, tariffVersion: tariff.version, boughtBy: "duration", quote: {}, provider: "stripe", idempotencyKey: `prepay:${prepaymentId}` });
        await attachPrepaymentRef(tx, prepaymentId, providerRef);
        await applyPrepaymentEvent(tx, providerRef, "paid");
      });
      const r = await createReservation(db.sql, { reservationId: newReservationId(), siteId, code, plate, startsAt, endsAt, amount: 800, currency: "EUR", prepaymentId });
      await syncPaidReservations(db.sql, siteId, r.reservationId);
      expect((await getReservation(db.sql, r.reservationId)).state).to.equal("paid");
      return { reservationId: r.reservationId, prepaymentId, plate };
    }

    async function refusal(p: Promise<unknown>): Promise<HttpError> {
      const err = await p.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err, "the refund was refused").to.be.instanceOf(HttpError);
      return err as HttpError;
    }

    it("refuses to refund the prepayment of a reservation whose car came in, naming the session, and never asks the provider", async () => {
      const now = Date.now();
      const used = await paidReservation(new Date(now - H), new Date(now + H));
      const sessionId = `s${randomBytes(8).toString("hex")}`;
      await db.tx(async (tx) => {
        await createEntrySession(tx, { siteId, laneId: "e1", identity: { method: "plate", value: used.plate }, entryTs: new Date(now - 30 * 60_000), sessionId });
        await claimReservation(tx, used.reservationId, sessionId);
      });
      const provider = stubProvider();
      const deps = { db, stripe: provider.stripe, auditMode: "inline" as const };

      const inside = await refusal(refundPrepayment(deps, used.prepaymentId, { key: "refund-used-1", reason: "driver asked" }, OPERATOR));
      expect(inside.status).to.equal(409);
      expect(inside.message).to.include(`session ${sessionId}`).and.include("was used");
      // After the car left the reservation is still used.
      await db.tx((tx) => markReservationExited(tx, sessionId));
      const left = await refusal(refundPrepayment(deps, used.prepaymentId, { key: "refund-used-2", reason: "driver asked again" }, OPERATOR));
      expect(left.message).to.include(`session ${sessionId}`);

      expect(provider.asked).to.deep.equal([]);
      expect(await getPrepayment(db.sql, used.prepaymentId)).to.include({ state: "paid", refundState: null });
    });

    it("refunds the prepayment of a reservation nobody came in with, in full, once", async () => {
      const now = Date.now();
      const unused = await paidReservation(new Date(now + H), new Date(now + 3 * H));
      const provider = stubProvider();
      const deps = { db, stripe: provider.stripe, auditMode: "inline" as const };
      const r = await refundPrepayment(deps, unused.prepaymentId, { key: "refund-unused-1", reason: "plans changed" }, OPERATOR);
      expect(r.replayed).to.equal(false);
      expect(r.prepayment).to.include({ state: "refunded", refundState: "succeeded" });
      expect(provider.asked).to.deep.equal([unused.prepaymentId]);
      const again = await refundPrepayment(deps, unused.prepaymentId, { key: "refund-unused-1", reason: "plans changed" }, OPERATOR);
      expect(again.replayed).to.equal(true);
      expect(provider.asked).to.have.length(1);
    });
  });
}

reservationRefundSuite("a reservation's prepayment after its car came in, on embedded PGlite", {
  open: () => openDatabase({ pgliteTemplateDir: join(tmpdir(), "syspark-test-cache") }),
  close: (db) => db.close(),
});

const pg = serverSchema("syspark_rsv_refund");
reservationRefundSuite(`a reservation's prepayment after its car came in, on the PostgreSQL server (schema ${pg.schema})`, { open: (ctx) => pg.open(ctx), close: (db) => pg.close(db) });
