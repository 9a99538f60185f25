/**
 * Occupancy per site and pool (issue 18, migration 17): a counter row per (site, pool) and its
 * ledger (occupancy_moves), written together in the caller's transaction — the one that opens,
 * closes or flags the session — so `occupied` always equals the sum of the ledger's deltas and
 * never goes negative (CHECK). A session is counted once at entry (sessions.counted) and taken
 * off once: countExit clears the flag in the same UPDATE that finds it set.
 *
 * Lock order: the session row (the caller's), then the occupancy row.
 */
import { ValidationError } from "./errors";
import type { Q, Tx } from "./types";

export const POOLS = ["transient", "permit", "reservation"] as const;
export type Pool = (typeof POOLS)[number];
export type SiteState = "open" | "full" | "closed";

async function move(tx: Tx, m: { siteId: string; pool: Pool; delta: number; reason: "entry" | "exit" | "flagged" | "adjust"; sessionId?: string; operatorId?: number; note?: string }): Promise<number> {
  const [row] = await tx<{ occupied: number }[]>`
    INSERT INTO occupancy AS o (site_id, pool, occupied) VALUES (${m.siteId}, ${m.pool}, ${Math.max(m.delta, 0)})
    ON CONFLICT (site_id, pool) DO UPDATE SET occupied = o.occupied + ${m.delta}
    RETURNING occupied`;
  await tx`INSERT INTO occupancy_moves (site_id, pool, delta, reason, session_id, operator_id, note)
           VALUES (${m.siteId}, ${m.pool}, ${m.delta}, ${m.reason}, ${m.sessionId ?? null}, ${m.operatorId ?? null}, ${m.note ?? null})`;
  return row.occupied;
}

/** A car entered: the session (already inserted with counted = true) adds one to its pool. */
export async function countEntry(tx: Tx, siteId: string, pool: Pool, sessionId: string): Promise<number> {
  return move(tx, { siteId, pool, delta: 1, reason: "entry", sessionId });
}

/**
 * The car of this session is gone (exit, or flagged as gone): one off its pool, once — only a
 * counted session counts, and it stops being counted here. A counter an operator already brought
 * to 0 stays at 0 (the ledger row says so with delta 0). False when it was not counted.
 */
export async function countExit(tx: Tx, sessionId: string, reason: "exit" | "flagged"): Promise<boolean> {
  const [s] = await tx<{ siteId: string; pool: Pool }[]>`
    UPDATE sessions SET counted = false WHERE session_id = ${sessionId} AND counted RETURNING site_id, pool`;
  if (!s) return false;
  const [o] = await tx<{ occupied: number }[]>`SELECT occupied FROM occupancy WHERE site_id = ${s.siteId} AND pool = ${s.pool} FOR UPDATE`;
  const delta = o && o.occupied > 0 ? -1 : 0;
  await move(tx, { siteId: s.siteId, pool: s.pool, delta, reason, sessionId, ...(delta === 0 ? { note: "counter already at 0 (adjusted by an operator)" } : {}) });
  return true;
}

/**
 * An operator's count adjust (audited by the caller): `delta` added to the pool's counter, or the
 * counter set to `setTo`. A result below zero is refused. Returns the counter before and after.
 */
export async function adjustCount(tx: Tx, a: { siteId: string; pool: Pool; delta?: number; setTo?: number; operatorId: number; note: string }): Promise<{ before: number; after: number; delta: number }> {
  if ((a.delta === undefined) === (a.setTo === undefined)) throw new ValidationError("a count adjust needs delta or set_to (one of them)");
  await tx`INSERT INTO occupancy (site_id, pool, occupied) VALUES (${a.siteId}, ${a.pool}, 0) ON CONFLICT DO NOTHING`;
  const [o] = await tx<{ occupied: number }[]>`SELECT occupied FROM occupancy WHERE site_id = ${a.siteId} AND pool = ${a.pool} FOR UPDATE`;
  const before = o.occupied;
  const delta = a.setTo !== undefined ? a.setTo - before : (a.delta as number);
  if (before + delta < 0) throw new ValidationError(`count adjust: ${a.pool} occupancy would be ${before + delta} (it is ${before}); it cannot go below 0`);
  if (delta === 0) return { before, after: before, delta };
  const after = await move(tx, { siteId: a.siteId, pool: a.pool, delta, reason: "adjust", operatorId: a.operatorId, note: a.note });
  return { before, after, delta };
}

export interface Occupancy {
  siteId: string;
  pools: Record<Pool, number>;
  total: number;
  capacity: number | null;
  permitSpots: number;
  reservationSpots: number;
  entriesClosed: boolean;
  /** Ticket (transient) cars still admitted; null without a capacity. */
  transientFree: number | null;
  state: SiteState;
}

/**
 * Spaces a ticket may still take: the capacity less the spaces held back for permits and
 * reservations, less what every pool uses beyond its held-back spaces (a permit holder admitted
 * over the permit spaces takes a general one).
 */
export function transientFree(o: { pools: Record<Pool, number>; capacity: number | null; permitSpots: number; reservationSpots: number }): number | null {
  if (o.capacity === null) return null;
  const general = o.capacity - o.permitSpots - o.reservationSpots;
  const used = o.pools.transient + Math.max(0, o.pools.permit - o.permitSpots) + Math.max(0, o.pools.reservation - o.reservationSpots);
  return general - used;
}

/** closed (an operator closed the entries), full (no space for a ticket), else open. */
export function stateOf(o: { entriesClosed: boolean; transientFree: number | null }): SiteState {
  if (o.entriesClosed) return "closed";
  if (o.transientFree !== null && o.transientFree <= 0) return "full";
  return "open";
}

/** A site's occupancy per pool, its capacity and state; undefined for an unknown site. */
export async function occupancyOf(q: Q, siteId: string): Promise<Occupancy | undefined> {
  const [site] = await q<{ capacity: number | null; permitSpots: number; reservationSpots: number; entriesClosed: boolean }[]>`
    SELECT capacity, permit_spots, reservation_spots, entries_closed FROM sites WHERE site_id = ${siteId}`;
  if (!site) return undefined;
  const rows = await q<{ pool: Pool; occupied: number }[]>`SELECT pool, occupied FROM occupancy WHERE site_id = ${siteId}`;
  const pools: Record<Pool, number> = { transient: 0, permit: 0, reservation: 0 };
  for (const r of rows) pools[r.pool] = r.occupied;
  const base = { siteId, pools, total: pools.transient + pools.permit + pools.reservation, ...site };
  const free = transientFree(base);
  return { ...base, transientFree: free, state: stateOf({ entriesClosed: site.entriesClosed, transientFree: free }) };
}

/** The ledger's sum per pool (what the counter must equal): the property tests and a health check read it. */
export async function ledgerSums(q: Q, siteId: string): Promise<Record<Pool, number>> {
  const rows = await q<{ pool: Pool; sum: number }[]>`SELECT pool, COALESCE(sum(delta), 0)::int4 AS sum FROM occupancy_moves WHERE site_id = ${siteId} GROUP BY pool`;
  const out: Record<Pool, number> = { transient: 0, permit: 0, reservation: 0 };
  for (const r of rows) out[r.pool] = r.sum;
  return out;
}
