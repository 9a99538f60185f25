/**
 * What the exit and entry lane orchestrators (./orchestrator.ts, ./entry-orchestrator.ts) share:
 * the audited operator commands to the barrier executor (acted on once per cmd_id, acknowledged
 * to the cloud when the executor answers), and the retained lane state (published only when it
 * changes).
 */
import type { Fields } from "../../firmware/common/link/frame";
import type { Payload } from "../../contracts/mqtt-topics";
import { ascii, idText } from "./lane-text";
import type { LanePorts } from "./lane-types";

const RECENT_COMMANDS = 256;

export type AckResult = Payload<"barrierAck">["result"];

export class OperatorCommands {
  private readonly recent: string[] = [];
  private readonly pending = new Map<string, string>(); // executor cmd id → cloud cmd_id

  constructor(private readonly laneId: string, private readonly ports: LanePorts) {}

  /** False for a cmd_id already handled: a QoS 1 duplicate or a replay acts once. */
  firstTime(cmdId: string): boolean {
    if (this.recent.includes(cmdId)) return false;
    this.recent.push(cmdId);
    if (this.recent.length > RECENT_COMMANDS) this.recent.shift();
    return true;
  }

  ack(cmdId: string, result: AckResult, detail?: string): void {
    this.ports.emit("barrierAck", { cmd_id: cmdId, lane_id: this.laneId, result, ...(detail ? { detail } : {}) });
  }

  /** Reset and close go to the executor as they are: the safety core decides, CMD_DONE answers. */
  toExecutor(cmdId: string, cmd: "reset" | "close", operator: string): void {
    const execCmd = this.ports.newId(cmd);
    this.pending.set(execCmd, cmdId);
    if (cmd === "reset") this.ports.toBarrier("FAULT_RESET", { cmd: execCmd, operator: idText(operator) });
    else this.ports.toBarrier("CLOSE", { cmd: execCmd });
  }

  /** The executor's CMD_DONE: the cloud's ack if it answers an operator command. */
  onCmdDone(f: Fields): void {
    const cloudCmd = this.pending.get(f.cmd);
    if (!cloudCmd) return;
    this.pending.delete(f.cmd);
    const result: AckResult = f.result === "ok" ? "done" : f.result === "refused" ? "refused" : f.result === "timeout" ? "timeout" : "fault";
    this.ack(cloudCmd, result, f.why);
  }
}

/** The lane state as last published: a board's heartbeat that changes nothing publishes nothing. */
export class LaneStatePublisher {
  private last = "";

  constructor(private readonly ports: LanePorts) {}

  publish(state: Omit<Payload<"laneState">, "ts" | "src">): void {
    const key = JSON.stringify(state);
    if (key === this.last) return;
    this.last = key;
    this.ports.emit("laneState", state);
  }
}

/** An operator's parking/display/text as DISPLAY fields (ASCII, 20 columns). */
export function displayFields(lines: readonly string[]): Fields {
  const fields: Fields = { l1: ascii(lines[0] ?? "") };
  lines.slice(1).forEach((l, i) => { fields[`l${i + 2}`] = ascii(l); });
  return fields;
}
