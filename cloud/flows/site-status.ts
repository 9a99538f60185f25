/**
 * The site's status messages into last-known state (issue 17): lane state, lane presence, the
 * gateway's retained online / offline and its heartbeat. They carry no event id: each write is
 * guarded by the message's own timestamp (cloud/db/site-status.ts), which makes duplicates and
 * replays harmless. The live view gets the same messages straight from the broker (cloud/live/);
 * this is what a restarted cloud, or a console opened later, reads.
 */
import type { Payload } from "../../contracts/mqtt-topics";
import { saveGatewayStatus, saveHeartbeat, saveLaneState, savePresence } from "../db/site-status";
import type { Database } from "../db/index";
import { ensureLane, ensureSite } from "./site-registry";

/** What these writes need of the flows' context (site-events.ts FlowContext). */
type FlowContext = { db: Database };

/** A site's clock may run ahead: a timestamp from the future is taken as "now" (it must not pin the row forever). */
function siteInstant(ts: number): Date {
  return new Date(Math.min(ts, Date.now()));
}

export async function handleLaneState(ctx: FlowContext, siteId: string, p: Payload<"laneState">): Promise<string> {
  const r = await ctx.db.tx(async (tx) => {
    await ensureSite(tx, ctx.db, siteId);
    const laneId = await ensureLane(tx, ctx.db, siteId, p.lane_id, "exit");
    return saveLaneState(tx, {
      siteId, laneId, wireLaneId: p.lane_id, ts: siteInstant(p.ts), exitState: p.exit_state,
      ...(p.barrier_state !== undefined ? { barrierState: p.barrier_state } : {}),
      ...(p.barrier_pos !== undefined ? { barrierPos: p.barrier_pos } : {}),
      ...(p.display !== undefined ? { display: p.display } : {}),
      ...(p.session_id !== undefined ? { sessionId: p.session_id } : {}),
      ...(p.fault !== undefined ? { fault: p.fault } : {}),
      ...(p.present !== undefined ? { present: p.present } : {}),
    });
  });
  if (!r.saved) return "stale";
  return r.cleared > 0 ? "saved+alarms_cleared" : "saved";
}

export async function handlePresence(ctx: FlowContext, siteId: string, p: Payload<"present">): Promise<string> {
  const saved = await ctx.db.tx(async (tx) => {
    await ensureSite(tx, ctx.db, siteId);
    const laneId = await ensureLane(tx, ctx.db, siteId, p.lane_id, "exit");
    return savePresence(tx, { siteId, laneId, wireLaneId: p.lane_id, ts: siteInstant(p.ts), present: p.present });
  });
  return saved ? "saved" : "stale";
}

/**
 * The gateway's status is ordered by its arrival, not by its `ts`: the `offline` is the bridge's
 * last will, written (with its `ts`) when the bridge connected and published by the broker only
 * when the link is lost — its `ts` is older than the `online` that preceded it. Arrivals are in
 * order: the will comes after the link that said `online` died, the next `online` after a new
 * link was made.
 */
export async function handleGatewayStatus(ctx: FlowContext, siteId: string, p: Payload<"gatewayStatus">): Promise<string> {
  const saved = await ctx.db.tx(async (tx) => {
    await ensureSite(tx, ctx.db, siteId);
    return saveGatewayStatus(tx, { siteId, src: p.src, ts: new Date(), status: p.status });
  });
  return saved ? "saved" : "stale";
}

export async function handleHeartbeat(ctx: FlowContext, siteId: string, p: Payload<"heartbeat">): Promise<string> {
  const saved = await ctx.db.tx(async (tx) => {
    await ensureSite(tx, ctx.db, siteId);
    return saveHeartbeat(tx, { siteId, src: p.src, ts: siteInstant(p.ts), uptimeS: p.uptime_s, ...(p.outbox_depth !== undefined ? { outboxDepth: p.outbox_depth } : {}) });
  });
  return saved ? "saved" : "stale";
}
