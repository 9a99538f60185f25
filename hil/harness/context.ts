/**
 * What a scenario file sees: `scenario(title, needs, body)` registers a mocha test that gets a
 * fresh LaneSet (gateway + boards of the lanes it names, on the run's target) and records its
 * timeline and DUT logs for the reports. The runner sets the run context before loading files.
 */
import { join } from "node:path";
import type { Logger } from "pino";
import type { Rig } from "../rig/schema";
import { LaneSet, type HilCloud, type Target } from "./env";
import type { TimelineData } from "./timeline";

export interface ScenarioNeeds {
  lanes: string[];
  /** Needs the harness's barrier plant (fault injection into the mechanics, the boom observed): runs
   *  on sim and xs, where the plant is the harness's; skipped on a rig, whose mechanics are real. */
  needsPlant?: boolean;
  /** Which of `lanes` are entry lanes: the lane controller in its entry role (sim only; skipped on xs and rig). */
  entryLanes?: string[];
  /** Gateway offline threshold for this scenario (s). */
  offlineAfterS?: number;
  timeoutMs?: number;
}

export interface ScenarioRecord {
  fullTitle: string;
  timeline?: TimelineData;
  logs: { name: string; path: string }[];
  /** Lane time the scenario covered, ms (the simulated time on `sim`). */
  laneTimeMs: number;
}

export interface RunContext {
  target: Target;
  rig?: Rig;
  reportDir: string;
  cloud: () => Promise<HilCloud>;
  logger?: Logger;
  links?: "auto" | "pty" | "memory";
  records: Map<string, ScenarioRecord>;
  /** Lane time is wall time (xs, rig, sim --clock wall). */
  wallClock?: boolean;
}

let current: RunContext | undefined;
/** On a wall clock, scenarios get this many times their (virtual-clock) timeout. */
export const WALL_CLOCK_TIMEOUT_FACTOR = 5;

export function setRunContext(ctx: RunContext | undefined): void { current = ctx; }
export function runContext(): RunContext {
  if (!current) throw new Error("HIL scenarios run under `syspark hil run` (no run context set)");
  return current;
}

const slug = (s: string) => s.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "").slice(0, 60);

export function scenario(title: string, needs: ScenarioNeeds, body: (h: LaneSet) => Promise<void>): void {
  it(title, async function () {
    const ctx = runContext();
    // Under the virtual site clock lane time is nearly free and the timeout bounds wall time; on a
    // wall clock (xs, rig, sim --clock wall) the scenario lives its whole lane time (a driver
    // takes 45 s to pay): the bound grows by WALL_CLOCK_TIMEOUT_FACTOR.
    this.timeout((needs.timeoutMs ?? 60_000) * (ctx.wallClock ? WALL_CLOCK_TIMEOUT_FACTOR : 1));
    if (needs.needsPlant && ctx.target === "rig") this.skip();
    if (needs.entryLanes?.length && ctx.target !== "sim") this.skip();
    const fullTitle = this.test!.fullTitle();
    const dir = join(ctx.reportDir, slug(fullTitle));
    const record: ScenarioRecord = { fullTitle, logs: [], laneTimeMs: 0 };
    ctx.records.set(fullTitle, record);
    const cloud = await ctx.cloud();
    const set = await LaneSet.start(cloud, { target: ctx.target, lanes: needs.lanes, dir, ...(ctx.rig ? { rig: ctx.rig } : {}), ...(ctx.logger ? { logger: ctx.logger } : {}), ...(ctx.links ? { links: ctx.links } : {}), ...(needs.offlineAfterS ? { offlineAfterS: needs.offlineAfterS } : {}), ...(needs.entryLanes ? { entryLanes: needs.entryLanes } : {}) });
    try {
      await body(set);
    } finally {
      record.laneTimeMs = set.laneTimeMs;
      record.timeline = set.timeline.data();
      for (const lane of set.lanes.values()) record.logs.push({ name: lane.exitDut.name, path: lane.exitDut.logPath }, { name: lane.barrierDut.name, path: lane.barrierDut.logPath });
      await set.close();
      record.logs.push(...set.vcdFiles);
    }
  });
}
