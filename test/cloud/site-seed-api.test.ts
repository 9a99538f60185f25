/**
 * The operator API of sites, lanes and tariffs (issue 19) on a running cloud (embedded defaults):
 * `PUT /api/admin/seed` builds the example site from its file as JSON, a second PUT changes
 * nothing (no row, no audit row); `syspark seed --url` does the same through the API; admins
 * only (a viewer and an operator get 403); a bad body is a 400 naming the field, never a 5xx;
 * sites and lanes added, listed; a tariff document validated with every path, previewed and
 * published once however often it is sent.
 */
import { spawn } from "node:child_process";
import { resolve } from "node:path";
import { expect } from "chai";
import { createOperator, hashSecret } from "../../cloud/db/index";
import { readSiteFile } from "../../cloud/flows/site-file";
import { LOW_SCRYPT, login, startEmbedded, type TestCloud } from "./server/helpers";

const EXAMPLE = resolve("deploy/sites/example-site.yaml");

function syspark(args: string[], env: Record<string, string>): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((done, fail) => {
    const e: NodeJS.ProcessEnv = { ...process.env, ...env };
    for (const k of ["DATABASE_URL", "SYSPARK_DATA_DIR", "SYSPARK_CLOUD_URL", "SYSPARK_OPERATOR_USERNAME", "SYSPARK_OPERATOR_PASSWORD"]) delete e[k];
    // Spawned, not spawnSync: the cloud under test runs in this process and must keep answering.
    const child = spawn("node", [resolve("bin/syspark.js"), ...args], { env: e, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", fail);
    child.on("close", (status) => done({ status, stdout, stderr }));
  });
}

describe("operator API: /api/admin/sites…, /api/admin/seed", function () {
  this.timeout(180_000);
  let t: TestCloud;
  const tokens: Record<"admin" | "operator" | "viewer", string> = { admin: "", operator: "", viewer: "" };

  const call = async (method: string, path: string, body?: unknown, role: keyof typeof tokens = "admin") => {
    const r = await fetch(`${t.cloud.url}${path}`, { method, headers: { Authorization: `Bearer ${tokens[role]}`, ...(body !== undefined ? { "Content-Type": "application/json" } : {}) }, ...(body !== undefined ? { body: typeof body === "string" ? body : JSON.stringify(body) } : {}) });
    return { status: r.status, body: (await r.json()) as Record<string, unknown> & { error?: string } };
  };
  const auditCount = async (siteId: string) => {
    const [c] = await t.cloud.db.sql<{ n: number }[]>`
      SELECT (SELECT count(*)::int FROM audit_log WHERE payload->>'site_id' = ${siteId}) + (SELECT count(*)::int FROM audit_pending WHERE payload->>'site_id' = ${siteId}) AS n`;
    return c.n;
  };
  const rows = async (siteId: string) => {
    const [c] = await t.cloud.db.sql<{ lanes: number; tariffs: number; plans: number }[]>`
      SELECT (SELECT count(*)::int FROM lanes WHERE site_id = ${siteId}) AS lanes, (SELECT count(*)::int FROM tariffs WHERE site_id = ${siteId}) AS tariffs,
             (SELECT count(*)::int FROM permit_plans WHERE site_id = ${siteId}) AS plans`;
    return c;
  };

  before(async () => {
    t = await startEmbedded();
    tokens.admin = await login(t.cloud.url, t.admin.username, t.admin.password);
    for (const role of ["operator", "viewer"] as const) {
      await createOperator(t.cloud.db.sql, { username: `${role}-seed`, passwordHash: await hashSecret("a password 123456", LOW_SCRYPT), role });
      tokens[role] = await login(t.cloud.url, `${role}-seed`, "a password 123456");
    }
  });
  after(() => t?.close());

  it("PUT /api/admin/seed builds the site from the file; the same file again changes nothing", async () => {
    const file = readSiteFile(EXAMPLE);
    if (!file.ok) throw new Error(JSON.stringify(file.issues));
    const dry = await call("PUT", "/api/admin/seed?dry_run=true", file.body);
    expect(dry.status, dry.body.error).to.equal(200);
    expect(dry.body).to.include({ dry_run: true, changes: 8 });
    expect(await rows("lyon-part-dieu")).to.deep.equal({ lanes: 0, tariffs: 0, plans: 0 });

    const first = await call("PUT", "/api/admin/seed", file.body);
    expect(first.status, first.body.error).to.equal(200);
    expect(first.body).to.include({ site_id: "lyon-part-dieu", dry_run: false, changes: 8 });
    expect((first.body.steps as { item: string; action: string }[]).map((s) => `${s.action} ${s.item}`)).to.deep.equal([
      "create site lyon-part-dieu", "create lane E1", "create lane E2", "create lane L1", "create lane L2", "publish tariff", "create permit plan lyon-part-dieu-monthly", "create permit plan lyon-part-dieu-nights",
    ]);
    expect((first.body.tariff_preview as { lines: unknown[] }).lines).to.have.length(6);
    expect(await rows("lyon-part-dieu")).to.deep.equal({ lanes: 4, tariffs: 1, plans: 2 });
    const audited = await auditCount("lyon-part-dieu");
    expect(audited).to.equal(8);
    const [added] = await t.cloud.db.sql<{ via: string; operator: string }[]>`
      SELECT payload->>'via' AS via, payload->>'operator' AS operator FROM audit_pending WHERE kind = 'site.added' AND payload->>'site_id' = 'lyon-part-dieu'
      UNION ALL SELECT payload->>'via', payload->>'operator' FROM audit_log WHERE kind = 'site.added' AND payload->>'site_id' = 'lyon-part-dieu'`;
    expect(added).to.deep.equal({ via: "api", operator: t.admin.username });

    const again = await call("PUT", "/api/admin/seed", file.body);
    expect(again.status).to.equal(200);
    expect(again.body.changes).to.equal(0);
    expect((again.body.steps as { action: string }[]).every((s) => s.action === "unchanged")).to.equal(true);
    expect(await rows("lyon-part-dieu")).to.deep.equal({ lanes: 4, tariffs: 1, plans: 2 });
    expect(await auditCount("lyon-part-dieu")).to.equal(audited);
  });

  it("`syspark seed --url` goes through the API: the site already matches, no changes", async () => {
    const r = await syspark(["seed", "--file", EXAMPLE, "--url", t.cloud.url], { SYSPARK_OPERATOR_TOKEN: tokens.admin });
    expect(r.status, r.stderr).to.equal(0);
    expect(r.stderr).to.match(/through its API \(--url\)/);
    expect(r.stdout).to.match(/^no changes: site lyon-part-dieu already matches /m);
  });

  it("`syspark site add|list`, `lane add`, `tariff publish` through the API (--url)", async () => {
    const env = { SYSPARK_OPERATOR_TOKEN: tokens.admin };
    const url = ["--url", t.cloud.url];
    let r = await syspark(["site", "add", "cli-api", "--name", "CLI via API", "--time-zone", "Europe/Paris", "--currency", "EUR", ...url], env);
    expect(r.status, r.stderr).to.equal(0);
    expect(r.stdout).to.match(/^site cli-api added: CLI via API, Europe\/Paris, EUR, no capacity$/m);
    r = await syspark(["lane", "add", "cli-api", "X1", "--kind", "exit", ...url], env);
    expect(r.status, r.stderr).to.equal(0);
    r = await syspark(["site", "list", ...url], env);
    expect(r.stdout).to.match(/^cli-api\s+CLI via API\s+.*X1 \(exit\)\s+none$/m);
    const [site] = await t.cloud.db.sql<{ via: string }[]>`SELECT payload->>'via' AS via FROM audit_pending WHERE kind = 'lane.added' AND payload->>'site_id' = 'cli-api' UNION ALL SELECT payload->>'via' FROM audit_log WHERE kind = 'lane.added' AND payload->>'site_id' = 'cli-api'`;
    expect(site.via).to.equal("api");
    const bad = resolve("test/fixtures/site-seed/bad-tariff.yaml");
    r = await syspark(["tariff", "publish", "lyon-part-dieu", bad, ...url], env);
    expect(r.status).to.equal(1);
    expect(r.stderr).to.match(/^ {2}elements\[0\]\.price_components\[0\]\.price_per_step \(line \d+\): price_per_step must not be negative$/m);
    expect(r.stderr).to.match(/the tariff document is not valid: \d+ problems \(listed above\), nothing written/);
  });

  it("admins only: a viewer and an operator get 403 and nothing is written", async () => {
    const file = readSiteFile(EXAMPLE);
    if (!file.ok) throw new Error("example");
    const other = { ...file.body, site: { ...(file.body.site as object), id: "refused-site" } };
    for (const role of ["viewer", "operator"] as const) {
      expect((await call("PUT", "/api/admin/seed", other, role)).status).to.equal(403);
      expect((await call("GET", "/api/admin/sites", undefined, role)).status).to.equal(403);
      expect((await call("POST", "/api/admin/sites", { site_id: "refused-site", name: "X", time_zone: "Europe/Paris", currency: "EUR" }, role)).status).to.equal(403);
    }
    const anon = await fetch(`${t.cloud.url}/api/admin/seed`, { method: "PUT", headers: { "Content-Type": "application/json" }, body: JSON.stringify(other) });
    expect(anon.status).to.equal(401);
    expect((await t.cloud.db.sql`SELECT 1 FROM sites WHERE site_id = 'refused-site'`).length).to.equal(0);
  });

  it("a bad body is a 400 naming the field (never a 5xx)", async () => {
    const bad = await call("PUT", "/api/admin/seed", { site: { id: "x-1", name: "X", time_zone: "Europe/Paris", currency: "EUR" }, lanes: [{ id: "E1", kind: "entry" }, { id: "L1", kind: "sortie" }] });
    expect(bad.status).to.equal(400);
    expect(bad.body.error).to.equal("body.lanes[1].kind: entry or exit");
    expect(bad.body.issues).to.deep.equal([{ path: "body.lanes[1].kind", message: "entry or exit" }]);
    const file = await call("PUT", "/api/admin/seed", { site: { id: "x-1", name: "X", time_zone: "Europe/Paris", currency: "EUR" }, tariff: { file: "t.yaml" } });
    expect(file.status).to.equal(400);
    expect(file.body.error).to.match(/^body\.tariff\.file: not accepted here: give the tariff inline as tariff\.document/);
    const currency = await call("PUT", "/api/admin/seed", { site: { id: "lyon-part-dieu", name: "Lyon Part-Dieu", time_zone: "Europe/Paris", currency: "USD" } });
    expect(currency.status).to.equal(400);
    expect(currency.body.error).to.match(/^body\.site\.currency: the site exists with EUR/);
    for (const [body, re] of [
      ["[1]", /the body must be a JSON object/],
      ["{", /invalid JSON body/],
      [{ site: "x" }, /body\.site: /],
    ] as const) {
      const r = await call("PUT", "/api/admin/seed", body);
      expect(r.status, JSON.stringify(body)).to.equal(400);
      expect(r.body.error).to.match(re);
    }
    expect((await call("PUT", "/api/admin/seed?dry_run=maybe", { site: {} })).body.error).to.match(/^query\.dry_run: true or false/);
    const site = await call("POST", "/api/admin/sites", { site_id: "Nope", name: "", time_zone: "Europe/Paris", currency: "EUR", capacity: -1 });
    expect(site.status).to.equal(400);
    expect(site.body.error).to.match(/body\.name: required/).and.match(/body\.capacity: from 0/).and.match(/body\.site_id: 1–32/);
    expect((await call("POST", "/api/admin/sites/lyon-part-dieu/lanes", { lane_id: "L9", kind: "out" })).body.error).to.equal("body.kind: entry or exit");
    expect((await call("POST", "/api/admin/sites/lyon-part-dieu/lanes", { lane_id: "l1", kind: "exit" })).status).to.equal(409);
    expect((await call("POST", "/api/admin/sites/nowhere/lanes", { lane_id: "L1", kind: "exit" })).status).to.equal(404);
  });

  it("POST /api/admin/sites and …/lanes add, GET lists them", async () => {
    const s = await call("POST", "/api/admin/sites", { site_id: "api-site", name: "API site", time_zone: "Europe/Paris", currency: "EUR", capacity: 50 });
    expect(s.status, s.body.error).to.equal(201);
    expect(s.body).to.include({ site_id: "api-site", capacity: 50, permit_spots: 0 });
    expect((await call("POST", "/api/admin/sites", { site_id: "api-site", name: "Again", time_zone: "Europe/Paris", currency: "EUR" })).body.error).to.equal("body.site_id: this id is already taken");
    const l = await call("POST", "/api/admin/sites/api-site/lanes", { lane_id: "Exit.1", kind: "exit" });
    expect(l.status, l.body.error).to.equal(201);
    expect(l.body).to.deep.equal({ site_id: "api-site", lane_id: "exit-1", name: "Exit.1", kind: "exit" });
    const list = await call("GET", "/api/admin/sites");
    const mine = (list.body.sites as { site_id: string; lanes: unknown[]; tariff: unknown }[]).find((x) => x.site_id === "api-site");
    expect(mine).to.deep.include({ lanes: [{ lane_id: "exit-1", name: "Exit.1", kind: "exit" }], tariff: { latest_version: null, in_force_version: null } });
  });

  it("POST …/tariffs: every problem with its path; a preview; published once however often it is sent", async () => {
    const file = readSiteFile(EXAMPLE);
    if (!file.ok || !file.file.tariff) throw new Error("example");
    const document = { ...file.file.tariff.document, daily_cap: { price: 2000, window: "rolling_24h" } };
    const bad = await call("POST", "/api/admin/sites/lyon-part-dieu/tariffs", { document: { ...document, currency: "USD", lost_ticket: { price: -1, mode: "at_least" } } });
    expect(bad.status).to.equal(400);
    const paths = (bad.body.issues as { path: string }[]).map((i) => i.path);
    expect(paths).to.include.members(["body.document.lost_ticket.price", "body.document.currency"]);

    const dry = await call("POST", "/api/admin/sites/lyon-part-dieu/tariffs", { document, dry_run: true });
    expect(dry.status, dry.body.error).to.equal(200);
    expect(dry.body).to.include({ outcome: "dry_run", version: 2 });
    const preview = dry.body.preview as { current_version: number; lines: { stay: string; amount: number; current: number; difference: number }[] };
    expect(preview.current_version).to.equal(1);
    expect(preview.lines.find((x) => x.stay === "26h")).to.include({ amount: 2400, current: 2900, difference: -500 });

    const before = await auditCount("lyon-part-dieu");
    const first = await call("POST", "/api/admin/sites/lyon-part-dieu/tariffs", { document });
    expect(first.status, first.body.error).to.equal(201);
    expect(first.body).to.include({ outcome: "published", version: 2 });
    const second = await call("POST", "/api/admin/sites/lyon-part-dieu/tariffs", { document });
    expect(second.status).to.equal(200);
    expect(second.body).to.include({ outcome: "unchanged", version: 2 });
    expect(await rows("lyon-part-dieu")).to.include({ tariffs: 2 });
    expect(await auditCount("lyon-part-dieu")).to.equal(before + 1);
    const past = await call("POST", "/api/admin/sites/lyon-part-dieu/tariffs", { document: { ...document, max_per_stay: 9000 }, effective_from: "2020-01-01T00:00:00Z" });
    expect(past.status).to.equal(400);
    expect(past.body.error).to.match(/^body\.effective_from: must be now or later/);
  });
});
