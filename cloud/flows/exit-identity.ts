/**
 * "Any identity out" (issue 18): the exit request finds the open session by any identity linked
 * to it (plate, badge, ticket id or 8-digit code, an exit PIN's access-list entry, a reservation)
 * and links the plate the exit camera read. An exit PIN with no session is an authorised zero-fee
 * exit for its access-list entry. An identity nobody knows goes to an operator: the driver is
 * told the other ways out, the console gets a task with the lane's evidence (plate read, time).
 */
import type { Payload } from "../../contracts/mqtt-topics";
import {
  changeStatus,
  createEntrySession,
  findOpenSessionByAnyIdentity,
  getSite,
  linkIdentity,
  liveAccessEntry,
  type Identity,
  type Json,
  type SessionRow,
  type Tx,
} from "../db/index";
import { enqueueForSite } from "../db/site-outbox";
import { recordAlarm } from "../db/site-status";
import { writeAudit } from "../server/audit-chain";
import type { PriceResult } from "../tariffs/index";
import { newSessionId, type FlowContext, type StoredQuote } from "./flow-context";

/** The open session of any identity linked to it, locked; undefined for an unknown (or refused) identity. */
export async function lockExitSession(tx: Tx, siteId: string, identity: Payload<"exitReq">["identity"]): Promise<SessionRow | undefined> {
  if (identity.method === "operator") return undefined;
  return findOpenSessionByAnyIdentity(tx, siteId, identity as Identity, true);
}

/** The plate the exit camera read for a car that showed something else (a ticket): linked, once, audited. */
export async function linkExitPlate(tx: Tx, ctx: FlowContext, siteId: string, s: SessionRow, p: Payload<"exitReq">): Promise<void> {
  if (!p.plate || p.identity.method === "plate") return;
  const linked = await linkIdentity(tx, { siteId, sessionId: s.sessionId, identity: { method: "plate", value: p.plate }, source: "exit_plate" }).catch(() => false);
  if (!linked) return;
  await writeAudit(ctx.auditMode, tx, { kind: "session.identity_linked", sessionId: s.sessionId, payload: { site_id: siteId, lane_id: p.lane_id, event_id: p.event_id, method: "plate", value: p.plate, source: "exit_plate", seen_with: p.identity.method } });
}

const PIN_LABEL = { fr: "Sortie autorisee (code PIN)", en: "Exit authorised (PIN)" };

/**
 * An exit PIN (the gateway sends the access-list entry id, never the PIN) with no session linked
 * to it: a zero-fee exit for that entry. The car is the one the exit camera read when its plate
 * belongs to a car inside (a guest who came in by plate or ticket: its session is the one that
 * leaves, so the count stays right, and the PIN is linked to it); else a session is opened for
 * the PIN (not counted: the car was never counted in). Either way paid at 0 with a breakdown line
 * that says why. Undefined when the entry is not live (deleted, expired): then the PIN is an
 * unknown identity.
 */
export async function pinAuthorisedExit(tx: Tx, ctx: FlowContext, siteId: string, lane: string, p: Payload<"exitReq">): Promise<string | undefined> {
  const now = new Date();
  const entry = await liveAccessEntry(tx, siteId, { method: "pin", value: p.identity.value }, now);
  if (!entry || entry.kind !== "pin") return undefined;
  const { currency } = await getSite(tx, siteId);
  const inside = p.plate ? await findOpenSessionByAnyIdentity(tx, siteId, { method: "plate", value: p.plate }, true) : undefined;
  const r = inside && (inside.status === "active" || inside.status === "pending_payment")
    ? { session: inside }
    : await createEntrySession(tx, { sessionId: newSessionId(), siteId, identity: { method: "pin", value: entry.entryId }, entryTs: now, counted: false });
  if (r.session === inside) await linkIdentity(tx, { siteId, sessionId: inside.sessionId, identity: { method: "pin", value: entry.entryId }, source: "exit_pin" }).catch(() => false);
  const iso = now.toISOString();
  const price: PriceResult = {
    amount: 0, currency, tariff_id: "pin", tariff_version: 0, entry: iso, exit: iso, duration_s: 0, priced_until: iso,
    breakdown: [{ kind: "flat_rate", label: PIN_LABEL.fr, amount: 0 }],
    human: [`${PIN_LABEL.fr}: ${entry.label || entry.entryId}`],
  };
  const quote: StoredQuote = { lane_id: p.lane_id, price, labels: { fr: [PIN_LABEL.fr], en: [PIN_LABEL.en] } };
  await changeStatus(tx, r.session.sessionId, "paid", { amount: 0, currency, quoteBreakdown: quote as unknown as Json, pricedAt: now, paidAt: now, exitLaneId: lane });
  await enqueueForSite(tx, siteId, "paymentSuccess", { ts: now.getTime(), src: ctx.src, session_id: r.session.sessionId, lane_id: p.lane_id, provider_ref: "no_charge", amount: 0, currency }, `payment_success:${r.session.sessionId}`);
  await writeAudit(ctx.auditMode, tx, { kind: "exit.pin_authorised", sessionId: r.session.sessionId, payload: { site_id: siteId, lane_id: p.lane_id, event_id: p.event_id, access_entry: entry.entryId, label: entry.label, amount: 0, currency, plate_read: p.plate ?? null, session_of_plate: r.session === inside } });
  return "pin_authorised";
}

/** The display's lines for an identity nobody knows: the other ways out. */
export const UNKNOWN_IDENTITY_LINES = ["Non reconnu/Unknown", "Badge ou ticket", "Ticket perdu: touche", "Aide: appel/Help"];

/** Unknown identity: the driver hears the other ways out, the operator gets a task with the lane's evidence. */
export async function unknownExitIdentity(tx: Tx, ctx: FlowContext, siteId: string, lane: string, p: Payload<"exitReq">): Promise<string> {
  const now = new Date();
  await enqueueForSite(tx, siteId, "displayText", { ts: now.getTime(), src: ctx.src, msg_id: `m${p.event_id}`.slice(0, 64), lane_id: p.lane_id, lines: UNKNOWN_IDENTITY_LINES });
  const seenAt = new Date(Math.min(p.ts, now.getTime()));
  const hhmm = seenAt.toISOString().slice(11, 16);
  const shown = p.identity.method === "pin" ? "PIN entry" : `${p.identity.method} ${p.identity.value}`;
  const detail = `${p.plate ? `plate ${p.plate} read ${hhmm} UTC, ` : `read ${hhmm} UTC, `}${shown} unknown at ${p.lane_id}`.slice(0, 200);
  await recordAlarm(tx, { siteId, laneId: lane, eventId: `unknown:${p.event_id}`.slice(0, 128), code: "UNKNOWN_IDENTITY", severity: "warning", detail, ts: seenAt, task: true });
  await writeAudit(ctx.auditMode, tx, { kind: "exit.unknown_identity", payload: { site_id: siteId, lane_id: p.lane_id, event_id: p.event_id, identity_method: p.identity.method, identity_value: p.identity.value, plate_read: p.plate ?? null, seen_at: seenAt.toISOString(), operator_task: "UNKNOWN_IDENTITY" } });
  return "unknown_identity";
}
