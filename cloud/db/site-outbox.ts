/**
 * The one writer of site-bound messages: a `parking/*` payload for a site, checked against its
 * contract (contracts/mqtt-topics.ts) and put in the outbox (./outbox.ts) in the caller's
 * transaction, under the site's topic prefix. Every flow that tells a site something (exit,
 * payments, access lists, overrides) goes through here.
 */
import { encodePayload, toCloudTopic, TOPICS, type Payload, type TopicKey } from "../../contracts/mqtt-topics";
import { enqueueOutbox } from "./outbox";
import type { Json, Tx } from "./types";

/** Enqueues a validated message for the site (throws if the payload breaks the contract). */
export async function enqueueForSite<K extends TopicKey>(tx: Tx, siteId: string, key: K, payload: Payload<K>, dedupeKey?: string): Promise<{ id: number; duplicate: boolean }> {
  encodePayload(key, payload);
  return enqueueOutbox(tx, { topic: toCloudTopic(siteId, TOPICS[key].topic), payload: payload as unknown as Json, ...(dedupeKey ? { dedupeKey } : {}) });
}
