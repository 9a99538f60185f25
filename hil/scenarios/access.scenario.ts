/** The sites' access lists, managed in the cloud (ARCHITECTURE §3 parking/acl/*, §4): subscribers and offline trust. */
import { randomBytes } from "node:crypto";
import { expect } from "chai";
import { findAuditEntries } from "../../cloud/db/index";
import { scenario } from "../harness/context";
import { PACE } from "../harness/env";
import { assertExitCompletes, successFor } from "./lib";

/** A badge UID of its own per scenario: the run's cloud (and its access list) is shared by every scenario. */
const newBadge = () => randomBytes(5).toString("hex").toUpperCase();

describe("access lists", () => {
  scenario("subscriber badge exit online: no payment, the barrier opens", { lanes: ["L1"] }, async (h) => {
    const uid = newBadge();
    await h.grantAccess({ kind: "badge", badge_uid: uid, label: "monthly subscriber", subscriber: true });
    await h.vehicleArrives("L1", { minutesAgo: 240, badge: uid, readPlate: false });
    await h.waitPhase("L1", "identifying");
    h.presentBadge("L1", uid);
    await h.waitUntil(() => h.seen("exit/req", "L1").length > 0, 10_000, "parking/exit/req");
    expect(h.seen("exit/req", "L1")[0].identity).to.deep.equal({ method: "badge", value: uid });
    const ok = await successFor(h, "L1", uid);
    expect(ok).to.include({ provider_ref: "no_charge", amount: 0 });
    expect(h.seen("payment/req", "L1"), "no payment asked").to.have.length(0);
    const sessionId = String(ok.session_id);
    await assertExitCompletes(h, "L1", sessionId);
    const [validated] = await findAuditEntries(h.cloud.db.sql, { sessionId, kind: "payment.validated" });
    expect(validated?.payload, "the audit shows the subscriber pricing").to.include({ pricing: "subscriber", subscriber_entry: uid, amount: 0, validation_result: "zero fee (subscriber)" });
  });

  scenario("a revoked badge is refused offline while a trusted one still opens", { lanes: ["L1"], timeoutMs: 90_000 }, async (h) => {
    const revoked = newBadge();
    const trusted = newBadge();
    await h.grantAccess({ kind: "badge", badge_uid: revoked, label: "former employee" });
    await h.grantAccess({ kind: "badge", badge_uid: trusted, label: "night staff" });
    await h.revokeAccess(revoked);
    expect(h.gateway.acl.trustedBadge(revoked, Date.now()), "revoked at the site").to.equal(undefined);
    await h.cloudBrokerDown();
    await h.waitUntil(() => !h.snapshot("L1").cloud_online, 30_000, "the site offline");

    await h.vehicleArrives("L1", { entry: false, readPlate: false });
    await h.waitPhase("L1", "identifying");
    const from = h.lane("L1").barrierDut.lines.length;
    h.presentBadge("L1", revoked);
    await h.sleep(10_000);
    expect(h.lane("L1").barrierDut.lines.slice(from).some((l) => /^rx \d+ OPEN\b/.test(l.raw)), "the barrier never opened for the revoked badge").to.equal(false);
    expect(h.seen("exit/done", "L1").some((m) => m.decided_by === "offline_badge"), "no offline exit").to.equal(false);
    h.vehicleLeaves("L1");

    await h.sleep(PACE.nextCarMs);
    await h.vehicleArrives("L1", { entry: false, readPlate: false });
    await h.waitPhase("L1", "identifying");
    const from2 = h.lane("L1").barrierDut.lines.length;
    h.presentBadge("L1", trusted);
    await h.lane("L1").barrierDut.expect(/^rx \d+ OPEN\b/, 10_000, from2);
    await h.waitUntil(() => h.seen("exit/done", "L1").some((m) => m.decided_by === "offline_badge"), 10_000, "an exit decided by offline_badge");
    await h.vehiclePasses("L1", 15_000);
    await h.waitBarrier("L1", "closed", 20_000);
  });
});
