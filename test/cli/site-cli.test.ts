/**
 * `syspark site add|list` and `syspark lane add` on an embedded PGlite data directory (the cloud
 * stopped; issue 19): a site added with its spaces and audited `via: "cli"`, its cloud-broker
 * account issued with --broker-dir (the Mosquitto password and ACL files, the password shown
 * once), lanes added, the list as a table; refusals name the flag and write nothing.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { findAuditEntries, listLanes, openDatabase } from "../../cloud/db/index";
import { getSiteAdmin } from "../../cloud/db/site-admin";
import { silentLogger } from "../../host/log";

describe("syspark site / lane (PGlite)", function () {
  this.timeout(180_000);
  let root: string;
  let dir: string;
  const env = () => {
    const e: NodeJS.ProcessEnv = { ...process.env, DATABASE_URL: "", HOME: root };
    for (const k of ["SYSPARK_DATA_DIR", "SYSPARK_CLOUD_URL", "SYSPARK_OPERATOR_TOKEN", "SYSPARK_OPERATOR_USERNAME", "SYSPARK_OPERATOR_PASSWORD"]) delete e[k];
    return e;
  };
  const run = (args: string[]) => spawnSync("node", ["bin/syspark.js", ...args, "--data-dir", dir], { encoding: "utf8", env: env(), timeout: 120_000 });

  before(async () => {
    root = mkdtempSync(join(tmpdir(), "syspark-site-cli-"));
    dir = join(root, "cloud");
    // An empty cloud database (migrated, no site): what `syspark cloud` leaves on first start.
    const db = await openDatabase({ dataDir: dir, pgliteTemplateDir: join(tmpdir(), "syspark-pglite-cache"), logger: silentLogger });
    await db.close();
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  it("adds a site (and its broker account), its lanes, and lists them", async () => {
    const brokerDir = join(root, "broker-auth");
    let r = run(["site", "add", "gare-nord", "--name", "Gare du Nord", "--time-zone", "Europe/Paris", "--currency", "eur", "--capacity", "300", "--permit-spots", "30", "--broker-dir", brokerDir]);
    expect(r.status, r.stderr).to.equal(0);
    expect(r.stderr).to.match(/^database: PGlite /m);
    expect(r.stdout).to.match(/^site gare-nord added: Gare du Nord, Europe\/Paris, EUR, capacity 300, 30 for permits$/m);
    const password = /^ {2}SYSPARK_CLOUD_MQTT_PASSWORD=(\S+)$/m.exec(r.stdout)?.[1];
    expect(password, r.stdout).to.be.a("string");
    expect(r.stdout).to.match(/^ {2}SYSPARK_CLOUD_MQTT_USERNAME=site-gare-nord$/m);
    expect(readFileSync(join(brokerDir, "passwd"), "utf8")).to.match(/^site-gare-nord:\$7\$/m);
    expect(readFileSync(join(brokerDir, "passwd"), "utf8")).to.not.include(password as string);
    expect(readFileSync(join(brokerDir, "acl"), "utf8")).to.match(/^user site-gare-nord\ntopic readwrite syspark\/gare-nord\/#$/m);

    r = run(["site", "add", "gare-est", "--name", "Gare de l'Est", "--time-zone", "Europe/Paris", "--currency", "EUR"]);
    expect(r.status, r.stderr).to.equal(0);
    // Without --broker-dir the account is issued all the same: its lines printed for the broker's files.
    expect(r.stdout).to.include("syspark broker site-account gare-est");
    expect(r.stdout).to.match(/^site-gare-est:\$7\$101\$\S+\$\S+$/m);
    expect(r.stdout).to.match(/^user site-gare-est\ntopic readwrite syspark\/gare-est\/#$/m);
    expect(r.stdout).to.match(/^ {2}SYSPARK_CLOUD_MQTT_PASSWORD=\S{32,}$/m);

    for (const [lane, kind] of [["E1", "entry"], ["Sortie.2", "exit"]]) {
      r = run(["lane", "add", "gare-nord", lane, "--kind", kind]);
      expect(r.status, r.stderr).to.equal(0);
    }
    expect(r.stdout).to.match(/^lane Sortie\.2 \(exit\) added to site gare-nord \(database id sortie-2\)$/m);

    r = run(["site", "list"]);
    expect(r.status, r.stderr).to.equal(0);
    const lines = r.stdout.trim().split("\n");
    expect(lines[0]).to.match(/^SITE\s+NAME\s+TIME ZONE\s+CURRENCY\s+CAPACITY\s+PERMITS\s+RESERVATIONS\s+LANES\s+TARIFF$/);
    expect(lines[1]).to.match(/^gare-est\s+Gare de l'Est\s+Europe\/Paris\s+EUR\s+—\s+0\s+0\s+none\s+none$/);
    expect(lines[2]).to.match(/^gare-nord\s+Gare du Nord\s+Europe\/Paris\s+EUR\s+300\s+30\s+0\s+E1 \(entry\), Sortie\.2 \(exit\)\s+none$/);

    const db = await openDatabase({ dataDir: dir, existingOnly: true, logger: silentLogger });
    try {
      expect(await getSiteAdmin(db.sql, "gare-nord")).to.include({ capacity: 300, permitSpots: 30, currency: "EUR" });
      expect((await listLanes(db.sql, "gare-nord")).map((l) => `${l.laneId}/${l.name}/${l.kind}`)).to.deep.equal(["e1/E1/entry", "sortie-2/Sortie.2/exit"]);
      const added = (await findAuditEntries(db.sql, { kind: "site.added" })).map((a) => a.payload as Record<string, unknown>);
      expect(added.find((p) => p.site_id === "gare-nord")).to.include({ via: "cli", operator_id: null, capacity: 300 });
    } finally {
      await db.close();
    }
  });

  it("refuses bad input naming the flag, an id taken, an unknown site — writing nothing", async () => {
    let r = run(["site", "add", "Bad_Id", "--name", "X", "--time-zone", "Mars/Olympus", "--currency", "EUR"]);
    expect(r.status).to.equal(1);
    expect(r.stderr).to.include("<site-id>: 1–32 of a-z 0-9 -");
    expect(r.stderr).to.include('--time-zone: unknown time zone "Mars/Olympus"');
    r = run(["site", "add", "gare-nord", "--name", "Again", "--time-zone", "Europe/Paris", "--currency", "EUR"]);
    expect(r.status).to.equal(1);
    expect(r.stderr).to.match(/^syspark: <site-id>: this id is already taken$/m);
    r = run(["site", "add", "tiny", "--name", "Tiny", "--time-zone", "Europe/Paris", "--currency", "EUR", "--capacity", "10", "--permit-spots", "8", "--reservation-spots", "5"]);
    expect(r.status).to.equal(1);
    expect(r.stderr).to.match(/--reservation-spots: the permit spaces \(8\) and the reservation spaces \(5\) together exceed the capacity \(10\)/);
    r = run(["lane", "add", "gare-nord", "L9", "--kind", "sortie"]);
    expect(r.status).to.equal(1);
    expect(r.stderr).to.match(/^syspark: --kind: entry or exit$/m);
    r = run(["lane", "add", "gare-nord", "e1", "--kind", "entry"]);
    expect(r.status).to.equal(1);
    expect(r.stderr).to.match(/<lane-id>: a lane e1 already exists at this site/);
    r = run(["lane", "add", "nowhere", "L1", "--kind", "exit"]);
    expect(r.status).to.equal(1);
    expect(r.stderr).to.match(/site nowhere/);
    r = run(["site", "list", "--json"]);
    expect((JSON.parse(r.stdout) as { sites: { site_id: string }[] }).sites.map((s) => s.site_id)).to.deep.equal(["gare-est", "gare-nord"]);
  });
});
