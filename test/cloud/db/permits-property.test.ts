/**
 * Property (issue 16 "Must show"): for ANY sequence of subscription changes (renewals paid or
 * failed, retries, cancellation) and ANY delivery of their webhooks (late, out of order,
 * duplicated), a permit is active exactly while its subscription is — after every delivery,
 * and its badge is a live subscriber entry of the site's access list exactly then.
 *
 * Runs the real PaymentService.handleWebhook (signature, webhook table, dispatch →
 * flows/permits.ts, the database) on PGlite and on PostgreSQL; only Stripe is replaced, by a
 * model subscription whose `retrieve` answers its status at delivery time.
 */
import { randomBytes } from "node:crypto";
import { expect } from "chai";
import fc from "fast-check";
import Stripe from "stripe";
import { silentLogger } from "../../../host/log";
import { DatabaseConnectionError, createPendingPermit, getPermit, openDatabase, upsertPermitPlan, upsertSite, type Database } from "../../../cloud/db/index";
import { PaymentService } from "../../../cloud/flows/payments";
import { tmpdir } from "node:os";
import { join } from "node:path";

const TEMPLATE_DIR = join(tmpdir(), "syspark-test-cache");
const PG_URL = process.env.SYSPARK_TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";

const WHSEC = "whsec_test_permit_property";
const KEY = randomBytes(32).toString("hex");

type SubStatus = "active" | "past_due" | "canceled";
type Change = "renewal_paid" | "renewal_failed" | "retry_paid" | "retry_failed" | "cancel";

/** The events Stripe sends for each change (what they carry matters less than when they arrive). */
const EVENTS_OF: Record<Change | "checkout", string[]> = {
  checkout: ["customer.subscription.created", "invoice.paid", "checkout.session.completed"],
  renewal_paid: ["invoice.paid", "customer.subscription.updated"],
  renewal_failed: ["invoice.payment_failed", "customer.subscription.updated"],
  retry_paid: ["invoice.paid", "customer.subscription.updated"],
  retry_failed: ["invoice.payment_failed"],
  cancel: ["customer.subscription.deleted"],
};

function next(status: SubStatus, c: Change): SubStatus {
  if (status === "canceled") return status;
  if (c === "cancel") return "canceled";
  if (status === "active") return c === "renewal_failed" ? "past_due" : "active";
  return c === "retry_paid" ? "active" : "past_due";
}

const changeArb = fc.constantFrom<Change>("renewal_paid", "renewal_failed", "retry_paid", "retry_failed", "cancel");
/** Changes, and for every event a delivery delay (in steps) and maybe a duplicate. */
const scenarioArb = fc.record({
  changes: fc.array(changeArb, { maxLength: 8 }),
  delays: fc.array(fc.nat({ max: 6 }), { minLength: 40, maxLength: 40 }),
  dupes: fc.array(fc.boolean(), { minLength: 40, maxLength: 40 }),
  order: fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 80, maxLength: 80 }),
});

function propertySuite(title: string, open: (ctx: Mocha.Context) => Promise<Database>): void {
  describe(title, function () {
    this.timeout(120_000);
    let db: Database;
    const siteId = `pp-${randomBytes(3).toString("hex")}`;
    before(async function () {
      db = await open(this);
      await upsertSite(db.sql, { siteId, name: "Property site", timeZone: "Europe/Paris", currency: "EUR" });
      await upsertPermitPlan(db.sql, { planId: `${siteId}-m`, siteId, name: "M", period: "month", amount: 5000, currency: "EUR", benefit: "free", discountPercent: null, maxPermits: 100_000, active: true });
    });
    after(async () => db?.close());

    it("a permit is active exactly while its subscription is, whatever the order, delays and replays of the webhooks", async () => {
      await fc.assert(
        fc.asyncProperty(scenarioArb, async ({ changes, delays, dupes, order }) => {
          const badge = randomBytes(5).toString("hex").toUpperCase();
          const permit = await db.tx((tx) => createPendingPermit(tx, { planId: `${siteId}-m`, holderEmail: "p@example.test", badgeUid: badge, plate: null, now: new Date() }));
          const subId = `sub_${randomBytes(8).toString("hex")}`;
          // The world: the subscription's status after each step (step 0 = checkout).
          const statusAt: SubStatus[] = ["active"];
          const emitted: { type: string; step: number }[] = EVENTS_OF.checkout.map((type) => ({ type, step: 0 }));
          changes.forEach((c, i) => {
            const before = statusAt[i];
            const after = next(before, c);
            statusAt.push(after);
            if (before !== "canceled") for (const type of EVENTS_OF[c]) emitted.push({ type, step: i + 1 });
          });
          // Deliveries: each event at its step + a delay (never before it happened), some twice.
          const last = statusAt.length - 1;
          const deliveries: { id: string; type: string; at: number; tie: number }[] = [];
          emitted.forEach((e, i) => {
            const id = `evt_${randomBytes(8).toString("hex")}`;
            deliveries.push({ id, type: e.type, at: e.step + (delays[i % 40] ?? 0), tie: order[i % 80] });
            if (dupes[i % 40]) deliveries.push({ id, type: e.type, at: e.step + (delays[(i + 7) % 40] ?? 0) + 1, tie: order[(i + 40) % 80] });
          });
          deliveries.sort((a, b) => a.at - b.at || a.tie - b.tie);
          let now = 0;
          const stripe = fakeStripe(() => statusAt[Math.min(now, last)], subId, permit.permitId);
          const service = new PaymentService({ db, stripe, mode: "emulator", webhookSecret: WHSEC, toleranceS: 300, logger: silentLogger, src: "cloud-test", wake: () => undefined, auditMode: "queued", aclHmacKey: KEY });
          const seen = new Set<string>();
          let before = permit.status;
          for (const d of deliveries) {
            now = d.at;
            const body = Buffer.from(JSON.stringify(eventBody(d.id, d.type, subId, permit.permitId, statusAt[Math.min(d.at, last)])));
            const sig = stripe.webhooks.generateTestHeaderString({ payload: body.toString(), secret: WHSEC });
            const r = await service.handleWebhook(body, sig);
            expect(r.status).to.equal(200);
            const p = await getPermit(db.sql, permit.permitId);
            const [entry] = await db.sql<{ deleted: boolean; subscriber: boolean }[]>`SELECT deleted, subscriber FROM access_list_entries WHERE site_id = ${siteId} AND badge_uid = ${badge}`;
            expect(Boolean(entry && !entry.deleted && entry.subscriber), "the access entry follows the permit").to.equal(p.status === "active");
            if (seen.has(d.id)) {
              // A replay is acknowledged and acts NOT AT ALL (the webhook table), even when the world moved on.
              expect(p.status, `replay of ${d.type}`).to.equal(before);
            } else {
              const subActive = statusAt[Math.min(now, last)] === "active";
              expect(p.status === "active", `after ${d.type} at step ${now}: permit ${p.status}, subscription ${statusAt[Math.min(now, last)]}`).to.equal(subActive);
            }
            seen.add(d.id);
            before = p.status;
          }
          const final = await getPermit(db.sql, permit.permitId);
          expect(final.status === "active").to.equal(statusAt[last] === "active");
          if (statusAt[last] === "canceled" && deliveries.some((d) => d.at >= last)) expect(final.status).to.equal("canceled");
        }),
        { numRuns: 30 },
      );
    });
  });
}

/** A real Stripe client (webhook signatures) whose subscriptions.retrieve answers the model. */
function fakeStripe(status: () => SubStatus, subId: string, permitId: string): Stripe {
  const real = new Stripe("sk_test_property");
  const fake = Object.create(real) as Stripe;
  Object.defineProperty(fake, "subscriptions", { value: { retrieve: async (id: string) => subscription(id === subId ? status() : "canceled", id, permitId) } });
  return fake;
}

function subscription(status: SubStatus, id: string, permitId: string): Record<string, unknown> {
  const now = Math.floor(Date.now() / 1000);
  return { id, object: "subscription", status, customer: "cus_model", metadata: { permit_id: permitId }, items: { object: "list", data: [{ current_period_start: now, current_period_end: now + 30 * 86_400 }] } };
}

function eventBody(id: string, type: string, subId: string, permitId: string, status: SubStatus): Record<string, unknown> {
  let object: Record<string, unknown>;
  if (type.startsWith("customer.subscription.")) object = subscription(status, subId, permitId);
  else if (type.startsWith("invoice.")) object = { id: `in_${id.slice(4)}`, object: "invoice", currency: "eur", amount_paid: type === "invoice.paid" ? 5000 : 0, amount_due: 5000, attempt_count: 1, billing_reason: "subscription_cycle", created: 1_796_000_000, period_start: 1_796_000_000, period_end: 1_796_000_000 + 30 * 86_400, parent: { type: "subscription_details", subscription_details: { subscription: subId, metadata: { permit_id: permitId } } } };
  else object = { id: `cs_${id.slice(4)}`, object: "checkout.session", mode: "subscription", payment_status: "paid", subscription: subId, customer: "cus_model", client_reference_id: permitId, metadata: { permit_id: permitId } };
  return { id, object: "event", api_version: Stripe.API_VERSION, created: Math.floor(Date.now() / 1000), data: { object }, livemode: false, pending_webhooks: 1, request: { id: null, idempotency_key: null }, type };
}

propertySuite("permit ⇔ subscription property (PGlite)", () => openDatabase({ pgliteTemplateDir: TEMPLATE_DIR }));

propertySuite("permit ⇔ subscription property (PostgreSQL)", async (ctx) => {
  const schema = `syspark_permit_prop_${randomBytes(4).toString("hex")}`;
  try {
    const db = await openDatabase({ databaseUrl: PG_URL, schema, createSchema: true, max: 4, connectTimeoutS: 5 });
    const close = db.close.bind(db);
    return Object.assign(db, {
      close: async () => {
        await db.sql.unsafe(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
        await close();
      },
    });
  } catch (err) {
    if (err instanceof DatabaseConnectionError && process.env.SYSPARK_REQUIRE_POSTGRES !== "1") {
      console.warn(`      skipped: PostgreSQL not reachable at ${PG_URL}: ${err.message}`);
      ctx.skip();
    }
    throw err;
  }
});
