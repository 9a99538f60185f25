/**
 * The MQTT topic map (ARCHITECTURE §3): every topic SysPark uses, with direction, QoS, retain
 * and a zod schema for its payload. One source of truth: the gateway's bridge, the cloud and
 * the tests import it, and docs/mqtt-topics.md is checked against it. Nobody re-types a topic.
 *
 * Site topics are the user's contract (`parking/…`). On the cloud broker each lives under a
 * per-site prefix: `syspark/<site_id>/parking/…`.
 *
 * Every free-text field is a `text()` (contracts/text.ts): no control character, the field named
 * in the refusal. Ids, enums and codes are narrower still (their own patterns).
 */
import { z } from "zod";
import { noControl, text } from "./text";

export type Direction = "cloud_to_site" | "site_to_cloud" | "site_local";
export type QoS = 0 | 1 | 2;

const ts = z.number().int().nonnegative().describe("epoch milliseconds");
const src = text("src", { min: 1, max: 64 }).describe("sender: site/gateway/cloud instance id");
const id = (what: string) => z.string().regex(/^[A-Za-z0-9._:-]{1,64}$/, `${what} must be 1-64 of A-Z a-z 0-9 . _ : -`);
const laneId = id("lane_id");
const currency = z.string().regex(/^[A-Z]{3}$/, "currency must be an ISO 4217 code such as EUR");
const amount = z.number().int().nonnegative().max(99_999_999).describe("minor units");
const sig = text("sig", { min: 16, max: 256 });
const eventId = id("event_id").describe("unique per event: consumers de-duplicate on it");

export const IDENTITY_METHODS = ["plate", "badge", "pin", "ticket", "reservation", "operator"] as const;
const identity = z.strictObject({
  method: z.enum(IDENTITY_METHODS),
  value: text("identity.value", { min: 1, max: 64 }),
});

/** A ticket the entry terminal issued (contracts/ticket.ts): its unguessable id (the QR), the short
 *  code typed on a keypad, when it was issued, and the gateway's signature so the cloud accepts a
 *  ticket issued while it was unreachable. */
const ticket = z.strictObject({
  id: z.string().regex(/^T[A-Z2-7]{26}$/, "ticket.id must be T and 26 of A-Z 2-7"),
  code: z.string().regex(/^[0-9]{8}$/, "ticket.code must be 8 digits"),
  issued_ts: ts,
  sig: z.string().regex(/^[0-9a-f]{64}$/, "ticket.sig must be 64 hex digits"),
});
const plateRead = z.string().regex(/^[A-Z0-9-]{2,16}$/, "plate must be upper-case letters, digits and dashes");
export const ENTRY_REFUSALS = ["full", "closed", "passback", "invalid_ticket", "no_reservation", "reservation_window", "unknown"] as const;

const aclEntry = z.strictObject({
  kind: z.enum(["badge", "pin"]),
  /** Badge UID (upper-case hex), or for a PIN the id of the entry; PINs travel hashed only. */
  id: text("entries[].id", { min: 1, max: 64 }),
  pin_hash: text("entries[].pin_hash", { max: 200 }).optional().describe("scrypt$N$r$p$salt$hash, PIN entries only"),
  label: text("entries[].label", { max: 64 }).optional(),
  valid_until: ts.optional(),
});

export const schemas = {
  paymentReq: z.strictObject({
    ts, src, session_id: id("session_id"), lane_id: laneId, amount, currency,
    label: text("label", { max: 64 }).optional(),
    reason: text("reason", { max: 120 }).optional(),
    plate: text("plate", { max: 16 }).optional(),
    duration: z.number().int().nonnegative().optional().describe("seconds"),
    pay_url: noControl("pay_url", z.url().max(200)).optional(),
  }),
  paymentSuccess: z.strictObject({
    ts, src, session_id: id("session_id"), lane_id: laneId, provider_ref: text("provider_ref", { min: 1, max: 128 }),
    amount: amount.optional(), currency: currency.optional(),
    // true: said again in answer to parking/sync/req (the gateway may have lost it in a crash) —
    // the lane acts on it only for a session its exit controller names, never as a fresh answer.
    resync: z.literal(true).optional(),
  }),
  paymentFailed: z.strictObject({
    ts, src, session_id: id("session_id"), lane_id: laneId,
    reason: z.enum(["declined", "canceled", "insufficient_funds", "authentication_required", "expired", "provider_unreachable"]),
    message: text("message", { max: 120 }).optional(),
  }),
  barrierCmd: z.strictObject({
    ts, src, cmd_id: id("cmd_id"), lane_id: laneId,
    cmd: z.enum(["open", "reset", "close"]),
    operator: text("operator", { min: 1, max: 64 }),
    reason: text("reason", { min: 3, max: 200 }),
    session_id: id("session_id").optional(),
  }),
  barrierAck: z.strictObject({
    ts, src, cmd_id: id("cmd_id"), lane_id: laneId,
    result: z.enum(["done", "refused", "fault", "timeout"]),
    detail: text("detail", { max: 200 }).optional(),
  }),
  displayText: z.strictObject({
    ts, src, msg_id: id("msg_id"), lane_id: laneId,
    lines: z.array(text("lines[]", { max: 20 })).min(1).max(4),
    ttl_s: z.number().int().positive().max(86_400).optional(),
  }),
  aclAdd: z.strictObject({ ts, src, version: z.number().int().positive(), entries: z.array(aclEntry).min(1).max(1000), sig }),
  aclDel: z.strictObject({ ts, src, version: z.number().int().positive(), ids: z.array(text("ids[]", { min: 1, max: 64 })).min(1).max(1000), sig }),
  aclFull: z.strictObject({ ts, src, version: z.number().int().positive(), entries: z.array(aclEntry).max(100_000), sig }),
  siteState: z.strictObject({
    ts, src,
    state: z.enum(["open", "full", "closed"]),
    occupied: z.number().int().nonnegative().optional(),
    capacity: z.number().int().nonnegative().optional(),
    free: z.number().int().nonnegative().optional().describe("spaces a ticket may still take: the capacity less the spaces held for permits and reservations and the cars in them (what the entry displays show)"),
    cmd_id: id("cmd_id").optional(),
  }),
  present: z.strictObject({ ts, src, event_id: eventId, lane_id: laneId, present: z.boolean() }),
  sensorError: z.strictObject({
    ts, src, event_id: eventId, lane_id: laneId,
    code: text("code", { min: 1, max: 32 }),
    severity: z.enum(["info", "warning", "alarm", "fault"]),
    detail: text("detail", { max: 200 }).optional(),
  }),
  heartbeat: z.strictObject({ ts, src, uptime_s: z.number().int().nonnegative(), lanes_up: z.number().int().nonnegative().optional(), outbox_depth: z.number().int().nonnegative().optional() }),
  syncReq: z.strictObject({ ts, src, reason: z.enum(["boot", "reconnect"]), acl_version: z.number().int().nonnegative(), outbox_depth: z.number().int().nonnegative() }),
  entry: z.strictObject({
    ts, src, event_id: eventId, lane_id: laneId, identity,
    // The cloud's admission this entry acted on (parking/entry/decision): the session it named.
    session_id: id("session_id").optional(),
    ticket: ticket.optional(),
    plate: plateRead.optional().describe("plate the entry camera read, linked to the session"),
    decided_by: z.enum(["cloud", "offline_permit", "offline_ticket", "override"]).optional(),
  }),
  entryReq: z.strictObject({
    ts, src, event_id: eventId, lane_id: laneId, identity,
    ticket: ticket.optional(),
    plate: plateRead.optional().describe("plate the entry camera read, when the identity is not the plate"),
  }),
  entryDecision: z.strictObject({
    ts, src,
    event_id: eventId.describe("the parking/entry/req this answers"),
    lane_id: laneId,
    decision: z.enum(["admit", "refuse"]),
    session_id: id("session_id").optional().describe("admit: the session the entry opens (echoed in parking/entry)"),
    pool: z.enum(["transient", "permit", "reservation"]).optional(),
    reason: z.enum(ENTRY_REFUSALS).optional(),
    lines: z.array(text("lines[]", { max: 20 })).min(1).max(4).optional(),
  }),
  exitReq: z.strictObject({
    ts, src, event_id: eventId, lane_id: laneId, identity,
    plate: plateRead.optional().describe("plate the exit camera read, when the identity is not the plate: linked to the session"),
  }),
  exitLost: z.strictObject({
    ts, src, event_id: eventId, lane_id: laneId,
    plate: plateRead.optional().describe("plate the exit camera read: prices from that session's entry"),
  }),
  exitValidation: z.strictObject({
    ts, src, event_id: eventId, lane_id: laneId,
    session_id: id("session_id"),
    code: z.string().regex(/^[A-Z0-9]{6,32}$/, "code must be 6-32 of A-Z 0-9"),
  }),
  exitDone: z.strictObject({
    ts, src, event_id: eventId, lane_id: laneId,
    session_id: id("session_id").optional(),
    // The parking/barriere/cmd whose override let the car out (decided_by "override"): the cloud
    // attributes the exit to its operator only when this names an override it issued.
    cmd_id: id("cmd_id").optional(),
    barrier_result: z.enum(["opened", "timeout", "fault", "not_opened"]),
    passed: z.boolean(),
    decided_by: z.enum(["cloud", "offline_badge", "offline_pin", "override", "emergency"]),
    identity: identity.optional(),
    operator: text("operator", { max: 64 }).optional(),
    reason: text("reason", { max: 200 }).optional(),
  }),
  exitLeft: z.strictObject({ ts, src, event_id: eventId, lane_id: laneId, session_id: id("session_id").optional() }),
  laneState: z.strictObject({
    ts, src, lane_id: laneId,
    exit_state: text("exit_state", { max: 24 }),
    barrier_state: text("barrier_state", { max: 24 }).optional(),
    barrier_pos: z.number().int().min(0).max(100).optional(),
    display: z.array(text("display[]", { max: 20 })).max(4).optional(),
    session_id: id("session_id").optional(),
    fault: text("fault", { max: 32 }).optional(),
    // The exit loop's presence as the lane last saw it: the retained state tells a console that
    // connects later whether a car is there (parking/sensor_gate/present only says a change).
    present: z.boolean().optional(),
  }),
  gatewayStatus: z.strictObject({ ts, src, status: z.enum(["online", "offline"]) }),
  // The weather at the site (OpenWeatherMap's current weather, metric units), for displays and
  // analytics: bounds are physical ones, so a unit mix-up (kelvin, mph) is refused, not shown.
  meteo: z.strictObject({
    ts, src,
    temp_c: z.number().min(-100).max(70),
    feels_like_c: z.number().min(-100).max(70),
    humidity_pct: z.number().int().min(0).max(100),
    wind_ms: z.number().nonnegative().max(150),
    condition_code: z.number().int().min(200).max(999).describe("OpenWeatherMap condition id (weather[0].id: 2xx thunderstorm … 800 clear, 80x clouds)"),
    main: text("main", { min: 1, max: 32 }).describe("condition group, e.g. Rain"),
    description: text("description", { max: 80 }),
    observed_ts: ts.describe("when the weather was observed (OpenWeatherMap dt), epoch milliseconds"),
    rain_1h_mm: z.number().nonnegative().max(1000).optional(),
    snow_1h_mm: z.number().nonnegative().max(1000).optional(),
  }),
  lprPlate: z.strictObject({ ts, src, lane_id: laneId, plate: z.string().regex(/^[A-Z0-9-]{2,16}$/, "plate must be upper-case letters, digits and dashes"), confidence: z.number().min(0).max(1) }),
} as const;

export interface TopicSpec<S extends z.ZodType = z.ZodType> {
  /** MQTT topic on the site broker; `+` marks the lane id where the topic is per lane. */
  topic: string;
  direction: Direction;
  qos: QoS;
  retain: boolean;
  schema: S;
  /** From the user's contract, or added by SysPark for the flows. */
  origin: "contract" | "syspark";
  doc: string;
}

function spec<S extends z.ZodType>(s: TopicSpec<S>): TopicSpec<S> {
  return s;
}

export const TOPICS = {
  paymentReq: spec({ topic: "parking/payment/req", direction: "cloud_to_site", qos: 1, retain: false, schema: schemas.paymentReq, origin: "contract", doc: "Payment required for a session at a lane; the display shows amount and pay_url (QR code)." }),
  paymentSuccess: spec({ topic: "parking/payment/success", direction: "cloud_to_site", qos: 1, retain: false, schema: schemas.paymentSuccess, origin: "contract", doc: "Payment validated server-side: authorises the exit. Idempotent per session_id. Said again with `resync: true` for the site's sessions paid in the last 15 minutes and not closed, in answer to parking/sync/req." }),
  paymentFailed: spec({ topic: "parking/payment/failed", direction: "cloud_to_site", qos: 1, retain: false, schema: schemas.paymentFailed, origin: "syspark", doc: "Payment declined or canceled: the session stays pending_payment, the display says why." }),
  barrierCmd: spec({ topic: "parking/barriere/cmd", direction: "cloud_to_site", qos: 1, retain: false, schema: schemas.barrierCmd, origin: "contract", doc: "Audited operator command (open / close / reset) with cmd_id, operator and reason." }),
  displayText: spec({ topic: "parking/display/text", direction: "cloud_to_site", qos: 1, retain: false, schema: schemas.displayText, origin: "contract", doc: "Operator message for a lane display (up to 4 lines of 20 characters)." }),
  aclAdd: spec({ topic: "parking/acl/add", direction: "cloud_to_site", qos: 2, retain: false, schema: schemas.aclAdd, origin: "contract", doc: "Adds trusted badges / PINs for offline exits; versioned and signed (HMAC)." }),
  aclDel: spec({ topic: "parking/acl/del", direction: "cloud_to_site", qos: 2, retain: false, schema: schemas.aclDel, origin: "contract", doc: "Removes access-list entries; versioned and signed." }),
  aclFull: spec({ topic: "parking/acl/full", direction: "cloud_to_site", qos: 2, retain: false, schema: schemas.aclFull, origin: "contract", doc: "Replaces the whole access list (answer to parking/sync/req); versioned and signed." }),
  meteo: spec({ topic: "parking/meteo", direction: "cloud_to_site", qos: 1, retain: true, schema: schemas.meteo, origin: "contract", doc: "Current weather at the site (OpenWeatherMap, fetched by the cloud every WEATHER_INTERVAL_S), published when a newer observation arrives; retained, so a display that connects gets the last one at once." }),
  siteState: spec({ topic: "parking/site/state", direction: "cloud_to_site", qos: 1, retain: true, schema: schemas.siteState, origin: "syspark", doc: "The car park's state for its entry displays: `open`, `full` (capacity reached) or `closed` to entries by an operator (with the command's cmd_id); retained, so a display that connects shows it at once." }),
  present: spec({ topic: "parking/sensor_gate/present", direction: "site_to_cloud", qos: 1, retain: true, schema: schemas.present, origin: "contract", doc: "Lane presence (debounced exit loop)." }),
  sensorError: spec({ topic: "parking/sensor_gate/error", direction: "site_to_cloud", qos: 2, retain: false, schema: schemas.sensorError, origin: "contract", doc: "Safety alarms and executor faults." }),
  heartbeat: spec({ topic: "parking/sensor_gate/heartbeat", direction: "site_to_cloud", qos: 0, retain: false, schema: schemas.heartbeat, origin: "contract", doc: "Gateway health." }),
  syncReq: spec({ topic: "parking/sync/req", direction: "site_to_cloud", qos: 1, retain: false, schema: schemas.syncReq, origin: "contract", doc: "Re-sync after reboot / reconnect: the cloud answers with parking/payment/success (`resync: true`) for every session of the site paid in the last 15 minutes and not closed, and with parking/acl/full (when access lists are enabled)." }),
  entry: spec({ topic: "parking/entry", direction: "site_to_cloud", qos: 1, retain: false, schema: schemas.entry, origin: "syspark", doc: "A vehicle entered (passed the entry barrier): the cloud opens its session (the one parking/entry/decision named, or a new one for an entry decided offline) and counts it in the occupancy, in one transaction." }),
  entryReq: spec({ topic: "parking/entry/req", direction: "site_to_cloud", qos: 1, retain: false, schema: schemas.entryReq, origin: "syspark", doc: "A vehicle asks to enter with the identity read at the entry lane (plate, badge, reservation, or a ticket the terminal is about to issue): the cloud answers parking/entry/decision." }),
  entryDecision: spec({ topic: "parking/entry/decision", direction: "cloud_to_site", qos: 1, retain: false, schema: schemas.entryDecision, origin: "syspark", doc: "The cloud's answer to parking/entry/req: `admit` (with the session and the pool it counts in) or `refuse` with a reason (full, closed, passback, …) and the display lines." }),
  exitLost: spec({ topic: "parking/exit/lost", direction: "site_to_cloud", qos: 1, retain: false, schema: schemas.exitLost, origin: "syspark", doc: "The driver pressed the lost-ticket key: the cloud prices the tariff's lost-ticket rule (from the entry time when the plate read matches a session, else the fixed fee) and answers parking/payment/req." }),
  exitValidation: spec({ topic: "parking/exit/validation", direction: "site_to_cloud", qos: 1, retain: false, schema: schemas.exitValidation, origin: "syspark", doc: "A merchant validation code scanned or typed at the pay station for the session being paid: the cloud applies it once and answers a new parking/payment/req (or success when nothing is left to pay)." }),
  exitReq: spec({ topic: "parking/exit/req", direction: "site_to_cloud", qos: 1, retain: false, schema: schemas.exitReq, origin: "syspark", doc: "Exit request with the identity read at the lane: the cloud prices the session and answers with payment/req or payment/success." }),
  exitDone: spec({ topic: "parking/exit/done", direction: "site_to_cloud", qos: 1, retain: false, schema: schemas.exitDone, origin: "syspark", doc: "An exit finished, with the barrier result and who decided it (cloud, offline policy, override)." }),
  exitLeft: spec({ topic: "parking/exit/left", direction: "site_to_cloud", qos: 1, retain: false, schema: schemas.exitLeft, origin: "syspark", doc: "The vehicle left the exit lane before paying; the session stays open." }),
  barrierAck: spec({ topic: "parking/barriere/ack", direction: "site_to_cloud", qos: 1, retain: false, schema: schemas.barrierAck, origin: "syspark", doc: "Outcome of a parking/barriere/cmd, by cmd_id." }),
  laneState: spec({ topic: "parking/lane/+/state", direction: "site_to_cloud", qos: 1, retain: true, schema: schemas.laneState, origin: "syspark", doc: "Lane state for dashboards (exit state, barrier, display); retained per lane." }),
  gatewayStatus: spec({ topic: "parking/gateway/status", direction: "site_to_cloud", qos: 1, retain: true, schema: schemas.gatewayStatus, origin: "syspark", doc: "Retained `online`; the bridge's last will publishes `offline`." }),
  lprPlate: spec({ topic: "parking/lpr/plate", direction: "site_local", qos: 1, retain: false, schema: schemas.lprPlate, origin: "syspark", doc: "Plate read by the lane camera (site LAN only, never bridged)." }),
} as const;

export type TopicKey = keyof typeof TOPICS;
export type Payload<K extends TopicKey> = z.infer<(typeof TOPICS)[K]["schema"]>;

export const CLOUD_PREFIX_ROOT = "syspark";

/** Concrete site topic for a spec; per-lane topics need the lane id. */
export function siteTopic(key: TopicKey, laneId?: string): string {
  const t = TOPICS[key].topic;
  if (!t.includes("+")) return t;
  if (laneId === undefined) throw new Error(`topic ${t} needs a lane id`);
  laneId = laneIdOk(laneId);
  return t.replace("+", laneId);
}

function laneIdOk(laneId: string): string {
  if (!/^[A-Za-z0-9._:-]{1,64}$/.test(laneId)) throw new Error(`bad lane id "${laneId}"`);
  return laneId;
}

/** Prefix of a site's topics on the cloud broker. */
export function cloudPrefix(siteId: string): string {
  if (!/^[a-z0-9][a-z0-9-]{0,31}$/.test(siteId)) throw new Error(`bad site id "${siteId}": 1-32 of a-z 0-9 -`);
  return `${CLOUD_PREFIX_ROOT}/${siteId}/`;
}

/** Site topic → cloud-broker topic (the bridge's remote prefix). */
export function toCloudTopic(siteId: string, topic: string): string {
  return cloudPrefix(siteId) + topic;
}

/** Cloud-broker topic → site id and site topic, or undefined if it is not a SysPark site topic. */
export function fromCloudTopic(cloudTopic: string): { siteId: string; topic: string } | undefined {
  const m = /^syspark\/([a-z0-9][a-z0-9-]{0,31})\/(parking\/.+)$/.exec(cloudTopic);
  return m ? { siteId: m[1], topic: m[2] } : undefined;
}

/** Does an MQTT topic match a filter with `+` and `#` wildcards ([MQTT-4.7])? */
export function topicMatches(filter: string, topic: string): boolean {
  const f = filter.split("/"), t = topic.split("/");
  for (let i = 0; i < f.length; i++) {
    if (f[i] === "#") return true;
    if (i >= t.length) return false;
    if (f[i] !== "+" && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}

/** Which spec a concrete site topic belongs to. */
export function specForTopic(topic: string): TopicKey | undefined {
  for (const key of Object.keys(TOPICS) as TopicKey[]) {
    if (topicMatches(TOPICS[key].topic, topic)) return key;
  }
  return undefined;
}

/**
 * specForTopic behind a bounded cache, for hot paths: it scans the whole topic map, and the
 * concrete topics a bridge sees repeat (a few per lane).
 */
export function cachedSpecForTopic(max = 4096): (topic: string) => TopicKey | undefined {
  const cache = new Map<string, TopicKey | undefined>();
  return (topic) => {
    if (cache.has(topic)) return cache.get(topic);
    const key = specForTopic(topic);
    if (cache.size < max) cache.set(topic, key);
    return key;
  };
}

export type ParseResult<K extends TopicKey> = { ok: true; key: K; payload: Payload<K> } | { ok: false; error: string };

/** Parse and validate a payload received on a site topic. Never throws; the error is precise. */
export function parsePayload(topic: string, raw: Uint8Array | string): ParseResult<TopicKey> {
  const key = specForTopic(topic);
  if (key === undefined) return { ok: false, error: `unknown topic ${topic}` };
  return parsePayloadFor(key, topic, raw);
}

/** parsePayload for a caller that already knows the topic's spec (saves the topic map scan per message). */
export function parsePayloadFor(key: TopicKey, topic: string, raw: Uint8Array | string): ParseResult<TopicKey> {
  let json: unknown;
  try {
    json = JSON.parse(typeof raw === "string" ? raw : new TextDecoder("utf-8", { fatal: true }).decode(raw));
  } catch (err) {
    return { ok: false, error: `${topic}: payload is not JSON (${(err as Error).message})` };
  }
  const result = TOPICS[key].schema.safeParse(json);
  if (!result.success) {
    const issues = result.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`).join("; ");
    return { ok: false, error: `${topic}: ${issues}` };
  }
  return { ok: true, key, payload: result.data as Payload<TopicKey> };
}

/** Build a validated payload for publishing: throws on a payload that breaks the contract. */
export function encodePayload<K extends TopicKey>(key: K, payload: Payload<K>): string {
  const result = TOPICS[key].schema.safeParse(payload);
  if (!result.success) throw new Error(`payload for ${TOPICS[key].topic} breaks the contract: ${result.error.message}`);
  return JSON.stringify(result.data);
}

/** The bridge's allowlists, derived from the map so they cannot drift (ARCHITECTURE §3). */
export function allowlist(direction: Exclude<Direction, "site_local">): TopicKey[] {
  return (Object.keys(TOPICS) as TopicKey[]).filter((k) => TOPICS[k].direction === direction);
}
