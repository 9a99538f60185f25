/** `syspark access add|list|revoke` on an embedded PGlite data directory (the cloud stopped). */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { openDatabase } from "../../cloud/db/index";
import { seedSite } from "../../cloud/server/index";
import { silentLogger } from "../../host/log";

describe("syspark access", function () {
  this.timeout(120_000);
  let dir: string;
  const env = { ...process.env, SYSPARK_ACL_HMAC_KEY: "k".repeat(32), DATABASE_URL: "" };
  const run = (args: string[], input?: string, extraEnv: Record<string, string> = {}) =>
    spawnSync("node", ["bin/syspark.js", "access", ...args, "--data-dir", dir], { encoding: "utf8", env: { ...env, ...extraEnv }, ...(input !== undefined ? { input } : {}) });

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "syspark-access-cli-"));
    const db = await openDatabase({ dataDir: dir, pgliteTemplateDir: join(tmpdir(), "syspark-pglite-cache"), logger: silentLogger });
    await seedSite(db);
    await db.close();
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("adds a badge and a PIN, lists them without hashes, revokes, with precise flag errors", () => {
    let r = run(["add", "--site", "paris-centre", "--badge", "0a:1b:2c:3d", "--label", "night staff", "--subscriber"]);
    expect(r.stderr).to.equal(`database: PGlite ${dir} (--data-dir ${dir})\n`);
    expect(r.stdout).to.match(/^added badge 0A1B2C3D \(night staff\) subscriber at paris-centre: access list version 1$/m);
    r = run(["add", "--site", "paris-centre", "--pin-stdin", "--label", "cashier"], "4711\n");
    expect(r.status).to.equal(0);
    expect(r.stdout).to.match(/added pin pin-[0-9a-f]{12} \(cashier\) at paris-centre: access list version 2/);
    expect(r.stdout + r.stderr).not.to.include("4711");
    r = run(["list", "--site", "paris-centre", "--json"]);
    const l = JSON.parse(r.stdout) as { version: number; entries: { entry_id: string }[] };
    expect(l.version).to.equal(2);
    expect(l.entries).to.have.length(2);
    expect(r.stdout).not.to.match(/scrypt|4711/);
    r = run(["revoke", "--site", "paris-centre", "--entry", "0A1B2C3D"]);
    expect(r.stdout).to.match(/revoked badge 0A1B2C3D at paris-centre: access list version 3/);

    const bad: [string[], RegExp, string?, Record<string, string>?][] = [
      [["add", "--site", "Paris", "--badge", "0A1B", "--label", "x"], /--site must be 1-32 of a-z 0-9 -/],
      [["add", "--site", "paris-centre", "--label", "x"], /give --badge <uid>, or a PIN with --pin-stdin/],
      [["add", "--site", "paris-centre", "--badge", "zz", "--label", "x"], /--badge: must be 4–32 hex digits/],
      [["add", "--site", "paris-centre", "--pin-stdin", "--label", "x"], /the PIN: must be 4–8 digits/, "12a4\n"],
      [["add", "--site", "paris-centre", "--badge", "0A1B2C3D", "--label", "x", "--valid-until", "soon"], /--valid-until: must be an ISO-8601/],
      [["add", "--site", "paris-centre", "--badge", "0A1B2C3D", "--label", "x"], /SYSPARK_ACL_HMAC_KEY is not set/, undefined, { SYSPARK_ACL_HMAC_KEY: "" }],
      [["add", "--site", "nowhere", "--badge", "0A1B2C3D", "--label", "x"], /site nowhere not found/],
      [["revoke", "--site", "paris-centre", "--entry", "a/b"], /--entry must be 1-64 of/],
    ];
    for (const [args, msg, input, extra] of bad) {
      const b = run(args, input, extra);
      expect(b.status, args.join(" ")).to.not.equal(0);
      expect(b.stderr, args.join(" ")).to.match(msg);
      expect(b.stderr).not.to.include("12a4");
    }
  });
});
