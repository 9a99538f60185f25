/**
 * The lane when the cloud cannot take a payment (issue 16 items 6–7): billing switched off (a
 * payment request without pay link) or the provider out of reach (`parking/payment/failed`
 * reason `provider_unreachable`). The display says "Paiement indispo.", the barrier stays
 * closed, and only the operator's audited override lets the vehicle out.
 */
import { expect } from "chai";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Fields } from "../../firmware/common/link/frame";
import { AccessList } from "../../gateway/lane/access-list";
import { FAILURE_TEXT } from "../../gateway/lane/lane-text";
import { LaneOrchestrator } from "../../gateway/lane/orchestrator";

function setup() {
  const toExit: { type: string; fields: Fields }[] = [];
  const toBarrier: { type: string; fields: Fields }[] = [];
  const events: { key: string; payload: Record<string, unknown> }[] = [];
  let ids = 0;
  const acl = new AccessList(join(mkdtempSync(join(tmpdir(), "acl-")), "acl.json"), "test-acl-key-0123456789");
  const lane = new LaneOrchestrator("L1", {
    toExit: (type, fields) => toExit.push({ type, fields }),
    toBarrier: (type, fields) => toBarrier.push({ type, fields }),
    emit: (key, payload) => events.push({ key, payload: payload as Record<string, unknown> }),
    now: () => 1_000_000,
    newId: (prefix) => `${prefix}-${++ids}`,
  }, acl, { trustedBadges: true, exitPins: true, operatorOverride: true, plateWindowMs: 10_000 });
  lane.onExitLink(true);
  lane.onBarrierLink(true);
  lane.setCloudOnline(true);
  return { lane, toExit, toBarrier, events };
}

describe("gateway lane: payment unavailable (billing off, provider unreachable)", () => {
  it("shows the amount without a QR code, says payment is unavailable, keeps the barrier closed until an operator override", () => {
    const t = setup();
    t.lane.onPlate("AB-123-CD");
    t.lane.onExitMessage("PRESENCE", { present: "1" });
    // BILLING_ENABLED=false: the cloud's request carries no pay_url, then provider_unreachable.
    t.lane.onCloudMessage("paymentReq", { ts: 1, src: "cloud", session_id: "S1", lane_id: "L1", amount: 350, currency: "EUR", reason: "online payment disabled: call the operator", duration: 7500 });
    expect(t.toExit.at(-1)).to.deep.equal({ type: "PAY_REQ", fields: { session: "S1", amount: "350", currency: "EUR", url: "", label: "2h05" } });
    t.lane.onCloudMessage("paymentFailed", { ts: 2, src: "cloud", session_id: "S1", lane_id: "L1", reason: "provider_unreachable", message: "billing disabled: call the operator" });
    expect(t.toExit.at(-1)).to.deep.equal({ type: "PAY_FAIL", fields: { session: "S1", reason: "Paiement indispo." } });
    expect(FAILURE_TEXT.provider_unreachable.length).to.be.at.most(20); // fits the character display
    expect(t.lane.phase).to.equal("awaiting_payment");
    t.lane.onExitMessage("AUTHORISED", { session: "S1" }); // the controller alone is one key: no OPEN
    expect(t.toBarrier.filter((m) => m.type === "OPEN")).to.deep.equal([]);

    t.lane.onCloudMessage("barrierCmd", { ts: 3, src: "cloud", cmd_id: "ovr-billing-1", lane_id: "L1", cmd: "open", operator: "alice", reason: "payment provider unavailable", session_id: "S1" });
    // The controller's key was given already: the override is the second, the barrier opens once.
    expect(t.toBarrier.filter((m) => m.type === "OPEN")).to.have.length(1);
    t.lane.onExitMessage("EXITED", { session: "S1" });
    const done = t.events.filter((e) => e.key === "exitDone").map((e) => e.payload);
    expect(done[0]).to.include({ decided_by: "override", operator: "alice", cmd_id: "ovr-billing-1", session_id: "S1" });
  });
});
