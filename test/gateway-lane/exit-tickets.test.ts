/**
 * The exit lane with entry tickets (gateway/lane/orchestrator.ts): the lost-ticket key, a ticket's
 * QR at the exit's scanner, a merchant validation while paying, and the camera's plate read sent
 * along with another identity so the cloud links it to the session.
 */
import { expect } from "chai";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { schemas } from "../../contracts/mqtt-topics";
import type { Fields } from "../../firmware/common/link/frame";
import { AccessList } from "../../gateway/lane/access-list";
import { LaneOrchestrator } from "../../gateway/lane/orchestrator";

const TICKET = "TABCDEFGHIJKLMNOPQRSTUVWXYZ";

function setup(opts: { online?: boolean } = {}) {
  const toExit: { type: string; fields: Fields }[] = [];
  const toBarrier: { type: string; fields: Fields }[] = [];
  const events: { key: string; payload: Record<string, unknown> }[] = [];
  let now = 1_000_000, ids = 0;
  const acl = new AccessList(join(mkdtempSync(join(tmpdir(), "exit-acl-")), "acl.json"), "test-acl-key-0123456789");
  const lane = new LaneOrchestrator("L1", {
    toExit: (type, fields) => toExit.push({ type, fields }),
    toBarrier: (type, fields) => toBarrier.push({ type, fields }),
    emit: (key, payload) => events.push({ key, payload: payload as Record<string, unknown> }),
    now: () => now,
    newId: (prefix) => `${prefix}-${++ids}`,
  }, acl, { trustedBadges: true, exitPins: true, operatorOverride: true, plateWindowMs: 10_000 });
  lane.onExitLink(true);
  lane.onBarrierLink(true);
  lane.setCloudOnline(opts.online ?? true);
  const ev = (key: string) => events.filter((e) => e.key === key).map((e) => e.payload);
  const frames = (type: string) => toExit.filter((m) => m.type === type).map((m) => m.fields);
  const payReq = (session: string, amount: number) => lane.onCloudMessage("paymentReq", { ts: 1, src: "cloud", session_id: session, lane_id: "L1", amount, currency: "EUR", pay_url: `https://c.example/pay/${session}` });
  return { lane, toExit, toBarrier, ev, frames, payReq, tick: (ms: number) => { now += ms; } };
}

describe("gateway exit lane: tickets, lost tickets and validations", () => {
  it("the lost-ticket key sends exit/lost with the plate read, and the cloud's payment/req is shown", () => {
    const t = setup();
    t.lane.onPlate("AB-123-CD");
    t.lane.onExitMessage("PRESENCE", { present: "1" });
    expect(t.ev("exitReq").map((r) => r.identity)).to.deep.equal([{ method: "plate", value: "AB-123-CD" }]);
    // the cloud knows no session for the plate (a ticketed car): the driver says the ticket is lost
    t.lane.onExitMessage("BUTTON", { name: "lost" });
    const lost = t.ev("exitLost");
    expect(lost).to.deep.equal([{ event_id: lost[0].event_id, lane_id: "L1", plate: "AB-123-CD" }]);
    expect(schemas.exitLost.safeParse({ ts: 1, src: "gw", ...lost[0] }).success).to.equal(true);
    expect(t.ev("sensorError"), "not a help call").to.deep.equal([]);
    t.payReq("S-LOST", 2500);
    expect(t.frames("PAY_REQ")).to.deep.equal([{ session: "S-LOST", amount: "2500", currency: "EUR", url: "https://c.example/pay/S-LOST" }]);
    expect(t.lane.phase).to.equal("awaiting_payment");
  });

  it("without a plate read, exit/lost carries no plate", () => {
    const t = setup();
    t.lane.onExitMessage("PRESENCE", { present: "1" });
    t.lane.onExitMessage("BUTTON", { name: "lost" });
    expect(t.ev("exitLost")).to.deep.equal([{ event_id: t.ev("exitLost")[0].event_id, lane_id: "L1" }]);
  });

  it("a ticket's QR at the scanner is the ticket identity; any other code changes nothing", () => {
    const t = setup();
    t.lane.onExitMessage("PRESENCE", { present: "1" });
    t.lane.onExitMessage("SCAN", { code: "hello world" });
    expect(t.ev("exitReq")).to.deep.equal([]);
    t.lane.onExitMessage("SCAN", { code: `SPK1.${TICKET}` });
    const req = t.ev("exitReq");
    expect(req).to.deep.equal([{ event_id: req[0].event_id, lane_id: "L1", identity: { method: "ticket", value: TICKET } }]);
  });

  it("a reservation's QR at the scanner is the reservation identity (its stay is prepaid)", () => {
    const t = setup();
    t.lane.onExitMessage("PRESENCE", { present: "1" });
    t.lane.onExitMessage("SCAN", { code: "SPR1.RSV12345678" });
    const req = t.ev("exitReq");
    expect(req).to.deep.equal([{ event_id: req[0].event_id, lane_id: "L1", identity: { method: "reservation", value: "RSV12345678" } }]);
  });

  it("exit/req carries the plate read when the identity is a ticket or a badge (the cloud links it to the session)", () => {
    for (const [frame, fields, identity] of [
      ["SCAN", { code: `SPK1.${TICKET}` }, { method: "ticket", value: TICKET }],
      ["BADGE", { uid: "04A21F9C" }, { method: "badge", value: "04A21F9C" }],
    ] as const) {
      const t = setup();
      t.lane.onPlate("CD-789-EF");
      t.lane.onExitMessage("PRESENCE", { present: "1" }); // plate request first: the cloud has no session for it
      t.lane.onExitMessage(frame, fields);
      const req = t.ev("exitReq");
      expect(req[1]).to.deep.equal({ event_id: req[1].event_id, lane_id: "L1", identity, plate: "CD-789-EF" });
      expect(schemas.exitReq.safeParse({ ts: 1, src: "gw", ...req[1] }).success).to.equal(true);
    }
  });

  it("a validation QR while paying sends exit/validation; the cloud's new payment/req updates the amount, then success opens", () => {
    const t = setup();
    t.lane.onExitMessage("PRESENCE", { present: "1" });
    t.lane.onExitMessage("SCAN", { code: "SPV1.SHOP42ABC" });
    expect(t.ev("exitValidation"), "no session being paid yet").to.deep.equal([]);
    t.lane.onExitMessage("SCAN", { code: `SPK1.${TICKET}` });
    t.payReq("S7", 900);
    t.lane.onExitMessage("SCAN", { code: "SPV1.SHOP42ABC" });
    const v = t.ev("exitValidation");
    expect(v).to.deep.equal([{ event_id: v[0].event_id, lane_id: "L1", session_id: "S7", code: "SHOP42ABC" }]);
    expect(schemas.exitValidation.safeParse({ ts: 1, src: "gw", ...v[0] }).success).to.equal(true);
    t.payReq("S7", 400);
    expect(t.frames("PAY_REQ").map((f) => f.amount)).to.deep.equal(["900", "400"]);
    t.lane.onCloudMessage("paymentSuccess", { ts: 1, src: "cloud", session_id: "S7", lane_id: "L1", provider_ref: "pi_1" });
    t.lane.onExitMessage("AUTHORISED", { session: "S7" });
    expect(t.toBarrier.map((m) => [m.type, m.fields.session])).to.deep.equal([["OPEN", "S7"]]);
  });

  it("offline, a ticket cannot be priced: the driver is told, nothing opens", () => {
    const t = setup({ online: false });
    t.lane.onExitMessage("PRESENCE", { present: "1" });
    t.lane.onExitMessage("SCAN", { code: `SPK1.${TICKET}` });
    t.lane.onExitMessage("BUTTON", { name: "lost" });
    expect(t.frames("DENY")).to.deep.equal([{ reason: "Paiement impossible" }, { reason: "Paiement impossible" }]);
    expect(t.ev("exitReq")).to.deep.equal([]);
    expect(t.ev("exitLost")).to.deep.equal([]);
    expect(t.toBarrier).to.deep.equal([]);
  });
});
