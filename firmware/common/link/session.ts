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
  /** First retransmission delay; doubles at each retry up to maxBackoffMs. */
  retransmitMs: number;
  maxBackoffMs: number;
  /** Retransmissions of one frame while the link is up before it is given up (and counted). */
  maxRetries: number;
}

export const DEFAULT_TIMING: LinkTiming = {
  heartbeatMs: 1000,
  linkTimeoutMs: 3500,
  retransmitMs: 150,
  maxBackoffMs: 2000,
  maxRetries: 6,
};

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
}

export interface Identity {
  kind: BoardKind;
  fw: string;
  boot: number;
  lane?: string;
}

export interface LinkOptions {
  self: Identity;
  /** Which frames this end receives: a board receives "down", the gateway "up". */
  receives: "up" | "down";
  /** Writes one encoded line, LF included. */
  write: (line: string) => void;
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
  };
  readonly timing: LinkTiming;
  private readonly options: LinkOptions;
  private readonly lines: LineBuffer;

  // Transmit ring: encoded line, sequence number and type of each reliable frame in flight.
  private readonly ringLine: string[];
  private readonly ringSeq: Uint16Array;
  private readonly ringType: string[];
  private readonly ringFields: Fields[];
  private head = 0;
  private count = 0;
  private headAttempts = 0;
  private headDueAt = 0;
  private nextSeq = 1;

  // Receive side.
  private synced = false;
  private lastRxSeq = 0;
  private peerBoot = -1;
  private lastRxAt = 0;
  private up = false;
  /** Sequence number whose acknowledgement waits for the application (0 = none). */
  private ackPending = 0;
  /** Sequence number the application failed to accept: its retransmissions are not acknowledged. */
  private ackRefused = 0;
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
    this.count++;
    if (this.count === 1) {
      this.headAttempts = 0;
      this.headDueAt = now;
    }
    this.pumpTransmit(now);
    return true;
  }

  /** Drop every frame still waiting for acknowledgement (e.g. commands made stale by a reset). */
  clearQueue(): void {
    this.count = 0;
    this.headAttempts = 0;
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
      this.options.onLinkChange?.(true, now);
    }

    if (type === "ACK") {
      if (this.count > 0 && this.headAttempts > 0 && Number(fields.ack) === this.ringSeq[this.head]) {
        this.head = (this.head + 1) % this.ringLine.length;
        this.count--;
        this.headAttempts = 0;
        this.headDueAt = now;
        this.pumpTransmit(now);
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
      if (this.synced && boot === this.peerBoot && seq === this.lastRxSeq) {
        this.stats.rxDuplicate++;
        this.ack(seq);
        return;
      }
      this.synced = true;
      this.lastRxSeq = seq;
      this.peerBoot = boot;
      this.ack(seq);
      this.stats.rxAccepted++;
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
        if (seq !== this.ackPending && seq !== this.ackRefused) this.ack(seq);
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
    const accepted = this.options.onMessage(type, fields, now);
    if (accepted && typeof accepted.then === "function") {
      this.ackPending = seq;
      accepted.then(
        () => { if (this.ackPending === seq) this.ackPending = 0; this.ack(seq); },
        () => { if (this.ackPending === seq) this.ackPending = 0; this.ackRefused = seq; },
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
    if (this.count > 0) next = Math.min(next, this.headDueAt);
    return next;
  }

  private sendHello(now: number, reply: boolean): void {
    const { kind, fw, boot, lane } = this.options.self;
    const fields: Fields = { kind, fw, proto: String(PROTOCOL_VERSION), boot: String(boot) };
    if (lane !== undefined) fields.lane = lane;
    if (reply) fields.re = "1";
    this.send("HELLO", fields, now);
  }

  private ack(seq: number): void {
    this.writeLine(encodeFrame({ seq: 0, type: "ACK", fields: { ack: String(seq) } }));
  }

  private writeLine(line: string): void {
    this.stats.txFrames++;
    this.options.write(line + "\n");
  }

  private pumpTransmit(now: number): void {
    while (this.count > 0 && now >= this.headDueAt) {
      if (this.headAttempts > this.timing.maxRetries && this.up) {
        const type = this.ringType[this.head], fields = this.ringFields[this.head];
        this.head = (this.head + 1) % this.ringLine.length;
        this.count--;
        this.headAttempts = 0;
        this.stats.txGaveUp++;
        this.options.onGiveUp?.(type, fields);
        continue;
      }
      if (this.headAttempts > 0) this.stats.txRetransmits++;
      this.writeLine(this.ringLine[this.head]);
      // While the link is down the head frame is kept and probed at the longest backoff: events
      // wait for the gateway instead of being thrown away.
      if (this.up || this.headAttempts === 0) this.headAttempts++;
      const backoff = this.timing.retransmitMs * Math.pow(2, Math.min(this.headAttempts - 1, 10));
      this.headDueAt = now + Math.min(backoff, this.timing.maxBackoffMs);
      return;
    }
  }
}
