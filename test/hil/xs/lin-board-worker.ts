/**
 * A board on its lin provider in a thread of its own — as on XS, where the board (mcsim) and the
 * harness are separate processes. The barrier's SPI reads wait (busy) for the harness's SYNC after
 * a write; in the test's thread the harness could never answer.
 */
import { parentPort, workerData } from "node:worker_threads";
import { startBarrierExecutor, type BarrierDevice } from "../../../firmware/barrier-executor/board";
import { createLinDevice } from "../../../firmware/common/io/lin-field";
import { RealClock } from "../../../sim/boards/virtual-clock";
import { nodeLinSerialClass } from "./node-lin-serial";

const { config } = workerData as { config: Record<string, unknown> };
const opened = new Set<{ close(): void }>();
const device = createLinDevice({ Serial: nodeLinSerialClass(opened), board: "barrier-executor", config, trace: (text) => parentPort?.postMessage({ trace: text }) });
const board = startBarrierExecutor({ device: device as unknown as BarrierDevice, config, clock: new RealClock(), bootCount: 1 });
parentPort?.postMessage({ identified: board.executor.coreIdentity?.compatible === true });
parentPort?.on("message", (m: string) => {
  if (m !== "close") return;
  board.close();
  for (const s of [...opened]) s.close();
  parentPort?.close();
});
