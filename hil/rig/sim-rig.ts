/**
 * A rig made of simulated boards: for each lane an exit controller and a barrier executor (the
 * real firmware, with the plant) on one end of socat pty pairs, the I/O emulator protocol on
 * another pty, and a power switch made of files (`on` / `off` written by the rig file's shell
 * commands). It writes a rig file naming the other ends, so `syspark hil run --target rig` runs
 * against it exactly as against real boards on /dev/ttyUSB*.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { openPtyPair, type PtyPair } from "../../host/link/pty";
import { SimulatedBarrierExecutor } from "../../sim/boards/barrier-executor-sim";
import { SimulatedExitController } from "../../sim/boards/exit-controller-sim";
import { RealClock } from "../../sim/boards/virtual-clock";
import { serveIoEmulator } from "./io-emulator";
import { parseRig, type Rig } from "./schema";

export interface SimRig {
  rig: Rig;
  rigPath: string;
  lanes: Map<string, { exit: SimulatedExitController; barrier: SimulatedBarrierExecutor }>;
  close(): Promise<void>;
}

export async function startSimRig(dirIn: string, laneIds: string[] = ["L1"]): Promise<SimRig> {
  const dir = resolve(dirIn);
  mkdirSync(join(dir, "tty"), { recursive: true });
  const closers: (() => Promise<unknown>)[] = [];
  const clock = new RealClock();
  const lanes = new Map<string, { exit: SimulatedExitController; barrier: SimulatedBarrierExecutor }>();
  const boards: unknown[] = [];
  const power = new Map<string, { file: string; cycle: () => void; last: string }>();
  try {
    for (const id of laneIds) {
      const pairs: Record<string, PtyPair> = {};
      for (const b of ["exit", "barrier"] as const) {
        pairs[b] = await openPtyPair(`${id}-${b}`, join(dir, "tty"));
        closers.push(() => pairs[b].close());
      }
      const exit = await SimulatedExitController.start({ serialPath: pairs.exit.a, clock, lane: id });
      const barrier = await SimulatedBarrierExecutor.start({ serialPath: pairs.barrier.a, clock, lane: id });
      closers.push(() => exit.close(), () => barrier.close());
      lanes.set(id, { exit, barrier });
      for (const [b, kind, board] of [["exit", "exit-controller", exit], ["barrier", "barrier-executor", barrier]] as const) {
        const file = join(dir, `power-${id}-${b}`);
        writeFileSync(file, "on\n");
        power.set(`${id}/${b}`, { file, cycle: () => board.powerCycle(), last: "on" });
        boards.push({ name: `${id}-${b}`, kind, lane: id, port: pairs[b].b, baud: 115200, reset: { method: "power", off: `echo off > '${file}'`, on: `echo on > '${file}'`, off_ms: 200 } });
      }
    }
    const io = await openPtyPair("io-emulator", join(dir, "tty"));
    closers.push(() => io.close());
    const server = await serveIoEmulator(io.a, lanes);
    closers.push(() => server.close());
    // The power switch: a board boots again when its supply comes back on.
    const poll = setInterval(() => {
      for (const p of power.values()) {
        const now = existsSync(p.file) ? readFileSync(p.file, "utf8").trim() : "off";
        if (now === "on" && p.last === "off") p.cycle();
        p.last = now;
      }
    }, 50);
    closers.push(async () => clearInterval(poll));
    const rig = parseRig({ name: `simulated rig (${laneIds.join(", ")})`, boards, io_emulator: { type: "serial", port: io.b } }, "simulated rig");
    const rigPath = join(dir, "rig.json");
    writeFileSync(rigPath, JSON.stringify(rig, null, 2) + "\n");
    return { rig, rigPath, lanes, close: async () => { for (const c of closers.reverse()) await c().catch(() => {}); } };
  } catch (err) {
    for (const c of closers.reverse()) await c().catch(() => {});
    throw err;
  }
}
