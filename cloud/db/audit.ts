/**
 * The append-only, hash-chained audit log (issue 4 "Operators and the audit"; user's doc 000 §8).
 *
 * - Row hash = SHA-256 hex of (prev_hash + canonical JSON of {seq, ts, kind, session_id, payload}),
 *   ts as an ISO-8601 UTC string with milliseconds. The first row's prev_hash is 64 zeros.
 * - Appends lock the single `audit_head` row (`FOR UPDATE`), so concurrent appends are
 *   serialised and the chain never forks; seq is gap-free (head.seq + 1). Append last in a
 *   transaction: the head stays locked until commit.
 * - High-throughput alternative: `queueAudit` inserts into `audit_pending` in the business
 *   transaction (no global lock, committed atomically with the state change, so nothing is
 *   lost), and `chainPendingAudit` — run by one background loop — chains queued rows in batches
 *   under a single head lock (one commit per batch instead of per row). Queued rows are
 *   protected by the chain once chained; until then only against UPDATE (trigger).
 * - UPDATE / DELETE / TRUNCATE on audit_log are rejected by triggers (migration 1).
 * - `verifyAuditChain` walks the chain in seq order and names the first broken row; it also
 *   checks that the last row matches the head, so deleting the tail is detected too. Someone who
 *   can rewrite every hash AND the head is not detectable from inside the database: export the
 *   head hash elsewhere (the audit export prints it) to anchor it.
 */
import { createHash } from "node:crypto";
import { canonicalJson, toJson } from "./canonical-json";
import { ValidationError } from "./errors";
import type { Json, Q, Tx } from "./types";

export const GENESIS_HASH = "0".repeat(64);

export interface AuditRow {
  seq: number;
  ts: Date;
  kind: string;
  sessionId: string | null;
  payload: Json;
  prevHash: string;
  hash: string;
}

export interface AuditInput {
  /** Dotted lowercase name, e.g. "session.entry", "payment.validated", "override.open". */
  kind: string;
  sessionId?: string | null;
  payload: Json;
  /** Defaults to now. Stored with millisecond precision. */
  ts?: Date;
}

export function auditHash(prevHash: string, row: { seq: number; ts: Date; kind: string; sessionId: string | null; payload: Json }): string {
  const body = canonicalJson({ seq: row.seq, ts: row.ts.toISOString(), kind: row.kind, session_id: row.sessionId, payload: row.payload });
  return createHash("sha256").update(prevHash).update(body).digest("hex");
}

const KIND = /^[a-z][a-z0-9_.]{0,63}$/;

function prepare(input: AuditInput): { kind: string; sessionId: string | null; payload: Json; ts: Date } {
  if (!KIND.test(input.kind)) throw new ValidationError(`audit kind "${input.kind}" must be lowercase letters, digits, _ and . (max 64)`);
  const payload = toJson(input.payload);
  const ts = new Date((input.ts ?? new Date()).getTime());
  if (Number.isNaN(ts.getTime())) throw new ValidationError("audit ts is not a valid date");
  return { kind: input.kind, sessionId: input.sessionId ?? null, payload, ts };
}

/** Appends one row to the chain inside the caller's transaction (locks the chain head until commit). */
export async function appendAudit(tx: Tx, input: AuditInput): Promise<AuditRow> {
  const { payload, ts } = prepare(input);
  const [head] = await tx<{ seq: number; hash: string }[]>`SELECT seq, hash FROM audit_head WHERE singleton FOR UPDATE`;
  const row = { seq: head.seq + 1, ts, kind: input.kind, sessionId: input.sessionId ?? null, payload, prevHash: head.hash, hash: "" };
  row.hash = auditHash(head.hash, row);
  // One round trip while the head is locked: insert the row and move the head together.
  await tx`
    WITH ins AS (
      INSERT INTO audit_log (seq, ts, kind, session_id, payload, prev_hash, hash)
      VALUES (${row.seq}, ${row.ts}, ${row.kind}, ${row.sessionId}, ${tx.json(payload)}, ${row.prevHash}, ${row.hash})
      RETURNING seq, hash
    )
    UPDATE audit_head SET seq = ins.seq, hash = ins.hash FROM ins WHERE singleton`;
  return row;
}

/**
 * Queues an audit row in the caller's transaction, without touching the chain head (no global
 * lock). It joins the chain when chainPendingAudit next runs.
 */
export async function queueAudit(tx: Tx, input: AuditInput): Promise<{ id: number }> {
  const p = prepare(input);
  const [row] = await tx<{ id: number }[]>`
    INSERT INTO audit_pending (ts, kind, session_id, payload) VALUES (${p.ts}, ${p.kind}, ${p.sessionId}, ${tx.json(p.payload)}) RETURNING id`;
  return row;
}

/**
 * Moves up to `limit` queued rows (oldest id first) into the chain, in one transaction under the
 * head lock. Returns how many were chained; call again while it returns `limit`.
 */
export async function chainPendingAudit(tx: Tx, opts: { limit?: number } = {}): Promise<{ chained: number; head: { seq: number; hash: string } }> {
  const limit = Math.min(Math.max(opts.limit ?? 1000, 1), 10_000);
  const [head] = await tx<{ seq: number; hash: string }[]>`SELECT seq, hash FROM audit_head WHERE singleton FOR UPDATE`;
  const pending = await tx<{ id: number; ts: Date; kind: string; sessionId: string | null; payload: Json }[]>`
    SELECT * FROM audit_pending ORDER BY id LIMIT ${limit} FOR UPDATE SKIP LOCKED`;
  if (pending.length === 0) return { chained: 0, head };
  let { seq, hash } = head;
  const rows = pending.map((p) => {
    seq += 1;
    const row = { seq, ts: p.ts, kind: p.kind, session_id: p.sessionId, payload: tx.json(p.payload), prev_hash: hash, hash: "" };
    row.hash = auditHash(hash, { seq, ts: p.ts, kind: p.kind, sessionId: p.sessionId, payload: p.payload });
    hash = row.hash;
    return row;
  });
  await tx`INSERT INTO audit_log ${tx(rows, "seq", "ts", "kind", "session_id", "payload", "prev_hash", "hash")}`;
  await tx`DELETE FROM audit_pending WHERE id = ANY(${tx.array(pending.map((p) => p.id), 20)}::int8[])`;
  await tx`UPDATE audit_head SET seq = ${seq}, hash = ${hash} WHERE singleton`;
  return { chained: pending.length, head: { seq, hash } };
}

/** Rows queued by queueAudit and not chained yet. */
export async function pendingAuditCount(q: Q): Promise<number> {
  const [row] = await q<{ n: number }[]>`SELECT count(*)::int4 AS n FROM audit_pending`;
  return row.n;
}

/** An audit row as read back by findAuditEntries: chained (audit_log) or still queued (audit_pending). */
export interface AuditEntry {
  kind: string;
  sessionId: string | null;
  /** payload.event_id, for rows about a site event. */
  eventId: string | null;
  payload: Json;
  ts: Date;
  chained: boolean;
}

/**
 * Audit rows, chained or still queued for chaining, that match every filter given (a session,
 * a kind, site event ids in payload.event_id), oldest first. At least one filter is required.
 */
export async function findAuditEntries(q: Q, filter: { sessionId?: string; kind?: string; eventIds?: string[] }): Promise<AuditEntry[]> {
  const { sessionId, kind, eventIds } = filter;
  if (sessionId === undefined && kind === undefined && eventIds === undefined) throw new ValidationError("findAuditEntries: give a sessionId, kind or eventIds");
  if (eventIds !== undefined && eventIds.length === 0) return [];
  const where = () => q`
    (${sessionId ?? null}::text IS NULL OR session_id = ${sessionId ?? null})
    AND (${kind ?? null}::text IS NULL OR kind = ${kind ?? null})
    AND (${eventIds === undefined} OR payload->>'event_id' = any(${eventIds ?? []}::text[]))`;
  const rows = await q<AuditEntry[]>`
    SELECT kind, session_id, payload->>'event_id' AS event_id, payload, ts, chained FROM (
      SELECT kind, session_id, payload, ts, true AS chained FROM audit_log WHERE ${where()}
      UNION ALL
      SELECT kind, session_id, payload, ts, false AS chained FROM audit_pending WHERE ${where()}
    ) a ORDER BY ts`;
  return [...rows];
}

/**
 * Streams audit rows with from ≤ ts < to (either bound optional), in seq order, as batches of
 * at most `batchSize` rows. Keyset pagination (seq > last): each batch is one short query, so
 * nothing holds the connection between batches (the export can be slow to consume).
 */
export async function* streamAudit(
  q: Q,
  opts: { from?: Date; to?: Date; batchSize?: number; sessionId?: string } = {},
): AsyncGenerator<AuditRow[], void, void> {
  const batchSize = Math.min(Math.max(opts.batchSize ?? 1000, 1), 50_000);
  let after = 0;
  for (;;) {
    const rows = await q<AuditRow[]>`
      SELECT * FROM audit_log
      WHERE seq > ${after}
        AND (${opts.from ?? null}::timestamptz IS NULL OR ts >= ${opts.from ?? null})
        AND (${opts.to ?? null}::timestamptz IS NULL OR ts < ${opts.to ?? null})
        AND (${opts.sessionId ?? null}::text IS NULL OR session_id = ${opts.sessionId ?? null})
      ORDER BY seq LIMIT ${batchSize}`;
    if (rows.length === 0) return;
    yield [...rows];
    after = rows[rows.length - 1].seq;
    if (rows.length < batchSize) return;
  }
}

export interface AuditVerification {
  ok: boolean;
  /** Rows checked (up to and including the first broken one). */
  checked: number;
  /** The chain head (seq, hash) as recorded in audit_head. */
  head: { seq: number; hash: string };
  /** The first broken row, when not ok. */
  firstBroken?: { seq: number; reason: string };
}

/** Verifies the whole chain; reports the first broken row (seq and why). */
export async function verifyAuditChain(q: Q, opts: { batchSize?: number; onProgress?: (checked: number) => void } = {}): Promise<AuditVerification> {
  const [head] = await q<{ seq: number; hash: string }[]>`SELECT seq, hash FROM audit_head WHERE singleton`;
  let prevHash = GENESIS_HASH;
  let expectedSeq = 1;
  let checked = 0;
  const fail = (seq: number, reason: string): AuditVerification => ({ ok: false, checked, head, firstBroken: { seq, reason } });
  for await (const batch of streamAudit(q, { batchSize: opts.batchSize ?? 5000 })) {
    for (const row of batch) {
      checked++;
      if (row.seq !== expectedSeq) return fail(expectedSeq, `row ${expectedSeq} is missing (next row found is ${row.seq})`);
      if (row.prevHash !== prevHash) return fail(row.seq, `prev_hash does not match the hash of row ${row.seq - 1}`);
      const recomputed = auditHash(row.prevHash, row);
      if (recomputed !== row.hash) return fail(row.seq, "content does not match its hash (row altered)");
      prevHash = row.hash;
      expectedSeq++;
    }
    opts.onProgress?.(checked);
  }
  const lastSeq = expectedSeq - 1;
  if (lastSeq !== head.seq) {
    return lastSeq < head.seq ? fail(lastSeq + 1, `rows ${lastSeq + 1}…${head.seq} are missing (chain head is at ${head.seq})`) : fail(head.seq + 1, `row ${head.seq + 1} is beyond the chain head`);
  }
  if (prevHash !== head.hash) return fail(lastSeq, "last row does not match the chain head");
  return { ok: true, checked, head };
}

/** A site's audit rows after `after` (its sequence number), oldest first: the console's catch-up after a reconnection. */
export async function siteAuditAfter(q: Q, siteId: string, after: number, limit: number): Promise<{ seq: number; ts: Date; kind: string; sessionId: string | null; payload: Json }[]> {
  const rows = await q<{ seq: string; ts: Date; kind: string; sessionId: string | null; payload: Json }[]>`
    SELECT seq, ts, kind, session_id, payload FROM audit_log WHERE payload->>'site_id' = ${siteId} AND seq > ${after} ORDER BY seq LIMIT ${limit}`;
  return rows.map((r) => ({ seq: Number(r.seq), ts: r.ts, kind: r.kind, sessionId: r.sessionId, payload: r.payload }));
}
