/**
 * Gateway restarts with the boards running (issue 13 item 3): the real runtime, the real exit
 * controller and barrier executor firmware on socat ptys, Mosquitto as the cloud broker. Each
 * start announces a higher boot number (persisted in the data directory), so the boards take
 * every new gateway's HELLO as a restart and re-announce their presence, state and barrier —
 * with a fixed boot number a board took the HELLO for a repeat of the last one and only ACKed.
 */
import { expect } from "chai";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { BOOT_COUNT_FILE } from "../../gateway/boot-count";
import { startGateway, type Gateway } from "../../gateway/runtime";
import { SimulatedBarrierExecutor } from "../../sim/boards/barrier-executor-sim";
import { SimulatedExitController } from "../../sim/boards/exit-controller-sim";
import { RealClock } from "../../sim/boards/virtual-clock";
import { openOneLaneSite, type OneLaneSite } from "./one-lane-site";
import { requireToolOrSkip } from "../../host/tools";
import { requireMosquittoOrSkip, waitFor } from "../gateway/helpers";

describe("gateway restarts: the boards re-announce themselves to every new gateway", function () {
  this.timeout(90_000);
  const clock = new RealClock();
  let lane: OneLaneSite | undefined;
  let gateway: Gateway | undefined;
  let exit: SimulatedExitController | undefined;
  let barrier: SimulatedBarrierExecutor | undefined;

  afterEach(async () => {
    try {
      await gateway?.close(false);
      await exit?.close();
      await barrier?.close();
    } finally {
      await lane?.close(); // even when a close above fails
      gateway = exit = barrier = lane = undefined;
    }
  });

  it("announces boot 1, 2, 3, 4 across three kills, and each time gets presence, state and barrier back", async function () {
    requireToolOrSkip(this, "socat");
    await requireMosquittoOrSkip(this);
    lane = await openOneLaneSite("restart");
    const { exitPty, barrierPty, config, dataDir } = lane;
    // The boards are up before the gateway, as on a site whose gateway restarts; a car waits on the loop.
    exit = await SimulatedExitController.start({ serialPath: exitPty.a, clock, lane: "L1", vehiclePresent: true });
    barrier = await SimulatedBarrierExecutor.start({ serialPath: barrierPty.a, clock, lane: "L1" });

    for (let start = 1; start <= 4; start++) {
      // What this gateway instance hears from each board (a fresh process knows nothing else).
      const rx: Record<"exit" | "barrier", string[]> = { exit: [], barrier: [] };
      const hellos: string[] = [];
      gateway = await startGateway(config, {
        siteBrokerPort: 0, env: { SYSPARK_ACL_HMAC_KEY: "k".repeat(32) },
        onLine: (_lane, board, direction, line) => {
          if (direction === "rx") rx[board].push(line);
          else if (/^\d+ HELLO /.test(line)) hellos.push(line);
        },
      });
      expect(gateway.boot, `start ${start}: boot number`).to.equal(start);
      expect(readFileSync(join(dataDir, BOOT_COUNT_FILE), "utf8").trim(), "persisted before it is announced").to.equal(String(start));
      const heard = (board: "exit" | "barrier", type: string) => rx[board].some((l) => new RegExp(`^\\d+ ${type}\\b`).test(l));
      // This gateway knows the car on the loop and the closed barrier only from the boards' re-announcement.
      const lane = () => gateway!.lanes.get("L1")!.snapshot();
      await waitFor(() => heard("exit", "PRESENCE") && heard("exit", "STATE") && heard("barrier", "BARRIER") && lane().present && lane().barrier_state === "closed", 10_000,
        `start ${start}: PRESENCE and STATE from the exit controller and BARRIER from the executor (exit sent: ${rx.exit.join(" | ")}; barrier sent: ${rx.barrier.join(" | ")})`);
      expect(hellos[0], `start ${start}: the HELLO carries the boot number`).to.match(new RegExp(`boot="?${start}"?`));
      // Killed: no graceful offline, nothing flushed on purpose (the boards keep running).
      await gateway.close(false);
      gateway = undefined;
    }
    expect(existsSync(join(dataDir, `${BOOT_COUNT_FILE}.tmp`)), "no temporary file left").to.equal(false);
  });
});
