/**
 * Site-broker authorisation (pure: no I/O). Each authenticated user has a role; a role is a
 * pair of topic-filter lists (may publish to / may subscribe to). On top of the roles, topic
 * ownership (ARCHITECTURE §3): cloud → site topics (payment success, barrier commands, ACL…) are
 * published on the site broker ONLY by the bridge, in-process — no LAN client may publish them,
 * whatever its role, so a device on the LAN cannot fake a payment and the bridge cannot loop.
 */
import { TOPICS, specForTopic, topicMatches } from "../../contracts/mqtt-topics";
import type { BrokerRole } from "../config/schema";

export interface Grants {
  publish: readonly string[];
  subscribe: readonly string[];
}

/** What each preset role may do on the site broker. */
export const ROLE_GRANTS: Record<Exclude<BrokerRole, "custom">, Grants> = {
  /** The gateway's own services (lane orchestration, tools): everything under parking/. */
  gateway: { publish: ["parking/#"], subscribe: ["parking/#"] },
  /** A lane camera: publishes plate reads, nothing else, reads nothing. */
  lpr: { publish: [TOPICS.lprPlate.topic], subscribe: [] },
  /** Dashboards and screens: read-only. */
  dashboard: { publish: [], subscribe: ["parking/#"] },
};

export function grantsFor(role: BrokerRole, custom?: { publish?: readonly string[]; subscribe?: readonly string[] }): Grants {
  const base: Grants = role === "custom" ? { publish: [], subscribe: [] } : ROLE_GRANTS[role];
  return { publish: custom?.publish ?? base.publish, subscribe: custom?.subscribe ?? base.subscribe };
}

export type Decision = { ok: true } | { ok: false; reason: string };

/** Decisions per grants object and topic: a site publishes on a few dozen topics, each checked
 *  on every publish. Bounded per grants object; grants objects are few (one per user). */
const decisions = new WeakMap<Grants, Map<string, Decision>>();
const MAX_CACHED_TOPICS = 1024;

export function canPublish(grants: Grants, topic: string): Decision {
  let cache = decisions.get(grants);
  if (cache === undefined) decisions.set(grants, (cache = new Map()));
  const cached = cache.get(topic);
  if (cached !== undefined) return cached;
  const decision = decidePublish(grants, topic);
  if (cache.size < MAX_CACHED_TOPICS) cache.set(topic, decision);
  return decision;
}

function decidePublish(grants: Grants, topic: string): Decision {
  if (topic.startsWith("$")) return { ok: false, reason: `${topic}: $-topics are reserved` };
  const key = specForTopic(topic);
  // Ownership: cloud → site topics come from the cloud through the bridge only.
  if (key !== undefined && TOPICS[key].direction === "cloud_to_site") {
    return { ok: false, reason: `${topic}: owned by the cloud (arrives through the bridge only)` };
  }
  if (!grants.publish.some((f) => topicMatches(f, topic))) return { ok: false, reason: `${topic}: not in this user's publish grants` };
  return { ok: true };
}

/**
 * Does the granted filter cover every topic the requested filter can match?
 * (`parking/#` covers `parking/lane/+/state`; `parking/lane/+/state` does not cover `parking/#`.)
 */
export function filterCovers(granted: string, requested: string): boolean {
  const g = granted.split("/"), r = requested.split("/");
  for (let i = 0; i < g.length; i++) {
    if (g[i] === "#") return true;
    if (i >= r.length) return false;
    if (r[i] === "#") return false;
    if (g[i] === "+") continue;
    if (r[i] === "+" || g[i] !== r[i]) return false;
  }
  return g.length === r.length;
}

export function canSubscribe(grants: Grants, filter: string): Decision {
  if (filter.startsWith("$")) return { ok: false, reason: `${filter}: $-topics are reserved` };
  if (!grants.subscribe.some((g) => filterCovers(g, filter))) return { ok: false, reason: `${filter}: not in this user's subscribe grants` };
  return { ok: true };
}
