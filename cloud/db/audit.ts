/**
 * The append-only, hash-chained audit log (issue 4 "Operators and the audit"; user's doc 000 §8).
 *
 * - Row hash = SHA-256 hex of (prev_hash + canonical JSON of {seq, ts, kind, session_id, payload}),
 *   ts as an ISO-8601 UTC string with milliseconds. The first row's prev_hash is 64 zeros.
 * - Appends lock the single `audit_head` row (`FOR UPDATE`), so concurrent appends are
 *   serialised and the chain never forks; seq is gap-free (head.seq + 1). Append last in a
 *   transaction: the head stays locked until commit.
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

/** Appends one row to the chain inside the caller's transaction. */
export async function appendAudit(tx: Tx, input: AuditInput): Promise<AuditRow> {
  if (!KIND.test(input.kind)) throw new ValidationError(`audit kind "${input.kind}" must be lowercase letters, digits, _ and . (max 64)`);
  const payload = toJson(input.payload);
  const ts = new Date((input.ts ?? new Date()).getTime());
  if (Number.isNaN(ts.getTime())) throw new ValidationError("audit ts is not a valid date");
  const [head] = await tx<{ seq: number; hash: string }[]>`SELECT seq, hash FROM audit_head WHERE singleton FOR UPDATE`;
  const row = { seq: head.seq + 1, ts, kind: input.kind, sessionId: input.sessionId ?? null, payload, prevHash: head.hash, hash: "" };
  row.hash = auditHash(head.hash, row);
  await tx`
    INSERT INTO audit_log (seq, ts, kind, session_id, payload, prev_hash, hash)
    VALUES (${row.seq}, ${row.ts}, ${row.kind}, ${row.sessionId}, ${tx.json(payload)}, ${row.prevHash}, ${row.hash})`;
  await tx`UPDATE audit_head SET seq = ${row.seq}, hash = ${row.hash} WHERE singleton`;
  return row;
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
