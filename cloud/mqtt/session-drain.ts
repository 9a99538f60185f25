/**
 * Draining the MQTT session of a cloud instance that is gone (issue 20, scale out).
 *
 * Why: Mosquitto keeps handing a shared subscription's messages to a member whose session
 * persists while it is disconnected (the MQTT 5 spec lets it), so a killed instance's share of
 * the site events waits in its session. Back with the same id, the instance takes them; never
 * back (scaled down, replaced under another id), they would wait until the session expires and
 * then be dropped — lost exits. A peer therefore takes the session over: it connects with the
 * dead instance's client id (the broker hands it the session and its queue), UNSUBSCRIBEs so
 * that no new message is routed there, processes what was queued exactly as a consumer does
 * (event ids make a redelivery act once), and, once the queue is quiet, DISCONNECTs with a
 * session expiry of 0: the broker deletes the session and the group has one member less.
 *
 * If the owner comes back meanwhile, its CONNECT takes the session back (the broker closes the
 * drain's connection): the drain stops and reports it; the owner resubscribes on connect.
 */
import type { MqttClient } from "mqtt";
import type { MessageHandler } from "./client";
import { consumerFilters, consuming, type ConsumingOptions } from "./consumers";

export interface DrainOptions extends ConsumingOptions {
  /** Resumes the session: connectClient with the dead instance's client id, `handleMessage` installed before the CONNECT. */
  connect: (handleMessage: MessageHandler) => Promise<MqttClient>;
  shareGroup: string;
  clientId: string;
  /** The queue counts as drained once no message arrived for this long and none is being processed (default 1,500 ms). */
  quietMs?: number;
  /** Gives up (keeping the session) after this long (default 120 s). */
  maxMs?: number;
  /** True once the drainer itself stops: the drain gives up at once, the session kept for a later one. */
  cancelled?: () => boolean;
}

export type DrainOutcome = "drained" | "taken_back" | "gave_up";

export interface DrainResult {
  outcome: DrainOutcome;
  /** Messages the drain received (processed, or refused once it stopped). */
  received: number;
}

export async function drainSession(o: DrainOptions): Promise<DrainResult> {
  const quietMs = o.quietMs ?? 1500;
  const deadline = performance.now() + (o.maxMs ?? 120_000);
  let received = 0;
  const c = consuming(o);
  const counted: MessageHandler = (client, packet, done) => {
    received++;
    c.handleMessage(client, packet, done);
  };
  const client = await o.connect(counted);
  // The drain never reconnects: a closed connection means the owner took its session back (or the broker went away).
  client.options.reconnectPeriod = 0;
  let closed = false;
  client.once("close", () => (closed = true));
  const connectedAt = performance.now();
  try {
    await client.unsubscribeAsync(consumerFilters(5, o.shareGroup));
  } catch (err) {
    if (!closed) throw err;
  }
  for (;;) {
    if (closed) {
      c.stop();
      await Promise.allSettled([...c.inFlight]);
      o.logger.warn({ clientId: o.clientId, received }, "session drain: the session's owner took it back (it is alive): stopped");
      return { outcome: "taken_back", received };
    }
    const quietSince = Math.max(connectedAt, c.lastArrival);
    if (c.inFlight.size === 0 && performance.now() - quietSince >= quietMs) break;
    if (performance.now() > deadline || o.cancelled?.()) {
      c.stop();
      await Promise.allSettled([...c.inFlight]);
      await client.endAsync(true).catch(() => undefined);
      return { outcome: "gave_up", received };
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  c.stop();
  // Session Expiry 0 in the DISCONNECT: the broker deletes the session now (MQTT 5 §3.14.2.2.2).
  await client.endAsync(false, { properties: { sessionExpiryInterval: 0 } });
  return { outcome: "drained", received };
}
