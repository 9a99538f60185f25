/**
 * The cloud's HTTP boundaries (issue 15 "Holes found at the cloud's boundaries"): control
 * characters refused with a 400 naming the field (bodies and query strings, HTML on pages),
 * `next` after login never leaves the cloud, login throttled per account and per address (state
 * in the database), logout revokes the token on the server, and a cookie-borne state-changing
 * request from another origin is refused. Run on PGlite and on the PostgreSQL server.
 */
import { randomBytes } from "node:crypto";
import { expect } from "chai";
import { silentLogger } from "../../../host/log";
import { startCloud } from "../../../cloud/server/index";
import { LOW_SCRYPT, TEMPLATE_DIR, login, startOnServers, type TestCloud } from "./helpers";

const ACL_KEY = "boundaries-test-acl-key-0123456789abcdef";

async function embedded(): Promise<TestCloud> {
  const cloud = await startCloud({
    port: 0,
    mqttPort: 0,
    pgliteTemplateDir: TEMPLATE_DIR,
    stripe: { emulatorPort: 0 },
    logger: silentLogger,
    scryptCost: LOW_SCRYPT,
    instanceId: `t-${randomBytes(3).toString("hex")}`,
    relayPollMs: 50,
    seedDemo: true,
    createFirstAdmin: true,
    aclHmacKey: ACL_KEY,
  });
  if (!cloud.firstAdmin) throw new Error("expected a first admin");
  return { cloud, siteId: "paris-centre", kind: "embedded", admin: cloud.firstAdmin, close: () => cloud.close() };
}

function boundariesSuite(title: string, start: (ctx: Mocha.Context) => Promise<TestCloud>): void {
  describe(title, function () {
    this.timeout(60_000);
    let t: TestCloud;
    let base: string;
    let token: string;
    const json = (path: string, body: unknown, headers: Record<string, string> = {}, method = "POST") =>
      fetch(`${base}${path}`, { method, headers: { "Content-Type": "application/json", ...headers }, body: typeof body === "string" ? body : JSON.stringify(body), redirect: "manual" });
    const bearer = () => ({ Authorization: `Bearer ${token}` });
    const overrides = async () => (await t.cloud.db.sql<{ n: number }[]>`SELECT count(*)::int4 AS n FROM overrides`)[0].n;
    const errorOf = async (r: Response) => ((await r.json()) as { error: string }).error;
    const lane = async () => (await t.cloud.db.sql<{ laneId: string }[]>`SELECT lane_id FROM lanes WHERE site_id = ${t.siteId} AND kind = 'exit' LIMIT 1`)[0]?.laneId;

    before(async function () {
      this.timeout(180_000);
      t = await start(this);
      base = t.cloud.url;
      token = await login(base, t.admin.username, t.admin.password);
      if (!(await lane())) await t.cloud.db.sql`INSERT INTO lanes (site_id, lane_id, kind, name) VALUES (${t.siteId}, 'l1', 'exit', 'L1')`;
    });
    after(async () => {
      await t?.close();
    });

    describe("control characters (U+0000–U+001F, U+007F) are refused at every boundary with a 400 naming the field", () => {
      it("a NUL in the login username: 400 body.username, not a 500", async () => {
        const r = await json("/api/login", '{"username":"admin\\u0000","password":"x"}');
        expect(r.status).to.equal(400);
        expect(await errorOf(r)).to.match(/^body\.username: .*control character/);
      });

      it("a NUL in an override reason: 400 body.reason, nothing recorded", async () => {
        const before = await overrides();
        const r = await json(`/api/lanes/${(await lane()) ?? "l1"}/override`, { site_id: t.siteId, reason: "barrier stuck\u0000" }, bearer());
        expect(r.status).to.equal(400);
        expect(await errorOf(r)).to.match(/^body\.reason: .*control character/);
        expect(await overrides()).to.equal(before);
      });

      it("a NUL in an access-list label: 400 body.label", async () => {
        const r = await json(`/api/sites/${t.siteId}/access`, { kind: "badge", badge_uid: "04A1B2C3", label: "night\u0000staff" }, bearer());
        expect(r.status).to.equal(400);
        expect(await errorOf(r)).to.match(/^body\.label: .*control character/);
      });

      it("names nested fields and keys by their JSON path (any C0 character, and DEL)", async () => {
        let r = await json("/api/login", { username: "admin", password: "x", extra: { list: ["ok", "bell\u0007"] } });
        expect(r.status).to.equal(400);
        expect(await errorOf(r)).to.match(/^body\.extra\.list\[1\]: /);
        r = await json("/api/login", { username: "admin\u007f", password: "x" });
        expect(await errorOf(r)).to.match(/^body\.username: /);
        r = await json("/api/login", { ["user\u0000name"]: "admin", password: "x" });
        expect(r.status).to.equal(400);
        expect(await errorOf(r)).to.match(/^body: .*field name/);
      });

      it("query strings too: 400 naming query.<field>", async () => {
        const r = await fetch(`${base}/api/sessions?site_id=paris%00centre`, { headers: bearer() });
        expect(r.status).to.equal(400);
        expect(await errorOf(r)).to.match(/^query\.site_id: .*control character/);
      });

      it("a path segment: 400, not a 500", async () => {
        const r = await fetch(`${base}/api/pay/abc%00def?t=0123456789abcdef`);
        expect(r.status).to.equal(400);
        expect(await errorOf(r)).to.match(/^path: .*control character/);
      });

      it("pages a person sees stay HTML", async () => {
        let r = await fetch(`${base}/login?next=%2Fdashboard%00`);
        expect(r.status).to.equal(400);
        expect(r.headers.get("content-type")).to.match(/text\/html/);
        expect(await r.text()).to.match(/<html/i).and.to.match(/next/);
        r = await fetch(`${base}/login`, { method: "POST", headers: { "Content-Type": "application/x-www-form-urlencoded" }, body: "username=admin%00&password=x&next=%2Fdashboard", redirect: "manual" });
        expect(r.status).to.equal(400);
        expect(r.headers.get("content-type")).to.match(/text\/html/);
        expect(await r.text()).to.match(/username/);
        r = await fetch(`${base}/pay/abc?t=0123456789%00abcdef&lang=en`);
        expect(r.status).to.equal(400);
        expect(r.headers.get("content-type")).to.match(/text\/html/);
      });
    });

    describe("next after login stays on the cloud", () => {
      it("GET /login?next=/\\evil.example/x offers /console, keeps a local path", async () => {
        let html = await (await fetch(`${base}/login?next=${encodeURIComponent("/\\evil.example/x")}`)).text();
        expect(html).to.contain('name="next" value="/console"');
        html = await (await fetch(`${base}/login?next=${encodeURIComponent("/dashboard?x=1")}`)).text();
        expect(html).to.contain('name="next" value="/dashboard?x=1"');
        for (const bad of ["//evil.example/x", "https://evil.example/", "/\\/evil.example", "javascript:alert(1)", "dashboard"]) {
          html = await (await fetch(`${base}/login?next=${encodeURIComponent(bad)}`)).text();
          expect(html, bad).to.contain('name="next" value="/console"');
        }
      });

      it("POST /login with next=/\\evil.example/x redirects to /console", async () => {
        const body = new URLSearchParams({ username: t.admin.username, password: t.admin.password, next: "/\\evil.example/x" });
        const r = await fetch(`${base}/login`, { method: "POST", headers: { "Content-Type": "application/x-www-form-urlencoded" }, body: body.toString(), redirect: "manual" });
        expect(r.status).to.equal(303);
        expect(r.headers.get("location")).to.equal("/console");
      });
    });

    describe("logout revokes the token on the server", () => {
      it("login, logout, the same token gets 401; another session of the same operator keeps working", async () => {
        const mine = await login(base, t.admin.username, t.admin.password);
        const other = await login(base, t.admin.username, t.admin.password);
        expect((await fetch(`${base}/api/sessions`, { headers: { Authorization: `Bearer ${mine}` } })).status).to.equal(200);
        expect((await fetch(`${base}/api/logout`, { method: "POST", headers: { Authorization: `Bearer ${mine}` } })).status).to.equal(204);
        const after = await fetch(`${base}/api/sessions`, { headers: { Authorization: `Bearer ${mine}` } });
        expect(after.status).to.equal(401);
        expect((await fetch(`${base}/api/sessions`, { headers: { Cookie: `syspark_session=${mine}` } })).status).to.equal(401);
        expect((await fetch(`${base}/api/sessions`, { headers: { Authorization: `Bearer ${other}` } })).status).to.equal(200);
      });

      it("a cookie logout revokes the cookie's token", async () => {
        const mine = await login(base, t.admin.username, t.admin.password);
        const r = await fetch(`${base}/api/logout`, { method: "POST", headers: { Cookie: `syspark_session=${mine}`, Origin: base } });
        expect(r.status).to.equal(204);
        const page = await fetch(`${base}/console`, { headers: { Cookie: `syspark_session=${mine}` }, redirect: "manual" });
        expect(page.status).to.equal(303);
        expect(page.headers.get("location")).to.match(/^\/login\?next=/);
      });
    });

    describe("a cookie-borne state-changing request from another origin is refused", () => {
      it("Origin: https://evil.example with the cookie: 403 naming the origin, no override", async () => {
        const before = await overrides();
        const path = `/api/lanes/${(await lane()) ?? "l1"}/override`;
        let r = await json(path, { site_id: t.siteId, reason: "csrf attempt" }, { Cookie: `syspark_session=${token}`, Origin: "https://evil.example" });
        expect(r.status).to.equal(403);
        expect(await errorOf(r)).to.contain("https://evil.example");
        r = await json(path, { site_id: t.siteId, reason: "csrf attempt" }, { Cookie: `syspark_session=${token}`, "Sec-Fetch-Site": "cross-site" });
        expect(r.status).to.equal(403);
        r = await json(`/api/sites/${t.siteId}/access`, { kind: "badge", badge_uid: "04A1B2C3", label: "csrf" }, { Cookie: `syspark_session=${token}`, Origin: "https://evil.example" });
        expect(r.status).to.equal(403);
        r = await json("/api/logout", {}, { Cookie: `syspark_session=${token}`, Origin: "https://evil.example" });
        expect(r.status).to.equal(403);
        expect(await overrides()).to.equal(before);
      });

      it("the cloud's own origin, a Bearer token (CLI) and the Stripe webhook pass", async () => {
        const before = await overrides();
        const path = `/api/lanes/${(await lane()) ?? "l1"}/override`;
        let r = await json(path, { site_id: t.siteId, reason: "same origin" }, { Cookie: `syspark_session=${token}`, Origin: new URL(base).origin, "Sec-Fetch-Site": "same-origin" });
        expect(r.status).to.equal(202);
        r = await json(path, { site_id: t.siteId, reason: "from the cli" }, { ...bearer(), Origin: "https://evil.example" });
        expect(r.status).to.equal(202);
        expect(await overrides()).to.equal(before + 2);
        r = await fetch(`${base}/webhooks/stripe`, { method: "POST", headers: { "Content-Type": "application/json", Origin: "https://evil.example", "Sec-Fetch-Site": "cross-site" }, body: "{}" });
        expect(r.status).to.equal(400); // refused for its missing signature, not for its origin
      });
    });

    describe("login is throttled per account and per address (state in the database)", () => {
      const wrong = (username: string) => json("/api/login", { username, password: "not the password" });

      it("5 wrong passwords lock the account for 15 min: 429 with Retry-After, right password or not", async () => {
        const username = `brute-${randomBytes(3).toString("hex")}`;
        const password = "a long enough password";
        expect((await json("/api/operators", { username, password, role: "viewer" }, bearer())).status).to.equal(201);
        for (let i = 0; i < 5; i++) expect((await wrong(username)).status, `attempt ${i + 1}`).to.equal(401);
        const right = await json("/api/login", { username, password });
        expect(right.status).to.equal(429);
        const retry = Number(right.headers.get("retry-after"));
        expect(retry).to.be.greaterThan(14 * 60).and.at.most(15 * 60);
        const bad = await wrong(username);
        expect(bad.status).to.equal(429);
        const same = (body: unknown) => ({ ...(body as object), request_id: undefined });
        expect(same(await bad.json())).to.deep.equal(same(await right.json()));
        const form = await fetch(`${base}/login`, { method: "POST", headers: { "Content-Type": "application/x-www-form-urlencoded" }, body: new URLSearchParams({ username, password, next: "/dashboard" }).toString(), redirect: "manual" });
        expect(form.status).to.equal(429);
        expect(form.headers.get("content-type")).to.match(/text\/html/);
        // 15 minutes later (the failures moved back in time), the right password is let in again.
        await t.cloud.db.sql`UPDATE login_failures SET failed_at = failed_at - interval '16 minutes'`;
        expect((await json("/api/login", { username, password })).status).to.equal(200);
      });

      it("a success clears the account's failures", async () => {
        const username = `reset-${randomBytes(3).toString("hex")}`;
        const password = "a long enough password";
        expect((await json("/api/operators", { username, password, role: "viewer" }, bearer())).status).to.equal(201);
        for (let i = 0; i < 4; i++) expect((await wrong(username)).status).to.equal(401);
        expect((await json("/api/login", { username, password })).status).to.equal(200);
        for (let i = 0; i < 4; i++) expect((await wrong(username)).status).to.equal(401);
        expect((await json("/api/login", { username, password })).status).to.equal(200);
      });

      it("many failures from one address (any usernames) lock that address", async () => {
        await t.cloud.db.sql`DELETE FROM login_failures`;
        let last: Response | undefined;
        for (let i = 0; i < 60; i++) {
          last = await wrong(`nobody-${i}`);
          if (last.status === 429) break;
        }
        expect(last?.status).to.equal(429);
        const right = await json("/api/login", { username: t.admin.username, password: t.admin.password });
        expect(right.status).to.equal(429);
        expect(Number(right.headers.get("retry-after"))).to.be.greaterThan(0);
        await t.cloud.db.sql`DELETE FROM login_failures`;
      });
    });
  });
}

boundariesSuite("the cloud's HTTP boundaries (PGlite)", () => embedded());
boundariesSuite("the cloud's HTTP boundaries (PostgreSQL + Mosquitto)", (ctx) => startOnServers(ctx));
