/**
 * What the lane controller's two roles (exit: ./controller.ts, entry: ./entry-controller.ts)
 * share, once: the loop (debounced, reported as PRESENCE, a departure told as LEFT or as the
 * pass frame), the link (STATE on every move, restricted while it is down, a resync on the
 * gateway's HELLO), the barrier and lane frames (DENY, OPENING, OPENED, LANE_FAULT, LANE_CLEAR,
 * RESET, DISPLAY), the badge reader and the code scanner, and the timeouts of the states both
 * pass through (identifying, authorised, denied, done). Each role adds its own steps between
 * "present" and "authorised" and its own screens.
 *
 * Pure logic: every input carries the time, outputs go through the role's ports.
 */
import type { Fields } from "../../common/link/frame";
import type { ExitState } from "../../common/link/messages";
import { Debouncer } from "../../common/io/debounce";
import { isScanCode } from "../../common/io/code-scanner";
import { normaliseUid } from "./badge";
import type { Screen } from "./display";
import type { LaneTimings } from "./lane-config";

export interface LanePorts {
  /** Queue a message to the gateway over the serial link. */
  send(type: string, fields: Fields): void;
  /** Show a screen on the 4×20 display (and the QR code when `qr` is set). */
  show(screen: Screen): void;
}

export interface LaneStats {
  badBadges: number;
  badScans: number;
  ignoredInputs: number;
}

/** What tells the two roles apart on the loop. */
export interface LaneRoleSpec {
  /** The frame sent when the vehicle leaves the loop through the open barrier, and its STATE why. */
  passed: { type: "EXITED" | "ENTERED"; why: "exited" | "entered" };
  /** States in which a vehicle leaving the loop drove away without passing (LEFT). */
  leftFrom: readonly ExitState[];
}

/** States in which a driver is in front of the lane and may identify. */
export function canIdentify(state: ExitState): boolean {
  return state === "present" || state === "identifying" || state === "denied";
}

export abstract class LaneController<C extends LaneTimings, P extends LanePorts, S extends LaneStats> {
  protected current: ExitState = "idle";
  protected session: string | undefined;
  protected message: string | undefined;
  protected faultCode: string | undefined;
  protected enteredAt = 0;
  private linkUp = false;
  private readonly presence: Debouncer;
  private lastScreen: Screen | undefined;

  protected constructor(
    protected readonly config: C,
    protected readonly ports: P,
    readonly stats: S,
    private readonly role: LaneRoleSpec,
  ) {
    // No initial level: after a reset the loop is unknown until it has settled (see Debouncer).
    this.presence = new Debouncer(config.presenceDebounceMs);
  }

  get state(): ExitState { return this.current; }
  get sessionId(): string | undefined { return this.session; }
  get vehiclePresent(): boolean { return this.presence.level === 1; }
  get screen(): Screen | undefined { return this.lastScreen; }

  /** Called once the board is up: shows the idle (or restricted) screen. */
  start(now: number): void {
    this.enteredAt = now;
    this.render();
  }

  // ---------------------------------------------------------------- what each role supplies

  /** The driver may identify now (badge, scanned code; a DENY answers such a request). */
  protected abstract acceptsIdentity(): boolean;
  /** Frames only this role takes (IDENTIFY and the role's own); anything else too. */
  protected abstract onRoleMessage(type: string, f: Fields, now: number): void;
  /** Drops what the role shows for a vehicle that `state` no longer concerns. */
  protected abstract clearFor(state: ExitState): void;
  /** The identifying state timed out: what the driver is told. */
  protected abstract identifyTimedOut(now: number): void;
  /** How long the lane waits in "identifying" now (Infinity: no limit while the role works). */
  protected abstract identifyTimeoutMs(): number;
  /** The role's own next deadline (PIN entry, printer), Infinity when none. */
  protected abstract roleDeadline(): number;
  protected abstract screenNow(): Screen;

  // ---------------------------------------------------------------- field inputs

  /** Raw sample of the loop (1 = vehicle), debounced here. */
  presenceSample(level: 0 | 1, now: number): void {
    this.presence.sample(level, now);
    this.tick(now);
  }

  badge(rawUid: string, now: number): void {
    const uid = normaliseUid(rawUid);
    if (uid === undefined) this.stats.badBadges++;
    else this.passOnIdentity("BADGE", { uid }, "badge", now);
  }

  /** A code from the scanner (ticket, validation, reservation): passed on as read, the gateway decides. */
  scan(code: string, now: number): void {
    if (!isScanCode(code)) this.stats.badScans++;
    else this.passOnIdentity("SCAN", { code }, "scan", now);
  }

  // ---------------------------------------------------------------- gateway messages

  onMessage(type: string, f: Fields, now: number): void {
    switch (type) {
      case "DENY":
        if (!this.acceptsIdentity()) return this.ignore();
        this.message = f.reason;
        this.session = undefined;
        this.enter("denied", now, "gateway");
        return;
      case "OPENING":
        if (this.current !== "authorised" || f.session !== this.session) return this.ignore();
        this.enter("opening", now, "barrier");
        return;
      case "OPENED":
        if (!(this.current === "opening" || this.current === "authorised") || f.session !== this.session) return this.ignore();
        this.enter("passing", now, "barrier");
        return;
      case "LANE_FAULT":
        this.faultCode = f.code;
        this.session = undefined;
        this.enter("fault", now, "executor");
        return;
      case "LANE_CLEAR":
        if (this.current !== "fault") return this.ignore();
        this.faultCode = undefined;
        this.enterRest(now, "operator");
        return;
      case "RESET":
        this.faultCode = undefined;
        this.enterRest(now, "reset");
        return;
      case "DISPLAY":
        this.ports.show({ lines: [f.l1, f.l2 ?? "", f.l3 ?? "", f.l4 ?? ""] });
        return;
      default:
        return this.onRoleMessage(type, f, now);
    }
  }

  /** The gateway (re)started: tell it where the lane stands. */
  onPeerHello(now: number): void {
    this.reportPresence();
    this.ports.send("STATE", this.stateFields("resync"));
    this.enteredAt = now;
  }

  onLinkChange(up: boolean, now: number): void {
    this.linkUp = up;
    if (!up) {
      this.session = undefined;
      this.enter("restricted", now, "link_down");
    } else if (this.current === "restricted") {
      this.enterRest(now, "link_up");
      this.reportPresence();
    }
  }

  // ---------------------------------------------------------------- time

  abstract tick(now: number): void;

  nextDeadline(): number {
    return Math.min(this.presence.nextDeadline(), this.roleDeadline(), this.enteredAt + this.stateTimeoutMs());
  }

  /** The loop's settled changes, reported and acted on (first step of every tick). */
  protected tickPresence(now: number): void {
    const changed = this.presence.tick(now);
    if (changed !== undefined) this.onPresence(changed === 1, now);
  }

  /** The current state's own timeout, once it has run out. */
  protected tickStateTimeout(now: number): void {
    if (now - this.enteredAt < this.stateTimeoutMs()) return;
    switch (this.current) {
      case "identifying":
        this.identifyTimedOut(now);
        break;
      case "authorised":
        this.faultCode = "NO_OPEN";
        this.enter("fault", now, "open_timeout");
        break;
      case "denied":
        this.enterRest(now, "retry");
        break;
      case "done":
        this.enterRest(now, "next");
        break;
      default:
        break;
    }
  }

  private stateTimeoutMs(): number {
    return this.current === "identifying" ? this.identifyTimeoutMs() :
      this.current === "authorised" ? this.config.authorisedTimeoutMs :
      this.current === "denied" ? this.config.deniedDisplayMs :
      this.current === "done" ? this.config.doneDisplayMs : Infinity;
  }

  // ---------------------------------------------------------------- internals

  /** A well-formed badge or code, sent as read when the driver may identify. While the exit
   *  shows the fee it stays shown: a merchant validation lowers it and the gateway answers with
   *  a new PAY_REQ. */
  private passOnIdentity(type: "BADGE" | "SCAN", fields: Fields, why: string, now: number): void {
    if (!this.acceptsIdentity()) {
      this.stats.ignoredInputs++;
      return;
    }
    this.ports.send(type, fields);
    if (this.current !== "awaiting_payment") this.enter("identifying", now, why);
  }

  /** The loop as it stands, once known: an unknown loop is reported when it settles (onPresence). */
  private reportPresence(): void {
    if (this.presence.known) this.ports.send("PRESENCE", { present: this.vehiclePresent ? "1" : "0" });
  }

  private onPresence(present: boolean, now: number): void {
    // Presence is reported in every state, restricted and fault included: the gateway keeps
    // the lane picture right for the operator.
    this.ports.send("PRESENCE", { present: present ? "1" : "0" });
    if (this.current === "restricted" || this.current === "fault") return;
    if (present) {
      if (this.current === "idle" || this.current === "done") {
        this.session = undefined;
        this.enter("present", now, "vehicle");
      }
      return;
    }
    if (this.role.leftFrom.includes(this.current)) {
      // Drove away without passing: the session stays open in the cloud (at the entry, a
      // ticket issued stays valid until it expires).
      const fields: Fields = {};
      if (this.session !== undefined) fields.session = this.session;
      this.ports.send("LEFT", fields);
      this.session = undefined;
      this.enter("idle", now, "left");
    } else if (this.current === "opening" || this.current === "passing") {
      this.ports.send(this.role.passed.type, { session: this.session ?? "unknown" });
      this.enter("done", now, this.role.passed.why);
    }
  }

  /** Where the lane rests when nothing is going on: waiting for a driver or idle. */
  protected enterRest(now: number, why: string): void {
    this.session = undefined;
    this.enter(this.vehiclePresent ? "present" : "idle", now, why);
  }

  protected enter(state: ExitState, now: number, why: string): void {
    this.clearFor(state);
    this.current = state;
    this.enteredAt = now;
    this.render();
    if (this.linkUp || state === "restricted") this.ports.send("STATE", this.stateFields(why));
  }

  protected stateFields(why: string): Fields {
    const fields: Fields = { state: this.current, why };
    if (this.session !== undefined) fields.session = this.session;
    return fields;
  }

  protected ignore(): void {
    this.stats.ignoredInputs++;
  }

  protected render(): void {
    this.lastScreen = this.screenNow();
    this.ports.show(this.lastScreen);
  }
}
