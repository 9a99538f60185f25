import { expect } from "chai";
import fc from "fast-check";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Fields } from "../../firmware/common/link/frame";
import { AccessList, signAcl } from "../../gateway/lane/access-list";
import { LaneOrchestrator } from "../../gateway/lane/orchestrator";
import { hashPassword } from "../../gateway/broker/passwords";

const KEY = "test-acl-key-0123456789";

function setup(opts: { online?: boolean; acl?: AccessList } = {}) {
  const toExit: { type: string; fields: Fields }[] = [];
  const toBarrier: { type: string; fields: Fields }[] = [];
  const events: { key: string; payload: Record<string, unknown> }[] = [];
  let now = 1_000_000, ids = 0;
  const acl = opts.acl ?? new AccessList(join(mkdtempSync(join(tmpdir(), "acl-")), "acl.json"), KEY);
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
  return { lane, toExit, toBarrier, events, ev, acl, tick: (ms: number) => { now += ms; } };
}

const pay = (session: string, amount = 350) => ({ ts: 1, src: "cloud", session_id: session, lane_id: "L1", amount, currency: "EUR", pay_url: `https://c.example/pay/${session}?t=x`, duration: 7500 });
const success = (session: string) => ({ ts: 1, src: "cloud", session_id: session, lane_id: "L1", provider_ref: "pi_1" });

function signed<T extends Record<string, unknown>>(payload: T): T & { sig: string } {
  return { ...payload, sig: signAcl(payload, KEY) };
}

describe("gateway lane orchestration", () => {
  it("runs a paid exit: plate → exit request → pay → two keys → OPEN → exit done", () => {
    const t = setup();
    t.lane.onPlate("AB-123-CD");
    t.lane.onExitMessage("PRESENCE", { present: "1" });
    expect(t.toExit.map((m) => m.type)).to.deep.equal(["IDENTIFY"]);
    expect(t.ev("exitReq")).to.deep.equal([{ event_id: "ev-2", lane_id: "L1", identity: { method: "plate", value: "AB-123-CD" } }]);
    t.lane.onCloudMessage("paymentReq", pay("S1"));
    expect(t.toExit.at(-1)).to.deep.equal({ type: "PAY_REQ", fields: { session: "S1", amount: "350", currency: "EUR", url: "https://c.example/pay/S1?t=x", label: "2h05" } });
    t.lane.onCloudMessage("paymentSuccess", success("S1"));
    expect(t.toExit.at(-1)).to.deep.equal({ type: "PAY_OK", fields: { session: "S1" } });
    expect(t.toBarrier).to.deep.equal([]); // one key only: the controller has not confirmed
    t.lane.onExitMessage("AUTHORISED", { session: "S1" });
    expect(t.toBarrier).to.deep.equal([{ type: "OPEN", fields: { cmd: t.toBarrier[0].fields.cmd, session: "S1" } }]);
    t.lane.onBarrierMessage("BARRIER", { state: "opening", pos: "10" });
    t.lane.onBarrierMessage("BARRIER", { state: "open", pos: "100" });
    expect(t.toExit.map((m) => m.type).slice(-2)).to.deep.equal(["OPENING", "OPENED"]);
    t.lane.onBarrierMessage("PASSED", { session: "S1" });
    t.lane.onExitMessage("PRESENCE", { present: "0" });
    t.lane.onExitMessage("EXITED", { session: "S1" });
    expect(t.ev("exitDone")).to.deep.equal([{ event_id: t.ev("exitDone")[0].event_id, lane_id: "L1", session_id: "S1", barrier_result: "opened", passed: true, decided_by: "cloud", identity: { method: "plate", value: "AB-123-CD" } }]);
    expect(t.lane.phase).to.equal("idle");
  });

  it("acts once on a duplicated payment/success: one PAY_OK, one OPEN", () => {
    const t = setup();
    t.lane.onExitMessage("PRESENCE", { present: "1" });
    t.lane.onExitMessage("BADGE", { uid: "04A21F9C" });
    t.lane.onCloudMessage("paymentReq", pay("S2"));
    for (let i = 0; i < 5; i++) t.lane.onCloudMessage("paymentSuccess", success("S2"));
    t.lane.onExitMessage("AUTHORISED", { session: "S2" });
    t.lane.onExitMessage("AUTHORISED", { session: "S2" });
    for (let i = 0; i < 3; i++) t.lane.onCloudMessage("paymentSuccess", success("S2"));
    expect(t.toExit.filter((m) => m.type === "PAY_OK")).to.have.length(1);
    expect(t.toBarrier.filter((m) => m.type === "OPEN")).to.have.length(1);
    expect(t.lane.stats.duplicatePaymentSuccess).to.equal(7);
  });

  it("ignores payment messages for another lane or another session", () => {
    const t = setup();
    t.lane.onExitMessage("PRESENCE", { present: "1" });
    t.lane.onExitMessage("BADGE", { uid: "04A21F9C" });
    t.lane.onCloudMessage("paymentReq", pay("S3"));
    t.lane.onCloudMessage("paymentSuccess", { ...success("S3"), lane_id: "L2" });
    t.lane.onCloudMessage("paymentSuccess", success("S-OTHER"));
    expect(t.toExit.filter((m) => m.type === "PAY_OK")).to.have.length(0);
  });

  it("zero fee: success without a payment request identifies and authorises", () => {
    const t = setup();
    t.lane.onExitMessage("PRESENCE", { present: "1" });
    t.lane.onExitMessage("BADGE", { uid: "04A21F9C" });
    t.lane.onCloudMessage("paymentSuccess", success("S0"));
    expect(t.toExit.slice(-2)).to.deep.equal([{ type: "IDENTIFY", fields: { session: "S0" } }, { type: "PAY_OK", fields: { session: "S0" } }]);
  });

  it("a gateway restarted while the boom was up still reports the exit with the session the controller names", () => {
    // Found by the gateway crash campaign: SIGKILL while a paid car drove under the open boom;
    // the new gateway had no flow, sent exit/done without a session, and the cloud left the
    // session paid for ever.
    const t = setup();
    t.lane.onExitMessage("PRESENCE", { present: "0" });
    t.lane.onExitMessage("EXITED", { session: "S9" });
    expect(t.ev("exitDone")).to.deep.equal([{ event_id: t.ev("exitDone")[0].event_id, lane_id: "L1", session_id: "S9", barrier_result: "opened", passed: true, decided_by: "cloud" }]);
  });

  it("a gateway restarted while the driver paid acts on the payment/success that came before the controller re-synced", () => {
    // Found by the gateway crash campaign: SIGKILL while the lane awaited payment; the driver
    // paid; the broker delivered the success to the new gateway before the controller's
    // re-sync (PRESENCE, STATE awaiting_payment session=…), the lane dropped it as stale, and the
    // paid driver waited at the closed barrier for ever.
    const t = setup();
    t.lane.onCloudMessage("paymentSuccess", success("S8"));
    expect(t.toExit).to.deep.equal([]);
    t.lane.onExitMessage("PRESENCE", { present: "1" });
    t.lane.onExitMessage("STATE", { state: "awaiting_payment", why: "resync", session: "S8" });
    expect(t.toExit.at(-1)).to.deep.equal({ type: "PAY_OK", fields: { session: "S8" } });
    t.lane.onExitMessage("AUTHORISED", { session: "S8" });
    expect(t.toBarrier.map((m) => [m.type, m.fields.session])).to.deep.equal([["OPEN", "S8"]]);
  });

  it("a gateway restarted while the driver paid takes the session back from the controller's re-sync", () => {
    const t = setup();
    t.lane.onExitMessage("PRESENCE", { present: "1" });
    t.lane.onExitMessage("STATE", { state: "awaiting_payment", why: "resync", session: "S10" });
    expect(t.lane.snapshot()).to.include({ phase: "awaiting_payment", session_id: "S10" });
    t.lane.onCloudMessage("paymentSuccess", success("S-OTHER"));
    expect(t.toExit.filter((m) => m.type === "PAY_OK")).to.deep.equal([]);
    t.lane.onCloudMessage("paymentSuccess", success("S10"));
    expect(t.toExit.filter((m) => m.type === "PAY_OK")).to.deep.equal([{ type: "PAY_OK", fields: { session: "S10" } }]);
  });

  describe("a gateway restarted after the controller answered AUTHORISED, before the barrier was told to open (issue 13)", () => {
    // Found by the gateway crash campaign: the new gateway heard the controller's re-sync
    // (STATE authorised why=resync session=S) but had lost the cloud's success with the killed
    // process; nothing was sent to the barrier and the controller faulted NO_OPEN after 20 s.
    // The cloud now says the success again in answer to the gateway's sync/req (resync: true).
    const restarted = () => {
      const t = setup();
      t.lane.onExitMessage("PRESENCE", { present: "1" });
      t.lane.onExitMessage("STATE", { state: "authorised", why: "resync", session: "S11" });
      return t;
    };
    const opens = (t: ReturnType<typeof setup>) => t.toBarrier.filter((m) => m.type === "OPEN").map((m) => m.fields.session);

    it("opens once on the cloud's success that comes after the controller's re-sync", () => {
      const t = restarted();
      expect(opens(t), "one key only: the cloud has not spoken").to.deep.equal([]);
      expect(t.lane.snapshot()).to.include({ session_id: "S11" });
      t.lane.onCloudMessage("paymentSuccess", { ...success("S11"), resync: true });
      expect(opens(t)).to.deep.equal(["S11"]);
      expect(t.toExit.filter((m) => m.type === "PAY_OK"), "the controller is authorised already").to.deep.equal([]);
      expect(t.toExit.at(-1)).to.deep.equal({ type: "OPENING", fields: { session: "S11" } });
      t.lane.onCloudMessage("paymentSuccess", { ...success("S11"), resync: true });
      t.lane.onCloudMessage("paymentSuccess", success("S11"));
      t.lane.onExitMessage("STATE", { state: "authorised", why: "resync", session: "S11" });
      expect(opens(t), "duplicates act once").to.deep.equal(["S11"]);
      t.lane.onBarrierMessage("BARRIER", { state: "open", pos: "100" });
      t.lane.onExitMessage("PRESENCE", { present: "0" });
      t.lane.onExitMessage("EXITED", { session: "S11" });
      expect(t.ev("exitDone")).to.deep.equal([{ event_id: t.ev("exitDone")[0].event_id, lane_id: "L1", session_id: "S11", barrier_result: "opened", passed: true, decided_by: "cloud" }]);
    });

    it("opens once on the cloud's success heard before the controller's re-sync", () => {
      for (const resync of [true, undefined]) {
        const t = setup();
        t.lane.onCloudMessage("paymentSuccess", { ...success("S12"), ...(resync ? { resync } : {}) });
        t.lane.onExitMessage("PRESENCE", { present: "1" });
        expect(opens(t)).to.deep.equal([]);
        t.lane.onExitMessage("STATE", { state: "authorised", why: "resync", session: "S12" });
        expect(opens(t), `resync: ${resync}`).to.deep.equal(["S12"]);
        t.lane.onCloudMessage("paymentSuccess", { ...success("S12"), resync: true });
        expect(opens(t)).to.deep.equal(["S12"]);
        expect(t.toExit.filter((m) => m.type === "PAY_OK")).to.deep.equal([]);
      }
    });

    it("never opens on a success for another session, or once the car has gone", () => {
      const t = restarted();
      t.lane.onCloudMessage("paymentSuccess", { ...success("S-OTHER"), resync: true });
      t.lane.onCloudMessage("paymentSuccess", success("S-OTHER"));
      expect(opens(t)).to.deep.equal([]);
      t.lane.onExitMessage("PRESENCE", { present: "0" });
      t.lane.onCloudMessage("paymentSuccess", { ...success("S11"), resync: true });
      expect(opens(t)).to.deep.equal([]);
      // A success heard with no car on the loop, then a controller that re-syncs idle: nothing.
      const u = setup();
      u.lane.onCloudMessage("paymentSuccess", { ...success("S13"), resync: true });
      u.lane.onExitMessage("PRESENCE", { present: "0" });
      u.lane.onExitMessage("STATE", { state: "idle", why: "resync" });
      u.lane.onExitMessage("PRESENCE", { present: "1" });
      expect(opens(u)).to.deep.equal([]);
      expect(u.toExit.filter((m) => m.type === "PAY_OK")).to.deep.equal([]);
    });

    it("a success said again for a sync/req is never taken as the answer to the next car's exit request", () => {
      const t = setup();
      t.lane.onExitMessage("PRESENCE", { present: "1" });
      t.lane.onExitMessage("BADGE", { uid: "04A21F9C" });
      t.lane.onCloudMessage("paymentSuccess", { ...success("S-LEFT-BEFORE"), resync: true });
      expect(t.toExit.filter((m) => m.type === "PAY_OK" || m.fields.session !== undefined)).to.deep.equal([]);
      t.lane.onCloudMessage("paymentReq", pay("S14"));
      t.lane.onCloudMessage("paymentSuccess", success("S14"));
      t.lane.onExitMessage("AUTHORISED", { session: "S14" });
      expect(opens(t)).to.deep.equal(["S14"]);
    });

    it("ignores a success said again for the car it has just let out", () => {
      const t = setup();
      t.lane.onExitMessage("PRESENCE", { present: "1" });
      t.lane.onExitMessage("BADGE", { uid: "04A21F9C" });
      t.lane.onCloudMessage("paymentReq", pay("S15"));
      t.lane.onCloudMessage("paymentSuccess", success("S15"));
      t.lane.onExitMessage("AUTHORISED", { session: "S15" });
      t.lane.onBarrierMessage("BARRIER", { state: "open", pos: "100" });
      t.lane.onCloudMessage("paymentSuccess", { ...success("S15"), resync: true });
      t.lane.onExitMessage("PRESENCE", { present: "0" });
      t.lane.onExitMessage("EXITED", { session: "S15" });
      t.lane.onCloudMessage("paymentSuccess", { ...success("S15"), resync: true });
      t.lane.onExitMessage("PRESENCE", { present: "1" });
      t.lane.onExitMessage("STATE", { state: "present", why: "resync" });
      t.lane.onCloudMessage("paymentSuccess", { ...success("S15"), resync: true });
      expect(opens(t)).to.deep.equal(["S15"]);
      expect(t.toExit.filter((m) => m.type === "PAY_OK")).to.have.length(1);
    });
  });

  it("offline: a trusted badge and an exit PIN open, an unknown badge is denied, and each decision is recorded", () => {
    const t = setup({ online: false });
    expect(t.acl.apply("full", signed({ ts: 1, src: "cloud", version: 3, entries: [
      { kind: "badge" as const, id: "04A21F9C", label: "staff" },
      { kind: "pin" as const, id: "pin-7", pin_hash: hashPassword("2468", { N: 1024 }) },
    ] }))).to.equal("applied");
    t.lane.onExitMessage("PRESENCE", { present: "1" });
    t.lane.onExitMessage("BADGE", { uid: "DEADBEEF" });
    expect(t.toExit.at(-1)).to.deep.equal({ type: "DENY", fields: { reason: "Badge non reconnu" } });
    t.lane.onExitMessage("BADGE", { uid: "04A21F9C" });
    const session = t.toExit.at(-1)!.fields.session;
    expect(t.toExit.at(-1)).to.deep.equal({ type: "PAY_OK", fields: { session, ref: "offline_badge" } });
    t.lane.onExitMessage("AUTHORISED", { session });
    expect(t.toBarrier.map((m) => m.type)).to.deep.equal(["OPEN"]);
    t.lane.onExitMessage("EXITED", { session });
    expect(t.ev("exitDone")[0]).to.include({ decided_by: "offline_badge", barrier_result: "opened" });
    expect(t.ev("exitReq")).to.have.length(0);
    // next vehicle, by PIN
    t.lane.onExitMessage("PRESENCE", { present: "0" });
    t.lane.onExitMessage("PRESENCE", { present: "1" });
    t.lane.onExitMessage("PIN", { pin: "1111" });
    expect(t.toExit.at(-1)).to.deep.equal({ type: "DENY", fields: { reason: "PIN inconnu" } });
    t.lane.onExitMessage("PIN", { pin: "2468" });
    expect(t.toExit.at(-1)!.fields.ref).to.equal("offline_pin");
    expect(t.lane.stats.offlineDecisions).to.equal(2);
  });

  it("an executor fault blocks automatic opening until an operator reset clears it", () => {
    const t = setup();
    t.lane.onBarrierMessage("BARRIER", { state: "fault", pos: "40", fault: "OVER_CURRENT" });
    expect(t.ev("sensorError")[0]).to.include({ code: "OVER_CURRENT", severity: "fault" });
    expect(t.toExit.at(-1)).to.deep.equal({ type: "LANE_FAULT", fields: { code: "OVER_CURRENT" } });
    t.lane.onExitMessage("PRESENCE", { present: "1" });
    t.lane.onExitMessage("BADGE", { uid: "04A21F9C" });
    expect(t.ev("exitReq")).to.have.length(0);
    t.lane.onCloudMessage("barrierCmd", { ts: 1, src: "cloud", cmd_id: "c1", lane_id: "L1", cmd: "open", operator: "alice", reason: "driver stuck" });
    expect(t.ev("barrierAck").at(-1)).to.include({ cmd_id: "c1", result: "refused" });
    expect(t.toBarrier.filter((m) => m.type === "OPEN")).to.have.length(0);
    t.lane.onCloudMessage("barrierCmd", { ts: 1, src: "cloud", cmd_id: "c2", lane_id: "L1", cmd: "reset", operator: "alice", reason: "stall cleared" });
    const reset = t.toBarrier.at(-1)!;
    expect(reset.type).to.equal("FAULT_RESET");
    t.lane.onBarrierMessage("CMD_DONE", { cmd: reset.fields.cmd, result: "ok" });
    t.lane.onBarrierMessage("BARRIER", { state: "stopped", pos: "40" });
    expect(t.toExit.at(-1)).to.deep.equal({ type: "LANE_CLEAR", fields: {} });
    expect(t.ev("barrierAck").at(-1)).to.include({ cmd_id: "c2", result: "done" });
  });

  it("an audited operator override opens through the controller's key, once per cmd_id", () => {
    const t = setup();
    t.lane.onExitMessage("PRESENCE", { present: "1" });
    const cmd = { ts: 1, src: "cloud", cmd_id: "ovr1", lane_id: "L1", cmd: "open" as const, operator: "alice", reason: "ticket machine jammed" };
    t.lane.onCloudMessage("barrierCmd", cmd);
    t.lane.onCloudMessage("barrierCmd", cmd);
    const session = t.toExit.find((m) => m.type === "PAY_OK")!.fields.session;
    t.lane.onExitMessage("AUTHORISED", { session });
    expect(t.toBarrier.filter((m) => m.type === "OPEN")).to.have.length(1);
    t.lane.onExitMessage("EXITED", { session });
    // cmd_id: the cloud attributes the exit to alice only for an override it issued (cloud/flows/override-claims.ts).
    expect(t.ev("exitDone")[0]).to.include({ decided_by: "override", operator: "alice", reason: "ticket machine jammed", cmd_id: "ovr1" });
    expect(t.lane.stats.duplicateCommands).to.equal(1);
  });

  it("never sends OPEN without both keys for the same session and a vehicle on the loop (any event order)", () => {
    const event = fc.oneof(
      fc.constantFrom("arrive", "leave", "badge", "authS1", "authS2", "resyncAuthS1", "resyncAuthS2", "payReqS1", "successS1", "successS2", "resentS1", "resentS2", "opened", "fault", "clear", "override", "exited").map((k) => ({ k })),
    );
    fc.assert(fc.property(fc.array(event, { maxLength: 40 }), fc.boolean(), (events, online) => {
      const t = setup({ online });
      let present = false;
      const authorisedByController = new Set<string>();
      const authorisedByCloud = new Set<string>();
      const cloudSaidPaid = new Set<string>(); // the cloud's success is a fact about the session, not the car
      for (const { k } of events) {
        const before = t.toBarrier.filter((m) => m.type === "OPEN").length;
        switch (k) {
          case "arrive": present = true; t.lane.onExitMessage("PRESENCE", { present: "1" }); break;
          case "leave": present = false; t.lane.onExitMessage("PRESENCE", { present: "0" }); t.lane.onExitMessage("LEFT", {}); authorisedByController.clear(); authorisedByCloud.clear(); break;
          case "badge": t.lane.onExitMessage("BADGE", { uid: "04A21F9C" }); break;
          case "authS1": authorisedByController.add("S1"); t.lane.onExitMessage("AUTHORISED", { session: "S1" }); break;
          case "authS2": authorisedByController.add("S2"); t.lane.onExitMessage("AUTHORISED", { session: "S2" }); break;
          case "payReqS1": t.lane.onCloudMessage("paymentReq", pay("S1")); break;
          case "successS1": cloudSaidPaid.add("S1"); t.lane.onCloudMessage("paymentSuccess", success("S1")); break;
          case "successS2": cloudSaidPaid.add("S2"); t.lane.onCloudMessage("paymentSuccess", success("S2")); break;
          case "resentS1": cloudSaidPaid.add("S1"); t.lane.onCloudMessage("paymentSuccess", { ...success("S1"), resync: true }); break;
          case "resentS2": cloudSaidPaid.add("S2"); t.lane.onCloudMessage("paymentSuccess", { ...success("S2"), resync: true }); break;
          case "resyncAuthS1": if (present) authorisedByController.add("S1"); t.lane.onExitMessage("STATE", { state: "authorised", why: "resync", session: "S1" }); break;
          case "resyncAuthS2": if (present) authorisedByController.add("S2"); t.lane.onExitMessage("STATE", { state: "authorised", why: "resync", session: "S2" }); break;
          case "opened": t.lane.onBarrierMessage("BARRIER", { state: "open", pos: "100" }); break;
          case "fault": t.lane.onBarrierMessage("BARRIER", { state: "fault", pos: "50", fault: "STALL" }); break;
          case "clear": t.lane.onBarrierMessage("BARRIER", { state: "closed", pos: "0" }); break;
          case "override": {
            t.lane.onCloudMessage("barrierCmd", { ts: 1, src: "c", cmd_id: `o${Math.random()}`, lane_id: "L1", cmd: "open", operator: "op", reason: "test reason" });
            // An audited override is the cloud-side key for the lane's session (no PAY_OK when the
            // controller, re-synced, holds that session authorised already).
            const s = t.lane.snapshot();
            if (s.decided_by === "override" && s.session_id) authorisedByCloud.add(s.session_id);
            break;
          }
          case "exited": t.lane.onExitMessage("EXITED", { session: t.lane.snapshot().session_id ?? "x" }); authorisedByController.clear(); break;
        }
        for (const m of t.toExit) if (m.type === "PAY_OK") authorisedByCloud.add(m.fields.session);
        const opens = t.toBarrier.filter((m) => m.type === "OPEN");
        if (opens.length > before) {
          const session = opens.at(-1)!.fields.session;
          expect(present, "vehicle present").to.equal(true);
          expect(authorisedByController.has(session), "controller key").to.equal(true);
          expect(authorisedByCloud.has(session) || cloudSaidPaid.has(session), "cloud/override/offline key").to.equal(true);
          expect(t.lane.snapshot().fault, "no executor fault").to.equal(undefined);
        }
      }
    }), { numRuns: 3000 });
  });
});

describe("gateway lane orchestration: keypad codes online", () => {
  it("sends a typed ticket number to the cloud as the ticket identity, and an exit PIN as its entry id", () => {
    const t = setup();
    expect(t.acl.apply("full", signed({ ts: 1, src: "cloud", version: 2, entries: [{ kind: "pin" as const, id: "pin-9", pin_hash: hashPassword("2468", { N: 1024 }) }] }))).to.equal("applied");
    t.lane.onExitMessage("PRESENCE", { present: "1" });
    t.lane.onExitMessage("PIN", { pin: "73019254" });
    expect(t.ev("exitReq").at(-1)).to.deep.include({ identity: { method: "ticket", value: "73019254" } });
    t.lane.onExitMessage("PRESENCE", { present: "0" });
    t.lane.onExitMessage("LEFT", {});
    t.lane.onExitMessage("PRESENCE", { present: "1" });
    t.lane.onExitMessage("PIN", { pin: "2468" });
    expect(t.ev("exitReq").at(-1)).to.deep.include({ identity: { method: "pin", value: "pin-9" } });
    expect(JSON.stringify(t.events)).to.not.contain("2468");
  });
});

describe("gateway access list", () => {
  it("accepts only signed, newer versions, persists atomically and reloads", () => {
    const file = join(mkdtempSync(join(tmpdir(), "acl-")), "acl.json");
    const acl = new AccessList(file, KEY);
    const add = signed({ ts: 1, src: "cloud", version: 1, entries: [{ kind: "badge" as const, id: "04A21F9C" }] });
    expect(acl.apply("add", add)).to.equal("applied");
    expect(acl.apply("add", add)).to.equal("duplicate");
    expect(acl.apply("add", { ...add, version: 2 })).to.equal("bad_signature");
    expect(acl.apply("add", { ...add, sig: "00".repeat(32) })).to.equal("bad_signature");
    expect(acl.apply("del", signed({ ts: 2, src: "cloud", version: 2, ids: ["04A21F9C"] }))).to.equal("applied");
    expect(acl.apply("add", signed({ ts: 3, src: "cloud", version: 1, entries: [{ kind: "badge" as const, id: "X1234567" }] }))).to.equal("stale");
    expect(acl.trustedBadge("04A21F9C", 0)).to.equal(undefined);
    expect(acl.apply("add", signed({ ts: 4, src: "cloud", version: 5, entries: [{ kind: "badge" as const, id: "CAFEBABE", valid_until: 1000 }] }))).to.equal("applied");
    const again = new AccessList(file, KEY);
    expect(again.version).to.equal(5);
    expect(again.trustedBadge("CAFEBABE", 999)?.id).to.equal("CAFEBABE");
    expect(again.trustedBadge("CAFEBABE", 1000)).to.equal(undefined);
    expect(new AccessList(file, undefined).apply("add", signed({ ts: 5, src: "c", version: 9, entries: [{ kind: "badge" as const, id: "AAAAAAAA" }] }))).to.equal("bad_signature");
  });
});
