/**
 * Outbox relay (ARCHITECTURE §5, issue 4): claims unpublished outbox rows in id order (a lease,
 * committed, so no transaction stays open while publishing), publishes each with QoS 1 under its
 * site prefix, and marks them published only after the broker's PUBACK. A crash between commit
 * and publish loses nothing (the row stays unpublished); a crash between PUBACK and the mark
 * re-publishes the same row — same topic, same payload, same ids — and consumers dedupe.
 *
 * Its leases carry its owner name (the cloud's instance id). Starting, it first frees the leases
 * its previous incarnation held under that name — that one died (SIGKILL) between claim and mark,
 * and its rows must go out now, not when the lease runs out while a driver waits at the barrier.
 *
 * The relay polls (LISTEN/NOTIFY is not delivered by PGlite, §8) and is woken by the server
 * right after a commit that enqueued something, so the usual latency is one round trip.
 */
import type { MqttClient } from "mqtt";
import { TOPICS, fromCloudTopic, specForTopic } from "../../contracts/mqtt-topics";
import type { Logger } from "../../host/log";
import { claimOutbox, markOutboxPublished, reclaimOwnLeases, releaseOutbox, type Database, type OutboxRow } from "../db/index";

export interface RelayMetrics {
  published(topic: string, n: number): void;
  failed(n: number): void;
}

export interface OutboxRelayOptions {
  db: Database;
  client: MqttClient;
  logger: Logger;
  /** Who holds the leases: the cloud's instance id (stable across its restarts). */
  owner: string;
  pollMs?: number;
  batch?: number;
  leaseMs?: number;
  publishTimeoutMs?: number;
  metrics?: RelayMetrics;
}

export class OutboxRelay {
  private running = false;
  private wakeUp: (() => void) | null = null;
  private woken = false;
  private loop: Promise<void> | null = null;
  private lastError: string | null = null;
  private publishedTotal = 0;

  constructor(private readonly o: OutboxRelayOptions) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  /** Publish soon: something was just committed to the outbox. */
  wake(): void {
    this.woken = true;
    const w = this.wakeUp;
    this.wakeUp = null;
    w?.();
  }

  get status(): { running: boolean; lastError: string | null; published: number } {
    return { running: this.running, lastError: this.lastError, published: this.publishedTotal };
  }

  async stop(): Promise<void> {
    this.running = false;
    this.wake();
    await this.loop;
  }

  private sleep(ms: number): Promise<void> {
    if (this.woken) {
      this.woken = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.wakeUp = null;
        resolve();
      }, ms);
      this.wakeUp = () => {
        clearTimeout(t);
        resolve();
      };
    });
  }

  private async run(): Promise<void> {
    const pollMs = this.o.pollMs ?? 250;
    const publishTimeoutMs = this.o.publishTimeoutMs ?? 10_000;
    // Longer than a publish may take, so a live relay keeps its rows; short, so rows another
    // instance (another owner) died holding come back soon.
    const leaseMs = this.o.leaseMs ?? publishTimeoutMs + 5000;
    let reclaimed = false;
    while (this.running) {
      if (!reclaimed) {
        try {
          const n = await reclaimOwnLeases(this.o.db.sql, this.o.owner);
          reclaimed = true;
          if (n > 0) this.o.logger.warn({ rows: n, owner: this.o.owner }, "outbox relay: took back the rows a previous run of this instance had claimed but not published (it stopped abruptly)");
        } catch (err) {
          this.lastError = (err as Error).message;
          if (this.running) this.o.logger.warn({ err: this.lastError }, "outbox relay: taking back its previous leases failed (will retry)");
          await this.sleep(Math.max(pollMs, 1000));
          continue;
        }
      }
      if (!this.o.client.connected) {
        await this.sleep(pollMs);
        continue;
      }
      let rows: OutboxRow[];
      try {
        this.woken = false;
        rows = await claimOutbox(this.o.db.sql, { limit: this.o.batch ?? 200, leaseMs, owner: this.o.owner });
      } catch (err) {
        this.lastError = (err as Error).message;
        if (this.running) this.o.logger.warn({ err: this.lastError }, "outbox relay: claim failed (will retry)");
        await this.sleep(Math.max(pollMs, 1000));
        continue;
      }
      if (rows.length === 0) {
        await this.sleep(pollMs);
        continue;
      }
      await this.publishBatch(rows, publishTimeoutMs);
    }
  }

  /** Publishes a claimed batch in id order (one connection: the broker sees them in order). */
  private async publishBatch(rows: OutboxRow[], timeoutMs: number): Promise<void> {
    const results = await Promise.all(
      rows.map(async (row) => {
        const site = fromCloudTopic(row.topic);
        const key = site ? specForTopic(site.topic) : undefined;
        const spec = key ? TOPICS[key] : undefined;
        try {
          if (!spec) throw new Error(`outbox row ${row.id}: ${row.topic} is not a SysPark site topic`);
          let timer: NodeJS.Timeout | undefined;
          await Promise.race([
            this.o.client.publishAsync(row.topic, JSON.stringify(row.payload), { qos: spec.qos === 0 ? 1 : spec.qos, retain: spec.retain }),
            new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`no PUBACK within ${timeoutMs} ms`)), timeoutMs))),
          ]).finally(() => clearTimeout(timer));
          return { row, ok: true as const };
        } catch (err) {
          return { row, ok: false as const, error: (err as Error).message };
        }
      }),
    );
    const ok = results.filter((r) => r.ok).map((r) => r.row.id);
    try {
      if (ok.length) await markOutboxPublished(this.o.db.sql, ok);
      this.publishedTotal += ok.length;
      for (const r of results) if (r.ok) this.o.metrics?.published(r.row.topic, 1);
    } catch (err) {
      // Published but not marked: the lease expires and the rows go out again (same ids).
      this.lastError = (err as Error).message;
      this.o.logger.warn({ err: this.lastError, ids: ok.length }, "outbox relay: mark published failed (rows will be re-published)");
    }
    const failed = results.filter((r) => !r.ok);
    if (failed.length) {
      this.o.metrics?.failed(failed.length);
      this.lastError = failed[0].ok ? null : failed[0].error;
      this.o.logger.warn({ failed: failed.length, err: this.lastError }, "outbox relay: publish failed (released for retry)");
      for (const f of failed) await releaseOutbox(this.o.db.sql, f.row.id, f.ok ? "" : f.error, 1000).catch(() => undefined);
    }
  }
}
