/**
 * Parking sessions (user's doc 000 §2, ARCHITECTURE §4). Every status change goes through
 * `changeStatus`: lock the row (`SELECT … FOR UPDATE`), ask cloud/domain/state-machines.ts,
 * write. Lock order everywhere: session row, then its payment rows — so two flows touching the
 * same session never deadlock.
 */
import { createHash, randomBytes, randomUUID, timingSafeEqual } from "node:crypto";
import { z } from "zod";
import { SESSION_MACHINE, assertTransition, classify, type SessionStatus } from "../domain/state-machines";
import { ActiveSessionExistsError, NotFoundError, UNIQUE_VIOLATION, ValidationError, pgCode } from "./errors";
import { CurrencySchema } from "./sites";
import type { Json, Q, Tx } from "./types";
import { canonicalPlate, PLATE_FORM } from "../domain/plates";
import { countEntry, countExit, type Pool } from "./occupancy";

/**
 * How a session is known: plate, badge, ticket (its id or 8-digit code), an exit PIN's
 * access-list entry id (never the PIN), a reservation code, or the operator who let a car in.
 */
export const IDENTITY_METHODS = ["plate", "badge", "ticket", "pin", "reservation", "operator"] as const;
export type IdentityMethod = (typeof IDENTITY_METHODS)[number];
export const EXIT_METHODS = ["plate", "badge", "ticket", "pin", "operator", "reservation"] as const;
export type ExitMethod = (typeof EXIT_METHODS)[number];
export const BARRIER_RESULTS = ["opened", "timeout", "fault", "not_opened"] as const;
export type BarrierResult = (typeof BARRIER_RESULTS)[number];

export const IdentitySchema = z.strictObject({
  method: z.enum(IDENTITY_METHODS),
  value: z.string().trim().min(1, "identity value must not be empty").max(64, "identity value is at most 64 characters"),
});
export type Identity = z.infer<typeof IdentitySchema>;

export interface SessionRow {
  sessionId: string;
  siteId: string;
  entryLaneId: string | null;
  exitLaneId: string | null;
  identityMethod: IdentityMethod;
  identityValue: string;
  entryTs: Date;
  exitTs: Date | null;
  status: SessionStatus;
  statusChangedAt: Date;
  tariffId: number | null;
  tariffVersion: number | null;
  amount: number | null;
  currency: string | null;
  quoteBreakdown: Json | null;
  pricedAt: Date | null;
  payTokenHash: string | null;
  paidAt: Date | null;
  exitMethod: ExitMethod | null;
  barrierResult: BarrierResult | null;
  flagReason: string | null;
  createdAt: Date;
  /** The part of the car park it counts in (migration 17). */
  pool: Pool;
  /** Counted in the occupancy now: set at entry, cleared once by the exit or flag that takes the car off. */
  counted: boolean;
}

/**
 * The canonical form identities are stored and looked up in: plates upper-case without spaces,
 * dashes or dots ("ab-123 cd" → "AB123CD"); badge UIDs upper-case hex without separators;
 * tickets trimmed.
 */
export function normalizeIdentity(identity: Identity): Identity {
  const { method, value } = IdentitySchema.parse(identity);
  if (method === "plate") {
    const v = canonicalPlate(value);
    if (!PLATE_FORM.test(v)) throw new ValidationError(`plate "${value}" must be letters and digits (max 16 after removing separators)`);
    return { method, value: v };
  }
  if (method === "badge") {
    const v = value.toUpperCase().replace(/[\s:-]/g, "");
    if (!/^[0-9A-F]{4,32}$/.test(v)) throw new ValidationError(`badge UID "${value}" must be 4–32 hex digits`);
    return { method, value: v };
  }
  if (method === "reservation") return { method, value: value.toUpperCase() };
  return { method, value };
}

export function hashPayToken(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}

export async function getSession(q: Q, sessionId: string): Promise<SessionRow> {
  const [row] = await q<SessionRow[]>`SELECT * FROM sessions WHERE session_id = ${sessionId}`;
  if (!row) throw new NotFoundError("session", sessionId);
  return row;
}

/** These sessions, by id, in one round trip (a batch's); an id with no session is an error. */
export async function getSessions(q: Q, sessionIds: readonly string[]): Promise<Map<string, SessionRow>> {
  const ids = [...new Set(sessionIds)];
  if (ids.length === 0) return new Map();
  const rows = await q<SessionRow[]>`SELECT * FROM sessions WHERE session_id IN ${q(ids)}`;
  const byId = new Map(rows.map((r) => [r.sessionId, r]));
  for (const id of ids) if (!byId.has(id)) throw new NotFoundError("session", id);
  return byId;
}

/** A session's status, or undefined when there is no such session. */
export async function sessionStatusOf(q: Q, sessionId: string): Promise<SessionStatus | undefined> {
  const [row] = await q<{ status: SessionStatus }[]>`SELECT status FROM sessions WHERE session_id = ${sessionId}`;
  return row?.status;
}

/**
 * The id of the newest session (by entry time, any site, any status) whose identity value is
 * this one as typed: case and anything but A-Z 0-9 ignored ("ab-123 cd" finds "AB123CD").
 */
export async function latestSessionOfIdentity(q: Q, identityValue: string): Promise<string | undefined> {
  const value = identityValue.toUpperCase().replace(/[^A-Z0-9]/g, "");
  const [row] = await q<{ sessionId: string }[]>`SELECT session_id FROM sessions WHERE upper(identity_value) = ${value} ORDER BY entry_ts DESC LIMIT 1`;
  return row?.sessionId;
}

/** Locks the session row for the rest of the transaction. */
export async function lockSession(tx: Tx, sessionId: string): Promise<SessionRow> {
  const [row] = await tx<SessionRow[]>`SELECT * FROM sessions WHERE session_id = ${sessionId} FOR UPDATE`;
  if (!row) throw new NotFoundError("session", sessionId);
  return row;
}

/** The open (active, pending_payment or paid) session of this identity at this site, if any. */
export async function findActiveSession(q: Q, siteId: string, identity: Identity): Promise<SessionRow | undefined> {
  return selectActiveSession(q, siteId, identity, "");
}

async function selectActiveSession(q: Q, siteId: string, identity: Identity, lock: "" | "FOR UPDATE"): Promise<SessionRow | undefined> {
  const id = normalizeIdentity(identity);
  const [row] = await q<SessionRow[]>`
    SELECT * FROM sessions
    WHERE site_id = ${siteId} AND identity_method = ${id.method} AND identity_value = ${id.value}
      AND status IN ('active', 'pending_payment', 'paid')
    ${q.unsafe(lock)}`;
  return row;
}

/**
 * findActiveSession, locked for the rest of the transaction, in the same round trip (the exit
 * request: it finds the session to price it). Should the session change status while this waits
 * for its lock, the row is read again and returned only if it is still open.
 */
export async function lockActiveSession(tx: Tx, siteId: string, identity: Identity): Promise<SessionRow | undefined> {
  return selectActiveSession(tx, siteId, identity, "FOR UPDATE");
}

/** The columns a transition may change, typed from the row itself so the two cannot drift. */
type SessionPatch = Partial<Pick<SessionRow,
  "exitLaneId" | "exitTs" | "tariffId" | "tariffVersion" | "amount" | "currency" | "quoteBreakdown" |
  "pricedAt" | "payTokenHash" | "paidAt" | "exitMethod" | "barrierResult" | "flagReason">>;
const PATCH_COLUMNS: Record<keyof SessionPatch, string> = {
  exitLaneId: "exit_lane_id",
  exitTs: "exit_ts",
  tariffId: "tariff_id",
  tariffVersion: "tariff_version",
  amount: "amount",
  currency: "currency",
  quoteBreakdown: "quote_breakdown",
  pricedAt: "priced_at",
  payTokenHash: "pay_token_hash",
  paidAt: "paid_at",
  exitMethod: "exit_method",
  barrierResult: "barrier_result",
  flagReason: "flag_reason",
};

async function writeSession(tx: Tx, sessionId: string, status: SessionStatus, statusChanged: boolean, patch: SessionPatch): Promise<SessionRow> {
  const values: Record<string, unknown> = { status };
  for (const [k, v] of Object.entries(patch)) {
    if (v === undefined) continue;
    const col = PATCH_COLUMNS[k as keyof SessionPatch];
    values[col] = k === "quoteBreakdown" && v !== null ? tx.json(v as Json) : v;
  }
  const [row] = await tx<SessionRow[]>`
    UPDATE sessions SET ${tx(values)}${statusChanged ? tx`, status_changed_at = now()` : tx``}
    WHERE session_id = ${sessionId} RETURNING *`;
  return row;
}

/**
 * The one place a session's status changes: locks the row, checks the transition against
 * SESSION_MACHINE (throws IllegalTransitionError), writes status + patch.
 */
export async function changeStatus(tx: Tx, sessionId: string, to: SessionStatus, patch: SessionPatch = {}): Promise<SessionRow> {
  const current = await lockSession(tx, sessionId);
  assertTransition(SESSION_MACHINE, current.status, to, sessionId);
  const row = await writeSession(tx, sessionId, to, current.status !== to, patch);
  // A closed session's car is gone (an operator's resolution included): off the occupancy, once.
  if (to === "closed") await countExit(tx, sessionId, "exit");
  return row;
}

export interface CreateEntryInput {
  /** Caller-chosen id (e.g. from the site's entry event) makes the call idempotent. */
  sessionId?: string;
  siteId: string;
  laneId?: string;
  identity: Identity;
  entryTs: Date;
  /**
   * What to do when the identity already has an open session at the site: "error" (default)
   * throws ActiveSessionExistsError; "flag-previous" flags the old one ("superseded by a new
   * entry": the vehicle evidently left without an exit record) and creates the new one.
   */
  onConflict?: "error" | "flag-previous";
  /** The pool the car counts in (default transient); the entry is counted in the same transaction. */
  pool?: Pool;
  /** false: a session for a car that was never counted in (an exit PIN with no entry record). Default true. */
  counted?: boolean;
}

export interface CreateEntryResult {
  session: SessionRow;
  /** false when `sessionId` already existed (a replayed entry): nothing was written. */
  created: boolean;
  /** The session flagged to make room, with onConflict "flag-previous". */
  flaggedSessionId?: string;
}

/** Entry: creates an active session. One open session per identity per site (partial unique index). */
export async function createEntrySession(tx: Tx, input: CreateEntryInput): Promise<CreateEntryResult> {
  const identity = normalizeIdentity(input.identity);
  const sessionId = input.sessionId ?? randomUUID();
  if (input.sessionId !== undefined && !/^[A-Za-z0-9_-]{1,64}$/.test(sessionId)) throw new ValidationError("session id: 1–64 letters, digits, - or _");
  const [existing] = await tx<SessionRow[]>`SELECT * FROM sessions WHERE session_id = ${sessionId}`;
  if (existing) {
    if (existing.siteId !== input.siteId || existing.identityMethod !== identity.method || existing.identityValue !== identity.value) {
      throw new ValidationError(`session ${sessionId} already exists for another identity or site`);
    }
    return { session: existing, created: false };
  }
  // The open session of this identity: its own, or one it is linked to (a permit's other identity).
  const [open] = await tx<SessionRow[]>`
    SELECT s.* FROM sessions s
    WHERE s.site_id = ${input.siteId} AND s.status IN ('active', 'pending_payment', 'paid')
      AND ((s.identity_method = ${identity.method} AND s.identity_value = ${identity.value})
        OR s.session_id IN (SELECT i.session_id FROM session_identities i WHERE i.site_id = ${input.siteId} AND i.method = ${identity.method} AND i.value = ${identity.value}))
    ORDER BY s.entry_ts DESC LIMIT 1
    FOR UPDATE OF s`;
  let flaggedSessionId: string | undefined;
  if (open) {
    if (input.onConflict !== "flag-previous") throw new ActiveSessionExistsError(open.sessionId);
    // The car evidently left without an exit record: flagged for an operator, and off the count once.
    await changeStatus(tx, open.sessionId, "flagged", { flagReason: `left without a recorded exit: superseded by new entry ${sessionId}` });
    await countExit(tx, open.sessionId, "flagged");
    flaggedSessionId = open.sessionId;
  }
  const pool = input.pool ?? "transient";
  try {
    const [row] = await tx<SessionRow[]>`
      INSERT INTO sessions (session_id, site_id, entry_lane_id, identity_method, identity_value, entry_ts, status, pool, counted)
      VALUES (${sessionId}, ${input.siteId}, ${input.laneId ?? null}, ${identity.method}, ${identity.value}, ${input.entryTs}, 'active', ${pool}, ${input.counted !== false})
      RETURNING *`;
    await tx`INSERT INTO session_identities (site_id, session_id, method, value, source, linked_at)
             VALUES (${input.siteId}, ${sessionId}, ${identity.method}, ${identity.value}, 'session', ${input.entryTs})`;
    if (input.counted !== false) await countEntry(tx, input.siteId, pool, sessionId);
    return { session: row, created: true, flaggedSessionId };
  } catch (err) {
    // A concurrent entry for the same identity won the partial unique index.
    if (pgCode(err) === UNIQUE_VIOLATION && /sessions_one_open_per_identity/.test((err as Error).message + String((err as { constraint_name?: string }).constraint_name))) {
      throw new ActiveSessionExistsError("(concurrent entry)");
    }
    throw err;
  }
}

export const QuoteSchema = z.strictObject({
  sessionId: z.string().min(1),
  amount: z.number().int("amount is integer minor units").min(0).max(100_000_000),
  currency: CurrencySchema,
  tariffId: z.number().int().positive(),
  tariffVersion: z.number().int().positive(),
  breakdown: z.custom<Json>((v) => v !== undefined, "breakdown is required"),
  pricedAt: z.date(),
  exitLaneId: z.string().optional(),
});
export type Quote = z.infer<typeof QuoteSchema>;

export interface PriceResult {
  session: SessionRow;
  /**
   * "pending_payment": the driver must pay; `payToken` is the secret part of pay_url, returned
   * only here (only its SHA-256 is stored) and fresh for every quote.
   * "paid": a zero fee (grace period, subscriber) goes straight to paid (ARCHITECTURE §4 step 3).
   */
  outcome: "pending_payment" | "paid";
  payToken?: string;
}

/**
 * Exit request priced: records the quote (amount, tariff id + version, breakdown) and moves
 * active|pending_payment → pending_payment (or → paid for a zero fee). A paid, closed or flagged
 * session throws IllegalTransitionError — a late exit request never un-pays a session.
 * A re-quote does not touch payments already created for an older quote: if one of them
 * succeeds later it counts toward the total, and the session is paid only once the paid total
 * covers the current quote (see applyPaymentEvent's "underpaid"). Cancel superseded in-flight
 * payments with the provider when you can.
 */
export async function priceSession(tx: Tx, quote: Quote): Promise<PriceResult> {
  const q = QuoteSchema.parse(quote);
  const base = {
    tariffId: q.tariffId,
    tariffVersion: q.tariffVersion,
    amount: q.amount,
    currency: q.currency,
    quoteBreakdown: q.breakdown,
    pricedAt: q.pricedAt,
    ...(q.exitLaneId !== undefined ? { exitLaneId: q.exitLaneId } : {}),
  };
  if (q.amount === 0) {
    const session = await changeStatus(tx, q.sessionId, "paid", { ...base, payTokenHash: null, paidAt: new Date() });
    return { session, outcome: "paid" };
  }
  const payToken = randomBytes(24).toString("base64url");
  const session = await changeStatus(tx, q.sessionId, "pending_payment", { ...base, payTokenHash: hashPayToken(payToken) });
  return { session, outcome: "pending_payment", payToken };
}

/** The session if `token` is its current pay token (constant-time comparison), else undefined. */
export async function findSessionByPayToken(q: Q, sessionId: string, token: string): Promise<SessionRow | undefined> {
  const [row] = await q<SessionRow[]>`SELECT * FROM sessions WHERE session_id = ${sessionId}`;
  if (!row?.payTokenHash) return undefined;
  const a = Buffer.from(row.payTokenHash, "hex");
  const b = Buffer.from(hashPayToken(token), "hex");
  return a.length === b.length && timingSafeEqual(a, b) ? row : undefined;
}

export interface CloseInput {
  sessionId: string;
  exitTs: Date;
  barrierResult: BarrierResult;
  exitLaneId?: string;
  exitMethod?: ExitMethod;
  /** An audited operator override lets an unpaid or flagged session close. */
  override?: { operatorId: number; reason: string };
}

export interface CloseResult {
  session: SessionRow;
  /**
   * "closed": paid (or overridden) and the barrier opened;
   * "flagged": the vehicle left unpaid, or the barrier did not open — an operator must look;
   * "duplicate": already closed (a replayed exit-done), nothing written.
   */
  outcome: "closed" | "flagged" | "duplicate";
}

/** Exit done (ARCHITECTURE §4 step 8): records exit_ts + barrier result and closes (or flags). */
export async function closeSession(tx: Tx, input: CloseInput): Promise<CloseResult> {
  const current = await lockSession(tx, input.sessionId);
  if (current.status === "closed") return { session: current, outcome: "duplicate" };
  const patch: SessionPatch = {
    exitTs: current.exitTs ?? input.exitTs,
    barrierResult: input.barrierResult,
    ...(input.exitLaneId !== undefined ? { exitLaneId: input.exitLaneId } : {}),
    ...(input.exitMethod !== undefined ? { exitMethod: input.exitMethod } : {}),
  };
  if (patch.exitTs && patch.exitTs < current.entryTs) throw new ValidationError(`exit_ts ${input.exitTs.toISOString()} is before entry_ts`);
  let to: SessionStatus;
  if (input.override) {
    if (input.override.reason.trim().length < 3) throw new ValidationError("an override needs a reason");
    to = "closed";
    patch.exitMethod = input.exitMethod ?? "operator";
  } else if (current.status === "paid" && input.barrierResult === "opened") {
    to = "closed";
  } else if (current.status === "flagged") {
    return { session: await writeSession(tx, input.sessionId, "flagged", false, patch), outcome: "flagged" };
  } else {
    to = "flagged";
    patch.flagReason = current.status === "paid" ? `barrier ${input.barrierResult} at exit` : `exit without validated payment (status ${current.status})`;
  }
  assertTransition(SESSION_MACHINE, current.status, to, input.sessionId);
  const session = await writeSession(tx, input.sessionId, to, true, patch);
  // Closed: the car is gone. Flagged: the caller knows whether it passed (site-events handleExitDone).
  if (to === "closed") await countExit(tx, input.sessionId, "exit");
  return { session, outcome: to === "closed" ? "closed" : "flagged" };
}

/** Flags a session for an operator (any non-closed state). */
export async function flagSession(tx: Tx, sessionId: string, reason: string): Promise<SessionRow> {
  const current = await lockSession(tx, sessionId);
  if (current.status === "flagged") return current;
  return changeStatus(tx, sessionId, "flagged", { flagReason: reason });
}

/** Moves the session to paid because a payment was validated; reports what happened. */
export async function settleSession(tx: Tx, sessionId: string, paidAt: Date): Promise<{ session: SessionRow; outcome: "applied" | "noop" | "stale" }> {
  return settleLockedSession(tx, await lockSession(tx, sessionId), paidAt);
}

/** settleSession for a row this transaction has already locked (saves a round trip). */
export async function settleLockedSession(tx: Tx, current: SessionRow, paidAt: Date): Promise<{ session: SessionRow; outcome: "applied" | "noop" | "stale" }> {
  const verdict = classify(SESSION_MACHINE, current.status, "paid");
  if (verdict === "noop" || verdict === "stale") return { session: current, outcome: verdict };
  return { session: await writeSession(tx, current.sessionId, "paid", true, { paidAt }), outcome: "applied" };
}

export async function listSessions(q: Q, filter: { siteId?: string; status?: SessionStatus; limit?: number } = {}): Promise<SessionRow[]> {
  const limit = Math.min(Math.max(filter.limit ?? 100, 1), 1000);
  return [
    ...(await q<SessionRow[]>`
      SELECT * FROM sessions
      WHERE (${filter.siteId ?? null}::text IS NULL OR site_id = ${filter.siteId ?? null})
        AND (${filter.status ?? null}::text IS NULL OR status = ${filter.status ?? null})
      ORDER BY entry_ts DESC LIMIT ${limit}`),
  ];
}

/** A paid, not yet closed session and the provider reference of its validated payment. */
export interface PaidOpenSession {
  session: SessionRow;
  /** The latest paid payment's provider reference; null for a zero fee (no payment). */
  providerRef: string | null;
}

/**
 * The site's sessions still `paid` (not closed, not flagged) whose payment was validated at or
 * after `since`: the newest `limit` of them, oldest first (what a re-synced gateway may still need
 * to hear: cloud/flows/site-events.ts handleSyncRequest). Oldest first because they are published in
 * this order and a lane holds only its last few: the newest — the car most likely still at
 * the barrier — must arrive last, not be the one pushed out.
 */
export async function listPaidOpenSince(q: Q, siteId: string, since: Date, limit: number): Promise<PaidOpenSession[]> {
  const rows = await q<(SessionRow & { paidProviderRef: string | null })[]>`
    SELECT s.*, (
      SELECT p.provider_ref FROM payments p
      WHERE p.session_id = s.session_id AND p.state = 'paid'
      ORDER BY p.validated_ts DESC NULLS LAST LIMIT 1
    ) AS paid_provider_ref
    FROM sessions s
    WHERE s.site_id = ${siteId} AND s.status = 'paid' AND s.paid_at >= ${since}
    ORDER BY s.paid_at DESC LIMIT ${Math.min(Math.max(limit, 1), 1000)}`;
  return rows.reverse().map(({ paidProviderRef, ...session }) => ({ session: session as SessionRow, providerRef: paidProviderRef }));
}
