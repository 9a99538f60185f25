/**
 * The console's live side on a whole cloud (embedded defaults): the site's status messages
 * become persisted last-known state (newer wins, lane ids as the site names them), the event
 * stream shows them, alarms stay active until the lane clears them, and the lane actions go out
 * with a cmd_id, audited with the operator, their acknowledgement shown; a viewer is refused.
 */
import { expect } from "chai";
import mqtt, { type MqttClient } from "mqtt";
import { encodePayload, siteTopic, toCloudTopic, type Payload, type TopicKey } from "../../../contracts/mqtt-topics";
import { createOperator, hashSecret } from "../../../cloud/db/index";
import { LOW_SCRYPT, startEmbedded, type TestCloud } from "../server/helpers";
import { openSse, type SseReader } from "./sse";

async function until<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 5000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe("console live view (cloud on embedded defaults)", function () {
  this.timeout(60_000);
  let t: TestCloud;
  let site: MqttClient;
  let base: string;
  const tokens: Record<"admin" | "operator" | "viewer", string> = { admin: "", operator: "", viewer: "" };
  let seq = 0;
  const siteId = "paris-centre";

  const publish = async <K extends TopicKey>(key: K, payload: Omit<Payload<K>, "src">, lane?: string) => {
    await site.publishAsync(toCloudTopic(siteId, siteTopic(key, lane)), encodePayload(key, { src: "gw-test", ...payload } as Payload<K>), { qos: 1 });
  };
  const api = async (path: string, role: keyof typeof tokens = "admin", init: RequestInit = {}) => {
    const r = await fetch(`${base}${path}`, { ...init, headers: { Authorization: `Bearer ${tokens[role]}`, ...(init.body ? { "Content-Type": "application/json" } : {}), ...(init.headers ?? {}) } });
    return { status: r.status, body: (await r.json().catch(() => undefined)) as Record<string, unknown> & { error?: string } };
  };
  type Snapshot = { lanes: { laneId: string; name: string; exitState: string | null; present: boolean | null; fault: string | null }[]; alarms: { code: string; laneId: string }[]; gateway: { status: string | null; uptimeS: number | null } | null; site: { state: string; entriesClosed: boolean } };
  const snapshot = async () => (await api(`/api/console/sites/${siteId}`, "viewer")).body as unknown as Snapshot;

  before(async () => {
    t = await startEmbedded();
    base = t.cloud.url;
    const login = async (username: string, password: string) => ((await (await fetch(`${base}/api/login`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ username, password }) })).json()) as { token: string }).token;
    tokens.admin = await login(t.admin.username, t.admin.password);
    for (const role of ["operator", "viewer"] as const) {
      await createOperator(t.cloud.db.sql, { username: `${role}-live`, passwordHash: await hashSecret("a password 123456", LOW_SCRYPT), role });
      tokens[role] = await login(`${role}-live`, "a password 123456");
    }
    site = await mqtt.connectAsync(t.cloud.mqttUrl, { protocolVersion: t.cloud.mqttProtocol === 5 ? 5 : 4, clientId: "gw-test-live" });
  });
  after(async () => {
    await site?.endAsync();
    await t?.close();
  });

  it("keeps the lanes' and the gateway's last-known state, newer wins, lane ids as the site names them", async () => {
    const now = Date.now();
    await publish("laneState", { ts: now, lane_id: "L2", exit_state: "identifying", barrier_state: "closed", barrier_pos: 0, display: ["BONJOUR"] }, "L2");
    await publish("laneState", { ts: now - 5000, lane_id: "L2", exit_state: "idle" }, "L2"); // a retained one delivered late
    await publish("present", { ts: now, event_id: `p-${++seq}`, lane_id: "L2", present: true });
    await publish("gatewayStatus", { ts: now, status: "online" });
    await publish("heartbeat", { ts: now, uptime_s: 42, outbox_depth: 0 });
    const s = await until("the persisted state", async () => {
      const s = await snapshot();
      const l2 = s.lanes.find((l) => l.laneId === "l2");
      return l2?.present === true && s.gateway?.uptimeS === 42 ? s : undefined;
    });
    const l2 = s.lanes.find((l) => l.laneId === "l2");
    expect(l2?.name).to.equal("L2");
    expect(l2?.exitState).to.equal("identifying");
    expect(s.gateway?.status).to.equal("online");
    const [row] = await t.cloud.db.sql<{ exitState: string }[]>`SELECT exit_state FROM lane_status WHERE site_id = ${siteId} AND lane_id = 'l2'`;
    expect(row.exitState).to.equal("identifying");
  });

  it("streams a lane change, presence and the gateway going offline to an open console", async () => {
    const sse: SseReader = await openSse(`${base}/api/console/sites/${siteId}/stream?lang=en`, { Authorization: `Bearer ${tokens.viewer}` });
    try {
      expect(sse.status).to.equal(200);
      await sse.next((e) => e.event === "hello");
      await publish("laneState", { ts: Date.now(), lane_id: "L1", exit_state: "awaiting_payment", barrier_state: "closed", display: ["A PAYER", "4,50 EUR"] }, "L1");
      const lane = JSON.parse((await sse.next((e) => e.event === "lane" && JSON.parse(e.data).exit_state === "awaiting_payment")).data) as { laneKey: string; display: string[]; when: string };
      expect(lane.laneKey).to.equal("l1");
      expect(lane.display).to.deep.equal(["A PAYER", "4,50 EUR"]);
      expect(lane.when).to.match(/\d{2}:\d{2}:\d{2}/);
      await publish("gatewayStatus", { ts: Date.now(), status: "offline" });
      await sse.next((e) => e.event === "gateway" && JSON.parse(e.data).status === "offline");
      await until("the gateway offline persisted", async () => (await snapshot()).gateway?.status === "offline");
    } finally {
      sse.close();
    }
  });

  it("an alarm stays active until the lane reports its barrier closed with no fault", async () => {
    const raised = Date.now();
    await publish("sensorError", { ts: raised, event_id: `e-${++seq}`, lane_id: "L1", code: "OBSTRUCTION", severity: "alarm", detail: "beam cut while closing" });
    await until("the alarm", async () => (await snapshot()).alarms.some((a) => a.code === "OBSTRUCTION"));
    await publish("laneState", { ts: raised + 10, lane_id: "L1", exit_state: "open", barrier_state: "open" }, "L1");
    await new Promise((r) => setTimeout(r, 300));
    expect((await snapshot()).alarms.map((a) => a.code)).to.include("OBSTRUCTION"); // boom still up: not cleared
    await publish("laneState", { ts: raised + 20, lane_id: "L1", exit_state: "idle", barrier_state: "closed" }, "L1");
    await until("the alarm cleared", async () => !(await snapshot()).alarms.some((a) => a.code === "OBSTRUCTION"));
    const [row] = await t.cloud.db.sql<{ clearedBy: string }[]>`SELECT cleared_by FROM site_alarms WHERE code = 'OBSTRUCTION'`;
    expect(row.clearedBy).to.equal("lane");
  });

  it("opens a lane: one command with its cmd_id, audited with the operator, its acknowledgement shown", async () => {
    const sse = await openSse(`${base}/api/console/sites/${siteId}/stream?lang=fr`, { Authorization: `Bearer ${tokens.viewer}` });
    try {
      await sse.next((e) => e.event === "hello");
      const body = JSON.stringify({ action: "open", reason: "ticket illisible, client au guichet", cmd_id: "web_test_open_1" });
      const first = await api(`/api/console/sites/${siteId}/lanes/L1/commands`, "operator", { method: "POST", body });
      expect(first.status, JSON.stringify(first.body)).to.equal(202);
      const again = await api(`/api/console/sites/${siteId}/lanes/L1/commands`, "operator", { method: "POST", body });
      expect(again.status).to.equal(200);
      expect(again.body.duplicate).to.equal(true);
      const sent = await t.cloud.db.sql<{ payload: { cmd_id: string; operator: string; cmd: string } }[]>`SELECT payload FROM outbox WHERE topic = ${toCloudTopic(siteId, "parking/barriere/cmd")} AND payload->>'cmd_id' = 'web_test_open_1'`;
      expect(sent).to.have.length(1);
      expect(sent[0].payload).to.include({ operator: "operator-live", cmd: "open" });
      const feed = JSON.parse((await sse.next((e) => e.event === "feed" && JSON.parse(e.data).kind === "override.open")).data) as { text: string; category: string };
      expect(feed.category).to.equal("override");
      expect(feed.text).to.contain("operator-live").and.to.contain("ticket illisible");
      await publish("barrierAck", { ts: Date.now(), cmd_id: "web_test_open_1", lane_id: "L1", result: "done" });
      const ack = JSON.parse((await sse.next((e) => e.event === "ack")).data) as { cmd_id: string; result: string };
      expect(ack).to.include({ cmd_id: "web_test_open_1", result: "done" });
      const cmd = await until("the ack persisted", async () => {
        const c = await api("/api/console/commands/web_test_open_1", "viewer");
        return c.body.ackResult ? c.body : undefined;
      });
      expect(cmd).to.include({ kind: "open", operator: "operator-live", ackResult: "done" });
    } finally {
      sse.close();
    }
  });

  it("sends a display text and closes the site to entries, each audited", async () => {
    const d = await api(`/api/console/sites/${siteId}/lanes/L1/commands`, "operator", { method: "POST", body: JSON.stringify({ action: "display", lines: ["SORTIE FERMEE", "UTILISEZ L2"], reason: "travaux sur la voie" }) });
    expect(d.status, JSON.stringify(d.body)).to.equal(202);
    const [msg] = await t.cloud.db.sql<{ payload: { lines: string[]; lane_id: string } }[]>`SELECT payload FROM outbox WHERE topic = ${toCloudTopic(siteId, "parking/display/text")} AND payload->>'msg_id' = ${d.body.cmd_id as string}`;
    expect(msg.payload).to.deep.include({ lane_id: "L1", lines: ["SORTIE FERMEE", "UTILISEZ L2"] });
    const c = await api(`/api/console/sites/${siteId}/entries`, "admin", { method: "POST", body: JSON.stringify({ closed: true, reason: "parking réservé pour un événement" }) });
    expect(c.status).to.equal(202);
    expect((await snapshot()).site).to.include({ state: "closed", entriesClosed: true });
    const [state] = await t.cloud.db.sql<{ payload: { state: string; cmd_id: string } }[]>`SELECT payload FROM outbox WHERE topic = ${toCloudTopic(siteId, "parking/site/state")} ORDER BY id DESC LIMIT 1`;
    expect(state.payload).to.include({ state: "closed", cmd_id: c.body.cmd_id });
    const r = await api(`/api/console/sites/${siteId}/entries`, "admin", { method: "POST", body: JSON.stringify({ closed: false, reason: "fin de l'événement" }) });
    expect(r.status).to.equal(202);
    expect((await snapshot()).site.entriesClosed).to.equal(false);
  });

  it("a stream opened late catches up: the lanes' persisted state and the feed rows after the page's last one", async () => {
    const [{ seq }] = await t.cloud.db.sql<{ seq: string }[]>`SELECT COALESCE(max(seq), 0) AS seq FROM audit_log`;
    const sent = await api(`/api/console/sites/${siteId}/lanes/L1/commands`, "operator", { method: "POST", body: JSON.stringify({ action: "reset", reason: "catch-up test reset" }) });
    expect(sent.status).to.equal(202);
    await until("the row chained", async () => (await t.cloud.db.sql`SELECT 1 FROM audit_log WHERE payload->>'cmd_id' = ${sent.body.cmd_id as string}`).length > 0);
    const sse = await openSse(`${base}/api/console/sites/${siteId}/stream?lang=en&after=${seq}`, { Authorization: `Bearer ${tokens.viewer}` });
    try {
      const feed = JSON.parse((await sse.next((e) => e.event === "feed" && JSON.parse(e.data).kind === "override.reset")).data) as { text: string; seq: number };
      expect(feed.seq).to.be.greaterThan(Number(seq));
      expect(feed.text).to.contain("catch-up test reset").and.to.contain("fault reset");
      const lane = JSON.parse((await sse.next((e) => e.event === "lane" && JSON.parse(e.data).laneKey === "l2")).data) as { ts: number; exit_state: string };
      expect(lane.exit_state).to.equal("identifying"); // from the database, not from a new message
    } finally {
      sse.close();
    }
  });

  it("the occupancy follows entries live", async () => {
    const sse = await openSse(`${base}/api/console/sites/${siteId}/stream?lang=fr`, { Authorization: `Bearer ${tokens.viewer}` });
    try {
      await sse.next((e) => e.event === "hello");
      const before = (await snapshot()) as unknown as { site: { occupied: number } };
      await publish("entry", { ts: Date.now(), event_id: `en-${++seq}`, lane_id: "E1", identity: { method: "plate", value: `LIVE${seq}` } });
      // An earlier change may still be on its way to this console: wait for the count that includes this car.
      const occ = JSON.parse((await sse.next((e) => e.event === "occupancy" && JSON.parse(e.data).occupied === before.site.occupied + 1)).data) as { occupied: number; capacity: number; state: string };
      expect(occ).to.include({ capacity: 120, state: "open" });
    } finally {
      sse.close();
    }
  });

  it("an operator clears an alarm the lane did not clear, with a reason, audited once", async () => {
    await publish("sensorError", { ts: Date.now(), event_id: `e-${++seq}`, lane_id: "L2", code: "LOOP_STUCK", severity: "fault", detail: "exit loop reads present for 2 h" });
    const alarm = await until("the alarm", async () => ((await snapshot()).alarms as unknown as { alarmId: number; code: string }[]).find((a) => a.code === "LOOP_STUCK"));
    const path = `/api/console/sites/${siteId}/alarms/${alarm.alarmId}/clear`;
    const first = await api(path, "operator", { method: "POST", body: JSON.stringify({ reason: "boucle remplacée, défaut fantôme" }) });
    expect(first.body).to.include({ cleared: true });
    const again = await api(path, "operator", { method: "POST", body: JSON.stringify({ reason: "boucle remplacée, défaut fantôme" }) });
    expect(again.body).to.include({ cleared: false });
    expect((await snapshot()).alarms.map((a) => a.code)).to.not.include("LOOP_STUCK");
    const rows = await until("the audit row", async () => {
      const r = await t.cloud.db.sql<{ payload: { operator: string; reason: string } }[]>`SELECT payload FROM audit_log WHERE kind = 'alarm.cleared'`;
      return r.length ? r : undefined;
    });
    expect(rows).to.have.length(1);
    expect(rows[0].payload).to.include({ operator: "operator-live", reason: "boucle remplacée, défaut fantôme" });
  });

  it("refuses every action to a viewer (403) and writes nothing", async () => {
    const [{ n: before }] = await t.cloud.db.sql<{ n: number }[]>`SELECT count(*)::int4 AS n FROM operator_commands`;
    for (const [path, body] of [
      [`/api/console/sites/${siteId}/lanes/L1/commands`, { action: "open", reason: "just looking" }],
      [`/api/console/sites/${siteId}/lanes/L1/commands`, { action: "reset", reason: "just looking" }],
      [`/api/console/sites/${siteId}/entries`, { closed: true, reason: "just looking" }],
      [`/api/console/sites/${siteId}/alarms/1/clear`, { reason: "just looking" }],
    ] as const) {
      const r = await api(path, "viewer", { method: "POST", body: JSON.stringify(body) });
      expect(r.status, path).to.equal(403);
      expect(r.body.error).to.match(/role viewer/);
    }
    const [{ n: after }] = await t.cloud.db.sql<{ n: number }[]>`SELECT count(*)::int4 AS n FROM operator_commands`;
    expect(after).to.equal(before);
  });

  it("answers bad input with a 400 naming the field", async () => {
    const post = (path: string, body: unknown) => api(path, "operator", { method: "POST", body: JSON.stringify(body) });
    let r = await post(`/api/console/sites/${siteId}/lanes/L1/commands`, { action: "open" });
    expect(r.status).to.equal(400);
    expect(r.body.error).to.match(/body\.reason/);
    r = await post(`/api/console/sites/${siteId}/lanes/L1/commands`, { action: "display", reason: "test message", lines: ["x".repeat(21)] });
    expect(r.status).to.equal(400);
    expect(r.body.error).to.match(/lines/);
    r = await post(`/api/console/sites/${siteId}/lanes/L1/commands`, { action: "explode", reason: "test message" });
    expect(r.status).to.equal(400);
    expect(r.body.error).to.match(/action/);
    r = await post(`/api/console/sites/${siteId}/lanes/NOPE/commands`, { action: "open", reason: "test message" });
    expect(r.status).to.equal(404);
    r = await post(`/api/console/sites/NOT_A_SITE/entries`, { closed: true, reason: "test message" });
    expect(r.status).to.equal(400);
    expect(r.body.error).to.match(/site/);
  });
});
