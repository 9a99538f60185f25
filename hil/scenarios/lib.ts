/** Assertions shared by scenario files (not a scenario file: the runner loads *.scenario.ts only). */
import { expect } from "chai";
import type { LaneSet } from "../harness/env";

/** Barrier up, car through, boom down, session closed: the common tail of every paid exit. */
export async function assertExitCompletes(h: LaneSet, lane: string, sessionId: string): Promise<void> {
  const l = h.lane(lane);
  // Read from the recorded streams, not the current state: at --speed 10 the boom can be up and
  // down again while the harness is still busy (a payment page round trip) — no race.
  const open = await l.barrierDut.expect(/^rx \d+ OPEN\b/, 10_000);
  await l.barrierDut.expect(/^tx \d+ BARRIER state="open"/, 15_000, l.barrierDut.lines.indexOf(open));
  if (l.sim) await h.waitUntil(() => h.timeline.lanes[lane].some((s) => s.barrierPct >= 95), 5000, "the boom at the top (plant)");
  await h.vehiclePasses(lane, 15_000);
  await h.waitBarrier(lane, "closed", 20_000);
  if (l.sim) expect(l.sim.barrier.boomPct, "the boom is down (plant)").to.be.at.most(3);
  await h.waitUntil(() => h.seen("exit/done", lane).some((m) => m.session_id === sessionId), 10_000, "parking/exit/done");
  const done = h.seen("exit/done", lane).find((m) => m.session_id === sessionId)!;
  expect(done.barrier_result).to.equal("opened");
  await h.waitUntil(async () => (await h.sessionStatus(sessionId)) === "closed", 10_000, `session ${sessionId} closed in the cloud`);
  expect(h.timeline.lanes[lane].some((s) => s.motorUp), "the motor drove the boom up").to.equal(true);
}

