/**
 * The exit flow's cloud side (ARCHITECTURE §4), one function per site event. Each runs in ONE
 * transaction that (1) records the event id (QoS 1 duplicates act once), (2) applies the state
 * change through cloud/db (state machines enforced there), (3) enqueues what the site must hear
 * in the outbox, (4) appends the audit row last (it holds the chain head until commit).
 *
 * Lane ids: the wire allows `A-Z . :` in lane ids, the database only lowercase — the database
 * lane id is the lowercased wire id, and the wire id the site used is kept in the session's
 * quote (`quote_breakdown.lane_id`) so answers go back with the exact id the lane expects.
 */
import { TOPICS, type Payload, type TopicKey } from "../../contracts/mqtt-topics";
import {
  closeSession,
  countExit,
  findOpenSessionByAnyIdentity,
  getSession,
  listPaidOpenSince,
  listPayments,
  type ExitMethod,
  type Identity,
  type Json,
  type SessionRow,
  type Tx,
} from "../db/index";
import { answerSyncRequest } from "./access";
import { ensureLane, ensureSite, UnknownSiteError } from "./site-registry";
import { handleGatewayStatus, handleHeartbeat, handleLaneState, handlePresence } from "./site-status";
import { recordAlarm, recordCommandAck } from "../db/site-status";
import { enqueueForSite } from "../db/site-outbox";
import { verifyOverrideClaim, type OverrideVerdict } from "./override-claims";
import { writeAudit } from "../server/audit-chain";
import { eventInstant, wireLaneOf, type FlowContext } from "./flow-context";
import { priceExit } from "./exit-pricing";
import { siteTx } from "./site-tx";
import { markReservationExited } from "../db/reservations";
import { handleLostTicket } from "./lost-ticket";
import { handleExitValidation } from "./validations";
import { handleEntry, handleEntryRequest } from "./entry";
import { linkExitPlate, lockExitSession, pinAuthorisedExit, unknownExitIdentity } from "./exit-identity";
import { publishSiteState } from "./lane-commands";

export { newSessionId, wireLaneOf, type FlowContext, type StoredQuote } from "./flow-context";
export { handleEntry, handleEntryRequest } from "./entry";

export async function handleExitRequest(ctx: FlowContext, siteId: string, p: Payload<"exitReq">): Promise<string> {
  return siteTx(ctx, siteId, "exitReq", p.event_id, async (tx) => {
    const lane = await ensureLane(tx, ctx.db, siteId, p.lane_id, "exit");
    // Any identity linked to the session finds it (./exit-identity.ts); a PIN may be an exit on its own.
    const session = await lockExitSession(tx, siteId, p.identity);
    const now = new Date();
    if (!session) {
      const pin = p.identity.method === "pin" ? await pinAuthorisedExit(tx, ctx, siteId, lane, p) : undefined;
      return pin ?? unknownExitIdentity(tx, ctx, siteId, lane, p);
    }
    await linkExitPlate(tx, ctx, siteId, session, p);
    if (session.status === "paid") {
      // Already paid (a repeated request, or a lost success): say it again, same ids.
      const [pay] = (await listPayments(tx, session.sessionId)).filter((x) => x.state === "paid");
      await enqueueForSite(
        tx,
        siteId,
        "paymentSuccess",
        { ts: now.getTime(), src: ctx.src, session_id: session.sessionId, lane_id: p.lane_id, provider_ref: pay?.providerRef ?? "no_charge", amount: session.amount ?? 0, currency: session.currency ?? "EUR" },
        `payment_success:${session.sessionId}:${p.event_id}`,
      );
      await writeAudit(ctx.auditMode, tx, { kind: "exit.request_repeated", sessionId: session.sessionId, payload: { site_id: siteId, lane_id: p.lane_id, event_id: p.event_id, status: session.status } });
      return "already_paid";
    }
    if (session.status !== "active" && session.status !== "pending_payment") return "ignored";
    return priceExit(tx, ctx, { siteId, session, wireLane: p.lane_id, lane, eventId: p.event_id, ts: p.ts });
  });
}

function exitMethodOf(p: Payload<"exitDone">, s: SessionRow): ExitMethod {
  if (p.decided_by === "override") return "operator";
  if (p.decided_by === "offline_pin") return "pin";
  if (p.decided_by === "offline_badge") return "badge";
  const m = p.identity?.method;
  if (m === "plate" || m === "badge" || m === "ticket" || m === "pin" || m === "operator" || m === "reservation") return m;
  return s.identityMethod;
}

/** One row that explains the whole exit (issue 4 "every exit must be explainable afterwards"). */
export async function exitSummary(tx: Tx, s: SessionRow): Promise<Record<string, Json>> {
  const pays = await listPayments(tx, s.sessionId);
  const paid = pays.find((x) => x.state === "paid");
  return {
    site_id: s.siteId,
    lane_id: wireLaneOf(s),
    identity_method: s.identityMethod,
    identity_value: s.identityValue,
    exit_method: s.exitMethod,
    entry_ts: s.entryTs.toISOString(),
    payment_req_ts: s.pricedAt?.toISOString() ?? null,
    payment_validated_ts: paid?.validatedTs?.toISOString() ?? (s.amount === 0 ? (s.paidAt?.toISOString() ?? null) : null),
    exit_ts: s.exitTs?.toISOString() ?? null,
    amount: s.amount,
    currency: s.currency,
    tariff_id: s.tariffId,
    tariff_version: s.tariffVersion,
    provider: paid?.provider ?? (s.amount === 0 ? "none" : null),
    provider_ref: paid?.providerRef ?? (s.amount === 0 ? "no_charge" : null),
    validation_result: paid ? "paid: verified server-side (signed webhook or server retrieve)" : s.amount === 0 ? "zero fee" : "not paid",
    payment_attempts: pays.length,
    failed_attempts: pays.filter((x) => x.state === "failed" || x.state === "canceled").length,
    barrier_result: s.barrierResult,
    status: s.status,
    flag_reason: s.flagReason,
  };
}

export async function handleExitDone(ctx: FlowContext, siteId: string, p: Payload<"exitDone">): Promise<string> {
  return siteTx(ctx, siteId, "exitDone", p.event_id, async (tx) => {
    const lane = await ensureLane(tx, ctx.db, siteId, p.lane_id, "exit");
    let session: SessionRow | undefined;
    if (p.session_id) session = await getSession(tx, p.session_id).catch(() => undefined);
    if (session && session.siteId !== siteId) session = undefined;
    if (!session && p.identity && p.identity.method !== "operator") session = await findOpenSessionByAnyIdentity(tx, siteId, p.identity as Identity);
    // Who decided: only an override the cloud issued names a cloud operator (override-claims.ts).
    const verdict = await verifyOverrideClaim(tx, { siteId, laneId: lane, sessionId: session?.sessionId, exit: p });
    const decision = decisionFields(p, verdict);
    if (verdict.kind === "claimed") {
      await writeAudit(ctx.auditMode, tx, {
        kind: "exit.override_claimed",
        sessionId: session?.sessionId ?? null,
        payload: { site_id: siteId, lane_id: p.lane_id, event_id: p.event_id, session_id: session?.sessionId ?? null, cmd_id: p.cmd_id ?? null, claimed_by: p.src, claimed_operator: p.operator ?? null, claimed_reason: p.reason ?? null, verified: false, why: verdict.why, review: true, barrier_result: p.barrier_result, passed: p.passed, exit_ts: new Date(p.ts).toISOString() },
      });
    }
    if (!session) {
      await writeAudit(ctx.auditMode, tx, { kind: "exit.unmatched", payload: { site_id: siteId, lane_id: p.lane_id, event_id: p.event_id, barrier_result: p.barrier_result, decided_by: p.decided_by, passed: p.passed, ...decision, exit_ts: new Date(p.ts).toISOString() } });
      return "unmatched";
    }
    if (!p.passed && p.barrier_result === "opened") {
      await writeAudit(ctx.auditMode, tx, { kind: "exit.not_passed", sessionId: session.sessionId, payload: { site_id: siteId, lane_id: p.lane_id, event_id: p.event_id, barrier_result: p.barrier_result } });
      return "not_passed";
    }
    const r = await closeSession(tx, {
      sessionId: session.sessionId,
      exitTs: eventInstant(p.ts, session.entryTs, new Date()),
      barrierResult: p.barrier_result,
      exitLaneId: lane,
      exitMethod: exitMethodOf(p, session),
      ...(verdict.kind === "cloud" ? { override: { operatorId: verdict.override.operatorId, reason: verdict.override.reason } } : {}),
    });
    if (r.outcome === "duplicate") return "duplicate";
    if (r.outcome === "closed") await markReservationExited(tx, session.sessionId);
    // A closed session is off the occupancy already (closeSession); a flagged one only if the car passed.
    const countedOff = r.outcome === "flagged" && p.passed ? await countExit(tx, session.sessionId, "flagged") : r.outcome === "closed";
    if (countedOff) await publishSiteState(tx, ctx, siteId);
    const summary = await exitSummary(tx, r.session);
    await writeAudit(ctx.auditMode, tx, {
      kind: r.outcome === "closed" ? "session.closed" : "session.flagged",
      sessionId: session.sessionId,
      payload: { ...summary, lane_id: p.lane_id, event_id: p.event_id, decided_by: p.decided_by, passed: p.passed, counted_off: countedOff, ...decision },
    });
    return r.outcome;
  });
}

/**
 * The exit's audit fields about who decided it: `operator` (and `operator_id`) only from an
 * override the cloud issued; what the site said otherwise stays a claim (`claimed_operator`).
 */
function decisionFields(p: Payload<"exitDone">, verdict: OverrideVerdict): Record<string, Json> {
  if (verdict.kind === "cloud") {
    const o = verdict.override;
    return { override: "cloud", operator: o.username, operator_id: o.operatorId, cmd_id: o.cmdId, override_reason: o.reason };
  }
  return {
    ...(verdict.kind === "claimed" ? { override: "claimed", cmd_id: p.cmd_id ?? null } : {}),
    operator: null,
    ...(p.operator !== undefined ? { claimed_operator: p.operator } : {}),
    ...(verdict.kind === "claimed" ? { override_reason: null, claimed_reason: p.reason ?? null } : { override_reason: p.reason ?? null }),
  };
}

export async function handleExitLeft(ctx: FlowContext, siteId: string, p: Payload<"exitLeft">): Promise<string> {
  return siteTx(ctx, siteId, "exitLeft", p.event_id, async (tx) => {
    const s = p.session_id ? await getSession(tx, p.session_id).catch(() => undefined) : undefined;
    await writeAudit(ctx.auditMode, tx, { kind: "exit.left", sessionId: s && s.siteId === siteId ? s.sessionId : null, payload: { site_id: siteId, lane_id: p.lane_id, event_id: p.event_id, session_id: p.session_id ?? null, ts: new Date(p.ts).toISOString(), status: s?.status ?? null } });
    return "audited";
  });
}

export async function handleSensorError(ctx: FlowContext, siteId: string, p: Payload<"sensorError">): Promise<string> {
  const outcome = await siteTx(ctx, siteId, "sensorError", p.event_id, async (tx) => {
    await recordAlarm(tx, { siteId, laneId: await ensureLane(tx, ctx.db, siteId, p.lane_id, "exit"), eventId: p.event_id, code: p.code, severity: p.severity, ts: new Date(Math.min(p.ts, Date.now())), ...(p.detail ? { detail: p.detail } : {}) });
    await writeAudit(ctx.auditMode, tx, { kind: "alarm.sensor_gate", payload: { site_id: siteId, lane_id: p.lane_id, event_id: p.event_id, code: p.code, severity: p.severity, detail: p.detail ?? null, ts: new Date(p.ts).toISOString() } });
    return "audited";
  });
  if (outcome !== "duplicate") {
    const level = p.severity === "alarm" || p.severity === "fault" ? "error" : "warn";
    ctx.logger[level]({ alarm: true, site: siteId, lane: p.lane_id, code: p.code, severity: p.severity, detail: p.detail }, `ALARM ${siteId}/${p.lane_id}: ${p.code} (${p.severity})`);
  }
  return outcome;
}

export async function handleBarrierAck(ctx: FlowContext, siteId: string, p: Payload<"barrierAck">): Promise<string> {
  return siteTx(ctx, siteId, "barrierAck", `ack:${p.cmd_id}`.slice(0, 128), async (tx) => {
    await recordCommandAck(tx, { siteId, cmdId: p.cmd_id, result: p.result, ts: new Date(Math.min(p.ts, Date.now())), ...(p.detail ? { detail: p.detail } : {}) });
    await writeAudit(ctx.auditMode, tx, { kind: "barrier.ack", payload: { site_id: siteId, lane_id: p.lane_id, cmd_id: p.cmd_id, result: p.result, detail: p.detail ?? null, ts: new Date(p.ts).toISOString() } });
    return "audited";
  });
}

/**
 * How far back a gateway's `parking/sync/req` gets the site's paid sessions said again. A paid
 * car waits at its lane only while the exit controller holds it `authorised` — at most
 * `authorisedTimeoutMs` (20 s by default, 10 min at most in manifests/) after the controller's
 * re-sync, which a gateway restart triggers — and the gateway keeps a success it cannot place
 * yet for as long (gateway/lane/orchestrator.ts HELD_SUCCESS_MS). Older paid sessions belong to
 * drivers who left the loop: their next exit request gets the success again (handleExitRequest).
 * The bound also keeps the answer small on a busy site.
 */
export const RESYNC_PAID_WINDOW_MS = 15 * 60_000;
/** At most this many successes per sync/req (a site's lanes let out far fewer in the window). */
export const RESYNC_PAID_MAX = 200;

/**
 * Says `parking/payment/success` again (`resync: true`) for every session of the site that is
 * paid, not closed and was paid within RESYNC_PAID_WINDOW_MS: a gateway killed after a
 * controller answered AUTHORISED but before the barrier opened has lost the cloud's key, and
 * the broker does not deliver an acknowledged message twice (issue 13, docs/chaos.md). The lane
 * acts on it only for a session its controller names; any other lands as a duplicate or is held.
 */
async function resendPaidSessions(tx: Tx, ctx: FlowContext, siteId: string, p: Payload<"syncReq">): Promise<number> {
  const now = Date.now();
  const paid = await listPaidOpenSince(tx, siteId, new Date(now - RESYNC_PAID_WINDOW_MS), RESYNC_PAID_MAX);
  for (const { session: s, providerRef } of paid) {
    await enqueueForSite(
      tx,
      siteId,
      "paymentSuccess",
      { ts: now, src: ctx.src, session_id: s.sessionId, lane_id: wireLaneOf(s), provider_ref: providerRef ?? "no_charge", amount: s.amount ?? 0, currency: s.currency ?? "EUR", resync: true },
      // One per sync/req: a QoS 1 duplicate of the same request (same ts and src) says it once.
      `payment_success:${s.sessionId}:sync:${p.src}:${p.ts}`.slice(0, 200),
    );
  }
  return paid.length;
}

/**
 * `parking/sync/req` (a gateway booted or reconnected): answered, in one transaction, with the
 * recently paid sessions' `parking/payment/success` again (resendPaidSessions) and, when access
 * lists are enabled (SYSPARK_ACL_HMAC_KEY), a signed `parking/acl/full` (cloud/flows/access.ts).
 * It carries no event id: answering twice is harmless (the lane acts once per session, the
 * gateway treats a full list at the version it has as a duplicate).
 */
export async function handleSyncRequest(ctx: FlowContext, siteId: string, p: Payload<"syncReq">): Promise<string> {
  const key = ctx.aclHmacKey;
  const { resent, acl } = await ctx.db.tx(async (tx) => {
    await ensureSite(tx, ctx.db, siteId);
    const resent = await resendPaidSessions(tx, ctx, siteId, p);
    const acl = key ? await answerSyncRequest(tx, { siteId, src: ctx.src, aclHmacKey: key, auditMode: ctx.auditMode, logger: ctx.logger, request: p }) : "acl_disabled";
    return { resent, acl };
  });
  if (resent > 0 || acl === "full_sent" || acl === "full_sent_rebased") ctx.wake();
  if (resent > 0) ctx.logger.info({ site: siteId, sessions: resent, reason: p.reason }, "sync/req: paid sessions not yet closed said again to the gateway");
  // A metrics label: bounded values only (the count is in the log line).
  return resent > 0 ? `${acl}+paid_resent` : acl;
}

/** The dispatcher the MQTT consumers call. */
export function siteEventHandler(ctx: FlowContext): (siteId: string, key: TopicKey, payload: unknown) => Promise<string> {
  return async (siteId, key, payload) => {
    try {
      switch (key) {
        case "entry":
          return await handleEntry(ctx, siteId, payload as Payload<"entry">);
        case "entryReq":
          return await handleEntryRequest(ctx, siteId, payload as Payload<"entryReq">);
        case "exitReq":
          return await handleExitRequest(ctx, siteId, payload as Payload<"exitReq">);
        case "exitLost":
          return await handleLostTicket(ctx, siteId, payload as Payload<"exitLost">);
        case "exitValidation":
          return await handleExitValidation(ctx, siteId, payload as Payload<"exitValidation">);
        case "exitDone":
          return await handleExitDone(ctx, siteId, payload as Payload<"exitDone">);
        case "exitLeft":
          return await handleExitLeft(ctx, siteId, payload as Payload<"exitLeft">);
        case "sensorError":
          return await handleSensorError(ctx, siteId, payload as Payload<"sensorError">);
        case "barrierAck":
          return await handleBarrierAck(ctx, siteId, payload as Payload<"barrierAck">);
        case "syncReq":
          return await handleSyncRequest(ctx, siteId, payload as Payload<"syncReq">);
        case "laneState":
          return await handleLaneState(ctx, siteId, payload as Payload<"laneState">);
        case "present":
          return await handlePresence(ctx, siteId, payload as Payload<"present">);
        case "gatewayStatus":
          return await handleGatewayStatus(ctx, siteId, payload as Payload<"gatewayStatus">);
        case "heartbeat":
          return await handleHeartbeat(ctx, siteId, payload as Payload<"heartbeat">);
        default:
          return "ignored";
      }
    } catch (err) {
      if (err instanceof UnknownSiteError) {
        ctx.logger.warn({ site: siteId, topic: TOPICS[key].topic }, err.message);
        return "unknown_site";
      }
      const name = (err as Error).name;
      if (name === "ValidationError" || name === "IllegalTransitionError" || name === "NotFoundError" || name === "ActiveSessionExistsError" || name === "PricingError" || name === "TariffValidationError") {
        ctx.logger.warn({ site: siteId, topic: TOPICS[key].topic, err: (err as Error).message }, "site event refused");
        return "refused";
      }
      throw err;
    }
  };
}
