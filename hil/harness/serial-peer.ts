/**
 * The far end of a board's serial link, for tests and the HIL harness: a StreamLink
 * (host/link/stream-link.ts) on a real serial device, driven by the same clock as the simulated
 * board (ticked by the test, not by timers), with a transcript of every frame and `waitFor` to
 * expect one. Secret fields (PINs) are masked in the transcript, as in every log.
 */
import { openSerialStream } from "../../host/link/streams";
import { StreamLink } from "../../host/link/stream-link";
import type { BoardClock } from "../../firmware/common/io/board-host";
import { decodeFrame, type Fields } from "../../firmware/common/link/frame";
import { describeMessage } from "../../firmware/common/link/messages";
import type { Identity, LinkSession, LinkTiming } from "../../firmware/common/link/session";

export interface ReceivedMessage {
  type: string;
  fields: Fields;
  at: number;
}

export interface SerialPeerOptions {
  path: string;
  clock: BoardClock;
  self?: Identity;
  receives?: "up" | "down";
  timing?: Partial<LinkTiming>;
  baudRate?: number;
  /** Called with every accepted message as it arrives (besides `messages` and the waiters). */
  onMessage?: (message: ReceivedMessage) => void;
}

export class SerialPeer {
  readonly session: LinkSession;
  /** Every accepted message, in order. */
  readonly messages: ReceivedMessage[] = [];
  /** Every line in and out, secrets masked: the DUT log. */
  readonly transcript: string[] = [];
  readonly hellos: Fields[] = [];
  /** The last encoded line this peer wrote for each message type (to replay a retransmission). */
  readonly lastLineOf = new Map<string, string>();
  /** While muted the peer neither sends nor receives: a cut cable, seen from the board. */
  muted = false;
  /** Lines actually written to the port, and lines that arrived from it (muted or not): with the
   *  board's own counters they tell when nothing is in flight (see `inFlight`). */
  sentLines = 0;
  arrivedLines = 0;
  private lostToBoard = 0;
  private lostFromBoard = 0;
  private readonly link: StreamLink;
  private waiters: (() => void)[] = [];

  private constructor(private readonly options: SerialPeerOptions, stream: Awaited<ReturnType<typeof openSerialStream>>) {
    this.link = new StreamLink(stream, {
      self: options.self ?? { kind: "gateway", fw: "test-peer", boot: 1 },
      receives: options.receives ?? "up",
      timing: options.timing,
      now: () => options.clock.now(),
      ticking: false,
      pass: (direction) => {
        if (direction === "rx") this.arrivedLines++;
        return !this.muted;
      },
      onLine: (direction, line) => {
        if (direction === "tx") {
          const decoded = decodeFrame(line);
          if (decoded.ok) this.lastLineOf.set(decoded.frame.type, line);
        }
        this.log(direction, line);
        if (direction === "tx") this.sentLines++;
        else this.wake();
      },
      onMessage: (type, fields, at) => {
        const message = { type, fields, at };
        this.messages.push(message);
        options.onMessage?.(message);
        this.wake();
      },
      onPeerHello: (fields) => { this.hellos.push(fields); this.wake(); },
    });
    this.session = this.link.session;
  }

  static async open(options: SerialPeerOptions): Promise<SerialPeer> {
    const peer = new SerialPeer(options, await openSerialStream(options.path, options.baudRate ?? 115200));
    peer.link.start();
    return peer;
  }

  send(type: string, fields: Fields = {}): void {
    this.link.send(type, fields);
  }

  /** Write a raw line as is (for replays and corrupted frames). */
  writeRaw(line: string): void {
    this.log("tx", line);
    this.sentLines++;
    this.link.writeRaw(line);
  }

  /** Wait (real time, at most `timeoutMs`) until every line each side wrote has reached the
   *  other: `boardRx`/`boardTx` are the board's line counters. Makes virtual-time tests
   *  independent of machine load. Returns false if lines were still in flight at the deadline. */
  async settle(board: () => { rxFrames: number; txFrames: number }, timeoutMs = 3000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const b = board();
      if (b.rxFrames + this.lostToBoard >= this.sentLines && this.arrivedLines + this.lostFromBoard >= b.txFrames) return true;
      if (Date.now() > deadline) return false;
      await new Promise((r) => setImmediate(r));
    }
  }

  /** Lines written while the other end's port was not open yet (or before a board reset) never
   *  arrive: call this once both ends are up to count them as lost, not in flight. */
  markBaseline(board: { rxFrames: number; txFrames: number }): void {
    this.lostToBoard = this.sentLines - board.rxFrames;
    this.lostFromBoard = board.txFrames - this.arrivedLines;
  }

  tick(): void {
    this.link.tick();
  }

  /** Wait (real time) for a message matching type and fields, accepted after index `from`. */
  async waitFor(type: string, fields: Partial<Fields> = {}, opts: { from?: number; timeoutMs?: number } = {}): Promise<ReceivedMessage> {
    const deadline = Date.now() + (opts.timeoutMs ?? 3000);
    for (;;) {
      const found = this.messages.slice(opts.from ?? 0).find((m) => m.type === type && Object.entries(fields).every(([k, v]) => m.fields[k] === v));
      if (found) return found;
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(`timed out waiting for ${describeMessage(type, fields as Fields)}; last frames:\n  ${this.transcript.slice(-12).join("\n  ")}`);
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 50));
        this.waiters.push(() => { clearTimeout(t); resolve(); });
      });
    }
  }

  /** Messages of a type (optionally after index `from`). */
  of(type: string, from = 0): ReceivedMessage[] {
    return this.messages.slice(from).filter((m) => m.type === type);
  }

  async close(): Promise<void> {
    await this.link.close();
  }

  private log(direction: "rx" | "tx", line: string): void {
    const decoded = decodeFrame(line);
    const text = decoded.ok ? `${decoded.frame.seq} ${describeMessage(decoded.frame.type, decoded.frame.fields)}` : `!! ${JSON.stringify(line.slice(0, 80))} (${decoded.error})`;
    this.transcript.push(`${direction} ${text}`);
    if (this.transcript.length > 2000) this.transcript.shift();
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }
}
