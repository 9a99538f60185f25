/**
 * The console's live fan-out inside one cloud instance: events from the site watch (watch.ts)
 * and the audit tail (feed.ts) go to every open console stream that asked for their site.
 * Nothing here is state: a console first reads the persisted snapshot, then follows the hub.
 * Every instance runs its own watch and tail, so any instance can serve any console.
 */
import type { FeedItem } from "../http/console/feed-text";
import type { AuditRowLike } from "../http/console/feed-text";

export type LiveEvent =
  | { type: "lane"; siteId: string; laneId: string; data: Record<string, unknown> }
  | { type: "presence"; siteId: string; laneId: string; data: { present: boolean; ts: number } }
  | { type: "gateway"; siteId: string; data: Record<string, unknown> }
  | { type: "alarm"; siteId: string; laneId: string; data: Record<string, unknown> }
  | { type: "ack"; siteId: string; laneId: string; data: Record<string, unknown> }
  | { type: "meteo"; siteId: string; data: Record<string, unknown> }
  | { type: "occupancy"; siteId: string; data: Record<string, unknown> }
  | { type: "audit"; siteId: string | null; row: AuditRowLike; item?: FeedItem };

export type LiveListener = (e: LiveEvent) => void;

export class LiveHub {
  private readonly listeners = new Map<LiveListener, string | null>();
  /** Wall-clock time each event reached the hub, for the event → screen figure (bench console). */
  readonly receivedAt = new WeakMap<LiveEvent, number>();

  /** Follows one site (or every site with null); returns the unsubscribe. */
  subscribe(siteId: string | null, listener: LiveListener): () => void {
    this.listeners.set(listener, siteId);
    return () => this.listeners.delete(listener);
  }

  get size(): number {
    return this.listeners.size;
  }

  publish(e: LiveEvent): void {
    for (const [listener, site] of this.listeners) {
      if (site !== null && e.siteId !== null && e.siteId !== site) continue;
      try {
        listener(e);
      } catch {
        // A listener is one console stream: its failure closes that stream (console-stream.ts), never the others.
      }
    }
  }
}
