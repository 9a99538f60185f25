/**
 * The lanes' resources on each target: the board links the gateway and the boards talk over (socat
 * pty pairs or in-memory cables and the simulated boards on `sim`, the firmware on XS in the
 * Moddable simulator on `xs`, the rig file's serial ports and I/O emulator on `rig`), each tapped
 * into its board's DUT log, and each lane's field (what the harness drives and reads of it).
 */
import { exec } from "node:child_process";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import type { ByteStream } from "../../host/link/byte-stream";
import { openPtyPair } from "../../host/link/pty";
import { memoryCable, openSerialStream } from "../../host/link/streams";
import { which } from "../../host/tools";
import { SimulatedBarrierExecutor } from "../../sim/boards/barrier-executor-sim";
import { SimulatedExitController } from "../../sim/boards/exit-controller-sim";
import { SimulatedEntryTerminal } from "../../sim/boards/entry-terminal-sim";
import type { SimulatedSafetyCore } from "../../sim/plant/barrier-core";
import type { BoardClock } from "../../firmware/common/io/board-host";
import type { Rig, RigBoard } from "../rig/schema";
import type { Dut, TappedTransport } from "./dut";
import { infra, InfrastructureError } from "./errors";
import type { LaneField } from "./lane-field";
import type { Lane, LaneSetOptions } from "./lane-types";
import { currentSiteClock } from "./site-clock";

type Board = "exit" | "barrier";
type Closers = (() => Promise<unknown>)[];

/** A lane's two DUT logs and, once opened, the board side of its two links. */
export interface LaneDuts { exit: Dut; barrier: Dut; exitLink?: TappedTransport; barrierLink?: TappedTransport }

export interface LinkContext {
  options: LaneSetOptions;
  duts: Map<string, LaneDuts>;
  /** What closes the resources, run in reverse at the lane set's close. */
  closers: Closers;
  /** Filled with the gateway's end of each board link, by `lane/board`. */
  gatewayTransports: Map<string, ByteStream>;
}

export interface LaneLinks {
  links: "pty" | "memory" | "rig" | "xs";
  /** Each lane's field, where the target has it before the gateway starts (xs, rig). */
  fields: Map<string, LaneField>;
  /** XS boards start once the gateway holds their links. */
  xsStarts: (() => Promise<void>)[];
}

/** Open every lane's board links (and on xs and rig, their fields) on the options' target. */
export async function openLaneLinks(ctx: LinkContext): Promise<LaneLinks> {
  if (ctx.options.target === "sim") return openSimLinks(ctx);
  if (ctx.options.target === "xs") return openXsLanes(ctx);
  return openRigLanes(ctx);
}

async function openSimLinks(ctx: LinkContext): Promise<LaneLinks> {
  const o = ctx.options;
  const usePty = o.links === "pty" || (o.links !== "memory" && which("socat") !== undefined);
  if (o.links === "pty" && !which("socat")) throw new InfrastructureError("pty links need socat: apt-get install -y socat");
  if (usePty) mkdirSync(join(o.dir, "tty"), { recursive: true });
  for (const id of o.lanes) {
    const d = ctx.duts.get(id)!;
    const boardEnds: Partial<Record<Board, TappedTransport>> = {};
    for (const board of ["exit", "barrier"] as const) {
      const [boardEnd, gatewayEnd] = usePty ? await openPtyLink(ctx, id, board) : memoryCable();
      boardEnds[board] = (board === "exit" ? d.exit : d.barrier).tap(boardEnd);
      ctx.gatewayTransports.set(`${id}/${board}`, gatewayEnd);
      ctx.closers.push(() => gatewayEnd.close());
    }
    d.exitLink = boardEnds.exit; d.barrierLink = boardEnds.barrier;
  }
  return { links: usePty ? "pty" : "memory", fields: new Map(), xsStarts: [] };
}

/** A socat pty pair between a board and the gateway: [board end, gateway end]. */
async function openPtyLink(ctx: LinkContext, id: string, board: Board): Promise<[ByteStream, ByteStream]> {
  const dir = join(ctx.options.dir, "tty");
  // socat is another process: virtual time follows the wall clock while it starts.
  const realTime = <T>(fn: () => Promise<T>) => currentSiteClock()?.realTime(fn) ?? fn();
  const pair = await infra(`opening a socat pty pair for ${id} ${board}`, () => realTime(() => openPtyPair(`${board}-${id}`, dir)));
  ctx.closers.push(() => pair.close());
  const [a, b] = await infra(`opening ${pair.a} and ${pair.b}`, () => realTime(async () => [await openSerialStream(pair.a), await openSerialStream(pair.b)]));
  // Bytes inside socat are invisible to the site clock: it counts them in flight.
  const [ce, cg] = countedPair(a, b);
  const untrack = currentSiteClock()?.track(() => ce.inFlight + cg.inFlight);
  if (untrack) ctx.closers.push(async () => untrack());
  return [ce, cg];
}

async function openXsLanes(ctx: LinkContext): Promise<LaneLinks> {
  const o = ctx.options;
  const { moddableTools } = await import("../xs/xs-firmware");
  const { openXsLane } = await import("../xs/xs-lane");
  const tools = moddableTools();
  const fields = new Map<string, LaneField>();
  const xsStarts: (() => Promise<void>)[] = [];
  for (const id of o.lanes) {
    const d = ctx.duts.get(id)!;
    const lane = await openXsLane({ tools, lane: id, dir: o.dir, duts: { exit: d.exit, barrier: d.barrier }, closers: ctx.closers, progress: (line) => process.stderr.write(`${line}\n`) });
    ctx.gatewayTransports.set(`${id}/exit`, lane.exitLink);
    ctx.gatewayTransports.set(`${id}/barrier`, lane.barrierLink);
    d.exitLink = lane.exitLink; d.barrierLink = lane.barrierLink;
    fields.set(id, lane.field);
    xsStarts.push(lane.start);
  }
  return { links: "xs", fields, xsStarts };
}

type RigPorts = Map<string, { spec: RigBoard; port: import("serialport").SerialPort }>;

async function openRigLanes(ctx: LinkContext): Promise<LaneLinks> {
  const o = ctx.options;
  const rig = o.rig;
  if (!rig) throw new InfrastructureError("--target rig needs a rig file (--rig rig.json)");
  const rigPorts: RigPorts = new Map();
  for (const id of o.lanes) {
    const d = ctx.duts.get(id)!;
    for (const board of ["exit", "barrier"] as const) {
      const spec = rigBoard(rig, id, board);
      const t = await infra(`opening ${spec.port} (${spec.kind} of lane ${id})`, () => openSerialStream(spec.port, spec.baud));
      const tapped = (board === "exit" ? d.exit : d.barrier).tapGatewaySide(t);
      ctx.gatewayTransports.set(`${id}/${board}`, tapped);
      ctx.closers.push(() => tapped.close());
      if (board === "exit") d.exitLink = tapped; else d.barrierLink = tapped;
      rigPorts.set(`${id}/${board}`, { spec, port: t.port });
    }
  }
  const { openIoEmulator } = await import("../rig/io-emulator");
  const io = await openIoEmulator(rig.io_emulator);
  ctx.closers.push(() => io.close());
  const fields = new Map<string, LaneField>();
  for (const id of o.lanes) fields.set(id, io.field(id, (board) => resetRigBoard(rigPorts, id, board)));
  return { links: "rig", fields, xsStarts: [] };
}

function rigBoard(rig: Rig, lane: string, board: Board): RigBoard {
  const kind = board === "exit" ? "exit-controller" : "barrier-executor";
  const b = rig.boards.find((x) => x.lane === lane && x.kind === kind);
  if (!b) throw new InfrastructureError(`the rig "${rig.name}" has no ${kind} for lane ${lane}`);
  return b;
}

/** Reset a rig board as its rig file says: a power switch's commands, or a pulse on DTR or RTS. */
async function resetRigBoard(rigPorts: RigPorts, id: string, board: Board): Promise<void> {
  const r = rigPorts.get(`${id}/${board}`);
  if (!r) throw new InfrastructureError(`no rig port for ${id} ${board}`);
  const reset = r.spec.reset;
  if (reset.method === "none") throw new InfrastructureError(`${r.spec.kind} of lane ${id} has no reset method in the rig file`);
  if (reset.method === "power") {
    const run = promisify(exec);
    await infra(`power switch off (${reset.off})`, () => run(reset.off, { timeout: 30_000 }));
    await new Promise((res) => setTimeout(res, reset.off_ms));
    await infra(`power switch on (${reset.on})`, () => run(reset.on, { timeout: 30_000 }));
    return;
  }
  const line = reset.method; // dtr | rts
  const set = (level: boolean) => new Promise<void>((resolve, reject) => r.port.set({ [line]: level }, (err) => (err ? reject(new InfrastructureError(`${line.toUpperCase()} on ${r.spec.port}: ${err.message}`)) : resolve())));
  await set(reset.active);
  await new Promise((res) => setTimeout(res, reset.pulse_ms));
  await set(!reset.active);
}

/**
 * The simulated boards of every lane (sim target), on the board ends of their links, with their
 * fields; `recordCore` follows each barrier's safety core.
 */
export async function startSimBoards(o: { lanes: string[]; entryLanes?: string[]; duts: Map<string, LaneDuts>; clock: BoardClock; closers: Closers; recordCore: (laneId: string, core: SimulatedSafetyCore) => void; fields: Map<string, LaneField> }): Promise<Map<string, NonNullable<Lane["sim"]>>> {
  const sims = new Map<string, NonNullable<Lane["sim"]>>();
  for (const id of o.lanes) {
    const d = o.duts.get(id)!;
    const barrier = await SimulatedBarrierExecutor.start({ transport: d.barrierLink!, clock: o.clock, lane: id });
    o.recordCore(id, barrier.core);
    o.closers.push(() => barrier.close());
    if (o.entryLanes?.includes(id)) {
      const entry = await SimulatedEntryTerminal.start({ transport: d.exitLink!, clock: o.clock, lane: id });
      o.closers.push(() => entry.close());
      sims.set(id, { entry, barrier });
      o.fields.set(id, entryField(entry, barrier));
      continue;
    }
    const exit = await SimulatedExitController.start({ transport: d.exitLink!, clock: o.clock, lane: id });
    o.closers.push(() => exit.close());
    sims.set(id, { exit, barrier });
    o.fields.set(id, simField(exit, barrier));
  }
  return sims;
}

/** The barrier's half of a simulated lane's field (the same on an exit and an entry lane). */
function barrierField(barrier: SimulatedBarrierExecutor, presence: () => boolean): Pick<LaneField, "vehicleUnder" | "jam" | "emergency" | "freezeHeartbeat" | "observe"> {
  let emergency = false;
  return {
    vehicleUnder: (on) => barrier.vehicleUnder(on),
    jam: (on) => (on ? barrier.jam() : barrier.clearJam()),
    emergency: (on) => { emergency = on; barrier.emergency(on); },
    freezeHeartbeat: (on) => barrier.freezeHeartbeat(on),
    observe: () => {
      const m = barrier.motor;
      return { boomPct: barrier.boomPct, motorUp: m.motorUp, motorDown: m.motorDown, coreState: barrier.coreState, presence: presence(), vehicleUnder: barrier.plant.vehicleUnder, emergency };
    },
  };
}

/** An entry lane's field: the terminal's loop, badge reader, ticket key and scanner, and its printer read back. */
function entryField(entry: SimulatedEntryTerminal, barrier: SimulatedBarrierExecutor): LaneField {
  let present = false;
  return {
    ...barrierField(barrier, () => present),
    presence: (on) => { present = on; if (on) entry.vehicleArrives(); else entry.vehicleLeaves(); },
    badge: (uid) => entry.presentBadge(uid),
    typeKeys: async () => { throw new Error("an entry terminal has no keypad"); },
    reset: async (board) => { if (board === "exit") entry.powerCycle(); else barrier.powerCycle(); },
    display: () => entry.display.lines,
    pressTicket: () => entry.pressTicket(),
    scan: (text) => entry.scan(text),
    printed: () => entry.printed,
  };
}

function simField(exit: SimulatedExitController, barrier: SimulatedBarrierExecutor): LaneField {
  let present = false;
  return {
    ...barrierField(barrier, () => present),
    presence: (on) => { present = on; if (on) exit.vehicleArrives(); else exit.vehicleLeaves(); },
    badge: (uid) => exit.presentBadge(uid),
    typeKeys: (keys) => exit.typeKeys(keys, (ms) => new Promise((r) => setTimeout(r, ms))),
    reset: async (board) => { if (board === "exit") exit.powerCycle(); else barrier.powerCycle(); },
    display: () => exit.display.lines,
    scan: (text) => exit.scan(text),
    pressLost: () => exit.pressLost(),
  };
}

/** Two ends of a socat pair that count the bytes each wrote and the other has not received yet. */
function countedPair(a: ByteStream, b: ByteStream): [ByteStream & { inFlight: number }, ByteStream & { inFlight: number }] {
  const wrap = (self: ByteStream) => {
    const end = {
      sent: 0, received: 0, peer: undefined as unknown as { sent: number },
      get inFlight() { return Math.max(0, end.peer.sent - end.received); },
      write: (bytes: Uint8Array) => { end.sent += bytes.length; self.write(bytes); },
      setReceiver: (r: (bytes: Uint8Array) => void) => self.setReceiver((bytes) => { end.received += bytes.length; r(bytes); }),
      close: () => self.close(),
    };
    return end;
  };
  const x = wrap(a), y = wrap(b);
  x.peer = y; y.peer = x;
  // Until a receiver is set, bytes still count as received (they reach the port and are dropped).
  x.setReceiver(() => {}); y.setReceiver(() => {});
  return [x, y];
}
