/**
 * Identities linked to sessions (issue 18 "any identity out", migration 17): a session is known
 * by its own identity and by every one seen on the way — a ticket's id and its 8-digit code, the
 * plate the entry or exit camera read, a permit's badge and plate. The exit finds the open
 * session by any of them. Values are stored in the canonical form (normalizeIdentity).
 */
import { normalizeIdentity, type Identity, type SessionRow } from "./sessions";
import { ValidationError } from "./errors";
import type { Q, Tx } from "./types";

export type LinkSource = "session" | "ticket_code" | "entry_plate" | "permit" | "exit_plate" | "exit_pin" | "reservation";

/** Links an identity to a session (once: a second link of the same identity is a no-op). True when new. */
export async function linkIdentity(tx: Tx, l: { siteId: string; sessionId: string; identity: Identity; source: LinkSource; at?: Date }): Promise<boolean> {
  const id = normalizeIdentity(l.identity);
  const rows = await tx`
    INSERT INTO session_identities (site_id, session_id, method, value, source, linked_at)
    VALUES (${l.siteId}, ${l.sessionId}, ${id.method}, ${id.value}, ${l.source}, ${l.at ?? new Date()})
    ON CONFLICT (session_id, method, value) DO NOTHING RETURNING 1`;
  return rows.length > 0;
}

/** The identities linked to a session, oldest first. */
export async function identitiesOf(q: Q, sessionId: string): Promise<{ method: string; value: string; source: LinkSource; linkedAt: Date }[]> {
  return [...(await q<{ method: string; value: string; source: LinkSource; linkedAt: Date }[]>`
    SELECT method, value, source, linked_at FROM session_identities WHERE session_id = ${sessionId} ORDER BY linked_at, method, value`)];
}

/**
 * The open (active, pending_payment, paid) session of the site linked to this identity, the
 * newest if several (an 8-digit code is unique among open sessions in practice, not by
 * construction). `lock`: the session row is locked for the transaction and, should it change
 * status while this waits, returned only if still open. Undefined for an identity the canonical
 * form refuses (an unknown one).
 */
export async function findOpenSessionByAnyIdentity(q: Q, siteId: string, identity: Identity, lock = false): Promise<SessionRow | undefined> {
  let id: Identity;
  try {
    id = normalizeIdentity(identity);
  } catch (err) {
    if (err instanceof ValidationError) return undefined;
    throw err;
  }
  // Two index lookups (the open sessions' own identity, the linked ones), not an OR the planner
  // can only answer by reading every open session of the site: this runs on every exit request.
  const [row] = await q<SessionRow[]>`
    SELECT s.* FROM sessions s
    WHERE s.session_id IN (
        SELECT o.session_id FROM sessions o
        WHERE o.site_id = ${siteId} AND o.identity_method = ${id.method} AND o.identity_value = ${id.value} AND o.status IN ('active', 'pending_payment', 'paid')
        UNION ALL
        SELECT i.session_id FROM session_identities i WHERE i.site_id = ${siteId} AND i.method = ${id.method} AND i.value = ${id.value})
      AND s.status IN ('active', 'pending_payment', 'paid')
    ORDER BY s.entry_ts DESC LIMIT 1
    ${lock ? q`FOR UPDATE OF s` : q``}`;
  return row;
}

/**
 * The badge and plate of the ACTIVE permit this badge or plate belongs to at the site (a permit
 * may hold both: the car enters by plate, leaves by badge), or undefined.
 */
export async function activePermitIdentities(q: Q, siteId: string, identity: { method: string; value: string }): Promise<{ permitId: string; badgeUid: string | null; plate: string | null } | undefined> {
  if (identity.method !== "badge" && identity.method !== "plate") return undefined;
  const column = identity.method === "badge" ? q`badge_uid` : q`plate`;
  const [row] = await q<{ permitId: string; badgeUid: string | null; plate: string | null }[]>`
    SELECT permit_id, badge_uid, plate FROM permits WHERE site_id = ${siteId} AND ${column} = ${identity.value} AND status = 'active'
    ORDER BY updated_at DESC LIMIT 1`;
  return row;
}

/** The live (not deleted, within its validity) access-list entry of this badge UID or PIN entry id at `at`. */
export async function liveAccessEntry(q: Q, siteId: string, identity: { method: string; value: string }, at: Date): Promise<{ entryId: string; kind: "badge" | "pin"; label: string } | undefined> {
  if (identity.method !== "badge" && identity.method !== "pin") return undefined;
  const match = identity.method === "badge" ? q`kind = 'badge' AND badge_uid = ${identity.value}` : q`kind = 'pin' AND entry_id = ${identity.value}`;
  const [row] = await q<{ entryId: string; kind: "badge" | "pin"; label: string }[]>`
    SELECT entry_id, kind, label FROM access_list_entries
    WHERE site_id = ${siteId} AND ${match} AND NOT deleted
      AND (valid_from IS NULL OR valid_from <= ${at}) AND (valid_until IS NULL OR valid_until > ${at})`;
  return row;
}
