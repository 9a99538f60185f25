/**
 * Prepay (issue 16 item 3, seed 002 "paiement fixe"): the driver pays the stay on the public
 * /pricing page before reaching the exit; at the exit the cloud credits the prepayment and the
 * barrier opens with no payment asked — or, past the paid window, the lane asks only for the
 * difference. On the virtual clock like every scenario.
 */
import { expect } from "chai";
import { findAuditEntries } from "../../cloud/db/index";
import { getPrepayment } from "../../cloud/db/prepayments";
import { scenario } from "../harness/context";
import type { LaneSet } from "../harness/env";
import { assertExitCompletes, payOnCardPage, successFor } from "./lib";

/** "YYYY-MM-DDTHH:MM" on the demo site's wall clock (Europe/Paris). */
function parisLocal(ms: number): string {
  const p = Object.fromEntries(new Intl.DateTimeFormat("en-CA", { timeZone: "Europe/Paris", year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hourCycle: "h23" }).formatToParts(new Date(ms)).map((x) => [x.type, x.value]));
  return `${p.year}-${p.month}-${p.day}T${p.hour}:${p.minute}`;
}

/** The driver's phone: the prepay form on /pricing, then the card page (4242…) like any payment. */
async function prepayOnPhone(h: LaneSet, plate: string, fields: { hours: string; startMinutesAgo: number }): Promise<{ prepaymentId: string; amount: number }> {
  h.step(`driver prepays ${fields.hours} h for ${plate} on /pricing`, "L1");
  const form = await fetch(`${h.cloud.url}/pricing/paris-centre/prepay?lang=en`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ plate, hours: fields.hours, start: parisLocal(Date.now() - fields.startMinutesAgo * 60_000) }),
  });
  if (!form.ok) throw new Error(`prepay form answered ${form.status}: ${(await form.text()).slice(0, 300)}`);
  const paid = await payOnCardPage(form.url);
  const id = /\/prepay\/(pp_[A-Za-z0-9_-]+)/.exec(paid.url)?.[1];
  if (!id) throw new Error(`the card page did not come back to the prepayment page (${paid.url})`);
  let row: { state: string; amount: number } | undefined;
  await h.waitUntil(async () => {
    row = await getPrepayment(h.cloud.db.sql, id);
    return row?.state === "paid";
  }, 15_000, "the prepayment paid (verified webhook)");
  return { prepaymentId: id, amount: row!.amount };
}

describe("prepay", () => {
  scenario("prepaid driver exits without paying", { lanes: ["L1"] }, async (h) => {
    const plate = `HIL-PP-${Math.random().toString(36).slice(2, 6).toUpperCase()}`;
    const pp = await prepayOnPhone(h, plate, { hours: "3", startMinutesAgo: 50 });
    await h.vehicleArrives("L1", { minutesAgo: 45, plate });
    const ok = await successFor(h, "L1", plate);
    expect(ok).to.include({ provider_ref: "no_charge", amount: 0 });
    expect(h.seen("payment/req", "L1"), "no payment asked").to.have.length(0);
    const sessionId = String(ok.session_id);
    await assertExitCompletes(h, "L1", sessionId);
    const [consumed] = await findAuditEntries(h.cloud.db.sql, { sessionId, kind: "prepayment.consumed" });
    expect(consumed?.payload, "the prepayment used, in the audit").to.include({ prepayment_id: pp.prepaymentId, within_window: true, due: 0, state: "consumed" });
    const [validated] = await findAuditEntries(h.cloud.db.sql, { sessionId, kind: "payment.validated" });
    expect(validated?.payload).to.include({ amount: 0, validation_result: "zero fee (prepaid)" });
  });

  scenario("prepaid driver overstays: the lane asks only for the difference", { lanes: ["L1"] }, async (h) => {
    const plate = `HIL-PP-${Math.random().toString(36).slice(2, 6).toUpperCase()}`;
    const pp = await prepayOnPhone(h, plate, { hours: "1", startMinutesAgo: 185 });
    await h.vehicleArrives("L1", { minutesAgo: 180, plate });
    await h.waitPhase("L1", "awaiting_payment");
    const req = await h.paymentRequest("L1");
    const sessionId = String(req.session_id);
    const [consumed] = await findAuditEntries(h.cloud.db.sql, { sessionId, kind: "prepayment.consumed" });
    expect(consumed?.payload).to.include({ prepayment_id: pp.prepaymentId, within_window: false, credit: pp.amount });
    expect(req.amount, "the difference: the whole stay's price less the prepaid amount").to.equal((consumed!.payload as { stay_price: number }).stay_price - pp.amount);
    const paid = await h.payWithCard("L1");
    expect(paid.ok).to.equal(true);
    await assertExitCompletes(h, "L1", sessionId);
  });
});
