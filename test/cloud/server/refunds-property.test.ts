/**
 * Property (issue 16 "Must show"): under any interleaving of refunds an operator asks the cloud
 * for and refunds made directly at the provider (Stripe's dashboard, reported by webhook), with
 * random amounts, the refunds that count (not failed or canceled) never exceed what was
 * captured — checked after every step — and once the webhooks are delivered the cloud's
 * succeeded refunds are exactly what the provider's charge says was refunded.
 * On PGlite and on PostgreSQL + Mosquitto.
 */
import { expect } from "chai";
import fc from "fast-check";
import Stripe from "stripe";
import { getPayment, listRefundsOfSession, type PaymentRow } from "../../../cloud/db/index";
import { HttpError } from "../../../cloud/flows/errors";
import { requestRefund } from "../../../cloud/flows/refunds";
import { silentLogger } from "../../../host/log";
import { SiteClient, startEmbedded, startOnServers, type TestCloud } from "./helpers";
import { paidSession } from "./refund-fixtures";

type Step = { by: "api" | "dashboard"; perMille: number };

function propertySuite(title: string, start: (ctx: Mocha.Context) => Promise<TestCloud>): void {
  describe(title, function () {
    this.timeout(300_000);
    let t: TestCloud;
    let site: SiteClient;
    let n = 0;

    before(async function () {
      this.timeout(180_000);
      t = await start(this);
      site = await SiteClient.connect(t.cloud.mqttUrl, t.siteId);
    });
    after(async () => {
      await site?.close();
      await t?.close();
    });

    /** Signs and POSTs one of the emulator's events to the cloud, as the emulator would. */
    async function deliver(eventId: string): Promise<void> {
      const payload = JSON.stringify(t.cloud.emulator?.state.getEvent(eventId));
      const sig = new Stripe("sk_test_x").webhooks.generateTestHeaderString({ payload, secret: t.cloud.webhookSecret });
      const r = await fetch(`${t.cloud.url}/webhooks/stripe`, { method: "POST", headers: { "Content-Type": "application/json", "Stripe-Signature": sig }, body: payload });
      expect(r.status, await r.text()).to.equal(200);
    }

    /** Every event of the emulator not delivered or scheduled yet gets its own delivery, at a time the scheduler picks. */
    function scheduleNewEvents(s: fc.Scheduler, seen: Set<string>, tasks: Promise<void>[]): void {
      for (const e of t.cloud.emulator?.events() ?? []) {
        if (seen.has(e.id)) continue;
        seen.add(e.id);
        tasks.push(s.schedule(Promise.resolve(e.id), `deliver ${e.type}`).then(deliver));
      }
    }

    /** The cloud's Stripe client, with each refund call's departure and answer released by the scheduler. */
    function scheduledStripe(s: fc.Scheduler, onAnswer: () => void): Stripe {
      const real = t.cloud.stripe;
      const refunds = {
        create: async (...args: Parameters<Stripe["refunds"]["create"]>) => {
          await s.schedule(Promise.resolve(), "api refund reaches the provider");
          try {
            return await real.refunds.create(...args);
          } finally {
            onAnswer();
            await s.schedule(Promise.resolve(), "the provider's answer reaches the cloud");
          }
        },
      };
      return new Proxy(real, { get: (target, prop, recv) => (prop === "refunds" ? refunds : Reflect.get(target, prop, recv)) });
    }

    async function committed(sessionId: string): Promise<number> {
      return (await listRefundsOfSession(t.cloud.db.sql, sessionId)).filter((r) => r.state !== "failed" && r.state !== "canceled").reduce((a, r) => a + r.amount, 0);
    }

    async function step(s: fc.Scheduler, st: Step, ctx: { payment: PaymentRow; pi: string; stripe: Stripe; newEvents: () => void }): Promise<void> {
      const amount = Math.max(1, Math.floor((ctx.payment.amount * st.perMille) / 1000));
      if (st.by === "dashboard") {
        await s.schedule(Promise.resolve(), "dashboard refund");
        await t.cloud.stripe.refunds.create({ payment_intent: ctx.pi, amount }).catch((e: { code?: string }) => {
          if (e.code !== "amount_too_large" && e.code !== "charge_already_refunded") throw e;
        });
        ctx.newEvents();
        return;
      }
      const actor = { username: "prop-test", operatorId: null, role: "operator", via: "api" as const };
      await requestRefund({ db: t.cloud.db, stripe: ctx.stripe, auditMode: "queued", logger: silentLogger }, { paymentId: ctx.payment.paymentId, amount, reason: "property test", key: `op:prop-${Date.now()}-${n++}` }, actor).catch((e: unknown) => {
        // Refused before the provider: more than is left (400) or another request still in flight (409).
        if (!(e instanceof HttpError) || (e.status !== 400 && e.status !== 409)) throw e;
      });
    }

    it("the refunds that count never exceed the capture, and end equal to the provider's", async () => {
      const steps = fc.array(fc.record({ by: fc.constantFrom<"api" | "dashboard">("api", "dashboard"), perMille: fc.integer({ min: 1, max: 900 }) }), { minLength: 1, maxLength: 5 });
      await fc.assert(
        fc.asyncProperty(steps, fc.scheduler(), async (plan, s) => {
          const { session, payment, pi } = await paidSession(t, site);
          await t.cloud.emulator?.whenWebhooksIdle(10_000);
          // From here the test delivers the emulator's events itself, at the moments the scheduler picks.
          t.cloud.emulator?.setWebhookUrl(null);
          try {
            const seen = new Set((t.cloud.emulator?.events() ?? []).map((e) => e.id));
            const deliveries: Promise<void>[] = [];
            const newEvents = () => scheduleNewEvents(s, seen, deliveries);
            const stripe = scheduledStripe(s, newEvents);
            let finished = false;
            const running = Promise.all(plan.map((st) => step(s, st, { payment, pi, stripe, newEvents }))).finally(() => (finished = true));
            // Release one scheduled task at a time (the scheduler picks which), checking the invariant after each;
            // between two, real I/O (the emulator, the database) runs until the next task is scheduled.
            while (!finished || s.count() > 0) {
              if (s.count() === 0) {
                await new Promise((r) => setTimeout(r, 2));
                continue;
              }
              await s.waitOne();
              expect(await committed(session.sessionId), s.report().map((r) => r.label).join(" → ")).to.be.at.most(payment.amount);
            }
            await running;
            await Promise.all(deliveries);
          } finally {
            t.cloud.emulator?.setWebhookUrl(`${t.cloud.url}/webhooks/stripe`); // what it still owes arrives again: replays, acting once
          }
          await t.cloud.emulator?.whenWebhooksIdle(20_000);
          const charge = (await t.cloud.stripe.charges.list({ payment_intent: pi })).data[0];
          const rows = await listRefundsOfSession(t.cloud.db.sql, session.sessionId);
          const succeeded = rows.filter((r) => r.state === "succeeded").reduce((a, r) => a + r.amount, 0);
          expect(rows.filter((r) => r.state === "requested" || r.state === "pending"), "nothing left in flight").to.deep.equal([]);
          expect(succeeded, "the cloud's succeeded refunds = the charge's amount_refunded").to.equal(charge.amount_refunded);
          expect(await committed(session.sessionId)).to.be.at.most(payment.amount);
          const p = await getPayment(t.cloud.db.sql, payment.paymentId);
          expect(p.refundedAmount).to.equal(succeeded);
          expect(p.refundStatus).to.equal(succeeded === 0 ? "none" : succeeded === p.amount ? "full" : "partial");
        }),
        { numRuns: 15 },
      );
    });
  });
}

propertySuite("refund property on embedded defaults (PGlite)", () => startEmbedded());
propertySuite("refund property on PostgreSQL + Mosquitto", (ctx) => startOnServers(ctx));
