/**
 * The production commands as an operator runs them (issue 19), each as a child process with an
 * environment of its own: `syspark cloud --check-config` (what a start would use, secrets
 * masked, exit 0/1, nothing opened), `syspark cloud` in production (JSON log lines only on
 * stdout, nothing seeded), and `syspark migrate` (the pre-deploy command) on a fresh database.
 */
import type { ChildProcess } from "node:child_process";
import { expect } from "chai";
import postgres from "postgres";
import { MIGRATIONS } from "../../cloud/db/index";
import { freePort } from "../../host/ports";
import { CLOUD_BROKER_FLOW_CONF, startMosquitto, type PrivateMosquitto } from "../../host/mosquitto";
import { requireToolOrSkip } from "../../host/tools";
import { freshDatabase, PRODUCTION_ENV, PRODUCTION_SECRETS, syspark, sysparkRunning, type FreshDatabase } from "./production-fixtures";

const noSecretIn = (text: string) => {
  for (const s of PRODUCTION_SECRETS) expect(text, `secret ${s} printed`).to.not.contain(s);
};

describe("syspark cloud --check-config", function () {
  this.timeout(60_000);

  it("prints what a production start would use, every secret masked, and exits 0 — without opening anything", async () => {
    // DATABASE_URL and MQTT_URL point at hosts that do not exist: any attempt to open them would fail the command.
    const r = await syspark(["cloud", "--check-config"], { ...PRODUCTION_ENV, TRUST_PROXY: "1" });
    expect(r.code, r.stderr).to.equal(0);
    noSecretIn(r.stdout + r.stderr);
    expect(r.stdout).to.match(/mode\s+PRODUCTION \(SYSPARK_ENV=production\)/);
    expect(r.stdout).to.match(/database\s+PostgreSQL postgres:\/\/\*\*\*\*:\*\*\*\*@db\.internal:5432\/syspark/);
    expect(r.stdout).to.match(/broker\s+mqtts:\/\/broker\.example\.com:8883/);
    expect(r.stdout).to.match(/broker login\s+syspark-cloud \/ password \*\*\*\*/);
    expect(r.stdout).to.match(/stripe\s+Stripe, LIVE mode/);
    expect(r.stdout).to.match(/stripe keys\s+STRIPE_SECRET_KEY \*\*\*\*, STRIPE_WEBHOOK_SECRET \*\*\*\*/);
    expect(r.stdout).to.match(/billing\s+ON/);
    expect(r.stdout).to.match(/public URL\s+https:\/\/pay\.example\.com/);
    expect(r.stdout).to.match(/listen\s+0\.0\.0\.0:10000/);
    expect(r.stdout).to.match(/trust proxy\s+1 hop/);
    expect(r.stdout).to.match(/auth secret\s+\*\*\*\* \(SYSPARK_AUTH_SECRET\)/);
    expect(r.stdout).to.match(/ACL key\s+\*\*\*\* \(SYSPARK_ACL_HMAC_KEY\)/);
  });

  it("says a test key and billing off plainly", async () => {
    const r = await syspark(["cloud", "--check-config"], { ...PRODUCTION_ENV, STRIPE_SECRET_KEY: "sk_test_SECRETKEY-8f14e45f", BILLING_ENABLED: "false" });
    expect(r.code, r.stderr).to.equal(0);
    noSecretIn(r.stdout + r.stderr);
    expect(r.stdout).to.match(/stripe\s+Stripe, TEST mode/);
    expect(r.stdout).to.match(/billing\s+OFF/);
  });

  it("exits 1 with the refusal naming every missing variable, secrets still masked", async () => {
    const { DATABASE_URL: _d, MQTT_URL: _m, PUBLIC_BASE_URL: _p, ...rest } = PRODUCTION_ENV;
    const r = await syspark(["cloud", "--check-config"], { ...rest, TRUST_PROXY: "sometimes" });
    expect(r.code).to.equal(1);
    noSecretIn(r.stdout + r.stderr);
    expect(r.stdout).to.equal("");
    expect(r.stderr).to.contain("the cloud would REFUSE to start");
    expect(r.stderr).to.contain("4 problems (DATABASE_URL, MQTT_URL, PUBLIC_BASE_URL, TRUST_PROXY)");
  });

  it("shows the embedded defaults outside production (unchanged: 127.0.0.1, the emulator)", async () => {
    const r = await syspark(["cloud", "--check-config", "--memory"], {});
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.match(/mode\s+development/);
    expect(r.stdout).to.match(/database\s+embedded PGlite in memory/);
    expect(r.stdout).to.match(/listen\s+127\.0\.0\.1:18090/);
    expect(r.stdout).to.match(/stripe\s+local Stripe TEST EMULATOR/);
  });
});

describe("syspark cloud in production, on real parts", function () {
  this.timeout(120_000);
  let db: FreshDatabase | undefined;
  let broker: PrivateMosquitto | undefined;
  let child: ChildProcess | undefined;

  before(async function () {
    if (!requireToolOrSkip(this, "mosquitto")) return;
    db = await freshDatabase(this, "syspark_prod_cli");
    broker = await startMosquitto([CLOUD_BROKER_FLOW_CONF]);
  });

  after(async () => {
    if (child && child.exitCode === null && child.signalCode === null) {
      const gone = new Promise((resolve) => child?.once("exit", resolve));
      child.kill("SIGKILL");
      await gone;
    }
    await broker?.stop();
    await db?.drop();
  });

  it("writes only JSON log lines on stdout, seeds nothing, prints no secret, and stops on SIGTERM", async () => {
    const port = await freePort();
    const dbUrl = new URL((db as FreshDatabase).url);
    dbUrl.password = "DBPASSWORD-d41d8cd9"; // the test server trusts loopback: any password is accepted, and must never be printed
    const env = {
      ...PRODUCTION_ENV,
      STRIPE_SECRET_KEY: "sk_test_SECRETKEY-8f14e45f", // no call to Stripe at start
      DATABASE_URL: dbUrl.toString(),
      MQTT_URL: (broker as PrivateMosquitto).url,
      HOST: "127.0.0.1",
      PORT: String(port),
    };
    const run = sysparkRunning(["cloud"], env);
    child = run.child;
    const exited = new Promise<number | null>((resolve) => run.child.once("exit", (code) => resolve(code)));
    const started = await new Promise<Record<string, unknown>>((resolve, reject) => {
      const look = () => {
        const line = run.out.stdout.split("\n").find((l) => l.includes('"SysPark cloud started"'));
        if (line) resolve(JSON.parse(line) as Record<string, unknown>);
      };
      run.child.stdout?.on("data", look);
      run.child.once("exit", (code) => reject(new Error(`syspark cloud exited (${code}) before it started:\n${run.out.stderr}\n${run.out.stdout}`)));
    });
    expect(started).to.include({ production: true, listen: `127.0.0.1:${port}`, stripe: "test", billingEnabled: true });
    const health = await fetch(`http://127.0.0.1:${port}/health`);
    expect(health.status).to.equal(200);
    run.child.kill("SIGTERM");
    expect(await exited).to.equal(0);

    const lines = run.out.stdout.split("\n").filter((l) => l !== "");
    expect(lines.length).to.be.greaterThan(2);
    for (const l of lines) expect(() => JSON.parse(l) as unknown, `not a JSON log line: ${l}`).to.not.throw();
    noSecretIn(run.out.stdout + run.out.stderr);
    expect(run.out.stdout).to.not.contain("First operator").and.to.not.contain("Demo merchant");
    const sql = postgres((db as FreshDatabase).url, { max: 1, onnotice: () => undefined });
    try {
      const [{ n }] = await sql<{ n: number }[]>`SELECT (SELECT count(*) FROM sites) + (SELECT count(*) FROM operators) AS n`;
      expect(Number(n)).to.equal(0);
    } finally {
      await sql.end({ timeout: 5 });
    }
  });
});

describe("syspark migrate", function () {
  this.timeout(120_000);
  let db: FreshDatabase | undefined;

  before(async function () {
    db = await freshDatabase(this, "syspark_migrate");
  });
  after(async () => {
    await db?.drop();
  });

  it("refuses without DATABASE_URL, naming it, and a --schema that is not a plain identifier", async () => {
    const r = await syspark(["migrate"], {});
    expect(r.code).to.equal(1);
    expect(r.stderr).to.contain("DATABASE_URL is not set");
    const bad = await syspark(["migrate", "--schema", "Bad-Name"], { DATABASE_URL: (db as FreshDatabase).url });
    expect(bad.code).to.not.equal(0);
    expect(bad.stderr).to.contain("--schema must be a plain lowercase identifier");
  });

  it("applies every migration to a fresh database, says which (password masked), and is a no-op the second time", async () => {
    const url = new URL((db as FreshDatabase).url);
    url.password = "MIGRATEPASS-77aa";
    const env = { DATABASE_URL: url.toString() };
    const last = MIGRATIONS.at(-1)?.version;
    const first = await syspark(["migrate"], env);
    expect(first.code, first.stderr).to.equal(0);
    expect(first.stdout + first.stderr).to.not.contain("MIGRATEPASS-77aa");
    expect(first.stderr).to.contain(`database ${url.protocol}//${url.username}:****@${url.host}/${(db as FreshDatabase).name}, schema public`);
    expect(first.stdout).to.contain(`applied ${MIGRATIONS.length} migrations`).and.to.contain(`schema version ${last}`);
    const again = await syspark(["migrate"], env);
    expect(again.code, again.stderr).to.equal(0);
    expect(again.stdout).to.contain("already up to date, nothing applied").and.to.contain(`schema version ${last}`);
    const other = await syspark(["migrate", "--schema", "tenant_b"], env);
    expect(other.code, other.stderr).to.equal(0);
    expect(other.stdout).to.contain("schema tenant_b: applied");
    const sql = postgres((db as FreshDatabase).url, { max: 1, onnotice: () => undefined });
    try {
      const rows = await sql<{ schema: string; n: number }[]>`SELECT table_schema AS schema, count(*)::int AS n FROM information_schema.tables WHERE table_name = 'schema_migrations' GROUP BY 1 ORDER BY 1`;
      expect(rows.map((r) => r.schema)).to.deep.equal(["public", "tenant_b"]);
      const [{ count }] = await sql<{ count: number }[]>`SELECT count(*)::int AS count FROM public.schema_migrations`;
      expect(count).to.equal(MIGRATIONS.length);
    } finally {
      await sql.end({ timeout: 5 });
    }
  });
});
