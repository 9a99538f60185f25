/**
 * Transactional outbox (ARCHITECTURE §5): whatever the site must hear after a commit
 * (parking/payment/req, parking/payment/success, barrier commands…) is inserted in the SAME
 * transaction as the state change, then a relay claims rows in id order, publishes them with
 * QoS 1 and marks them published. A crash between commit and publish loses nothing; a crash
 * between publish and mark re-publishes the row with the same id and payload (at-least-once;
 * consumers dedupe by the ids in the payload).
 *
 * Claims are leases: `claimOutbox` commits `claimed_until` and returns the rows, so the relay
 * publishes without holding a transaction open (important on PGlite, where the one session is
 * shared). Rows whose lease expired are claimed again. A lease names its owner (the cloud's
 * instance id): a relay starting under that id takes its dead predecessor's leases back at once
 * (`reclaimOwnLeases`) — a SIGKILL between claim and PUBACK must not hold a driver's
 * payment/success for the whole lease. Several relays can run side by side:
 * `FOR UPDATE SKIP LOCKED` hands each a disjoint batch. No LISTEN/NOTIFY (PGlite does not
 * deliver it): relays poll, or the server wakes its relay after a commit.
 *
 * Ordering: ids come from a sequence, allocated at insert time. Rows written under the same
 * session lock (everything a flow enqueues for one session) are ordered; rows of unrelated
 * transactions may commit out of id order, which is harmless since each message is
 * self-contained.
 */
import type { Json, Q, Tx } from "./types";

export interface OutboxRow {
  id: number;
  topic: string;
  payload: Json;
  dedupeKey: string | null;
  createdAt: Date;
  publishedAt: Date | null;
  attempts: number;
  claimedUntil: Date | null;
  claimedBy: string | null;
  lastError: string | null;
}

/**
 * Enqueues a message in the caller's transaction. With a `dedupeKey` (e.g.
 * `payment_success:<session_id>`), a second enqueue with the same key writes nothing and
 * returns the first row's id with `duplicate: true`.
 */
export async function enqueueOutbox(tx: Tx, m: { topic: string; payload: Json; dedupeKey?: string }): Promise<{ id: number; duplicate: boolean }> {
  const [row] = await tx<{ id: number }[]>`
    INSERT INTO outbox (topic, payload, dedupe_key) VALUES (${m.topic}, ${tx.json(m.payload)}, ${m.dedupeKey ?? null})
    ON CONFLICT (dedupe_key) DO NOTHING RETURNING id`;
  if (row) return { id: row.id, duplicate: false };
  const [existing] = await tx<{ id: number }[]>`SELECT id FROM outbox WHERE dedupe_key = ${m.dedupeKey ?? null}`;
  return { id: existing.id, duplicate: true };
}

/**
 * Claims up to `limit` unpublished rows whose lease is free or expired, oldest first, for
 * `leaseMs`, on behalf of `owner`; increments `attempts`. One statement (auto-commits on the pool).
 */
export async function claimOutbox(q: Q, opts: { limit?: number; leaseMs?: number; owner?: string } = {}): Promise<OutboxRow[]> {
  const limit = Math.min(Math.max(opts.limit ?? 100, 1), 10_000);
  const leaseMs = Math.max(opts.leaseMs ?? 30_000, 1);
  const rows = await q<OutboxRow[]>`
    WITH picked AS (
      SELECT id FROM outbox
      WHERE published_at IS NULL AND (claimed_until IS NULL OR claimed_until < clock_timestamp())
      ORDER BY id LIMIT ${limit}
      FOR UPDATE SKIP LOCKED
    )
    UPDATE outbox o SET claimed_until = clock_timestamp() + ${leaseMs} * interval '1 millisecond', claimed_by = ${opts.owner ?? null}, attempts = o.attempts + 1
    FROM picked WHERE o.id = picked.id
    RETURNING o.*`;
  return [...rows].sort((a, b) => a.id - b.id);
}

/**
 * Frees the unpublished rows `owner` holds a lease on: called by a relay as it starts, when
 * whatever held them under that owner is a previous incarnation that died before its PUBACK.
 * Should a live twin share the id, its rows are published twice at worst — at-least-once, and
 * consumers dedupe by the ids in the payload. Returns how many rows were freed.
 */
export async function reclaimOwnLeases(q: Q, owner: string): Promise<number> {
  const r = await q`
    UPDATE outbox SET claimed_until = NULL, claimed_by = NULL
    WHERE claimed_by = ${owner} AND published_at IS NULL AND claimed_until > clock_timestamp()`;
  return r.count;
}

/** Marks rows published (after the broker's PUBACK). Already-published ids are left as they are. */
export async function markOutboxPublished(q: Q, ids: readonly number[]): Promise<number> {
  if (ids.length === 0) return 0;
  const r = await q`
    UPDATE outbox SET published_at = clock_timestamp(), claimed_until = NULL, claimed_by = NULL, last_error = NULL
    WHERE id = ANY(${q.array([...ids], 20)}::int8[]) AND published_at IS NULL`;
  return r.count;
}

/** Releases a claimed row after a failed publish: claimable again after `retryInMs`. */
export async function releaseOutbox(q: Q, id: number, error: string, retryInMs = 1000): Promise<void> {
  await q`
    UPDATE outbox SET claimed_until = clock_timestamp() + ${Math.max(retryInMs, 0)} * interval '1 millisecond', last_error = ${error}
    WHERE id = ${id} AND published_at IS NULL`;
}

export async function outboxBacklog(q: Q, opts: { createdBefore?: Date } = {}): Promise<{ pending: number; oldest: Date | null }> {
  const [row] = await q<{ pending: number; oldest: Date | null }[]>`
    SELECT count(*)::int4 AS pending, min(created_at) AS oldest FROM outbox
    WHERE published_at IS NULL ${opts.createdBefore ? q`AND created_at <= ${opts.createdBefore}` : q``}`;
  return row;
}

/** Deletes published rows older than `before`. */
export async function pruneOutbox(q: Q, before: Date): Promise<number> {
  const r = await q`DELETE FROM outbox WHERE published_at IS NOT NULL AND published_at < ${before}`;
  return r.count;
}
