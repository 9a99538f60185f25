/**
 * The rules of cli-support.ts's resolveCloudTarget (which database a `syspark` command uses), on
 * folders laid out by hand: a PG_VERSION file stands for a cluster (the resolution only looks,
 * it never opens). The end-to-end behaviour on real databases is in cloud-database.test.ts.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { CloudTargetError, describeTarget, resolveCloudTarget, serveDataDir } from "../../cloud/server/cli-support";
import { writeRunFile } from "../../cloud/server/run-file";

describe("syspark CLI: resolveCloudTarget", () => {
  let root: string;
  let cwd: string;
  let home: string;
  const cluster = (dir: string) => {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "PG_VERSION"), "17\n");
  };
  const resolveIn = (opts: Parameters<typeof resolveCloudTarget>[0], env: NodeJS.ProcessEnv = {}) => resolveCloudTarget(opts, { env, cwd, home });
  const refused = (fn: () => unknown): string => {
    try {
      fn();
    } catch (err) {
      expect(err).to.be.instanceOf(CloudTargetError);
      return (err as Error).message;
    }
    throw new Error("expected a refusal");
  };

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), "syspark-target-"));
    cwd = join(root, "project");
    home = join(root, "home");
    mkdirSync(cwd);
    mkdirSync(home);
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it("defaults to the site in the current directory, then to ~/.syspark/cloud, else refuses naming both", () => {
    expect(refused(() => resolveIn({}))).to.match(/no SysPark cloud database found: neither the site of `syspark up` here \(.*project\/\.data\/site\/cloud\) nor `syspark cloud`'s default \(.*home\/\.syspark\/cloud\)/);
    cluster(join(home, ".syspark", "cloud"));
    expect(resolveIn({})).to.deep.include({ via: "pglite", dir: join(home, ".syspark", "cloud") });
    cluster(join(cwd, ".data", "site", "cloud"));
    expect(resolveIn({})).to.deep.include({ via: "pglite", dir: join(cwd, ".data", "site", "cloud") });
  });

  it("--data-dir takes a site folder (its cloud/, even beside a stray cluster) or a cloud data directory", () => {
    const site = join(cwd, "site");
    cluster(site); // what an older syspark left in a site folder
    cluster(join(site, "cloud"));
    expect(resolveIn({ dataDir: "site" })).to.deep.include({ via: "pglite", dir: join(site, "cloud") });
    expect(resolveIn({ dataDir: join(site, "cloud") })).to.deep.include({ via: "pglite", dir: join(site, "cloud") });
    expect(serveDataDir(site)).to.equal(join(site, "cloud"));
    expect(serveDataDir(join(root, "fresh"))).to.equal(join(root, "fresh"));
    expect(resolveIn({}, { SYSPARK_DATA_DIR: site })).to.deep.include({ via: "pglite", dir: join(site, "cloud") });
    expect(refused(() => resolveIn({}, { SYSPARK_DATA_DIR: join(root, "nope") }))).to.match(/^SYSPARK_DATA_DIR=.*nope: .*nope does not exist/);
  });

  it("orders flags, SYSPARK_CLOUD_URL and DATABASE_URL, and refuses contradictions", () => {
    const db = "postgres://u:pw@127.0.0.1:5432/x";
    expect(resolveIn({ schema: "s1" }, { DATABASE_URL: db })).to.deep.equal({ via: "postgres", url: db, schema: "s1" });
    expect(resolveIn({}, { DATABASE_URL: db, SYSPARK_CLOUD_URL: "http://127.0.0.1:18090/x" })).to.deep.include({ via: "api", url: "http://127.0.0.1:18090" });
    expect(resolveIn({ url: "http://h:1" }, { DATABASE_URL: db })).to.deep.include({ via: "api", url: "http://h:1" });
    expect(refused(() => resolveIn({ url: "http://h:1", dataDir: "x" }))).to.equal("give --url or --data-dir, not both");
    expect(refused(() => resolveIn({ url: "ftp://h" }))).to.match(/--url must be an http\(s\) URL/);
    expect(refused(() => resolveIn({ dataDir: "x" }, { DATABASE_URL: db }))).to.match(/DATABASE_URL is set \(postgres:\/\/u:\*\*\*\*@127\.0\.0\.1:5432\/x\) and --data-dir is given/);
    expect(refused(() => resolveIn({ schema: "s1" }))).to.match(/--schema applies to a PostgreSQL database \(DATABASE_URL\) only/);
    expect(describeTarget({ via: "postgres", url: db })).to.equal("database: PostgreSQL postgres://u:****@127.0.0.1:5432/x, schema public (DATABASE_URL)");
  });

  it("a live run file → the cloud's API; a lock held by another live process → refused with its pid", async () => {
    const dir = join(cwd, ".data", "site", "cloud");
    cluster(dir);
    const remove = writeRunFile(dir, { url: "http://127.0.0.1:18090" });
    const t = resolveIn({});
    expect(t).to.deep.include({ via: "api", url: "http://127.0.0.1:18090", held: { dir, pid: process.pid } });
    expect(describeTarget(t)).to.equal(`database: PGlite ${dir}, held by the running cloud (pid ${process.pid}): through its API at http://127.0.0.1:18090`);
    await remove();
    expect(resolveIn({})).to.deep.include({ via: "pglite", dir });
    writeFileSync(`${dir}.lock`, String(process.ppid)); // alive: our parent
    expect(refused(() => resolveIn({}))).to.match(new RegExp(`PGlite .* is in use by process ${process.ppid}, which has not published a cloud API`));
  });
});
