/**
 * Child process of the gateway latency bench: hosts the simulated exit controllers (real
 * firmware) and the barrier-executor stand-ins, as real boards are separate MCUs, so the
 * gateway process measured by the bench does not also carry sixteen simulated devices.
 * Commands arrive over IPC; OPEN frames are reported with an absolute high-resolution time.
 */
import type { BoardClock } from "../firmware/common/io/board-host";
import { SerialPeer } from "../hil/harness/serial-peer";
import { SimulatedExitController } from "../hil/sim/exit-controller-sim";
import { RealClock } from "../hil/sim/virtual-clock";

interface LaneSpec { id: string; exitPath: string; barrierPath: string }
type Command = { cmd: "arrive" | "badge" | "leave" | "closed"; lane: string } | { cmd: "answer"; lane: string; open: string } | { cmd: "stop" };

const precise: BoardClock = {
  now: () => performance.now(),
  schedule: (cb, ms) => { const t = setTimeout(cb, ms); t.unref(); return t; },
  cancel: (t) => clearTimeout(t as NodeJS.Timeout),
};
const absolute = (t: number) => performance.timeOrigin + t;

const specs = JSON.parse(process.argv[2]) as LaneSpec[];
const lanes = new Map<string, { board: SimulatedExitController; barrier: SerialPeer; state: string; seen: number }>();
for (const s of specs) {
  const barrier = await SerialPeer.open({ path: s.barrierPath, clock: precise, self: { kind: "barrier-executor", fw: "bench", boot: 1, lane: s.id }, receives: "down" });
  const board = await SimulatedExitController.start({ serialPath: s.exitPath, clock: new RealClock(), lane: s.id, config: { presenceDebounceMs: 10, doneDisplayMs: 100, deniedDisplayMs: 100 } });
  lanes.set(s.id, { board, barrier, state: "", seen: 0 });
}
const tick = setInterval(() => {
  for (const [id, l] of lanes) {
    l.barrier.tick();
    if (l.board.state !== l.state) {
      l.state = l.board.state;
      process.send!({ type: "state", lane: id, state: l.state });
    }
    // Only the messages that arrived since the last turn (no copy of the whole list every ms).
    for (; l.seen < l.barrier.messages.length; l.seen++) {
      const m = l.barrier.messages[l.seen];
      if (m.type === "OPEN") process.send!({ type: "open", lane: id, session: m.fields.session, cmd: m.fields.cmd, at: absolute(m.at) });
    }
  }
}, 1);
process.on("message", async (m: Command) => {
  if (m.cmd === "stop") {
    clearInterval(tick);
    for (const l of lanes.values()) { await l.board.close(); await l.barrier.close(); }
    process.exit(0);
  }
  const l = lanes.get(m.lane)!;
  if (m.cmd === "arrive") l.board.vehicleArrives();
  else if (m.cmd === "badge") l.board.presentBadge("04A21F9C3B");
  else if (m.cmd === "leave") l.board.vehicleLeaves();
  else if (m.cmd === "closed") l.barrier.send("BARRIER", { state: "closed", pos: "0" });
  else if (m.cmd === "answer") { l.barrier.send("CMD_DONE", { cmd: m.open, result: "ok" }); l.barrier.send("BARRIER", { state: "open", pos: "100" }); }
});
process.send!({ type: "ready" });
