/**
 * The entry lanes' cloud side (issue 18). `parking/entry/req` → the cloud decides (closed, full,
 * permit, reservation, ticket signature, anti-passback) and answers `parking/entry/decision`
 * naming the session the entry will open and its pool; the decision is kept (entry_admissions)
 * so the `parking/entry` that follows opens exactly that session in that pool even if the car
 * park filled up in between — the car was told it may enter. An entry decided offline (the
 * gateway admitted a permit or issued a signed ticket) has no admission: its pool is worked out
 * at the entry; one the cloud would have refused (a forged ticket, a full car park by its count)
 * is noted for review, but the car IS inside: its session is opened and counted all the same.
 * Each handler is one site transaction (./site-tx.ts): a QoS 1 duplicate acts once; the
 * occupancy moves with the session and the entry displays hear the new state (retained).
 */
import type { Payload } from "../../contracts/mqtt-topics";
import { ticketSignatureOk } from "../../contracts/ticket";
import {
  activePermitIdentities,
  createEntrySession,
  findOpenSessionByAnyIdentity,
  linkIdentity,
  liveAccessEntry,
  normalizeIdentity,
  occupancyOf,
  ValidationError,
  type Identity,
  type Occupancy,
  type Pool,
  type Tx,
} from "../db/index";
import { enqueueForSite } from "../db/site-outbox";
import { writeAudit } from "../server/audit-chain";
import { newSessionId, type FlowContext } from "./flow-context";
import { publishSiteState } from "./lane-commands";
import { subscriberPricingFor } from "./permits";
import { claimReservation, reservationForEntry } from "./reservations";
import { ensureLane } from "./site-registry";
import { siteTx } from "./site-tx";
import { recordAlarm } from "../db/site-status";

type Refusal = "full" | "closed" | "passback" | "invalid_ticket" | "no_reservation" | "reservation_window" | "unknown";
type Verdict = { admit: true; pool: Pool; reservationId?: string; passbackPlate?: string } | { admit: false; reason: Refusal; sessionId?: string; why: string };

/** What the entry display says (20 characters a line), French then English. */
export const ENTRY_LINES: Record<Refusal | "admit", string[]> = {
  admit: ["Bienvenue", "Welcome"],
  full: ["Complet", "Full", "Abonnes seulement", "Permits only"],
  closed: ["Parking ferme", "Car park closed"],
  passback: ["Deja entre", "Already inside", "Appel operateur", "Call operator"],
  invalid_ticket: ["Ticket invalide", "Invalid ticket", "Appel operateur", "Call operator"],
  no_reservation: ["Reservation inconnue", "Unknown booking", "Prenez un ticket", "Take a ticket"],
  reservation_window: ["Hors horaire resa.", "Outside booking time", "Prenez un ticket", "Take a ticket"],
  unknown: ["Non reconnu", "Not recognised", "Prenez un ticket", "Take a ticket"],
};

function canonical(identity: { method: string; value: string }): Identity | undefined {
  try {
    return normalizeIdentity(identity as Identity);
  } catch (err) {
    if (err instanceof ValidationError) return undefined;
    throw err;
  }
}

/** A badge, plate or PIN of a permit holder: an active permit, a subscriber badge, or a live access-list entry. */
async function isPermit(tx: Tx, siteId: string, id: Identity, at: Date): Promise<boolean> {
  if ((id.method === "badge" || id.method === "plate") && (await subscriberPricingFor(tx, siteId, id, at))) return true;
  return (await liveAccessEntry(tx, siteId, id, at)) !== undefined;
}

/** The pool an identity enters in, before capacity: undefined when it may not enter at all. */
async function poolFor(tx: Tx, ctx: FlowContext, siteId: string, id: Identity, p: { ticket?: Payload<"entry">["ticket"] }, at: Date): Promise<Verdict> {
  if (id.method === "ticket") {
    const key = ctx.aclHmacKey;
    if (!p.ticket || p.ticket.id !== id.value) return { admit: false, reason: "invalid_ticket", why: "a ticket identity needs the ticket it names" };
    if (!key || !ticketSignatureOk(siteId, p.ticket, key)) return { admit: false, reason: "invalid_ticket", why: key ? "ticket signature does not verify" : "no ticket key (SYSPARK_ACL_HMAC_KEY) to verify the ticket" };
    return { admit: true, pool: "transient" };
  }
  if (id.method === "reservation" || id.method === "plate") {
    const r = await reservationForEntry(tx, siteId, id, at);
    if (r.kind === "ok") return { admit: true, pool: "reservation", reservationId: r.reservationId, ...(r.plate ? { passbackPlate: r.plate } : {}) };
    if (id.method === "reservation") return { admit: false, reason: r.kind === "outside_window" ? "reservation_window" : "no_reservation", why: r.kind === "outside_window" ? "reservation outside its window" : "no such reservation" };
  }
  if (await isPermit(tx, siteId, id, at)) return { admit: true, pool: "permit" };
  if (id.method === "plate") return { admit: true, pool: "transient" };
  return { admit: false, reason: "unknown", why: `${id.method} not known at this site` };
}

/** Room for this pool: permits while their spaces or the car park has room, reservations always, tickets while free spaces remain. */
function roomFor(pool: Pool, o: Occupancy): boolean {
  if (pool === "reservation") return true;
  if (pool === "permit") return o.capacity === null || o.pools.permit < o.permitSpots || o.total < o.capacity;
  return o.transientFree === null || o.transientFree > 0;
}

async function decide(tx: Tx, ctx: FlowContext, siteId: string, p: Payload<"entryReq">, at: Date): Promise<Verdict> {
  const o = (await occupancyOf(tx, siteId)) as Occupancy; // siteTx checked the site exists
  if (o.entriesClosed) return { admit: false, reason: "closed", why: "entries closed by an operator" };
  const id = canonical(p.identity);
  if (!id || id.method === "operator") return { admit: false, reason: "unknown", why: `identity ${p.identity.method} refused` };
  const verdict = await poolFor(tx, ctx, siteId, id, p, at);
  if (!verdict.admit) return verdict;
  // Anti-passback: this identity, or the plate the camera read, already has a car inside.
  const plates = [p.plate, verdict.passbackPlate].filter((x): x is string => x !== undefined).map((v) => canonical({ method: "plate", value: v }));
  for (const candidate of [id, ...plates]) {
    const inside = candidate && (await findOpenSessionByAnyIdentity(tx, siteId, candidate));
    if (inside) return { admit: false, reason: "passback", sessionId: inside.sessionId, why: `${candidate.method} already inside (session ${inside.sessionId})` };
  }
  if (!roomFor(verdict.pool, o)) return { admit: false, reason: "full", why: `no space for the ${verdict.pool} pool` };
  return verdict;
}

export async function handleEntryRequest(ctx: FlowContext, siteId: string, p: Payload<"entryReq">): Promise<string> {
  return siteTx(ctx, siteId, "entryReq", p.event_id, async (tx) => {
    const lane = await ensureLane(tx, ctx.db, siteId, p.lane_id, "entry");
    const now = new Date();
    const v = await decide(tx, ctx, siteId, p, now);
    const base = { ts: now.getTime(), src: ctx.src, event_id: p.event_id, lane_id: p.lane_id };
    const evidence = { site_id: siteId, lane_id: p.lane_id, event_id: p.event_id, identity_method: p.identity.method, identity_value: p.identity.value, plate_read: p.plate ?? null, ticket_id: p.ticket?.id ?? null };
    if (!v.admit) {
      await enqueueForSite(tx, siteId, "entryDecision", { ...base, decision: "refuse", reason: v.reason, lines: ENTRY_LINES[v.reason] }, `entry_decision:${p.event_id}`);
      await writeAudit(ctx.auditMode, tx, { kind: "entry.refused", sessionId: v.sessionId ?? null, payload: { ...evidence, reason: v.reason, why: v.why, inside_session_id: v.sessionId ?? null } });
      return `refused_${v.reason}`;
    }
    const sessionId = newSessionId();
    const id = canonical(p.identity) as Identity;
    await tx`INSERT INTO entry_admissions (session_id, site_id, event_id, lane_id, pool, reservation_id, identity_method, identity_value)
             VALUES (${sessionId}, ${siteId}, ${p.event_id}, ${lane}, ${v.pool}, ${v.reservationId ?? null}, ${id.method}, ${id.value})`;
    await enqueueForSite(tx, siteId, "entryDecision", { ...base, decision: "admit", session_id: sessionId, pool: v.pool, lines: ENTRY_LINES.admit }, `entry_decision:${p.event_id}`);
    await writeAudit(ctx.auditMode, tx, { kind: "entry.admitted", sessionId: null, payload: { ...evidence, session_id: sessionId, pool: v.pool, reservation_id: v.reservationId ?? null } });
    return "admitted";
  });
}

interface Admission {
  sessionId: string;
  pool: Pool;
  reservationId: string | null;
}

/**
 * The pool of an entry the cloud did not decide (offline, override). One the cloud would have
 * refused (the car park full by its count, a forged ticket) is noted for review — but the car is
 * inside: its session is opened and counted like any other, so it pays and leaves by its
 * identity; a forged ticket also gives the operators a task.
 */
async function offlineAdmission(tx: Tx, ctx: FlowContext, siteId: string, id: Identity, p: Payload<"entry">, at: Date): Promise<Admission & { review?: string; forged?: boolean }> {
  const sessionId = newSessionId();
  if (id.method === "operator") return { sessionId, pool: "transient", reservationId: null };
  const v = await poolFor(tx, ctx, siteId, id, p, at);
  if (v.admit) return { sessionId, pool: v.pool, reservationId: v.reservationId ?? null };
  return { sessionId, pool: "transient", reservationId: null, review: `entry ${p.decided_by ?? "offline"} not admissible: ${v.why}`, forged: v.reason === "invalid_ticket" };
}

/** Every identity the entry saw, linked to the session: the ticket's code, the plate read, a permit's other identity. */
async function linkEntryIdentities(tx: Tx, siteId: string, sessionId: string, id: Identity, p: Payload<"entry">, at: Date): Promise<void> {
  if (p.ticket) {
    await linkIdentity(tx, { siteId, sessionId, identity: { method: "ticket", value: p.ticket.id }, source: "session", at });
    await linkIdentity(tx, { siteId, sessionId, identity: { method: "ticket", value: p.ticket.code }, source: "ticket_code", at });
  }
  const plate = p.plate && canonical({ method: "plate", value: p.plate });
  if (plate) await linkIdentity(tx, { siteId, sessionId, identity: plate, source: "entry_plate", at });
  const permit = await activePermitIdentities(tx, siteId, id);
  if (permit?.badgeUid) await linkIdentity(tx, { siteId, sessionId, identity: { method: "badge", value: permit.badgeUid }, source: "permit", at });
  if (permit?.plate) await linkIdentity(tx, { siteId, sessionId, identity: { method: "plate", value: permit.plate }, source: "permit", at });
}

/** `parking/entry`: the car passed the entry barrier. Opens its session, counts it, links what was seen. */
export async function handleEntry(ctx: FlowContext, siteId: string, p: Payload<"entry">): Promise<string> {
  return siteTx(ctx, siteId, "entry", p.event_id, async (tx) => {
    const lane = await ensureLane(tx, ctx.db, siteId, p.lane_id, "entry");
    const entryTs = new Date(Math.min(p.ts, Date.now()));
    const [admitted] = p.session_id ? await tx<Admission[]>`SELECT session_id, pool, reservation_id FROM entry_admissions WHERE session_id = ${p.session_id} AND site_id = ${siteId}` : [];
    // An operator's entry is known by the plate read, else by its own session id (one car, one identity).
    const isOperator = p.identity.method === "operator";
    const given = isOperator ? (p.plate ? canonical({ method: "plate", value: p.plate }) : undefined) : canonical(p.identity);
    if (!given && !isOperator) {
      await writeAudit(ctx.auditMode, tx, { kind: "entry.rejected", payload: { site_id: siteId, lane_id: p.lane_id, event_id: p.event_id, identity_method: p.identity.method, reason: "identity refused by its canonical form" } });
      return "rejected";
    }
    const a: Admission & { review?: string; forged?: boolean } = admitted ?? (await offlineAdmission(tx, ctx, siteId, given ?? { method: "operator", value: "-" }, p, entryTs));
    const id: Identity = given ?? { method: "operator", value: a.sessionId };
    const r = await createEntrySession(tx, { sessionId: a.sessionId, siteId, laneId: lane, identity: id, entryTs, onConflict: "flag-previous", pool: a.pool });
    if (!r.created) return "duplicate";
    await linkEntryIdentities(tx, siteId, a.sessionId, id, p, entryTs);
    if (a.reservationId) await claimReservation(tx, a.reservationId, a.sessionId);
    if (r.flaggedSessionId) {
      await writeAudit(ctx.auditMode, tx, { kind: "session.flagged", sessionId: r.flaggedSessionId, payload: { site_id: siteId, reason: `left without a recorded exit: superseded by new entry ${a.sessionId}`, event_id: p.event_id, counted_off: true } });
    }
    const review = a.review;
    await writeAudit(ctx.auditMode, tx, {
      kind: "session.entry",
      sessionId: a.sessionId,
      payload: { site_id: siteId, lane_id: p.lane_id, event_id: p.event_id, entry_ts: entryTs.toISOString(), identity_method: id.method, identity_value: id.value, pool: a.pool, decided_by: p.decided_by ?? null, admitted_online: admitted !== undefined, ticket_id: p.ticket?.id ?? null, plate_read: p.plate ?? null, reservation_id: a.reservationId },
    });
    if (review) {
      await writeAudit(ctx.auditMode, tx, { kind: "entry.review", sessionId: a.sessionId, payload: { site_id: siteId, lane_id: p.lane_id, event_id: p.event_id, reason: review, ticket_id: p.ticket?.id ?? null, counted: true, forged_ticket: a.forged === true } });
      if (a.forged) await recordAlarm(tx, { siteId, laneId: lane, eventId: `review:${p.event_id}`.slice(0, 128), code: "FORGED_TICKET", severity: "warning", detail: `ticket ${p.ticket?.id ?? "?"} entered offline with a bad signature (session ${a.sessionId})`.slice(0, 200), ts: entryTs, task: true });
    }
    await publishSiteState(tx, ctx, siteId);
    return review ? "created_for_review" : "created";
  });
}
