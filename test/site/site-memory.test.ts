/**
 * The whole site without socat: the simulated boards reach the gateway through in-memory
 * cables, and a car still gets its payment request on the display.
 */
import { expect } from "chai";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startSite, type Site } from "../../sim/site/site";

async function until(pred: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe("the whole site on in-memory board links (no socat)", function () {
  this.timeout(90_000);
  let site: Site | undefined;
  let dir: string;
  after(async () => { await site?.close(); if (dir) rmSync(dir, { recursive: true, force: true }); });

  it("prices a car at the exit and shows the payment request", async () => {
    dir = mkdtempSync(join(tmpdir(), "syspark-site-mem-"));
    site = await startSite({ lanes: 1, dataDir: dir, memoryDb: true, cloudPort: 0, cloudMqttPort: 0, siteBrokerPort: 0, links: "memory" });
    expect(site.links).to.equal("memory");
    const snapshot = () => site!.gateway.lanes.get("L1")!.snapshot();
    await until(() => snapshot().exit_link && snapshot().barrier_link && snapshot().cloud_online, 20_000, "lane links and cloud up");
    const lane = site.lanes.get("L1")!;
    await site.carArrives("L1", 125);
    await until(() => lane.exit.state === "awaiting_payment", 20_000, "payment request on the display");
    expect(lane.exit.display.lines[1]).to.match(/^\d+,\d\d EUR 2h05$/);
    expect(lane.exit.display.qr).to.match(/\/pay\/[^?]+\?t=/);
    expect(lane.barrier.barrierState).to.equal("closed");
  });
});
