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
 * Pure logic like ./controller.ts: time comes in, outputs go through `EntryPorts`; the loop, the
 * link, the badge, the scanner and the barrier frames are handled in ./lane-controller.ts.
 */
import type { Fields } from "../../common/link/frame";
import { deepFreeze } from "../../common/link/freeze";
import type { ExitState } from "../../common/link/messages";
import type { EntryConfig } from "./entry-config";
import { entryScreenFor, siteRefusal, type EntryScreenContext, type SiteState } from "./entry-display";
import type { Screen } from "./display";
import { canIdentify, LaneController, type LanePorts, type LaneRoleSpec, type LaneStats } from "./lane-controller";
import { TICKET_QR_PREFIX } from "./ticket-receipt";

export interface TicketJob {
  id: string;
  code?: string;
}

export interface EntryPorts extends LanePorts {
  /** Start printing `ticket`; the board answers with onPrinted (false: no printer fitted). */
  print(ticket: TicketJob): boolean;
}

export interface EntryStats extends LaneStats {
  ignoredAdmit: number;
  lateReceipts: number;
}

// Frozen: a constant table of a module mcconfig preloads into flash (see deepFreeze).
const ENTRY_ROLE: LaneRoleSpec = deepFreeze({
  passed: { type: "ENTERED", why: "entered" },
  leftFrom: ["present", "identifying", "authorised", "denied"],
});

export class EntryController extends LaneController<EntryConfig, EntryPorts, EntryStats> {
  private ticket: TicketJob | undefined;
  private printing = false;
  private printFailed = false;
  private site: SiteState | undefined;
  private free: number | undefined;
  private printStartedAt = 0;

  constructor(config: EntryConfig, ports: EntryPorts) {
    super(config, ports, { ignoredAdmit: 0, badBadges: 0, badScans: 0, ignoredInputs: 0, lateReceipts: 0 }, ENTRY_ROLE);
  }

  get ticketId(): string | undefined { return this.ticket?.id; }
  get isPrinting(): boolean { return this.printing; }
  get siteState(): SiteState | undefined { return this.site; }

  // ---------------------------------------------------------------- field inputs

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

  protected override onRoleMessage(type: string, f: Fields, now: number): void {
    switch (type) {
      case "IDENTIFY":
        if (!this.acceptsIdentity()) return this.ignore();
        this.message = f.hint;
        this.enter("identifying", now, "gateway");
        return;
      case "ADMIT":
        return this.admit(f, now);
      case "SITE":
        this.site = f.state === "full" || f.state === "closed" ? f.state : "open";
        this.free = f.free !== undefined ? Number(f.free) : undefined;
        if (this.current === "idle" || this.current === "present") this.render();
        return;
      default:
        // Exit-only frames (PAY_REQ, PAY_OK, …) mean nothing here.
        return this.ignore();
    }
  }

  // ---------------------------------------------------------------- time

  tick(now: number): void {
    this.tickPresence(now);
    if (this.printing && now - this.printStartedAt >= this.config.printTimeoutMs && this.ticket) {
      // The printer driver answers within its own job timeout; this is the lane's backstop.
      this.onPrinted(this.ticket.id, false, "timeout", now);
      return;
    }
    this.tickStateTimeout(now);
  }

  // ---------------------------------------------------------------- role hooks

  /** The driver may identify: a vehicle is there and no admission is in hand. */
  protected override acceptsIdentity(): boolean {
    return canIdentify(this.current) && !this.printing;
  }

  protected override identifyTimedOut(now: number): void {
    this.message = "Pas de reponse";
    this.session = undefined;
    this.enter("denied", now, "timeout");
  }

  /** No limit while a ticket prints: the print timeout stands in. */
  protected override identifyTimeoutMs(): number {
    return this.printing ? Infinity : this.config.identifyTimeoutMs;
  }

  protected override roleDeadline(): number {
    return this.printing ? this.printStartedAt + this.config.printTimeoutMs : Infinity;
  }

  protected override clearFor(state: ExitState): void {
    if (state === "idle" || state === "present" || state === "done" || state === "denied" || state === "fault" || state === "restricted") {
      // The ticket's QR stays on the display only while its vehicle is still at the barrier.
      this.ticket = undefined;
      this.printing = false;
      this.printFailed = false;
      if (state === "idle" || state === "present") this.message = undefined;
    }
  }

  protected override screenNow(): Screen {
    const ctx: EntryScreenContext = {
      lane: this.config.lane, site: this.site, free: this.free, message: this.message,
      printing: this.printing, printFailed: this.printFailed, fault: this.faultCode,
    };
    if (this.ticket) {
      ctx.ticketQr = TICKET_QR_PREFIX + this.ticket.id;
      ctx.ticketCode = this.ticket.code;
    }
    return entryScreenFor(this.current, ctx);
  }

  // ---------------------------------------------------------------- internals

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
}
