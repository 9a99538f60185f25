/** `syspark permits plans|plan-set|list` on an embedded PGlite data directory (the cloud stopped). */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { openDatabase } from "../../cloud/db/index";
import { seedSite } from "../../cloud/server/index";
import { silentLogger } from "../../host/log";

describe("syspark permits", function () {
  this.timeout(120_000);
  let dir: string;
  const env = { ...process.env, DATABASE_URL: "" };
  const run = (args: string[]) => spawnSync("node", ["bin/syspark.js", "permits", ...args, "--data-dir", dir], { encoding: "utf8", env });

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "syspark-permits-cli-"));
    const db = await openDatabase({ dataDir: dir, pgliteTemplateDir: join(tmpdir(), "syspark-pglite-cache"), logger: silentLogger });
    await seedSite(db);
    await db.close();
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("lists the seeded plans, sets a discount plan, refuses bad flags by name, lists permits", () => {
    let r = run(["plans", "--site", "paris-centre", "--json"]);
    expect(r.status, r.stderr).to.equal(0);
    const seeded = (JSON.parse(r.stdout) as { plans: { plan_id: string; period: string }[] }).plans;
    expect(seeded.map((p) => [p.plan_id, p.period])).to.deep.equal([["paris-centre-monthly", "month"], ["paris-centre-annual", "year"]]);
    r = run(["plan-set", "--site", "paris-centre", "--plan", "night-owl", "--name", "Night owl", "--period", "month", "--amount", "3900", "--currency", "EUR", "--discount", "50", "--max", "10"]);
    expect(r.status, r.stderr).to.equal(0);
    expect(r.stdout).to.match(/^plan night-owl of paris-centre: 3900 EUR\/month, 50% off, max 10$/m);
    r = run(["plans", "--site", "paris-centre"]);
    expect(r.stdout).to.match(/night-owl\tNight owl\t3900 EUR\/month\t50% off\tmax 10/);
    r = run(["plan-set", "--site", "paris-centre", "--plan", "x", "--name", "X", "--period", "week", "--amount", "100", "--currency", "EUR", "--free", "--max", "1"]);
    expect(r.status).to.not.equal(0);
    expect(r.stderr).to.match(/--period: /);
    r = run(["plan-set", "--site", "paris-centre", "--plan", "x", "--name", "X", "--period", "month", "--amount", "100", "--currency", "EUR", "--free", "--discount", "10", "--max", "1"]);
    expect(r.stderr).to.match(/exactly one of --free or --discount/);
    r = run(["list", "--site", "paris-centre"]);
    expect(r.status, r.stderr).to.equal(0);
    expect(r.stdout).to.match(/^site paris-centre: 0 permit\(s\)$/m);
  });
});
