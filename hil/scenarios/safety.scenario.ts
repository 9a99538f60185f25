/** Safety and field faults: the safety core and the executor, seen through the whole lane. */
import { expect } from "chai";
import { scenario } from "../harness/context";
import { assertAlarmAudited, assertExitCompletes, successFor } from "./lib";

describe("safety", () => {
  scenario("obstruction while closing reverses the boom", { lanes: ["L1"], needsPlant: true }, async (h) => {
    await h.vehicleArrives("L1", { minutesAgo: 2 });
    await h.vehiclePasses("L1", 20_000);
    await h.waitBarrier("L1", "closing", 15_000);
    const plant = () => h.lane("L1").field.observe()!;
    await h.waitUntil(() => plant().boomPct < 70, 5000, "the boom to come down");
    h.obstruct("L1", true);
    await h.waitUntil(() => plant().motorUp, 3000, "the motor to reverse (up)");
    expect(plant().motorDown, "never both directions").to.equal(false);
    await h.waitUntil(() => plant().boomPct >= 95, 8000, "the boom back up");
    await h.sleep(5000); // the pedestrian moves on
    expect(plant().motorDown, "never closes onto the obstruction").to.equal(false);
    h.obstruct("L1", false);
    await h.waitBarrier("L1", "closed", 20_000);
    await assertAlarmAudited(h, "L1", "OBSTRUCTION");
    expect(h.timeline.lanes.L1.some((s) => s.motorDown) && h.timeline.lanes.L1.filter((s) => s.motorUp).length > 0).to.equal(true);
  });

  scenario("emergency input gives a free exit", { lanes: ["L1"], needsPlant: true }, async (h) => {
    await h.vehicleArrives("L1", { minutesAgo: 120 });
    await h.waitPhase("L1", "awaiting_payment");
    h.emergency("L1", true);
    const plant = () => h.lane("L1").field.observe()!;
    await h.waitUntil(() => plant().boomPct >= 95, 10_000, "the boom up on emergency");
    await h.waitUntil(() => h.seen("sensor_gate/error", "L1").length > 0 || h.snapshot("L1").barrier_state !== "closed", 5000, "the emergency reported");
    // An evacuation lasts: the boom stays up the whole time.
    for (let i = 0; i < 6; i++) {
      await h.sleep(10_000);
      expect(plant().boomPct, `the boom still up after ${(i + 1) * 10} s`).to.be.at.least(95);
    }
    h.emergency("L1", false);
    await assertAlarmAudited(h, "L1", "EMERGENCY");
  });

  scenario("motor stall: fault, then operator reset", { lanes: ["L1"], needsPlant: true }, async (h) => {
    h.jam("L1", true);
    await h.vehicleArrives("L1", { minutesAgo: 2 });
    await h.waitUntil(() => h.snapshot("L1").barrier_state === "fault" || h.phase("L1") === "fault", 15_000, "the executor fault");
    const plant = () => h.lane("L1").field.observe()!;
    expect(plant().motorUp || plant().motorDown, "motor off in fault").to.equal(false);
    await h.waitUntil(() => h.seen("sensor_gate/error", "L1").length > 0, 5000, "parking/sensor_gate/error");
    expect(h.timeline.lanes.L1.some((s) => s.fault)).to.equal(true);
    // Automatic commands stay blocked until an operator resets, once the cause is gone.
    h.jam("L1", false);
    await h.operatorOverride("L1", "reset", "jam cleared by the technician");
    await h.waitUntil(() => plant().coreState !== "FAULT" && h.snapshot("L1").barrier_state !== "fault", 15_000, "the fault cleared by the reset");
    expect(h.seen("barriere/cmd", "L1").map((c) => c.cmd)).to.include("reset");
    await assertAlarmAudited(h, "L1", "OVER_CURRENT");
  });

  scenario("heartbeat loss puts the core in its safe state", { lanes: ["L1"], needsPlant: true }, async (h) => {
    const plant = () => h.lane("L1").field.observe()!;
    h.freezeHeartbeat("L1", true);
    await h.waitUntil(() => plant().coreState === "SAFE", 10_000, "core SAFE");
    // The hung task stays hung for half a minute: the core holds its safe state throughout.
    for (let i = 0; i < 6; i++) {
      await h.sleep(5000);
      expect(plant().coreState, `SAFE after ${(i + 1) * 5} s more`).to.equal("SAFE");
      expect(plant().motorUp || plant().motorDown).to.equal(false);
    }
    h.freezeHeartbeat("L1", false);
    await assertAlarmAudited(h, "L1", "HEARTBEAT");
  });

  scenario("serial noise and corrupted frames are dropped, the exit still works", { lanes: ["L1"] }, async (h) => {
    h.serialNoise("L1", "exit");
    h.serialNoise("L1", "barrier");
    const plate = await h.vehicleArrives("L1", { minutesAgo: 2 });
    const ok = await successFor(h, "L1", plate);
    await assertExitCompletes(h, "L1", String(ok.session_id));
    expect(h.lane("L1").exitDut.garbage.length, "the noise is in the DUT log").to.be.at.least(3);
  });

  scenario("two lanes at once", { lanes: ["L1", "L2"] }, async (h) => {
    const plates = await Promise.all([h.vehicleArrives("L1", { minutesAgo: 2 }), h.vehicleArrives("L2", { minutesAgo: 3 })]);
    const successes = await Promise.all([successFor(h, "L1", plates[0], 15_000), successFor(h, "L2", plates[1], 15_000)]);
    await Promise.all(["L1", "L2"].map((l, i) => assertExitCompletes(h, l, String(successes[i].session_id))));
  });
});
