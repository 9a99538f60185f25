/**
 * The exit flow that must always work (ARCHITECTURE §4) and its payment variations: each
 * scenario asserts the lane's states, the serial frames on both board links, the MQTT messages
 * on the site broker, the barrier's motion (plant on `sim`) and the cloud's audit rows.
 */
import { expect } from "chai";
import { scenario } from "../harness/context";
import { PACE } from "../harness/env";
import { assertExitCompletes, successFor } from "./lib";

describe("payment", () => {
  scenario("paid exit", { lanes: ["L1"] }, async (h) => {
    await h.vehicleArrives("L1", { minutesAgo: 45 });
    await h.waitPhase("L1", "awaiting_payment");
    const req = await h.paymentRequest("L1");
    expect(req.amount as number).to.be.greaterThan(0);
    await h.lane("L1").exitDut.expect(/^rx \d+ PAY_REQ/, 5000);
    expect(h.lane("L1").field.display?.().join(" ") ?? "A payer", "the display asks to pay").to.match(/A payer|To pay/);
    const paid = await h.payWithCard("L1");
    expect(paid.ok, `payment page: ${paid.status}`).to.equal(true);
    await h.waitUntil(() => h.seen("payment/success", "L1").length > 0, 10_000, "parking/payment/success");
    const sessionId = String(req.session_id);
    await assertExitCompletes(h, "L1", sessionId);
    const audit = await h.auditKinds(sessionId);
    expect(audit).to.include.members(["session.entry", "payment.requested"]);
    expect(audit.some((k) => k.startsWith("payment.") && k !== "payment.requested"), `audit rows: ${audit.join(", ")}`).to.equal(true);
  });

  scenario("declined card then paid", { lanes: ["L1"] }, async (h) => {
    await h.vehicleArrives("L1", { minutesAgo: 90 });
    await h.waitPhase("L1", "awaiting_payment");
    const req = await h.paymentRequest("L1");
    const declined = await h.payWithCard("L1", "4000000000000002");
    expect(declined.page).to.match(/declined/i);
    await h.sleep(2000);
    expect(h.phase("L1"), "a declined card never opens").to.equal("awaiting_payment");
    expect(h.lane("L1").barrierDut.frames("OPEN", "rx")).to.have.length(0);
    expect(await h.sessionStatus(String(req.session_id))).to.equal("pending_payment");
    const paid = await h.payWithCard("L1", undefined, { afterMs: PACE.retryCardMs });
    expect(paid.ok).to.equal(true);
    await assertExitCompletes(h, "L1", String(req.session_id));
    const audit = await h.auditKinds(String(req.session_id));
    expect(audit, "the declined attempt is audited").to.include("payment.failed");
    expect(audit.filter((k) => k === "payment.validated"), "then one validated payment").to.have.length(1);
  });

  scenario("zero fee inside the grace period", { lanes: ["L1"] }, async (h) => {
    const plate = await h.vehicleArrives("L1", { minutesAgo: 2 });
    const ok = await successFor(h, "L1", plate);
    expect(h.seen("payment/req", "L1").filter((r) => (r.amount as number) > 0), "no payment asked").to.have.length(0);
    await assertExitCompletes(h, "L1", String(ok.session_id));
    expect(await h.auditKinds(String(ok.session_id))).to.include("payment.validated");
  });

  scenario("vehicle leaves before paying", { lanes: ["L1"] }, async (h) => {
    await h.vehicleArrives("L1", { minutesAgo: 60 });
    await h.waitPhase("L1", "awaiting_payment");
    const req = await h.paymentRequest("L1");
    await h.sleep(PACE.hesitateMs);
    h.vehicleLeaves("L1");
    await h.waitPhase("L1", "idle", 10_000);
    await h.sleep(300);
    expect(h.lane("L1").barrierDut.frames("OPEN", "rx"), "no OPEN sent").to.have.length(0);
    const plant = h.lane("L1").field.observe();
    if (plant) expect(plant.boomPct, "the boom is down (plant)").to.be.at.most(3);
    expect(await h.sessionStatus(String(req.session_id)), "the session still waits for its payment").to.equal("pending_payment");
    await h.waitUntil(async () => (await h.auditKinds(String(req.session_id))).includes("exit.left"), 10_000, "exit.left in the cloud's audit");
  });

  scenario("duplicated payment/success acts once", { lanes: ["L1"] }, async (h) => {
    const plate = await h.vehicleArrives("L1", { minutesAgo: 30 });
    await h.waitPhase("L1", "awaiting_payment");
    const req = await h.paymentRequest("L1");
    await h.payWithCard("L1");
    // The cloud broker redelivers it (QoS 1 duplicate) — twice.
    const success = await successFor(h, "L1", plate);
    const { encodePayload, toCloudTopic, TOPICS } = await import("../../contracts/mqtt-topics");
    const mqtt = await import("mqtt");
    const c = await mqtt.connectAsync(h.cloud.mqttUrl, { protocolVersion: 4 });
    for (let i = 0; i < 2; i++) await c.publishAsync(toCloudTopic("paris-centre", TOPICS.paymentSuccess.topic), encodePayload("paymentSuccess", success as never), { qos: 1 });
    await c.endAsync();
    await assertExitCompletes(h, "L1", String(req.session_id));
    await h.sleep(500);
    expect(h.lane("L1").barrierDut.frames("OPEN", "rx").map((l) => l.raw.split(" ")[0]), "one OPEN command (retransmissions keep its sequence)").to.satisfy((seqs: string[]) => new Set(seqs).size === 1);
    expect(h.seen("exit/done", "L1").filter((m) => m.session_id === req.session_id)).to.have.length(1);
    expect((await h.auditKinds(String(req.session_id))).filter((k) => k === "payment.validated"), "one validated payment in the audit").to.have.length(1);
  });

  scenario("badge exit online: the cloud finds the badge's session, the driver pays", { lanes: ["L1"] }, async (h) => {
    const uid = "0A1B2C3D4E";
    await h.vehicleArrives("L1", { minutesAgo: 75, badge: uid, readPlate: false });
    await h.waitPhase("L1", "identifying");
    h.presentBadge("L1", uid);
    await h.lane("L1").exitDut.expect(/^tx \d+ BADGE uid="0A1B2C3D4E"/, 5000);
    await h.waitUntil(() => h.seen("exit/req", "L1").length > 0, 10_000, "parking/exit/req");
    expect(h.seen("exit/req", "L1")[0].identity).to.deep.equal({ method: "badge", value: uid });
    await h.waitPhase("L1", "awaiting_payment");
    const req = await h.paymentRequest("L1");
    expect(req.amount as number).to.be.greaterThan(0);
    await h.payWithCard("L1");
    await assertExitCompletes(h, "L1", String(req.session_id));
  });
});
