/** Assertions shared by scenario files (not a scenario file: the runner loads *.scenario.ts only). */
import { expect } from "chai";
import { findAuditEntries } from "../../cloud/db/index";
import type { LaneSet } from "../harness/env";

/** Barrier up, car through, boom down, session closed: the common tail of every paid exit. */
export async function assertExitCompletes(h: LaneSet, lane: string, sessionId: string): Promise<void> {
  const l = h.lane(lane);
  // Read from the recorded streams, not the current state: at --speed 10 the boom can be up and
  // down again while the harness is still busy (a payment page round trip) — no race.
  const open = await l.barrierDut.expect(/^rx \d+ OPEN\b/, 10_000);
  await l.barrierDut.expect(/^tx \d+ BARRIER state="open"/, 15_000, l.barrierDut.lines.indexOf(open));
  const plant = () => l.field.observe();
  if (plant()) await h.waitUntil(() => h.timeline.lanes[lane].some((s) => s.barrierPct >= 95), 5000, "the boom at the top (plant)");
  await h.vehiclePasses(lane, 15_000);
  await h.waitBarrier(lane, "closed", 20_000);
  const down = plant();
  if (down) expect(down.boomPct, "the boom is down (plant)").to.be.at.most(3);
  await h.waitUntil(() => h.seen("exit/done", lane).some((m) => m.session_id === sessionId), 10_000, "parking/exit/done");
  const done = h.seen("exit/done", lane).find((m) => m.session_id === sessionId)!;
  expect(done.barrier_result).to.equal("opened");
  await h.waitUntil(async () => (await h.sessionStatus(sessionId)) === "closed", 10_000, `session ${sessionId} closed in the cloud`);
  expect(await h.auditKinds(sessionId), "the closing is in the cloud's audit").to.include("session.closed");
  expect(h.timeline.lanes[lane].some((s) => s.motorUp), "the motor drove the boom up").to.equal(true);
}

/**
 * The cloud's parking/payment/success for this vehicle's own session. Not simply the first one
 * seen on the lane: a gateway that starts sends parking/sync/req, and the cloud says again the
 * successes of the site's paid sessions not yet closed — an earlier scenario's car among them.
 */
export async function successFor(h: LaneSet, lane: string, identity: string, timeoutMs = 10_000): Promise<Record<string, unknown>> {
  let found: Record<string, unknown> | undefined;
  await h.waitUntil(async () => {
    const session = await h.sessionOf(identity);
    found = h.seen("payment/success", lane).find((m) => m.session_id === session);
    return found !== undefined;
  }, timeoutMs, `parking/payment/success for ${identity} on ${lane}`);
  return found!;
}

/** The cloud's audit rows (chained, or still queued for chaining) about these site events. */
export async function auditedEvents(h: LaneSet, eventIds: string[]): Promise<{ kind: string; event_id: string }[]> {
  return (await findAuditEntries(h.cloud.db.sql, { eventIds })).map((r) => ({ kind: r.kind, event_id: String(r.eventId) }));
}

/** The lane raised `code` on parking/sensor_gate/error, and the cloud audited that very event. */
export async function assertAlarmAudited(h: LaneSet, lane: string, code: string): Promise<void> {
  const alarms = () => h.seen("sensor_gate/error", lane).filter((m) => m.code === code).map((m) => String(m.event_id));
  await h.waitUntil(() => alarms().length > 0, 10_000, `parking/sensor_gate/error ${code} on ${lane}`);
  await h.waitUntil(async () => (await auditedEvents(h, alarms())).some((r) => r.kind === "alarm.sensor_gate"), 10_000, `the ${code} alarm in the cloud's audit`);
}
