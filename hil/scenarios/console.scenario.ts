/**
 * The operators' console (issue 17) follows the lane: at each step of a paid exit the operator's
 * view of the lane — read through the console's JSON API, logged in like an operator
 * (hil/harness/console-view.ts) — shows what the lane itself reports (the gateway's lane
 * snapshot, made of the boards' frames): exit state, barrier state, vehicle presence, fault.
 * "Eventually, within a bound": the lane state travels lane → gateway → cloud broker → cloud
 * consumer → database; the console must catch up while the lane is still in that step.
 */
import { expect } from "chai";
import { DEMO_SITE } from "../../cloud/server/index";
import type { LaneSnapshot } from "../../gateway/lane/lane-types";
import { ConsoleClient, laneDifferences } from "../harness/console-view";
import { scenario } from "../harness/context";
import type { LaneSet } from "../harness/env";
import { assertExitCompletes } from "./lib";

/** How long (lane time) the console may lag the lane at a step. */
const CONSOLE_LAG_MS = 5000;

/**
 * Waits until the console shows lane `laneId` as the lane reports it, the lane being in the
 * step's state all along (`inStep`): agreeing only after the lane moved on is not agreeing.
 */
async function consoleShows(h: LaneSet, console: ConsoleClient, laneId: string, step: string, inStep: (s: LaneSnapshot) => boolean): Promise<void> {
  h.step(`console: ${step}`, laneId);
  let diff: string[] = [];
  let left: LaneSnapshot | undefined;
  try {
    await h.waitUntil(async () => {
      const view = await console.lane(DEMO_SITE.siteId, laneId);
      const lane = h.snapshot(laneId); // after the request: the console answered about this lane or an earlier one
      if (!inStep(lane)) {
        left = lane;
        return true;
      }
      diff = laneDifferences(view, lane);
      return diff.length === 0;
    }, CONSOLE_LAG_MS, `the console to show lane ${laneId} ${step}`);
  } catch (err) {
    throw new Error(`${(err as Error).message}: ${diff.join("; ")}`, { cause: err });
  }
  if (left) throw new Error(`lane ${laneId} left "${step}" (now ${left.phase}, barrier ${left.barrier_state}) before the console showed it: ${diff.join("; ")}`);
}

describe("operators' console", () => {
  scenario("the console shows the lane as it is through a paid exit", { lanes: ["L1"] }, async (h) => {
    const console = await ConsoleClient.login(h.cloud);
    const idle = (s: LaneSnapshot) => s.phase === "idle" && !s.present && s.barrier_state === "closed" && !s.fault;
    await h.waitUntil(() => idle(h.snapshot("L1")), 10_000, "lane L1 idle, barrier closed");
    await consoleShows(h, console, "L1", "idle, barrier closed, no car", idle);
    await h.waitUntil(async () => (await console.site(DEMO_SITE.siteId)).gateway?.status === "online", CONSOLE_LAG_MS, "the console to show the gateway online");

    await h.vehicleArrives("L1", { minutesAgo: 45 });
    await h.waitPhase("L1", "awaiting_payment");
    const req = await h.paymentRequest("L1");
    const awaiting = (s: LaneSnapshot) => s.phase === "awaiting_payment" && s.present && s.barrier_state === "closed";
    await consoleShows(h, console, "L1", "a car on the loop, awaiting payment", awaiting);

    const paid = await h.payWithCard("L1");
    expect(paid.ok, `payment page: ${paid.status}`).to.equal(true);
    await h.waitBarrier("L1", "open", 20_000);
    await consoleShows(h, console, "L1", "barrier open", (s) => s.barrier_state === "open");

    await assertExitCompletes(h, "L1", String(req.session_id));
    await h.waitPhase("L1", "idle", 10_000);
    await consoleShows(h, console, "L1", "the car gone, barrier closed", idle);
    const site = await console.site(DEMO_SITE.siteId);
    expect(site.alarms.filter((a) => a.laneName === "L1"), "no alarm on the console for a clean exit").to.deep.equal([]);
  });
});
