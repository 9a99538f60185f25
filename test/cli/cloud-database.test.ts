/**
 * Which database `syspark audit|operator` use (issue 13 item 5): the site's, found by its folder
 * or by default; never a new one created for a read; through the running cloud's API while the
 * cloud holds its PGlite directory; DATABASE_URL + --schema on the PostgreSQL server. Every
 * command names the database on stderr.
 *
 * The CLI runs as a child process, spawned asynchronously: the cloud under test runs in this
 * process and must keep answering its API meanwhile. One cloud data directory for the file: the
 * "after the cloud stopped" tests read what the "while it runs" ones wrote (in file order).
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { expect } from "chai";
import postgres from "postgres";
import { appendAudit, createOperator, hashSecret, openDatabase, DatabaseConnectionError } from "../../cloud/db/index";
import { startCloud, type CloudHandle } from "../../cloud/server/index";
import { runFilePath } from "../../cloud/server/run-file";
import { silentLogger } from "../../host/log";

const SYSPARK = resolve("bin/syspark.js");
const TEMPLATE_DIR = join(tmpdir(), "syspark-test-cache");
const PG_URL = process.env.SYSPARK_TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** `syspark …` in `cwd` with HOME set to `home` (so ~/.syspark/cloud is under control) and no inherited database settings. */
function syspark(args: string[], o: { cwd: string; home: string; env?: Record<string, string>; input?: string }): Promise<Run> {
  return new Promise((done, fail) => {
    const env: NodeJS.ProcessEnv = { ...process.env, HOME: o.home, ...o.env };
    for (const k of ["DATABASE_URL", "SYSPARK_DATA_DIR", "SYSPARK_CLOUD_URL", "SYSPARK_OPERATOR_TOKEN", "SYSPARK_OPERATOR_USERNAME", "SYSPARK_OPERATOR_PASSWORD"]) {
      if (!o.env || !(k in o.env)) delete env[k];
    }
    const child = spawn("node", [SYSPARK, ...args], { cwd: o.cwd, env, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", fail);
    child.on("close", (status) => done({ status, stdout, stderr }));
    child.stdin.end(o.input ?? "");
  });
}

/** Every path under `dir` (recursively), to prove a refused command created nothing. */
function tree(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, encoding: "utf8" }).sort();
}

const ndjsonRows = (s: string) => s.split("\n").filter(Boolean).map((l) => JSON.parse(l) as { seq: number; kind: string });

describe("syspark CLI: which cloud database (PGlite)", function () {
  this.timeout(300_000);
  let root: string; // the "project" directory the commands run in
  let home: string; // an empty HOME: no ~/.syspark/cloud
  let siteDir: string; // root/.data/site, as `syspark up` makes it
  let cloudDir: string;
  let cloud: CloudHandle | undefined;
  let admin: { username: string; password: string };
  let auditRows = 0;

  before(async () => {
    root = mkdtempSync(join(tmpdir(), "syspark-cli-db-"));
    home = join(root, "home");
    mkdirSync(home);
    siteDir = join(root, ".data", "site");
    cloudDir = join(siteDir, "cloud");
    mkdirSync(join(siteDir, "gateway"), { recursive: true });
    cloud = await startCloud({
      dataDir: cloudDir,
      pgliteTemplateDir: TEMPLATE_DIR,
      port: 0,
      mqttPort: 0,
      stripe: { emulatorPort: 0 },
      logger: silentLogger,
      scryptCost: { N: 1 << 10, r: 8, p: 1 },
      instanceId: `t-${randomBytes(4).toString("hex")}`,
      seedDemo: true,
      createFirstAdmin: true,
      auditMode: "inline",
      aclHmacKey: "k".repeat(32),
    });
    if (!cloud.firstAdmin) throw new Error("expected a first admin");
    admin = cloud.firstAdmin;
  });

  after(async () => {
    await cloud?.close();
    rmSync(root, { recursive: true, force: true });
  });

  describe("while the cloud runs on the site's folder", () => {
    it("writes a run file naming its pid and URL", () => {
      expect(existsSync(runFilePath(cloudDir))).to.equal(true);
    });

    it("refuses without credentials, saying the site runs and how to go through its API; creates nothing", async () => {
      const before = tree(root).filter((p) => !p.startsWith(join(".data", "site", "cloud")));
      for (const args of [["operator", "list", "--data-dir", siteDir], ["audit", "export"], ["operator", "add", "--username", "bob", "--password-stdin"]]) {
        const r = await syspark(args, { cwd: root, home, input: "long enough password\n" });
        expect(r.status, args.join(" ")).to.equal(1);
        expect(r.stderr, args.join(" ")).to.include(`database: PGlite ${cloudDir}, held by the running cloud (pid ${process.pid}): through its API at ${(cloud as CloudHandle).url}`);
        expect(r.stderr).to.match(/is running \(pid \d+\), so this goes through its API at http:\/\/127\.0\.0\.1:\d+: log in with SYSPARK_OPERATOR_USERNAME and SYSPARK_OPERATOR_PASSWORD/);
      }
      expect(tree(root).filter((p) => !p.startsWith(join(".data", "site", "cloud")))).to.deep.equal(before);
      expect(tree(home)).to.deep.equal([]);
    });

    it("`operator add` creates an operator the running cloud sees, through its API", async () => {
      const r = await syspark(["operator", "add", "--username", "alice", "--role", "viewer", "--password-stdin", "--data-dir", siteDir], {
        cwd: root,
        home,
        env: { SYSPARK_OPERATOR_USERNAME: admin.username, SYSPARK_OPERATOR_PASSWORD: admin.password },
        input: "alice's long password\n",
      });
      expect(r.stderr).to.include(`held by the running cloud (pid ${process.pid})`);
      expect(r.status, r.stderr).to.equal(0);
      expect(r.stdout).to.equal("operator alice (viewer) created\n");
      const login = await fetch(`${(cloud as CloudHandle).url}/api/login`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ username: "alice", password: "alice's long password" }) });
      expect(login.status).to.equal(200);
    });

    it("`audit export` (found by default from the project directory) exports the running cloud's rows", async () => {
      const [{ n }] = await (cloud as CloudHandle).db.sql<{ n: number }[]>`SELECT count(*)::int4 AS n FROM audit_log`;
      expect(n).to.be.greaterThan(0);
      const r = await syspark(["audit", "export"], { cwd: root, home, env: { SYSPARK_OPERATOR_USERNAME: admin.username, SYSPARK_OPERATOR_PASSWORD: admin.password } });
      expect(r.status, r.stderr).to.equal(0);
      expect(r.stderr).to.include(`database: PGlite ${cloudDir}, held by the running cloud`);
      const rows = ndjsonRows(r.stdout);
      expect(rows).to.have.length(n);
      expect(rows.map((x) => x.kind)).to.include("operator.added");
      expect(r.stderr).to.include(`exported ${n} rows (ndjson)`);
    });

    it("the admin API the command uses refuses anonymous callers, non-admins and bad bodies, naming the field", async () => {
      const base = (cloud as CloudHandle).url;
      const login = async (username: string, password: string) =>
        ((await (await fetch(`${base}/api/login`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ username, password }) })).json()) as { token: string }).token;
      const post = (token: string | undefined, body: unknown) =>
        fetch(`${base}/api/operators`, { method: "POST", headers: { "Content-Type": "application/json", ...(token ? { Authorization: `Bearer ${token}` } : {}) }, body: JSON.stringify(body) });
      expect((await post(undefined, { username: "carol", password: "x".repeat(12) })).status).to.equal(401);
      expect((await fetch(`${base}/api/operators`)).status).to.equal(401);
      await createOperator((cloud as CloudHandle).db.sql, { username: "vera", passwordHash: await hashSecret("vera's long password", { N: 1 << 10, r: 8, p: 1 }), role: "viewer" });
      const viewer = await login("vera", "vera's long password");
      const forbidden = await post(viewer, { username: "carol", password: "x".repeat(12) });
      expect(forbidden.status).to.equal(403);
      expect(((await forbidden.json()) as { error: string }).error).to.equal("role viewer may not do this (needs admin)");
      const token = await login(admin.username, admin.password);
      const cases: [unknown, number, string][] = [
        [{ username: "carol", password: "short" }, 400, "body.password: must be at least 12 characters"],
        [{ username: "Carol!", password: "x".repeat(12) }, 400, "body.username: 2–64 characters, lowercase letters, digits, . _ -"],
        [{ username: "carol", password: "x".repeat(12), role: "root" }, 400, "body.role:"],
        [{ username: "carol", password: "x".repeat(12), extra: 1 }, 400, 'body: unknown field "extra"'],
        [{ username: "vera", password: "x".repeat(12) }, 409, 'operator "vera" already exists'],
      ];
      for (const [body, status, message] of cases) {
        const r = await post(token, body);
        expect(r.status, JSON.stringify(body)).to.equal(status);
        expect(((await r.json()) as { error: string }).error, JSON.stringify(body)).to.include(message);
      }
      const list = (await (await fetch(`${base}/api/operators`, { headers: { Authorization: `Bearer ${token}` } })).json()) as { username: string; role: string }[];
      expect(list.map((o) => `${o.username}:${o.role}`)).to.include.members(["admin:admin", "vera:viewer"]);
      expect(JSON.stringify(list)).not.to.match(/scrypt|password/);
    });

    it("`access add|list` go through the running cloud's API (the cloud signs: no local key needed)", async () => {
      const creds = { SYSPARK_OPERATOR_USERNAME: admin.username, SYSPARK_OPERATOR_PASSWORD: admin.password, SYSPARK_ACL_HMAC_KEY: "" };
      let r = await syspark(["access", "add", "--site", "paris-centre", "--badge", "0a:1b:2c:3d", "--label", "night staff"], { cwd: root, home, env: creds });
      expect(r.status, r.stderr).to.equal(0);
      expect(r.stderr).to.include(`held by the running cloud (pid ${process.pid})`);
      expect(r.stdout).to.match(/^added badge 0A1B2C3D \(night staff\) at paris-centre: access list version 1$/m);
      r = await syspark(["access", "list", "--site", "paris-centre"], { cwd: root, home, env: creds });
      expect(r.status, r.stderr).to.equal(0);
      expect(r.stdout).to.match(/^site paris-centre: access list version 1, 1 entry\n0A1B2C3D\tbadge\tnight staff\n$/);
      r = await syspark(["access", "list", "--site", "nowhere"], { cwd: root, home, env: creds });
      expect(r.status).to.equal(1);
      expect(r.stderr).to.match(/^syspark: listing the access list of nowhere failed \(HTTP 404\): site nowhere not found$/m);
    });
  });

  describe("after the cloud stopped", () => {
    before(async () => {
      const c = cloud as CloudHandle;
      [{ n: auditRows }] = await c.db.sql<{ n: number }[]>`SELECT count(*)::int4 AS n FROM audit_log`;
      await c.close();
      cloud = undefined;
    });

    it("removed its run file on the clean stop", () => {
      expect(existsSync(runFilePath(cloudDir))).to.equal(false);
    });

    it("`audit export --data-dir <site folder>` exports the site's rows and names the database", async () => {
      const r = await syspark(["audit", "export", "--data-dir", siteDir], { cwd: home, home });
      expect(r.status, r.stderr).to.equal(0);
      expect(r.stderr).to.include(`database: PGlite ${cloudDir} (--data-dir ${siteDir}, the site's cloud)`);
      expect(ndjsonRows(r.stdout)).to.have.length(auditRows);
      expect(r.stderr).to.include(`exported ${auditRows} rows (ndjson)`);
      expect(existsSync(join(siteDir, "PG_VERSION")), "no cluster in the site folder itself").to.equal(false);
      expect(tree(home)).to.deep.equal([]);
    });

    it("finds the site of the current directory by default, and the cloud data dir given directly", async () => {
      let r = await syspark(["audit", "verify"], { cwd: root, home });
      expect(r.status, r.stderr).to.equal(0);
      expect(r.stderr).to.include(`database: PGlite ${cloudDir} (the site of \`syspark up\` in this directory (${join(".data", "site", "cloud")}))`);
      expect(r.stdout).to.match(new RegExp(`^audit chain OK: ${auditRows} rows`));
      r = await syspark(["operator", "list", "--data-dir", cloudDir], { cwd: home, home });
      expect(r.status, r.stderr).to.equal(0);
      expect(r.stderr).to.include(`database: PGlite ${cloudDir} (--data-dir ${cloudDir})`);
      expect(r.stdout).to.equal("admin\tadmin\nalice\tviewer\nvera\tviewer\n");
    });

    it("a run file left by a dead process is stale: the command works on the files", async () => {
      const dead = spawn("node", ["-e", ""]);
      const pid = dead.pid as number;
      await new Promise((r) => dead.on("close", r));
      writeFileSync(runFilePath(cloudDir), JSON.stringify({ pid, url: "http://127.0.0.1:9" }));
      try {
        const r = await syspark(["operator", "list", "--data-dir", siteDir], { cwd: home, home });
        expect(r.status, r.stderr).to.equal(0);
        expect(r.stderr).to.include(`database: PGlite ${cloudDir} (`);
        expect(r.stdout).to.include("alice\tviewer");
      } finally {
        rmSync(runFilePath(cloudDir), { force: true });
      }
    });

    it("refuses an empty, a missing or an unrelated folder clearly and creates nothing", async () => {
      const empty = join(root, "empty");
      mkdirSync(empty);
      const missing = join(root, "missing");
      const cases: [string[], RegExp][] = [
        [["audit", "export", "--data-dir", empty], /--data-dir .*empty: .*empty holds no SysPark cloud database .*nothing was created.*point at the right one with --data-dir/],
        [["operator", "list", "--data-dir", empty], /holds no SysPark cloud database/],
        [["audit", "verify", "--data-dir", missing], /--data-dir .*missing: .*missing does not exist \(nothing was created\)/],
        [["operator", "list", "--data-dir", missing], /missing does not exist/],
      ];
      for (const [args, msg] of cases) {
        const r = await syspark(args, { cwd: empty, home });
        expect(r.status, args.join(" ")).to.equal(1);
        expect(r.stderr, args.join(" ")).to.match(msg);
        expect(r.stdout).to.equal("");
      }
      // By default, from a directory without a site and an empty HOME.
      for (const args of [["audit", "export"], ["operator", "list"]]) {
        const r = await syspark(args, { cwd: empty, home });
        expect(r.status).to.equal(1);
        expect(r.stderr).to.match(/no SysPark cloud database found: neither the site of `syspark up` here \(.*empty\/\.data\/site\/cloud\) nor `syspark cloud`'s default \(.*home\/\.syspark\/cloud\) holds one \(nothing was created\)/);
      }
      expect(tree(empty)).to.deep.equal([]);
      expect(existsSync(missing)).to.equal(false);
      expect(tree(home)).to.deep.equal([]);
      expect(readdirSync(root).filter((f) => f.endsWith(".lock"))).to.deep.equal([]);
    });

    it("refuses a PGlite cluster without SysPark's schema (nothing migrated)", async () => {
      const bare = join(root, "bare");
      const db = await openDatabase({ dataDir: bare, pgliteTemplateDir: TEMPLATE_DIR, migrate: false, logger: silentLogger });
      await db.close();
      const r = await syspark(["audit", "export", "--data-dir", bare], { cwd: root, home });
      expect(r.status).to.equal(1);
      expect(r.stderr).to.include(`database: PGlite ${bare} (--data-dir ${bare})`);
      expect(r.stderr).to.match(/holds no SysPark database \(no schema_migrations table: the cloud never started on it\); nothing was created/);
      const again = await openDatabase({ dataDir: bare, migrate: false, logger: silentLogger });
      try {
        const [t] = await again.sql<{ found: string | null }[]>`SELECT to_regclass('schema_migrations')::text AS found`;
        expect(t.found, "the command did not migrate").to.equal(null);
      } finally {
        await again.close();
      }
    });

    it("refuses --data-dir with DATABASE_URL, and --schema without it", async () => {
      let r = await syspark(["operator", "list", "--data-dir", siteDir], { cwd: root, home, env: { DATABASE_URL: "postgres://u:hunter2@127.0.0.1:1/x" } });
      expect(r.status).to.equal(1);
      expect(r.stderr).to.match(/DATABASE_URL is set \(postgres:\/\/u:\*\*\*\*@127\.0\.0\.1:1\/x\) and --data-dir is given: unset one/);
      expect(r.stderr).not.to.include("hunter2");
      r = await syspark(["audit", "verify", "--schema", "s1"], { cwd: root, home });
      expect(r.status).to.equal(1);
      expect(r.stderr).to.include("--schema applies to a PostgreSQL database (DATABASE_URL) only");
    });
  });
});

describe("syspark CLI: which cloud database (DATABASE_URL)", function () {
  this.timeout(120_000);
  const schema = `syspark_cli_${randomBytes(5).toString("hex")}`;
  const missingSchema = `${schema}_missing`;
  let dir: string;
  // The server trusts 127.0.0.1: the password is ignored by it, and must be masked by the command.
  const url = (() => {
    const u = new URL(PG_URL);
    u.password = "s3cret-pw";
    return u.toString();
  })();

  const admin = () => postgres(PG_URL, { max: 1, onnotice: () => undefined, connect_timeout: 5 });

  before(async function () {
    dir = mkdtempSync(join(tmpdir(), "syspark-cli-pg-"));
    try {
      const db = await openDatabase({ databaseUrl: PG_URL, schema, createSchema: true, max: 2, connectTimeoutS: 5, logger: silentLogger });
      try {
        for (let i = 0; i < 3; i++) await db.tx((tx) => appendAudit(tx, { kind: "test.row", payload: { i } }));
      } finally {
        await db.close();
      }
    } catch (err) {
      if (err instanceof DatabaseConnectionError && process.env.SYSPARK_REQUIRE_POSTGRES !== "1") {
        console.warn(`      skipped: PostgreSQL not reachable at ${PG_URL} (set SYSPARK_REQUIRE_POSTGRES=1 to make this a failure): ${err.message}`);
        this.skip();
      }
      throw err;
    }
  });

  after(async () => {
    if (dir) rmSync(dir, { recursive: true, force: true });
    const sql = admin();
    try {
      await sql.unsafe(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await sql.unsafe(`DROP SCHEMA IF EXISTS "${missingSchema}" CASCADE`);
    } catch {
      // the server is not there: nothing was created
    } finally {
      await sql.end({ timeout: 5 });
    }
  });

  it("exports the schema's rows and names the server (password masked) and the schema", async () => {
    const r = await syspark(["audit", "export", "--schema", schema], { cwd: dir, home: dir, env: { DATABASE_URL: url } });
    expect(r.status, r.stderr).to.equal(0);
    const masked = url.replace("s3cret-pw", "****");
    expect(r.stderr).to.include(`database: PostgreSQL ${masked}, schema ${schema} (DATABASE_URL)`);
    expect(r.stderr + r.stdout).not.to.include("s3cret-pw");
    expect(ndjsonRows(r.stdout).map((x) => x.kind)).to.deep.equal(["test.row", "test.row", "test.row"]);
  });

  it("`operator add` on the database itself audits the addition (operator.added, by the CLI's user) and the chain still verifies", async () => {
    let r = await syspark(["operator", "add", "--username", "dora", "--role", "viewer", "--password-stdin", "--schema", schema], { cwd: dir, home: dir, env: { DATABASE_URL: PG_URL }, input: "dora's long password\n" });
    expect(r.status, r.stderr).to.equal(0);
    expect(r.stdout).to.include("operator dora (viewer) created");
    const sql = admin();
    try {
      const rows = await sql.unsafe<{ payload: { username: string; role: string; operator: string } }[]>(`SELECT payload FROM "${schema}".audit_log WHERE kind = 'operator.added'`);
      expect(rows.map((x) => x.payload)).to.have.length(1);
      expect(rows[0].payload).to.include({ username: "dora", role: "viewer" });
      expect(rows[0].payload.operator).to.match(/^cli:/);
    } finally {
      await sql.end({ timeout: 5 });
    }
    r = await syspark(["audit", "verify", "--schema", schema], { cwd: dir, home: dir, env: { DATABASE_URL: PG_URL } });
    expect(r.status, r.stderr).to.equal(0);
  });

  it("refuses a schema that holds no SysPark database, without creating it", async () => {
    const r = await syspark(["operator", "list", "--schema", missingSchema], { cwd: dir, home: dir, env: { DATABASE_URL: PG_URL } });
    expect(r.status).to.equal(1);
    expect(r.stderr).to.match(new RegExp(`schema ${missingSchema} holds no SysPark database .*nothing was created`));
    const sql = admin();
    try {
      const found = await sql`SELECT 1 FROM information_schema.schemata WHERE schema_name = ${missingSchema}`;
      expect(found.length).to.equal(0);
    } finally {
      await sql.end({ timeout: 5 });
    }
    expect(readdirSync(dir)).to.deep.equal([]);
  });

  it("refuses a schema at another version than this code's, naming both", async () => {
    const sql = admin();
    try {
      await sql.unsafe(`INSERT INTO "${schema}".schema_migrations (version, name, checksum) VALUES (9999, 'future', 'x')`);
    } finally {
      await sql.end({ timeout: 5 });
    }
    let r = await syspark(["audit", "verify", "--schema", schema], { cwd: dir, home: dir, env: { DATABASE_URL: PG_URL } });
    expect(r.status).to.equal(1);
    expect(r.stderr).to.match(/is at schema version 9999, newer than this SysPark knows \(\d+\)/);
    const older = admin();
    let latest: number;
    let previous: number;
    try {
      await older.unsafe(`DELETE FROM "${schema}".schema_migrations WHERE version = 9999`);
      [{ latest }] = await older.unsafe<{ latest: number }[]>(`SELECT max(version) AS latest FROM "${schema}".schema_migrations`);
      await older.unsafe(`DELETE FROM "${schema}".schema_migrations WHERE version = ${Number(latest)}`);
      [{ previous }] = await older.unsafe<{ previous: number }[]>(`SELECT coalesce(max(version), 0) AS previous FROM "${schema}".schema_migrations`);
    } finally {
      await older.end({ timeout: 5 });
    }
    r = await syspark(["audit", "export", "--schema", schema], { cwd: dir, home: dir, env: { DATABASE_URL: PG_URL } });
    expect(r.status).to.equal(1);
    expect(r.stderr).to.include(`is at schema version ${Number(previous)}, older than this SysPark's (${Number(latest)}): start the cloud of this version on it once (it migrates on start), then retry`);
    expect(r.stdout).to.equal("");
  });
});
