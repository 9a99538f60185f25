/**
 * `syspark seed --file` and `syspark tariff publish` on PostgreSQL (issue 19): a whole site built
 * from deploy/sites/example-site.yaml (its tariff in the file beside it) in a database of its own
 * (created here, migrated as the cloud migrates on open, dropped after); run again, nothing
 * changes — no row, no audit row — and the output says "no changes"; an edited file writes only
 * what was edited; an invalid file exits 1 naming the path and line, writing nothing; a tariff
 * file published twice is one version; a dry run writes nothing.
 */
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { expect } from "chai";
import postgres from "postgres";
import { DatabaseConnectionError, openDatabase } from "../../cloud/db/index";
import { silentLogger } from "../../host/log";
import { PG_TEST_URL } from "../setup/pg-schema";

const SYSPARK = resolve("bin/syspark.js");
const EXAMPLE = resolve("deploy/sites/example-site.yaml");
const EXAMPLE_TARIFF = resolve("deploy/sites/example-tariff.yaml");
const SITE = "lyon-part-dieu";

interface Counts {
  sites: number;
  lanes: number;
  tariffs: number;
  plans: number;
  audit: number;
}

describe("syspark seed / tariff publish on PostgreSQL (a database of their own)", function () {
  this.timeout(300_000);
  const dbName = `syspark_seed_${randomBytes(5).toString("hex")}`;
  let url: string;
  let dir: string;
  let sql: postgres.Sql | undefined;
  let created = false;

  const run = (args: string[]) => {
    const env: NodeJS.ProcessEnv = { ...process.env, DATABASE_URL: url, HOME: dir };
    for (const k of ["SYSPARK_DATA_DIR", "SYSPARK_CLOUD_URL", "SYSPARK_OPERATOR_TOKEN", "SYSPARK_OPERATOR_USERNAME", "SYSPARK_OPERATOR_PASSWORD"]) delete env[k];
    const r = spawnSync("node", [SYSPARK, ...args], { encoding: "utf8", env, cwd: dir, timeout: 120_000 });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  };

  async function counts(): Promise<Counts> {
    const q = sql as postgres.Sql;
    const [c] = await q<Counts[]>`
      SELECT (SELECT count(*)::int FROM sites) AS sites, (SELECT count(*)::int FROM lanes) AS lanes,
             (SELECT count(*)::int FROM tariffs) AS tariffs, (SELECT count(*)::int FROM permit_plans) AS plans,
             (SELECT count(*)::int FROM audit_log) + (SELECT count(*)::int FROM audit_pending) AS audit`;
    return c;
  }

  before(async function () {
    const admin = postgres(PG_TEST_URL, { max: 1, onnotice: () => undefined, connect_timeout: 5 });
    try {
      await admin.unsafe(`CREATE DATABASE "${dbName}"`);
      created = true;
    } catch (err) {
      if (process.env.SYSPARK_REQUIRE_POSTGRES !== "1" && (err as { code?: string }).code === "ECONNREFUSED") {
        console.warn(`      skipped: PostgreSQL not reachable at ${PG_TEST_URL}`);
        this.skip();
      }
      throw err;
    } finally {
      await admin.end({ timeout: 5 });
    }
    const u = new URL(PG_TEST_URL);
    u.pathname = `/${dbName}`;
    url = u.toString();
    try {
      // The cloud migrates on open; the commands only open an existing, migrated database.
      const db = await openDatabase({ databaseUrl: url, max: 1, logger: silentLogger });
      await db.close();
    } catch (err) {
      if (err instanceof DatabaseConnectionError && process.env.SYSPARK_REQUIRE_POSTGRES !== "1") this.skip();
      throw err;
    }
    sql = postgres(url, { max: 1, onnotice: () => undefined });
    dir = mkdtempSync(join(tmpdir(), "syspark-seed-pg-"));
  });

  after(async () => {
    await sql?.end({ timeout: 5 });
    if (dir) rmSync(dir, { recursive: true, force: true });
    if (!created) return;
    const admin = postgres(PG_TEST_URL, { max: 1, onnotice: () => undefined, connect_timeout: 5 });
    try {
      await admin.unsafe(`DROP DATABASE IF EXISTS "${dbName}" WITH (FORCE)`);
    } finally {
      await admin.end({ timeout: 5 });
    }
  });

  it("builds the whole site from the file; the second run changes nothing and says so", async () => {
    const first = run(["seed", "--file", EXAMPLE]);
    expect(first.status, first.stderr).to.equal(0);
    expect(first.stderr).to.match(/^database: PostgreSQL .*syspark_seed_/m);
    for (const line of [/create\s+site lyon-part-dieu: Lyon Part-Dieu, Europe\/Paris, EUR, capacity 420/, /create\s+lane E1: entry/, /create\s+lane L2: exit/, /publish\s+tariff: version 1 from now/, /create\s+permit plan lyon-part-dieu-nights/]) {
      expect(first.stdout).to.match(line);
    }
    expect(first.stdout).to.match(/^overnight\s+\S+ 19:00\s+\S+ 08:00\s+€5\.00/m); // the preview of the pricing function
    expect(first.stdout).to.match(/^8 changes applied to site lyon-part-dieu$/m);

    const q = sql as postgres.Sql;
    const [site] = await q`SELECT name, time_zone, currency, capacity, permit_spots, reservation_spots, legal FROM sites WHERE site_id = ${SITE}`;
    expect(site).to.deep.include({ name: "Lyon Part-Dieu", time_zone: "Europe/Paris", currency: "EUR", capacity: 420, permit_spots: 40, reservation_spots: 20 });
    expect(site.legal).to.deep.include({ company: "Parkings Lyon SAS" });
    expect((await q`SELECT lane_id, name, kind FROM lanes WHERE site_id = ${SITE} ORDER BY lane_id`).map((l) => `${l.lane_id}/${l.name}/${l.kind}`)).to.deep.equal(["e1/E1/entry", "e2/E2/entry", "l1/L1/exit", "l2/L2/exit"]);
    const [tariff] = await q`SELECT version, document FROM tariffs WHERE site_id = ${SITE}`;
    expect(tariff.version).to.equal(1);
    expect(tariff.document).to.deep.include({ id: "lyon-part-dieu", currency: "EUR" });
    expect((await q`SELECT plan_id, amount::int AS amount FROM permit_plans WHERE site_id = ${SITE} ORDER BY plan_id`).map((p) => `${p.plan_id}:${p.amount}`)).to.deep.equal(["lyon-part-dieu-monthly:9500", "lyon-part-dieu-nights:4500"]);
    const audit = await q`SELECT kind, payload->>'via' AS via FROM audit_log WHERE payload->>'site_id' = ${SITE} ORDER BY seq`;
    expect(audit.map((a) => a.kind)).to.deep.equal(["site.added", "lane.added", "lane.added", "lane.added", "lane.added", "tariff.published", "permit_plan.set", "permit_plan.set"]);
    expect(audit.every((a) => a.via === "cli")).to.equal(true);

    const before = await counts();
    const second = run(["seed", "--file", EXAMPLE]);
    expect(second.status, second.stderr).to.equal(0);
    expect(second.stdout).to.match(/^no changes: site lyon-part-dieu already matches /m);
    expect(second.stdout).to.not.match(/^\s+(create|update|publish)\s/m);
    expect(await counts()).to.deep.equal(before);
  });

  it("an edited file writes only what was edited (audited), and leaves what it does not name", async () => {
    const edited = join(dir, "edited.yaml");
    copyFileSync(EXAMPLE_TARIFF, join(dir, "example-tariff.yaml"));
    writeFileSync(edited, readFileSync(EXAMPLE, "utf8").replace("capacity: 420 ", "capacity: 400 ").replace("  - { id: L2, kind: exit }\n", "  - { id: L3, kind: exit }\n"));
    const before = await counts();
    const r = run(["seed", "--file", edited]);
    expect(r.status, r.stderr).to.equal(0);
    expect(r.stdout).to.match(/update\s+site lyon-part-dieu: capacity 420 → 400/);
    expect(r.stdout).to.match(/create\s+lane L3: exit/);
    expect(r.stdout).to.match(/unchanged tariff: version 1 is this document/);
    expect(r.stdout).to.match(/note: lane L2 \(exit\) is not in the file: left as it is/);
    expect(r.stdout).to.match(/^2 changes applied/m);
    const after = await counts();
    expect(after).to.deep.equal({ ...before, lanes: before.lanes + 1, audit: before.audit + 2 });
  });

  it("refuses an invalid file with exit code 1, naming each path and line, writing nothing", async () => {
    const bad = join(dir, "bad.yaml");
    writeFileSync(bad, "site:\n  id: lyon-part-dieu\n  name: Lyon\n  time_zone: Europe/Lyon\n  currency: EUR\nlanes:\n  - { id: E1, kind: entry }\n  - { id: L1, kind: sortie }\n");
    const before = await counts();
    const r = run(["seed", "--file", bad]);
    expect(r.status).to.equal(1);
    expect(r.stderr).to.include("lanes[1].kind (line 8): entry or exit");
    expect(r.stderr).to.include('site.time_zone (line 4): unknown time zone "Europe/Lyon"');
    expect(r.stderr).to.match(/bad\.yaml: 2 problems \(listed above\), nothing written/);
    expect(await counts()).to.deep.equal(before);
  });

  it("tariff publish: validated with paths, previewed, versioned; the same file twice is one version; --dry-run writes nothing", async () => {
    const file = join(dir, "tariff-v2.json");
    const doc = JSON.parse(JSON.stringify((await (sql as postgres.Sql)`SELECT document FROM tariffs WHERE site_id = ${SITE} AND version = 1`)[0].document)) as Record<string, unknown>;
    delete doc.version;
    delete doc.effective_from;
    (doc.daily_cap as { price: number }).price = 2000;
    writeFileSync(file, JSON.stringify(doc, null, 2));
    const before = await counts();

    const dry = run(["tariff", "publish", SITE, file, "--dry-run"]);
    expect(dry.status, dry.stderr).to.equal(0);
    expect(dry.stdout).to.match(/^26h\s+.*€24\.00\s+€29\.00\s+−€5\.00$/m); // new price, the one in force, the difference
    expect(dry.stdout).to.match(/dry run: the document is valid; it would be version 2 of lyon-part-dieu/);
    expect(await counts()).to.deep.equal(before);

    const first = run(["tariff", "publish", SITE, file]);
    expect(first.status, first.stderr).to.equal(0);
    expect(first.stdout).to.match(/tariff of lyon-part-dieu: version 2 published, in force from now/);
    const second = run(["tariff", "publish", SITE, file]);
    expect(second.status, second.stderr).to.equal(0);
    expect(second.stdout).to.match(/version 2 is already this document .*: nothing written/);
    expect(await counts()).to.deep.equal({ ...before, tariffs: before.tariffs + 1, audit: before.audit + 1 });

    writeFileSync(file, JSON.stringify({ ...doc, currency: "USD", elements: [{ price_components: [] }] }));
    const bad = run(["tariff", "publish", SITE, file]);
    expect(bad.status).to.equal(1);
    expect(bad.stderr).to.match(/elements\[0\]\.label.*: must be a non-empty string/);
    expect(bad.stderr).to.match(/currency.*: must be the site's currency EUR/);
    expect(bad.stderr).to.match(/the tariff document is not valid: \d+ problems \(listed above\), nothing written/);
    expect(await counts()).to.deep.equal({ ...before, tariffs: before.tariffs + 1, audit: before.audit + 1 });
  });
});
