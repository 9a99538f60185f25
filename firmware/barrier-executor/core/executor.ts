/**
 * The barrier executor's state machine (ARCHITECTURE §4 step 7, §6). The FPGA safety core
 * decides every motion on its own and is the last word on safety; the executor
 *  - turns link commands (OPEN / CLOSE / STOP / FAULT_RESET, idempotent by `cmd`) into
 *    write-one pulses to the core's CTRL register, and answers each with one CMD_DONE —
 *    once the command has completed (OPEN: boom open; CLOSE: boom closed), failed (fault,
 *    core in its safe state, reversed by an obstruction) or timed out;
 *  - feeds the core's heartbeat every `heartbeatMs`;
 *  - reads STATUS every `pollMs` and reports what changed: BARRIER (state, position, fault
 *    code), ALARM (fault, obstruction while closing, emergency, heartbeat loss), PASSED;
 *  - closes the boom by itself once the vehicle has passed and the lane under the boom has
 *    been clear for `autoCloseDelayMs` (never onto a vehicle: the core refuses too).
 *
 * Pure logic: the core is reached through a `CoreDriver`, frames go out through `send`, and
 * every input carries the time, so it runs unchanged on XS, in the simulator and in tests.
 * Memory is bounded (a fixed command ring, a handful of fields).
 */
import type { Fields } from "../../common/link/frame";
import type { BARRIER_STATES } from "../../common/link/messages";
import { linkState, STATE_NAMES } from "../fpga/regmap";
import { CommandRing, type CommandResult } from "./command-ring";
import type { BarrierConfig } from "./config";
import type { CoreCommand, CoreDriver, CoreIdentity, CoreStatus } from "./core-status";
import { PositionEstimate } from "./position";

export type BarrierState = (typeof BARRIER_STATES)[number];

export interface ExecutorPorts {
  /** Queue a message to the gateway over the serial link. */
  send(type: string, fields: Fields): void;
}

export interface ExecutorStats {
  commands: number;
  duplicates: number;
  refused: number;
  autoCloses: number;
  passed: number;
  heartbeats: number;
  polls: number;
}

interface Pending {
  cmd: string;
  kind: "open" | "close";
  since: number;
  /** The core has been seen moving towards the target (or already there). */
  started: boolean;
}

/** The state the gateway sees (the register map's mapping): REVERSING, the dead time before
 *  the boom moves the other way, is reported as the direction it will take. */
export function barrierStateOf(s: CoreStatus): BarrierState {
  return linkState(STATE_NAMES.indexOf(s.state), s.revUp);
}

/** Why the core would refuse to close now, as a CMD_DONE `why`. */
function closeInhibitReason(s: CoreStatus): string {
  if (s.emergency) return "emergency";
  if (!s.sensorOk) return "sensor_failed";
  if (s.obstruction) return "obstruction";
  if (!s.heartbeatOk) return "heartbeat";
  return "inhibited";
}

export class BarrierExecutor {
  readonly stats: ExecutorStats = { commands: 0, duplicates: 0, refused: 0, autoCloses: 0, passed: 0, heartbeats: 0, polls: 0 };
  private readonly ring: CommandRing;
  private readonly position: PositionEstimate;
  private identity: CoreIdentity | undefined;
  /** Set when the core cannot be driven (wrong core, watchdog window too short for our heartbeat). */
  private coreError: string | undefined;
  private last: CoreStatus | undefined;
  private reportedState: BarrierState | undefined;
  private reportedFault: string | undefined;
  private heartbeatDueAt = 0;
  private pollDueAt = 0;
  private pending: Pending | undefined;
  /** Session of the last OPEN, until the vehicle has passed. */
  private session: string | undefined;
  /** The boom was opened for a vehicle that has not passed yet (noPassCloseMs applies). */
  private awaitingPass = false;
  private openedAt = 0;
  /** The loop under the boom went occupied while the boom was up. */
  private occupied = false;
  /** Auto-close is armed: a vehicle passed, or an obstruction reversed a closing boom. */
  private autoClose = false;
  /** Since when the lane under the boom has been clear. */
  private clearSince = 0;
  /** We wrote OPEN or STOP while the boom was closing: the reversal or stop that follows is ours, not an obstruction. */
  private commandedOffClosing = false;

  constructor(private readonly config: BarrierConfig, private readonly core: CoreDriver, private readonly ports: ExecutorPorts) {
    this.ring = new CommandRing(config.cmdHistory);
    this.position = new PositionEstimate(config.travelMs);
  }

  get state(): BarrierState { return this.reportedState ?? "safe"; }
  get fault(): string | undefined { return this.reportedFault; }
  get positionPercent(): number { return this.position.percent; }
  get coreStatus(): CoreStatus | undefined { return this.last; }
  get coreIdentity(): CoreIdentity | undefined { return this.identity; }
  get autoCloseArmed(): boolean { return this.autoClose; }

  /** Boot: check the core, feed its heartbeat (it starts in SAFE until the first one) and report. */
  start(now: number): void {
    const id = this.core.identify();
    this.identity = id;
    if (!id.compatible) {
      this.coreError = "CORE_ID";
      this.alarm("CORE_ID", `unexpected safety core id 0x${(id.id >>> 0).toString(16)}`);
    } else if (this.config.heartbeatMs * 2 > id.watchdogMs) {
      // Safety margin: at least two heartbeats per watchdog window, or the core trips at random.
      this.coreError = "CORE_CONFIG";
      this.alarm("CORE_CONFIG", `heartbeatMs ${this.config.heartbeatMs} vs watchdog ${Math.floor(id.watchdogMs)} ms`);
    }
    this.position.reset(now);
    this.clearSince = now;
    this.heartbeatDueAt = now;
    this.pollDueAt = now;
    this.tick(now);
  }

  // ---------------------------------------------------------------- gateway messages

  onMessage(type: string, f: Fields, now: number): void {
    switch (type) {
      case "OPEN":
      case "CLOSE":
      case "STOP":
      case "FAULT_RESET":
        this.command(type, f, now);
        return;
      case "RESET":
        // Back to the initial state of the state machine (not a reboot): no motion is started,
        // a running command ends, auto-close is disarmed. Command ids are kept: a replay still acts once.
        if (this.pending) this.finish(this.pending.cmd, "refused", "reset");
        this.disarm();
        this.reportedState = undefined;
        this.poll(now);
        return;
      default:
        return;
    }
  }

  /** The gateway (re)started: tell it where the barrier stands. */
  onPeerHello(now: number): void {
    this.reportedState = undefined;
    this.poll(now);
  }

  // ---------------------------------------------------------------- time

  tick(now: number): void {
    if (now >= this.heartbeatDueAt) {
      if (this.coreError !== "CORE_ID") {
        this.core.command("heartbeat");
        this.stats.heartbeats++;
      }
      this.heartbeatDueAt = now + this.config.heartbeatMs;
    }
    if (now >= this.pollDueAt) this.poll(now);
  }

  nextDeadline(): number {
    return Math.min(this.heartbeatDueAt, this.pollDueAt);
  }

  // ---------------------------------------------------------------- commands

  private command(type: "OPEN" | "CLOSE" | "STOP" | "FAULT_RESET", f: Fields, now: number): void {
    const cmd = f.cmd;
    const known = this.ring.find(cmd);
    if (known) {
      // Idempotent by command id: act once, answer again with the same outcome.
      this.stats.duplicates++;
      if (known.result !== undefined) this.sendDone(cmd, known.result, known.why);
      return;
    }
    this.stats.commands++;
    this.ring.add(cmd, type);
    if (this.coreError) return this.finish(cmd, "refused", this.coreError);
    const s = this.poll(now);
    switch (type) {
      case "OPEN": return this.open(cmd, f.session, s, now);
      case "CLOSE": return this.close(cmd, s, now);
      case "STOP": return this.stop(cmd, now);
      case "FAULT_RESET": return this.faultReset(cmd, s, now);
    }
  }

  private refuseIfUnavailable(cmd: string, s: CoreStatus): boolean {
    if (s.state === "fault") { this.finish(cmd, "refused", s.faultName ?? "FAULT"); return true; }
    if (s.state === "safe") { this.finish(cmd, "refused", "core_safe"); return true; }
    return false;
  }

  private open(cmd: string, session: string | undefined, s: CoreStatus, now: number): void {
    if (this.refuseIfUnavailable(cmd, s)) return;
    this.supersede("superseded");
    // A new vehicle: wait for it to pass before closing again.
    this.disarm();
    this.session = session;
    this.awaitingPass = true;
    this.openedAt = now;
    if (s.state === "open") return this.finish(cmd, "ok", undefined);
    if (s.state === "closing") this.commandedOffClosing = true;
    this.pending = { cmd, kind: "open", since: now, started: false };
    this.write("open");
    this.poll(now);
    if (this.pending?.cmd === cmd && !this.pending.started) this.finish(cmd, "refused", "core_refused");
  }

  private close(cmd: string, s: CoreStatus, now: number): void {
    if (this.refuseIfUnavailable(cmd, s)) return;
    if (s.state === "closed") {
      this.supersede("superseded");
      return this.finish(cmd, "ok", undefined);
    }
    // Never onto a vehicle (the core refuses as well): say why instead of trying.
    if (s.closeInhibit) return this.finish(cmd, "refused", closeInhibitReason(s));
    this.supersede("superseded");
    this.disarm();
    this.pending = { cmd, kind: "close", since: now, started: false };
    this.write("close");
    this.poll(now);
    if (this.pending?.cmd === cmd && !this.pending.started) this.finish(cmd, "refused", "core_refused");
  }

  private stop(cmd: string, now: number): void {
    this.supersede("stopped");
    this.disarm();
    if (this.last?.state === "closing") this.commandedOffClosing = true;
    if (this.last?.state !== "fault" && this.last?.state !== "safe") this.write("stop");
    this.finish(cmd, "ok", undefined);
    this.poll(now);
  }

  private faultReset(cmd: string, s: CoreStatus, now: number): void {
    if (s.state !== "fault") return this.finish(cmd, "ok", undefined);
    this.write("reset");
    const after = this.poll(now);
    if (after.state === "fault") {
      // The core clears a latched fault only once its cause is gone.
      const why = after.overCurrent ? "over_current" : after.limOpen && after.limClosed ? "both_limits" : "cause_present";
      return this.finish(cmd, "refused", why);
    }
    this.finish(cmd, "ok", undefined);
  }

  /** A newer command replaces the running one, which ends now. */
  private supersede(why: string): void {
    if (this.pending) {
      const p = this.pending;
      this.pending = undefined;
      this.finish(p.cmd, "refused", why);
    }
  }

  private finish(cmd: string, result: CommandResult, why: string | undefined): void {
    if (this.pending?.cmd === cmd) this.pending = undefined;
    if (result !== "ok") this.stats.refused++;
    this.ring.finish(cmd, result, why);
    this.sendDone(cmd, result, why);
  }

  private sendDone(cmd: string, result: CommandResult, why: string | undefined): void {
    const fields: Fields = { cmd, result };
    if (why !== undefined) fields.why = why;
    this.ports.send("CMD_DONE", fields);
  }

  private write(command: CoreCommand): void {
    this.core.command(command);
  }

  private disarm(): void {
    this.autoClose = false;
    this.awaitingPass = false;
    this.occupied = false;
    this.commandedOffClosing = false;
  }

  // ---------------------------------------------------------------- status

  /** Read STATUS, account for what changed, report it. Returns the status read. */
  private poll(now: number): CoreStatus {
    this.pollDueAt = now + this.config.pollMs;
    this.stats.polls++;
    const s = this.core.status();
    const prev = this.last;
    this.last = s;
    this.position.update(now, s.motorUp, s.motorDown, s.limOpen, s.limClosed);
    if (this.coreError) {
      this.report("fault", this.coreError);
      return s;
    }
    this.alarms(prev, s);
    this.align(s, now);
    this.trackPending(s, now);
    this.trackLane(prev, s, now);
    this.autoCloseCheck(s, now);
    const current = this.last;
    this.report(barrierStateOf(current), current.state === "fault" ? current.faultName ?? "FAULT" : undefined);
    return current;
  }

  /** Read STATUS again right after a write of ours. */
  private refresh(now: number): void {
    const s = this.core.status();
    this.last = s;
    this.position.update(now, s.motorUp, s.motorDown, s.limOpen, s.limClosed);
  }

  /** ALARM code detail (the catalogue allows 16 and 40 characters). */
  private alarm(code: string, detail: string): void {
    this.ports.send("ALARM", { code: code.substring(0, 16), detail: detail.substring(0, 40) });
  }

  private report(state: BarrierState, fault: string | undefined): void {
    if (state === this.reportedState && fault === this.reportedFault) return;
    this.reportedState = state;
    this.reportedFault = fault;
    const fields: Fields = { state, pos: String(this.position.percent) };
    if (fault !== undefined) fields.fault = fault;
    this.ports.send("BARRIER", fields);
  }

  private alarms(prev: CoreStatus | undefined, s: CoreStatus): void {
    if (s.state === "fault" && (prev?.state !== "fault" || prev.faultCode !== s.faultCode)) {
      const name = s.faultName ?? "FAULT";
      const detail = name === "OVER_CURRENT" ? "motor over-current: stall or jam"
        : name === "BOTH_LIMITS" ? "both limit switches active"
        : name === "RUN_TIMEOUT" ? "motor ran too long: limit switch?" : "safety core fault";
      this.alarm(name, detail);
    }
    if (s.emergency && !prev?.emergency) this.alarm("EMERGENCY", "emergency input: free exit, boom open");
    if (!s.emergency && prev?.emergency) this.alarm("EMERGENCY_END", "emergency input released");
    if (!s.heartbeatOk && prev !== undefined && prev.heartbeatOk) this.alarm("HEARTBEAT", "core watchdog expired: safe state");
    if (prev?.state === "closing" && s.state !== "closing" && s.state !== "closed" && s.state !== "fault" && s.state !== "safe") {
      // The core left CLOSING by itself: an obstruction (first one: reverse; second: stop).
      if (!s.emergency && !this.commandedOffClosing && (s.state === "reversing" || s.state === "opening" || s.state === "stopped")) {
        const second = s.state === "stopped";
        this.alarm("OBSTRUCTION", second ? "second obstruction: stopped" : "obstruction while closing: reversing");
        if (!second) this.autoClose = true;
        this.clearSince = -1;
      }
      this.commandedOffClosing = false;
    }
    if (s.sensorOk === false && prev !== undefined && prev.sensorOk) this.alarm("SENSOR_FAILED", "obstruction sensor failed: no closing");
  }

  /** Stopped on a limit switch (boot, fault reset, heartbeat back): say where the boom is without moving it. */
  private align(s: CoreStatus, now: number): void {
    if (s.state !== "stopped" || s.motorUp || s.motorDown || this.pending) return;
    if (s.limClosed && !s.limOpen && !s.closeInhibit) this.write("close");
    else if (s.limOpen && !s.limClosed) this.write("open");
    else return;
    this.refresh(now);
  }

  private trackPending(s: CoreStatus, now: number): void {
    const p = this.pending;
    if (!p) return;
    if (s.state === "fault") return this.finish(p.cmd, "fault", s.faultName ?? "FAULT");
    if (s.state === "safe") return this.finish(p.cmd, "fault", "heartbeat");
    if (p.kind === "open") {
      if (s.state === "open") return this.finish(p.cmd, "ok", undefined);
      if (s.state === "opening" || (s.state === "reversing" && s.revUp)) p.started = true;
      else if (s.state === "stopped") return this.finish(p.cmd, "refused", "stopped");
    } else {
      if (s.state === "closed") return this.finish(p.cmd, "ok", undefined);
      if (s.state === "closing" || (s.state === "reversing" && !s.revUp)) p.started = true;
      else if (s.emergency) return this.finish(p.cmd, "refused", "emergency");
      else if (p.started || s.state === "stopped") return this.finish(p.cmd, "refused", "obstruction");
    }
    if (now - p.since >= this.config.commandTimeoutMs) this.finish(p.cmd, "timeout", p.started ? "no_limit" : "no_motion");
  }

  /** The loop under the boom: occupied then clear while open is a vehicle that passed. */
  private trackLane(prev: CoreStatus | undefined, s: CoreStatus, now: number): void {
    const up = s.state === "open" || s.state === "opening" || (s.state === "reversing" && s.revUp);
    if (s.obstruction) {
      if (up) this.occupied = true;
      this.clearSince = -1;
      return;
    }
    if (this.clearSince < 0 || prev?.obstruction) this.clearSince = now;
    if (!this.occupied) return;
    this.occupied = false;
    if (s.state !== "open") return; // backed off before the boom was up: not a pass
    this.stats.passed++;
    const fields: Fields = {};
    if (this.session !== undefined) fields.session = this.session;
    this.ports.send("PASSED", fields);
    this.session = undefined;
    this.awaitingPass = false;
    this.autoClose = true;
  }

  private autoCloseCheck(s: CoreStatus, now: number): void {
    if (s.state !== "open" || this.pending || s.closeInhibit || s.obstruction || this.clearSince < 0) return;
    const clearFor = now - this.clearSince;
    const due = this.autoClose
      ? clearFor >= this.config.autoCloseDelayMs
      : this.awaitingPass && this.config.noPassCloseMs > 0 && now - this.openedAt >= this.config.noPassCloseMs && clearFor >= this.config.autoCloseDelayMs;
    if (!due) return;
    this.stats.autoCloses++;
    this.disarm();
    this.session = undefined;
    this.write("close");
    this.refresh(now);
  }
}
