/**
 * One end of a serial link (ARCHITECTURE §2): acknowledged frames with bounded retransmission,
 * de-duplication by sequence number, HELLO re-synchronisation, heartbeats and link-down
 * detection. Pure logic: time comes in as `now` (ms) and bytes go out through `write`, so the
 * same class runs on XS (driven by a Timer and ECMA-419 Serial), on Node over `serialport`,
 * and in tests on a virtual clock. Memory is bounded: a fixed-capacity transmit ring and one
 * fixed receive line buffer.
 */
import { decodeFrame, encodeFrame, type Fields } from "./frame";
import { LineBuffer } from "./line-buffer";
import { MAX_SEQ, PROTOCOL_VERSION, SEQ_WINDOW } from "./limits";
import { MESSAGES, validateMessage, type BoardKind } from "./messages";

export interface LinkTiming {
  /** A heartbeat goes out this often. */
  heartbeatMs: number;
  /** Silence longer than this (no valid frame at all) means the link is down. */
  linkTimeoutMs: number;
  /** First retransmission delay; doubles at each retry up to maxBackoffMs, also while the link
   *  is down (back to the first delay when it comes up). */
  retransmitMs: number;
  maxBackoffMs: number;
  /** Retransmissions of one frame while the link is up before it is given up (and counted). */
  maxRetries: number;
}

export const DEFAULT_TIMING: Readonly<LinkTiming> = Object.freeze({
  heartbeatMs: 1000,
  linkTimeoutMs: 3500,
  retransmitMs: 150,
  maxBackoffMs: 2000,
  maxRetries: 6,
});

export interface LinkStats {
  rxFrames: number;
  rxAccepted: number;
  rxDuplicate: number;
  rxCrc: number;
  rxSyntax: number;
  rxOverlong: number;
  rxUnknown: number;
  rxInvalid: number;
  rxOutOfWindow: number;
  txFrames: number;
  txRetransmits: number;
  txGaveUp: number;
  txQueueFull: number;
  /** Lines the serial refused (no room, or its write threw): not written, not in txFrames. */
  txDropped: number;
}

export interface Identity {
  kind: BoardKind;
  fw: string;
  boot: number;
  lane?: string;
  /** The lane controller's role (exit or entry), said in its HELLO. */
  role?: "exit" | "entry";
}

export interface LinkOptions {
  self: Identity;
  /** Which frames this end receives: a board receives "down", the gateway "up". */
  receives: "up" | "down";
  /** Writes one encoded line, LF included. Returns false, or throws, if the line was not
   *  written (the output is backed up): the session drops it and counts it (`txDropped`). */
  write: (line: string) => void | boolean;
  /** Every accepted message, once (duplicates are acknowledged but not delivered). If it
   *  returns a promise, the reliable frame is acknowledged only once the promise resolves
   *  (the gateway makes the event durable first); a rejected promise is never acknowledged,
   *  so the sender retransmits and finally gives up and counts it. */
  onMessage: (type: string, fields: Fields, now: number) => void | PromiseLike<unknown>;
  /** The peer (re)started or answered our HELLO: re-synchronise application state. */
  onPeerHello?: (fields: Fields, now: number) => void;
  onLinkChange?: (up: boolean, now: number) => void;
  /** A reliable frame was retransmitted maxRetries times without acknowledgement. */
  onGiveUp?: (type: string, fields: Fields) => void;
  /** A line was refused; for logs and the HIL harness. */
  onReject?: (reason: keyof LinkStats, detail: string) => void;
  timing?: Partial<LinkTiming>;
  /** Capacity of the transmit ring (reliable frames awaiting acknowledgement). */
  queueCapacity?: number;
}

export class LinkSession {
  readonly stats: LinkStats = {
    rxFrames: 0, rxAccepted: 0, rxDuplicate: 0, rxCrc: 0, rxSyntax: 0, rxOverlong: 0, rxUnknown: 0,
    rxInvalid: 0, rxOutOfWindow: 0, txFrames: 0, txRetransmits: 0, txGaveUp: 0, txQueueFull: 0,
    txDropped: 0,
  };
  readonly timing: LinkTiming;
  private readonly options: LinkOptions;
  private readonly lines: LineBuffer;

  // Transmit ring: encoded line, sequence number, type, state, attempts and due time of each
  // reliable frame not yet acknowledged. At most one frame is "sent" (awaiting receipt) at a
  // time, so the peer never sees a gap; frames the peer holds (received, final ACK deferred)
  // do not block the next one.
  private readonly ringLine: string[];
  private readonly ringSeq: Uint16Array;
  private readonly ringType: string[];
  private readonly ringFields: Fields[];
  private readonly ringState: Uint8Array;
  private readonly ringAttempts: Uint8Array;
  /** Transmissions since the last reset, for the backoff: unlike ringAttempts (which counts
   *  towards giving up, so only while the link is up) it grows while the link is down too. */
  private readonly ringBackoff: Uint8Array;
  private readonly ringDueAt: Float64Array;
  private head = 0;
  private count = 0;
  private nextSeq = 1;

  // Receive side.
  private synced = false;
  private lastRxSeq = 0;
  private peerBoot = -1;
  private lastRxAt = 0;
  private up = false;
  /** Sequence numbers whose acknowledgement waits for the application (bounded: see MAX_HELD). */
  private readonly ackPending: number[] = [];
  /** Sequence numbers the application failed to accept: their retransmissions are not acknowledged. */
  private readonly ackRefused: number[] = [];
  /** The peer announced (HELLO hold=1) that it understands `ACK hold=1`. */
  private peerHolds = false;
  /** Counts peer HELLOs: a deferred ACK owed to an earlier incarnation of the peer is dropped. */
  private rxEpoch = 0;
  private downAnnounced = false;
  private heartbeatDueAt = 0;
  private started = false;

  constructor(options: LinkOptions) {
    this.options = options;
    this.timing = { ...DEFAULT_TIMING, ...options.timing };
    const capacity = options.queueCapacity ?? 16;
    this.ringLine = new Array<string>(capacity).fill("");
    this.ringSeq = new Uint16Array(capacity);
    this.ringType = new Array<string>(capacity).fill("");
    this.ringFields = new Array<Fields>(capacity).fill({});
    this.ringState = new Uint8Array(capacity);
    this.ringAttempts = new Uint8Array(capacity);
    this.ringBackoff = new Uint8Array(capacity);
    this.ringDueAt = new Float64Array(capacity);
    this.lines = new LineBuffer();
  }

  get linkUp(): boolean { return this.up; }
  get pending(): number { return this.count; }

  /** Announce ourselves (HELLO) and start the heartbeat and link-timeout clocks. */
  start(now: number): void {
    this.started = true;
    this.lastRxAt = now;
    this.heartbeatDueAt = now + this.timing.heartbeatMs;
    this.sendHello(now, false);
  }

  /** Queue a reliable message or write an unreliable one now. Returns false (and counts it) if
   *  the transmit ring is full. Throws on a message that breaks the catalogue: that is a bug. */
  send(type: string, fields: Fields, now: number): boolean {
    const spec = MESSAGES[type];
    if (spec === undefined) throw new Error(`link: unknown message type ${type}`);
    const check = validateMessage(type, spec.reliable ? 1 : 0, fields);
    if (!check.ok) throw new Error(`link: ${type} does not match the catalogue: ${check.detail}`);
    if (!spec.reliable) {
      this.writeLine(encodeFrame({ seq: 0, type, fields }));
      return true;
    }
    if (this.count === this.ringLine.length) {
      this.stats.txQueueFull++;
      return false;
    }
    const seq = this.nextSeq;
    this.nextSeq = seq === MAX_SEQ ? 1 : seq + 1;
    const slot = (this.head + this.count) % this.ringLine.length;
    this.ringLine[slot] = encodeFrame({ seq, type, fields });
    this.ringSeq[slot] = seq;
    this.ringType[slot] = type;
    this.ringFields[slot] = fields;
    this.ringState[slot] = QUEUED;
    this.ringAttempts[slot] = 0;
    this.ringBackoff[slot] = 0;
    this.ringDueAt[slot] = now;
    this.count++;
    this.pumpTransmit(now);
    return true;
  }

  /** Drop every frame still waiting for acknowledgement (e.g. commands made stale by a reset). */
  clearQueue(): void {
    this.count = 0;
  }

  receiveBytes(bytes: Uint8Array, now: number): void {
    const before = this.lines.overlong;
    this.lines.push(bytes, (line) => this.receiveLine(line, now));
    const overlong = this.lines.overlong - before;
    if (overlong > 0) {
      this.stats.rxFrames += overlong;
      this.stats.rxOverlong += overlong;
      this.options.onReject?.("rxOverlong", "line over the frame limit");
    }
  }

  receiveLine(line: string, now: number): void {
    this.stats.rxFrames++;
    const decoded = decodeFrame(line);
    if (!decoded.ok) {
      const counter = decoded.error === "crc" ? "rxCrc" : decoded.error === "overlong" ? "rxOverlong" : "rxSyntax";
      this.stats[counter]++;
      this.options.onReject?.(counter, decoded.detail);
      return;
    }
    const { seq, type, fields } = decoded.frame;
    const valid = validateMessage(type, seq, fields);
    if (!valid.ok) {
      const counter = valid.reason === "unknown" ? "rxUnknown" : "rxInvalid";
      this.stats[counter]++;
      this.options.onReject?.(counter, `${type}: ${valid.detail}`);
      return;
    }
    const spec = MESSAGES[type];
    if (spec.dir !== "both" && spec.dir !== this.options.receives) {
      this.stats.rxInvalid++;
      this.options.onReject?.("rxInvalid", `${type} does not travel this way`);
      return;
    }

    // A valid frame, whatever it is, proves the link alive.
    this.lastRxAt = now;
    if (!this.up) {
      this.up = true;
      this.downAnnounced = false;
      this.restartBackoff(now);
      this.options.onLinkChange?.(true, now);
    }

    if (type === "ACK") {
      const acked = Number(fields.ack);
      const cap = this.ringLine.length;
      for (let i = 0; i < this.count; i++) {
        const slot = (this.head + i) % cap;
        const state = this.ringState[slot];
        if (this.ringSeq[slot] !== acked || (state !== SENT && state !== HELD)) continue;
        if (fields.hold === "1") {
          // Received, final ACK deferred (the peer makes it durable first): keep it, probe it
          // slowly, and let the next frame go. A hold answering a probe says the peer is alive
          // and still on it: the probe was answered, so it does not count towards giving up.
          if (state === HELD) {
            this.ringAttempts[slot] = 0;
            return;
          }
          this.ringState[slot] = HELD;
          this.ringAttempts[slot] = 0;
          this.ringDueAt[slot] = now + this.timing.maxBackoffMs;
        } else {
          this.ringState[slot] = DONE;
        }
        this.popDone();
        this.pumpTransmit(now);
        return;
      }
      return;
    }
    if (!spec.reliable) {
      this.stats.rxAccepted++;
      this.options.onMessage(type, fields, now);
      return;
    }

    if (type === "HELLO") {
      const boot = Number(fields.boot);
      // Only a repeated answer (re=1) is a duplicate. A peer HELLO without re=1 is a re-sync
      // whatever its numbers: a gateway restarted with an equal boot count starts again at seq 1,
      // and if its last reliable frame before the restart was its own HELLO (seq 1), the board
      // took the new one for a copy, only acknowledged it and never re-announced its state.
      // Re-syncing on a true copy (our ACK was lost) costs one more announcement, nothing more.
      if (this.synced && boot === this.peerBoot && seq === this.lastRxSeq && fields.re === "1") {
        this.stats.rxDuplicate++;
        this.ack(seq);
        return;
      }
      // The peer answering our HELLO (re=1) from the incarnation we already know: its numbering
      // goes on and it lost nothing, so what is owed to it stays owed and nothing is re-sent.
      // (A restarted peer's first frame is its own HELLO, without re=1.) Treated as a restart,
      // the final ACK of a frame it holds was never sent: the frame stayed at the head of its
      // ring, the next 15 filled it, and the one after (an EXITED) was dropped.
      const answer = this.synced && boot === this.peerBoot && fields.re === "1";
      this.synced = true;
      this.lastRxSeq = seq;
      this.peerBoot = boot;
      this.peerHolds = fields.hold === "1";
      if (!answer) {
        // A new peer incarnation: acknowledgements still owed to the previous one must not be
        // sent (its sequence numbers restart and would acknowledge frames never received).
        this.rxEpoch++;
        this.ackPending.length = 0;
        this.ackRefused.length = 0;
      }
      this.ack(seq);
      this.stats.rxAccepted++;
      if (!answer) this.resendHeld(now);
      // Answer a first HELLO with ours (re=1) so a restarted peer learns who we are; never answer
      // an answer, so two ends cannot ping-pong.
      if (fields.re !== "1") this.sendHello(now, true);
      this.options.onPeerHello?.(fields, now);
      return;
    }

    if (this.synced) {
      const ahead = (seq - this.lastRxSeq + MAX_SEQ) % MAX_SEQ;
      if (ahead === 0 || MAX_SEQ - ahead <= SEQ_WINDOW) {
        this.stats.rxDuplicate++;
        const pendingAt = this.ackPending.indexOf(seq);
        if (pendingAt >= 0) {
          if (this.peerHolds && pendingAt < MAX_HELD) this.ack(seq, true);
        } else if (this.ackRefused.indexOf(seq) < 0) {
          this.ack(seq);
        }
        return;
      }
      if (ahead > SEQ_WINDOW) {
        this.stats.rxOutOfWindow++;
        this.options.onReject?.("rxOutOfWindow", `${type} seq ${seq} after ${this.lastRxSeq}`);
        return;
      }
    }
    this.synced = true;
    this.lastRxSeq = seq;
    this.stats.rxAccepted++;
    const refusedAt = this.ackRefused.indexOf(seq);
    if (refusedAt >= 0) this.ackRefused.splice(refusedAt, 1); // a new frame reusing the number after a wrap
    const accepted = this.options.onMessage(type, fields, now);
    if (accepted && typeof accepted.then === "function") {
      this.ackPending.push(seq);
      // Tell a peer that understands it that the frame arrived, so it can send the next one
      // while this one is made durable; the final ACK follows. Bounded: past MAX_HELD pending
      // frames the peer waits, as a stop-and-wait peer always does.
      if (this.peerHolds && this.ackPending.length <= MAX_HELD) this.ack(seq, true);
      const epoch = this.rxEpoch;
      accepted.then(
        () => {
          if (epoch !== this.rxEpoch) return;
          this.settlePending(seq);
          this.ack(seq);
        },
        () => {
          if (epoch !== this.rxEpoch) return;
          this.settlePending(seq);
          this.ackRefused.push(seq);
          if (this.ackRefused.length > MAX_REFUSED) this.ackRefused.shift();
        },
      );
    } else {
      this.ack(seq);
    }
  }

  /** Heartbeats, link timeout and retransmissions. Call at nextDeadline() or more often. */
  tick(now: number): void {
    if (!this.started) return;
    if (!this.downAnnounced && now - this.lastRxAt >= this.timing.linkTimeoutMs) {
      this.up = false;
      this.downAnnounced = true;
      this.options.onLinkChange?.(false, now);
    }
    if (now >= this.heartbeatDueAt) {
      this.heartbeatDueAt = now + this.timing.heartbeatMs;
      this.writeLine(encodeFrame({ seq: 0, type: "HB", fields: {} }));
    }
    this.pumpTransmit(now);
  }

  /** The next time tick() has something to do. */
  nextDeadline(): number {
    let next = this.heartbeatDueAt;
    if (!this.downAnnounced) next = Math.min(next, this.lastRxAt + this.timing.linkTimeoutMs);
    const cap = this.ringLine.length;
    for (let i = 0; i < this.count; i++) {
      const slot = (this.head + i) % cap;
      const state = this.ringState[slot];
      if (state === DONE) continue;
      next = Math.min(next, this.ringDueAt[slot]);
      if (state !== HELD) break; // frames behind the one awaiting receipt are not due yet
    }
    return next;
  }

  private sendHello(now: number, reply: boolean): void {
    const { kind, fw, boot, lane, role } = this.options.self;
    const fields: Fields = { kind, fw, proto: String(PROTOCOL_VERSION), boot: String(boot) };
    if (lane !== undefined) fields.lane = lane;
    if (role !== undefined) fields.role = role;
    if (reply) fields.re = "1";
    fields.hold = "1";
    this.send("HELLO", fields, now);
  }

  private ack(seq: number, hold = false): void {
    this.writeLine(encodeFrame({ seq: 0, type: "ACK", fields: hold ? { ack: String(seq), hold: "1" } : { ack: String(seq) } }));
  }

  /** The peer (re)started: frames it held may never have been made durable, and its receive
   *  window restarts. Every frame not finally acknowledged goes again, in order, before anything
   *  queued after it (as a stop-and-wait sender would do). Nothing changes without held frames. */
  private resendHeld(now: number): void {
    const cap = this.ringLine.length;
    let held = false;
    for (let i = 0; i < this.count; i++) if (this.ringState[(this.head + i) % cap] === HELD) held = true;
    if (!held) return;
    for (let i = 0; i < this.count; i++) {
      const slot = (this.head + i) % cap;
      if (this.ringState[slot] === HELD || this.ringState[slot] === SENT) {
        this.ringState[slot] = QUEUED;
        this.ringAttempts[slot] = 0;
        this.ringBackoff[slot] = 0;
        this.ringDueAt[slot] = now;
      }
    }
    this.pumpTransmit(now);
  }

  private settlePending(seq: number): void {
    const at = this.ackPending.indexOf(seq);
    if (at >= 0) this.ackPending.splice(at, 1);
  }

  /** Drop acknowledged (or given-up) frames off the front of the ring. */
  private popDone(): void {
    while (this.count > 0 && this.ringState[this.head] === DONE) {
      this.head = (this.head + 1) % this.ringLine.length;
      this.count--;
    }
  }

  private giveUp(slot: number): void {
    this.ringState[slot] = DONE;
    this.stats.txGaveUp++;
    this.options.onGiveUp?.(this.ringType[slot], this.ringFields[slot]);
  }

  /** A serial whose output is backed up (the peer's end closed, a full UART buffer) refuses or
   *  throws. Neither may reach the caller: on XS an exception out of a Timer callback aborts the
   *  VM. The line is dropped and counted; a reliable frame stays in the ring and its
   *  retransmission brings it back once the line drains, and heartbeats are sent again anyway. */
  private writeLine(line: string): void {
    let written: void | boolean;
    try {
      written = this.options.write(line + "\n");
    } catch {
      written = false;
    }
    if (written === false) this.stats.txDropped++;
    else this.stats.txFrames++;
  }

  /** The link came back: the backoff starts over, and the frame awaiting receipt goes again
   *  within the first retransmission delay (while down its delay grew to maxBackoffMs). Not at
   *  once: the frame that brought the link up may be the peer's answer to it. */
  private restartBackoff(now: number): void {
    const cap = this.ringLine.length;
    for (let i = 0; i < this.count; i++) {
      const slot = (this.head + i) % cap;
      this.ringBackoff[slot] = 0;
      if (this.ringState[slot] === SENT) this.ringDueAt[slot] = Math.min(this.ringDueAt[slot], now + this.timing.retransmitMs);
    }
  }

  /** Wait before probing a held frame again: maxBackoffMs, but the first retransmission delay
   *  for the head of a ring at least half full (see pumpTransmit). */
  private heldProbeDelay(slot: number): number {
    return slot === this.head && this.count * 2 >= this.ringLine.length ? this.timing.retransmitMs : this.timing.maxBackoffMs;
  }

  private pumpTransmit(now: number): void {
    const cap = this.ringLine.length;
    // A held frame at the head keeps every frame behind it in the ring, acknowledged or not,
    // until its final ACK comes. Were that ACK lost (line noise), the slow probe would let the
    // ring fill and the next event be refused: once the ring is half full, a held head is
    // probed at the first retransmission delay instead.
    if (this.count > 0 && this.ringState[this.head] === HELD) {
      this.ringDueAt[this.head] = Math.min(this.ringDueAt[this.head], now + this.heldProbeDelay(this.head));
    }
    // Lines are written once the ring is consistent: a write may be answered synchronously.
    const out: string[] = [];
    for (let i = 0; i < this.count; i++) {
      const slot = (this.head + i) % cap;
      const state = this.ringState[slot];
      if (state === DONE || now < this.ringDueAt[slot]) {
        if (state === QUEUED || state === SENT) break; // the frame awaiting receipt is not due
        continue;
      }
      if (this.ringAttempts[slot] > this.timing.maxRetries && this.up) {
        // Given up; a queued frame behind it (due since it was queued) goes out now.
        this.giveUp(slot);
        continue;
      }
      if (this.ringAttempts[slot] > 0) this.stats.txRetransmits++;
      out.push(this.ringLine[slot]);
      // While the link is down the frame is kept and probed: events wait for the gateway
      // instead of being thrown away.
      if (this.up || this.ringAttempts[slot] === 0) this.ringAttempts[slot]++;
      if (this.ringBackoff[slot] < MAX_BACKOFF_STEPS) this.ringBackoff[slot]++;
      if (state === HELD) {
        // The peer has it; probe slowly for the final ACK (answered again once durable).
        this.ringDueAt[slot] = now + this.heldProbeDelay(slot);
        continue;
      }
      this.ringState[slot] = SENT;
      // The backoff grows while the link is down too: a board probing a closed line at the first
      // delay forever only fills its serial output (and wastes the peer's time when it returns).
      const backoff = this.timing.retransmitMs * Math.pow(2, this.ringBackoff[slot] - 1);
      this.ringDueAt[slot] = now + Math.min(backoff, this.timing.maxBackoffMs);
      break; // one frame awaiting receipt at a time: the peer never sees a gap
    }
    this.popDone();
    for (let i = 0; i < out.length; i++) this.writeLine(out[i]);
  }
}

/** Transmit ring slot states. */
const QUEUED = 0, SENT = 1, HELD = 2, DONE = 3;
/** Most frames this end lets a peer send ahead while their final ACKs wait for the application. */
const MAX_HELD = 8;
/** Doublings of the retransmission delay counted at most (maxBackoffMs caps it long before). */
const MAX_BACKOFF_STEPS = 11;
/** Refused sequence numbers remembered (their retransmissions are never acknowledged). */
const MAX_REFUSED = 8;
