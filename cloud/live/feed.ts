/**
 * The live feed's source: the audit chain, tailed by sequence number (one indexed read per
 * period). Every instance tails the same table, so every console
 * sees every instance's rows — entries, exits, payments, alarms, overrides, operator actions —
 * within one tail period of their chaining (the chainer runs every 200 ms).
 */
import type { Database, Json } from "../db/index";
import type { Logger } from "../../host/log";
import type { AuditRowLike } from "../http/console/feed-text";
import type { LiveHub } from "./hub";
import { siteOccupancy } from "../db/site-status";

/** Audit kinds after which a site's count of cars inside may have changed. */
const OCCUPANCY_KINDS = new Set(["session.entry", "session.closed", "session.flagged", "session.resolved", "command.entries_closed", "command.entries_open"]);

export class AuditTail {
  private last: number | undefined;
  private timer: NodeJS.Timeout | undefined;
  private busy = false;

  constructor(private readonly o: { db: Database; hub: LiveHub; logger: Logger; periodMs?: number }) {}

  start(): void {
    this.timer ??= setInterval(() => void this.tick(), this.o.periodMs ?? 250);
    this.timer.unref();
  }

  /** A session that opened or ended changes its site's occupancy: told once per site per batch. */
  private async publishOccupancy(rows: { kind: string; payload: Json }[]): Promise<void> {
    const sites = new Set<string>();
    for (const r of rows) {
      const p = r.payload as Record<string, Json> | null;
      if (OCCUPANCY_KINDS.has(r.kind) && p && typeof p.site_id === "string") sites.add(p.site_id);
    }
    for (const siteId of sites) {
      const o = await siteOccupancy(this.o.db.sql, siteId);
      if (o) this.o.hub.publish({ type: "occupancy", siteId, data: { occupied: o.occupied, capacity: o.capacity, state: o.state } });
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /**
   * One read of the rows after the last one seen (public for tests). It reads even when no
   * console is open, so that the position is always current: a console that opens, then sees
   * its own action chained before the next tick, still gets that row.
   */
  async tick(): Promise<number> {
    if (this.busy) return 0;
    this.busy = true;
    try {
      if (this.last === undefined) {
        const [head] = await this.o.db.sql<{ seq: number | null }[]>`SELECT max(seq) AS seq FROM audit_log`;
        this.last = Number(head?.seq ?? 0);
        return 0;
      }
      const rows = await this.o.db.sql<{ seq: number; ts: Date; kind: string; sessionId: string | null; payload: Json }[]>`
        SELECT seq, ts, kind, session_id, payload FROM audit_log WHERE seq > ${this.last} ORDER BY seq LIMIT 500`;
      for (const r of rows) {
        const row: AuditRowLike = { seq: Number(r.seq), ts: r.ts, kind: r.kind, sessionId: r.sessionId, payload: r.payload };
        this.last = row.seq;
        if (this.o.hub.size === 0) continue;
        const p = r.payload as Record<string, Json> | null;
        const siteId = p && typeof p === "object" && typeof p.site_id === "string" ? p.site_id : null;
        const e = { type: "audit" as const, siteId, row };
        this.o.hub.receivedAt.set(e, Date.now());
        this.o.hub.publish(e);
      }
      if (this.o.hub.size > 0) await this.publishOccupancy(rows);
      return rows.length;
    } catch (err) {
      this.o.logger.warn({ err: (err as Error).message }, "console feed: audit tail failed (will retry)");
      return 0;
    } finally {
      this.busy = false;
    }
  }
}
