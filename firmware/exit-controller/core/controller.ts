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
 * Pure logic: every input carries the time, outputs go through `ExitPorts`. The loop, the link,
 * the badge, the scanner and the barrier frames are handled in ./lane-controller.ts, shared with
 * the entry role. The board layer wires it to real pins and UARTs; the simulator and the tests
 * drive it directly. Payment OK moves the lane on only for the session the lane is waiting on
 * (idempotent: a duplicate, late or foreign PAY_OK changes nothing). The controller never opens
 * the barrier itself: it says AUTHORISED, the second key the gateway needs before it commands OPEN.
 */
import type { Fields } from "../../common/link/frame";
import { deepFreeze } from "../../common/link/freeze";
import type { ExitState } from "../../common/link/messages";
import type { ExitConfig } from "./config";
import { screenFor, type Screen, type ScreenContext } from "./display";
import { PinEntry } from "./keypad";
import { canIdentify, LaneController, type LanePorts, type LaneRoleSpec, type LaneStats } from "./lane-controller";

export type ExitPorts = LanePorts;

export interface ExitStats extends LaneStats {
  ignoredPayOk: number;
  ignoredPayReq: number;
}

// Frozen: a constant table of a module mcconfig preloads into flash (see deepFreeze).
const EXIT_ROLE: LaneRoleSpec = deepFreeze({
  passed: { type: "EXITED", why: "exited" },
  // Even with the fee shown or the lane authorised: the barrier did not open for this vehicle.
  leftFrom: ["present", "identifying", "awaiting_payment", "authorised", "denied"],
});

export class ExitController extends LaneController<ExitConfig, ExitPorts, ExitStats> {
  private amount = 0;
  private currency = "EUR";
  private payUrl: string | undefined;
  private label: string | undefined;
  private readonly pin: PinEntry;

  constructor(config: ExitConfig, ports: ExitPorts) {
    super(config, ports, { ignoredPayOk: 0, ignoredPayReq: 0, badBadges: 0, badScans: 0, ignoredInputs: 0 }, EXIT_ROLE);
    this.pin = new PinEntry(config.pinEntryTimeoutMs);
  }

  // ---------------------------------------------------------------- field inputs

  key(key: string, now: number): void {
    if (!this.acceptsIdentity()) {
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

  button(name: "help" | "cancel" | "lost", _now: number): void {
    // Reported in every state, restricted included: the link queues it until the gateway is back.
    this.ports.send("BUTTON", { name });
  }

  // ---------------------------------------------------------------- gateway messages

  protected override onRoleMessage(type: string, f: Fields, now: number): void {
    switch (type) {
      case "IDENTIFY":
        if (!canIdentify(this.current)) return this.ignore();
        if (f.session !== undefined) this.session = f.session;
        this.message = f.hint;
        this.enter("identifying", now, "gateway");
        return;
      case "PAY_REQ":
        if (!this.acceptsIdentity()) { this.stats.ignoredPayReq++; return; }
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
      default:
        // Entry-only frames (ADMIT, SITE) and unknown ones change nothing at an exit.
        return;
    }
  }

  // ---------------------------------------------------------------- time

  tick(now: number): void {
    if (this.pin.tick(now)) this.render();
    this.tickPresence(now);
    this.tickStateTimeout(now);
  }

  // ---------------------------------------------------------------- role hooks

  /** At the pay station, and while the fee is shown (a badge, PIN or code may still settle it). */
  protected override acceptsIdentity(): boolean {
    return canIdentify(this.current) || this.current === "awaiting_payment";
  }

  protected override identifyTimedOut(now: number): void {
    this.message = "Aucune session";
    this.enter("denied", now, "timeout");
  }

  protected override identifyTimeoutMs(): number {
    return this.config.identifyTimeoutMs;
  }

  protected override roleDeadline(): number {
    return this.pin.nextDeadline();
  }

  protected override clearFor(state: ExitState): void {
    if (state !== "identifying" && state !== "awaiting_payment") this.pin.clear();
    if (state === "idle" || state === "present") {
      this.amount = 0;
      this.payUrl = undefined;
      this.label = undefined;
      if (state === "idle") this.message = undefined;
    }
  }

  protected override screenNow(): Screen {
    const ctx: ScreenContext = {
      lane: this.config.lane, amount: this.amount, currency: this.currency, payUrl: this.payUrl,
      label: this.label, message: this.message, pinLength: this.pin.typed, fault: this.faultCode,
    };
    return screenFor(this.current, ctx);
  }
}
