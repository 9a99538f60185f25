/**
 * The outbox relay: streams undelivered entries from disk, in order, to the cloud broker with
 * QoS ≥ 1, keeps at most `inflight` unacknowledged, and advances the outbox's delivery
 * watermark only over a contiguous prefix of acknowledged entries (PUBACK / PUBCOMP).
 *
 * While the link is down it publishes nothing (so memory stays bounded: MQTT.js would
 * otherwise queue everything), entries accumulate on disk, and it resumes from where it was
 * when the link comes back (MQTT.js re-sends its own in-flight ones first, in order).
 * A transient publish error rewinds to the watermark (re-sends: consumers de-duplicate by event
 * id); a permanent refusal by the broker (bad topic, payload too large…) is logged and counted
 * as dead-lettered so that one poisoned entry cannot block the queue forever.
 */
import type { Logger } from "../../host/log";
import { silentLogger } from "../../host/log";
import type { OutboxCursor, OutboxEntry, RelaySource } from "../outbox/outbox";

/** MQTT v5 reason codes that will not change on a retry ([MQTT-3.4.2.1] PUBACK reason codes). */
const PERMANENT_REASON_CODES = new Set([0x90 /* topic name invalid */, 0x95 /* packet too large */, 0x99 /* payload format invalid */]);

export interface RelayOptions {
  inflight: number;
  logger?: Logger;
  onDelivered?: (count: number) => void;
  onDeadLetter?: (entry: OutboxEntry, err: Error) => void;
  /** Wait before re-sending after a transient error (ms, default 1000). */
  retryDelayMs?: number;
}

interface Slot {
  seq: number;
  settled: boolean;
}

export class OutboxRelay {
  private cursor: OutboxCursor;
  private inflight: Slot[] = [];
  private connected = false;
  private stopped = false;
  private rewindPending = false;
  private window: number;
  private wakeScheduled = false;
  private wakeUp: (() => void) | undefined;
  private readonly unlisten: () => void;
  private readonly loop: Promise<void>;
  private readonly log: Logger;

  constructor(
    private readonly outbox: RelaySource,
    private readonly publish: (entry: OutboxEntry) => Promise<void>,
    private readonly opts: RelayOptions,
  ) {
    this.log = (opts.logger ?? silentLogger).child({ part: "relay" });
    this.window = opts.inflight;
    this.cursor = outbox.cursor();
    this.unlisten = outbox.onDurable(() => this.wake());
    this.loop = this.run();
  }

  get inflightCount(): number {
    return this.inflight.length;
  }

  /** Change the in-flight window (the bridge caps it at the broker's Receive Maximum). */
  setWindow(n: number): void {
    this.window = Math.max(1, n);
    this.wake();
  }

  setConnected(up: boolean): void {
    this.connected = up;
    this.wake();
  }

  /** Stop publishing; in-flight entries stay undelivered on disk unless already acknowledged. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.unlisten();
    this.wake();
    await this.loop;
    await this.cursor.close();
  }

  private wake(): void {
    const w = this.wakeUp;
    this.wakeUp = undefined;
    w?.();
  }

  private sleep(): Promise<void> {
    return new Promise((resolve) => {
      this.wakeUp = resolve;
    });
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      try {
        if (this.rewindPending) {
          if (this.inflight.length > 0) {
            await this.sleep();
            continue;
          }
          await new Promise((r) => setTimeout(r, this.opts.retryDelayMs ?? 1000));
          await this.cursor.close();
          this.cursor = this.outbox.cursor(this.outbox.doneSeq);
          this.rewindPending = false;
          this.log.info({ from_seq: this.outbox.doneSeq + 1 }, "re-sending from the delivery watermark");
        }
        if (!this.connected || this.inflight.length >= this.window) {
          await this.sleep();
          continue;
        }
        const sleeping = this.sleep(); // armed before reading, so a durable append in between is not missed
        const entries = await this.cursor.next(this.window - this.inflight.length);
        if (entries.length === 0) {
          await sleeping;
          continue;
        }
        this.wake();
        for (const e of entries) this.send(e);
      } catch (err) {
        this.log.error({ err: (err as Error).message }, "outbox relay error; retrying");
        this.rewindPending = true;
      }
    }
  }

  private send(entry: OutboxEntry): void {
    const slot: Slot = { seq: entry.seq, settled: false };
    this.inflight.push(slot);
    this.publish(entry).then(
      () => this.settle(slot),
      (err: Error & { code?: number }) => {
        if (typeof err.code === "number" && PERMANENT_REASON_CODES.has(err.code)) {
          this.log.error({ seq: entry.seq, id: entry.id, topic: entry.topic, err: err.message }, "cloud broker refused an outbox entry permanently: dead-lettered");
          this.opts.onDeadLetter?.(entry, err);
          this.settle(slot);
          return;
        }
        this.log.warn({ seq: entry.seq, err: err.message }, "outbox publish failed; will re-send from the watermark");
        this.rewindPending = true;
        slot.settled = false;
        this.inflight = this.inflight.filter((s) => s !== slot);
        this.wake();
      },
    );
  }

  private settle(slot: Slot): void {
    slot.settled = true;
    let last: number | undefined;
    let n = 0;
    while (this.inflight.length > 0 && this.inflight[0].settled) {
      last = this.inflight.shift()!.seq;
      n++;
    }
    if (last !== undefined && !this.rewindPending) {
      this.outbox.markDone(last);
      this.opts.onDelivered?.(n);
    }
    this.wakeAfterIo();
  }

  /**
   * Refill the window once the PUBACKs of this event-loop turn are all in: one socket read
   * usually holds several, and a refill per PUBACK would send one small TCP write each (every
   * write wakes the broker, which on a loaded machine runs on our core meanwhile).
   */
  private wakeAfterIo(): void {
    if (this.wakeScheduled) return;
    this.wakeScheduled = true;
    setImmediate(() => {
      this.wakeScheduled = false;
      this.wake();
    });
  }
}
