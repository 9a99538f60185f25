/**
 * A permit holder (issue 16 item 5): a monthly permit bought on the cloud's page through Stripe
 * Checkout (the emulator) makes the badge a subscriber in the site's access list, so the lane
 * lets it out at zero fee; a month later (the emulator clock) the renewal fails, the permit is
 * suspended, the badge leaves the gateway's list and its next exit is priced and paid by card.
 */
import { randomBytes } from "node:crypto";
import { expect } from "chai";
import { getPermit } from "../../cloud/db/index";
import { scenario } from "../harness/context";
import { PACE } from "../harness/env";
import { assertExitCompletes, buyPermit, successFor } from "./lib";

const newBadge = () => randomBytes(5).toString("hex").toUpperCase();

describe("permits", () => {
  scenario("permit holder: bought online, exits free; the renewal fails and the next exit is paid", { lanes: ["L1"], timeoutMs: 120_000 }, async (h) => {
    const uid = newBadge();
    const emulator = h.cloud.emulator;
    if (!emulator) throw new Error("this scenario needs the cloud's Stripe test emulator");
    const permitId = await buyPermit(h, { badge: uid });

    await h.vehicleArrives("L1", { minutesAgo: 240, badge: uid, readPlate: false });
    await h.waitPhase("L1", "identifying");
    h.presentBadge("L1", uid);
    const ok = await successFor(h, "L1", uid);
    expect(ok).to.include({ provider_ref: "no_charge", amount: 0 });
    await assertExitCompletes(h, "L1", String(ok.session_id));

    h.step("the holder's card now fails; the emulator clock moves a month");
    const permit = await getPermit(h.cloud.db.sql, permitId);
    const failing = await h.cloud.stripe.paymentMethods.attach("pm_card_chargeCustomerFail", { customer: permit.stripeCustomerId as string });
    await h.cloud.stripe.customers.update(permit.stripeCustomerId as string, { invoice_settings: { default_payment_method: failing.id } });
    await emulator.advanceClock(31 * 86_400);
    await h.waitUntil(async () => (await getPermit(h.cloud.db.sql, permitId)).status === "past_due", 15_000, "the permit suspended (past_due)");
    await h.waitUntil(() => h.gateway.acl.trustedBadge(uid, Date.now()) === undefined, 15_000, "the badge gone from the gateway's access list");

    await h.sleep(PACE.nextCarMs);
    const before = h.seen("payment/req", "L1").length;
    await h.vehicleArrives("L1", { minutesAgo: 240, badge: uid, readPlate: false });
    await h.waitPhase("L1", "identifying");
    h.presentBadge("L1", uid);
    await h.waitPhase("L1", "awaiting_payment");
    await h.waitUntil(() => h.seen("payment/req", "L1").length > before, 10_000, "parking/payment/req");
    const req = h.seen("payment/req", "L1")[before];
    expect(req.amount as number, "the suspended permit's badge is priced").to.be.greaterThan(0);
    const card = await h.payWithCard("L1");
    expect(card.ok, `payment page: ${card.status}`).to.equal(true);
    await assertExitCompletes(h, "L1", String(req.session_id));
  });
});
