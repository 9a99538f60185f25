/**
 * Text fields of every MQTT payload refuse control characters (issue 15): a NUL byte passed the
 * contract and reached PostgreSQL, which refused it, and the consumer retried it. Each topic has
 * a sample with every field of its schema; every string in it, one at a time, gets a control
 * character, and the payload must be refused with the field named.
 */
import { expect } from "chai";
import { parsePayload, TOPICS, type TopicKey } from "../../contracts/mqtt-topics";

const SIG = "0123456789abcdef0123456789abcdef";
const TICKET = { id: "TABCDEFGHIJKLMNOPQRSTUVWXYZ", code: "12345678", issued_ts: 1, sig: "0".repeat(64) };
const aclEntry = { kind: "pin", id: "P1", pin_hash: "scrypt$1024$8$1$c2FsdA$aGFzaA", label: "Gardien", valid_until: 2 };

/** One payload per topic, every field present (the test checks it against the schema's keys). */
const FULL: Record<TopicKey, Record<string, unknown>> = {
  paymentReq: { ts: 1, src: "cloud-1", session_id: "S1", lane_id: "L1", amount: 350, currency: "EUR", label: "Tarif horaire", reason: "stay", plate: "AB-123-CD", duration: 60, pay_url: "https://x.example/pay/S1?t=1" },
  paymentSuccess: { ts: 1, src: "cloud-1", session_id: "S1", lane_id: "L1", provider_ref: "pi_123", amount: 350, currency: "EUR", resync: true },
  paymentFailed: { ts: 1, src: "cloud-1", session_id: "S1", lane_id: "L1", reason: "declined", message: "Your card was declined" },
  barrierCmd: { ts: 1, src: "cloud-1", cmd_id: "c1", lane_id: "L1", cmd: "open", operator: "admin", reason: "paid cash at the desk", session_id: "S1" },
  barrierAck: { ts: 1, src: "gw-1", cmd_id: "c1", lane_id: "L1", result: "refused", detail: "no vehicle on the exit loop" },
  displayText: { ts: 1, src: "cloud-1", msg_id: "m1", lane_id: "L1", lines: ["Sortie fermée", "Exit closed"], ttl_s: 60 },
  aclAdd: { ts: 1, src: "cloud-1", version: 2, entries: [aclEntry], sig: SIG },
  aclDel: { ts: 1, src: "cloud-1", version: 2, ids: ["P1"], sig: SIG },
  aclFull: { ts: 1, src: "cloud-1", version: 2, entries: [aclEntry], sig: SIG },
  meteo: { ts: 1, src: "cloud-1", temp_c: 8.42, feels_like_c: 5.91, humidity_pct: 87, wind_ms: 4.63, condition_code: 501, main: "Rain", description: "pluie modérée", observed_ts: 1, rain_1h_mm: 1.27, snow_1h_mm: 0 },
  siteState: { ts: 1, src: "cloud-1", state: "closed", occupied: 12, capacity: 40, free: 18, cmd_id: "close_1" },
  present: { ts: 1, src: "gw-1", event_id: "e1", lane_id: "L1", present: true },
  sensorError: { ts: 1, src: "gw-1", event_id: "e1", lane_id: "L1", code: "HELP_CALL", severity: "info", detail: "driver pressed the help button" },
  heartbeat: { ts: 1, src: "gw-1", uptime_s: 5, lanes_up: 1, outbox_depth: 0 },
  syncReq: { ts: 1, src: "gw-1", reason: "boot", acl_version: 0, outbox_depth: 0 },
  entry: { ts: 1, src: "gw-1", event_id: "e1", lane_id: "E1", identity: { method: "ticket", value: TICKET.id }, session_id: "S1", ticket: TICKET, plate: "AB-123-CD", decided_by: "offline_ticket" },
  entryReq: { ts: 1, src: "gw-1", event_id: "e1", lane_id: "E1", identity: { method: "ticket", value: TICKET.id }, ticket: TICKET, plate: "AB-123-CD" },
  entryDecision: { ts: 1, src: "cloud-1", event_id: "e1", lane_id: "E1", decision: "refuse", session_id: "S1", pool: "transient", reason: "full", lines: ["Complet", "Full"] },
  exitReq: { ts: 1, src: "gw-1", event_id: "e1", lane_id: "L1", identity: { method: "badge", value: "04A1B2C3" }, plate: "AB-123-CD" },
  exitLost: { ts: 1, src: "gw-1", event_id: "e1", lane_id: "L1", plate: "AB-123-CD" },
  exitValidation: { ts: 1, src: "gw-1", event_id: "e1", lane_id: "L1", session_id: "S1", code: "HALF7K2M9Q" },
  exitDone: { ts: 1, src: "gw-1", event_id: "e1", lane_id: "L1", session_id: "S1", cmd_id: "c1", barrier_result: "opened", passed: true, decided_by: "override", identity: { method: "operator", value: "admin" }, operator: "admin", reason: "paid cash at the desk" },
  exitLeft: { ts: 1, src: "gw-1", event_id: "e1", lane_id: "L1", session_id: "S1" },
  laneState: { ts: 1, src: "gw-1", lane_id: "L1", exit_state: "idle", barrier_state: "closed", barrier_pos: 0, display: ["Bonjour"], session_id: "S1", fault: "NONE", present: true },
  gatewayStatus: { ts: 1, src: "gw-1", status: "online" },
  lprPlate: { ts: 1, src: "gw-1", lane_id: "L1", plate: "AB-123-CD", confidence: 0.9 },
};

/** Every string in a payload, with its path as the contract's errors spell it (`identity.value`, `lines.0`). */
function strings(v: unknown, path: (string | number)[] = []): (string | number)[][] {
  if (typeof v === "string") return [path];
  if (Array.isArray(v)) return v.flatMap((x, i) => strings(x, [...path, i]));
  if (v && typeof v === "object") return Object.entries(v).flatMap(([k, x]) => strings(x, [...path, k]));
  return [];
}

function withAt(payload: Record<string, unknown>, path: (string | number)[], f: (s: string) => string): Record<string, unknown> {
  const copy = structuredClone(payload);
  let o = copy as Record<string | number, unknown>;
  for (const k of path.slice(0, -1)) o = o[k] as Record<string | number, unknown>;
  const last = path[path.length - 1];
  o[last] = f(o[last] as string);
  return copy;
}

const topicOf = (key: TopicKey) => TOPICS[key].topic.replace("+", "L1");

describe("MQTT text fields (contracts/text.ts)", () => {
  it("every sample is valid and carries every field of its schema", () => {
    for (const key of Object.keys(TOPICS) as TopicKey[]) {
      const shape = (TOPICS[key].schema as unknown as { shape: Record<string, unknown> }).shape;
      expect(Object.keys(FULL[key]).sort(), key).to.deep.equal(Object.keys(shape).sort());
      const r = parsePayload(topicOf(key), JSON.stringify(FULL[key]));
      expect(r, key).to.deep.include({ ok: true });
    }
  });

  it('every string field of every topic refuses "\\u0000", naming the field', () => {
    let checked = 0;
    for (const key of Object.keys(TOPICS) as TopicKey[]) {
      for (const path of strings(FULL[key])) {
        const field = path.join(".");
        const r = parsePayload(topicOf(key), JSON.stringify(withAt(FULL[key], path, (s) => `${s.slice(0, 1)}\u0000${s.slice(1)}`)));
        expect(r.ok, `${key} ${field}`).to.equal(false);
        if (!r.ok) {
          expect(r.error, `${key} ${field}`).to.contain(`${field}: `);
          for (const issue of r.error.replace(/^[^:]+: /, "").split("; ")) expect(issue, `${key} ${field}: every issue on that field`).to.match(new RegExp(`^${field.replace(/\./g, "\\.")}: `));
        }
        checked++;
      }
    }
    expect(checked).to.be.greaterThan(60);
  });

  it("free text refuses every C0 control character and DEL, tab and newline included; accents and € pass", () => {
    const cases: [TopicKey, (string | number)[], string][] = [
      ["entry", ["identity", "value"], "identity.value"],
      ["exitDone", ["operator"], "operator"],
      ["exitDone", ["reason"], "reason"],
      ["sensorError", ["code"], "code"],
      ["displayText", ["lines", 1], "lines.1"],
      ["aclAdd", ["entries", 0, "label"], "entries.0.label"],
      ["paymentReq", ["label"], "label"],
      ["barrierAck", ["src"], "src"],
    ];
    for (const [key, path, field] of cases) {
      for (let c = 0; c <= 0x20; c++) {
        const ch = c === 0x20 ? "\u007f" : String.fromCharCode(c);
        const r = parsePayload(topicOf(key), JSON.stringify(withAt(FULL[key], path, (s) => `${s}${ch}`)));
        expect(r.ok, `${key} ${field} U+${c.toString(16)}`).to.equal(false);
        if (!r.ok) expect(r.error).to.match(new RegExp(`${field.replace(/\./g, "\\.")}: .*must not contain control characters`));
      }
      const fine = parsePayload(topicOf(key), JSON.stringify(withAt(FULL[key], path, (s) => `${s.slice(0, 10)} é€`)));
      expect(fine, `${key} ${field}`).to.deep.include({ ok: true });
    }
  });
});
