/**
 * Lost ticket (issue 18): declared at the pay station's key (parking/exit/lost) or by an operator
 * (the console, ../http/console/lost-ticket.ts). The fee is the tariff's lost_ticket rule:
 * - the plate the exit camera read matches an open session → declared on it, priced from its
 *   entry with the rule (at_least / add / replace);
 * - no match → a session opened now for the car (its plate when one was read, else a ticket
 *   identity `LOST-<event>`): a zero stay, which every mode of the rule prices at the fixed fee.
 * Then the one exit-pricing path (./exit-pricing.ts) answers payment/req, and the audit row
 * `ticket.lost_declared` says how it was priced. A replay acts once (the event id, and one
 * declaration per session).
 */
import type { Payload } from "../../contracts/mqtt-topics";
import { HttpError } from "./errors";
import { createEntrySession, listPayments, lockSession, tariffInForce, type Json, type SessionRow, type Tx } from "../db/index";
import { findOpenSessionByAnyIdentity } from "../db/identities";
import { declareLostTicketRow } from "../db/merchants";
import { enqueueForSite } from "../db/site-outbox";
import { canonicalPlate, PLATE_FORM } from "../domain/plates";
import { writeAudit } from "../server/audit-chain";
import { priceExit } from "./exit-pricing";
import { newSessionId, tariffOf, type FlowContext } from "./flow-context";
import { ensureLane } from "./site-registry";
import { siteTx } from "./site-tx";

interface Declaration {
  siteId: string;
  wireLane: string;
  eventId: string;
  ts: number;
  plate?: string;
  declaredBy: "pay_station" | "operator";
  operator?: { operatorId: number; username: string };
  reason?: string;
}

/** The open session of the plate read — its own identity or a plate linked to it (a camera read at entry) — locked; undefined when none. */
async function sessionOfPlate(tx: Tx, siteId: string, plate: string | undefined): Promise<SessionRow | undefined> {
  if (!plate || !PLATE_FORM.test(canonicalPlate(plate))) return undefined;
  return findOpenSessionByAnyIdentity(tx, siteId, { method: "plate", value: plate }, true);
}

/** Already paid (the driver pressed the key after paying): the success said again, nothing declared. */
async function sayPaidAgain(tx: Tx, ctx: FlowContext, d: Declaration, s: SessionRow): Promise<string> {
  const [pay] = (await listPayments(tx, s.sessionId)).filter((x) => x.state === "paid");
  await enqueueForSite(tx, d.siteId, "paymentSuccess", { ts: Date.now(), src: ctx.src, session_id: s.sessionId, lane_id: d.wireLane, provider_ref: pay?.providerRef ?? "no_charge", amount: s.amount ?? 0, currency: s.currency ?? "EUR" }, `payment_success:${s.sessionId}:${d.eventId}`);
  return "already_paid";
}

async function declareAndPrice(tx: Tx, ctx: FlowContext, d: Declaration): Promise<{ outcome: string; sessionId?: string }> {
  const lane = await ensureLane(tx, ctx.db, d.siteId, d.wireLane, "exit");
  const now = new Date();
  const matched = await sessionOfPlate(tx, d.siteId, d.plate);
  if (matched?.status === "paid") return { outcome: await sayPaidAgain(tx, ctx, d, matched), sessionId: matched.sessionId };
  const plate = d.plate && PLATE_FORM.test(canonicalPlate(d.plate)) ? canonicalPlate(d.plate) : undefined;
  let session = matched && (matched.status === "active" || matched.status === "pending_payment") ? matched : undefined;
  if (!session) {
    const identity = plate ? { method: "plate" as const, value: plate } : { method: "ticket" as const, value: `LOST-${d.eventId}`.slice(0, 64) };
    const created = await createEntrySession(tx, { sessionId: newSessionId(), siteId: d.siteId, laneId: lane, identity, entryTs: now, onConflict: "flag-previous" });
    session = await lockSession(tx, created.session.sessionId);
  }
  await declareLostTicketRow(tx, { sessionId: session.sessionId, siteId: d.siteId, declaredBy: d.declaredBy, operatorId: d.operator?.operatorId ?? null, plate: plate ?? null, lane: d.wireLane, reason: d.reason ?? null });
  const tariffRow = await tariffInForce(tx, d.siteId, now);
  const rule = tariffRow ? (tariffOf(tariffRow.tariffId, tariffRow.document).lost_ticket ?? null) : null;
  const payload: Record<string, Json> = {
    site_id: d.siteId, lane_id: d.wireLane, event_id: d.eventId, declared_by: d.declaredBy, plate: plate ?? null,
    matched_session: session === matched, priced_from: session.entryTs.toISOString(),
    pricing: session === matched ? "from_entry_with_lost_ticket_rule" : "fixed_lost_ticket_fee", lost_ticket_rule: rule,
    ...(d.operator ? { operator: d.operator.username, operator_id: d.operator.operatorId, reason: d.reason ?? null } : {}),
  };
  await writeAudit(ctx.auditMode, tx, { kind: "ticket.lost_declared", sessionId: session.sessionId, payload });
  const priced = await priceExit(tx, ctx, { siteId: d.siteId, session, wireLane: d.wireLane, lane, eventId: d.eventId, ts: d.ts });
  return { outcome: `${session === matched ? "lost_matched" : "lost_unmatched"}+${priced}`, sessionId: session.sessionId };
}

/** parking/exit/lost: the driver pressed the lost-ticket key at the pay station. */
export async function handleLostTicket(ctx: FlowContext, siteId: string, p: Payload<"exitLost">): Promise<string> {
  return siteTx(ctx, siteId, "exitLost", p.event_id, async (tx) => {
    const r = await declareAndPrice(tx, ctx, { siteId, wireLane: p.lane_id, eventId: p.event_id, ts: p.ts, declaredBy: "pay_station", ...(p.plate ? { plate: p.plate } : {}) });
    return r.outcome;
  });
}

export interface OperatorLostTicket {
  site: string;
  /** The exit lane the car is at, as the site names it (the payment request goes there). */
  lane: string;
  plate?: string;
  operator: { operatorId: number; username: string };
  reason: string;
  /** The form's idempotency key: the same declaration posted twice acts once. */
  key: string;
}

/** An operator declares a lost ticket for the car at a lane (the console's action). */
export async function declareLostTicket(ctx: FlowContext, a: OperatorLostTicket): Promise<{ outcome: string; sessionId?: string }> {
  const [site] = await ctx.db.sql`SELECT 1 FROM sites WHERE site_id = ${a.site}`;
  if (!site) throw new HttpError(404, `unknown site ${a.site}`, "not_found");
  const [lane] = await ctx.db.sql`SELECT 1 FROM lanes WHERE site_id = ${a.site} AND lane_id = ${a.lane.toLowerCase()} AND kind = 'exit'`;
  if (!lane) throw new HttpError(400, `lane: ${a.lane} is not an exit lane of ${a.site}`, "invalid_input");
  let sessionId: string | undefined;
  const outcome = await siteTx(ctx, a.site, "exitLost", `op-lost:${a.key}`.slice(0, 64), async (tx) => {
    const r = await declareAndPrice(tx, ctx, { siteId: a.site, wireLane: a.lane, eventId: `op-lost:${a.key}`.slice(0, 64), ts: Date.now(), declaredBy: "operator", operator: a.operator, reason: a.reason, ...(a.plate ? { plate: a.plate } : {}) });
    sessionId = r.sessionId;
    return r.outcome;
  });
  return { outcome, ...(sessionId ? { sessionId } : {}) };
}
