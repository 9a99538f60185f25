/**
 * Entry lane orchestration, one instance per entry lane (`kind: "entry"`): the lane controller in
 * its entry role (the terminal: loop, badge reader, scanner, ticket key and printer) and a barrier
 * executor, as at the exit. Pure logic behind the same ports as ./orchestrator.ts.
 *
 * Rules enforced here:
 * - Identity order: a plate the camera read for this lane within the plate window (ticketless
 *   entry), else what the driver gives: a badge, the ticket key (the gateway issues a signed
 *   ticket, contracts/ticket.ts), or a reservation QR `SPR1.<code>`.
 * - Two keys: OPEN goes to the barrier only when the admission (the cloud's parking/entry/decision
 *   for the request this lane sent, the offline policy, or an audited override) AND the
 *   terminal's AUTHORISED agree on the same session, with the vehicle on the loop.
 * - Counted once, when it happened: parking/entry goes through the durable outbox only when the
 *   terminal says ENTERED; a car that reverses away is never counted. A decision acts once.
 * - Offline: trusted badges of the access list (offline_permit) and tickets (offline_ticket, not
 *   when the local occupancy says full) are admitted unless the site is closed; the cloud creates
 *   their sessions from parking/entry when the outbox drains. Reservations need the cloud.
 */
import type { Fields } from "../../firmware/common/link/frame";
import type { Payload, TopicKey } from "../../contracts/mqtt-topics";
import { reservationCodeFromQr, type Ticket } from "../../contracts/ticket";
import type { AccessList } from "./access-list";
import { canEnterEntryPhase, type EntryPhase } from "./entry-phases";
import { LaneStatePublisher, OperatorCommands, displayFields } from "./lane-shared";
import { ascii } from "./lane-text";
import type { Identity, LanePolicy, LanePorts, LaneSnapshot } from "./lane-types";
import type { SiteView } from "./site-occupancy";
import type { AdmissionStore, EntryReport } from "./entry-admissions";

export type EntryDecidedBy = NonNullable<Payload<"entry">["decided_by"]>;

export interface EntryDeps {
  acl: AccessList;
  /** The local occupancy (./site-occupancy.ts), for offline decisions. */
  site: () => SiteView;
  /** A new signed ticket; undefined when the gateway has no ticket key (no ticket can be issued). */
  issueTicket?: (now: number) => Ticket;
  /** Admissions kept across a restart (./entry-admissions.ts): an ENTERED that reaches a restarted gateway is still reported. */
  admissions?: AdmissionStore;
}

/** What an exit lane's snapshot says, with the entry's phases and deciders; `exit_state` is the terminal's own state (its STATE frames). */
export interface EntrySnapshot extends Omit<LaneSnapshot, "phase" | "decided_by"> {
  kind: "entry";
  phase: EntryPhase;
  decided_by?: EntryDecidedBy;
}

interface EntryFlow {
  /** The event_id of the parking/entry/req in flight: only its decision counts. */
  request?: string;
  decided: boolean;
  identity?: Identity;
  ticket?: Ticket;
  plate?: string;
  session?: string;
  /** The session came from the cloud's decision (echoed in parking/entry); else it is local. */
  cloudSession: boolean;
  decidedBy?: EntryDecidedBy;
  admitted?: string;
  terminalAuth?: string;
  admit?: Fields;
  openCmd?: string;
  openedSent: boolean;
  passed: boolean;
}

const FRESH = (): EntryFlow => ({ decided: false, cloudSession: false, openedSent: false, passed: false });

/** Driver lines for the cloud's refusal reasons, when its decision carries no lines. */
const REFUSAL_TEXT: Record<string, string> = {
  full: "Complet", closed: "Parking ferme", passback: "Deja entre", invalid_ticket: "Ticket invalide",
  no_reservation: "Reservation inconnue", reservation_window: "Hors creneau resa", unknown: "Entree refusee",
};

export class EntryOrchestrator {
  private current: EntryPhase = "idle";
  readonly stats = { duplicateDecisions: 0, duplicateCommands: 0, staleCloudMessages: 0, offlineDecisions: 0, denied: 0, blockedByFault: 0, refusedTransitions: 0, entries: 0 };
  private terminal = { link: false, state: "idle", present: false };
  private barrier = { link: false, state: "closed", pos: 0, fault: undefined as string | undefined };
  private flow: EntryFlow = FRESH();
  private plate: { plate: string; at: number } | undefined;
  private cloudOnline = true;
  private readonly commands: OperatorCommands;
  private readonly state: LaneStatePublisher;

  constructor(readonly laneId: string, private readonly ports: LanePorts, private readonly deps: EntryDeps, private readonly policy: LanePolicy) {
    this.commands = new OperatorCommands(laneId, ports);
    this.state = new LaneStatePublisher(ports);
  }

  get phase(): EntryPhase { return this.current; }

  /** The one place the phase changes: only along ./entry-phases.ts; any other move is refused, counted and logged. */
  private enter(to: EntryPhase): void {
    if (!canEnterEntryPhase(this.current, to)) {
      this.stats.refusedTransitions++;
      this.ports.log?.(`entry lane ${this.laneId}: refused phase change ${this.current} → ${to}`);
      return;
    }
    this.current = to;
  }

  snapshot(): EntrySnapshot {
    return {
      lane_id: this.laneId, kind: "entry", phase: this.phase, exit_state: this.terminal.state, present: this.terminal.present,
      exit_link: this.terminal.link, barrier_link: this.barrier.link, barrier_state: this.barrier.state, barrier_pos: this.barrier.pos,
      fault: this.barrier.fault, session_id: this.flow.session, decided_by: this.flow.decidedBy, cloud_online: this.cloudOnline,
    };
  }

  setCloudOnline(online: boolean): void {
    this.cloudOnline = online;
  }

  onExitLink(up: boolean): void {
    this.terminal.link = up;
    this.publishState();
  }

  onBarrierLink(up: boolean): void {
    this.barrier.link = up;
    if (!up) this.raise("EXECUTOR_LINK", "barrier executor link down");
    this.publishState();
  }

  /** The car park's state changed (the cloud's, or the local count): the terminal's idle screen shows it. */
  onSite(view: SiteView): void {
    this.ports.toExit("SITE", { state: view.state, ...(view.free !== undefined ? { free: String(Math.min(view.free, 99_999)) } : {}) });
  }

  /** The terminal (re)started: it shows the site's state again, and a fault still in force. */
  onExitHello(): void {
    this.onSite(this.deps.site());
    if (this.barrier.fault) this.ports.toExit("LANE_FAULT", { code: this.barrier.fault });
  }

  // ------------------------------------------------------------------ terminal

  onExitMessage(type: string, f: Fields): void {
    switch (type) {
      case "PRESENCE": this.onPresence(f.present === "1"); break;
      case "STATE": this.onTerminalState(f.state, f.why, f.session); break;
      case "BADGE": this.identify({ method: "badge", value: f.uid }); break;
      case "BUTTON": this.onButton(f.name); break;
      case "SCAN": this.onScan(f.code); break;
      case "AUTHORISED":
        if (f.session !== this.flow.session) return;
        this.flow.terminalAuth = f.session;
        this.tryOpen();
        break;
      case "PRINTED":
        if (f.ok !== "1") this.ports.log?.(`entry lane ${this.laneId}: ticket ${f.ticket} not printed (${f.why ?? "printer fault"})`);
        break;
      case "ENTERED": this.onEntered(f.session); break;
      case "LEFT": if (this.phase !== "opening" && this.phase !== "open") this.endFlow(); break;
      default: break;
    }
    this.publishState();
  }

  private onPresence(present: boolean): void {
    // Re-sync reports repeat the current value: only a change is an event on the loop.
    const changed = present !== this.terminal.present;
    this.terminal.present = present;
    if (changed) this.ports.emit("present", { event_id: this.ports.newId("ev"), lane_id: this.laneId, present });
    if (present && this.phase === "idle") this.startIdentification();
    // The car reversed away before the boom opened: nothing entered, nothing is counted.
    if (!present && (this.phase === "identifying" || this.phase === "awaiting_cloud" || this.phase === "admitted")) this.endFlow();
  }

  private onTerminalState(state: string, why: string | undefined, session: string | undefined): void {
    this.terminal.state = state;
    if (why === "resync" && state === "authorised" && session && this.flow.session === undefined) this.takeBackAdmission(session);
    // The terminal re-synced after a reset: it lost the admission, which it is shown again.
    if (why === "resync" && this.phase === "admitted" && this.flow.admit && this.terminal.present) {
      this.flow.terminalAuth = undefined;
      this.ports.toExit("ADMIT", this.flow.admit);
    }
    if (state === "idle" && !this.terminal.present && this.phase !== "idle" && this.phase !== "fault") this.endFlow();
  }

  private onButton(name: string): void {
    if (name === "ticket") return this.takeTicket();
    if (name === "help") this.ports.emit("sensorError", { event_id: this.ports.newId("ev"), lane_id: this.laneId, code: "HELP_CALL", severity: "info", detail: "driver pressed the help button at the entry" });
  }

  private onScan(code: string): void {
    const reservation = reservationCodeFromQr(code);
    if (reservation) return this.identify({ method: "reservation", value: reservation });
    // A ticket, a validation or anything else means nothing at an entry: say so, change nothing.
    this.ports.log?.(`entry lane ${this.laneId}: scanned code ignored`);
    if (this.terminal.present && this.phase === "identifying") this.ports.toExit("DENY", { reason: "Code non reconnu" });
  }

  /**
   * A gateway restarted while the terminal held an admitted car (its re-sync says `authorised` for
   * a session): the admission the previous process kept (./entry-admissions.ts) is this lane's
   * first key again, the terminal's AUTHORISED the second — the boom opens (again: OPEN is
   * idempotent at the executor) and the terminal hears OPENING / OPENED, so no car waits at a
   * closed barrier for a process that died.
   */
  private takeBackAdmission(session: string): void {
    const kept = this.deps.admissions?.peek(session);
    if (!kept || !this.terminal.present || this.barrier.fault) return;
    const r = kept.report;
    this.flow = { ...FRESH(), session, admitted: session, terminalAuth: session, identity: r.identity, decidedBy: r.decided_by, cloudSession: r.session_id === session, ...(r.ticket ? { ticket: r.ticket } : {}), ...(r.plate ? { plate: r.plate } : {}) };
    this.ports.log?.(`entry lane ${this.laneId}: admission ${session} taken back after a restart`);
    this.enter("admitted");
    this.tryOpen();
  }

  /** The barrier saw a car pass for `session` with no flow for it here (a restart lost it): the kept admission is reported. */
  private onPassedWithoutFlow(session: string): void {
    const kept = this.deps.admissions?.take(session);
    if (!kept) return;
    this.stats.entries++;
    this.ports.emit("entry", { event_id: this.ports.newId("ev"), ...kept.report });
  }

  private onEntered(session: string): void {
    const flow = this.flow;
    if (session !== flow.session || !flow.openCmd || !flow.identity || !flow.decidedBy) {
      // The terminal says ENTERED only after an admission whose boom opened: a gateway restarted
      // meanwhile finds that admission in its data directory and reports it as the old one would have.
      const kept = this.deps.admissions?.take(session);
      if (!kept) {
        this.ports.log?.(`entry lane ${this.laneId}: ENTERED for ${session} with no admitted flow for it; not reported`);
        return;
      }
      this.stats.entries++;
      this.ports.emit("entry", { event_id: this.ports.newId("ev"), ...kept.report });
      if (session === flow.session) this.endFlow();
      return;
    }
    this.stats.entries++;
    this.deps.admissions?.take(session);
    this.ports.emit("entry", { event_id: this.ports.newId("ev"), ...this.reportOf(flow, session) });
    this.endFlow();
  }

  /** What parking/entry says about an admitted flow. */
  private reportOf(flow: EntryFlow, session: string): EntryReport {
    return {
      lane_id: this.laneId, identity: flow.identity!, decided_by: flow.decidedBy!,
      ...(flow.cloudSession ? { session_id: session } : {}),
      ...(flow.ticket ? { ticket: flow.ticket } : {}),
      ...(flow.plate ? { plate: flow.plate } : {}),
    };
  }

  // ------------------------------------------------------------------ barrier executor

  onBarrierMessage(type: string, f: Fields): void {
    switch (type) {
      case "BARRIER": this.onBarrierState(f); break;
      case "CMD_DONE":
        this.commands.onCmdDone(f);
        if (f.cmd === this.flow.openCmd && f.result !== "ok") this.raise(f.why ?? "OPEN_REFUSED", `open refused: ${f.why ?? f.result}`);
        break;
      case "PASSED":
        if (f.session && f.session !== this.flow.session) this.onPassedWithoutFlow(f.session);
        else this.flow.passed = true;
        break;
      case "ALARM":
        this.ports.emit("sensorError", { event_id: this.ports.newId("ev"), lane_id: this.laneId, code: f.code, severity: "alarm", ...(f.detail ? { detail: f.detail } : {}) });
        break;
      default: break;
    }
    this.publishState();
  }

  private onBarrierState(f: Fields): void {
    const wasFault = this.barrier.state === "fault";
    this.barrier.state = f.state;
    this.barrier.pos = Number(f.pos);
    if (f.state === "fault") {
      this.raise(f.fault ?? "FAULT", `barrier executor fault ${f.fault ?? ""}`.trim());
    } else if (wasFault) {
      this.barrier.fault = undefined;
      this.ports.toExit("LANE_CLEAR", {});
      this.flow = FRESH();
      this.enter(this.terminal.present ? "identifying" : "idle");
    }
    // Leaving the safe state with both keys already given: open now.
    if (f.state !== "safe" && this.phase === "admitted") this.tryOpen();
    if (this.phase === "opening" && f.state === "open" && !this.flow.openedSent) {
      this.flow.openedSent = true;
      this.enter("open");
      this.ports.toExit("OPENED", { session: this.flow.session! });
    }
  }

  // ------------------------------------------------------------------ site LAN and cloud

  onPlate(plate: string): void {
    this.plate = { plate, at: this.ports.now() };
    if (this.terminal.present && this.phase !== "idle" && this.phase !== "fault") this.flow.plate ??= plate;
    if (this.phase === "identifying" && this.terminal.present) this.identifyByPlate(plate);
  }

  onCloudMessage<K extends TopicKey>(key: K, payload: Payload<K>): void {
    const p = payload as Record<string, unknown>;
    if (p.lane_id !== undefined && p.lane_id !== this.laneId) return;
    if (key === "entryDecision") this.onDecision(payload as Payload<"entryDecision">);
    else if (key === "barrierCmd") {
      const m = payload as Payload<"barrierCmd">;
      if (!this.commands.firstTime(m.cmd_id)) { this.stats.duplicateCommands++; return; }
      this.operatorCommand(m.cmd_id, m.cmd, m.operator);
    } else if (key === "displayText") this.ports.toExit("DISPLAY", displayFields((payload as Payload<"displayText">).lines));
    this.publishState();
  }

  private onDecision(m: Payload<"entryDecision">): void {
    if (m.event_id !== this.flow.request) { this.stats.staleCloudMessages++; return; }
    if (this.flow.decided) { this.stats.duplicateDecisions++; return; }
    this.flow.decided = true;
    if (!this.terminal.present || this.phase !== "awaiting_cloud") { this.stats.staleCloudMessages++; return; }
    if (m.decision === "refuse") return this.deny(m.lines?.[0] ?? REFUSAL_TEXT[m.reason ?? "unknown"] ?? "Entree refusee");
    // An admission without a session (the contract allows it): the entry still reaches the cloud,
    // which then opens the session itself, as for an entry decided offline.
    this.flow.cloudSession = m.session_id !== undefined;
    this.admit(m.session_id ?? this.localSession(), "cloud", m.lines?.[0]);
  }

  /** An operator's command, from the cloud (parking/barriere/cmd) or the site console offline. */
  operatorCommand(cmdId: string, cmd: "open" | "close" | "reset", operator: string): void {
    if (cmd === "reset" || cmd === "close") return this.commands.toExecutor(cmdId, cmd, operator);
    // open: an audited override is the admission; the terminal still gives the second key.
    if (!this.policy.operatorOverride && !this.cloudOnline) return this.commands.ack(cmdId, "refused", "operator override disabled by site policy");
    if (this.barrier.fault) { this.stats.blockedByFault++; return this.commands.ack(cmdId, "refused", `executor fault ${this.barrier.fault}`); }
    if (!this.terminal.present) return this.commands.ack(cmdId, "refused", "no vehicle on the entry loop");
    if (this.phase === "opening" || this.phase === "open") return this.commands.ack(cmdId, "done", "already opening");
    if (this.phase === "idle") this.enter("identifying");
    this.flow.identity ??= { method: "operator", value: operator.slice(0, 64) };
    this.flow.request = undefined; // a decision still in flight for this car no longer counts
    this.admit(`ovr-${cmdId}`.slice(0, 40), "override");
    this.commands.ack(cmdId, "done");
  }

  // ------------------------------------------------------------------ identification

  private startIdentification(): void {
    this.flow = FRESH();
    this.enter("identifying");
    if (this.barrier.fault) { this.ports.toExit("LANE_FAULT", { code: this.barrier.fault }); return; }
    const plate = this.plate;
    if (plate && this.ports.now() - plate.at <= this.policy.plateWindowMs) {
      this.flow.plate = plate.plate;
      this.identifyByPlate(plate.plate);
    }
  }

  /** Online, the plate is the identity (ticketless entry); offline, it goes on a printed ticket. */
  private identifyByPlate(plate: string): void {
    if (this.cloudOnline) this.identify({ method: "plate", value: plate });
    else this.takeTicket();
  }

  private takeTicket(): void {
    if (!this.canIdentify()) return;
    if (!this.flow.ticket) {
      if (!this.deps.issueTicket) return this.deny("Ticket indisponible");
      this.flow.ticket = this.deps.issueTicket(this.ports.now());
    }
    this.identify({ method: "ticket", value: this.flow.ticket.id });
  }

  private canIdentify(): boolean {
    if (!this.terminal.present || !(this.phase === "identifying" || this.phase === "awaiting_cloud")) return false;
    if (this.barrier.fault) { this.stats.blockedByFault++; this.ports.toExit("LANE_FAULT", { code: this.barrier.fault }); return false; }
    return true;
  }

  private identify(identity: Identity): void {
    if (!this.canIdentify()) return;
    this.flow.identity = identity;
    if (!this.cloudOnline) return this.decideOffline(identity);
    // A new request supersedes one still in flight (the driver took a ticket after a plate read).
    this.flow.request = this.ports.newId("ev");
    this.flow.decided = false;
    this.enter("awaiting_cloud");
    this.ports.emit("entryReq", {
      event_id: this.flow.request, lane_id: this.laneId, identity,
      ...(identity.method === "ticket" && this.flow.ticket ? { ticket: this.flow.ticket } : {}),
      ...(identity.method !== "plate" && this.flow.plate ? { plate: this.flow.plate } : {}),
    });
  }

  private decideOffline(identity: Identity): void {
    const site = this.deps.site();
    if (identity.method === "reservation") return this.deny("Resa. hors ligne");
    if (site.state === "closed") return this.deny("Parking ferme");
    if (identity.method === "badge") {
      const trusted = this.policy.trustedBadges && this.deps.acl.trustedBadge(identity.value, this.ports.now());
      return trusted ? this.admitOffline("offline_permit") : this.deny("Badge non reconnu");
    }
    if (identity.method === "ticket" && this.flow.ticket) {
      // Permits have their spaces; a ticket needs a free transient one.
      return site.state === "full" ? this.deny("Complet") : this.admitOffline("offline_ticket");
    }
    this.deny("Entree refusee");
  }

  private admitOffline(by: EntryDecidedBy): void {
    this.stats.offlineDecisions++;
    this.ports.log?.(`entry lane ${this.laneId}: offline entry by ${by} (${this.flow.identity?.method})`);
    this.admit(this.localSession(), by);
  }

  private localSession(): string {
    return `off-${this.ports.newId(this.laneId)}`.slice(0, 40);
  }

  private admit(session: string, by: EntryDecidedBy, line?: string): void {
    this.flow.session = session;
    this.flow.admitted = session;
    this.flow.decidedBy = by;
    this.enter("admitted");
    const t = this.flow.ticket;
    this.flow.admit = { session, ...(t ? { ticket: t.id, code: t.code } : {}), ...(line ? { msg: ascii(line) } : {}) };
    // Kept before the terminal hears of it: whatever happens to this process, the entry is reported.
    if (this.flow.identity) this.deps.admissions?.save(session, this.reportOf(this.flow, session));
    this.ports.toExit("ADMIT", this.flow.admit);
    this.tryOpen();
  }

  private deny(reason: string): void {
    this.stats.denied++;
    this.ports.toExit("DENY", { reason: ascii(reason) });
    this.flow = { ...FRESH(), plate: this.flow.plate }; // same car: its plate still goes with a second try
    this.enter("identifying");
  }

  // ------------------------------------------------------------------ barrier

  /** Two keys, same session, vehicle present, executor healthy: then, and only then, OPEN. */
  private tryOpen(): void {
    const { admitted, terminalAuth, session, openCmd } = this.flow;
    if (openCmd || !session || admitted !== session || terminalAuth !== session || !this.terminal.present) return;
    if (this.barrier.fault || !this.barrier.link || this.barrier.state === "safe") { this.stats.blockedByFault++; return; }
    this.flow.openCmd = this.ports.newId("open");
    this.enter("opening");
    this.ports.toBarrier("OPEN", { cmd: this.flow.openCmd, session });
    this.ports.toExit("OPENING", { session });
    if (this.barrier.state === "open") {
      this.flow.openedSent = true;
      this.enter("open");
      this.ports.toExit("OPENED", { session });
    }
  }

  private raise(code: string, detail: string): void {
    const fresh = this.barrier.fault !== code.slice(0, 16);
    this.barrier.fault = code.slice(0, 16);
    this.enter("fault");
    if (fresh) {
      this.ports.emit("sensorError", { event_id: this.ports.newId("ev"), lane_id: this.laneId, code: code.slice(0, 32), severity: "fault", detail });
      this.ports.toExit("LANE_FAULT", { code: code.slice(0, 16) });
    }
  }

  private endFlow(): void {
    this.flow = FRESH();
    if (this.phase !== "fault") this.enter(this.terminal.present ? "identifying" : "idle");
  }

  private publishState(): void {
    const s = this.snapshot();
    this.state.publish({
      lane_id: this.laneId, exit_state: s.exit_state, barrier_state: s.barrier_state, barrier_pos: s.barrier_pos, present: s.present,
      ...(s.session_id ? { session_id: s.session_id } : {}), ...(s.fault ? { fault: s.fault } : {}),
    });
  }
}
