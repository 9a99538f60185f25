/**
 * The operators' console driven in headless Chromium as operators, an admin and a viewer would
 * (issue 17 "Must show"), on one cloud on embedded defaults with the site played over MQTT.
 * The scenarios run in order on the same cloud (the car of scenario 2 is the one found, refunded
 * and counted later); each saves its screenshots (phone and wall screen) under reports/console/.
 * Run: npx mocha test/console/console.test.ts
 */
import { adminScenarios } from "./admin-scenarios";
import { startConsoleWorld, type ConsoleWorld } from "./fixture";
import { liveScenarios, type PaidCar } from "./live-scenarios";
import { sessionScenarios } from "./session-scenarios";

describe("the operators' console in a real browser (Chromium, phone and wall screen)", function () {
  this.timeout(60_000);
  let world: ConsoleWorld | undefined;
  let car: PaidCar | undefined;

  before(async function () {
    this.timeout(120_000);
    world = await startConsoleWorld(this);
  });
  after(async () => {
    await world?.close();
  });
  afterEach(function () {
    if (this.currentTest?.state === "failed" && world?.problems.length) console.error("      page problems so far:\n        " + world.problems.join("\n        "));
  });

  const w = () => {
    if (!world) throw new Error("the console world did not start");
    return world;
  };
  liveScenarios(w, (c) => (car = c));
  adminScenarios(w, () => car);
  sessionScenarios(w, () => car);
});
