/**
 * Lane orchestration (ARCHITECTURE §4), one instance per lane: it hears the exit controller,
 * the barrier executor, the LPR camera and the cloud, and decides. Pure logic behind ports —
 * the gateway runtime wires the ports to serial links, the durable outbox and MQTT — so every
 * rule is testable without I/O.
 *
 * Rules enforced here:
 * - Two keys: OPEN goes to the barrier only when the cloud's authorisation (or an audited
 *   override, or the offline policy) AND the exit controller's AUTHORISED agree on the same
 *   session, and the vehicle is on the loop.
 * - Idempotence: a duplicated payment/success or barrier command acts once.
 * - Offline policy: without the cloud, trusted badges and exit PINs from the signed access list
 *   open (if the site policy allows), each decision recorded as an event that reaches the cloud
 *   audit after reconnection.
 * - Executor fault: automatic commands are blocked, the display says so, an alarm goes out,
 *   and only an operator reset clears it.
 * - Tickets need the cloud: a ticket QR (SPK1.) or the lost-ticket key goes to it (with the
 *   camera's plate read); offline the lane prices nothing and says so.
 */
import type { Fields } from "../../firmware/common/link/frame";
import type { Payload, TopicKey } from "../../contracts/mqtt-topics";
import type { AccessList } from "./access-list";
import { canEnter, type Phase } from "./phases";
import { FAILURE_TEXT, ascii, formatDuration } from "./lane-text";
import { LaneStatePublisher, OperatorCommands, displayFields } from "./lane-shared";
import { reservationCodeFromQr, ticketIdFromQr, validationCodeFromQr } from "../../contracts/ticket";
import { FRESH_FLOW, type DecidedBy, type Flow, type Identity, type LanePolicy, type LanePorts, type LaneSnapshot } from "./lane-types";

export type { Phase };
export type { DecidedBy, LanePolicy, LanePorts, LaneSnapshot };
export { ascii, formatDuration };
/** payment/success messages for no session the lane knows, kept for a controller's re-sync. */
const HELD_SUCCESSES = 16;
const HELD_SUCCESS_MS = 15 * 60_000;

export class LaneOrchestrator {
  private current: Phase = "idle";
  readonly stats = { duplicatePaymentSuccess: 0, duplicateCommands: 0, staleCloudMessages: 0, offlineDecisions: 0, denied: 0, blockedByFault: 0, refusedTransitions: 0 };
  private exit = { link: false, state: "idle", present: false };
  private barrier = { link: false, state: "closed", pos: 0, fault: undefined as string | undefined };
  private flow: Flow = FRESH_FLOW();
  private plate: { plate: string; at: number } | undefined;
  private cloudOnline = true;
  private redrivePending = false;
  /** session → when its payment/success came while the lane had no flow for it (a restarted gateway). */
  private readonly heldSuccesses = new Map<string, number>();
  private readonly commands: OperatorCommands;
  private readonly state: LaneStatePublisher;

  constructor(readonly laneId: string, private readonly ports: LanePorts, private readonly acl: AccessList, private readonly policy: LanePolicy) {
    this.commands = new OperatorCommands(laneId, ports);
    this.state = new LaneStatePublisher(ports);
  }

  get phase(): Phase { return this.current; }

  /** The one place the phase changes: only along ./phases.ts LANE_TRANSITIONS; any other move is refused, counted and logged. */
  private enter(to: Phase): void {
    if (!canEnter(this.current, to)) {
      this.stats.refusedTransitions++;
      this.ports.log?.(`lane ${this.laneId}: refused phase change ${this.current} → ${to}`);
      return;
    }
    this.current = to;
  }

  snapshot(): LaneSnapshot {
    return {
      lane_id: this.laneId, phase: this.phase, exit_state: this.exit.state, present: this.exit.present,
      exit_link: this.exit.link, barrier_link: this.barrier.link, barrier_state: this.barrier.state, barrier_pos: this.barrier.pos,
      fault: this.barrier.fault, session_id: this.flow.session, decided_by: this.flow.decidedBy, cloud_online: this.cloudOnline,
    };
  }

  // ------------------------------------------------------------------ links

  setCloudOnline(online: boolean): void {
    this.cloudOnline = online;
  }

  onExitLink(up: boolean): void {
    this.exit.link = up;
    this.publishState();
  }

  onBarrierLink(up: boolean): void {
    this.barrier.link = up;
    if (!up) this.raise("EXECUTOR_LINK", "fault", "barrier executor link down");
    this.publishState();
  }

  // ------------------------------------------------------------------ exit controller

  onExitMessage(type: string, f: Fields): void {
    switch (type) {
      case "PRESENCE": {
        const present = f.present === "1";
        // Re-sync reports repeat the current value: only a change is an event on the loop.
        const changed = present !== this.exit.present;
        this.exit.present = present;
        if (changed) this.ports.emit("present", { event_id: this.ports.newId("ev"), lane_id: this.laneId, present });
        if (present && this.phase === "idle") this.startIdentification();
        break;
      }
      case "STATE":
        this.onExitState(f.state, f.why, f.session);
        break;
      case "BADGE":
        this.identify({ method: "badge", value: f.uid });
        break;
      case "PIN":
        this.identifyByPin(f.pin);
        break;
      case "AUTHORISED":
        if (f.session !== this.flow.session) return;
        this.flow.controllerAuth = f.session;
        this.tryOpen();
        break;
      case "LEFT":
        this.ports.emit("exitLeft", { event_id: this.ports.newId("ev"), lane_id: this.laneId, ...(this.flow.session ? { session_id: this.flow.session } : {}) });
        this.endFlow();
        break;
      case "EXITED": {
        // A gateway restarted during the exit has no flow: the controller sends EXITED only
        // after an authorised exit whose boom opened, and names the session.
        const lostFlow = this.flow.session === undefined && f.session !== undefined;
        this.ports.emit("exitDone", {
          event_id: this.ports.newId("ev"), lane_id: this.laneId,
          ...(this.flow.session ?? f.session ? { session_id: this.flow.session ?? f.session } : {}),
          barrier_result: this.flow.openCmd || lostFlow ? "opened" : "not_opened",
          passed: this.flow.passed || this.flow.openCmd !== undefined || lostFlow,
          decided_by: this.flow.decidedBy ?? "cloud",
          ...(this.flow.identity ? { identity: this.flow.identity } : {}),
          ...(this.flow.operator ? { operator: this.flow.operator } : {}),
          ...(this.flow.reason ? { reason: this.flow.reason } : {}),
          ...(this.flow.decidedBy === "override" && this.flow.overrideCmd ? { cmd_id: this.flow.overrideCmd } : {}),
        });
        this.endFlow();
        break;
      }
      case "BUTTON":
        if (f.name === "lost") this.lostTicket();
        else this.ports.emit("sensorError", { event_id: this.ports.newId("ev"), lane_id: this.laneId, code: "HELP_CALL", severity: "info", detail: "driver pressed the help button" });
        break;
      case "SCAN":
        this.onScan(f.code);
        break;
      default:
        break;
    }
    this.publishState();
  }

  /** The exit controller (re)started: it lost its context, so the gateway re-drives the lane. */
  onExitHello(): void {
    if (this.phase === "awaiting_payment" && this.flow.payReq && this.exit.present) {
      // Waiting for payment before the reset: show the same request again.
      if (this.flow.identity) this.ports.toExit("IDENTIFY", { session: this.flow.session! });
      this.ports.toExit("PAY_REQ", this.flow.payReq);
    }
    if (this.flow.cloudAuth && this.flow.session && this.exit.present) {
      // Authorised before the reset: authorise again (the controller acts on it once).
      this.flow.controllerAuth = undefined;
      this.ports.toExit("IDENTIFY", { session: this.flow.session });
      this.ports.toExit("PAY_OK", { session: this.flow.session });
    }
    if (this.barrier.fault) this.ports.toExit("LANE_FAULT", { code: this.barrier.fault });
  }

  // ------------------------------------------------------------------ barrier executor

  onBarrierMessage(type: string, f: Fields): void {
    switch (type) {
      case "BARRIER": {
        const wasFault = this.barrier.state === "fault";
        this.barrier.state = f.state;
        this.barrier.pos = Number(f.pos);
        if (f.state === "fault") {
          this.raise(f.fault ?? "FAULT", "fault", `barrier executor fault ${f.fault ?? ""}`.trim());
        } else if (wasFault) {
          this.barrier.fault = undefined;
          this.ports.toExit("LANE_CLEAR", {});
          this.enter(this.exit.present ? "identifying" : "idle");
          this.flow = FRESH_FLOW();
        }
        // Leaving the safe state with both keys already given: open now.
        if (f.state !== "safe" && this.phase === "authorised") this.tryOpen();
        if (this.phase === "opening" && f.state === "open" && !this.flow.openedSent) {
          this.flow.openedSent = true;
          this.enter("open");
          this.ports.toExit("OPENED", { session: this.flow.session! });
        }
        break;
      }
      case "CMD_DONE": {
        this.commands.onCmdDone(f);
        if (f.cmd === this.flow.openCmd && f.result !== "ok") this.raise(f.why ?? "OPEN_REFUSED", "fault", `open refused: ${f.why ?? f.result}`);
        break;
      }
      case "PASSED":
        this.flow.passed = true;
        break;
      case "ALARM":
        this.ports.emit("sensorError", { event_id: this.ports.newId("ev"), lane_id: this.laneId, code: f.code, severity: "alarm", ...(f.detail ? { detail: f.detail } : {}) });
        break;
      default:
        break;
    }
    this.publishState();
  }

  // ------------------------------------------------------------------ site LAN and cloud

  onPlate(plate: string): void {
    this.plate = { plate, at: this.ports.now() };
    if (this.exit.present && this.phase !== "idle") this.flow.plate = plate;
    if (this.phase === "identifying" && this.exit.present && this.cloudOnline) this.identify({ method: "plate", value: plate });
  }

  onCloudMessage<K extends TopicKey>(key: K, payload: Payload<K>): void {
    const p = payload as Record<string, unknown>;
    if (p.lane_id !== undefined && p.lane_id !== this.laneId) return;
    switch (key) {
      case "paymentReq": {
        const m = payload as Payload<"paymentReq">;
        const otherSession = this.flow.session !== undefined && m.session_id !== this.flow.session;
        if (!this.exit.present || otherSession || !(this.phase === "identifying" || this.phase === "awaiting_cloud" || this.phase === "awaiting_payment")) {
          this.stats.staleCloudMessages++;
          return;
        }
        this.flow.session = m.session_id;
        this.enter("awaiting_payment");
        const fields: Fields = { session: m.session_id, amount: String(m.amount), currency: m.currency, url: m.pay_url ?? "" };
        if (m.duration !== undefined) fields.label = formatDuration(m.duration);
        this.flow.payReq = fields;
        this.ports.toExit("PAY_REQ", fields);
        break;
      }
      case "paymentSuccess": {
        const m = payload as Payload<"paymentSuccess">;
        if (this.flow.cloudAuth === m.session_id) { this.stats.duplicatePaymentSuccess++; return; }
        const expecting = this.phase === "awaiting_payment" || this.phase === "awaiting_cloud" || this.phase === "identifying";
        const ours = this.flow.session === m.session_id;
        // A success said again for a re-synced gateway (resync) is the cloud's word on a session
        // the lane follows, never the answer to an exit request: another car may be on the loop.
        if (!expecting || !this.exit.present || (this.flow.session !== undefined && !ours) || (m.resync && !ours)) {
          this.stats.staleCloudMessages++;
          // A gateway restarted mid-exit hears the success (the broker's kept one, or the cloud's
          // answer to its sync/req) before the controller has re-synced: kept until the
          // controller names the session again.
          if (this.flow.session === undefined) this.holdSuccess(m.session_id);
          return;
        }
        if (this.flow.session === undefined) {
          // zero fee: the cloud answered the exit request with success directly
          this.flow.session = m.session_id;
          this.ports.toExit("IDENTIFY", { session: m.session_id });
        }
        this.authorise(m.session_id, "cloud");
        break;
      }
      case "paymentFailed": {
        const m = payload as Payload<"paymentFailed">;
        if (this.phase !== "awaiting_payment" || m.session_id !== this.flow.session) { this.stats.staleCloudMessages++; return; }
        this.ports.toExit("PAY_FAIL", { session: m.session_id, reason: FAILURE_TEXT[m.reason] ?? "Paiement refuse" });
        break;
      }
      case "barrierCmd": {
        const m = payload as Payload<"barrierCmd">;
        if (!this.commands.firstTime(m.cmd_id)) { this.stats.duplicateCommands++; return; }
        this.operatorCommand(m.cmd_id, m.cmd, m.operator, m.reason, m.session_id);
        break;
      }
      case "displayText": {
        this.ports.toExit("DISPLAY", displayFields((payload as Payload<"displayText">).lines));
        break;
      }
      default:
        break;
    }
    this.publishState();
  }

  /** An operator's command, from the cloud (parking/barriere/cmd) or the site console offline. */
  operatorCommand(cmdId: string, cmd: "open" | "close" | "reset", operator: string, reason: string, session?: string): void {
    const ack = (result: "done" | "refused", detail?: string) => this.commands.ack(cmdId, result, detail);
    if (cmd === "reset" || cmd === "close") return this.commands.toExecutor(cmdId, cmd, operator);
    // open: an audited override is the cloud-side key; the controller still gives the second.
    if (!this.policy.operatorOverride && !this.cloudOnline) return ack("refused", "operator override disabled by site policy");
    if (this.barrier.fault) { this.stats.blockedByFault++; return ack("refused", `executor fault ${this.barrier.fault}`); }
    if (!this.exit.present) return ack("refused", "no vehicle on the exit loop");
    const sessionId = this.flow.session ?? session ?? `ovr-${cmdId}`.slice(0, 40);
    this.flow.session = sessionId;
    this.flow.operator = operator;
    this.flow.reason = reason;
    this.flow.overrideCmd = cmdId;
    if (!this.flow.identity) this.flow.identity = { method: "operator", value: operator };
    this.ports.toExit("IDENTIFY", { session: sessionId });
    this.authorise(sessionId, "override");
    ack("done");
  }

  // ------------------------------------------------------------------ internals

  private onExitState(state: string, why: string | undefined, session: string | undefined): void {
    const before = this.exit.state;
    this.exit.state = state;
    // The gateway restarted while the controller awaited payment: its re-sync names the session
    // the driver is paying, which the lane takes back (and acts on a success already heard).
    if (why === "resync" && state === "awaiting_payment" && session && this.flow.session === undefined && this.phase !== "fault") {
      this.flow = { ...FRESH_FLOW(), session };
      this.enter("awaiting_payment");
      const heard = this.heldSuccesses.get(session);
      this.heldSuccesses.delete(session);
      if (heard !== undefined && this.ports.now() - heard <= HELD_SUCCESS_MS) this.authorise(session, "cloud");
    }
    // The gateway restarted after the controller answered AUTHORISED but before the barrier was
    // told to open: the controller's key is given and named; the cloud's was lost with the old
    // process. The lane takes the session back and opens on the cloud's success for it — one
    // heard before, or the one the cloud says again in answer to the gateway's sync/req.
    if (why === "resync" && state === "authorised" && session && this.exit.present && this.phase !== "fault" && (this.flow.session === undefined || this.flow.session === session)) {
      if (this.flow.session === undefined) {
        this.flow = { ...FRESH_FLOW(), session };
        this.enter("awaiting_cloud");
        this.ports.log?.(`lane ${this.laneId}: the exit controller re-synced authorised for ${session}; opening on the cloud's success for it`);
      }
      this.flow.controllerAuth = session;
      const heard = this.heldSuccesses.get(session);
      this.heldSuccesses.delete(session);
      if (this.flow.cloudAuth === session) this.tryOpen();
      else if (heard !== undefined && this.ports.now() - heard <= HELD_SUCCESS_MS) this.authorise(session, "cloud");
    }
    // After a controller reset its loop debounce starts again: re-drive the lane once it has
    // seen the vehicle (state present), not before — an idle controller ignores the replay.
    if (why === "resync" && before !== state) this.redrivePending = true;
    if (this.redrivePending && (state === "present" || state === "identifying")) {
      this.redrivePending = false;
      this.onExitHello();
    }
    if (state === "restricted" || state === "idle") {
      if (this.phase !== "fault" && this.phase !== "opening" && this.phase !== "open") {
        if (state === "idle" && this.phase !== "idle" && !this.exit.present) this.endFlow();
      }
    }
  }

  private startIdentification(): void {
    this.flow = FRESH_FLOW();
    this.enter("identifying");
    if (this.barrier.fault) {
      this.ports.toExit("LANE_FAULT", { code: this.barrier.fault });
      return;
    }
    this.ports.toExit("IDENTIFY", { hint: this.cloudOnline ? "Lecture plaque..." : "Badge ou PIN" });
    const plate = this.plate;
    if (plate && this.ports.now() - plate.at <= this.policy.plateWindowMs) this.flow.plate = plate.plate;
    if (this.flow.plate && this.cloudOnline) this.identify({ method: "plate", value: this.flow.plate });
  }

  /** The lost-ticket key: the cloud prices its lost-ticket rule (from the plate's entry when it
   *  knows it) and answers payment/req for the session as for any exit request. */
  private lostTicket(): void {
    if (!this.exit.present || !(this.phase === "identifying" || this.phase === "awaiting_cloud")) return;
    // Offline the lane cannot price anything: no ticket-based exit without the cloud.
    if (!this.cloudOnline) return this.deny("Paiement impossible");
    this.enter("awaiting_cloud");
    this.ports.emit("exitLost", { event_id: this.ports.newId("ev"), lane_id: this.laneId, ...(this.flow.plate ? { plate: this.flow.plate } : {}) });
  }

  /** The lane's scanner: a ticket's or a reservation's QR identifies the vehicle; a merchant validation applies to the session being paid. */
  private onScan(code: string): void {
    const ticket = ticketIdFromQr(code);
    if (ticket) return this.identify({ method: "ticket", value: ticket });
    const reservation = reservationCodeFromQr(code);
    if (reservation) return this.identify({ method: "reservation", value: reservation });
    const validation = validationCodeFromQr(code);
    if (validation && this.phase === "awaiting_payment" && this.flow.session && this.exit.present && this.cloudOnline) {
      this.ports.emit("exitValidation", { event_id: this.ports.newId("ev"), lane_id: this.laneId, session_id: this.flow.session, code: validation });
      return;
    }
    // Anything else (or a validation with no payment to apply it to) changes nothing in the flow.
    this.ports.log?.(`lane ${this.laneId}: scanned code ignored in phase ${this.phase}`);
    if (this.phase === "identifying" && this.exit.present) this.ports.toExit("DENY", { reason: "Code non reconnu" });
  }

  private identify(identity: Identity): void {
    if (!this.exit.present || !(this.phase === "identifying" || this.phase === "awaiting_cloud")) return;
    if (this.barrier.fault) { this.stats.blockedByFault++; this.ports.toExit("LANE_FAULT", { code: this.barrier.fault }); return; }
    this.flow.identity = identity;
    if (this.cloudOnline) {
      this.enter("awaiting_cloud");
      // The camera's read goes along with another identity: the cloud links the plate to the session.
      const plate = identity.method !== "plate" && this.flow.plate ? { plate: this.flow.plate } : {};
      this.ports.emit("exitReq", { event_id: this.ports.newId("ev"), lane_id: this.laneId, identity, ...plate });
      return;
    }
    // No pricing offline: a ticket leaves only through the cloud (or an operator's override).
    if (identity.method === "ticket") return this.deny("Paiement impossible");
    if (identity.method === "badge" && this.policy.trustedBadges && this.acl.trustedBadge(identity.value, this.ports.now())) {
      this.offlineExit("offline_badge");
    } else {
      this.deny(identity.method === "badge" ? "Badge non reconnu" : "Hors ligne: badge");
    }
  }

  private identifyByPin(pin: string): void {
    if (!this.exit.present || !(this.phase === "identifying" || this.phase === "awaiting_cloud")) return;
    const entry = this.acl.matchPin(pin, this.ports.now());
    if (this.cloudOnline) {
      // An exit PIN of the access list travels as its entry id (never the PIN); any other code
      // typed on the keypad is the ticket number the entry lane printed: the cloud finds the
      // session by it.
      return this.identify(entry ? { method: "pin", value: entry.id } : { method: "ticket", value: pin });
    }
    if (!entry) return this.deny("PIN inconnu");
    if (!this.policy.exitPins) return this.deny("PIN hors ligne refuse");
    this.flow.identity = { method: "pin", value: entry.id };
    this.offlineExit("offline_pin");
  }

  private offlineExit(by: "offline_badge" | "offline_pin"): void {
    this.stats.offlineDecisions++;
    const session = `off-${this.ports.newId(this.laneId)}`.slice(0, 40);
    this.flow.session = session;
    this.ports.log?.(`lane ${this.laneId}: offline exit by ${by} (${this.flow.identity?.value})`);
    this.ports.toExit("IDENTIFY", { session });
    this.authorise(session, by);
  }

  private authorise(session: string, by: DecidedBy): void {
    this.flow.cloudAuth = session;
    this.flow.decidedBy = by;
    this.enter("authorised");
    // A controller that re-synced as authorised for this session needs no PAY_OK (it would ignore it).
    if (this.flow.controllerAuth !== session) this.ports.toExit("PAY_OK", { session, ...(by === "cloud" ? {} : { ref: by }) });
    this.tryOpen();
  }

  private holdSuccess(session: string): void {
    this.heldSuccesses.delete(session);
    this.heldSuccesses.set(session, this.ports.now());
    if (this.heldSuccesses.size > HELD_SUCCESSES) this.heldSuccesses.delete(this.heldSuccesses.keys().next().value as string);
  }

  private deny(reason: string): void {
    this.stats.denied++;
    this.ports.toExit("DENY", { reason });
    this.enter("identifying");
    this.flow = { ...FRESH_FLOW(), plate: this.flow.plate }; // same car: its plate read still goes with a second try
  }

  /** Two keys, same session, vehicle present, executor healthy: then, and only then, OPEN. */
  private tryOpen(): void {
    const { cloudAuth, controllerAuth, session, openCmd } = this.flow;
    if (openCmd || !session || cloudAuth !== session || controllerAuth !== session || !this.exit.present) return;
    // A barrier in its safe state (the executor lost the core's heartbeat) takes no command.
    if (this.barrier.fault || !this.barrier.link || this.barrier.state === "safe") { this.stats.blockedByFault++; return; }
    this.flow.openCmd = this.ports.newId("open");
    this.enter("opening");
    this.ports.toBarrier("OPEN", { cmd: this.flow.openCmd, session });
    this.flow.openingSent = true;
    this.ports.toExit("OPENING", { session });
    if (this.barrier.state === "open") {
      this.flow.openedSent = true;
      this.enter("open");
      this.ports.toExit("OPENED", { session });
    }
  }

  private raise(code: string, severity: "alarm" | "fault", detail: string): void {
    const fresh = this.barrier.fault !== code;
    this.barrier.fault = code.slice(0, 16);
    this.enter("fault");
    if (fresh) {
      this.ports.emit("sensorError", { event_id: this.ports.newId("ev"), lane_id: this.laneId, code: code.slice(0, 32), severity, detail });
      this.ports.toExit("LANE_FAULT", { code: code.slice(0, 16) });
    }
  }

  private endFlow(): void {
    this.flow = FRESH_FLOW();
    if (this.phase !== "fault") this.enter(this.exit.present ? "identifying" : "idle");
  }

  private publishState(): void {
    const s = this.snapshot();
    this.state.publish({
      lane_id: this.laneId, exit_state: s.exit_state, barrier_state: s.barrier_state, barrier_pos: s.barrier_pos, present: s.present,
      ...(s.session_id ? { session_id: s.session_id } : {}), ...(s.fault ? { fault: s.fault } : {}),
    });
  }
}
