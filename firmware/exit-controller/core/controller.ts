/**
 * The exit controller's state machine (ARCHITECTURE §4, steps 1–2 and 6–7 at the lane).
 *
 *   idle ──presence──▶ present ──IDENTIFY/badge/PIN──▶ identifying ──PAY_REQ──▶ awaiting_payment
 *     ▲                   │                               │ IDENTIFY+session, PAY_OK      │ PAY_OK(same session)
 *     │                   └────────── PAY_OK ◀────────────┘                               ▼
 *     │   done ◀──left── passing ◀──OPENED── opening ◀──OPENING── authorised ◀───────────┘
 *     └── (after doneDisplayMs)
 *   denied (DENY), fault (LANE_FAULT … LANE_CLEAR), restricted (link down … link up): from any state.
 *
 * Pure logic: every input carries the time, outputs go through `ExitPorts`. The board layer
 * wires it to real pins and UARTs; the simulator and the tests drive it directly. Payment OK
 * moves the lane on only for the session the lane is waiting on (idempotent: a duplicate,
 * late or foreign PAY_OK changes nothing). The controller never opens the barrier itself: it
 * says AUTHORISED, the second key the gateway needs before it commands OPEN.
 */
import type { Fields } from "../../common/link/frame";
import type { ExitState } from "../../common/link/messages";
import { Debouncer } from "../../common/io/debounce";
import { isScanCode } from "../../common/io/code-scanner";
import type { ExitConfig } from "./config";
import { screenFor, type Screen, type ScreenContext } from "./display";
import { PinEntry } from "./keypad";
import { normaliseUid } from "./badge";

export interface ExitPorts {
  /** Queue a message to the gateway over the serial link. */
  send(type: string, fields: Fields): void;
  /** Show a screen on the 4×20 display (and the QR code when `qr` is set). */
  show(screen: Screen): void;
}

export interface ExitStats {
  ignoredPayOk: number;
  ignoredPayReq: number;
  badBadges: number;
  badScans: number;
  ignoredInputs: number;
}

/** States in which the driver is at the pay station and may identify. */
function canIdentify(state: ExitState): boolean {
  return state === "present" || state === "identifying" || state === "denied";
}

export class ExitController {
  readonly stats: ExitStats = { ignoredPayOk: 0, ignoredPayReq: 0, badBadges: 0, badScans: 0, ignoredInputs: 0 };
  private current: ExitState = "idle";
  private session: string | undefined;
  private amount = 0;
  private currency = "EUR";
  private payUrl: string | undefined;
  private label: string | undefined;
  private message: string | undefined;
  private faultCode: string | undefined;
  private enteredAt = 0;
  private linkUp = false;
  private readonly presence: Debouncer;
  private readonly pin: PinEntry;
  private lastScreen: Screen | undefined;

  constructor(private readonly config: ExitConfig, private readonly ports: ExitPorts) {
    // No initial level: after a reset the loop is unknown until it has settled (see Debouncer).
    this.presence = new Debouncer(config.presenceDebounceMs);
    this.pin = new PinEntry(config.pinEntryTimeoutMs);
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

  // ---------------------------------------------------------------- field inputs

  /** Raw sample of the exit loop (1 = vehicle), debounced here. */
  presenceSample(level: 0 | 1, now: number): void {
    this.presence.sample(level, now);
    this.tick(now);
  }

  badge(rawUid: string, now: number): void {
    const uid = normaliseUid(rawUid);
    if (uid === undefined) {
      this.stats.badBadges++;
      return;
    }
    if (!canIdentify(this.current) && this.current !== "awaiting_payment") {
      this.stats.ignoredInputs++;
      return;
    }
    this.ports.send("BADGE", { uid });
    if (this.current !== "awaiting_payment") this.enter("identifying", now, "badge");
  }

  key(key: string, now: number): void {
    if (!canIdentify(this.current) && this.current !== "awaiting_payment") {
      this.stats.ignoredInputs++;
      return;
    }
    const result = this.pin.key(key, now);
    if (result.kind === "submit") {
      this.ports.send("PIN", { pin: result.pin });
      this.message = undefined;
      if (this.current !== "awaiting_payment") this.enter("identifying", now, "pin");
      else this.render();
    } else if (result.kind === "typing" || result.kind === "cleared") {
      if (this.current === "present" || this.current === "denied") this.enter("identifying", now, "keypad");
      else this.render();
    } else if (result.kind === "too_short") {
      this.message = "PIN: 4-8 chiffres";
      this.render();
    }
  }

  /** A code from the pay station's scanner: a ticket (`SPK1.…`) identifies like a badge, a
   *  merchant validation (`SPV1.…`) counts while the fee is shown. The gateway decides. */
  scan(code: string, now: number): void {
    if (!isScanCode(code)) {
      this.stats.badScans++;
      return;
    }
    if (!canIdentify(this.current) && this.current !== "awaiting_payment") {
      this.stats.ignoredInputs++;
      return;
    }
    this.ports.send("SCAN", { code });
    if (this.current !== "awaiting_payment") this.enter("identifying", now, "scan");
  }

  button(name: "help" | "cancel" | "lost", _now: number): void {
    // Reported in every state, restricted included: the link queues it until the gateway is back.
    this.ports.send("BUTTON", { name });
  }

  // ---------------------------------------------------------------- gateway messages

  onMessage(type: string, f: Fields, now: number): void {
    switch (type) {
      case "IDENTIFY":
        if (!canIdentify(this.current)) return this.ignore();
        if (f.session !== undefined) this.session = f.session;
        this.message = f.hint;
        this.enter("identifying", now, "gateway");
        return;
      case "PAY_REQ":
        if (!(canIdentify(this.current) || this.current === "awaiting_payment")) { this.stats.ignoredPayReq++; return; }
        if (this.current === "awaiting_payment" && f.session !== this.session) { this.stats.ignoredPayReq++; return; }
        this.session = f.session;
        this.amount = Number(f.amount);
        this.currency = f.currency;
        this.payUrl = f.url;
        this.label = f.label;
        this.message = undefined;
        if (this.current === "awaiting_payment") this.render();
        else this.enter("awaiting_payment", now, "pay_req");
        return;
      case "PAY_FAIL":
        if (this.current !== "awaiting_payment" || f.session !== this.session) return this.ignore();
        this.message = f.reason;
        this.render();
        this.ports.send("STATE", this.stateFields("pay_fail"));
        return;
      case "PAY_OK":
        // Only the session the lane is waiting on: a duplicate (already authorised), a late one
        // (vehicle gone) or a foreign one (another lane's session) changes nothing.
        if (!(this.current === "awaiting_payment" || this.current === "identifying") || this.session === undefined || f.session !== this.session) {
          this.stats.ignoredPayOk++;
          return;
        }
        this.ports.send("AUTHORISED", { session: this.session });
        this.enter("authorised", now, "pay_ok");
        return;
      case "DENY":
        if (!(canIdentify(this.current) || this.current === "awaiting_payment")) return this.ignore();
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
        return;
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

  tick(now: number): void {
    if (this.pin.tick(now)) this.render();
    const changed = this.presence.tick(now);
    if (changed !== undefined) this.onPresence(changed === 1, now);
    const elapsed = now - this.enteredAt;
    switch (this.current) {
      case "identifying":
        if (elapsed >= this.config.identifyTimeoutMs) {
          this.message = "Aucune session";
          this.enter("denied", now, "timeout");
        }
        break;
      case "authorised":
        if (elapsed >= this.config.authorisedTimeoutMs) {
          this.faultCode = "NO_OPEN";
          this.enter("fault", now, "open_timeout");
        }
        break;
      case "denied":
        if (elapsed >= this.config.deniedDisplayMs) this.enterRest(now, "retry");
        break;
      case "done":
        if (elapsed >= this.config.doneDisplayMs) this.enterRest(now, "next");
        break;
      default:
        break;
    }
  }

  nextDeadline(): number {
    let next = Math.min(this.presence.nextDeadline(), this.pin.nextDeadline());
    const timeout =
      this.current === "identifying" ? this.config.identifyTimeoutMs :
      this.current === "authorised" ? this.config.authorisedTimeoutMs :
      this.current === "denied" ? this.config.deniedDisplayMs :
      this.current === "done" ? this.config.doneDisplayMs : Infinity;
    next = Math.min(next, this.enteredAt + timeout);
    return next;
  }

  // ---------------------------------------------------------------- internals

  /** The loop as it stands, once known: an unknown loop is reported when it settles (onPresence). */
  private reportPresence(): void {
    if (this.presence.known) this.ports.send("PRESENCE", { present: this.vehiclePresent ? "1" : "0" });
  }

  private onPresence(present: boolean, now: number): void {
    if (this.current === "restricted" || this.current === "fault") {
      // Presence is still reported: the gateway keeps the lane picture right for the operator.
      this.ports.send("PRESENCE", { present: present ? "1" : "0" });
      return;
    }
    this.ports.send("PRESENCE", { present: present ? "1" : "0" });
    if (present) {
      if (this.current === "idle" || this.current === "done") {
        this.session = undefined;
        this.enter("present", now, "vehicle");
      }
      return;
    }
    switch (this.current) {
      case "present":
      case "identifying":
      case "awaiting_payment":
      case "authorised":
      case "denied": {
        // The vehicle drove away without passing: the session stays open in the cloud.
        const fields: Fields = {};
        if (this.session !== undefined) fields.session = this.session;
        this.ports.send("LEFT", fields);
        this.session = undefined;
        this.enter("idle", now, "left");
        return;
      }
      case "opening":
      case "passing":
        this.ports.send("EXITED", { session: this.session ?? "unknown" });
        this.enter("done", now, "exited");
        return;
      default:
        return;
    }
  }

  /** Where the lane rests when nothing is going on: waiting for a driver or idle. */
  private enterRest(now: number, why: string): void {
    this.session = undefined;
    this.enter(this.vehiclePresent ? "present" : "idle", now, why);
  }

  private enter(state: ExitState, now: number, why: string): void {
    if (state !== "identifying" && state !== "awaiting_payment") this.pin.clear();
    if (state === "idle" || state === "present") {
      this.amount = 0;
      this.payUrl = undefined;
      this.label = undefined;
      if (state === "idle") this.message = undefined;
    }
    this.current = state;
    this.enteredAt = now;
    this.render();
    if (this.linkUp || state === "restricted") this.ports.send("STATE", this.stateFields(why));
  }

  private stateFields(why: string): Fields {
    const fields: Fields = { state: this.current, why };
    if (this.session !== undefined) fields.session = this.session;
    return fields;
  }

  private ignore(): void {
    this.stats.ignoredInputs++;
  }

  private render(): void {
    const ctx: ScreenContext = {
      lane: this.config.lane, amount: this.amount, currency: this.currency, payUrl: this.payUrl,
      label: this.label, message: this.message, pinLength: this.pin.typed, fault: this.faultCode,
    };
    this.lastScreen = screenFor(this.current, ctx);
    this.ports.show(this.lastScreen);
  }
}
