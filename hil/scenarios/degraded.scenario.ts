/** Degraded modes (ARCHITECTURE §4): the cloud unreachable, an operator's override, a board reset, a replayed webhook. */
import { expect } from "chai";
import { findAuditEntries } from "../../cloud/db/index";
import { scenario } from "../harness/context";
import { PACE, type LaneSet } from "../harness/env";
import { assertExitCompletes } from "./lib";

/** Boom up, car through, boom down — for exits the site decided on its own. */
async function assertOfflineExit(h: LaneSet, lane: string, decidedBy: string, from: number): Promise<void> {
  await h.lane(lane).barrierDut.expect(/^rx \d+ OPEN\b/, 10_000, from);
  await h.waitUntil(() => h.snapshot(lane).decided_by === decidedBy || h.seen("exit/done", lane).some((m) => m.decided_by === decidedBy), 10_000, `an exit decided by ${decidedBy}`);
  await h.vehiclePasses(lane, 15_000);
  await h.waitBarrier(lane, "closed", 20_000);
}

describe("degraded modes", () => {
  scenario("cloud unreachable: trusted badge and PIN exits, then resynchronisation (nothing lost)", { lanes: ["L1"], timeoutMs: 90_000 }, async (h) => {
    // The operator trusts a badge and an exit PIN through the cloud; signed parking/acl/add reach the site.
    await h.grantAccess({ kind: "badge", badge_uid: "04A21F9C3B", label: "night staff" });
    await h.grantAccess({ kind: "pin", pin: "2468", label: "night cashier" });
    expect(h.gateway.acl.trustedBadge("04A21F9C3B", Date.now())?.label).to.equal("night staff");
    await h.cloudBrokerDown();
    // The gateway's own threshold (offline_policy.offline_after_s, 15 s by default).
    await h.waitUntil(() => !h.snapshot("L1").cloud_online, 30_000, "the site offline");

    await h.vehicleArrives("L1", { entry: false, readPlate: false });
    await h.waitPhase("L1", "identifying");
    let from = h.lane("L1").barrierDut.lines.length;
    h.presentBadge("L1", "04A21F9C3B");
    await assertOfflineExit(h, "L1", "offline_badge", from);
    await h.sleep(PACE.nextCarMs);
    await h.vehicleArrives("L1", { entry: false, readPlate: false });
    await h.waitPhase("L1", "identifying");
    from = h.lane("L1").barrierDut.lines.length;
    await h.enterPin("L1", "2468#");
    await assertOfflineExit(h, "L1", "offline_pin", from);
    expect(h.lane("L1").barrierDut.frames("OPEN", "rx").map((l) => l.raw.split(" ")[0])).to.satisfy((s: string[]) => new Set(s).size === 2);
    expect(h.gateway.services.outbox.depth, "events queued while offline").to.be.greaterThan(0);
    const done = h.seen("exit/done", "L1").map((m) => String(m.event_id));

    h.step("the outage goes on for a few minutes");
    await h.sleep(180_000);
    expect(h.snapshot("L1").cloud_online, "still offline").to.equal(false);
    await h.cloudBrokerUp();
    await h.waitUntil(() => h.gateway.services.outbox.depth === 0, 20_000, "the outbox drained to the cloud");
    await h.waitUntil(async () => (await findAuditEntries(h.cloud.db.sql, { eventIds: done })).length >= 2, 15_000, "both offline exits recorded by the cloud (audit rows)");
    expect(h.seen("exit/done", "L1").map((m) => m.decided_by)).to.deep.equal(["offline_badge", "offline_pin"]);
  });

  scenario("operator override with reason opens the lane (audited)", { lanes: ["L1"] }, async (h) => {
    await h.vehicleArrives("L1", { minutesAgo: 60 });
    await h.waitPhase("L1", "awaiting_payment");
    const r = await h.operatorOverride("L1", "open", "driver lost card, paid at the desk");
    await h.lane("L1").barrierDut.expect(/^rx \d+ OPEN\b/, 10_000);
    await h.waitUntil(() => h.seen("barriere/ack", "L1").length > 0 || h.seen("exit/done", "L1").length > 0, 15_000, "the override acknowledged");
    await h.vehiclePasses("L1");
    await h.waitBarrier("L1", "closed", 20_000);
    const cmd = h.seen("barriere/cmd", "L1")[0];
    expect(cmd).to.deep.include({ cmd: "open", reason: "driver lost card, paid at the desk", operator: "admin" });
    const rows = await findAuditEntries(h.cloud.db.sql, { kind: "override.open" });
    expect(rows.length, `override audited (${JSON.stringify(r)})`).to.be.greaterThan(0);
  });

  scenario("board reset mid-exit: the exit controller reboots while the driver pays", { lanes: ["L1"] }, async (h) => {
    await h.vehicleArrives("L1", { minutesAgo: 40 });
    await h.waitPhase("L1", "awaiting_payment");
    const req = await h.paymentRequest("L1");
    const dut = h.lane("L1").exitDut;
    // A real board keeps its boot counter in flash across resets and runs: what counts is that
    // the reset added exactly one to the boot it announced before, not a literal.
    const before = dut.frames("HELLO", "tx").map((l) => /boot="(\d+)"/.exec(l.text)).filter((m) => m !== null).pop();
    expect(before, "the exit controller announced its boot before the reset").to.not.equal(undefined);
    const mark = dut.lines.length;
    await h.resetBoard("L1", "exit");
    await dut.expect(new RegExp(`^tx \\d+ HELLO kind="exit-controller".*boot="${Number(before![1]) + 1}"`), 10_000, mark);
    await h.lane("L1").exitDut.expect(/^rx \d+ PAY_REQ session=/, 15_000, mark);
    await h.payWithCard("L1");
    await assertExitCompletes(h, "L1", String(req.session_id));
  });

  scenario("replayed Stripe webhook acts once", { lanes: ["L1"] }, async (h) => {
    await h.vehicleArrives("L1", { minutesAgo: 50 });
    await h.waitPhase("L1", "awaiting_payment");
    const req = await h.paymentRequest("L1");
    await h.payWithCard("L1");
    await assertExitCompletes(h, "L1", String(req.session_id));
    const emulator = h.cloud.emulator;
    if (!emulator) throw new Error("this scenario needs the Stripe test emulator");
    const succeeded = [...emulator.events()].reverse().find((e) => e.type === "payment_intent.succeeded" || e.type === "charge.succeeded");
    expect(succeeded, "a succeeded event was sent").to.not.equal(undefined);
    const before = { success: h.seen("payment/success", "L1").length, audit: (await h.auditKinds(String(req.session_id))).length };
    await h.sleep(120_000);
    h.step(`Stripe replays ${succeeded!.id} two minutes later`);
    const delivery = await emulator.resendEvent(succeeded!.id);
    expect(delivery.resend).to.equal(true);
    await h.sleep(800);
    expect(h.seen("payment/success", "L1").length, "no second payment/success").to.equal(before.success);
    expect(h.lane("L1").barrierDut.frames("OPEN", "rx").map((l) => l.raw.split(" ")[0])).to.satisfy((s: string[]) => new Set(s).size === 1);
    expect(await h.sessionStatus(String(req.session_id))).to.equal("closed");
    const after = await h.auditKinds(String(req.session_id));
    expect(after.filter((k) => k === "payment.validated" || k === "payment.paid").length, `audit: ${after.join(", ")}`).to.be.at.most(1);
    expect(after.length - before.audit, "at most a webhook-duplicate row").to.be.at.most(1);
  });
});

describe("site restarts", () => {
  scenario("gateway restart mid-exit: the lane is re-driven and the paid car leaves", { lanes: ["L1"] }, async (h) => {
    await h.vehicleArrives("L1", { minutesAgo: 35 });
    await h.waitPhase("L1", "awaiting_payment");
    const req = await h.paymentRequest("L1");
    const mark = h.lane("L1").exitDut.lines.length;
    await h.restartGateway();
    await h.lane("L1").exitDut.expect(/^rx \d+ HELLO kind="gateway".*boot="2"/, 10_000, mark);
    await h.waitUntil(() => h.snapshot("L1").exit_link && h.snapshot("L1").barrier_link, 10_000, "both links back");
    await h.payWithCard("L1");
    await assertExitCompletes(h, "L1", String(req.session_id));
  });

  scenario("cloud broker down while the driver pays: the success arrives after reconnection", { lanes: ["L1"], offlineAfterS: 30 }, async (h) => {
    await h.vehicleArrives("L1", { minutesAgo: 25 });
    await h.waitPhase("L1", "awaiting_payment");
    const req = await h.paymentRequest("L1");
    await h.cloudBrokerDown();
    await h.waitUntil(() => !h.gateway.services.bridge.connected, 10_000, "the bridge disconnected");
    const paid = await h.payWithCard("L1");
    expect(paid.ok, "the driver pays on the cloud, which is up").to.equal(true);
    await h.sleep(500);
    expect(h.lane("L1").barrierDut.frames("OPEN", "rx"), "nothing opens while the site cannot hear the cloud").to.have.length(0);
    await h.cloudBrokerUp();
    await assertExitCompletes(h, "L1", String(req.session_id));
  });
});
