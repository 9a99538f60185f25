/**
 * The loop behind the audit chainer and the receipt worker (host/wakeable-loop.ts): wakes during
 * the coalescing delay make one pass, the idle period makes passes without wakes, a failed pass
 * is retried, and stop() waits for the pass under way and tells it to take no more. Conditions are
 * awaited, not timed: only "no second pass" is checked after a pause.
 */
import { expect } from "chai";
import pino from "pino";
import { WakeableLoop } from "../../host/wakeable-loop";
import { silentLogger } from "../../host/log";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Waits for a condition (the test's own timeout bounds it). */
async function until(cond: () => boolean): Promise<void> {
  while (!cond()) await sleep(5);
}

describe("WakeableLoop", () => {
  it("coalesces the wakes of one delay into one pass", async () => {
    let passes = 0;
    const loop = new WakeableLoop({ name: "t", logger: silentLogger, periodMs: 60_000, wakeDelayMs: 40, pass: async () => void passes++ });
    loop.start();
    await until(() => passes === 1); // the first pass runs at start
    for (let i = 0; i < 10; i++) loop.wake();
    await until(() => passes >= 2);
    await sleep(150);
    expect(passes).to.equal(2);
    await loop.stop();
    expect(loop.isRunning).to.equal(false);
  });

  it("passes again after the idle period without any wake", async () => {
    let passes = 0;
    const loop = new WakeableLoop({ name: "t", logger: silentLogger, periodMs: 30, wakeDelayMs: 1000, pass: async () => void passes++ });
    loop.start();
    await until(() => passes >= 3);
    await loop.stop();
  });

  it("logs a failed pass by name and passes again", async () => {
    const lines: string[] = [];
    const logger = pino({ level: "warn" }, { write: (l: string) => void lines.push(l) });
    let n = 0;
    const loop = new WakeableLoop({ name: "flaky pass", logger, periodMs: 30, wakeDelayMs: 5, pass: async () => { if (++n === 1) throw new Error("database away"); } });
    loop.start();
    await until(() => n >= 2);
    await loop.stop();
    expect(lines.join("")).to.contain("flaky pass: pass failed (will retry)").and.contain("database away");
  });

  it("stop() waits for the pass under way and tells it to take no more", async () => {
    let batches = 0;
    let finished = false;
    const loop = new WakeableLoop({
      name: "t",
      logger: silentLogger,
      periodMs: 1000,
      wakeDelayMs: 5,
      pass: async (more) => {
        while (more()) {
          batches++;
          await sleep(20);
        }
        finished = true;
      },
    });
    loop.start();
    await until(() => batches >= 2);
    await loop.stop();
    expect(finished).to.equal(true);
    const after = batches;
    await sleep(60);
    expect(batches).to.equal(after);
  });
});
