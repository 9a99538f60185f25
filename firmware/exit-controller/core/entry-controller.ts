/**
 * The lane controller's entry role (ARCHITECTURE §4 at the entry lane): the same board as the
 * exit, the same STATE names (EXIT_STATES) so the gateway and the console read both alike.
 *
 *   idle ──presence──▶ present ──badge / ticket button / scan──▶ identifying ──ADMIT──┐
 *     ▲                   └──────────────── ADMIT (plate read by the gateway) ─────────┤
 *     │                        ticket: print it, show its QR, PRINTED (identifying) ◀─┤
 *     │   done ◀──left── passing ◀──OPENED── opening ◀──OPENING── authorised ◀────────┘
 *     └── (after doneDisplayMs)
 *   denied (DENY, timeout, ticket pressed on a full/closed site), fault (LANE_FAULT … LANE_CLEAR),
 *   restricted (link down … link up): as on the exit.
 *
 * ADMIT moves the lane on once, for the vehicle in front of it: a duplicate ADMIT (same session)
 * prints nothing again, an ADMIT for another session while one is in hand is ignored. The
 * controller never opens the barrier: it says AUTHORISED — the second key — once the ticket is
 * out (printed, or on the display when the printer failed), at once without a ticket.
 * Pure logic like ./controller.ts: time comes in, outputs go through `EntryPorts`.
 */
import type { Fields } from "../../common/link/frame";
import type { ExitState } from "../../common/link/messages";
import { Debouncer } from "../../common/io/debounce";
import { isScanCode } from "../../common/io/code-scanner";
import { normaliseUid } from "./badge";
import type { EntryConfig } from "./entry-config";
import { entryScreenFor, siteRefusal, type EntryScreenContext, type SiteState } from "./entry-display";
import type { Screen } from "./display";
import { TICKET_QR_PREFIX } from "./ticket-receipt";

export interface TicketJob {
  id: string;
  code?: string;
}

export interface EntryPorts {
  send(type: string, fields: Fields): void;
  show(screen: Screen): void;
  /** Start printing `ticket`; the board answers with onPrinted (false: no printer fitted). */
  print(ticket: TicketJob): boolean;
}

export interface EntryStats {
  ignoredAdmit: number;
  badBadges: number;
  badScans: number;
  ignoredInputs: number;
  lateReceipts: number;
}

function canIdentify(state: ExitState): boolean {
  return state === "present" || state === "identifying" || state === "denied";
}

export class EntryController {
  readonly stats: EntryStats = { ignoredAdmit: 0, badBadges: 0, badScans: 0, ignoredInputs: 0, lateReceipts: 0 };
  private current: ExitState = "idle";
  private session: string | undefined;
  private ticket: TicketJob | undefined;
  private printing = false;
  private printFailed = false;
  private message: string | undefined;
  private faultCode: string | undefined;
  private site: SiteState | undefined;
  private free: number | undefined;
  private enteredAt = 0;
  private printStartedAt = 0;
  private linkUp = false;
  private readonly presence: Debouncer;
  private lastScreen: Screen | undefined;

  constructor(private readonly config: EntryConfig, private readonly ports: EntryPorts) {
    this.presence = new Debouncer(config.presenceDebounceMs);
  }

  get state(): ExitState { return this.current; }
  get sessionId(): string | undefined { return this.session; }
  get ticketId(): string | undefined { return this.ticket?.id; }
  get isPrinting(): boolean { return this.printing; }
  get vehiclePresent(): boolean { return this.presence.level === 1; }
  get screen(): Screen | undefined { return this.lastScreen; }
  get siteState(): SiteState | undefined { return this.site; }

  start(now: number): void {
    this.enteredAt = now;
    this.render();
  }

  // ---------------------------------------------------------------- field inputs

  presenceSample(level: 0 | 1, now: number): void {
    this.presence.sample(level, now);
    this.tick(now);
  }

  badge(rawUid: string, now: number): void {
    const uid = normaliseUid(rawUid);
    if (uid === undefined) { this.stats.badBadges++; return; }
    if (!this.canAsk()) { this.stats.ignoredInputs++; return; }
    this.ports.send("BADGE", { uid });
    this.enter("identifying", now, "badge");
  }

  /** A code from the scanner (a reservation `SPR1.…`): passed on as read, the gateway decides. */
  scan(code: string, now: number): void {
    if (!isScanCode(code)) { this.stats.badScans++; return; }
    if (!this.canAsk()) { this.stats.ignoredInputs++; return; }
    this.ports.send("SCAN", { code });
    this.enter("identifying", now, "scan");
  }

  button(name: "help" | "ticket", now: number): void {
    if (name === "help") {
      // Reported in every state, restricted included: the link queues it until the gateway is back.
      this.ports.send("BUTTON", { name });
      return;
    }
    // A ticket only for a vehicle on the loop, and one request per vehicle until answered.
    if (!(this.current === "present" || this.current === "denied")) { this.stats.ignoredInputs++; return; }
    this.ports.send("BUTTON", { name });
    const refusal = siteRefusal(this.site);
    if (refusal !== undefined) {
      // Shown at once; the gateway still decides (an ADMIT is taken in `denied`).
      this.message = refusal;
      this.enter("denied", now, "site_" + (this.site ?? "open"));
      return;
    }
    this.enter("identifying", now, "ticket");
  }

  /** The printer's outcome for `ticketId` (the board's ReceiptPrinter, or no printer). */
  onPrinted(ticketId: string, ok: boolean, why: string | undefined, now: number): void {
    if (!this.printing || this.ticket === undefined || this.ticket.id !== ticketId || this.session === undefined) {
      this.stats.lateReceipts++;
      return;
    }
    this.printing = false;
    this.printFailed = !ok;
    const fields: Fields = { ticket: ticketId, ok: ok ? "1" : "0" };
    if (!ok) fields.why = why ?? "failed";
    this.ports.send("PRINTED", fields);
    this.ports.send("AUTHORISED", { session: this.session });
    this.enter("authorised", now, ok ? "printed" : "print_failed");
  }

  // ---------------------------------------------------------------- gateway messages

  onMessage(type: string, f: Fields, now: number): void {
    switch (type) {
      case "IDENTIFY":
        if (!this.canAsk()) return this.ignore();
        this.message = f.hint;
        this.enter("identifying", now, "gateway");
        return;
      case "ADMIT":
        return this.admit(f, now);
      case "DENY":
        if (!this.canAsk()) return this.ignore();
        this.message = f.reason;
        this.session = undefined;
        this.enter("denied", now, "gateway");
        return;
      case "SITE":
        this.site = f.state === "full" || f.state === "closed" ? f.state : "open";
        this.free = f.free !== undefined ? Number(f.free) : undefined;
        if (this.current === "idle" || this.current === "present") this.render();
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
        // Exit-only frames (PAY_REQ, PAY_OK, …) mean nothing here.
        return this.ignore();
    }
  }

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
    const changed = this.presence.tick(now);
    if (changed !== undefined) this.onPresence(changed === 1, now);
    if (this.printing && now - this.printStartedAt >= this.config.printTimeoutMs && this.ticket) {
      // The printer driver answers within its own job timeout; this is the lane's backstop.
      this.onPrinted(this.ticket.id, false, "timeout", now);
      return;
    }
    const elapsed = now - this.enteredAt;
    switch (this.current) {
      case "identifying":
        if (!this.printing && elapsed >= this.config.identifyTimeoutMs) {
          this.message = "Pas de reponse";
          this.session = undefined;
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
    let next = this.presence.nextDeadline();
    if (this.printing) next = Math.min(next, this.printStartedAt + this.config.printTimeoutMs);
    const timeout =
      this.current === "identifying" && !this.printing ? this.config.identifyTimeoutMs :
      this.current === "authorised" ? this.config.authorisedTimeoutMs :
      this.current === "denied" ? this.config.deniedDisplayMs :
      this.current === "done" ? this.config.doneDisplayMs : Infinity;
    return Math.min(next, this.enteredAt + timeout);
  }

  // ---------------------------------------------------------------- internals

  /** The driver may identify: a vehicle is there and no admission is in hand. */
  private canAsk(): boolean {
    return canIdentify(this.current) && !this.printing;
  }

  private admit(f: Fields, now: number): void {
    if (this.session !== undefined) {
      // The same session again (a duplicate upstream) or another one: the lane already has its answer.
      this.stats.ignoredAdmit++;
      return;
    }
    if (!canIdentify(this.current)) { this.stats.ignoredAdmit++; return; }
    this.session = f.session;
    this.message = f.msg;
    if (f.ticket === undefined) {
      this.ports.send("AUTHORISED", { session: f.session });
      this.enter("authorised", now, "admit");
      return;
    }
    this.ticket = f.code !== undefined ? { id: f.ticket, code: f.code } : { id: f.ticket };
    this.printing = true;
    this.printFailed = false;
    this.printStartedAt = now;
    this.enter("identifying", now, "printing");
    let started: boolean;
    try {
      started = this.ports.print(this.ticket);
    } catch {
      started = false;
    }
    if (!started) this.onPrinted(this.ticket.id, false, "no_printer", now);
  }

  private reportPresence(): void {
    if (this.presence.known) this.ports.send("PRESENCE", { present: this.vehiclePresent ? "1" : "0" });
  }

  private onPresence(present: boolean, now: number): void {
    this.ports.send("PRESENCE", { present: present ? "1" : "0" });
    if (this.current === "restricted" || this.current === "fault") return;
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
      case "authorised":
      case "denied": {
        // Drove away without entering: a ticket issued stays valid in the cloud until it expires.
        const fields: Fields = {};
        if (this.session !== undefined) fields.session = this.session;
        this.ports.send("LEFT", fields);
        this.session = undefined;
        this.enter("idle", now, "left");
        return;
      }
      case "opening":
      case "passing":
        this.ports.send("ENTERED", { session: this.session ?? "unknown" });
        this.enter("done", now, "entered");
        return;
      default:
        return;
    }
  }

  private enterRest(now: number, why: string): void {
    this.session = undefined;
    this.enter(this.vehiclePresent ? "present" : "idle", now, why);
  }

  private enter(state: ExitState, now: number, why: string): void {
    if (state === "idle" || state === "present" || state === "done" || state === "denied" || state === "fault" || state === "restricted") {
      // The ticket's QR stays on the display only while its vehicle is still at the barrier.
      this.ticket = undefined;
      this.printing = false;
      this.printFailed = false;
      if (state === "idle" || state === "present") this.message = undefined;
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
    const ctx: EntryScreenContext = {
      lane: this.config.lane, site: this.site, free: this.free, message: this.message,
      printing: this.printing, printFailed: this.printFailed, fault: this.faultCode,
    };
    if (this.ticket) {
      ctx.ticketQr = TICKET_QR_PREFIX + this.ticket.id;
      ctx.ticketCode = this.ticket.code;
    }
    this.lastScreen = entryScreenFor(this.current, ctx);
    this.ports.show(this.lastScreen);
  }
}
