/**
 * One lane of `--target xs`: the exit controller and the barrier executor built for the Moddable
 * Linux simulator and running on XS in mcsim (./xs-firmware.ts), each with two pty pairs under its
 * `linDevices` directory — `link` to the gateway (tapped into the DUT log) and `field` to the
 * harness's field host (./field-host.ts), where the barrier plant and the FPGA model live.
 *
 * The harness keeps the boards' pty ends open itself, so a board's power cycle (mcsim killed and
 * started again) never closes the last handle of a pty, which would end its socat pair.
 */
import { closeSync, constants, mkdirSync, openSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openPtyPair } from "../../host/link/pty";
import type { Dut, TappedTransport } from "../harness/dut";
import type { LaneField } from "../harness/lane-field";
import { infra } from "../harness/errors";
import { loadManifestConfig } from "../../sim/boards/manifest-config";
import { openSerialStream } from "../../host/link/streams";
import { BarrierFieldHost, ExitFieldHost, type ExitFieldPins } from "./field-host";
import { buildLinFirmware, XsBoardProcess, type ModdableTools, type XsBoardKind } from "./xs-firmware";

export interface XsLane {
  exitLink: TappedTransport;
  barrierLink: TappedTransport;
  field: LaneField;
  exitHost: ExitFieldHost;
  barrierHost: BarrierFieldHost;
  /** Starts both boards, one after the other (after the gateway holds the links). */
  start(): Promise<void>;
}

/** Where a board's devices live: the same path at every run, so its cached build is reused. */
export function linDevicesDir(board: XsBoardKind, lane: string): string {
  return join(tmpdir(), "syspark-xs", `${board}-${lane}`);
}

export async function openXsLane(o: { tools: ModdableTools; lane: string; dir: string; duts: { exit: Dut; barrier: Dut }; closers: (() => Promise<unknown>)[]; progress: (line: string) => void }): Promise<XsLane> {
  const boards = {} as Record<"exit" | "barrier", XsBoardProcess>;
  const links = {} as Record<"exit" | "barrier", TappedTransport>;
  const fieldEnds = {} as Record<"exit" | "barrier", Awaited<ReturnType<typeof openSerialStream>>>;
  for (const [short, kind] of [["exit", "exit-controller"], ["barrier", "barrier-executor"]] as const) {
    const devices = linDevicesDir(kind, o.lane);
    const build = await infra(`building the ${kind} of lane ${o.lane} for XS`, () => buildLinFirmware(o.tools, kind, { lane: o.lane, linDevices: devices }, o.progress));
    if (build.ownWarnings.length) o.progress(`xs: ${kind}: ${build.ownWarnings.length} warning(s) from SysPark's files:\n  ${build.ownWarnings.join("\n  ")}`);
    rmSync(devices, { recursive: true, force: true });
    mkdirSync(devices, { recursive: true });
    for (const name of ["link", "field"] as const) {
      const pair = await infra(`opening the ${name} pty pair of the ${kind} of lane ${o.lane}`, () => openPtyPair(name, undefined, { a: join(devices, name), b: join(devices, `${name}-harness`) }));
      o.closers.push(() => pair.close());
      const held = openSync(pair.a, constants.O_RDWR | constants.O_NOCTTY | constants.O_NONBLOCK);
      o.closers.push(async () => closeSync(held));
      const end = await infra(`opening ${pair.b}`, () => openSerialStream(pair.b));
      o.closers.push(() => end.close());
      if (name === "link") links[short] = o.duts[short].tapGatewaySide(end);
      else fieldEnds[short] = end;
    }
    const board = new XsBoardProcess(o.tools, build.app, join(o.dir, `${o.lane}-${short}-xs.log`));
    o.closers.push(() => board.stop());
    boards[short] = board;
  }
  const exitConfig = loadManifestConfig("exit-controller", "lin") as Record<string, unknown>;
  const exitHost = new ExitFieldHost(fieldEnds.exit, exitConfig.pins as ExitFieldPins, Number(exitConfig.keypadScanMs));
  const barrierHost = new BarrierFieldHost(fieldEnds.barrier);
  o.closers.push(async () => barrierHost.close());
  let present = false, emergency = false;
  const field: LaneField = {
    presence: (on) => { present = on; exitHost.setPresence(on); },
    vehicleUnder: (on) => barrierHost.settle().plant.setVehicleUnder(on),
    badge: (uid) => exitHost.presentBadge(uid),
    typeKeys: (keys) => exitHost.typeKeys(keys, (ms) => new Promise((r) => setTimeout(r, ms))),
    jam: (on) => { const plant = barrierHost.settle().plant; if (on) plant.jam(); else plant.clearJam(); },
    emergency: (on) => { emergency = on; barrierHost.settle().plant.setEmergency(on); },
    freezeHeartbeat: (on) => { barrierHost.settle().heartbeatFrozen = on; },
    reset: (board) => boards[board].powerCycle(),
    observe: () => {
      const core = barrierHost.settle();
      return { boomPct: core.plant.positionPct, motorUp: core.drive.motorUp, motorDown: core.drive.motorDown, coreState: core.stateName, presence: present, vehicleUnder: core.plant.vehicleUnder, emergency };
    },
    display: () => exitHost.display.lines,
  };
  return {
    exitLink: links.exit, barrierLink: links.barrier, field, exitHost, barrierHost,
    start: async () => { await boards.exit.start(); await boards.barrier.start(); },
  };
}
