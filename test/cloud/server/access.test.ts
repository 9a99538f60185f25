/**
 * Offline access lists and subscribers, end to end on real parts: the operator API writes the
 * database (PGlite; PostgreSQL + Mosquitto when reachable), the outbox relay publishes signed
 * parking/acl/* on the broker, and the GATEWAY's own AccessList (gateway/lane/access-list.ts)
 * accepts them — the signature round trip between contracts/acl-signature.ts and the gateway.
 * parking/sync/req is answered with a full list; a subscriber badge exits at zero fee; the PIN
 * never appears in an answer, the audit or the logs.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { expect } from "chai";
import { TOPICS, toCloudTopic } from "../../../contracts/mqtt-topics";
import { AccessList } from "../../../gateway/lane/access-list";
import { cloudLogger, startCloud } from "../../../cloud/server/index";
import { flushAudit } from "../../../cloud/server/audit-chain";
import { LOW_SCRYPT, SiteClient, TEMPLATE_DIR, eventId, login, startOnServers, until, type TestCloud } from "./helpers";

const KEY = randomBytes(32).toString("hex");
const PIN = "73914";

function accessSuite(title: string, start: (ctx: Mocha.Context, logs: string[]) => Promise<TestCloud>): void {
  describe(title, function () {
    this.timeout(60_000);
    let t: TestCloud;
    let base: string;
    let token: string;
    let site: SiteClient;
    let dir: string;
    const logs: string[] = [];
    const api = (method: string, path: string, body?: unknown) =>
      fetch(`${base}${path}`, { method, headers: { Authorization: `Bearer ${token}`, ...(body !== undefined ? { "Content-Type": "application/json" } : {}) }, ...(body !== undefined ? { body: typeof body === "string" ? body : JSON.stringify(body) } : {}) });
    const gatewayList = () => new AccessList(join(dir, `acl-${randomBytes(3).toString("hex")}.json`), KEY);
    const badge = () => randomBytes(5).toString("hex").toUpperCase();

    before(async function () {
      t = await start(this, logs);
      base = t.cloud.url;
      token = await login(base, t.admin.username, t.admin.password);
      site = await SiteClient.connect(t.cloud.mqttUrl, t.siteId);
      await site.client.subscribeAsync(["aclAdd", "aclDel", "aclFull"].map((k) => toCloudTopic(t.siteId, TOPICS[k as "aclAdd"].topic)), { qos: 1 });
      dir = mkdtempSync(join(tmpdir(), "syspark-acl-"));
    });
    after(async () => {
      await site?.close();
      await t?.close();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it("adds a badge and a PIN: signed parking/acl/add that the gateway's AccessList applies; PIN never returned", async () => {
      const gw = gatewayList();
      const uid = badge();
      let r = await api("POST", `/api/sites/${t.siteId}/access`, { kind: "badge", badge_uid: uid.match(/../g)!.join(":").toLowerCase(), label: "night staff" });
      expect(r.status).to.equal(201);
      const added = (await r.json()) as { version: number; entry: Record<string, unknown> };
      expect(added.entry).to.include({ entry_id: uid, kind: "badge", badge_uid: uid, label: "night staff", subscriber: false });
      const m1 = await site.waitFor("aclAdd", (p) => p.version === added.version);
      expect(gw.apply("add", m1.payload as never)).to.equal("applied");
      expect(gw.trustedBadge(uid, Date.now())?.label).to.equal("night staff");
      expect(gw.apply("add", m1.payload as never), "a replay").to.equal("duplicate");
      expect(new AccessList(join(dir, "wrong-key.json"), "another key of 32 characters....").apply("add", m1.payload as never)).to.equal("bad_signature");

      r = await api("POST", `/api/sites/${t.siteId}/access`, { kind: "pin", pin: PIN, label: "cashier desk" });
      expect(r.status).to.equal(201);
      const text = await r.text();
      expect(text).not.to.include(PIN);
      expect(text).not.to.include("scrypt");
      const pin = JSON.parse(text) as { version: number; entry: { entry_id: string } };
      expect(pin.version).to.equal(added.version + 1);
      const m2 = await site.waitFor("aclAdd", (p) => p.version === pin.version);
      expect(JSON.stringify(m2.payload)).not.to.include(PIN);
      expect(gw.apply("add", m2.payload as never)).to.equal("applied");
      expect(gw.matchPin(PIN, Date.now())?.id).to.equal(pin.entry.entry_id);
      expect(gw.matchPin("00000", Date.now())).to.equal(undefined);

      const list = (await (await api("GET", `/api/sites/${t.siteId}/access`)).json()) as { version: number; entries: Record<string, unknown>[] };
      expect(list.version).to.equal(pin.version);
      expect(list.entries.map((e) => e.entry_id)).to.include.members([uid, pin.entry.entry_id]);
      expect(JSON.stringify(list)).not.to.match(/scrypt|pin_hash|73914/);
    });

    it("revokes: the version goes up, parking/acl/del removes the badge at the gateway, twice changes nothing, unknown → 404", async () => {
      const gw = gatewayList();
      const uid = badge();
      const add = (await (await api("POST", `/api/sites/${t.siteId}/access`, { kind: "badge", badge_uid: uid, label: "contractor" })).json()) as { version: number };
      expect(gw.apply("add", (await site.waitFor("aclAdd", (p) => p.version === add.version)).payload as never)).to.equal("applied");
      let r = await api("DELETE", `/api/sites/${t.siteId}/access/${uid}`);
      expect(r.status).to.equal(200);
      const del = (await r.json()) as { version: number; already_revoked: boolean };
      expect(del.version).to.be.greaterThan(add.version);
      expect(del.already_revoked).to.equal(false);
      const m = await site.waitFor("aclDel", (p) => p.version === del.version);
      expect(m.payload.ids).to.deep.equal([uid]);
      expect(gw.apply("del", m.payload as never)).to.equal("applied");
      expect(gw.trustedBadge(uid, Date.now())).to.equal(undefined);
      r = await api("DELETE", `/api/sites/${t.siteId}/access/${uid}`);
      expect(((await r.json()) as { already_revoked: boolean }).already_revoked).to.equal(true);
      const list = (await (await api("GET", `/api/sites/${t.siteId}/access`)).json()) as { version: number; entries: { entry_id: string }[] };
      expect(list.version).to.equal(del.version);
      expect(list.entries.map((e) => e.entry_id)).not.to.include(uid);
      expect((await api("DELETE", `/api/sites/${t.siteId}/access/NOPE1234`)).status).to.equal(404);
      expect((await api("GET", `/api/sites/no-such-site/access`)).status).to.equal(404);
    });

    it("rejects bad bodies precisely, writes nothing, and refuses anonymous callers", async () => {
      const before = ((await (await api("GET", `/api/sites/${t.siteId}/access`)).json()) as { version: number }).version;
      const cases: [unknown, RegExp][] = [
        [{ badge_uid: "0A1B2C3D", label: "x" }, /body\.kind: must be "badge" or "pin"/],
        [{ kind: "pin", pin: "12a4", label: "x" }, /^body\.pin: must be 4–8 digits$/],
        [{ kind: "pin", pin: "123456789", label: "x" }, /body\.pin: must be 4–8 digits/],
        [{ kind: "pin", pin: "1234", label: "x", subscriber: true }, /body: unknown field "subscriber"/],
        [{ kind: "badge", badge_uid: "xyz!", label: "x" }, /body\.badge_uid: must be 4–32 hex digits/],
        [{ kind: "badge", badge_uid: "0A1B2C3D" }, /body\.label: /],
        [{ kind: "badge", badge_uid: "0A1B2C3D", label: "x", valid_until: "2001-01-01T00:00:00Z" }, /body\.valid_until: is already past/],
        [{ kind: "badge", badge_uid: "0A1B2C3D", label: "x", valid_from: "2099-02-01", valid_until: "2099-01-01" }, /valid_from must be before valid_until/],
        [{ kind: "badge", badge_uid: "0A1B2C3D", label: "x", valid_until: "tomorrow" }, /body\.valid_until: must be an ISO-8601/],
        [{ kind: "badge", badge_uid: "0A1B2C3D", label: "x", subscriber: "yes" }, /body\.subscriber: /],
      ];
      for (const [body, msg] of cases) {
        const r = await api("POST", `/api/sites/${t.siteId}/access`, body);
        const j = (await r.json()) as { error: string };
        expect(r.status, JSON.stringify(body)).to.equal(400);
        expect(j.error, JSON.stringify(body)).to.match(msg);
        expect(j.error).not.to.include("12a4");
      }
      expect((await api("POST", `/api/sites/${t.siteId}/access`, "{nope")).status).to.equal(400);
      expect((await api("POST", `/api/sites/BAD_SITE/access`, { kind: "pin", pin: "1234", label: "x" })).status).to.equal(400);
      expect((await fetch(`${base}/api/sites/${t.siteId}/access`)).status).to.equal(401);
      expect((await fetch(`${base}/api/sites/${t.siteId}/access`, { method: "POST", headers: { "Content-Type": "application/json" }, body: "{}" })).status).to.equal(401);
      const after = ((await (await api("GET", `/api/sites/${t.siteId}/access`)).json()) as { version: number }).version;
      expect(after).to.equal(before);
    });

    it("answers parking/sync/req with a signed parking/acl/full the gateway accepts (and moves past a gateway that is ahead)", async () => {
      const list = (await (await api("GET", `/api/sites/${t.siteId}/access`)).json()) as { version: number; entries: { entry_id: string; badge_uid?: string }[] };
      await site.publish("syncReq", { ts: Date.now(), src: "gw-test", reason: "boot", acl_version: 0, outbox_depth: 0 });
      const full = await site.waitFor("aclFull", (p) => p.version === list.version);
      const gw = gatewayList();
      expect(gw.apply("full", full.payload as never)).to.equal("applied");
      expect(gw.version).to.equal(list.version);
      expect(gw.size).to.equal(list.entries.length);
      expect(JSON.stringify(full.payload)).not.to.include(PIN);
      expect(gw.matchPin(PIN, Date.now()), "the PIN entry synced as a hash").not.to.equal(undefined);

      // A gateway whose list is newer than the cloud's (e.g. a restored cloud database).
      const ahead = list.version + 1000;
      await site.publish("syncReq", { ts: Date.now(), src: "gw-test", reason: "reconnect", acl_version: ahead, outbox_depth: 0 });
      const full2 = await site.waitFor("aclFull", (p) => (p.version as number) > ahead);
      expect(full2.payload.version).to.equal(ahead + 1);
      expect(gw.apply("full", full2.payload as never)).to.equal("applied");
      expect(((await (await api("GET", `/api/sites/${t.siteId}/access`)).json()) as { version: number }).version).to.equal(ahead + 1);
    });

    it("still sends the full list when a label stored before the control-character rule holds a newline (it goes out with a space)", async () => {
      await t.cloud.db.sql`UPDATE access_list_entries SET label = ${"night\nstaff"} WHERE site_id = ${t.siteId} AND kind = 'badge'`;
      const list = (await (await api("GET", `/api/sites/${t.siteId}/access`)).json()) as { version: number };
      await site.publish("syncReq", { ts: Date.now(), src: "gw-test", reason: "boot", acl_version: 0, outbox_depth: 0 });
      const full = await site.waitFor("aclFull", (p) => p.version === list.version && JSON.stringify(p).includes("night staff"), 10_000);
      const gw = gatewayList();
      expect(gw.apply("full", full.payload as never)).to.equal("applied");
    });

    it("prices a subscriber badge's exit with the subscriber discount: zero fee, payment/success at once, audited", async () => {
      const sub = badge();
      const r = await api("POST", `/api/sites/${t.siteId}/access`, { kind: "badge", badge_uid: sub, label: "subscriber 42", subscriber: true, valid_from: new Date(Date.now() - 86_400_000).toISOString() });
      expect(r.status).to.equal(201);
      expect(((await r.json()) as { entry: { subscriber: boolean } }).entry.subscriber).to.equal(true);
      const plain = badge();
      for (const uid of [sub, plain]) await site.publish("entry", { ts: Date.now() - 3 * 3600_000, src: "gw-test", event_id: eventId(), lane_id: "E1", identity: { method: "badge", value: uid } });
      await until(async () => (await t.cloud.db.sql`SELECT 1 FROM sessions WHERE identity_value = ANY(${[sub, plain]})`).length === 2, 10_000, "both entries");
      await site.publish("exitReq", { ts: Date.now(), src: "gw-test", event_id: eventId(), lane_id: "L1", identity: { method: "badge", value: sub } });
      const [s] = await t.cloud.db.sql<{ sessionId: string }[]>`SELECT session_id FROM sessions WHERE identity_value = ${sub}`;
      const ok = await site.waitFor("paymentSuccess", (p) => p.session_id === s.sessionId);
      expect(ok.payload).to.include({ provider_ref: "no_charge", amount: 0 });
      expect(site.count("paymentReq", (p) => p.session_id === s.sessionId)).to.equal(0);
      await flushAudit(t.cloud.db);
      const [audit] = await t.cloud.db.sql<{ payload: Record<string, unknown> }[]>`SELECT payload FROM audit_log WHERE kind = 'payment.validated' AND session_id = ${s.sessionId}`;
      expect(audit.payload).to.include({ pricing: "subscriber", subscriber_entry: sub, amount: 0, validation_result: "zero fee (subscriber)" });

      await site.publish("exitReq", { ts: Date.now(), src: "gw-test", event_id: eventId(), lane_id: "L1", identity: { method: "badge", value: plain } });
      const [p] = await t.cloud.db.sql<{ sessionId: string }[]>`SELECT session_id FROM sessions WHERE identity_value = ${plain}`;
      const req = await site.waitFor("paymentReq", (x) => x.session_id === p.sessionId);
      expect(req.payload.amount as number, "a badge that is not a subscriber pays").to.be.greaterThan(0);
    });

    it("audits every change with the operator, never the PIN; the logs never carry it either", async () => {
      await flushAudit(t.cloud.db);
      const rows = await t.cloud.db.sql<{ kind: string; payload: Record<string, unknown> }[]>`SELECT kind, payload FROM audit_log WHERE kind LIKE 'access.%' ORDER BY seq`;
      expect(rows.map((r) => r.kind)).to.include.members(["access.added", "access.revoked", "access.resync"]);
      for (const r of rows.filter((x) => x.kind !== "access.resync")) expect(r.payload).to.include({ operator: t.admin.username, via: "api" });
      const all = await t.cloud.db.sql<{ payload: unknown }[]>`SELECT payload FROM audit_log`;
      expect(JSON.stringify(all)).not.to.include(PIN);
      expect(JSON.stringify(all)).not.to.include("scrypt$");
      if (logs.length) expect(logs.join("\n")).not.to.include(PIN);
    });
  });
}

/** A cloud on embedded defaults with the ACL key, its logs captured. */
async function embedded(logs: string[], aclHmacKey: string | undefined): Promise<TestCloud> {
  const sink = new Writable({ write(chunk: Buffer, _enc, cb) { logs.push(chunk.toString()); cb(); } });
  const cloud = await startCloud({
    port: 0, mqttPort: 0, pgliteTemplateDir: TEMPLATE_DIR, stripe: { emulatorPort: 0 }, logger: cloudLogger("debug", sink), scryptCost: LOW_SCRYPT,
    instanceId: `t-${randomBytes(3).toString("hex")}`, relayPollMs: 50, seedDemo: true, createFirstAdmin: true, ...(aclHmacKey ? { aclHmacKey } : {}),
  });
  return { cloud, siteId: "paris-centre", kind: "embedded", admin: cloud.firstAdmin!, close: () => cloud.close() };
}

accessSuite("access lists and subscribers (PGlite, aedes)", (_ctx, logs) => embedded(logs, KEY));

accessSuite("access lists and subscribers (PostgreSQL + Mosquitto)", async (ctx) => {
  const saved = process.env.SYSPARK_ACL_HMAC_KEY;
  process.env.SYSPARK_ACL_HMAC_KEY = KEY;
  try {
    return await startOnServers(ctx);
  } finally {
    if (saved === undefined) delete process.env.SYSPARK_ACL_HMAC_KEY;
    else process.env.SYSPARK_ACL_HMAC_KEY = saved;
  }
});

describe("access lists without SYSPARK_ACL_HMAC_KEY", function () {
  this.timeout(60_000);
  it("logs once at start that they are disabled and answers the access routes 503 with the reason", async () => {
    const saved = process.env.SYSPARK_ACL_HMAC_KEY;
    delete process.env.SYSPARK_ACL_HMAC_KEY;
    const logs: string[] = [];
    const t = await embedded(logs, undefined).finally(() => { if (saved !== undefined) process.env.SYSPARK_ACL_HMAC_KEY = saved; });
    try {
      expect(logs.filter((l) => l.includes("offline access lists are disabled"))).to.have.length(1);
      const token = await login(t.cloud.url, t.admin.username, t.admin.password);
      for (const [method, path] of [["GET", "/api/sites/paris-centre/access"], ["POST", "/api/sites/paris-centre/access"], ["DELETE", "/api/sites/paris-centre/access/X1"]]) {
        const r = await fetch(`${t.cloud.url}${path}`, { method, headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" }, ...(method === "POST" ? { body: JSON.stringify({ kind: "pin", pin: "1234", label: "x" }) } : {}) });
        expect(r.status, `${method} ${path}`).to.equal(503);
        expect(((await r.json()) as { error: string }).error).to.match(/offline access lists are disabled: SYSPARK_ACL_HMAC_KEY is not set/);
      }
    } finally {
      await t.close();
    }
  });
});
