/**
 * The pieces of a paid exit seen from outside the cloud, shared by `bench/cloud.ts` and the
 * crash campaigns: vehicles already parked (sessions seeded straight into the database), the
 * exit request a site's gateway publishes, and the driver's side of the pay API.
 */
import type { MqttClient } from "mqtt";
import type { Sql } from "postgres";
import { TOPICS, encodePayload, toCloudTopic } from "../../contracts/mqtt-topics";

export interface ParkedVehicle {
  plate: string;
  sessionId: string;
}

/** `n` vehicles with a session opened two hours ago at `siteId` (ids derived from the site id). */
export function parkedVehicles(siteId: string, n: number, prefix = "B"): ParkedVehicle[] {
  return Array.from({ length: n }, (_, i) => ({
    plate: `${prefix}${i.toString(36).toUpperCase().padStart(6, "0")}`,
    sessionId: `s${prefix.toLowerCase()}${siteId.slice(-6)}${i.toString(36)}`,
  }));
}

/** Inserts the vehicles' sessions (`active`, entered two hours ago), in batches of 1,000. */
export async function seedParkedVehicles(sql: Sql, siteId: string, vehicles: readonly ParkedVehicle[], entryAgoMs = 2 * 3600_000): Promise<void> {
  const entryTs = new Date(Date.now() - entryAgoMs);
  for (let i = 0; i < vehicles.length; i += 1000) {
    const rows = vehicles.slice(i, i + 1000).map((v) => ({ session_id: v.sessionId, site_id: siteId, entry_lane_id: "e1", identity_method: "plate", identity_value: v.plate, entry_ts: entryTs, status: "active" }));
    await sql`INSERT INTO sessions ${sql(rows)}`;
  }
}

/** The cloud-side topics a site's gateway subscribes to for the exit flow. */
export function exitFlowTopics(siteId: string): { paymentReq: string; paymentSuccess: string; exitReq: string; exitDone: string } {
  return {
    paymentReq: toCloudTopic(siteId, TOPICS.paymentReq.topic),
    paymentSuccess: toCloudTopic(siteId, TOPICS.paymentSuccess.topic),
    exitReq: toCloudTopic(siteId, TOPICS.exitReq.topic),
    exitDone: toCloudTopic(siteId, TOPICS.exitDone.topic),
  };
}

/** Publishes the exit request a lane sends once the plate is read (QoS 1; resolves on PUBACK). */
export async function publishExitRequest(client: MqttClient, siteId: string, e: { eventId: string; laneId: string; plate: string; src: string }): Promise<void> {
  await client.publishAsync(
    toCloudTopic(siteId, TOPICS.exitReq.topic),
    encodePayload("exitReq", { ts: Date.now(), src: e.src, event_id: e.eventId, lane_id: e.laneId, identity: { method: "plate", value: e.plate } }),
    { qos: 1 },
  );
}

/** The pay token in a payment/req's pay_url. */
export function payToken(payUrl: string): string {
  const t = new URL(payUrl).searchParams.get("t");
  if (!t) throw new Error(`pay_url has no token: ${payUrl}`);
  return t;
}

export class PayApiError extends Error {
  override readonly name = "PayApiError";
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** The driver's "Pay by card": the cloud creates (or returns) the session's PaymentIntent. */
export async function requestPaymentIntent(cloudUrl: string, sessionId: string, token: string): Promise<{ paymentIntent: string; clientSecret: string; amount: number }> {
  const r = await fetch(`${cloudUrl}/api/pay/${encodeURIComponent(sessionId)}/intent?t=${encodeURIComponent(token)}`, { method: "POST" });
  if (!r.ok) throw new PayApiError(r.status, `intent ${r.status}: ${(await r.text()).slice(0, 200)}`);
  const body = (await r.json()) as { payment_intent: string; client_secret: string; amount: number };
  return { paymentIntent: body.payment_intent, clientSecret: body.client_secret, amount: body.amount };
}
