/**
 * Holes at the cloud's boundary with a site (issue 15):
 * - a payload whose text holds a control character (a NUL byte PostgreSQL refuses) is refused
 *   by the contract once, as a contract violation, and the next event is processed;
 * - an exit/done claiming an operator override is attributed to a cloud operator only when it
 *   names (cmd_id) an override the cloud issued for that site and lane; any other claim is
 *   recorded as the site's claim and flagged for review, and does not let an unpaid car out as paid.
 */
import { expect } from "chai";
import pino from "pino";
import { findActiveSession, getSession, type SessionRow } from "../../../cloud/db/index";
import { flushAudit } from "../../../cloud/server/audit-chain";
import { startCloud } from "../../../cloud/server/index";
import { TOPICS, toCloudTopic } from "../../../contracts/mqtt-topics";
import { LOW_SCRYPT, SiteClient, TEMPLATE_DIR, eventId, login, until, type TestCloud } from "./helpers";

const SRC = "test-gateway";
const rndPlate = () => `T${Math.random().toString(36).slice(2, 8).toUpperCase()}`;

describe("the cloud's boundary with a site (issue 15)", function () {
  this.timeout(60_000);
  let t: TestCloud;
  let site: SiteClient;
  let token: string;
  const logs: { msg: string; site?: string; topic?: string; err?: string }[] = [];

  before(async function () {
    this.timeout(180_000);
    // startEmbedded's cloud, with a logger the test reads (what the consumer did with each message).
    const logger = pino({ level: "debug" }, { write: (line: string) => void logs.push(JSON.parse(line) as (typeof logs)[number]) });
    const cloud = await startCloud({
      port: 0,
      mqttPort: 0,
      pgliteTemplateDir: TEMPLATE_DIR,
      stripe: { emulatorPort: 0 },
      logger,
      scryptCost: LOW_SCRYPT,
      instanceId: `t-boundary-${process.pid}`,
      relayPollMs: 50,
      seedDemo: true,
      createFirstAdmin: true,
    });
    if (!cloud.firstAdmin) throw new Error("expected a first admin on embedded defaults");
    t = { cloud, siteId: "paris-centre", kind: "embedded", admin: cloud.firstAdmin, close: () => cloud.close() };
    site = await SiteClient.connect(t.cloud.mqttUrl, t.siteId);
    token = await login(t.cloud.url, t.admin.username, t.admin.password);
  });
  after(async () => {
    await site?.close();
    await t?.close();
  });

  const auditRows = async (where: (p: Record<string, unknown>, kind: string) => boolean) => {
    await flushAudit(t.cloud.db);
    const rows = await t.cloud.db.sql<{ kind: string; sessionId: string | null; payload: Record<string, unknown> }[]>`SELECT kind, session_id, payload FROM audit_log ORDER BY seq`;
    return rows.filter((r) => where(r.payload, r.kind));
  };

  /** Entry two hours ago and an exit request: an unpaid session, pending payment at L1. */
  async function unpaidAtExit(): Promise<SessionRow> {
    const plate = rndPlate();
    await site.publish("entry", { ts: Date.now() - 2 * 3600_000, src: SRC, event_id: eventId(), lane_id: "E1", identity: { method: "plate", value: plate } });
    const session = await until(() => findActiveSession(t.cloud.db.sql, t.siteId, { method: "plate", value: plate }), 15_000, "the entry session");
    await site.publish("exitReq", { ts: Date.now(), src: SRC, event_id: eventId(), lane_id: "L1", identity: { method: "plate", value: plate } });
    await site.waitFor("paymentReq", (p) => p.session_id === session.sessionId);
    return getSession(t.cloud.db.sql, session.sessionId);
  }

  it('an entry whose identity.value holds "\\u0000" (a ticket: only trimmed by the database layer) is refused once by the contract (no session, no retry); the next entry is processed', async () => {
    const bad = eventId();
    const raw = JSON.stringify({ ts: Date.now(), src: SRC, event_id: bad, lane_id: "E1", identity: { method: "ticket", value: "T-42\u0000" } });
    await site.client.publishAsync(toCloudTopic(t.siteId, TOPICS.entry.topic), raw, { qos: 1 });
    const plate = rndPlate();
    await site.publish("entry", { ts: Date.now(), src: SRC, event_id: eventId(), lane_id: "E1", identity: { method: "plate", value: plate } });
    await until(() => findActiveSession(t.cloud.db.sql, t.siteId, { method: "plate", value: plate }), 15_000, "the valid entry's session");

    const aboutEntry = logs.filter((l) => l.topic === "parking/entry");
    const refused = aboutEntry.filter((l) => l.msg === "site event dropped: payload breaks the contract");
    expect(refused, JSON.stringify(aboutEntry)).to.have.length(1);
    expect(refused[0].err).to.match(/identity\.value: .*must not contain control characters.*U\+0000/);
    expect(aboutEntry.filter((l) => /failed/.test(l.msg)), "no handler failure, no retry").to.deep.equal([]);
    const metrics = await (await fetch(`${t.cloud.url}/metrics`)).text();
    expect(metrics).to.match(/syspark_site_events_total\{topic="parking\/entry",outcome="invalid"\} 1\b/);
    expect(metrics).to.not.match(/syspark_site_events_total\{topic="parking\/entry",outcome="error"\}/);
    const [{ n }] = await t.cloud.db.sql<{ n: number }[]>`SELECT count(*)::int4 AS n FROM processed_site_events WHERE event_id = ${bad}`;
    expect(n).to.equal(0);
  });

  it("a forged override claim (no cloud override behind it) is not attributed to the cloud's admin: the unpaid session is flagged and the claim is up for review", async () => {
    const s = await unpaidAtExit();
    const ev = eventId();
    await site.publish("exitDone", { ts: Date.now(), src: "lan-intruder", event_id: ev, lane_id: "L1", session_id: s.sessionId, barrier_result: "opened", passed: true, decided_by: "override", operator: t.admin.username, reason: "let me out please" });
    const [exitRow] = await until(async () => {
      const rows = await auditRows((p, kind) => (kind === "session.closed" || kind === "session.flagged") && p.event_id === ev);
      return rows.length ? rows : undefined;
    }, 10_000, "the exit's audit row");
    expect(exitRow.kind).to.equal("session.flagged");
    expect(exitRow.payload).to.include({ operator: null, claimed_operator: t.admin.username, override: "claimed" });
    const after = await getSession(t.cloud.db.sql, s.sessionId);
    expect(after.status).to.equal("flagged");
    expect(after.flagReason).to.match(/without validated payment/);
    const [claim] = await auditRows((p, kind) => kind === "exit.override_claimed" && p.event_id === ev);
    expect(claim.sessionId).to.equal(s.sessionId);
    expect(claim.payload).to.include({ review: true, claimed_by: "lan-intruder", claimed_operator: t.admin.username, claimed_reason: "let me out please", verified: false });
    expect(claim.payload).to.not.have.property("operator_id");
  });

  it("an exit/done naming a real cloud override's cmd_id but for another lane, or a cmd_id the cloud never issued, is a claim too", async () => {
    const r = await fetch(`${t.cloud.url}/api/lanes/L1/override`, { method: "POST", headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}` }, body: JSON.stringify({ site_id: t.siteId, reason: "barrier test at L1" }) });
    expect(r.status).to.equal(202);
    const { cmd_id } = (await r.json()) as { cmd_id: string };
    for (const [lane, cmd] of [["L2", cmd_id], ["L1", "ovr_never_issued"]]) {
      const s = await unpaidAtExit();
      const ev = eventId();
      await site.publish("exitDone", { ts: Date.now(), src: SRC, event_id: ev, lane_id: lane, session_id: s.sessionId, cmd_id: cmd, barrier_result: "opened", passed: true, decided_by: "override", operator: t.admin.username, reason: "reusing a command id" });
      const [claim] = await until(async () => {
        const rows = await auditRows((p, kind) => kind === "exit.override_claimed" && p.event_id === ev);
        return rows.length ? rows : undefined;
      }, 10_000, "the claim's audit row");
      expect(claim.payload).to.include({ review: true, cmd_id: cmd, verified: false });
      expect((await getSession(t.cloud.db.sql, s.sessionId)).status).to.equal("flagged");
    }
  });

  it("a real cloud override (POST /api/lanes/L1/override) and its exit/done with the matching cmd_id: attributed to the operator, closed, once", async () => {
    const s = await unpaidAtExit();
    const reason = "card refused, paid cash at the desk";
    const r = await fetch(`${t.cloud.url}/api/lanes/L1/override`, { method: "POST", headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}` }, body: JSON.stringify({ site_id: t.siteId, reason, session_id: s.sessionId }) });
    expect(r.status).to.equal(202);
    const { cmd_id } = (await r.json()) as { cmd_id: string };
    const cmd = await site.waitFor("barrierCmd", (p) => p.cmd_id === cmd_id);
    const ev = eventId();
    // What the gateway says after the override let the car out (gateway/lane/orchestrator.ts echoes cmd_id).
    await site.publish("exitDone", { ts: Date.now(), src: SRC, event_id: ev, lane_id: "L1", session_id: s.sessionId, cmd_id, barrier_result: "opened", passed: true, decided_by: "override", identity: { method: "operator", value: String(cmd.payload.operator) }, operator: String(cmd.payload.operator), reason });
    const [exitRow] = await until(async () => {
      const rows = await auditRows((p, kind) => (kind === "session.closed" || kind === "session.flagged") && p.event_id === ev);
      return rows.length ? rows : undefined;
    }, 10_000, "the exit's audit row");
    expect(exitRow.kind).to.equal("session.closed");
    expect(exitRow.payload).to.include({ operator: t.admin.username, override: "cloud", cmd_id, override_reason: reason, exit_method: "operator" });
    expect(exitRow.payload.operator_id).to.be.a("number");
    expect((await getSession(t.cloud.db.sql, s.sessionId)).status).to.equal("closed");
    expect(await auditRows((p, kind) => kind === "exit.override_claimed" && p.event_id === ev)).to.deep.equal([]);

    // The same cmd_id claimed again for another car: one override lets out one exit.
    const other = await unpaidAtExit();
    const ev2 = eventId();
    await site.publish("exitDone", { ts: Date.now(), src: SRC, event_id: ev2, lane_id: "L1", session_id: other.sessionId, cmd_id, barrier_result: "opened", passed: true, decided_by: "override", operator: t.admin.username, reason });
    await until(async () => (await auditRows((p, kind) => kind === "exit.override_claimed" && p.event_id === ev2)).length > 0, 10_000, "the replayed claim's audit row");
    expect((await getSession(t.cloud.db.sql, other.sessionId)).status).to.equal("flagged");
  });
});
