/**
 * Gateway scenarios with real parts (ptys, the simulated exit controller, Mosquitto behind a
 * TCP proxy the test cuts): exits by trusted badge and PIN while the cloud is unreachable, every
 * event delivered in order after reconnection; a board unplugged and re-plugged mid-session.
 */
import { expect } from "chai";
import { dirname } from "node:path";
import { signAcl } from "../../gateway/lane/access-list";
import { hashPassword } from "../../gateway/broker/passwords";
import { SimulatedExitController } from "../../sim/boards/exit-controller-sim";
import { RealClock } from "../../sim/boards/virtual-clock";
import { openPtyPair } from "../../host/link/pty";
import { requireToolOrSkip } from "../../host/tools";
import { requireMosquittoOrSkip, waitFor } from "../gateway/helpers";
import { ACL_KEY, startLaneRig, type LaneRig } from "./lane-rig";

const wait = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

describe("gateway scenarios: cloud outage and board unplug", function () {
  this.timeout(90000);
  let rig: LaneRig | undefined;

  beforeEach(async function () {
    requireToolOrSkip(this, "socat");
    await requireMosquittoOrSkip(this);
    rig = await startLaneRig({ offlineAfterS: 1 });
  });
  afterEach(async () => { await rig?.close(); rig = undefined; });

  async function exitThrough(r: LaneRig, identify: () => Promise<void> | void): Promise<void> {
    r.board.vehicleArrives();
    await waitFor(() => r.board.state === "identifying", 10_000, "board identifying");
    const opens = r.barrier.of("OPEN").length;
    await identify();
    await waitFor(() => r.barrier.of("OPEN").length > opens && r.board.state === "opening", 10_000, "OPEN sent").catch((err: Error) => {
      throw new Error(`${err.message}; lane ${JSON.stringify(r.gateway.lanes.get("L1")!.snapshot())}, board ${r.board.state}, stats ${JSON.stringify(r.gateway.lanes.get("L1")!.stats)}`);
    });
    r.autoOpen();
    await waitFor(() => r.board.state === "passing", 10_000, "board passing");
    r.board.vehicleLeaves();
    await waitFor(() => r.board.state === "done" || r.board.state === "idle", 10_000, "board done");
    r.barrier.send("PASSED", {});
    r.barrier.send("BARRIER", { state: "closing", pos: "60" });
    r.barrier.send("BARRIER", { state: "closed", pos: "0" });
  }

  it("exits by trusted badge and PIN while the cloud is down; afterwards every event arrives once, in order", async () => {
    const r = rig!;
    const acl = { ts: Date.now(), src: "cloud", version: 1, entries: [
      { kind: "badge" as const, id: "04A21F9C3B", label: "night staff" },
      { kind: "pin" as const, id: "pin-42", pin_hash: hashPassword("2468", { N: 1024 }) },
    ] };
    await r.publishToSite("aclFull", { ...acl, sig: signAcl(acl, ACL_KEY) });
    await waitFor(() => r.gateway.acl.version === 1, 10_000, "access list synced");

    await r.proxy.stop(); // the internet is gone
    await waitFor(() => !r.gateway.lanes.get("L1")!.snapshot().cloud_online, 10_000, "site offline");
    const before = r.fromSite.length;

    await exitThrough(r, () => r.board.presentBadge("04A21F9C3B"));
    await wait(3500); // "Merci" screen, then the next car
    await exitThrough(r, () => r.board.typeKeys("2468#", wait));
    expect(r.barrier.of("OPEN")).to.have.length(2);
    expect(r.fromSite.length, "nothing reached the cloud during the outage").to.equal(before);
    expect(r.gateway.services.outbox.depth).to.be.greaterThan(0);

    await r.proxy.start(); // back online
    await waitFor(() => r.seen("parking/exit/done").length === 2, 20_000, "both exits at the cloud");
    await waitFor(() => r.gateway.services.outbox.depth === 0, 10_000, "outbox drained");
    const done = r.seen("parking/exit/done");
    expect(done.map((d) => d.decided_by)).to.deep.equal(["offline_badge", "offline_pin"]);
    expect(done[0]).to.deep.include({ barrier_result: "opened", identity: { method: "badge", value: "04A21F9C3B" } });
    expect(done[1]).to.deep.include({ identity: { method: "pin", value: "pin-42" } });
    const presence = r.seen("parking/sensor_gate/present").slice(-4).map((p) => p.present);
    expect(presence).to.deep.equal([true, false, true, false]);
    const ids = r.fromSite.map((m) => m.payload.event_id).filter((id) => id !== undefined);
    expect(new Set(ids).size, "no event doubled").to.equal(ids.length);
    // events of the outage arrive in the order they happened
    const times = r.fromSite.slice(before).filter((m) => m.payload.event_id).map((m) => Number(m.payload.ts));
    expect(times).to.deep.equal([...times].sort((a, b) => a - b));
  });

  it("re-synchronises a board unplugged and re-plugged while the driver is paying", async () => {
    const r = rig!;
    r.board.vehicleArrives();
    await waitFor(() => r.board.state === "identifying", 10_000, "board identifying");
    r.board.presentBadge("04A21F9C3B");
    await waitFor(() => r.seen("parking/exit/req").length === 1, 10_000, "exit request");
    await r.publishToSite("paymentReq", { ts: Date.now(), src: "cloud", session_id: "S-PLUG", lane_id: "L1", amount: 300, currency: "EUR", pay_url: "https://cloud.example/pay/S-PLUG?t=1" });
    await waitFor(() => r.board.state === "awaiting_payment", 10_000, "awaiting payment");

    // USB cable out: the board loses power and the device node disappears.
    await r.board.close();
    await r.exitPty.close();
    await waitFor(() => !r.gateway.lanes.get("L1")!.snapshot().exit_link, 10_000, "gateway sees the link down");
    // Cable back in: same device path, the board boots again with the car still on the loop.
    const replugged = await openPtyPair("exit", dirname(r.exitPty.a));
    r.exitPty = replugged;
    r.board = await SimulatedExitController.start({ serialPath: replugged.a, clock: new RealClock(), lane: "L1", bootCount: 2, vehiclePresent: true });
    await waitFor(() => r.board.state === "awaiting_payment", 15_000, "payment request shown again after the reset");
    expect(r.board.display.qr).to.equal("https://cloud.example/pay/S-PLUG?t=1");
    await r.publishToSite("paymentSuccess", { ts: Date.now(), src: "cloud", session_id: "S-PLUG", lane_id: "L1", provider_ref: "pi_plug" });
    await waitFor(() => r.barrier.of("OPEN").length === 1, 10_000, "OPEN after payment");
    expect(r.barrier.of("OPEN")[0].fields.session).to.equal("S-PLUG");
  });
});
