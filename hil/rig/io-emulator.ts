/**
 * The rig's I/O emulator: the box that drives the boards' field inputs (presence loop, vehicle
 * under the boom, RFID reader, keypad, jam, emergency, heartbeat freeze) on a real rig. It speaks
 * a line protocol on its own serial port, one command per line, answered `OK` or `ERR <why>`:
 *
 *   SET <lane> presence|under|jam|emergency|hbfreeze 0|1
 *   BADGE <lane> <10 hex digits>
 *   KEYS <lane> <digits, * and #>
 *
 * `serveIoEmulator` is the same protocol served by simulated boards (tests point a rig file at
 * socat ptys with simulated boards and this emulator on the other ends).
 */
import { ReadlineParser } from "@serialport/parser-readline";
import { serialPort } from "../../host/link/serial-port";
import { InfrastructureError } from "../harness/errors";
import type { LaneField } from "../harness/lane-field";
import type { SimulatedBarrierExecutor } from "../../sim/boards/barrier-executor-sim";
import type { SimulatedExitController } from "../../sim/boards/exit-controller-sim";
import type { Rig } from "./schema";

export interface IoEmulator {
  field(lane: string, reset: (board: "exit" | "barrier") => Promise<void>): LaneField;
  close(): Promise<void>;
}

export async function openIoEmulator(spec: Rig["io_emulator"]): Promise<IoEmulator> {
  if (spec.type === "none") {
    const missing = (what: string) => () => { throw new InfrastructureError(`this rig has no I/O emulator: cannot drive ${what}`); };
    return {
      field: (_lane, reset) => ({
        presence: missing("the presence loop"), vehicleUnder: missing("the loop under the boom"), badge: missing("the badge reader"),
        typeKeys: async () => missing("the keypad")(), jam: missing("a jam"), emergency: missing("the emergency input"), freezeHeartbeat: missing("a heartbeat freeze"),
        reset, observe: () => undefined,
      }),
      close: async () => {},
    };
  }
  const port = serialPort(spec.port, spec.baud);
  await new Promise<void>((resolve, reject) => port.open((err) => (err ? reject(new InfrastructureError(`cannot open the I/O emulator on ${spec.port}: ${err.message}`)) : resolve())));
  const parser = port.pipe(new ReadlineParser({ delimiter: "\n" }));
  const pending: { resolve: () => void; reject: (e: Error) => void; cmd: string; timer: NodeJS.Timeout }[] = [];
  parser.on("data", (line: string) => {
    const p = pending.shift();
    if (!p) return;
    clearTimeout(p.timer);
    if (line.trim() === "OK") p.resolve(); else p.reject(new InfrastructureError(`I/O emulator refused "${p.cmd}": ${line.trim()}`));
  });
  let chain = Promise.resolve();
  const send = (cmd: string): Promise<void> => {
    const run = () => new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => { pending.shift(); reject(new InfrastructureError(`I/O emulator on ${spec.port} did not answer "${cmd}" within 2 s`)); }, 2000);
      pending.push({ resolve, reject, cmd, timer });
      port.write(`${cmd}\n`);
    });
    const p = chain.then(run);
    chain = p.catch(() => {});
    return p;
  };
  const fire = (cmd: string) => { send(cmd).catch(() => {}); };
  return {
    field: (lane, reset) => ({
      presence: (on) => fire(`SET ${lane} presence ${on ? 1 : 0}`),
      vehicleUnder: (on) => fire(`SET ${lane} under ${on ? 1 : 0}`),
      jam: (on) => fire(`SET ${lane} jam ${on ? 1 : 0}`),
      emergency: (on) => fire(`SET ${lane} emergency ${on ? 1 : 0}`),
      freezeHeartbeat: (on) => fire(`SET ${lane} hbfreeze ${on ? 1 : 0}`),
      badge: (uid) => fire(`BADGE ${lane} ${uid}`),
      typeKeys: (keys) => send(`KEYS ${lane} ${keys}`),
      reset,
      observe: () => undefined,
    }),
    close: () => new Promise<void>((resolve) => (port.isOpen ? port.close(() => resolve()) : resolve())),
  };
}

/** Serve the I/O emulator protocol on a serial device for simulated boards (a test rig). */
export async function serveIoEmulator(path: string, lanes: Map<string, { exit: SimulatedExitController; barrier: SimulatedBarrierExecutor }>): Promise<{ close(): Promise<void> }> {
  const port = serialPort(path, 115200);
  await new Promise<void>((resolve, reject) => port.open((err) => (err ? reject(err) : resolve())));
  const parser = port.pipe(new ReadlineParser({ delimiter: "\n" }));
  parser.on("data", (raw: string) => {
    const [verb, lane, a, b] = raw.trim().split(/\s+/);
    const l = lanes.get(lane ?? "");
    const answer = (s: string) => port.write(`${s}\n`);
    if (!l) return answer(`ERR no lane ${lane}`);
    try {
      if (verb === "SET") {
        const on = b === "1";
        if (a === "presence") { if (on) l.exit.vehicleArrives(); else l.exit.vehicleLeaves(); }
        else if (a === "under") l.barrier.vehicleUnder(on);
        else if (a === "jam") { if (on) l.barrier.jam(); else l.barrier.clearJam(); }
        else if (a === "emergency") l.barrier.emergency(on);
        else if (a === "hbfreeze") l.barrier.freezeHeartbeat(on);
        else return answer(`ERR unknown input ${a}`);
        return answer("OK");
      }
      if (verb === "BADGE") { l.exit.presentBadge(a ?? ""); return answer("OK"); }
      if (verb === "KEYS") { void l.exit.typeKeys(a ?? "", (ms) => new Promise((r) => setTimeout(r, ms))).then(() => answer("OK"), (e: Error) => answer(`ERR ${e.message}`)); return; }
      return answer(`ERR unknown command ${verb}`);
    } catch (err) {
      return answer(`ERR ${(err as Error).message}`);
    }
  });
  return { close: () => new Promise<void>((resolve) => (port.isOpen ? port.close(() => resolve()) : resolve())) };
}
