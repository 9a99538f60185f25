/**
 * The frame of every site-event transaction (./site-events.ts and the flows it dispatches to):
 * the site known, the event id recorded first (QoS 1 duplicates act once), the relay woken after
 * a commit that did something.
 */
import { TOPICS, type TopicKey } from "../../contracts/mqtt-topics";
import { recordSiteEvent, type Tx } from "../db/index";
import type { FlowContext } from "./flow-context";
import { ensureSite } from "./site-registry";

/** Runs a site-event transaction; returns its outcome. Wakes the relay after commit. */
export async function siteTx(ctx: FlowContext, siteId: string, topicKey: TopicKey, eventId: string, fn: (tx: Tx) => Promise<string>): Promise<string> {
  const outcome = await ctx.db.tx(async (tx) => {
    await ensureSite(tx, ctx.db, siteId);
    if (!(await recordSiteEvent(tx, { siteId, eventId, topic: TOPICS[topicKey].topic }))) return "duplicate";
    return fn(tx);
  });
  if (outcome !== "duplicate") ctx.wake();
  return outcome;
}

