/**
 * The gateway's persisted boot count (gateway/boot-count.ts): one more at every start, in two
 * copies on disk before it is announced, never reused — not after a SIGKILL, not from a lost or
 * damaged copy (the other one + 2), not after an upgrade from a gateway that always said 1; with
 * neither copy usable the gateway refuses to start and says which files and how to set them.
 * And `syspark gateway` itself: three starts killed with SIGKILL announce boot 1, 2, 3.
 */
import { expect } from "chai";
import type { ChildProcess } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { freePort } from "../../host/ports";
import { spawnOwned } from "../../host/tools";
import { join, resolve } from "node:path";
import { BOOT_COUNT_BACKUP, BOOT_COUNT_FILE, BootCountError, nextBootCount } from "../../gateway/boot-count";
import { tempDir } from "./helpers";

const ROOT = resolve(import.meta.dirname, "../..");
const SYSPARK = join(ROOT, "bin", "syspark.js");

/** Runs `node args…` and resolves at the first stdout+stderr text matching `until` (then SIGKILLs it) or at its exit. */
function runUntil(args: string[], until: RegExp, env: NodeJS.ProcessEnv = process.env): Promise<{ output: string; code: number | null; killed: boolean }> {
  return new Promise((resolvePromise, reject) => {
    const child: ChildProcess = spawnOwned(process.execPath, args, { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
    let output = "", killed = false;
    const timer = setTimeout(() => { child.kill("SIGKILL"); reject(new Error(`no ${until} within 30 s; output: ${output}`)); }, 30_000);
    const onData = (d: Buffer) => {
      output += d.toString();
      if (!killed && until.test(output)) { killed = true; child.kill("SIGKILL"); }
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    child.on("error", (err) => { clearTimeout(timer); reject(err); });
    child.on("close", (code) => { clearTimeout(timer); resolvePromise({ output, code, killed }); });
  });
}

/** A TCP port nothing listens on (the cloud broker is not needed to count boots). */
const closedPort = freePort;

describe("gateway boot count", function () {
  this.timeout(120_000);
  let tmp: { dir: string; cleanup: () => void };
  beforeEach(() => { tmp = tempDir("boot-count"); });
  afterEach(() => tmp.cleanup());

  it("starts at 1 in a new data directory and goes up by one at every start, in both copies", () => {
    const dir = join(tmp.dir, "data");
    expect([nextBootCount(dir), nextBootCount(dir), nextBootCount(dir)]).to.deep.equal([{ boot: 1 }, { boot: 2 }, { boot: 3 }]);
    expect(readFileSync(join(dir, BOOT_COUNT_FILE), "utf8")).to.equal("3\n");
    expect(readFileSync(join(dir, BOOT_COUNT_BACKUP), "utf8")).to.equal("3\n");
  });

  it("counts on from the larger copy after a kill between the two writes", () => {
    writeFileSync(join(tmp.dir, BOOT_COUNT_FILE), "8\n");
    writeFileSync(join(tmp.dir, BOOT_COUNT_BACKUP), "7\n");
    expect(nextBootCount(tmp.dir)).to.deep.equal({ boot: 9 });
  });

  it("skips a number when one copy is damaged or missing (it may have held one more), and says why", () => {
    const main = join(tmp.dir, BOOT_COUNT_FILE), backup = join(tmp.dir, BOOT_COUNT_BACKUP);
    writeFileSync(main, "12abc\n");
    writeFileSync(backup, "40\n");
    const fromBackup = nextBootCount(tmp.dir);
    expect(fromBackup.boot).to.equal(42);
    expect(fromBackup.warning).to.include(`${main} does not hold a boot count (a whole number 0..4294967295), it holds "12abc"`);
    rmSync(backup);
    const fromMain = nextBootCount(tmp.dir);
    expect(fromMain.boot).to.equal(44);
    expect(fromMain.warning).to.include(`${backup} is missing`);
  });

  it("refuses to start when neither copy can be read, naming both files and how to set them, and leaves them as they were", () => {
    const main = join(tmp.dir, BOOT_COUNT_FILE), backup = join(tmp.dir, BOOT_COUNT_BACKUP);
    for (const [a, b] of [["", "-4\n"], ["99999999999\n", "\u0000\u0000"], ["three\n", undefined]] as const) {
      writeFileSync(main, a);
      rmSync(backup, { force: true });
      if (b !== undefined) writeFileSync(backup, b);
      expect(() => nextBootCount(tmp.dir), JSON.stringify([a, b])).to.throw(BootCountError, /the last boot number announced is unknown, and reusing one makes the boards skip their re-sync; write a number above/);
      expect(() => nextBootCount(tmp.dir)).to.throw(BootCountError, `${main} does not hold a boot count`);
      expect(readFileSync(main, "utf8")).to.equal(a);
    }
    writeFileSync(main, "41\n");
    expect(nextBootCount(tmp.dir).boot).to.equal(43);
  });

  it("starts at 2 in a data directory a gateway from before the count used (it announced 1 at every start)", () => {
    mkdirSync(join(tmp.dir, "outbox"));
    const first = nextBootCount(tmp.dir);
    expect(first.boot).to.equal(2);
    expect(first.warning).to.match(/holds a previous gateway's outbox: a gateway from before the count announced boot 1 at every start; starting at 2/);
    expect(nextBootCount(tmp.dir)).to.deep.equal({ boot: 3 });
  });

  it("never hands out a number again after a SIGKILL right after the increment", async () => {
    const script = `import { nextBootCount } from ${JSON.stringify(join(ROOT, "gateway", "boot-count.ts"))}; process.stdout.write("boot " + nextBootCount(${JSON.stringify(tmp.dir)}).boot + "\\n"); setInterval(() => {}, 1000);`;
    const seen: number[] = [];
    for (let i = 0; i < 3; i++) {
      const run = await runUntil(["--import", "tsx", "--input-type=module", "-e", script], /boot \d+\n/);
      expect(run.killed, run.output).to.equal(true);
      seen.push(Number(/boot (\d+)/.exec(run.output)![1]));
    }
    const after = nextBootCount(tmp.dir);
    expect(seen).to.deep.equal([1, 2, 3]);
    expect(after.boot).to.equal(4);
  });

  it("syspark gateway: three starts killed with SIGKILL announce boot 1, 2, 3; a corrupt count stops it with the file's name", async () => {
    const config = join(tmp.dir, "site.json");
    const dataDir = join(tmp.dir, "data");
    writeFileSync(config, JSON.stringify({
      site_id: "boot-count-site", data_dir: dataDir,
      // Boards that are not plugged in: the links keep retrying, the gateway runs.
      lanes: [{ id: "L1", exit_controller: { port: join(tmp.dir, "no-exit-board") }, barrier_executor: { port: join(tmp.dir, "no-barrier-board") } }],
      site_broker: { host: "127.0.0.1", port: 0, allow_anonymous: true },
      cloud: { url: `mqtt://127.0.0.1:${await closedPort()}`, anonymous: true, reconnect_ms: 1000 },
    }));
    const env = { ...process.env, SYSPARK_ACL_HMAC_KEY: "k".repeat(32), LOG_LEVEL: "info" };
    const boots: number[] = [];
    for (let i = 0; i < 3; i++) {
      const run = await runUntil([SYSPARK, "gateway", "--config", config], /gateway running \(boot \d+\)/, env);
      expect(run.killed, run.output).to.equal(true);
      boots.push(Number(/gateway running \(boot (\d+)\)/.exec(run.output)![1]));
    }
    expect(boots).to.deep.equal([1, 2, 3]);
    expect(readFileSync(join(dataDir, BOOT_COUNT_FILE), "utf8")).to.equal("3\n");

    writeFileSync(join(dataDir, BOOT_COUNT_FILE), "three\n");
    writeFileSync(join(dataDir, BOOT_COUNT_BACKUP), "three\n");
    const refused = await runUntil([SYSPARK, "gateway", "--config", config], /gateway running/, env);
    expect(refused.killed, "it did not start").to.equal(false);
    expect(refused.code).to.equal(1);
    expect(refused.output).to.include(`syspark: ${join(dataDir, BOOT_COUNT_FILE)} does not hold a boot count`);
    expect(refused.output).to.include(`echo 1000 > ${join(dataDir, BOOT_COUNT_FILE)}`);
    expect(refused.output, "a message, not a stack trace").not.to.match(/\n\s+at /);
  });
});
