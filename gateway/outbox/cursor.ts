/**
 * The reading side of the outbox: what a segment is, what a cursor needs to read one (the
 * Outbox itself, or an OutboxMirror of it in the relay's thread), and the cursor. Kept apart
 * from the writer (outbox.ts) because both the Outbox and the OutboxMirror hand these out.
 */
import { open, type FileHandle } from "node:fs/promises";
import type { Logger } from "../../host/log";
import { decodeRecord, type OutboxEntry } from "./record";

/** A cursor reads this much of a segment at a time (bounded memory whatever the backlog). */
const READ_CHUNK = 64 * 1024;

export interface Segment {
  start: number;
  path: string;
  /** Size of a closed segment (the active one grows: see Outbox.active). */
  size: number;
}

/** What the relay (gateway/bridge/relay.ts) needs of an outbox: the Outbox itself, or an
 *  OutboxMirror of it in the relay's thread. Declared here, beside both, so that the outbox
 *  floor does not import up into the bridge. */
export interface RelaySource {
  readonly doneSeq: number;
  cursor(afterSeq?: number): OutboxCursor;
  onDurable(listener: () => void): () => void;
  markDone(seq: number): void;
}

/**
 * What a cursor reads: the segment files and how far each may be read. The Outbox itself, or
 * an OutboxMirror of it in the relay's thread (the files are shared, the bookkeeping is not).
 */
export interface SegmentSource {
  readonly segments: readonly Segment[];
  /** Size readers may read up to in a segment, and whether more may still be appended to it. */
  readLimit(start: number): { size: number; growing: boolean } | undefined;
  /** Corrupted records skipped by readers (never published). */
  corrupted: number;
}

/** How far a reader may read segment `start`: the active one up to its durable size (it grows), a closed one whole. */
export function segmentReadLimit(segments: readonly Segment[], active: { start: number; size: number } | undefined, start: number): { size: number; growing: boolean } | undefined {
  if (active && active.start === start) return { size: active.size, growing: true };
  const seg = segments.find((s) => s.start === start);
  return seg ? { size: seg.size, growing: false } : undefined;
}

/** The outbox's layout as another thread needs it to read the durable records (see OutboxMirror). */
export interface OutboxLayout {
  /** Every segment, closed ones with their final size. */
  segments: Segment[];
  /** The segment appends go to and its durable size (readers stop there). */
  active: { start: number; size: number } | undefined;
  doneSeq: number;
}

/**
 * Streams durable records in seq order from disk, a chunk at a time (bounded memory whatever
 * the backlog). Skips records ≤ its start and corrupted ones (counted, logged, never published).
 */
export class OutboxCursor {
  private start: number | undefined;
  private fh: FileHandle | undefined;
  private offset = 0;
  private carry: Buffer = Buffer.alloc(0);
  private buffered: OutboxEntry[] = [];
  private closed = false;

  constructor(
    private readonly ob: SegmentSource,
    private after: number,
    private readonly log: Logger,
  ) {}

  /** Seq of the last record returned (or the start point). */
  get position(): number {
    return this.after;
  }

  /** Up to `max` next durable records; [] when caught up (then wait with outbox.waitForData). */
  async next(max: number): Promise<OutboxEntry[]> {
    while (this.buffered.length === 0 && !this.closed) {
      if (!(await this.fill())) break;
    }
    return this.buffered.splice(0, max);
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.fh?.close().catch(() => undefined);
    this.fh = undefined;
  }

  /** Read one more chunk; false when there is nothing more right now. */
  private async fill(): Promise<boolean> {
    const segs = this.ob.segments;
    if (this.start === undefined) {
      // The segment holding after+1: the last one starting at or before it (else the first).
      let pick: number | undefined;
      for (const s of segs) if (s.start <= this.after + 1) pick = s.start;
      pick ??= segs[0]?.start;
      if (pick === undefined) return false;
      if (!(await this.openSegment(pick))) return false;
    }
    const limit = this.ob.readLimit(this.start!);
    // A deleted segment (compacted) keeps its size: the open descriptor still reads it.
    const size = limit?.size ?? (await this.fh!.stat()).size;
    if (this.offset < size) {
      const len = Math.min(READ_CHUNK, size - this.offset);
      const chunk = Buffer.allocUnsafe(len);
      const { bytesRead } = await this.fh!.read(chunk, 0, len, this.offset);
      this.offset += bytesRead;
      const data = this.carry.length > 0 ? Buffer.concat([this.carry, chunk.subarray(0, bytesRead)]) : chunk.subarray(0, bytesRead);
      let pos = 0;
      for (let nl = data.indexOf(0x0a, pos); nl >= 0; nl = data.indexOf(0x0a, pos)) {
        const rec = decodeRecord(data.toString("utf8", pos, nl));
        pos = nl + 1;
        if (!rec) {
          this.ob.corrupted++;
          this.log.error({ segment: this.start, offset: this.offset }, "corrupted outbox record skipped");
          continue;
        }
        if (rec.seq <= this.after) continue;
        this.after = rec.seq;
        this.buffered.push(rec);
      }
      this.carry = Buffer.from(data.subarray(pos));
      return true;
    }
    if (limit?.growing) return false; // caught up with the active segment
    // End of a closed segment: move on to the next one, if any.
    const next = segs.find((s) => s.start > this.start!);
    if (!next) return false;
    if (this.carry.length > 0) {
      this.ob.corrupted++;
      this.log.error({ segment: this.start }, "torn record at the end of a closed outbox segment skipped");
      this.carry = Buffer.alloc(0);
    }
    return this.openSegment(next.start);
  }

  private async openSegment(start: number): Promise<boolean> {
    await this.fh?.close().catch(() => undefined);
    const seg = this.ob.segments.find((s) => s.start === start);
    if (!seg) return false;
    try {
      this.fh = await open(seg.path, "r");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return false; // compacted meanwhile
      throw err;
    }
    this.start = start;
    this.offset = 0;
    this.carry = Buffer.alloc(0);
    return true;
  }
}
