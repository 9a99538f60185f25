/**
 * A read-only view of an Outbox in another thread (the relay's worker): it holds the layout the
 * owning thread posts after every durable batch, reads the same segment files with its own
 * cursors, and reports delivery watermarks back through `onDone` — only the owner writes to
 * the outbox directory.
 */
import { silentLogger, type Logger } from "../../host/log";
import { OutboxCursor, segmentReadLimit, type OutboxLayout, type RelaySource, type Segment, type SegmentSource } from "./outbox";

export class OutboxMirror implements SegmentSource, RelaySource {
  segments: Segment[] = [];
  corrupted = 0;
  private active: { start: number; size: number } | undefined;
  private done: number;
  private readonly listeners = new Set<() => void>();

  constructor(
    layout: OutboxLayout,
    private readonly onDone: (seq: number) => void,
    private readonly log: Logger = silentLogger,
  ) {
    this.done = layout.doneSeq;
    this.update(layout);
  }

  /** A new layout from the owner (after a durable batch, a rotation or a compaction). */
  update(layout: OutboxLayout): void {
    this.segments = layout.segments;
    this.active = layout.active;
    for (const l of this.listeners) l();
  }

  get doneSeq(): number {
    return this.done;
  }

  readLimit(start: number): { size: number; growing: boolean } | undefined {
    return segmentReadLimit(this.segments, this.active, start);
  }

  cursor(afterSeq: number = this.done): OutboxCursor {
    return new OutboxCursor(this, afterSeq, this.log);
  }

  onDurable(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  markDone(seq: number): void {
    if (seq <= this.done) return;
    this.done = seq;
    this.onDone(seq);
  }
}
