/**
 * Child process of the gateway latency bench: hosts the simulated exit controllers (real
 * firmware) and the barrier-executor stand-ins, as real boards are separate MCUs, so the
 * gateway process measured by the bench does not also carry sixteen simulated devices.
 * Commands arrive over IPC; OPEN frames are reported with an absolute high-resolution time.
 */
import type { BoardClock } from "../firmware/common/io/board-host";
import { SerialPeer } from "../hil/harness/serial-peer";
import { LinkTicker } from "../host/link/ticker";
import { SimulatedExitController } from "../sim/boards/exit-controller-sim";
import { RealClock } from "../sim/boards/virtual-clock";

interface LaneSpec { id: string; exitPath: string; barrierPath: string }
type Command = { cmd: "arrive" | "badge" | "leave" | "closed"; lane: string } | { cmd: "answer"; lane: string; open: string } | { cmd: "stop" };

const precise: BoardClock = {
  now: () => performance.now(),
  schedule: (cb, ms) => { const t = setTimeout(cb, ms); t.unref(); return t; },
  cancel: (t) => clearTimeout(t as NodeJS.Timeout),
};
const absolute = (t: number) => performance.timeOrigin + t;

const specs = JSON.parse(process.argv[2]) as LaneSpec[];
// Sixteen boards share two cores with the gateway being measured, where real ones are separate
// MCUs: nothing here runs unless something happened. The barrier stand-ins report OPEN as it
// is read and their link clocks run on one timer each at the session's next deadline; the exit
// controllers' states are sampled every 2 ms (they only pace the bench, never enter a figure).
const lanes = new Map<string, { board: SimulatedExitController; barrier: SerialPeer; ticker: LinkTicker; state: string }>();
for (const s of specs) {
  const link: { ticker?: LinkTicker } = {};
  const barrier = await SerialPeer.open({
    path: s.barrierPath, clock: precise, self: { kind: "barrier-executor", fw: "bench", boot: 1, lane: s.id }, receives: "down",
    onMessage: (m) => {
      if (m.type === "OPEN") process.send!({ type: "open", lane: s.id, session: m.fields.session, cmd: m.fields.cmd, at: absolute(m.at) });
      link.ticker?.schedule();
    },
  });
  const ticker = (link.ticker = new LinkTicker(barrier.session, precise.now));
  ticker.schedule();
  const board = await SimulatedExitController.start({ serialPath: s.exitPath, clock: new RealClock(), lane: s.id, config: { presenceDebounceMs: 10, doneDisplayMs: 100, deniedDisplayMs: 100 } });
  lanes.set(s.id, { board, barrier, ticker, state: "" });
}
const tick = setInterval(() => {
  for (const [id, l] of lanes) {
    if (l.board.state !== l.state) {
      l.state = l.board.state;
      process.send!({ type: "state", lane: id, state: l.state });
    }
  }
}, 2);
// The bench process is gone (ended or killed) when the IPC channel closes: so are these boards.
process.once("disconnect", () => process.exit(0));
process.on("message", async (m: Command) => {
  if (m.cmd === "stop") {
    clearInterval(tick);
    for (const l of lanes.values()) { l.ticker.stop(); await l.board.close(); await l.barrier.close(); }
    process.exit(0);
  }
  const l = lanes.get(m.lane)!;
  if (m.cmd === "arrive") l.board.vehicleArrives();
  else if (m.cmd === "badge") l.board.presentBadge("04A21F9C3B");
  else if (m.cmd === "leave") l.board.vehicleLeaves();
  else if (m.cmd === "closed") l.barrier.send("BARRIER", { state: "closed", pos: "0" });
  else if (m.cmd === "answer") { l.barrier.send("CMD_DONE", { cmd: m.open, result: "ok" }); l.barrier.send("BARRIER", { state: "open", pos: "100" }); }
  l.ticker.schedule();
});
process.send!({ type: "ready" });
