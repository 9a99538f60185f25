/**
 * Durable store-and-forward outbox for site → cloud events (ARCHITECTURE §4 degraded modes, §8).
 *
 * Why the gateway keeps its own: aedes acknowledges QoS 1 before persisting, and MQTT.js stores
 * are memory-only or keyed by message id, so neither survives a `kill -9`.
 *
 * Layout in `dir` (plain files, nothing else):
 *   seg-<first seq, 16 digits>.log  append-only segments of records (record.ts: one CRC'd line each)
 *   done.log                        append-only delivery watermarks: "every seq ≤ N was PUBACKed"
 *   LOCK                            "<pid> <boot id>": one process per outbox (stale locks are taken over)
 *
 * Guarantees:
 *  - append() resolves only once the record is written AND fdatasync'ed (group commit: all the
 *    appends that arrive while one fsync runs share the next one);
 *  - readers (cursors) only ever see durable records, streamed from disk in bounded chunks;
 *  - markDone(seq) records the watermark; losing it (crash before it is written) only causes
 *    re-sends, never loss. Consumers de-duplicate by event id;
 *  - on open, a torn last record (kill -9 or power loss mid-write) is cut off; records that were
 *    acknowledged to a caller are never in the torn part because the fsync came first;
 *  - compaction: a segment whose every record is done is deleted (after the watermark is
 *    fsync'ed); a fully delivered active segment is rotated once it reaches `compactBytes`, so a
 *    long-running gateway with a healthy link keeps only a small file; done.log is rewritten when
 *    it grows.
 *
 * Beside it: cursor.ts (the reading side, shared with OutboxMirror) and segment-files.ts (file
 * names, the lock, whole writes, the recovery scan).
 */
import { mkdir, open, rename, unlink, type FileHandle } from "node:fs/promises";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { encodePayload, siteTopic, type Payload, type TopicKey } from "../../contracts/mqtt-topics";
import { silentLogger, type Logger } from "../../host/log";
import { OutboxCursor, segmentReadLimit, type OutboxLayout, type Segment, type SegmentSource } from "./cursor";
import { encodeRecord, type OutboxEntry } from "./record";
import { DONE_FILE, FILE_MODE, readWatermark, scanSegments, segName, syncDir, takeLock, writeAll } from "./segment-files";

export type { OutboxEntry } from "./record";
// The reading side lives in cursor.ts; these are re-exported so that the outbox has one entry point.
export { OutboxCursor, segmentReadLimit, type OutboxLayout, type RelaySource, type Segment, type SegmentSource } from "./cursor";

export interface OutboxOptions {
  dir: string;
  /** A segment is closed and a new one started past this size (default 4 MiB). */
  segmentBytes?: number;
  /** Rotate a fully delivered active segment once it is this big so it can be deleted (default 1 MiB). */
  compactBytes?: number;
  /** fdatasync before append() resolves (default true). */
  fsync?: boolean;
  logger?: Logger;
}

interface ActiveSegment {
  seg: Segment;
  fh: FileHandle;
  /** Bytes written and synced; readers never read past it. */
  size: number;
  /** Last seq in the segment (start - 1 when empty). */
  lastSeq: number;
}

interface Pending {
  entry: OutboxEntry;
  line: string;
  resolve: (e: OutboxEntry) => void;
  reject: (err: Error) => void;
}

const DONE_REWRITE_BYTES = 64 * 1024;
/** At most one delivery-watermark write per this many ms while deliveries keep coming. */
const WATERMARK_INTERVAL_MS = 25;

export class Outbox implements SegmentSource {
  readonly dir: string;
  private readonly segmentBytes: number;
  private readonly compactBytes: number;
  private readonly fsync: boolean;
  private readonly log: Logger;
  private readonly idPrefix = `ob${randomBytes(4).toString("hex")}`;
  /** Closed segments and the active one, by start seq. */
  segments: Segment[] = [];
  private active: ActiveSegment | undefined;
  private nextSeq = 1;
  private durableSeq = 0;
  private done = 0;
  private persistedDone = 0;
  private doneFh: FileHandle | undefined;
  private doneSize = 0;
  private queue: Pending[] = [];
  private writing: Promise<void> | undefined;
  private doneWriting: Promise<void> | undefined;
  private persistAgain = false;
  private lastDoneWriteAt = 0;
  private waiters = new Set<() => void>();
  private listeners = new Set<() => void>();
  private closed = false;
  private lockPath: string | undefined;
  /** Corrupted records skipped by readers (never published). */
  corrupted = 0;

  private constructor(opts: OutboxOptions) {
    this.dir = opts.dir;
    this.segmentBytes = opts.segmentBytes ?? 4 * 1024 * 1024;
    this.compactBytes = Math.min(opts.compactBytes ?? 1024 * 1024, this.segmentBytes);
    this.fsync = opts.fsync ?? true;
    this.log = (opts.logger ?? silentLogger).child({ part: "outbox" });
  }

  /** Open (or create) the outbox in `dir` and recover from whatever a crash left. */
  static async open(opts: OutboxOptions): Promise<Outbox> {
    const ob = new Outbox(opts);
    await mkdir(ob.dir, { recursive: true, mode: 0o700 });
    ob.lockPath = await takeLock(ob.dir);
    try {
      await ob.recover();
    } catch (err) {
      await unlink(ob.lockPath).catch(() => undefined);
      throw err;
    }
    return ob;
  }

  /** Last seq handed out. */
  get lastSeq(): number {
    return this.nextSeq - 1;
  }
  /** Last seq known to be on disk. */
  get lastDurableSeq(): number {
    return this.durableSeq;
  }
  /** Delivery watermark: every seq ≤ doneSeq has been acknowledged by the cloud broker. */
  get doneSeq(): number {
    return this.done;
  }
  /** Events not yet delivered (upper bound: seq gaps after a failed write count too). */
  get depth(): number {
    return Math.max(0, this.lastSeq - this.done);
  }

  /**
   * Append a site → cloud event: validated against the contract, then durably written.
   * Resolves once the record is on disk (fsync); only then may the producer acknowledge its
   * source (a board's frame, a site client's PUBACK).
   */
  append<K extends TopicKey>(key: K, payload: Payload<K>): Promise<OutboxEntry> {
    let json: string, topic: string;
    try {
      json = encodePayload(key, payload);
      const p = payload as { lane_id?: string; event_id?: string };
      topic = siteTopic(key, p.lane_id);
      return this.appendValidated(topic, json, p.event_id);
    } catch (err) {
      return Promise.reject(err as Error);
    }
  }

  /** Append a payload the caller has already validated (the bridge does, with parsePayload). */
  appendValidated(topic: string, payloadJson: string, eventId?: string): Promise<OutboxEntry> {
    if (this.closed) return Promise.reject(new Error("outbox is closed"));
    const seq = this.nextSeq++;
    const entry: OutboxEntry = { seq, id: eventId ?? `${this.idPrefix}-${seq}`, topic, ts: Date.now(), payload: payloadJson };
    return new Promise<OutboxEntry>((resolve, reject) => {
      this.queue.push({ entry, line: encodeRecord(entry), resolve, reject });
      this.writing ??= this.writeLoop();
    });
  }

  /** Resolves after the next durable append (or at once if records past `afterSeq` are already durable), or on close. */
  waitForData(afterSeq: number): Promise<void> {
    if (this.durableSeq > afterSeq || this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      const w = () => {
        this.waiters.delete(w);
        resolve();
      };
      this.waiters.add(w);
    });
  }

  /** Call `listener` after every durable batch (and on close); returns the unsubscribe function. */
  onDurable(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** A reader over the durable records with seq > afterSeq (default: the undelivered ones), in order. */
  cursor(afterSeq: number = this.done): OutboxCursor {
    return new OutboxCursor(this, afterSeq, this.log);
  }

  /**
   * Everything up to and including `seq` has been delivered. Persisted (coalesced, in the
   * background); segments entirely done are deleted once the watermark is fsync'ed.
   */
  markDone(seq: number): void {
    if (seq <= this.done) return;
    this.done = Math.min(seq, this.durableSeq);
    this.requestPersist();
  }

  /** Wait for pending appends and the watermark to reach the disk, then close the files. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    while (this.writing) await this.writing;
    while (this.doneWriting) await this.doneWriting;
    if (this.doneFh && this.fsync) await this.doneFh.datasync();
    await this.doneFh?.close();
    await this.active?.fh.close();
    this.doneFh = undefined;
    this.active = undefined;
    if (this.lockPath) await unlink(this.lockPath).catch(() => undefined);
    for (const w of [...this.waiters]) w();
    for (const l of this.listeners) l();
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** A copy of the layout for a reader in another thread (posted after every durable batch). */
  layout(): OutboxLayout {
    return {
      segments: this.segments.map((s) => ({ start: s.start, path: s.path, size: s.size })),
      active: this.active && { start: this.active.seg.start, size: this.active.size },
      doneSeq: this.done,
    };
  }

  // ---- internals ----

  /** Size readers may read up to in a segment, and whether more may still be appended to it. */
  readLimit(start: number): { size: number; growing: boolean } | undefined {
    return segmentReadLimit(this.segments, this.active && { start: this.active.seg.start, size: this.active.size }, start);
  }

  private async recover(): Promise<void> {
    // 1. Delivery watermark: the largest complete number in done.log.
    const donePath = join(this.dir, DONE_FILE);
    this.done = await readWatermark(donePath);
    this.persistedDone = this.done;
    // 2. Segments, in order; a torn record at the end of the last one is cut off.
    const scan = await scanSegments(this.dir, this.log);
    const lastSeq = Math.max(this.done, scan.lastSeq ?? this.done);
    this.nextSeq = lastSeq + 1;
    this.durableSeq = lastSeq;
    this.segments = scan.segments;
    // 3. Drop segments that are entirely delivered; keep the last one open for appends.
    await this.deleteDoneSegments(this.done);
    const lastSeg = this.segments[this.segments.length - 1];
    if (lastSeg && lastSeg.start <= lastSeq + 1) {
      this.active = { seg: lastSeg, fh: await open(lastSeg.path, "r+"), size: scan.lastSize, lastSeq };
    }
    this.doneFh = await open(donePath, "a", FILE_MODE);
    this.doneSize = (await this.doneFh.stat()).size;
    this.log.info({ dir: this.dir, pending: this.depth, next_seq: this.nextSeq, segments: this.segments.length }, "outbox open");
  }

  private async writeLoop(): Promise<void> {
    try {
      // Started by the first append of a burst: let the rest of the burst (appends made by the
      // same synchronous run, e.g. every publish of one socket read on the site broker, or every
      // event of one board frame) join this batch, so they share its fsync instead of waiting
      // for a second one behind a batch of one.
      await Promise.resolve();
      while (this.queue.length > 0) {
        const batch = this.queue;
        this.queue = [];
        try {
          const a = await this.activeFor(batch[0].entry.seq);
          const buf = Buffer.from(batch.map((b) => b.line).join(""), "utf8");
          const at = a.size;
          try {
            await writeAll(a.fh, buf, at);
            if (this.fsync) await a.fh.datasync();
          } catch (err) {
            // Leave no partial record behind: the next batch is written at the same offset anyway.
            await a.fh.truncate(at).catch(() => undefined);
            throw err;
          }
          a.size = at + buf.length;
          a.lastSeq = batch[batch.length - 1].entry.seq;
          this.durableSeq = a.lastSeq;
          for (const b of batch) b.resolve(b.entry);
        } catch (err) {
          this.log.error({ err: (err as Error).message, lost_seqs: batch.length }, "outbox write failed: appends rejected (callers must not acknowledge)");
          for (const b of batch) b.reject(err as Error);
        }
        for (const w of [...this.waiters]) w();
        for (const l of this.listeners) l();
      }
    } finally {
      this.writing = undefined;
    }
  }

  /** The segment to append to, rotating when the active one is full or fully delivered and big enough. */
  private async activeFor(firstSeq: number): Promise<ActiveSegment> {
    const a = this.active;
    if (a && a.size < this.segmentBytes && !(a.size >= this.compactBytes && a.lastSeq <= this.done)) return a;
    if (a) {
      a.seg.size = a.size;
      await a.fh.close();
      this.active = undefined;
    }
    const seg: Segment = { start: firstSeq, path: join(this.dir, segName(firstSeq)), size: 0 };
    const fh = await open(seg.path, "wx", FILE_MODE);
    if (this.fsync) await syncDir(this.dir);
    this.segments.push(seg);
    this.active = { seg, fh, size: 0, lastSeq: firstSeq - 1 };
    // The previous segment may now be entirely delivered.
    this.requestPersist();
    return this.active;
  }

  /** Persist the watermark and compact, in the background; one runner at a time, re-run if asked meanwhile. */
  private requestPersist(): void {
    this.persistAgain = true;
    this.doneWriting ??= this.persistDone();
  }

  private async persistDone(): Promise<void> {
    try {
      while (this.persistAgain) {
        this.persistAgain = false;
        while (this.persistedDone < this.done && this.doneFh) {
          // A watermark line per PUBACK would be thousands of tiny writes a second while the
          // relay drains; one every WATERMARK_INTERVAL_MS is enough (a lost one only means
          // re-sends after a crash, which consumers de-duplicate). A lone delivery is written at once.
          const wait = this.lastDoneWriteAt + WATERMARK_INTERVAL_MS - Date.now();
          if (wait > 0 && !this.closed) await new Promise((r) => setTimeout(r, wait));
          if (!this.doneFh) break;
          this.lastDoneWriteAt = Date.now();
          const v = this.done;
          const line = Buffer.from(`${v}\n`);
          await writeAll(this.doneFh, line, this.doneSize);
          this.doneSize += line.length;
          this.persistedDone = v;
          if (this.doneSize > DONE_REWRITE_BYTES) await this.rewriteDone(v);
        }
        await this.deleteDoneSegments(this.persistedDone);
      }
    } catch (err) {
      this.log.error({ err: (err as Error).message }, "could not record the delivery watermark (events may be re-sent, none lost)");
    } finally {
      this.doneWriting = undefined;
    }
  }

  private async rewriteDone(v: number): Promise<void> {
    const tmp = join(this.dir, `${DONE_FILE}.tmp`);
    const fh = await open(tmp, "w", FILE_MODE);
    try {
      await writeAll(fh, Buffer.from(`${v}\n`), 0);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await this.doneFh?.close();
    await rename(tmp, join(this.dir, DONE_FILE));
    await syncDir(this.dir);
    this.doneFh = await open(join(this.dir, DONE_FILE), "a", FILE_MODE);
    this.doneSize = (await this.doneFh.stat()).size;
  }

  /** Delete closed segments whose every record is ≤ watermark (the watermark is fsync'ed first). */
  private async deleteDoneSegments(watermark: number): Promise<void> {
    const victims: Segment[] = [];
    for (let i = 0; i < this.segments.length; i++) {
      const s = this.segments[i];
      if (this.active?.seg === s) break;
      const end = i + 1 < this.segments.length ? this.segments[i + 1].start - 1 : this.durableSeq;
      if (end <= watermark) victims.push(s);
      else break;
    }
    if (victims.length === 0) return;
    if (this.doneFh && this.fsync) await this.doneFh.datasync();
    for (const s of victims) {
      await unlink(s.path).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== "ENOENT") throw err;
      });
      this.segments = this.segments.filter((x) => x !== s);
    }
    if (this.fsync) await syncDir(this.dir);
    this.log.debug({ deleted: victims.length, watermark }, "compacted delivered segments");
  }
}
